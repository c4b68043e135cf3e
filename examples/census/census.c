/*
 * census: multi-task learning on the UCI Census-Income (KDD) data, the
 * real-data benchmark of the MMoE paper (Ma et al., KDD 2018).
 *
 *     census                                   # MMoE, task group 1
 *     census --model shared_bottom --group 2 --seed 3
 *     census --quick                           # small subsample, checks AUC >= 0.90
 *
 * Task group 1: income > $50K and marital status "Never married";
 * task group 2: education at least college and "Never married". The label
 * columns of the group are removed from the inputs; the instance weight is
 * never an input. Nominal columns become embeddings (vocabulary from the
 * training rows, unseen values -> id 0) or, with --encoding onehot, one-hot
 * blocks of the dense input; continuous columns are standardised with
 * training statistics (the four money columns after log1p).
 *
 * Split: the UCI training file trains; the UCI test file is split 1:1 at
 * random (--split-seed) into validation and test halves. Training stops
 * early on the mean validation AUC over the two tasks; the reported test
 * AUC is that of the parameters of the best validation epoch.
 *
 * Exit status: 0 success; 1 library or data error; 2 bad command line;
 * 3 --quick finished but an AUC is below its bound; 77 the data directory
 * is absent (the test harness counts the run as skipped).
 *
 * Built a second time as census-mpi (MMOE_EXAMPLE_MPI, when libmmoe-mpi is
 * built): under mpirun every rank trains on its own stride of the training
 * rows with --batch / ranks rows per step (docs/distributed.md); every rank
 * evaluates the same replicated model, rank 0 prints.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mmoe/mmoe.h>
#ifdef MMOE_EXAMPLE_MPI
#    include <mmoe/mpi.h>
#endif

#include "census_data.h"

#define NTASKS 2
#define EXIT_SKIP 77
#define EXIT_BOUND 3
#define QUICK_MIN_AUC 0.90
#define EVAL_CHUNK 2048
#define MAX_WIDTHS 8
#define MAX_SETS 16

#ifndef CENSUS_SOURCE_DATA_DIR
#    define CENSUS_SOURCE_DATA_DIR ""
#endif

typedef struct options {
    const char *data;
    int group;
    mmoe_arch model; /* --model, by the library's architecture names */
    int onehot;      /* 1: one-hot dense encoding; 0: embeddings */
    uint64_t seed;
    uint64_t split_seed;
    size_t epochs;
    size_t patience;
    size_t batch;
    double lr;
    double weight_decay;
    size_t experts;
    size_t n_expert_layers;
    size_t expert_units[MAX_WIDTHS];
    size_t n_tower_layers;
    size_t tower_units[MAX_WIDTHS];
    size_t emb_dim;
    size_t cross_layers;
    const char *dnn;            /* dnn.layers text, NULL = none */
    const char *sets[MAX_SETS]; /* --set KEY=VALUE: more description keys, in order */
    size_t n_sets;
    int log1p_money;
    size_t train_rows; /* 0 = all */
    size_t test_rows;  /* 0 = all */
    int threads;
    int quick;
    /* which flags were given (quick mode keeps them) */
    int set_epochs, set_patience, set_train_rows, set_test_rows;
} options;

/* The library's architecture names, wrapped, then " [mmoe]". */
static void print_arch_names(FILE *f, const char *indent)
{
    size_t col = 0;
    for (size_t a = 0; a < mmoe_arch_count(); a++) {
        const char *n = mmoe_arch_name((mmoe_arch)a);
        if (col && col + strlen(n) > 52) {
            fprintf(f, " |\n%s", indent);
            col = 0;
        } else if (col) {
            fprintf(f, " | ");
            col += 3;
        }
        fprintf(f, "%s", n);
        col += strlen(n);
    }
    fprintf(f, " [mmoe]\n");
}

