/*
 * mmoe-bench: training and inference speed of two fixed model shapes.
 *
 * Uses only the public API. Prints one JSON object per line and per
 * measurement on stdout; progress and errors go to stderr.
 *
 *   config A  input 100, 8 experts 100->16 relu, 2 regression tasks,
 *             gates 100->8 softmax (arch mmoe), towers 16->8 relu->1
 *   config B  input 512, 16 experts 512->256->128 relu, 4 binary tasks,
 *             gates 512->16 softmax (arch mmoe), towers 128->64 relu->1
 *   A-top2, B-top2  the same with gate.kind topk, gate.top_k 2
 *   A-ple, B-ple    arch ple (2 levels; the experts above are the shared
 *                   ones, plus one expert of its own per task and level)
 *
 * Metrics (per config):
 *   train_throughput       samples/s of mmoe_model_train_step (forward,
 *                          loss, backward, Adam step) at batch 1, 32, 256, 1024
 *   predict_latency_p50    median wall time of one mmoe_model_predict call
 *   predict_latency_p99    99th percentile of the same calls (batch 1), in us
 *   predict_throughput     rows/s of mmoe_model_predict at batch 256
 *   predict_b1_vs_b256_row ratio: batch-1 median latency divided by the
 *                          per-row time at batch 256, both from this run
 *   train_b256_vs_b1       ratio: train samples/s at batch 256 divided by
 *                          samples/s at batch 1, both from this run
 *   sgemm_ceiling          GFLOP/s of one cblas_sgemm of the model's largest
 *                          product (all experts' first layers) at batch 256,
 *                          in the layout the library uses: the BLAS's own
 *                          rate on this machine, measured in this run
 *   predict_efficiency     ratio: exact FLOPs of predict at batch 256 (two
 *                          per multiply-add of every dense layer, gate and
 *                          mixing product) times the measured rows/s,
 *                          divided by sgemm_ceiling
 *   gemm_bound_efficiency  ratio: predict's matrix products alone (every
 *                          cblas_sgemm a batch-256 predict makes, same
 *                          shapes and layouts, nothing else), as a rate
 *                          against sgemm_ceiling: the most predict_efficiency
 *                          can reach with this BLAS, which packs operands on
 *                          every call and rates the smaller products below
 *                          the largest
 *   phase_ms_*             with --phases: milliseconds per training step at
 *                          batch 256 spent in forward, loss, zero_grad,
 *                          backward and the optimizer step, each timed
 *                          through its own public call
 *
 * Absolute numbers depend on the machine, the BLAS and its thread count;
 * the ratios compare measurements taken in one invocation, on one machine,
 * seconds apart, and are the numbers worth quoting.
 *
 * Inputs and labels come from a fixed-seed generator, so every run times
 * the same arithmetic.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cblas.h>
#include <mmoe/mmoe.h>

#define BENCH_SEED 20260101u
#define BENCH_MAX_BATCH 1024
#define BENCH_MAX_LATENCY_SAMPLES 2000000

typedef struct bench_config {
    const char *name;
    size_t input;
    size_t n_experts;
    size_t n_expert_layers;
    size_t expert_widths[2];
    size_t n_tasks;
    mmoe_task_kind kind;
    size_t tower_hidden;
    const char *top_k; /* gate.top_k of a top-k gate; NULL: softmax gates */
    const char *arch;  /* NULL: mmoe */
} bench_config;

static const bench_config bench_configs[] = {
    {"A", 100, 8, 1, {16, 0}, 2, MMOE_TASK_REGRESSION, 8, NULL, NULL},
    {"B", 512, 16, 2, {256, 128}, 4, MMOE_TASK_BINARY, 64, NULL, NULL},
    /* the same shapes with top-2 gates (batch-1 predict computes only the selected experts) */
    {"A-top2", 100, 8, 1, {16, 0}, 2, MMOE_TASK_REGRESSION, 8, "2", NULL},
    {"B-top2", 512, 16, 2, {256, 128}, 4, MMOE_TASK_BINARY, 64, "2", NULL},
    /* PLE, two levels: n_experts shared + one own expert per task at each level */
    {"A-ple", 100, 8, 1, {16, 0}, 2, MMOE_TASK_REGRESSION, 8, NULL, "ple"},
    {"B-ple", 512, 16, 2, {256, 128}, 4, MMOE_TASK_BINARY, 64, NULL, "ple"},
};

