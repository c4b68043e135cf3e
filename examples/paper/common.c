/*
 * Shared code of the paper-reproduction programs; see common.h.
 */
#if !defined(_WIN32) && !defined(_POSIX_C_SOURCE)
#    define _POSIX_C_SOURCE 200809L /* popen, pclose, fileno, isatty, mkdir */
#endif

#include "common.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef _WIN32
#    include <direct.h>
#    include <io.h>
#    define paper_popen _popen
#    define paper_pclose _pclose
#    define paper_isatty(f) _isatty(_fileno(f))
#    define paper_mkdir(p) _mkdir(p)
#    define PAPER_PATH_SEP ';'
#else
#    include <sys/stat.h>
#    include <sys/types.h>
#    include <unistd.h>
#    define paper_popen popen
#    define paper_pclose pclose
#    define paper_isatty(f) isatty(fileno(f))
#    define paper_mkdir(p) mkdir((p), 0777)
#    define PAPER_PATH_SEP ':'
#endif

/* ------------------------------------------------------------------------ */
/* architectures                                                             */
/* ------------------------------------------------------------------------ */

/* Filled once from the library's names (mmoe_arch_name / mmoe_arch_label). */
static paper_arch arch_table[PAPER_MAX_ARCHS];
static size_t n_table;

/* 1 when the library builds arch with learned gates (a tiny model has gates). */
static int arch_gated(mmoe_arch arch)
{
    mmoe_config *c = NULL;
    mmoe_model *m = NULL;
    const size_t w[1] = {2};
    int gated = 0;
    if (mmoe_config_create(&c) == MMOE_OK && mmoe_config_set_arch(c, arch) == MMOE_OK &&
        mmoe_config_set_int(c, "input.dense", 2) == MMOE_OK &&
        mmoe_config_set_experts(c, 2, 1, w, MMOE_ACT_RELU) == MMOE_OK &&
        mmoe_config_add_task(c, "y1", MMOE_TASK_REGRESSION, 0, NULL, MMOE_ACT_RELU, 1.0f) ==
            MMOE_OK &&
        mmoe_config_add_task(c, "y2", MMOE_TASK_REGRESSION, 0, NULL, MMOE_ACT_RELU, 1.0f) ==
            MMOE_OK &&
        mmoe_model_create(c, &m) == MMOE_OK)
        gated = mmoe_model_num_gates(m) > 0;
    mmoe_model_free(m);
    mmoe_config_free(c);
    return gated;
}

static void add_arch(mmoe_arch arch)
{
    for (size_t i = 0; i < n_table; i++)
        if (arch_table[i].arch == arch)
            return;
    if (n_table < PAPER_MAX_ARCHS && mmoe_arch_name(arch))
        arch_table[n_table++] =
            (paper_arch){mmoe_arch_name(arch), mmoe_arch_label(arch), arch, arch_gated(arch)};
}

/* Display order: Shared-Bottom, OMoE, MMoE, then the library's order. */
static void fill_table(void)
{
    if (n_table)
        return;
    add_arch(MMOE_ARCH_SHARED_BOTTOM);
    add_arch(MMOE_ARCH_OMOE);
    add_arch(MMOE_ARCH_MMOE);
    for (size_t a = 0; a < mmoe_arch_count(); a++)
        add_arch((mmoe_arch)a);
}

/* The names, comma-separated, for messages and --help (wrapped before column `wrap` after indent).
 */
static void print_arch_names(FILE *f, const char *indent, size_t wrap)
{
    fill_table();
    size_t col = 0;
    for (size_t i = 0; i < n_table; i++) {
        const char *n = arch_table[i].name;
        if (i && wrap && col + strlen(n) + 2 > wrap) {
            fprintf(f, ",\n%s", indent);
            col = 0;
        } else if (i) {
            fprintf(f, ", ");
            col += 2;
        }
        fprintf(f, "%s", n);
        col += strlen(n);
    }
}

const paper_arch *paper_arch_find(const char *name)
{
    fill_table();
    for (size_t i = 0; i < n_table; i++)
        if (strcmp(arch_table[i].name, name) == 0)
            return &arch_table[i];
    return NULL;
}

const paper_arch *paper_arch_get(mmoe_arch arch)
{
    fill_table();
    for (size_t i = 0; i < n_table; i++)
        if (arch_table[i].arch == arch)
            return &arch_table[i];
    return NULL;
}

const paper_arch *paper_arch_at(size_t i)
{
    fill_table();
    return i < n_table ? &arch_table[i] : NULL;
}

const char *paper_arch_color(const paper_arch *a)
{
    static const char *const colors[] = {
        "#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#7f7f7f", "#e377c2",
        "#17becf", "#bcbd22", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#000000"};
    size_t i = 0;
    fill_table();
    if (a >= arch_table && a < arch_table + n_table)
        i = (size_t)(a - arch_table);
    return colors[i % (sizeof colors / sizeof colors[0])];
}

size_t paper_arch_count(void)
{
    fill_table();
    return n_table;
}

/* ------------------------------------------------------------------------ */
/* options                                                                   */
/* ------------------------------------------------------------------------ */

void paper_options_defaults(paper_options *o)
{
    memset(o, 0, sizeof *o);
    o->dim = 100;
    o->n_train = 20000;
    o->n_test = 2000;
    o->scale = 1.0;
    o->sin_terms = 10;
    o->noise = 0.1;
    o->corrs[0] = 0.5;
    o->corrs[1] = 0.9;
    o->corrs[2] = 1.0;
    o->n_corrs = 3;
    o->experts = 8;
    o->expert_units = 16;
    o->tower_units = 8;
    o->match_params = 1;
    o->l2_lambda = 0.001;
    o->tf_rank = 4;
    o->steps = 15000;
    o->batch = 128;
    o->lr = 0.003;
    o->init = PAPER_INIT_HE;
    o->online = 0;
    o->eval_every = 250;
    o->seed = 1;
    o->threads = 1;
    o->out_dir = "results";
    o->gates = 0;
    o->plots = 1;
    o->quick = 0;
}

int paper_parse_size(const char *prog, const char *flag, const char *s, size_t lo, size_t hi,
                     size_t *out)
{
    char *end = NULL;
    errno = 0;
    if (!s || !*s || *s == '-' || *s == '+') {
        fprintf(stderr, "%s: %s needs a non-negative integer\n", prog, flag);
        return -1;
    }
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v < lo || v > hi) {
        fprintf(stderr, "%s: %s: '%s' is not an integer in %zu..%zu\n", prog, flag, s, lo, hi);
        return -1;
    }
    *out = (size_t)v;
    return 0;
}

