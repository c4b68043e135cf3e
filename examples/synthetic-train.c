/*
 * synthetic-train: train a multi-task model on the synthetic two-task
 * regression data of the MMoE paper at a chosen task correlation, and
 * report the test error per task.
 *
 *     synthetic-train --corr 0.5
 *     synthetic-train --corr 0.9 --arch shared_bottom --epochs 30
 *
 * Data come from libmmoe-synth (see mmoe/synth.h): x ~ N(0, I_d), labels
 * y_i = w_i.x + sum_j sin(alpha_j w_i.x + beta_j) + noise, with
 * cos(w_1, w_2) = corr. Training and test sets are consecutive, disjoint
 * draws of one generator. Neither inputs nor labels are rescaled: the
 * reported losses are mean squared errors in the labels' own units, and
 * the final line also gives each task's test label variance and the
 * ratio MSE / variance (1.0 = no better than predicting the mean).
 *
 * Exit status: 0 on success, 1 on a libmmoe error (the message names the
 * failing call), 2 on a bad command line.
 *
 * Built a second time as synthetic-train-mpi (MMOE_EXAMPLE_MPI, when
 * libmmoe-mpi is built): under mpirun every rank trains on its own stride
 * of the training rows (row i on rank i mod ranks) with --batch / ranks
 * rows per step (the global batch stays --batch), through
 * mmoe_mpi_train_step; rank 0 prints and evaluates (docs/distributed.md).
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mmoe/mmoe.h>
#include <mmoe/synth.h>
#ifdef MMOE_EXAMPLE_MPI
#    include <mmoe/mpi.h>
#endif

#define NTASKS 2

typedef struct options {
    double corr;
    mmoe_arch arch;
    const char *arch_name;
    size_t experts;
    size_t expert_units;
    size_t tower_units;
    size_t epochs;
    size_t batch;
    double lr;
    size_t n_train;
    size_t n_test;
    uint64_t seed;
    size_t dim;
    int threads; /* 0: leave the BLAS default */
} options;

/* The library's architecture names, four to a line, then " [mmoe]". */
static void print_arch_names(FILE *f, const char *indent)
{
    const size_t n = mmoe_arch_count();
    for (size_t a = 0; a < n; a++) {
        fprintf(f, "%s", mmoe_arch_name((mmoe_arch)a));
        if (a + 1 == n)
            fprintf(f, " [mmoe]\n");
        else if (a % 4 == 3)
            fprintf(f, " |\n%s", indent);
        else
            fprintf(f, " | ");
    }
}

static void usage(FILE *f)
{
    fprintf(f, "usage: synthetic-train [options]\n"
               "\n"
               "Train a multi-task model with Adam on synthetic two-task regression data\n"
               "whose task weight vectors have cosine --corr, then print the test MSE.\n"
               "Labels are used as generated (no scaling or standardisation).\n"
               "\n"
               "Data:\n"
               "  --corr P          correlation (cosine) of the two tasks, -1..1 [0.5]\n"
               "  --dim D           input width d [100]\n"
               "  --train N         training samples [10000]\n"
               "  --test N          test samples, drawn after the training ones [2000]\n"
               "  --seed S          seed of the data and of the model initialisation [1]\n"
               "Model:\n"
               "  --arch A          " /* then the names, from the library */
    );
    print_arch_names(f, "                    ");
    fprintf(f, "  --experts N       experts for mmoe/omoe [8]\n"
               "  --expert-units U  width of each expert's (single) hidden layer; also the\n"
               "                    width of the shared bottom / single-task networks [16]\n"
               "  --tower-units U   width of each task tower's hidden layer [8]\n"
               "Training:\n"
               "  --epochs E        passes over the training set [30]\n"
               "  --batch B         mini-batch size [128]\n"
               "  --lr R            Adam learning rate [0.005]\n"
               "  --threads T       BLAS threads (mmoe_set_num_threads); default: the BLAS's\n"
               "                    own setting. A BLAS without thread control only warns.\n"
               "  --help            show this text\n"
               "\n"
               "Output: one line per epoch (mean training MSE of each task over the epoch,\n"
               "elapsed seconds), then a final 'test:' line with each task's test MSE, test\n"
               "label variance and MSE/variance.\n"
               "Exit status: 0 success, 1 library error, 2 bad command line.\n");
}