static void usage(FILE *f)
{
    fprintf(f, "usage: census [options]\n"
               "\n"
               "Train a two-task model on the UCI Census-Income (KDD) data and report the\n"
               "test ROC AUC of each task at the epoch of best mean validation AUC.\n"
               "\n"
               "Data:\n"
               "  --data DIR          folder with census-income.data.part{1,2}.gz (or\n"
               "                      census-income.data[.gz]) and census-income.test[.gz]\n"
               "                      [../shared/data/census-income, then the copy beside\n"
               "                      the source tree]; absent: exit 77 (skip)\n"
               "  --group G           1: income > 50K + never married;\n"
               "                      2: education >= college + never married [1]\n"
               "  --encoding E        embedding | onehot: nominal columns as embedding\n"
               "                      tables or as one-hot blocks of the dense input [embedding]\n"
               "  --emb-dim D         embedding width of every nominal column [4]\n"
               "  --log1p B           1: log1p on wage, capital gains/losses, dividends before\n"
               "                      standardising; 0: standardise raw values [1]\n"
               "  --split-seed S      seed of the validation/test split and subsampling [2018]\n"
               "  --train-rows N      use N random training rows (0 = all) [0]\n"
               "  --test-rows N       use N random test-file rows before the split (0 = all) [0]\n"
               "Model:\n"
               "  --model M           " /* then the names, from the library */
    );
    print_arch_names(f, "                      ");
    fprintf(
        f,
        "  --experts N         experts of mmoe / omoe [8]\n"
        "  --expert-units L    comma-separated hidden widths of each expert; also the\n"
        "                      shared bottom and the per-task networks [16]\n"
        "  --tower-units L     comma-separated hidden widths of each task tower [8]\n"
        "  --cross-layers N    CrossNet layers on the assembled input [0]\n"
        "  --dnn L             widths of a DNN between input and experts [none]\n"
        "  --seed S            seed of initialisation and batch order [1]\n"
        "  --set KEY=VALUE     any other key of the model description, e.g.\n"
        "                      --set gate.kind=topk --set gate.top_k=2 (repeatable)\n"
        "Training (Adam, binary cross-entropy):\n"
        "  --epochs E          most passes over the training rows [100]\n"
        "  --patience P        stop after P epochs without a better validation AUC [4]\n"
        "  --batch B           mini-batch size [256]\n"
        "  --lr R              learning rate [0.001]\n"
        "  --weight-decay W    L2 weight decay (lambda * theta added to each gradient) [1e-4]\n"
        "  --threads T         BLAS threads (0 = the BLAS default) [1]\n"
        "  --quick             20000 training rows, 10000 test rows, 4 epochs; exit 3\n"
        "                      unless both test AUCs of group 1 are >= 0.90\n"
        "  --help              show this text\n"
        "\n"
        "Output: the data and model summary, one line per epoch (batches/s, mean\n"
        "training loss per task, validation AUC per task and their mean), then\n"
        "  test AUC: <task> <auc>  <task> <auc>  (best epoch E, val AUC <auc> <auc> mean M, T s)\n"
        "Exit status: 0 success, 1 library/data error, 2 bad command line, 3 quick\n"
        "bound missed, 77 data directory absent.\n");
}

/* ------------------------------------------------------------------------ */
/* argument parsing                                                          */
/* ------------------------------------------------------------------------ */

static int parse_size(const char *flag, const char *s, size_t lo, size_t hi, size_t *out)
{
    char *end = NULL;
    errno = 0;
    if (!s || !*s || *s == '-' || *s == '+') {
        fprintf(stderr, "census: %s needs a non-negative integer\n", flag);
        return -1;
    }
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v < lo || v > hi) {
        fprintf(stderr, "census: %s: '%s' is not an integer in %zu..%zu\n", flag, s, lo, hi);
        return -1;
    }
    *out = (size_t)v;
    return 0;
}

static int parse_u64(const char *flag, const char *s, uint64_t *out)
{
    char *end = NULL;
    errno = 0;
    if (!s || !*s || *s == '-' || *s == '+') {
        fprintf(stderr, "census: %s needs an unsigned integer\n", flag);
        return -1;
    }
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end) {
        fprintf(stderr, "census: %s: '%s' is not an unsigned integer\n", flag, s);
        return -1;
    }
    *out = (uint64_t)v;
    return 0;
}