static int parse_real(const char *prog, const char *flag, const char *s, double lo, double hi,
                      double *out)
{
    char *end = NULL;
    errno = 0;
    if (!s || !*s) {
        fprintf(stderr, "%s: %s needs a number\n", prog, flag);
        return -1;
    }
    double v = strtod(s, &end);
    if (errno || *end || !isfinite(v) || v < lo || v > hi) {
        fprintf(stderr, "%s: %s: '%s' is not a number in [%g, %g]\n", prog, flag, s, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_corr_list(const char *prog, const char *s, paper_options *o)
{
    char buf[512];
    if (strlen(s) >= sizeof buf) {
        fprintf(stderr, "%s: --corr: list too long\n", prog);
        return -1;
    }
    strcpy(buf, s);
    size_t n = 0;
    char *p = buf;
    for (;;) {
        char *comma = strchr(p, ',');
        if (comma)
            *comma = '\0';
        if (n == PAPER_MAX_CORRS) {
            fprintf(stderr, "%s: --corr: at most %d values\n", prog, PAPER_MAX_CORRS);
            return -1;
        }
        double v = 0.0;
        if (parse_real(prog, "--corr", p, -1.0, 1.0, &v) != 0)
            return -1;
        for (size_t i = 0; i < n; i++)
            if (o->corrs[i] == v) {
                fprintf(stderr, "%s: --corr: %g listed twice\n", prog, v);
                return -1;
            }
        o->corrs[n++] = v;
        if (!comma)
            break;
        p = comma + 1;
    }
    o->n_corrs = n;
    return 0;
}

static int parse_arch_list(const char *prog, const char *s, paper_options *o)
{
    char buf[512];
    if (strlen(s) >= sizeof buf) {
        fprintf(stderr, "%s: --models: list too long\n", prog);
        return -1;
    }
    strcpy(buf, s);
    size_t n = 0;
    char *p = buf;
    for (;;) {
        char *comma = strchr(p, ',');
        if (comma)
            *comma = '\0';
        const paper_arch *a = paper_arch_find(p);
        if (!a) {
            fprintf(stderr, "%s: --models: unknown model '%s' (", prog, p);
            print_arch_names(stderr, "", 0);
            fprintf(stderr, ")\n");
            return -1;
        }
        for (size_t i = 0; i < n; i++)
            if (o->archs[i] == a) {
                fprintf(stderr, "%s: --models: '%s' listed twice\n", prog, p);
                return -1;
            }
        o->archs[n++] = a;
        if (!comma)
            break;
        p = comma + 1;
    }
    o->n_archs = n;
    return 0;
}

int paper_parse_option(const char *prog, const char *a, const char *v, paper_options *o)
{
    size_t sz = 0;
    int rc = 0;
    if (strcmp(a, "--corr") == 0)
        rc = parse_corr_list(prog, v, o);
    else if (strcmp(a, "--models") == 0)
        rc = parse_arch_list(prog, v, o);
    else if (strcmp(a, "--dim") == 0)
        rc = paper_parse_size(prog, a, v, PAPER_TASKS, 1u << 16, &o->dim);
    else if (strcmp(a, "--train") == 0)
        rc = paper_parse_size(prog, a, v, 1, (size_t)1 << 24, &o->n_train);
    else if (strcmp(a, "--test") == 0)
        rc = paper_parse_size(prog, a, v, 1, (size_t)1 << 24, &o->n_test);
    else if (strcmp(a, "--scale") == 0)
        rc = parse_real(prog, a, v, 1e-6, 1e6, &o->scale);
    else if (strcmp(a, "--sin-terms") == 0)
        rc = paper_parse_size(prog, a, v, 0, 65536, &o->sin_terms);
    else if (strcmp(a, "--noise") == 0)
        rc = parse_real(prog, a, v, 0.0, 1e6, &o->noise);
    else if (strcmp(a, "--experts") == 0)
        rc = paper_parse_size(prog, a, v, 1, 1024, &o->experts);
    else if (strcmp(a, "--expert-units") == 0)
        rc = paper_parse_size(prog, a, v, 1, 4096, &o->expert_units);
    else if (strcmp(a, "--tower-units") == 0)
        rc = paper_parse_size(prog, a, v, 1, 4096, &o->tower_units);
    else if (strcmp(a, "--l2-lambda") == 0)
        rc = parse_real(prog, a, v, 0.0, 1e6, &o->l2_lambda);
    else if (strcmp(a, "--tf-rank") == 0)
        rc = paper_parse_size(prog, a, v, 1, 4096, &o->tf_rank);
    else if (strcmp(a, "--steps") == 0)
        rc = paper_parse_size(prog, a, v, 1, 100000000, &o->steps);
    else if (strcmp(a, "--batch") == 0)
        rc = paper_parse_size(prog, a, v, 1, 1u << 16, &o->batch);
    else if (strcmp(a, "--lr") == 0)
        rc = parse_real(prog, a, v, 1e-9, 10.0, &o->lr);
    else if (strcmp(a, "--init") == 0) {
        if (strcmp(v, "he") == 0)
            o->init = PAPER_INIT_HE;
        else if (strcmp(v, "glorot") == 0)
            o->init = PAPER_INIT_GLOROT;
        else {
            fprintf(stderr, "%s: --init: '%s' is not he or glorot\n", prog, v);
            return -1;
        }
    } else if (strcmp(a, "--eval-every") == 0)
        rc = paper_parse_size(prog, a, v, 0, 100000000, &o->eval_every);
    else if (strcmp(a, "--seed") == 0) {
        char *end = NULL;
        errno = 0;
        unsigned long long s = strtoull(v, &end, 10);
        if (errno || *end || !*v || *v == '-') {
            fprintf(stderr, "%s: --seed: '%s' is not an unsigned integer\n", prog, v);
            return -1;
        }
        o->seed = (uint64_t)s;
    } else if (strcmp(a, "--threads") == 0) {
        rc = paper_parse_size(prog, a, v, 1, 1024, &sz);
        o->threads = (int)sz;
    } else if (strcmp(a, "--out") == 0) {
        if (!*v) {
            fprintf(stderr, "%s: --out needs a directory\n", prog);
            return -1;
        }
        o->out_dir = v;
    } else
        return 0;
    return rc ? -1 : 1;
}

int paper_parse_flag(const char *a, paper_options *o)
{
    if (strcmp(a, "--all") == 0)
        o->all_archs = 1;
    else if (strcmp(a, "--no-match") == 0)
        o->match_params = 0;
    else if (strcmp(a, "--gates") == 0)
        o->gates = 1;
    else if (strcmp(a, "--no-plots") == 0)
        o->plots = 0;
    else if (strcmp(a, "--quick") == 0)
        o->quick = 1;
    else if (strcmp(a, "--online") == 0)
        o->online = 1;
    else
        return 0;
    return 1;
}

void paper_print_option_help(FILE *f)
{
    fprintf(f, "Data (libmmoe-synth; fresh data per run):\n"
               "  --corr LIST        task correlations p, comma-separated [0.5,0.9,1.0]\n"
               "  --dim D            input width d [100]\n"
               "  --train N          training samples per run [20000]\n"
               "  --online           no fixed training set: every mini-batch is fresh samples\n"
               "                     from the generator (the same stream for every model)\n"
               "  --test N           test samples per run [2000]\n"
               "  --scale C          weight-vector norm c [1]\n"
               "  --sin-terms M      number m of sin terms [10]\n"
               "  --noise S          label noise standard deviation sigma [0.1]\n"
               "Models:\n"
               "  --models LIST      comma-separated subset of ");
    print_arch_names(f, "                     ", 36);
    fprintf(f,
            "\n"
            "                     [shared_bottom,omoe,mmoe]\n"
            "  --all              every model above (those this libmmoe cannot build are\n"
            "                     skipped with a message)\n"
            "  --experts N        experts of MMoE/OMoE [8]\n"
            "  --expert-units U   units of each expert's hidden layer [16]\n"
            "  --tower-units U    units of each task tower's hidden layer [8]\n"
            "  --no-match         give every other model U units too, instead of the width\n"
            "                     whose parameter count is closest to MMoE's\n"
            "  --l2-lambda L      L2-Constrained penalty weight [0.001]\n"
            "  --tf-rank R        Tensor-Factorization rank [4]\n"
            "Training (Adam, shuffled mini-batches):\n"
            "  --steps N          optimizer steps per run [15000; trainability: 6000]\n"
            "  --batch B          mini-batch size [128]\n"
            "  --lr R             Adam learning rate [0.003]\n"
            "  --init I           weight initialisation: he (the library's: He-normal\n"
            "                     before relu, Glorot-uniform otherwise) or glorot (every\n"
            "                     weight matrix Glorot-uniform, Keras's default) [he]\n"
            "  --eval-every K     test-set evaluation interval in steps, 0 = only at the end\n"
            "                     (correlation-sweep only) [250]\n"
            "  --seed S           base seed of data and initialisation [1]\n"
            "  --threads T        BLAS threads [1]\n"
            "Output:\n"
            "  --out DIR          output directory, created if needed [results]\n"
            "  --gates            print and save each task's mean gate weight per expert\n"
            "                     (MMoE/OMoE, over the test set, after training)\n"
            "  --no-plots         do not run gnuplot (the .gp scripts are still written)\n"
            "  --quick            small CI run (< 1 minute) that checks an early-training claim\n"
            "  --help             show this text\n");
}

void paper_finish_arch_list(paper_options *o)
{
    if (o->all_archs) {
        /* keep the user's order for the ones given, then append the rest */
        for (size_t i = 0; i < paper_arch_count(); i++) {
            int have = 0;
            for (size_t j = 0; j < o->n_archs; j++)
                have |= o->archs[j] == paper_arch_at(i);
            if (!have && o->n_archs < PAPER_MAX_ARCHS)
                o->archs[o->n_archs++] = paper_arch_at(i);
        }
    } else if (o->n_archs == 0) {
        o->archs[0] = paper_arch_find("shared_bottom");
        o->archs[1] = paper_arch_find("omoe");
        o->archs[2] = paper_arch_find("mmoe");
        o->n_archs = 3;
    }
}

size_t paper_ref_corr(const paper_options *o)
{
    size_t r = 0;
    for (size_t c = 0; c < o->n_corrs; c++) {
        if (o->corrs[c] == 1.0)
            return c;
        if (o->corrs[c] > o->corrs[r])
            r = c;
    }
    return r;
}

void paper_print_setup(FILE *f, const char *prog, const paper_options *o)
{
    fprintf(f, "%s: data: d %zu, c %g, m %zu sin terms, noise sigma %g, ", prog, o->dim, o->scale,
            o->sin_terms, o->noise);
    if (o->online)
        fprintf(f, "fresh training samples every step (online) / %zu test", o->n_test);
    else
        fprintf(f, "%zu train / %zu test", o->n_train, o->n_test);
    fprintf(f, " samples per run, p in {");
    for (size_t i = 0; i < o->n_corrs; i++)
        fprintf(f, "%s%g", i ? ", " : "", o->corrs[i]);
    fprintf(f, "}\n");
    fprintf(f, "%s: models: %zu experts x %zu units (MMoE/OMoE), towers %zu units, %s\n", prog,
            o->experts, o->expert_units, o->tower_units,
            o->match_params ? "other models sized to MMoE's parameter count"
                            : "other models with the expert width");
    char ev[64];
    if (o->eval_every)
        snprintf(ev, sizeof ev, "every %zu steps", o->eval_every);
    else
        snprintf(ev, sizeof ev, "after the last step");
    fprintf(f,
            "%s: training: Adam lr %g, batch %zu, %zu steps, %s initialisation, test evaluation "
            "%s, base seed %llu, BLAS %s (%d thread%s)\n",
            prog, o->lr, o->batch, o->steps, o->init == PAPER_INIT_GLOROT ? "Glorot-uniform" : "He",
            ev, (unsigned long long)o->seed, mmoe_blas_name(), o->threads,
            o->threads == 1 ? "" : "s");
}

/* ------------------------------------------------------------------------ */
/* data                                                                      */
/* ------------------------------------------------------------------------ */

int paper_data_make(const paper_options *o, double corr, uint64_t seed, paper_data *d, char *err,
                    size_t cap)
{
    memset(d, 0, sizeof *d);
    mmoe_synth_config *scfg = NULL;
    mmoe_synth *gen = NULL;
    mmoe_status st;
    int rc = -1;
    if ((st = mmoe_synth_config_create(&scfg)) != MMOE_OK) {
        snprintf(err, cap, "mmoe_synth_config_create: %s: %s", mmoe_status_string(st),
                 mmoe_synth_thread_last_error());
        return -1;
    }
    if ((st = mmoe_synth_config_set_dim(scfg, o->dim)) != MMOE_OK ||
        (st = mmoe_synth_config_set_tasks(scfg, PAPER_TASKS)) != MMOE_OK ||
        (st = mmoe_synth_config_set_scale(scfg, o->scale)) != MMOE_OK ||
        (st = mmoe_synth_config_set_sin_terms(scfg, o->sin_terms)) != MMOE_OK ||
        (st = mmoe_synth_config_set_noise(scfg, o->noise)) != MMOE_OK ||
        (st = mmoe_synth_config_set_correlation(scfg, corr)) != MMOE_OK ||
        (st = mmoe_synth_config_set_seed(scfg, seed)) != MMOE_OK) {
        snprintf(err, cap, "configuring the data generator: %s: %s", mmoe_status_string(st),
                 mmoe_synth_config_last_error(scfg));
        goto done;
    }
    if ((st = mmoe_synth_create(scfg, &gen)) != MMOE_OK) {
        snprintf(err, cap, "mmoe_synth_create: %s: %s", mmoe_status_string(st),
                 mmoe_synth_thread_last_error());
        goto done;
    }
    /* sizes are bounded by the option parser (n <= 2^24, d <= 2^16) */
    d->dim = o->dim;
    d->n_train = o->online ? 0 : o->n_train;
    d->n_test = o->n_test;
    if (!o->online) {
        d->x_train = malloc(o->n_train * o->dim * sizeof(float));
        d->y_train = malloc(o->n_train * PAPER_TASKS * sizeof(float));
    }
    d->x_test = malloc(o->n_test * o->dim * sizeof(float));
    d->y_test = malloc(o->n_test * PAPER_TASKS * sizeof(float));
    if ((!o->online && (!d->x_train || !d->y_train)) || !d->x_test || !d->y_test) {
        snprintf(err, cap, "out of memory for the data set");
        goto done;
    }
    if ((st = mmoe_synth_generate(gen, d->n_train, d->x_train, d->y_train)) != MMOE_OK ||
        (st = mmoe_synth_generate(gen, o->n_test, d->x_test, d->y_test)) != MMOE_OK) {
        snprintf(err, cap, "mmoe_synth_generate: %s: %s", mmoe_status_string(st),
                 mmoe_synth_last_error(gen));
        goto done;
    }
    for (size_t k = 0; k < PAPER_TASKS; k++) {
        double mean = 0.0, var = 0.0;
        for (size_t i = 0; i < d->n_test; i++)
            mean += d->y_test[i * PAPER_TASKS + k];
        mean /= (double)d->n_test;
        for (size_t i = 0; i < d->n_test; i++) {
            double e = d->y_test[i * PAPER_TASKS + k] - mean;
            var += e * e;
        }
        d->test_var[k] = var / (double)d->n_test;
    }
    if (o->online) {
        d->gen = gen; /* paper_train draws the training stream after the test set */
        gen = NULL;
    }
    rc = 0;
done:
    mmoe_synth_free(gen);
    mmoe_synth_config_free(scfg);
    if (rc != 0)
        paper_data_free(d);
    return rc;
}

void paper_data_free(paper_data *d)
{
    free(d->x_train);
    free(d->y_train);
    free(d->x_test);
    free(d->y_test);
    mmoe_synth_free(d->gen);
    memset(d, 0, sizeof *d);
}

/* ------------------------------------------------------------------------ */
/* models                                                                    */
/* ------------------------------------------------------------------------ */

mmoe_status paper_config(const paper_options *o, const paper_arch *a, size_t width,
                         uint64_t init_seed, mmoe_config **out, char *err, size_t cap)
{
    mmoe_config *cfg = NULL;
    mmoe_status st;
    *out = NULL;
    if ((st = mmoe_config_create(&cfg)) != MMOE_OK) {
        snprintf(err, cap, "mmoe_config_create: %s", mmoe_status_string(st));
        return st;
    }
    const size_t ew[1] = {width};
    const size_t tw[1] = {o->tower_units};
    char seed_text[32];
    snprintf(seed_text, sizeof seed_text, "%llu", (unsigned long long)init_seed);
    const size_t n_experts = a->gated ? o->experts : 1;
    if ((st = mmoe_config_set_arch(cfg, a->arch)) != MMOE_OK ||
        (st = mmoe_config_set_int(cfg, "input.dense", (int64_t)o->dim)) != MMOE_OK ||
        (st = mmoe_config_set_experts(cfg, n_experts, 1, ew, MMOE_ACT_RELU)) != MMOE_OK ||
        (st = mmoe_config_set(cfg, "seed", seed_text)) != MMOE_OK ||
        (st = mmoe_config_add_task(cfg, "y1", MMOE_TASK_REGRESSION, 1, tw, MMOE_ACT_RELU, 1.0f)) !=
            MMOE_OK ||
        (st = mmoe_config_add_task(cfg, "y2", MMOE_TASK_REGRESSION, 1, tw, MMOE_ACT_RELU, 1.0f)) !=
            MMOE_OK) {
        snprintf(err, cap, "configuring %s: %s: %s", a->name, mmoe_status_string(st),
                 mmoe_config_last_error(cfg));
        mmoe_config_free(cfg);
        return st;
    }
    if (a->arch == MMOE_ARCH_L2_CONSTRAINED &&
        (st = mmoe_config_set_real(cfg, "l2.lambda", o->l2_lambda)) != MMOE_OK) {
        snprintf(err, cap, "configuring %s: l2.lambda: %s", a->name, mmoe_config_last_error(cfg));
        mmoe_config_free(cfg);
        return st;
    }
    if (a->arch == MMOE_ARCH_TENSOR_FACTORIZATION &&
        (st = mmoe_config_set_int(cfg, "tf.rank", (int64_t)o->tf_rank)) != MMOE_OK) {
        snprintf(err, cap, "configuring %s: tf.rank: %s", a->name, mmoe_config_last_error(cfg));
        mmoe_config_free(cfg);
        return st;
    }
    *out = cfg;
    return MMOE_OK;
}

static mmoe_status create_model(const paper_options *o, const paper_arch *a, size_t width,
                                uint64_t init_seed, mmoe_model **out, char *err, size_t cap)
{
    mmoe_config *cfg = NULL;
    mmoe_status st = paper_config(o, a, width, init_seed, &cfg, err, cap);
    *out = NULL;
    if (st != MMOE_OK)
        return st;
    st = mmoe_model_create(cfg, out);
    if (st != MMOE_OK)
        snprintf(err, cap, "mmoe_model_create (%s, width %zu): %s: %s", a->name, width,
                 mmoe_status_string(st), mmoe_last_error());
    mmoe_config_free(cfg);
    return st;
}

mmoe_status paper_param_count(const paper_options *o, const paper_arch *a, size_t width,
                              size_t *count, char *err, size_t cap)
{
    mmoe_model *m = NULL;
    mmoe_status st = create_model(o, a, width, 1, &m, err, cap);
    if (st != MMOE_OK)
        return st;
    *count = mmoe_model_num_scalars(m);
    mmoe_model_free(m);
    return MMOE_OK;
}

static size_t absdiff(size_t a, size_t b)
{
    return a > b ? a - b : b - a;
}

mmoe_status paper_arch_width(const paper_options *o, const paper_arch *a, size_t *width,
                             size_t *count, char *err, size_t cap)
{
    mmoe_status st;
    if (a->gated || !o->match_params) {
        *width = o->expert_units;
        return paper_param_count(o, a, *width, count, err, cap);
    }
    size_t target = 0;
    if ((st = paper_param_count(o, paper_arch_get(MMOE_ARCH_MMOE), o->expert_units, &target, err,
                                cap)) != MMOE_OK)
        return st;
    /* The count grows with the width: binary search for the first width whose
     * count reaches the target, then take the closer of it and its predecessor. */
    size_t lo = 1, hi = 4096, c = 0;
    if ((st = paper_param_count(o, a, hi, &c, err, cap)) != MMOE_OK)
        return st;
    if (c < target) {
        *width = hi;
        *count = c;
        return MMOE_OK;
    }
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if ((st = paper_param_count(o, a, mid, &c, err, cap)) != MMOE_OK)
            return st;
        if (c >= target)
            hi = mid;
        else
            lo = mid + 1;
    }
    size_t c_hi = 0, c_lo = 0;
    if ((st = paper_param_count(o, a, lo, &c_hi, err, cap)) != MMOE_OK)
        return st;
    *width = lo;
    *count = c_hi;
    if (lo > 1) {
        if ((st = paper_param_count(o, a, lo - 1, &c_lo, err, cap)) != MMOE_OK)
            return st;
        if (absdiff(c_lo, target) <= absdiff(c_hi, target)) {
            *width = lo - 1;
            *count = c_lo;
        }
    }
    return MMOE_OK;
}

int paper_resolve_archs(const char *prog, paper_options *o, size_t *widths, size_t *params)
{
    char err[PAPER_ERRLEN];
    size_t kept = 0;
    for (size_t i = 0; i < o->n_archs; i++) {
        const paper_arch *a = o->archs[i];
        size_t w = 0, c = 0;
        mmoe_status st = paper_arch_width(o, a, &w, &c, err, sizeof err);
        if (st == MMOE_ERR_UNSUPPORTED) {
            fprintf(stderr, "%s: skipping %s: this libmmoe cannot build it yet (%s)\n", prog,
                    a->name, err);
            continue;
        }
        if (st != MMOE_OK) {
            fprintf(stderr, "%s: %s\n", prog, err);
            return -1;
        }
        o->archs[kept] = a;
        widths[kept] = w;
        params[kept] = c;
        kept++;
    }
    o->n_archs = kept;
    if (kept == 0) {
        fprintf(stderr, "%s: no model left to train\n", prog);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* training                                                                  */
/* ------------------------------------------------------------------------ */

uint64_t paper_mix_seed(uint64_t base, uint64_t a, uint64_t b, uint64_t c)
{
    /* the splitmix64 finaliser scrambles the running value before each part
     * is added, so (base, a, ...) tuples do not collide by simple sums */
    uint64_t h = base;
    const uint64_t parts[4] = {0, a, b, c};
    for (size_t i = 0; i < 4; i++) {
        uint64_t z = h + parts[i] + 0x9E3779B97F4A7C15ULL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        h = z ^ (z >> 31);
    }
    return h;
}

static uint64_t xorshift(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *s = x;
    return x;
}

static void shuffle(size_t *idx, size_t n, uint64_t *s)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)(xorshift(s) % i);
        size_t t = idx[i - 1];
        idx[i - 1] = idx[j];
        idx[j] = t;
    }
}

/* Uniform double in [0, 1) from the top 53 bits. */
static double unit_uniform(uint64_t *s)
{
    return (double)(xorshift(s) >> 11) * (1.0 / 9007199254740992.0);
}

/*
 * Redraw every weight matrix (a parameter named *.weight of shape [out, in])
 * Glorot-uniform. The other parameters (biases, cross-stitch units,
 * tensor-factorization factors) keep the library's initialisation.
 */
static int init_glorot(mmoe_model *m, uint64_t seed, char *err, size_t cap)
{
    uint64_t s = paper_mix_seed(seed, 0x474C4F524FULL, 0, 0);
    if (s == 0)
        s = 1;
    for (size_t i = 0; i < mmoe_model_param_count(m); i++) {
        const char *name = NULL;
        mmoe_tensor *v = NULL;
        mmoe_status st = mmoe_model_param(m, i, &name, &v, NULL);
        if (st != MMOE_OK) {
            snprintf(err, cap, "mmoe_model_param: %s", mmoe_status_string(st));
            return -1;
        }
        size_t len = strlen(name);
        if (mmoe_tensor_rank(v) != 2 || len < 7 || strcmp(name + len - 7, ".weight") != 0)
            continue;
        double out = (double)mmoe_tensor_dim(v, 0), in = (double)mmoe_tensor_dim(v, 1);
        double lim = sqrt(6.0 / (in + out));
        float *w = mmoe_tensor_data(v);
        for (size_t j = 0; j < mmoe_tensor_numel(v); j++)
            w[j] = (float)(lim * (2.0 * unit_uniform(&s) - 1.0));
    }
    return 0;
}

/* Online data: rewind the stream and skip the test samples drawn first. */
static int online_start(const paper_data *d, size_t batch, float *xb, float *yb, char *err,
                        size_t cap)
{
    mmoe_status st = mmoe_synth_reset(d->gen);
    for (size_t done = 0; st == MMOE_OK && done < d->n_test; done += batch) {
        size_t n = d->n_test - done < batch ? d->n_test - done : batch;
        st = mmoe_synth_generate(d->gen, n, xb, yb);
    }
    if (st != MMOE_OK) {
        snprintf(err, cap, "mmoe_synth_generate: %s: %s", mmoe_status_string(st),
                 mmoe_synth_last_error(d->gen));
        return -1;
    }
    return 0;
}

static int evaluate(mmoe_model *m, mmoe_workspace *ws, const paper_data *d, float *pred,
                    double *mse, char *err, size_t cap)
{
    mmoe_status st = mmoe_model_predict(m, ws, d->n_test, d->x_test, NULL, pred);
    if (st != MMOE_OK) {
        snprintf(err, cap, "mmoe_model_predict: %s: %s", mmoe_status_string(st),
                 mmoe_workspace_last_error(ws));
        return -1;
    }
    for (size_t k = 0; k < PAPER_TASKS; k++) {
        double s = 0.0;
        for (size_t i = 0; i < d->n_test; i++) {
            double e = (double)pred[i * PAPER_TASKS + k] - (double)d->y_test[i * PAPER_TASKS + k];
            s += e * e;
        }
        mse[k] = s / (double)d->n_test;
    }
    return 0;
}

static int gate_means(mmoe_model *m, const paper_data *d, paper_run_result *res, char *err,
                      size_t cap)
{
    size_t ne = mmoe_model_num_experts(m);
    float *g = malloc(d->n_test * ne * sizeof(float));
    res->gate_mean = calloc(PAPER_TASKS * ne, sizeof(double));
    if (!g || !res->gate_mean) {
        free(g);
        snprintf(err, cap, "out of memory for gate weights");
        return -1;
    }
    res->n_experts = ne;
    mmoe_status st = mmoe_model_forward(m, d->n_test, d->x_test, NULL);
    if (st != MMOE_OK) {
        free(g);
        snprintf(err, cap, "mmoe_model_forward: %s: %s", mmoe_status_string(st),
                 mmoe_model_last_error(m));
        return -1;
    }
    for (size_t k = 0; k < PAPER_TASKS; k++) {
        st = mmoe_model_gate_weights(m, k, g, d->n_test * ne);
        if (st != MMOE_OK) {
            free(g);
            snprintf(err, cap, "mmoe_model_gate_weights: %s: %s", mmoe_status_string(st),
                     mmoe_model_last_error(m));
            return -1;
        }
        for (size_t i = 0; i < d->n_test; i++)
            for (size_t e = 0; e < ne; e++)
                res->gate_mean[k * ne + e] += g[i * ne + e];
        for (size_t e = 0; e < ne; e++)
            res->gate_mean[k * ne + e] /= (double)d->n_test;
    }
    free(g);
    res->has_gates = 1;
    return 0;
}

int paper_train(const paper_options *o, const paper_data *d, const paper_arch *a, size_t width,
                uint64_t init_seed, int want_gates, paper_eval_fn fn, void *ctx,
                paper_run_result *res, char *err, size_t cap)
{
    memset(res, 0, sizeof *res);
    mmoe_model *m = NULL;
    mmoe_optimizer *opt = NULL;
    mmoe_workspace *ws = NULL;
    float *xb = NULL, *yb = NULL, *pred = NULL;
    size_t *idx = NULL;
    int rc = -1;
    mmoe_status st;
    double mse[PAPER_TASKS];

    if (create_model(o, a, width, init_seed, &m, err, cap) != MMOE_OK)
        return -1;
    if (o->init == PAPER_INIT_GLOROT && init_glorot(m, init_seed, err, cap) != 0)
        goto done;
    if (o->online && !d->gen) {
        snprintf(err, cap, "online training needs a data set made with online set");
        goto done;
    }
    if ((st = mmoe_optimizer_create(m, MMOE_OPTIMIZER_ADAM, &opt)) != MMOE_OK ||
        (st = mmoe_optimizer_set(opt, MMOE_OPT_LEARNING_RATE, o->lr)) != MMOE_OK) {
        snprintf(err, cap, "creating the Adam optimizer: %s: %s", mmoe_status_string(st),
                 opt ? mmoe_optimizer_last_error(opt) : mmoe_last_error());
        goto done;
    }
    if ((st = mmoe_workspace_create(m, 512, &ws)) != MMOE_OK) {
        snprintf(err, cap, "mmoe_workspace_create: %s: %s", mmoe_status_string(st),
                 mmoe_last_error());
        goto done;
    }
    xb = malloc(o->batch * d->dim * sizeof(float));
    yb = malloc(o->batch * PAPER_TASKS * sizeof(float));
    pred = malloc(d->n_test * PAPER_TASKS * sizeof(float));
    idx = malloc((d->n_train ? d->n_train : 1) * sizeof(size_t));
    if (!xb || !yb || !pred || !idx) {
        snprintf(err, cap, "out of memory for training buffers");
        goto done;
    }
    for (size_t i = 0; i < d->n_train; i++)
        idx[i] = i;
    uint64_t sh = paper_mix_seed(init_seed, 0x5348554646ULL, 0, 0);
    if (sh == 0)
        sh = 1;

    if (fn) {
        if (evaluate(m, ws, d, pred, mse, err, cap) != 0)
            goto done;
        fn(ctx, 0, mse);
    }
    if (o->online && online_start(d, o->batch, xb, yb, err, cap) != 0)
        goto done;
    size_t pos = d->n_train; /* forces a shuffle before the first batch */
    for (size_t step = 1; step <= o->steps; step++) {
        if (o->online) {
            st = mmoe_synth_generate(d->gen, o->batch, xb, yb);
            if (st != MMOE_OK) {
                snprintf(err, cap, "mmoe_synth_generate: %s: %s", mmoe_status_string(st),
                         mmoe_synth_last_error(d->gen));
                goto done;
            }
        }
        for (size_t r = 0; !o->online && r < o->batch; r++) {
            if (pos == d->n_train) {
                shuffle(idx, d->n_train, &sh);
                pos = 0;
            }
            size_t s = idx[pos++];
            memcpy(xb + r * d->dim, d->x_train + s * d->dim, d->dim * sizeof(float));
            memcpy(yb + r * PAPER_TASKS, d->y_train + s * PAPER_TASKS, PAPER_TASKS * sizeof(float));
        }
        st = mmoe_model_train_step(m, opt, o->batch, xb, NULL, yb, NULL, NULL, NULL);
        if (st != MMOE_OK) {
            snprintf(err, cap, "mmoe_model_train_step (%s, step %zu): %s: %s", a->name, step,
                     mmoe_status_string(st), mmoe_model_last_error(m));
            goto done;
        }
        int last = step == o->steps;
        if (last || (fn && o->eval_every && step % o->eval_every == 0)) {
            if (evaluate(m, ws, d, pred, mse, err, cap) != 0)
                goto done;
            if (fn)
                fn(ctx, step, mse);
        }
    }
    if (o->steps == 0 && evaluate(m, ws, d, pred, mse, err, cap) != 0)
        goto done;
    res->final_loss = 0.0;
    for (size_t k = 0; k < PAPER_TASKS; k++) {
        res->final_mse[k] = mse[k];
        res->final_loss += mse[k] / PAPER_TASKS;
    }
    if (want_gates && a->gated && gate_means(m, d, res, err, cap) != 0)
        goto done;
    rc = 0;
done:
    if (rc != 0)
        paper_run_result_free(res);
    free(xb);
    free(yb);
    free(pred);
    free(idx);
    mmoe_workspace_free(ws);
    mmoe_optimizer_free(opt);
    mmoe_model_free(m);
    return rc;
}

void paper_run_result_free(paper_run_result *res)
{
    free(res->gate_mean);
    res->gate_mean = NULL;
    res->has_gates = 0;
}

/* ------------------------------------------------------------------------ */
/* statistics                                                                */
/* ------------------------------------------------------------------------ */

double paper_t975(size_t df)
{
    static const double table[30] = {
        12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281,
        2.2010,  2.1788, 2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860,
        2.0796,  2.0739, 2.0687, 2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423,
    };
    if (df == 0)
        return NAN;
    if (df <= 30)
        return table[df - 1];
    /* Cornish-Fisher expansion around the normal quantile (error < 1e-4 here) */
    const double z = 1.959963984540054, v = (double)df;
    const double z2 = z * z, z3 = z2 * z, z5 = z3 * z2, z7 = z5 * z2, z9 = z7 * z2;
    const double g1 = (z3 + z) / 4.0;
    const double g2 = (5.0 * z5 + 16.0 * z3 + 3.0 * z) / 96.0;
    const double g3 = (3.0 * z7 + 19.0 * z5 + 17.0 * z3 - 15.0 * z) / 384.0;
    const double g4 = (79.0 * z9 + 776.0 * z7 + 1482.0 * z5 - 1920.0 * z3 - 945.0 * z) / 92160.0;
    return z + g1 / v + g2 / (v * v) + g3 / (v * v * v) + g4 / (v * v * v * v);
}

void paper_paired(const double *a, const double *b, size_t n, double *d, paper_stats *s,
                  size_t *a_lower, size_t *a_higher)
{
    size_t lo = 0, hi = 0;
    for (size_t i = 0; i < n; i++) {
        d[i] = a[i] - b[i];
        lo += a[i] < b[i];
        hi += a[i] > b[i];
    }
    paper_stats_compute(d, n, s);
    if (a_lower)
        *a_lower = lo;
    if (a_higher)
        *a_higher = hi;
}

int paper_quick_check(const paper_options *o, paper_loss_fn loss, const void *ctx, size_t n)
{
    static const mmoe_arch archs[] = {MMOE_ARCH_SHARED_BOTTOM, MMOE_ARCH_OMOE, MMOE_ARCH_MMOE};
    size_t lo = SIZE_MAX, hi = SIZE_MAX, pairs = 0, above = 0, used = 0;
    double sum = 0.0;
    for (size_t c = 0; c < o->n_corrs; c++) {
        if (o->corrs[c] == 0.5)
            lo = c;
        if (o->corrs[c] == 1.0)
            hi = c;
    }
    for (size_t a = 0; a < o->n_archs && lo != SIZE_MAX && hi != SIZE_MAX; a++)
        for (size_t j = 0; j < sizeof archs / sizeof archs[0]; j++)
            if (o->archs[a]->arch == archs[j]) {
                used++;
                for (size_t i = 0; i < n; i++) {
                    double d = loss(ctx, a, lo, i) - loss(ctx, a, hi, i);
                    above += d > 0.0;
                    sum += d;
                    pairs++;
                }
            }
    if (used != sizeof archs / sizeof archs[0]) {
        printf("quick check: skipped (needs shared_bottom, omoe, mmoe and p = 0.5 and 1)\n");
        return -1;
    }
    int ok = 3 * above >= 2 * pairs && sum > 0.0;
    printf("quick check: the loss at p = 0.5 is above the loss at p = 1 after %zu steps in %zu "
           "of %zu (model, seed) pairs, mean difference %+.4f (needs >= 2/3 and > 0): %s\n",
           o->steps, above, pairs, sum / (double)pairs, ok ? "PASS" : "FAIL");
    return ok;
}

void paper_format_diff(char *buf, size_t cap, const paper_stats *s, size_t count, size_t n)
{
    if (isnan(s->ci_half))
        snprintf(buf, cap, "%+.4f (%zu/%zu)", s->mean, count, n);
    else
        snprintf(buf, cap, "%+.4f +/- %.4f (%zu/%zu)", s->mean, s->ci_half, count, n);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Linear-interpolation quantile of sorted v (q in [0, 1]). */
static double quantile(const double *v, size_t n, double q)
{
    double pos = q * (double)(n - 1);
    size_t i = (size_t)pos;
    if (i + 1 >= n)
        return v[n - 1];
    double f = pos - (double)i;
    return v[i] + f * (v[i + 1] - v[i]);
}

void paper_stats_compute(double *v, size_t n, paper_stats *s)
{
    memset(s, 0, sizeof *s);
    s->n = n;
    if (n == 0) {
        s->mean = s->sd = s->ci_half = s->min = s->median = s->max = s->p95 = NAN;
        s->worst5_mean = NAN;
        return;
    }
    qsort(v, n, sizeof *v, cmp_double);
    double sum = 0.0;
    for (size_t i = 0; i < n; i++)
        sum += v[i];
    s->mean = sum / (double)n;
    double ss = 0.0;
    for (size_t i = 0; i < n; i++)
        ss += (v[i] - s->mean) * (v[i] - s->mean);
    s->sd = n > 1 ? sqrt(ss / (double)(n - 1)) : NAN;
    s->ci_half = n > 1 ? paper_t975(n - 1) * s->sd / sqrt((double)n) : NAN;
    s->min = v[0];
    s->max = v[n - 1];
    s->median = quantile(v, n, 0.5);
    s->p95 = quantile(v, n, 0.95);
    size_t w = (n + 19) / 20; /* ceil(5 %), at least one */
    double ws = 0.0;
    for (size_t i = n - w; i < n; i++)
        ws += v[i];
    s->worst5_mean = ws / (double)w;
}

/* ------------------------------------------------------------------------ */
/* progress                                                                  */
/* ------------------------------------------------------------------------ */

double paper_now(void)
{
    struct timespec ts;
    if (timespec_get(&ts, TIME_UTC) != TIME_UTC)
        return 0.0;
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void paper_format_duration(double s, char *buf, size_t cap)
{
    if (!(s >= 0.0) || s > 1e8) {
        snprintf(buf, cap, "?");
        return;
    }
    if (s < 60.0) {
        snprintf(buf, cap, "%.1fs", s);
        return;
    }
    unsigned long t = (unsigned long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, cap, "%luh%02lum%02lus", t / 3600, (t / 60) % 60, t % 60);
    else
        snprintf(buf, cap, "%lum%02lus", t / 60, t % 60);
}

void paper_progress_start(paper_progress *p, const char *prog, size_t total)
{
    p->prog = prog;
    p->total = total;
    p->done = 0;
    p->t0 = paper_now();
    p->last_print = p->t0;
    p->tty = paper_isatty(stderr);
}

void paper_progress_step(paper_progress *p, const char *what)
{
    p->done++;
    double now = paper_now();
    /* on a terminal: redraw every run; in a log: a line every 15 s and at the end */
    if (!p->tty && p->done != p->total && p->done != 1 && now - p->last_print < 15.0)
        return;
    p->last_print = now;
    double el = now - p->t0;
    double eta = p->done ? el / (double)p->done * (double)(p->total - p->done) : NAN;
    char e1[32], e2[32];
    paper_format_duration(el, e1, sizeof e1);
    paper_format_duration(eta, e2, sizeof e2);
    fprintf(stderr, "%s%s: runs %zu/%zu (%3.0f%%), elapsed %s, ETA %s  [%s]%s", p->tty ? "\r" : "",
            p->prog, p->done, p->total, 100.0 * (double)p->done / (double)p->total, e1, e2,
            what ? what : "", p->tty ? "\033[K" : "\n");
    fflush(stderr);
}

void paper_progress_end(paper_progress *p)
{
    if (p->tty)
        fputc('\n', stderr);
    fflush(stderr);
}

/* ------------------------------------------------------------------------ */
/* files and plots                                                           */
/* ------------------------------------------------------------------------ */

int paper_mkdir_p(const char *prog, const char *path)
{
    size_t n = strlen(path);
    char *buf = malloc(n + 1);
    if (!buf) {
        fprintf(stderr, "%s: out of memory\n", prog);
        return -1;
    }
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] == '/' || buf[i] == '\0') {
            char c = buf[i];
            buf[i] = '\0';
            if (paper_mkdir(buf) != 0 && errno != EEXIST) {
                fprintf(stderr, "%s: cannot create directory '%s': %s\n", prog, buf,
                        strerror(errno));
                free(buf);
                return -1;
            }
            buf[i] = c;
        }
    }
    free(buf);
    return 0;
}