typedef struct bench_opts {
    int threads;     /* 0: leave the BLAS default */
    int threads_ok;  /* mmoe_set_num_threads accepted the value */
    long iters;      /* > 0: fixed number of timed calls per measurement */
    double min_time; /* otherwise: time each measurement for this long (s) */
    int quick;
    int phases;        /* time the phases of a training step */
    const char *which; /* "A", "B" or "all" */
    const char *only;  /* NULL, "train" or "predict": time only that half */
} bench_opts;

/* ---- small helpers ----------------------------------------------------- */

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* splitmix64: a tiny, fixed generator for reproducible inputs. */
static uint64_t rng_next(uint64_t *state)
{
    uint64_t z = (*state += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

/* Uniform float in [-1, 1). */
static float rng_uniform(uint64_t *state)
{
    return (float)((double)(rng_next(state) >> 40) / (double)(UINT64_C(1) << 24) * 2.0 - 1.0);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Value at quantile q (0..1) of n sorted samples (nearest rank). */
static double quantile(const double *sorted, size_t n, double q)
{
    size_t rank = (size_t)ceil(q * (double)n);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return sorted[rank - 1];
}

static void json_string(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

/* One measurement as one JSON line. */
static void emit(const bench_opts *o, const char *config, const char *metric, size_t batch,
                 double value, const char *unit, long iters, double seconds, size_t params)
{
    printf("{\"config\":");
    json_string(config);
    printf(",\"metric\":");
    json_string(metric);
    printf(",\"batch\":%zu,\"value\":%.6g,\"unit\":", batch, value);
    json_string(unit);
    printf(",\"threads\":%d,\"threads_set\":%s,\"blas\":", o->threads,
           o->threads_ok ? "true" : "false");
    json_string(mmoe_blas_name());
    printf(",\"blas_core\":");
    json_string(mmoe_blas_core());
    printf(",\"version\":");
    json_string(mmoe_version_string());
    printf(",\"iters\":%ld,\"seconds\":%.6g,\"params\":%zu,\"quick\":%s}\n", iters, seconds, params,
           o->quick ? "true" : "false");
    fflush(stdout);
}

static int fail(const char *what, mmoe_status st, const char *detail)
{
    fprintf(stderr, "mmoe-bench: %s failed: %s (%s)%s%s\n", what, mmoe_status_name(st),
            mmoe_status_string(st), detail && *detail ? ": " : "", detail ? detail : "");
    return 1;
}

/* ---- model construction ------------------------------------------------ */

static mmoe_status build_model(const bench_config *bc, mmoe_model **out)
{
    mmoe_config *cfg = NULL;
    mmoe_status st = mmoe_config_create(&cfg);
    size_t k;

    if (st != MMOE_OK)
        return st;
    st = mmoe_config_set(cfg, "arch", bc->arch ? bc->arch : "mmoe");
    if (st == MMOE_OK)
        st = mmoe_config_set_int(cfg, "input.dense", (int64_t)bc->input);
    if (st == MMOE_OK)
        st = mmoe_config_set_int(cfg, "seed", 42);
    if (st == MMOE_OK)
        st = mmoe_config_set_experts(cfg, bc->n_experts, bc->n_expert_layers, bc->expert_widths,
                                     MMOE_ACT_RELU);
    if (st == MMOE_OK && bc->top_k)
        st = mmoe_config_set(cfg, "gate.kind", "topk");
    if (st == MMOE_OK && bc->top_k)
        st = mmoe_config_set(cfg, "gate.top_k", bc->top_k);
    for (k = 0; k < bc->n_tasks && st == MMOE_OK; k++) {
        char name[32];
        snprintf(name, sizeof name, "task%zu", k);
        st = mmoe_config_add_task(cfg, name, bc->kind, 1, &bc->tower_hidden, MMOE_ACT_RELU, 1.0f);
    }
    if (st != MMOE_OK)
        fprintf(stderr, "mmoe-bench: config %s: %s\n", bc->name, mmoe_config_last_error(cfg));
    if (st == MMOE_OK)
        st = mmoe_model_create(cfg, out);
    mmoe_config_free(cfg);
    return st;
}

/* ---- measurements ------------------------------------------------------ */

/* How many timed calls to make: fixed, or until min_time has passed. */
static int keep_going(const bench_opts *o, long done, double elapsed, long min_calls)
{
    if (o->iters > 0)
        return done < o->iters;
    if (o->quick)
        return done < min_calls;
    return done < min_calls || elapsed < o->min_time;
}

static int bench_train(const bench_opts *o, const bench_config *bc, mmoe_model *model,
                       const float *x, const float *labels, size_t params, double *rate_out,
                       size_t batch)
{
    mmoe_optimizer *opt = NULL;
    mmoe_status st = mmoe_optimizer_create(model, MMOE_OPTIMIZER_ADAM, &opt);
    float total = 0.0f;
    long done = 0;
    double t0, elapsed = 0.0;

    if (st != MMOE_OK)
        return fail("mmoe_optimizer_create", st, mmoe_last_error());
    /* Warm-up: sizes the model's training buffers for this batch. */
    st = mmoe_model_train_step(model, opt, batch, x, NULL, labels, NULL, NULL, &total);
    if (st != MMOE_OK) {
        int rc = fail("mmoe_model_train_step", st, mmoe_model_last_error(model));
        mmoe_optimizer_free(opt);
        return rc;
    }
    t0 = now_seconds();
    while (keep_going(o, done, elapsed, 1)) {
        st = mmoe_model_train_step(model, opt, batch, x, NULL, labels, NULL, NULL, &total);
        if (st != MMOE_OK) {
            const char *msg = mmoe_model_last_error(model);
            int rc;
            if (st == MMOE_ERR_NONFINITE && !*msg)
                msg = mmoe_optimizer_last_error(opt);
            rc = fail("mmoe_model_train_step", st, msg);
            mmoe_optimizer_free(opt);
            return rc;
        }
        done++;
        elapsed = now_seconds() - t0;
    }
    mmoe_optimizer_free(opt);
    if (!isfinite(total)) {
        fprintf(stderr, "mmoe-bench: config %s: training loss is not finite\n", bc->name);
        return 1;
    }
    *rate_out = (double)batch * (double)done / elapsed;
    emit(o, bc->name, "train_throughput", batch, *rate_out, "samples/s", done, elapsed, params);
    return 0;
}

static int bench_latency(const bench_opts *o, const bench_config *bc, const mmoe_model *model,
                         mmoe_workspace *ws, const float *x, float *out, size_t params,
                         double *median_out)
{
    size_t cap = 4096, n = 0;
    double *lat = malloc(cap * sizeof *lat);
    double t0, elapsed = 0.0;
    mmoe_status st;
    long min_calls = o->quick ? 5 : 200;
    size_t row = 0;

    if (!lat) {
        fprintf(stderr, "mmoe-bench: out of memory\n");
        return 1;
    }
    st = mmoe_model_predict(model, ws, 1, x, NULL, out);
    if (st != MMOE_OK) {
        free(lat);
        return fail("mmoe_model_predict", st, mmoe_workspace_last_error(ws));
    }
    t0 = now_seconds();
    while (keep_going(o, (long)n, elapsed, min_calls) && n < BENCH_MAX_LATENCY_SAMPLES) {
        double a, b;
        if (n == cap) {
            double *grown = realloc(lat, 2 * cap * sizeof *lat);
            if (!grown) {
                free(lat);
                fprintf(stderr, "mmoe-bench: out of memory\n");
                return 1;
            }
            lat = grown;
            cap *= 2;
        }
        /* Cycle through the input rows so that every call reads new data. */
        a = now_seconds();
        st = mmoe_model_predict(model, ws, 1, x + row * bc->input, NULL, out);
        b = now_seconds();
        if (st != MMOE_OK) {
            free(lat);
            return fail("mmoe_model_predict", st, mmoe_workspace_last_error(ws));
        }
        row = (row + 1) % BENCH_MAX_BATCH;
        lat[n++] = (b - a) * 1e6;
        elapsed = b - t0;
    }
    qsort(lat, n, sizeof *lat, cmp_double);
    *median_out = quantile(lat, n, 0.5);
    emit(o, bc->name, "predict_latency_p50", 1, *median_out, "us", (long)n, elapsed, params);
    emit(o, bc->name, "predict_latency_p99", 1, quantile(lat, n, 0.99), "us", (long)n, elapsed,
         params);
    free(lat);
    return 0;
}

static int bench_predict_throughput(const bench_opts *o, const bench_config *bc,
                                    const mmoe_model *model, mmoe_workspace *ws, const float *x,
                                    float *out, size_t params, size_t batch, double *rate_out)
{
    long done = 0;
    double t0, elapsed = 0.0;
    mmoe_status st = mmoe_model_predict(model, ws, batch, x, NULL, out);

    if (st != MMOE_OK)
        return fail("mmoe_model_predict", st, mmoe_workspace_last_error(ws));
    t0 = now_seconds();
    while (keep_going(o, done, elapsed, 1)) {
        st = mmoe_model_predict(model, ws, batch, x, NULL, out);
        if (st != MMOE_OK)
            return fail("mmoe_model_predict", st, mmoe_workspace_last_error(ws));
        done++;
        elapsed = now_seconds() - t0;
    }
    *rate_out = (double)batch * (double)done / elapsed;
    emit(o, bc->name, "predict_throughput", batch, *rate_out, "rows/s", done, elapsed, params);
    return 0;
}

/* Exact FLOPs (2 per multiply-add) of one row's forward pass: experts, gates, mixing, towers. */
static double forward_flops(const bench_config *bc)
{
    double f = 0.0, in = (double)bc->input, E = (double)bc->n_experts, T = (double)bc->n_tasks;
    for (size_t l = 0; l < bc->n_expert_layers; l++) {
        f += 2.0 * E * in * (double)bc->expert_widths[l];
        in = (double)bc->expert_widths[l];
    }
    double h = in;
    f += 2.0 * (double)bc->input * T * E; /* one gate per task */
    f += 2.0 * T * E * h;                 /* mixing */
    f += T * 2.0 * (h * (double)bc->tower_hidden + (double)bc->tower_hidden);
    return f;
}

/*
 * The BLAS's own rate on the model's largest product, all experts' first
 * layers at the given batch: Y[batch, E*w] = X[batch, in] W^T, W stored
 * [E*w, in] as the library stores it. Best of five timed repetitions.
 */
static double sgemm_ceiling(const bench_opts *o, const bench_config *bc, size_t batch)
{
    const size_t M = batch, K = bc->input, N = bc->n_experts * bc->expert_widths[0];
    float *A = malloc(M * K * sizeof *A), *W = malloc(N * K * sizeof *W);
    float *C = malloc(M * N * sizeof *C);
    uint64_t rng = BENCH_SEED ^ 0x5ce11u;
    double best = 0.0;
    if (A && W && C) {
        for (size_t i = 0; i < M * K; i++)
            A[i] = rng_uniform(&rng);
        for (size_t i = 0; i < N * K; i++)
            W[i] = rng_uniform(&rng);
        for (int rep = 0; rep < (o->quick ? 1 : 6); rep++) {
            long done = 0;
            double t0 = now_seconds(), elapsed = 0.0;
            do {
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)M, (int)N, (int)K, 1.0f,
                            A, (int)K, W, (int)K, 0.0f, C, (int)N);
                done++;
                elapsed = now_seconds() - t0;
            } while (!o->quick && elapsed < o->min_time / 6.0);
            double rate = 2.0 * (double)M * (double)N * (double)K * (double)done / elapsed / 1e9;
            if (rep > 0 || o->quick) /* the first repetition warms up */
                best = rate > best ? rate : best;
        }
    }
    free(A);
    free(W);
    free(C);
    return best;
}

/* One timed product of gemm_bound: C[M,N] = A[M,K] B^T, B stored [N, K], strided views. */
typedef struct gemm_shape {
    size_t M, N, K, copies; /* `copies` products side by side (the experts' deeper layers) */
} gemm_shape;

/*
 * Predict's matrix products alone, at the library's shapes and layouts:
 * all experts' first layers (one product), each expert's deeper layers,
 * the gates (one product) and each task's tower layers. Best of five
 * repetitions of the whole sequence. Returns the GFLOP/s of that
 * sequence (including the mixing FLOPs in the count, as forward_flops
 * does, so the ratio with predict_efficiency is like for like).
 */
static double gemm_bound(const bench_opts *o, const bench_config *bc, size_t batch)
{
    gemm_shape sh[8];
    size_t n = 0, in = bc->input, E = bc->n_experts, T = bc->n_tasks;
    sh[n++] = (gemm_shape){batch, E * bc->expert_widths[0], in, 1};
    for (size_t l = 1; l < bc->n_expert_layers; l++)
        sh[n++] = (gemm_shape){batch, bc->expert_widths[l], bc->expert_widths[l - 1], E};
    size_t h = bc->expert_widths[bc->n_expert_layers - 1];
    sh[n++] = (gemm_shape){batch, T * E, in, 1};
    sh[n++] = (gemm_shape){batch, bc->tower_hidden, h, T};
    sh[n++] = (gemm_shape){batch, 1, bc->tower_hidden, T};
    size_t maxa = 0, maxb = 0, maxc = 0;
    for (size_t i = 0; i < n; i++) {
        size_t a = sh[i].M * sh[i].K * sh[i].copies, b = sh[i].N * sh[i].K * sh[i].copies;
        size_t c = sh[i].M * sh[i].N * sh[i].copies;
        maxa = a > maxa ? a : maxa;
        maxb = b > maxb ? b : maxb;
        maxc = c > maxc ? c : maxc;
    }
    float *A = calloc(maxa, sizeof *A), *Bm = calloc(maxb, sizeof *Bm),
          *C = calloc(maxc, sizeof *C);
    double best = 0.0;
    if (A && Bm && C) {
        uint64_t rng = BENCH_SEED ^ 0xb0u;
        for (size_t i = 0; i < maxa; i++)
            A[i] = rng_uniform(&rng);
        for (size_t i = 0; i < maxb; i++)
            Bm[i] = rng_uniform(&rng);
        for (int rep = 0; rep < (o->quick ? 1 : 6); rep++) {
            long done = 0;
            double t0 = now_seconds(), elapsed = 0.0;
            do {
                for (size_t i = 0; i < n; i++) {
                    const gemm_shape *g = &sh[i];
                    for (size_t c = 0; c < g->copies; c++) /* copy c's block of the wide arrays */
                        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)g->M, (int)g->N,
                                    (int)g->K, 1.0f, A + c * g->K, (int)(g->K * g->copies),
                                    Bm + c * g->N * g->K, (int)g->K, 1.0f, C + c * g->N,
                                    (int)(g->N * g->copies));
                }
                done++;
                elapsed = now_seconds() - t0;
            } while (!o->quick && elapsed < o->min_time / 6.0);
            double rate = forward_flops(bc) * (double)batch * (double)done / elapsed / 1e9;
            if (rep > 0 || o->quick)
                best = rate > best ? rate : best;
        }
    }
    free(A);
    free(Bm);
    free(C);
    return best;
}