static int parse_real(const char *flag, const char *s, double lo, double hi, double *out)
{
    char *end = NULL;
    errno = 0;
    if (!s || !*s) {
        fprintf(stderr, "census: %s needs a number\n", flag);
        return -1;
    }
    double v = strtod(s, &end);
    if (errno || *end || !isfinite(v) || v < lo || v > hi) {
        fprintf(stderr, "census: %s: '%s' is not a number in [%g, %g]\n", flag, s, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_widths(const char *flag, const char *s, size_t *n, size_t *w)
{
    size_t k = 0;
    const char *p = s;
    if (!s || !*s) {
        fprintf(stderr, "census: %s needs comma-separated widths\n", flag);
        return -1;
    }
    for (;;) {
        char buf[32];
        const char *c = strchr(p, ',');
        size_t len = c ? (size_t)(c - p) : strlen(p);
        if (len == 0 || len >= sizeof buf || k >= MAX_WIDTHS) {
            fprintf(stderr, "census: %s: '%s' is not 1..%d comma-separated widths\n", flag, s,
                    MAX_WIDTHS);
            return -1;
        }
        memcpy(buf, p, len);
        buf[len] = '\0';
        if (parse_size(flag, buf, 1, 1u << 16, &w[k]) != 0)
            return -1;
        k++;
        if (!c)
            break;
        p = c + 1;
    }
    *n = k;
    return 0;
}

static int parse_args(int argc, char **argv, options *o, int *help)
{
    *help = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            *help = 1;
            return 0;
        }
        if (strcmp(a, "--quick") == 0) {
            o->quick = 1;
            continue;
        }
        if (strncmp(a, "--", 2) != 0) {
            fprintf(stderr, "census: unexpected argument '%s'\n", a);
            return -1;
        }
        static const char *const valued[] = {
            "--data",         "--group",   "--model",        "--encoding",    "--seed",
            "--split-seed",   "--epochs",  "--patience",     "--batch",       "--lr",
            "--weight-decay", "--experts", "--expert-units", "--tower-units", "--emb-dim",
            "--cross-layers", "--dnn",     "--log1p",        "--train-rows",  "--test-rows",
            "--threads",      "--set",
        };
        int known = 0;
        for (size_t k = 0; k < sizeof valued / sizeof valued[0]; k++)
            known |= strcmp(a, valued[k]) == 0;
        if (!known) {
            fprintf(stderr, "census: unknown option '%s' (see --help)\n", a);
            return -1;
        }
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            fprintf(stderr, "census: %s needs a value\n", a);
            return -1;
        }
        size_t sz = 0;
        int rc = 0;
        if (strcmp(a, "--data") == 0) {
            o->data = v;
        } else if (strcmp(a, "--group") == 0) {
            rc = parse_size(a, v, 1, 2, &sz);
            o->group = (int)sz;
        } else if (strcmp(a, "--model") == 0) {
            if (mmoe_arch_from_name(v, &o->model) != MMOE_OK) {
                fprintf(stderr, "census: --model: %s\n", mmoe_last_error());
                return -1;
            }
        } else if (strcmp(a, "--encoding") == 0) {
            if (strcmp(v, "onehot") == 0)
                o->onehot = 1;
            else if (strcmp(v, "embedding") == 0)
                o->onehot = 0;
            else {
                fprintf(stderr, "census: --encoding: '%s' is not embedding or onehot\n", v);
                return -1;
            }
        } else if (strcmp(a, "--seed") == 0) {
            rc = parse_u64(a, v, &o->seed);
        } else if (strcmp(a, "--split-seed") == 0) {
            rc = parse_u64(a, v, &o->split_seed);
        } else if (strcmp(a, "--epochs") == 0) {
            rc = parse_size(a, v, 1, 100000, &o->epochs);
            o->set_epochs = 1;
        } else if (strcmp(a, "--patience") == 0) {
            rc = parse_size(a, v, 1, 100000, &o->patience);
            o->set_patience = 1;
        } else if (strcmp(a, "--batch") == 0) {
            rc = parse_size(a, v, 1, 1u << 16, &o->batch);
        } else if (strcmp(a, "--lr") == 0) {
            rc = parse_real(a, v, 1e-9, 10.0, &o->lr);
        } else if (strcmp(a, "--weight-decay") == 0) {
            rc = parse_real(a, v, 0.0, 10.0, &o->weight_decay);
        } else if (strcmp(a, "--experts") == 0) {
            rc = parse_size(a, v, 1, 1024, &o->experts);
        } else if (strcmp(a, "--expert-units") == 0) {
            rc = parse_widths(a, v, &o->n_expert_layers, o->expert_units);
        } else if (strcmp(a, "--tower-units") == 0) {
            rc = parse_widths(a, v, &o->n_tower_layers, o->tower_units);
        } else if (strcmp(a, "--emb-dim") == 0) {
            rc = parse_size(a, v, 1, 4096, &o->emb_dim);
        } else if (strcmp(a, "--cross-layers") == 0) {
            rc = parse_size(a, v, 0, 16, &o->cross_layers);
        } else if (strcmp(a, "--dnn") == 0) {
            size_t n = 0, w[MAX_WIDTHS];
            rc = parse_widths(a, v, &n, w);
            o->dnn = v;
        } else if (strcmp(a, "--set") == 0) {
            if (!strchr(v, '=') || o->n_sets == MAX_SETS) {
                fprintf(stderr, "census: --set: want KEY=VALUE (at most %d)\n", MAX_SETS);
                return -1;
            }
            o->sets[o->n_sets++] = v;
        } else if (strcmp(a, "--log1p") == 0) {
            rc = parse_size(a, v, 0, 1, &sz);
            o->log1p_money = (int)sz;
        } else if (strcmp(a, "--train-rows") == 0) {
            rc = parse_size(a, v, 0, SIZE_MAX / 2, &o->train_rows);
            o->set_train_rows = 1;
        } else if (strcmp(a, "--test-rows") == 0) {
            rc = parse_size(a, v, 0, SIZE_MAX / 2, &o->test_rows);
            o->set_test_rows = 1;
        } else if (strcmp(a, "--threads") == 0) {
            rc = parse_size(a, v, 0, 1024, &sz);
            o->threads = (int)sz;
        } else {
            fprintf(stderr, "census: unknown option '%s' (see --help)\n", a);
            return -1;
        }
        if (rc)
            return -1;
        i++;
    }
    if (o->quick) {
        if (!o->set_train_rows)
            o->train_rows = 20000;
        if (!o->set_test_rows)
            o->test_rows = 10000;
        if (!o->set_epochs)
            o->epochs = 4;
        if (!o->set_patience)
            o->patience = o->epochs;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* helpers                                                                   */
/* ------------------------------------------------------------------------ */

static double now_seconds(void)
{
    struct timespec ts;
    if (timespec_get(&ts, TIME_UTC) != TIME_UTC)
        return 0.0;
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Report a failed libmmoe call; returns the exit status 1. */
static int report(const char *what, mmoe_status st, const char *msg1, const char *msg2)
{
    fprintf(stderr, "census: %s failed: %s (%s)", what, mmoe_status_string(st),
            mmoe_status_name(st));
    if (msg1 && *msg1)
        fprintf(stderr, ": %s", msg1);
    if (msg2 && *msg2 && (!msg1 || strcmp(msg1, msg2) != 0))
        fprintf(stderr, "; %s", msg2);
    fputc('\n', stderr);
    return 1;
}

/* splitmix64: seeds and shuffles (independent of the library's streams). */
static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static void shuffle(size_t *idx, size_t n, uint64_t *s)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)(rng_next(s) % i);
        size_t t = idx[i - 1];
        idx[i - 1] = idx[j];
        idx[j] = t;
    }
}