FILE *paper_open_out(const char *prog, const char *dir, const char *name)
{
    char path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path) {
        fprintf(stderr, "%s: output path too long\n", prog);
        return NULL;
    }
    FILE *f = fopen(path, "w");
    if (!f)
        fprintf(stderr, "%s: cannot write '%s': %s\n", prog, path, strerror(errno));
    return f;
}

int paper_close_out(const char *prog, FILE *f, const char *name)
{
    int bad = ferror(f);
    if (fclose(f) != 0)
        bad = 1;
    if (bad) {
        fprintf(stderr, "%s: writing %s failed\n", prog, name);
        return -1;
    }
    return 0;
}

int paper_have_gnuplot(void)
{
    const char *path = getenv("PATH");
    if (!path)
        return 0;
    const char *p = path;
    while (*p) {
        const char *e = strchr(p, PAPER_PATH_SEP);
        size_t len = e ? (size_t)(e - p) : strlen(p);
        char buf[4096];
        static const char *const names[] = {"gnuplot", "gnuplot.exe"};
        for (size_t i = 0; i < 2; i++) {
            int n = len ? snprintf(buf, sizeof buf, "%.*s/%s", (int)len, p, names[i])
                        : snprintf(buf, sizeof buf, "%s", names[i]);
            if (n > 0 && (size_t)n < sizeof buf) {
                FILE *f = fopen(buf, "rb");
                if (f) {
                    fclose(f);
                    return 1;
                }
            }
        }
        if (!e)
            break;
        p = e + 1;
    }
    return 0;
}