/* Milliseconds per call of each phase of a training step, through the public calls. */
static int bench_phases(const bench_opts *o, const bench_config *bc, mmoe_model *model,
                        const float *x, const float *labels, size_t params, size_t batch)
{
    static const char *const names[5] = {"forward", "loss", "zero_grad", "backward", "optimizer"};
    mmoe_optimizer *opt = NULL;
    double t[5] = {0, 0, 0, 0, 0}, start = now_seconds();
    long done = 0, timed = 0;
    float total;
    mmoe_status st = mmoe_optimizer_create(model, MMOE_OPTIMIZER_ADAM, &opt);
    if (st != MMOE_OK)
        return fail("mmoe_optimizer_create", st, mmoe_last_error());
    for (;;) {
        double a = now_seconds(), b, c, d, e, f;
        st = mmoe_model_forward(model, batch, x, NULL);
        b = now_seconds();
        if (!st)
            st = mmoe_model_loss(model, labels, NULL, NULL, &total);
        c = now_seconds();
        if (!st)
            st = mmoe_model_zero_grad(model);
        d = now_seconds();
        if (!st)
            st = mmoe_model_backward(model);
        e = now_seconds();
        if (!st)
            st = mmoe_optimizer_step(opt);
        f = now_seconds();
        if (st) {
            int rc = fail("training phases", st, mmoe_model_last_error(model));
            mmoe_optimizer_free(opt);
            return rc;
        }
        if (done > 0 || o->quick) { /* the first step sizes the buffers: not timed */
            t[0] += b - a;
            t[1] += c - b;
            t[2] += d - c;
            t[3] += e - d;
            t[4] += f - e;
            timed++;
        }
        done++;
        if (o->quick ? done >= 1 : (timed >= 3 && now_seconds() - start > o->min_time))
            break;
    }
    for (int i = 0; i < 5; i++) {
        char metric[64];
        snprintf(metric, sizeof metric, "phase_ms_%s", names[i]);
        emit(o, bc->name, metric, batch, t[i] / (double)timed * 1e3, "ms", timed, t[i], params);
    }
    mmoe_optimizer_free(opt);
    return 0;
}