static int cmp_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return (x > y) - (x < y);
}

/* idx = 0..n-1, or a random subset of k of them in file order when 0 < k < n. */
static size_t *pick_rows(size_t n, size_t k, uint64_t *rng, size_t *out_n)
{
    size_t *idx = malloc((n ? n : 1) * sizeof *idx);
    if (!idx)
        return NULL;
    for (size_t i = 0; i < n; i++)
        idx[i] = i;
    if (k > 0 && k < n) {
        shuffle(idx, n, rng);
        qsort(idx, k, sizeof *idx, cmp_size);
        n = k;
    }
    *out_n = n;
    return idx;
}

/* Positive share of task k in a set. */
static double positive_rate(const census_set *s, size_t k)
{
    double p = 0.0;
    for (size_t i = 0; i < s->n; i++)
        p += s->labels[i * NTASKS + k];
    return s->n ? p / (double)s->n : 0.0;
}

/* Everything the training loop and the evaluation share. */
typedef struct run {
    const options *o;
    const census_encoding *enc;
    mmoe_model *model;
    mmoe_workspace *ws;
    size_t in_dim; /* model's dense input width */
    size_t n_ids;  /* ids per row given to the model (0 with one-hot) */
    float *xbuf;   /* [max(batch, EVAL_CHUNK), in_dim] one-hot rows */
    float *pred;   /* [max set size, NTASKS] */
} run;

/* Predict a whole set into r->pred. */
static mmoe_status predict_set(run *r, const census_set *s)
{
    for (size_t start = 0; start < s->n; start += EVAL_CHUNK) {
        size_t b = s->n - start < EVAL_CHUNK ? s->n - start : EVAL_CHUNK;
        const float *x;
        const int64_t *ids = NULL;
        if (r->o->onehot) {
            for (size_t i = 0; i < b; i++)
                census_onehot_row(r->enc, s->ids + (start + i) * r->enc->n_sparse,
                                  s->dense + (start + i) * CENSUS_NCONT, r->xbuf + i * r->in_dim);
            x = r->xbuf;
        } else {
            x = s->dense + start * CENSUS_NCONT;
            ids = s->ids + start * r->n_ids;
        }
        mmoe_status st = mmoe_model_predict(r->model, r->ws, b, x, ids, r->pred + start * NTASKS);
        if (st != MMOE_OK)
            return st;
    }
    return MMOE_OK;
}

/* Test or validation AUC of both tasks; on failure reports and returns 1. */
static int evaluate(run *r, const census_set *s, double auc[NTASKS])
{
    mmoe_status st = predict_set(r, s);
    if (st != MMOE_OK)
        return report("mmoe_model_predict", st, mmoe_workspace_last_error(r->ws), NULL);
    /* exact ROC AUC (ties count one half) of both columns */
    st = mmoe_metric_compute(MMOE_METRIC_AUC, s->n, NTASKS, r->pred, s->labels, NULL, auc);
    if (st == MMOE_ERR_RANGE) {
        /* a task with a single class in a tiny subsample: AUC undefined */
        for (size_t k = 0; k < NTASKS; k++)
            auc[k] = NAN;
        return 0;
    }
    if (st != MMOE_OK)
        return report("mmoe_metric_compute", st, mmoe_last_error(), NULL);
    return 0;
}