/* ------------------------------------------------------------------------ */
/* argument parsing                                                          */
/* ------------------------------------------------------------------------ */

static int parse_size(const char *flag, const char *s, size_t lo, size_t hi, size_t *out)
{
    char *end = NULL;
    errno = 0;
    if (!s || !*s || *s == '-') {
        fprintf(stderr, "synthetic-train: %s needs a non-negative integer\n", flag);
        return -1;
    }
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v < lo || v > hi) {
        fprintf(stderr, "synthetic-train: %s: '%s' is not an integer in %zu..%zu\n", flag, s, lo,
                hi);
        return -1;
    }
    *out = (size_t)v;
    return 0;
}

static int parse_real(const char *flag, const char *s, double lo, double hi, double *out)
{
    char *end = NULL;
    errno = 0;
    if (!s || !*s) {
        fprintf(stderr, "synthetic-train: %s needs a number\n", flag);
        return -1;
    }
    double v = strtod(s, &end);
    if (errno || *end || !isfinite(v) || v < lo || v > hi) {
        fprintf(stderr, "synthetic-train: %s: '%s' is not a number in [%g, %g]\n", flag, s, lo, hi);
        return -1;
    }
    *out = v;
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
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strncmp(a, "--", 2) != 0) {
            fprintf(stderr, "synthetic-train: unexpected argument '%s'\n", a);
            return -1;
        }
        if (!v) {
            fprintf(stderr, "synthetic-train: %s needs a value\n", a);
            return -1;
        }
        size_t sz = 0;
        int rc = 0;
        if (strcmp(a, "--corr") == 0) {
            rc = parse_real(a, v, -1.0, 1.0, &o->corr);
        } else if (strcmp(a, "--arch") == 0) {
            if (mmoe_arch_from_name(v, &o->arch) != MMOE_OK) {
                fprintf(stderr, "synthetic-train: --arch: %s\n", mmoe_last_error());
                return -1;
            }
            o->arch_name = v;
        } else if (strcmp(a, "--experts") == 0) {
            rc = parse_size(a, v, 1, 1024, &o->experts);
        } else if (strcmp(a, "--expert-units") == 0) {
            rc = parse_size(a, v, 1, 1u << 16, &o->expert_units);
        } else if (strcmp(a, "--tower-units") == 0) {
            rc = parse_size(a, v, 1, 1u << 16, &o->tower_units);
        } else if (strcmp(a, "--epochs") == 0) {
            rc = parse_size(a, v, 1, 1000000, &o->epochs);
        } else if (strcmp(a, "--batch") == 0) {
            rc = parse_size(a, v, 1, 1u << 20, &o->batch);
        } else if (strcmp(a, "--lr") == 0) {
            rc = parse_real(a, v, 1e-12, 10.0, &o->lr);
        } else if (strcmp(a, "--train") == 0) {
            rc = parse_size(a, v, 1, (size_t)1 << 28, &o->n_train);
        } else if (strcmp(a, "--test") == 0) {
            rc = parse_size(a, v, 1, (size_t)1 << 28, &o->n_test);
        } else if (strcmp(a, "--seed") == 0) {
            char *end = NULL;
            errno = 0;
            unsigned long long s = strtoull(v, &end, 10);
            if (errno || *end || !*v || *v == '-') {
                fprintf(stderr, "synthetic-train: --seed: '%s' is not an unsigned integer\n", v);
                return -1;
            }
            o->seed = (uint64_t)s;
        } else if (strcmp(a, "--dim") == 0) {
            rc = parse_size(a, v, NTASKS, MMOE_SYNTH_MAX_DIM, &o->dim);
        } else if (strcmp(a, "--threads") == 0) {
            rc = parse_size(a, v, 1, 1024, &sz);
            o->threads = (int)sz;
        } else {
            fprintf(stderr, "synthetic-train: unknown option '%s' (see --help)\n", a);
            return -1;
        }
        if (rc)
            return -1;
        i++;
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
    fprintf(stderr, "synthetic-train: %s failed: %s (%s)", what, mmoe_status_string(st),
            mmoe_status_name(st));
    if (msg1 && *msg1)
        fprintf(stderr, ": %s", msg1);
    if (msg2 && *msg2)
        fprintf(stderr, "; %s", msg2);
    fputc('\n', stderr);
    return 1;
}