static int run_config(const bench_opts *o, const bench_config *bc)
{
    static const size_t train_batches[] = {1, 32, 256, 1024};
    const size_t predict_batch = 256;
    mmoe_model *model = NULL;
    mmoe_workspace *ws = NULL;
    float *x = NULL, *labels = NULL, *out = NULL;
    uint64_t rng = BENCH_SEED;
    double train_rate[4] = {0, 0, 0, 0}, median_us = 0.0, predict_rate = 0.0;
    size_t i, params;
    int rc = 1;
    mmoe_status st = build_model(bc, &model);

    if (st != MMOE_OK)
        return fail("mmoe_model_create", st, mmoe_last_error());
    params = mmoe_model_num_scalars(model);
    fprintf(stderr, "mmoe-bench: config %s: %zu parameters\n", bc->name, params);

    x = malloc((size_t)BENCH_MAX_BATCH * bc->input * sizeof *x);
    labels = malloc((size_t)BENCH_MAX_BATCH * bc->n_tasks * sizeof *labels);
    out = malloc((size_t)BENCH_MAX_BATCH * bc->n_tasks * sizeof *out);
    if (!x || !labels || !out) {
        fprintf(stderr, "mmoe-bench: out of memory\n");
        goto done;
    }
    for (i = 0; i < (size_t)BENCH_MAX_BATCH * bc->input; i++)
        x[i] = rng_uniform(&rng);
    for (i = 0; i < (size_t)BENCH_MAX_BATCH * bc->n_tasks; i++) {
        float u = rng_uniform(&rng);
        labels[i] = bc->kind == MMOE_TASK_BINARY ? (u > 0.0f ? 1.0f : 0.0f) : u;
    }

    for (i = 0; i < sizeof train_batches / sizeof train_batches[0]; i++) {
        if (o->only && strcmp(o->only, "train") != 0)
            break;
        if (bench_train(o, bc, model, x, labels, params, &train_rate[i], train_batches[i]))
            goto done;
    }
    if (o->phases && bench_phases(o, bc, model, x, labels, params, 256))
        goto done;

    if (o->only && strcmp(o->only, "predict") != 0) {
        rc = 0;
        goto done;
    }
    st = mmoe_workspace_create(model, predict_batch, &ws);
    if (st != MMOE_OK) {
        fail("mmoe_workspace_create", st, mmoe_last_error());
        goto done;
    }
    if (bench_latency(o, bc, model, ws, x, out, params, &median_us))
        goto done;
    if (bench_predict_throughput(o, bc, model, ws, x, out, params, predict_batch, &predict_rate))
        goto done;

    /* Ratios between measurements of this one run. */
    if (predict_rate > 0.0)
        emit(o, bc->name, "predict_b1_vs_b256_row", 1, median_us / (1e6 / predict_rate), "ratio", 0,
             0.0, params);
    if (train_rate[0] > 0.0)
        emit(o, bc->name, "train_b256_vs_b1", 256, train_rate[2] / train_rate[0], "ratio", 0, 0.0,
             params);
    {
        double ceiling = sgemm_ceiling(o, bc, predict_batch);
        emit(o, bc->name, "sgemm_ceiling", predict_batch, ceiling, "GFLOP/s", 0, 0.0, params);
        if (ceiling > 0.0) {
            emit(o, bc->name, "predict_efficiency", predict_batch,
                 forward_flops(bc) * predict_rate / 1e9 / ceiling, "ratio", 0, 0.0, params);
            if (!bc->arch && !bc->top_k) /* the products of plain MMoE shapes */
                emit(o, bc->name, "gemm_bound_efficiency", predict_batch,
                     gemm_bound(o, bc, predict_batch) / ceiling, "ratio", 0, 0.0, params);
        }
    }
    rc = 0;

done:
    mmoe_workspace_free(ws);
    mmoe_model_free(model);
    free(x);
    free(labels);
    free(out);
    return rc;
}