static mmoe_status build_config(const options *o, const census_encoding *enc, const census_group *g,
                                size_t in_dim, mmoe_config **out)
{
    mmoe_config *cfg = NULL;
    mmoe_status st = mmoe_config_create(&cfg);
    if (st != MMOE_OK)
        return st;
    char key[64];
    if ((st = mmoe_config_set_arch(cfg, o->model)) != MMOE_OK ||
        (st = mmoe_config_set_int(cfg, "input.dense", (int64_t)in_dim)) != MMOE_OK ||
        (st = mmoe_config_set_experts(cfg, o->experts, o->n_expert_layers, o->expert_units,
                                      MMOE_ACT_RELU)) != MMOE_OK)
        goto fail;
    {
        char seed[32];
        snprintf(seed, sizeof seed, "%llu", (unsigned long long)o->seed);
        if ((st = mmoe_config_set(cfg, "seed", seed)) != MMOE_OK)
            goto fail;
    }
    if (!o->onehot) {
        if ((st = mmoe_config_set_int(cfg, "input.sparse", (int64_t)enc->n_sparse)) != MMOE_OK)
            goto fail;
        for (size_t k = 0; k < enc->n_sparse; k++) {
            snprintf(key, sizeof key, "sparse.%zu.name", k);
            if ((st = mmoe_config_set(cfg, key, census_col_name(enc->col[k]))) != MMOE_OK)
                goto fail;
            snprintf(key, sizeof key, "sparse.%zu.vocab", k);
            if ((st = mmoe_config_set_int(cfg, key, (int64_t)enc->vocab[k])) != MMOE_OK)
                goto fail;
            snprintf(key, sizeof key, "sparse.%zu.dim", k);
            if ((st = mmoe_config_set_int(cfg, key, (int64_t)o->emb_dim)) != MMOE_OK)
                goto fail;
        }
    }
    if (o->cross_layers &&
        (st = mmoe_config_set_int(cfg, "cross.layers", (int64_t)o->cross_layers)) != MMOE_OK)
        goto fail;
    if (o->dnn && (st = mmoe_config_set(cfg, "dnn.layers", o->dnn)) != MMOE_OK)
        goto fail;
    for (size_t i = 0; i < o->n_sets; i++) {
        const char *eq = strchr(o->sets[i], '=');
        size_t klen = (size_t)(eq - o->sets[i]);
        if (klen >= sizeof key) {
            st = MMOE_ERR_CONFIG;
            goto fail;
        }
        memcpy(key, o->sets[i], klen);
        key[klen] = '\0';
        if ((st = mmoe_config_set(cfg, key, eq + 1)) != MMOE_OK)
            goto fail;
    }
    for (size_t k = 0; k < NTASKS; k++)
        if ((st = mmoe_config_add_task(cfg, g->task_name[k], MMOE_TASK_BINARY, o->n_tower_layers,
                                       o->tower_units, MMOE_ACT_RELU, 1.0f)) != MMOE_OK)
            goto fail;
    *out = cfg;
    return MMOE_OK;
fail:
    fprintf(stderr, "census: model description: %s\n", mmoe_config_last_error(cfg));
    mmoe_config_free(cfg);
    return st;
}

static void print_widths(const size_t *w, size_t n)
{
    for (size_t i = 0; i < n; i++)
        printf("%s%zu", i ? "," : "", w[i]);
}

/* ------------------------------------------------------------------------ */
/* main                                                                      */
/* ------------------------------------------------------------------------ */

int main(int argc, char **argv)
{
    options o = {
        .data = NULL,
        .group = 1,
        .model = MMOE_ARCH_MMOE,
        .onehot = 0,
        .seed = 1,
        .split_seed = 2018,
        .epochs = 100,
        .patience = 4,
        .batch = 256,
        .lr = 0.001,
        .weight_decay = 1e-4,
        .experts = 8,
        .n_expert_layers = 1,
        .expert_units = {16},
        .n_tower_layers = 1,
        .tower_units = {8},
        .emb_dim = 4,
        .cross_layers = 0,
        .dnn = NULL,
        .log1p_money = 1,
        .train_rows = 0,
        .test_rows = 0,
        .threads = 1,
        .quick = 0,
    };
    int help = 0;
    int rank = 0, ranks = 1;
#ifdef MMOE_EXAMPLE_MPI
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &ranks);
    mmoe_mpi *mpi = NULL;
    if (rank != 0 && !freopen("/dev/null", "w", stdout))
        return 1;