void paper_gp_path(char *buf, size_t cap, const char *dir, const char *name)
{
    size_t n = 0;
    if (cap < 3) {
        if (cap)
            buf[0] = '\0';
        return;
    }
    buf[n++] = '\'';
    const char *parts[3] = {dir, "/", name};
    for (size_t i = 0; i < 3; i++)
        for (const char *s = parts[i]; *s && n + 3 < cap; s++) {
            if (*s == '\'')
                buf[n++] = '\'';
            buf[n++] = *s;
        }
    buf[n++] = '\'';
    buf[n] = '\0';
}

int paper_run_gnuplot(const char *prog, const char *dir, const char *script_name,
                      const char *script)
{
    FILE *f = paper_open_out(prog, dir, script_name);
    if (!f)
        return -1;
    fputs(script, f);
    if (paper_close_out(prog, f, script_name) != 0)
        return -1;
    if (!paper_have_gnuplot())
        return 1;
    fflush(stdout);
    fflush(stderr);
    FILE *gp = paper_popen("gnuplot", "w");
    if (!gp) {
        fprintf(stderr, "%s: cannot start gnuplot: %s\n", prog, strerror(errno));
        return -1;
    }
    fputs(script, gp);
    int rc = paper_pclose(gp);
    if (rc != 0) {
        fprintf(stderr, "%s: gnuplot failed on %s/%s (status %d)\n", prog, dir, script_name, rc);
        return -1;
    }
    return 0;
}