/* ---- command line ------------------------------------------------------ */

static void usage(FILE *f)
{
    fprintf(f, "usage: mmoe-bench [options]\n"
               "\n"
               "Times training (mmoe_model_train_step with Adam) and inference\n"
               "(mmoe_model_predict) of two fixed MMoE shapes and prints one JSON\n"
               "object per measurement on stdout.\n"
               "\n"
               "  --config NAME     A, B, A-top2, B-top2 (A and B with top-2 gates), A-ple,\n"
               "                    B-ple (A and B as two-level PLE) or all [all]\n"
               "                    A: input 100, 8 experts 16 relu, 2 regression tasks\n"
               "                    B: input 512, 16 experts 256-128 relu, 4 binary tasks\n"
               "  --threads N       BLAS threads (mmoe_set_num_threads); default: the\n"
               "                    BLAS's own default, reported as threads 0\n"
               "  --iters N         exactly N timed calls per measurement\n"
               "  --min-time S      time each measurement for at least S seconds [1.0]\n"
               "  --quick           one short timed iteration per measurement (for CI)\n"
               "  --only WHAT       time only train or only predict\n"
               "  --phases          also time forward, loss, zero_grad, backward and the\n"
               "                    optimizer step separately (batch 256)\n"
               "  --help            show this text\n"
               "\n"
               "Ratios (unit \"ratio\") compare measurements taken in the same run.\n");
}