#endif
    if (parse_args(argc, argv, &o, &help) != 0)
        return 2;
    if (help) {
        usage(stdout);
        return 0;
    }

    int rc = 1;
    mmoe_status st;
    census_data data;
    census_group group;
    census_encoding enc;
    census_set train, valid, test;
    mmoe_config *cfg = NULL;
    mmoe_optimizer *opt = NULL;
    run r;
    size_t *train_idx = NULL, *test_idx = NULL, *order = NULL;
    float *xb = NULL, *yb = NULL, *best = NULL;
    int64_t *ib = NULL;
    memset(&data, 0, sizeof data);
    memset(&enc, 0, sizeof enc);
    memset(&train, 0, sizeof train);
    memset(&valid, 0, sizeof valid);
    memset(&test, 0, sizeof test);
    memset(&r, 0, sizeof r);
    r.o = &o;
    r.enc = &enc;
    census_group_get(o.group, &group);

    if (o.threads > 0) {
        st = mmoe_set_num_threads(o.threads);
        if (st == MMOE_ERR_UNSUPPORTED)
            fprintf(stderr, "census: warning: %s has no thread control; --threads ignored\n",
                    mmoe_blas_name());
        else if (st != MMOE_OK)
            return report("mmoe_set_num_threads", st, mmoe_last_error(), NULL);
    }

    /* ---- data ---- */
    const double t_load = now_seconds();
    char err[512];
    const char *dir = o.data;
    int rd;
    if (dir) {
        rd = census_read(dir, &data, err, sizeof err);
    } else {
        dir = "../shared/data/census-income";
        rd = census_read(dir, &data, err, sizeof err);
        if (rd == 1 && CENSUS_SOURCE_DATA_DIR[0]) {
            dir = CENSUS_SOURCE_DATA_DIR;
            rd = census_read(dir, &data, err, sizeof err);
        }
    }
    if (rd == 1) {
        printf("census: SKIP: %s (pass --data DIR; see docs/census.md)\n", err);
        return EXIT_SKIP;
    }
    if (rd != 0) {
        fprintf(stderr, "census: reading the data: %s\n", err);
        return 1;
    }

    uint64_t split_rng = o.split_seed ^ 0x5DEECE66DULL;
    size_t n_train = 0, n_test = 0;
    train_idx = pick_rows(data.train.n, o.train_rows, &split_rng, &n_train);
    test_idx = pick_rows(data.test.n, o.test_rows, &split_rng, &n_test);
    if (!train_idx || !test_idx) {
        fprintf(stderr, "census: out of memory\n");
        goto done;
    }
    /* random 1:1 split of the (possibly subsampled) test rows */
    shuffle(test_idx, n_test, &split_rng);
    size_t n_valid = n_test / 2;
    if (n_valid == 0 || n_test - n_valid == 0 || n_train == 0) {
        fprintf(stderr,
                "census: %zu training and %zu test-file rows leave no %s rows; "
                "use --train-rows/--test-rows of 0 (all) or at least 2\n",
                n_train, n_test, n_train == 0 ? "training" : "validation or test");
        rc = 2;
        goto done;
    }
    qsort(test_idx, n_valid, sizeof *test_idx, cmp_size);
    qsort(test_idx + n_valid, n_test - n_valid, sizeof *test_idx, cmp_size);

    if (census_encoding_build(&enc, &data, &group, train_idx, n_train, o.log1p_money) != 0 ||
        census_set_build(&train, &enc, &data.train, &group, train_idx, n_train) != 0 ||
        census_set_build(&valid, &enc, &data.test, &group, test_idx, n_valid) != 0 ||
        census_set_build(&test, &enc, &data.test, &group, test_idx + n_valid, n_test - n_valid) !=
            0) {
        fprintf(stderr, "census: out of memory encoding the data\n");
        goto done;
    }
    size_t total_vocab = 0;
    for (size_t k = 0; k < enc.n_sparse; k++)
        total_vocab += enc.vocab[k];
    printf("census: data %s: %zu training rows (of %zu), %zu validation, %zu test "
           "(read in %.1f s)\n",
           dir, n_train, data.train.n, n_valid, n_test - n_valid, now_seconds() - t_load);
    printf("census: group %d tasks %s (positive %.2f%% train / %.2f%% test), %s (%.2f%% / "
           "%.2f%%); inputs: %zu nominal columns (%zu ids incl. unknowns), %d continuous%s\n",
           group.id, group.task_name[0], 100.0 * positive_rate(&train, 0),
           100.0 * positive_rate(&test, 0), group.task_name[1], 100.0 * positive_rate(&train, 1),
           100.0 * positive_rate(&test, 1), enc.n_sparse, total_vocab, CENSUS_NCONT,
           o.log1p_money ? " (log1p on the money columns)" : "");

    /* ---- model ---- */
    r.in_dim = o.onehot ? enc.onehot_width : CENSUS_NCONT;
    r.n_ids = o.onehot ? 0 : enc.n_sparse;
    if ((st = build_config(&o, &enc, &group, r.in_dim, &cfg)) != MMOE_OK)
        goto done;
    if ((st = mmoe_model_create(cfg, &r.model)) != MMOE_OK) {
        rc = report("mmoe_model_create", st, mmoe_last_error(), NULL);
        if (st == MMOE_ERR_UNSUPPORTED && !o.onehot)
            fprintf(stderr, "census: this libmmoe has no sparse input stage yet; "
                            "try --encoding onehot\n");
        goto done;
    }
    if ((st = mmoe_optimizer_create(r.model, MMOE_OPTIMIZER_ADAM, &opt)) != MMOE_OK) {
        rc = report("mmoe_optimizer_create", st, mmoe_model_last_error(r.model), mmoe_last_error());
        goto done;
    }
    if ((st = mmoe_optimizer_set(opt, MMOE_OPT_LEARNING_RATE, o.lr)) != MMOE_OK ||
        (o.weight_decay > 0.0 &&
         (st = mmoe_optimizer_set(opt, MMOE_OPT_WEIGHT_DECAY, o.weight_decay)) != MMOE_OK)) {
        rc = report("mmoe_optimizer_set", st, mmoe_optimizer_last_error(opt), NULL);
        goto done;
    }
    if ((st = mmoe_workspace_create(r.model, EVAL_CHUNK, &r.ws)) != MMOE_OK) {
        rc = report("mmoe_workspace_create", st, mmoe_model_last_error(r.model), mmoe_last_error());
        goto done;
    }
    float *params = NULL;
    size_t n_params = 0;
    if ((st = mmoe_model_flat(r.model, &params, NULL, &n_params)) != MMOE_OK) {
        rc = report("mmoe_model_flat", st, mmoe_model_last_error(r.model), NULL);
        goto done;
    }
    const size_t xrows = o.batch + 1 > EVAL_CHUNK ? o.batch + 1 : EVAL_CHUNK;
    const size_t max_set = valid.n > test.n ? valid.n : test.n;
    xb = malloc(xrows * r.in_dim * sizeof *xb);
    yb = malloc((o.batch + 1) * NTASKS * sizeof *yb);
    ib = malloc((o.batch + 1) * (r.n_ids ? r.n_ids : 1) * sizeof *ib);
    r.pred = malloc((max_set ? max_set : 1) * NTASKS * sizeof *r.pred);
    best = malloc((n_params ? n_params : 1) * sizeof *best);
    order = malloc((n_train ? n_train : 1) * sizeof *order);
    if (!xb || !yb || !ib || !r.pred || !best || !order) {
        fprintf(stderr, "census: out of memory\n");
        goto done;
    }
    r.xbuf = xb;

    printf("census: model %s, %s encoding", mmoe_arch_name(o.model),
           o.onehot ? "one-hot" : "embedding");
    if (o.onehot)
        printf(" (dense width %zu)", r.in_dim);
    else
        printf(" (dim %zu)", o.emb_dim);
    if (mmoe_model_num_gates(r.model) > 0)
        printf(", %zu experts", mmoe_model_num_experts(r.model)); /* per level */
    printf(", expert units ");
    print_widths(o.expert_units, o.n_expert_layers);
    printf(", tower units ");
    print_widths(o.tower_units, o.n_tower_layers);
    if (o.cross_layers)
        printf(", %zu cross layers", o.cross_layers);
    if (o.dnn)
        printf(", dnn %s", o.dnn);
    for (size_t i = 0; i < o.n_sets; i++)
        printf(", %s", o.sets[i]);
    printf(", %zu parameters; Adam lr %g, weight decay %g, batch %zu, seed %llu, BLAS %s\n",
           n_params, o.lr, o.weight_decay, o.batch, (unsigned long long)o.seed, mmoe_blas_name());
    fflush(stdout);

    /* ---- training with early stopping ---- */
    size_t n_local = 0, bsz = o.batch, steps = (n_train + o.batch - 1) / o.batch;
    for (size_t i = (size_t)rank; i < n_train; i += (size_t)ranks)
        order[n_local++] = i;