/* Small xorshift generator for shuffling (independent of the data streams). */
static uint64_t shuffle_next(uint64_t *s)
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
        size_t j = (size_t)(shuffle_next(s) % i);
        size_t t = idx[i - 1];
        idx[i - 1] = idx[j];
        idx[j] = t;
    }
}

/* ------------------------------------------------------------------------ */
/* main                                                                      */
/* ------------------------------------------------------------------------ */

int main(int argc, char **argv)
{
    options o = {
        .corr = 0.5,
        .arch = MMOE_ARCH_MMOE,
        .arch_name = "mmoe",
        .experts = 8,
        .expert_units = 16,
        .tower_units = 8,
        .epochs = 30,
        .batch = 128,
        .lr = 0.005,
        .n_train = 10000,
        .n_test = 2000,
        .seed = 1,
        .dim = 100,
        .threads = 0,
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
    mmoe_synth_config *scfg = NULL;
    mmoe_synth *gen = NULL;
    mmoe_config *cfg = NULL;
    mmoe_model *model = NULL;
    mmoe_optimizer *opt = NULL;
    mmoe_workspace *ws = NULL;
    float *x_train = NULL, *y_train = NULL, *x_test = NULL, *y_test = NULL;
    float *xb = NULL, *yb = NULL, *pred = NULL;
    size_t *idx = NULL;

    if (o.threads > 0) {
        st = mmoe_set_num_threads(o.threads);
        if (st == MMOE_ERR_UNSUPPORTED)
            fprintf(stderr,
                    "synthetic-train: warning: %s has no thread control; --threads "
                    "ignored\n",
                    mmoe_blas_name());
        else if (st != MMOE_OK)
            return report("mmoe_set_num_threads", st, mmoe_last_error(), NULL);
    }

    /* ---- data ---- */
    if ((st = mmoe_synth_config_create(&scfg)) != MMOE_OK) {
        rc = report("mmoe_synth_config_create", st, mmoe_synth_thread_last_error(), NULL);
        goto done;
    }
    if ((st = mmoe_synth_config_set_dim(scfg, o.dim)) != MMOE_OK ||
        (st = mmoe_synth_config_set_tasks(scfg, NTASKS)) != MMOE_OK ||
        (st = mmoe_synth_config_set_correlation(scfg, o.corr)) != MMOE_OK ||
        (st = mmoe_synth_config_set_seed(scfg, o.seed)) != MMOE_OK) {
        rc = report("configuring the data generator", st, mmoe_synth_config_last_error(scfg), NULL);
        goto done;
    }
    if ((st = mmoe_synth_create(scfg, &gen)) != MMOE_OK) {
        rc = report("mmoe_synth_create", st, mmoe_synth_thread_last_error(), NULL);
        goto done;
    }
    /* Sizes are bounded by the parser (n <= 2^28, d <= 2^24, batch <= 2^20),
     * but the products may still exceed size_t on 32-bit hosts. */
    if (o.n_train > SIZE_MAX / sizeof(float) / o.dim ||
        o.n_test > SIZE_MAX / sizeof(float) / o.dim || o.batch > SIZE_MAX / sizeof(float) / o.dim) {
        fprintf(stderr, "synthetic-train: data set too large for this host\n");
        goto done;
    }
    x_train = malloc(o.n_train * o.dim * sizeof(float));
    y_train = malloc(o.n_train * NTASKS * sizeof(float));
    x_test = malloc(o.n_test * o.dim * sizeof(float));
    y_test = malloc(o.n_test * NTASKS * sizeof(float));
    pred = malloc(o.n_test * NTASKS * sizeof(float));
    xb = malloc((o.batch + 1) * o.dim * sizeof(float));
    yb = malloc((o.batch + 1) * NTASKS * sizeof(float));
    idx = malloc(o.n_train * sizeof(size_t));
    if (!x_train || !y_train || !x_test || !y_test || !pred || !xb || !yb || !idx) {
        rc = report("allocating the data", MMOE_ERR_NOMEM, NULL, NULL);
        goto done;
    }
    if ((st = mmoe_synth_generate(gen, o.n_train, x_train, y_train)) != MMOE_OK ||
        (st = mmoe_synth_generate(gen, o.n_test, x_test, y_test)) != MMOE_OK) {
        rc = report("mmoe_synth_generate", st, mmoe_synth_last_error(gen), NULL);
        goto done;
    }

    /* ---- model ---- */
    const size_t expert_w[1] = {o.expert_units};
    const size_t tower_w[1] = {o.tower_units};
    char seed_text[32];
    snprintf(seed_text, sizeof seed_text, "%llu", (unsigned long long)o.seed);
    if ((st = mmoe_config_create(&cfg)) != MMOE_OK) {
        rc = report("mmoe_config_create", st, mmoe_last_error(), NULL);
        goto done;
    }
    if ((st = mmoe_config_set_arch(cfg, o.arch)) != MMOE_OK ||
        (st = mmoe_config_set_int(cfg, "input.dense", (int64_t)o.dim)) != MMOE_OK ||
        (st = mmoe_config_set_experts(cfg, o.experts, 1, expert_w, MMOE_ACT_RELU)) != MMOE_OK ||
        (st = mmoe_config_set(cfg, "seed", seed_text)) != MMOE_OK ||
        (st = mmoe_config_add_task(cfg, "y1", MMOE_TASK_REGRESSION, 1, tower_w, MMOE_ACT_RELU,
                                   1.0f)) != MMOE_OK ||
        (st = mmoe_config_add_task(cfg, "y2", MMOE_TASK_REGRESSION, 1, tower_w, MMOE_ACT_RELU,
                                   1.0f)) != MMOE_OK) {
        rc = report("configuring the model", st, mmoe_config_last_error(cfg), NULL);
        goto done;
    }
    if ((st = mmoe_model_create(cfg, &model)) != MMOE_OK) {
        rc = report("mmoe_model_create", st, mmoe_last_error(), NULL);
        goto done;
    }
    if ((st = mmoe_optimizer_create(model, MMOE_OPTIMIZER_ADAM, &opt)) != MMOE_OK) {
        rc = report("mmoe_optimizer_create", st, mmoe_model_last_error(model), mmoe_last_error());
        goto done;
    }
    if ((st = mmoe_optimizer_set(opt, MMOE_OPT_LEARNING_RATE, o.lr)) != MMOE_OK) {
        rc = report("mmoe_optimizer_set", st, mmoe_optimizer_last_error(opt), NULL);
        goto done;
    }

    printf("synthetic-train: arch %s, corr %g, d %zu, %zu train / %zu test samples, "
           "%zu experts x %zu units, towers %zu units, %zu parameters, Adam lr %g, batch %zu, "
           "BLAS %s\n",
           o.arch_name, o.corr, o.dim, o.n_train, o.n_test, mmoe_model_num_experts(model),
           o.expert_units, o.tower_units, mmoe_model_num_scalars(model), o.lr, o.batch,
           mmoe_blas_name());
    fflush(stdout);

    /* ---- training ---- */
    size_t n_local = 0, bsz = o.batch, steps;
    for (size_t i = (size_t)rank; i < o.n_train; i += (size_t)ranks)
        idx[n_local++] = i;
#ifdef MMOE_EXAMPLE_MPI
    bsz = (o.batch + (size_t)ranks - 1) / (size_t)ranks;
    steps = (o.n_train / (size_t)ranks + bsz - 1) / bsz; /* the same on every rank */
    if (o.n_train < (size_t)ranks) {
        fprintf(stderr, "synthetic-train: fewer training rows than ranks\n");
        goto done;
    }
    if ((st = mmoe_mpi_create(MPI_COMM_WORLD, model, &mpi)) != MMOE_OK ||
        (st = mmoe_mpi_broadcast(mpi, opt)) != MMOE_OK) {
        rc = report("mmoe_mpi_create/broadcast", st, mmoe_mpi_last_error(mpi), NULL);
        goto done;
    }
#else
    steps = (o.n_train + bsz - 1) / bsz;
#endif
    uint64_t shuffle_state = o.seed * 0x9E3779B97F4A7C15ULL + 0x2545F4914F6CDD1DULL;
    if (shuffle_state == 0)
        shuffle_state = 1;
    const double t0 = now_seconds();
    for (size_t epoch = 1; epoch <= o.epochs; epoch++) {
        shuffle(idx, n_local, &shuffle_state);
        double sum[NTASKS] = {0.0, 0.0}, seen = 0.0;
        for (size_t step = 0; step < steps; step++) {
            size_t start = step * bsz; /* the last step takes the rest of this rank's rows */
            size_t b = step + 1 == steps ? n_local - start : bsz;
            for (size_t r = 0; r < b; r++) {
                size_t s = idx[start + r];
                memcpy(xb + r * o.dim, x_train + s * o.dim, o.dim * sizeof(float));
                memcpy(yb + r * NTASKS, y_train + s * NTASKS, NTASKS * sizeof(float));
            }
            float task_loss[NTASKS];
#ifdef MMOE_EXAMPLE_MPI
            st = mmoe_mpi_train_step(mpi, opt, b, xb, NULL, yb, NULL, task_loss, NULL);
            if (st != MMOE_OK) {
                rc = report("mmoe_mpi_train_step", st, mmoe_mpi_last_error(mpi), NULL);
                goto done;
            }
#else
            st = mmoe_model_train_step(model, opt, b, xb, NULL, yb, NULL, task_loss, NULL);
            if (st != MMOE_OK) {
                rc = report("mmoe_model_train_step", st, mmoe_model_last_error(model),
                            mmoe_optimizer_last_error(opt));
                goto done;
            }
#endif
            for (size_t k = 0; k < NTASKS; k++) /* losses are the global batch's */
                sum[k] += (double)task_loss[k] * (double)(b * (size_t)ranks);
            seen += (double)(b * (size_t)ranks);
        }
        printf("epoch %3zu/%zu  train mse y1 %.5f  y2 %.5f  elapsed %.2f s\n", epoch, o.epochs,
               sum[0] / seen, sum[1] / seen, now_seconds() - t0);
        fflush(stdout);
    }

    /* ---- evaluation (every rank holds the same model; rank 0 reports) ---- */
    if (rank != 0) {
        rc = 0;
        goto done;
    }
    if ((st = mmoe_workspace_create(model, 256, &ws)) != MMOE_OK) {
        rc = report("mmoe_workspace_create", st, mmoe_model_last_error(model), mmoe_last_error());
        goto done;
    }
    if ((st = mmoe_model_predict(model, ws, o.n_test, x_test, NULL, pred)) != MMOE_OK) {
        rc = report("mmoe_model_predict", st, mmoe_workspace_last_error(ws), NULL);
        goto done;
    }
    printf("test:");
    for (size_t k = 0; k < NTASKS; k++) {
        double mean = 0.0;
        for (size_t i = 0; i < o.n_test; i++)
            mean += y_test[i * NTASKS + k];
        mean /= (double)o.n_test;
        double var = 0.0, mse = 0.0;
        for (size_t i = 0; i < o.n_test; i++) {
            double dy = y_test[i * NTASKS + k] - mean;
            double e = (double)pred[i * NTASKS + k] - y_test[i * NTASKS + k];
            var += dy * dy;
            mse += e * e;
        }
        var /= (double)o.n_test;
        mse /= (double)o.n_test;
        printf("%s y%zu mse %.5f var %.5f mse/var %.4f", k ? "  |" : "", k + 1, mse, var,
               var > 0.0 ? mse / var : NAN);
    }
    printf("  (%.2f s)\n", now_seconds() - t0);
    rc = 0;

done:
#ifdef MMOE_EXAMPLE_MPI
    mmoe_mpi_free(mpi);
#endif
    mmoe_workspace_free(ws);
    mmoe_optimizer_free(opt);
    mmoe_model_free(model);
    mmoe_config_free(cfg);
    mmoe_synth_free(gen);
    mmoe_synth_config_free(scfg);
    free(x_train);
    free(y_train);
    free(x_test);
    free(y_test);
    free(pred);
    free(xb);
    free(yb);
    free(idx);
#ifdef MMOE_EXAMPLE_MPI
    if (rc)
        MPI_Abort(MPI_COMM_WORLD, rc); /* a failure on one rank must not leave the others waiting */
    MPI_Finalize();
#endif
    return rc;
}