void paper_text_printf(paper_text *t, const char *fmt, ...)
{
    if (t->failed)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = t->cap - t->len;
        int n = vsnprintf(t->s ? t->s + t->len : NULL, t->s ? room : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->failed = 1;
            return;
        }
        if (t->s && (size_t)n < room) {
            t->len += (size_t)n;
            return;
        }
        size_t want = t->len + (size_t)n + 1;
        size_t cap = t->cap ? t->cap : 4096;
        while (cap < want)
            cap *= 2;
        char *s = realloc(t->s, cap);
        if (!s) {
            t->failed = 1;
            return;
        }
        t->s = s;
        t->cap = cap;
    }
}

void paper_text_free(paper_text *t)
{
    free(t->s);
    memset(t, 0, sizeof *t);
}

int paper_parse_args(const char *prog, int argc, char **argv, paper_options *o, int *help,
                     paper_extra_option extra, void *ctx)
{
    *help = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            *help = 1;
            return 0;
        }
        if (paper_parse_flag(a, o))
            continue;
        if (strncmp(a, "--", 2) != 0) {
            fprintf(stderr, "%s: unexpected argument '%s'\n", prog, a);
            return -1;
        }
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            fprintf(stderr, "%s: %s: unknown option or missing value (see --help)\n", prog, a);
            return -1;
        }
        i++;
        int rc = extra(a, v, ctx);
        if (rc == 0)
            rc = paper_parse_option(prog, a, v, o);
        if (rc < 0)
            return -1;
        if (rc == 0) {
            fprintf(stderr, "%s: unknown option '%s' (see --help)\n", prog, a);
            return -1;
        }
    }
    paper_finish_arch_list(o);
    return 0;
}

int paper_prepare(const char *prog, paper_options *o, size_t *widths, size_t *params, size_t count,
                  const char *what)
{
    mmoe_status st = mmoe_set_num_threads(o->threads);
    if (st == MMOE_ERR_UNSUPPORTED)
        fprintf(stderr, "%s: note: %s has no thread control; --threads ignored\n", prog,
                mmoe_blas_name());
    else if (st != MMOE_OK) {
        fprintf(stderr, "%s: mmoe_set_num_threads: %s\n", prog, mmoe_status_string(st));
        return -1;
    }
    if (paper_resolve_archs(prog, o, widths, params) != 0)
        return -1;
    paper_print_setup(stdout, prog, o);
    printf("%s: %zu %s; parameter counts (mmoe_model_num_scalars):\n", prog, count, what);
    for (size_t a = 0; a < o->n_archs; a++)
        printf("  %-22s width %4zu  %7zu parameters\n", o->archs[a]->label, widths[a], params[a]);
    fflush(stdout);
    return paper_mkdir_p(prog, o->out_dir);
}