#ifdef MMOE_EXAMPLE_MPI
    bsz = (o.batch + (size_t)ranks - 1) / (size_t)ranks;
    steps = (n_train / (size_t)ranks + bsz - 1) / bsz; /* the same on every rank */
    if (n_train < (size_t)ranks || (st = mmoe_mpi_create(MPI_COMM_WORLD, r.model, &mpi)) ||
        (st = mmoe_mpi_broadcast(mpi, opt))) {
        rc = report("mmoe_mpi_create/broadcast", st, mmoe_mpi_last_error(mpi), NULL);
        goto done;
    }
#endif
    uint64_t batch_rng = o.seed * 0xD1B54A32D192ED03ULL + 0x8CB92BA72F3D8DD7ULL;
    double best_mean = -1.0, best_val[NTASKS] = {0.0, 0.0};
    size_t best_epoch = 0, since_best = 0;
    memcpy(best, params, n_params * sizeof *best); /* epoch 0: the initial parameters */
    const double t0 = now_seconds();
    for (size_t epoch = 1; epoch <= o.epochs; epoch++) {
        const double te = now_seconds();
        shuffle(order, n_local, &batch_rng);
        double sum[NTASKS] = {0.0, 0.0}, seen = 0.0;
        size_t batches = 0;
        for (size_t step = 0; step < steps; step++) {
            size_t start = step * bsz; /* the last step takes the rest of this rank's rows */
            size_t b = step + 1 == steps ? n_local - start : bsz;
            for (size_t i = 0; i < b; i++) {
                size_t s = order[start + i];
                const int64_t *ids = train.ids + s * enc.n_sparse;
                const float *dense = train.dense + s * CENSUS_NCONT;
                if (o.onehot) {
                    census_onehot_row(&enc, ids, dense, xb + i * r.in_dim);
                } else {
                    memcpy(xb + i * r.in_dim, dense, CENSUS_NCONT * sizeof *xb);
                    memcpy(ib + i * r.n_ids, ids, r.n_ids * sizeof *ib);
                }
                yb[i * NTASKS] = train.labels[s * NTASKS];
                yb[i * NTASKS + 1] = train.labels[s * NTASKS + 1];
            }
            float task_loss[NTASKS];
#ifdef MMOE_EXAMPLE_MPI
            st = mmoe_mpi_train_step(mpi, opt, b, xb, o.onehot ? NULL : ib, yb, NULL, task_loss,
                                     NULL);
            if (st != MMOE_OK) {
                rc = report("mmoe_mpi_train_step", st, mmoe_mpi_last_error(mpi), NULL);
                goto done;
            }
#else
            st = mmoe_model_train_step(r.model, opt, b, xb, o.onehot ? NULL : ib, yb, NULL,
                                       task_loss, NULL);
            if (st != MMOE_OK) {
                rc = report("mmoe_model_train_step", st, mmoe_model_last_error(r.model),
                            mmoe_optimizer_last_error(opt));
                goto done;
            }
#endif
            for (size_t k = 0; k < NTASKS; k++) /* the global batch's losses */
                sum[k] += (double)task_loss[k] * (double)(b * (size_t)ranks);
            seen += (double)(b * (size_t)ranks);
            batches++;
        }
        const double train_s = now_seconds() - te;
        double val[NTASKS];
        if (evaluate(&r, &valid, val) != 0)
            goto done;
        double mean = 0.5 * (val[0] + val[1]);
        int improved = mean > best_mean;
        if (improved) {
            best_mean = mean;
            best_val[0] = val[0];
            best_val[1] = val[1];
            best_epoch = epoch;
            since_best = 0;
            memcpy(best, params, n_params * sizeof *best);
        } else {
            since_best++;
        }
        printf("epoch %3zu  %7.1f batches/s  train loss %s %.5f %s %.5f  val AUC %s %.5f %s "
               "%.5f mean %.5f%s\n",
               epoch, train_s > 0.0 ? (double)batches / train_s : 0.0, group.task_name[0],
               sum[0] / seen, group.task_name[1], sum[1] / seen, group.task_name[0], val[0],
               group.task_name[1], val[1], mean, improved ? "  *" : "");
        fflush(stdout);
        if (since_best >= o.patience)
            break;
    }

    /* ---- test at the best validation epoch ---- */
    if (best_epoch == 0) {
        fprintf(stderr,
                "census: the validation AUC is undefined in every epoch (a task has a "
                "single class among the %zu validation rows): no epoch to select; use "
                "more --test-rows\n",
                valid.n);
        rc = 1;
        goto done;
    }
    memcpy(params, best, n_params * sizeof *best);
    double auc[NTASKS];
    if (evaluate(&r, &test, auc) != 0)
        goto done;
    if (!(auc[0] == auc[0]) || !(auc[1] == auc[1])) {
        fprintf(stderr,
                "census: the test AUC is undefined (a task has a single class among the "
                "%zu test rows); use more --test-rows\n",
                test.n);
        rc = 1;
        goto done;
    }
    const double elapsed = now_seconds() - t0;
    printf("test AUC: %s %.5f  %s %.5f  (best epoch %zu, val AUC %.5f %.5f mean %.5f, "
           "%.1f s)\n",
           group.task_name[0], auc[0], group.task_name[1], auc[1], best_epoch, best_val[0],
           best_val[1], best_mean, elapsed);
    fflush(stdout);
    rc = 0;
    if (o.quick && group.id == 1) {
        for (size_t k = 0; k < NTASKS; k++)
            if (!(auc[k] >= QUICK_MIN_AUC)) {
                fprintf(stderr, "census: quick check FAILED: test AUC of %s is %.5f < %.2f\n",
                        group.task_name[k], auc[k], QUICK_MIN_AUC);
                rc = EXIT_BOUND;
            }
        if (rc == 0)
            printf("census: quick check passed (both test AUCs >= %.2f)\n", QUICK_MIN_AUC);
    }

done:
#ifdef MMOE_EXAMPLE_MPI
    mmoe_mpi_free(mpi);
#endif
    mmoe_workspace_free(r.ws);
    mmoe_optimizer_free(opt);
    mmoe_model_free(r.model);
    mmoe_config_free(cfg);
    census_set_free(&train);
    census_set_free(&valid);
    census_set_free(&test);
    census_encoding_free(&enc);
    census_data_free(&data);
    free(train_idx);
    free(test_idx);
    free(order);
    free(xb);
    free(yb);
    free(ib);
    free(best);
    free(r.pred);
#ifdef MMOE_EXAMPLE_MPI
    if (rc && rc != EXIT_BOUND && rc != EXIT_SKIP)
        MPI_Abort(MPI_COMM_WORLD, rc); /* a failure on one rank must not leave the others waiting */
    MPI_Finalize();
#endif
    return rc;
}