static int parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    long v;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int parse_args(int argc, char **argv, bench_opts *o)
{
    int i;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 1;
        } else if (!strcmp(a, "--quick")) {
            o->quick = 1;
        } else if (!strcmp(a, "--only") && val) {
            if (strcmp(val, "train") != 0 && strcmp(val, "predict") != 0)
                goto bad_value;
            o->only = val;
            i++;
        } else if (!strcmp(a, "--phases")) {
            o->phases = 1;
        } else if (!strcmp(a, "--threads") && val) {
            long n;
            if (parse_long(val, 1, 4096, &n))
                goto bad_value;
            o->threads = (int)n;
            i++;
        } else if (!strcmp(a, "--iters") && val) {
            if (parse_long(val, 1, 1000000000L, &o->iters))
                goto bad_value;
            i++;
        } else if (!strcmp(a, "--min-time") && val) {
            char *end;
            errno = 0;
            o->min_time = strtod(val, &end);
            if (errno || end == val || *end || !(o->min_time > 0.0) || o->min_time > 3600.0)
                goto bad_value;
            i++;
        } else if (!strcmp(a, "--config") && val) {
            size_t c = 0, n = sizeof bench_configs / sizeof bench_configs[0];
            while (c < n && strcmp(val, bench_configs[c].name))
                c++;
            if (c == n && strcmp(val, "all"))
                goto bad_value;
            o->which = val;
            i++;
        } else {
            fprintf(stderr, "mmoe-bench: unknown or incomplete option '%s'\n", a);
            usage(stderr);
            return -1;
        }
        continue;
    bad_value:
        fprintf(stderr, "mmoe-bench: bad value '%s' for %s\n", val, a);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    bench_opts o = {0, 0, 0, 1.0, 0, 0, "all", NULL};
    size_t i;
    int rc = parse_args(argc, argv, &o);

    if (rc > 0)
        return 0;
    if (rc < 0)
        return 2;
    if (mmoe_version() != MMOE_VERSION_HEX)
        fprintf(stderr, "mmoe-bench: warning: headers %d.%d.%d, library %s\n", MMOE_VERSION_MAJOR,
                MMOE_VERSION_MINOR, MMOE_VERSION_PATCH, mmoe_version_string());
    if (o.threads > 0) {
        mmoe_status st = mmoe_set_num_threads(o.threads);
        if (st == MMOE_OK)
            o.threads_ok = 1;
        else
            fprintf(stderr, "mmoe-bench: mmoe_set_num_threads(%d): %s; BLAS threads unchanged\n",
                    o.threads, mmoe_status_string(st));
    }
    if (mmoe_blas_core_is_generic())
        fprintf(stderr,
                "mmoe-bench: warning: the BLAS runs generic '%s' kernels on a CPU with wider "
                "vector units; set OPENBLAS_CORETYPE (see docs/performance.md)\n",
                mmoe_blas_core());
    for (i = 0; i < sizeof bench_configs / sizeof bench_configs[0]; i++) {
        if (strcmp(o.which, "all") && strcmp(o.which, bench_configs[i].name))
            continue;
        if (run_config(&o, &bench_configs[i]))
            return 1;
    }
    return 0;
}
