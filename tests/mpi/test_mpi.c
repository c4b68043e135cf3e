/*
 * libmmoe-mpi under mpirun (suite "mpi"; run with -np 2 and -np 3):
 *
 *   equivalence  N steps on P ranks, rank r with its own B_r rows (uneven),
 *                equal N steps of one process on all P rows concatenated, to
 *                a stated tolerance: dense only, replicated embeddings (sparse
 *                exchange, dense allreduce, automatic choice), sharded
 *                embeddings, batch-norm (synchronised); with sample weights;
 *   identical    after N Adam steps with dropout, batch-norm and embeddings,
 *                every rank's replicated parameters, statistics and optimizer
 *                state hash the same (mmoe_mpi_verify), and a perturbed
 *                parameter is detected; dropout masks differ between ranks;
 *   failure      a NaN input, an overflowing input (NaN gradients) and a bad
 *                id on one rank make every rank's step return the same status
 *                in the same step, with nothing changed anywhere;
 *   resume       save after 3 steps, 3 more steps; load + 3 steps gives
 *                bit-identical parameters (sharded tables, Adam);
 *   sub-comm     with 3 or more ranks, the equivalence on a sub-communicator.
 *
 * Every rank runs every collective whatever its checks find (a failed
 * check never skips a collective), and the verdict is reduced at the end.
 * Tolerance: one process and P ranks add the same per-row terms in a
 * different order (GEMM over P*B rows vs P partial sums weighted by B_r/B),
 * so gradients differ by float32 rounding, ~1e-7 relative; SGD with
 * learning rate 0.05 over 4 steps moves parameters by lr * sum of
 * gradients, and these differences then feed back through the forward
 * passes. The bound used, |theta_P - theta_1| <= 2e-6 + 2e-6 |theta_1|
 * per parameter, is about 70 times the largest difference measured with 2
 * and 3 ranks (3e-8) and 1000 times smaller than one step's change
 * (~0.05 * |g|, |g| ~ 0.1): a step computed on the wrong rows, a missing
 * B_r / B weight or an unsynchronised batch-norm moves parameters by more.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mpi.h>

#include <mmoe/mmoe.h>
#include <mmoe/mpi.h>

#if defined(__SANITIZE_ADDRESS__)
/* Leak check before MPI_Finalize: Open MPI unloads its components at
 * finalize, after which LeakSanitizer reports their never-freed internals
 * with unknown frames. Checking here covers everything this program and
 * libmmoe(-mpi) allocated, and turns the check at exit off. */
#    include <sanitizer/lsan_interface.h>
#    define LEAK_CHECK() __lsan_do_leak_check()
#else
#    define LEAK_CHECK() ((void)0)
#endif

static int g_rank, g_fail, g_pass;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (cond) {                                                                                \
            g_pass++;                                                                              \
        } else {                                                                                   \
            g_fail++;                                                                              \
            fprintf(stderr, "rank %d: FAIL %s:%d: ", g_rank, __FILE__, __LINE__);                  \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
        }                                                                                          \
    } while (0)

enum { DIN = 6, T = 2, NID = 4 };

typedef struct setup {
    int emb, bn, dropout, sharded;
    mmoe_optimizer_kind opt;
} setup;

static mmoe_config *make_config(const setup *s)
{
    mmoe_config *c;
    mmoe_config_create(&c);
    mmoe_config_set_int(c, "input.dense", DIN);
    mmoe_config_set_experts(c, 3, 1, (size_t[]){8}, MMOE_ACT_RELU);
    mmoe_config_add_task(c, "click", MMOE_TASK_BINARY, 1, (size_t[]){4}, MMOE_ACT_RELU, 1.0f);
    mmoe_config_add_task(c, "watch", MMOE_TASK_REGRESSION, 1, (size_t[]){4}, MMOE_ACT_RELU, 0.5f);
    mmoe_config_set_int(c, "seed", 7);
    if (s->emb) {
        mmoe_config_set_int(c, "input.sparse", 2);
        mmoe_config_set_int(c, "sparse.0.vocab", 50);
        mmoe_config_set_int(c, "sparse.0.dim", 4);
        mmoe_config_set_int(c, "sparse.1.vocab", 37);
        mmoe_config_set_int(c, "sparse.1.dim", 3);
        mmoe_config_set_int(c, "sparse.1.slots", 3);
        mmoe_config_set(c, "sparse.1.oov", "hash");
    }
    if (s->bn || s->dropout) {
        mmoe_config_set(c, "dnn.layers", "8");
        mmoe_config_set_int(c, "dnn.batchnorm", s->bn);
        if (s->dropout)
            mmoe_config_set_real(c, "dnn.dropout", 0.25);
    }
    return c;
}

static uint64_t mix(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static float unit(uint64_t h)
{
    return (float)((double)(mix(h) >> 11) * (1.0 / 9007199254740992.0));
}

/* Global row g of step s. */
static void make_row(int step, size_t g, float *x, int64_t *ids, float *y, float *w)
{
    uint64_t base = (uint64_t)step * 1000003u + g * 7919u;
    for (int j = 0; j < DIN; j++)
        x[j] = 2.0f * unit(base + (uint64_t)j) - 1.0f;
    ids[0] = (int64_t)(mix(base + 11) % 50);
    for (int s = 0; s < 3; s++) {
        uint64_t v = mix(base + 20 + (uint64_t)s);
        ids[1 + s] = v % 5 == 0 ? -1 : (int64_t)(v % 60); /* padding, some ids >= vocab: hashed */
    }
    y[0] = x[0] + x[1] > 0.0f ? 1.0f : 0.0f;
    y[1] = x[2] - 0.5f * x[3];
    *w = 0.5f + unit(base + 99);
}

/* Rows of rank r in a step: uneven (B + r % 2). */
static size_t rows_of(int r)
{
    return 5 + (size_t)(r % 2);
}

typedef struct batch {
    size_t n;
    float x[64 * DIN], y[64 * T], w[64];
    int64_t ids[64 * NID];
} batch;

/* Rows [first, first + n) of step s's global batch. */
static void make_batch(int step, size_t first, size_t n, int emb, batch *b)
{
    b->n = n;
    for (size_t i = 0; i < n; i++) {
        int64_t id[NID];
        make_row(step, first + i, b->x + i * DIN, id, b->y + i * T, &b->w[i]);
        if (emb)
            memcpy(b->ids + i * NID, id, sizeof id);
    }
}

static mmoe_optimizer *make_opt(mmoe_model *m, mmoe_optimizer_kind kind)
{
    mmoe_optimizer *o = NULL;
    mmoe_optimizer_create(m, kind, &o);
    if (kind == MMOE_OPTIMIZER_SGD) {
        mmoe_optimizer_set(o, MMOE_OPT_LEARNING_RATE, 0.05);
        mmoe_optimizer_set(o, MMOE_OPT_MOMENTUM, 0.5);
    } else {
        mmoe_optimizer_set(o, MMOE_OPT_LEARNING_RATE, 0.01);
    }
    mmoe_optimizer_set(o, MMOE_OPT_WEIGHT_DECAY, 1e-3);
    return o;
}

static unsigned char *all_flags(size_t n, int on)
{
    unsigned char *f = calloc(n ? n : 1, 1);
    for (size_t i = 0; i < n; i++)
        f[i] = (unsigned char)on;
    return f;
}

/* Bit-identical parameters, statistics, optimizer state and step count of two models. */
static int same_state(mmoe_model *a, mmoe_optimizer *oa, mmoe_model *b, mmoe_optimizer *ob)
{
    float *p, *q;
    size_t n, nb;
    mmoe_model_flat(a, &p, NULL, &n);
    mmoe_model_flat(b, &q, NULL, &nb);
    int same = n == nb && memcmp(p, q, n * sizeof *p) == 0;
    mmoe_model_stats(a, &p, &n);
    mmoe_model_stats(b, &q, &nb);
    same &= n == nb && memcmp(p, q, n * sizeof *p) == 0;
    size_t count = 0;
    mmoe_optimizer_state(oa, 0, NULL, NULL, &count);
    for (size_t k = 0; k < count; k++) {
        mmoe_optimizer_state(oa, k, &p, &n, NULL);
        mmoe_optimizer_state(ob, k, &q, &nb, NULL);
        same &= n == nb && memcmp(p, q, n * sizeof *p) == 0;
    }
    return same && mmoe_optimizer_steps(oa) == mmoe_optimizer_steps(ob);
}

/* Parameters (shards against the reference's rows) and statistics of m against one process. */
static void compare(mmoe_model *m, mmoe_model *ref, int bn, const char *name, double *worst)
{
    float *p, *q;
    size_t n;
    mmoe_model_flat(m, &p, NULL, &n);
    mmoe_model_flat(ref, &q, NULL, NULL);
    size_t pos = 0, qpos = 0;
    int bad = 0;
    for (size_t k = 0; k <= mmoe_model_num_tables(m); k++) {
        size_t off = n, rows = 0, dim = 0, r0 = 0, world = 1, roff = 0;
        uint64_t vocab = 0;
        if (k < mmoe_model_num_tables(m)) {
            mmoe_model_table(m, k, &vocab, &dim, &off, &rows, &r0, &world);
            mmoe_model_table(ref, k, NULL, NULL, &roff, NULL, NULL, NULL);
        }
        for (; pos < off; pos++, qpos++) {
            double d = fabs((double)p[pos] - (double)q[qpos]);
            *worst = d > *worst ? d : *worst;
            bad |= d > 2e-6 + 2e-6 * fabs((double)q[qpos]);
        }
        for (size_t i = 0; i < rows * dim; i++) {
            size_t row = (i / dim) * world + r0, j = i % dim;
            double a = p[off + i], b = q[roff + row * dim + j];
            double d = fabs(a - b);
            *worst = d > *worst ? d : *worst;
            bad |= d > 2e-6 + 2e-6 * fabs(b);
        }
        pos = off + rows * dim;
        qpos = roff + (size_t)vocab * dim;
    }
    CHECK(!bad, "%s: parameters differ from one process on the global batch (max %.3g)", name,
          *worst);
    if (bn) {
        float *a, *b;
        size_t ns;
        mmoe_model_stats(m, &a, &ns);
        mmoe_model_stats(ref, &b, NULL);
        double ws = 0.0;
        for (size_t i = 0; i < ns; i++)
            ws = fmax(ws, fabs((double)a[i] - (double)b[i]) / (1.0 + fabs((double)b[i])));
        CHECK(ns > 0 && ws < 1e-5, "%s: batch-norm statistics differ (%.3g)", name, ws);
    }
}

/* ---- equivalence --------------------------------------------------------------------------- */

static void equivalence(MPI_Comm comm, const char *name, setup s, int exchange)
{
    int rank, P;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &P);
    mmoe_config *cfg = make_config(&s);
    size_t nsp = s.emb ? 2 : 0;
    unsigned char *flags = all_flags(nsp, s.sharded);
    /*
     * Two runs: gradient buckets reduced after backward (mm[0]) and
     * overlapped with it (mm[1]), 64 floats each so that several are in
     * flight with the other collectives. Both must match one process on the
     * global batch, and on 2 ranks each other bit for bit.
     */
    mmoe_model *mm[2] = {NULL, NULL}, *ref = NULL;
    mmoe_optimizer *oo[2];
    mmoe_mpi *cc[2] = {NULL, NULL};
    mmoe_status st;
    for (int ov = 0; ov < 2; ov++) {
        st = mmoe_model_create_sharded(cfg, nsp, flags, (size_t)rank, (size_t)P, &mm[ov]);
        CHECK(st == MMOE_OK, "%s: create_sharded: %s", name, mmoe_last_error());
        oo[ov] = make_opt(mm[ov], s.opt);
        st = mmoe_mpi_create(comm, mm[ov], &cc[ov]);
        CHECK(st == MMOE_OK, "%s: mmoe_mpi_create: %s", name, mmoe_mpi_last_error(NULL));
        if (exchange >= 0)
            mmoe_mpi_set(cc[ov], MMOE_MPI_EMBEDDING_EXCHANGE, exchange);
        CHECK(mmoe_mpi_set(cc[ov], MMOE_MPI_OVERLAP, ov) == MMOE_OK, "%s: overlap", name);
        CHECK(mmoe_mpi_set(cc[ov], MMOE_MPI_BUCKET_FLOATS, 64) == MMOE_OK, "%s: bucket", name);
        CHECK(mmoe_mpi_verify(cc[ov], oo[ov]) == MMOE_OK, "%s: replicas differ at the start", name);
    }
    mmoe_model_create(cfg, &ref);
    mmoe_optimizer *ref_opt = make_opt(ref, s.opt);
    size_t first = 0, total = 0;
    for (int r = 0; r < P; r++) {
        if (r < rank)
            first += rows_of(r);
        total += rows_of(r);
    }
    double worst = 0.0, worst_loss = 0.0;
    static batch mine, all;
    for (int step = 0; step < 4; step++) {
        make_batch(step, first, rows_of(rank), s.emb, &mine);
        make_batch(step, 0, total, s.emb, &all);
        float tl[2][T], loss[2] = {0.0f, 0.0f}, rtl[T], rloss = 0.0f;
        for (int ov = 0; ov < 2; ov++) {
            st = mmoe_mpi_train_step(cc[ov], oo[ov], mine.n, mine.x, s.emb ? mine.ids : NULL,
                                     mine.y, mine.w, tl[ov], &loss[ov]);
            CHECK(st == MMOE_OK, "%s: step %d (overlap %d): %s", name, step, ov,
                  mmoe_mpi_last_error(cc[ov]));
        }
        if (P == 2)
            CHECK(memcmp(tl[0], tl[1], sizeof tl[0]) == 0 && memcmp(&loss[0], &loss[1], 4) == 0,
                  "%s: step %d: losses differ with and without overlap", name, step);
        st = mmoe_model_train_step(ref, ref_opt, all.n, all.x, s.emb ? all.ids : NULL, all.y, all.w,
                                   rtl, &rloss);
        CHECK(st == MMOE_OK, "%s: reference step %d: %s", name, step, mmoe_model_last_error(ref));
        for (int ov = 0; ov < 2; ov++) {
            double dl = fabs((double)loss[ov] - (double)rloss) / (1.0 + fabs((double)rloss));
            worst_loss = dl > worst_loss ? dl : worst_loss;
        }
    }
    for (int ov = 0; ov < 2; ov++) {
        compare(mm[ov], ref, s.bn, name, &worst);
        CHECK(mmoe_mpi_verify(cc[ov], oo[ov]) == MMOE_OK,
              "%s: replicas differ after the steps (overlap %d)", name, ov);
    }
    CHECK(worst_loss < 1e-5, "%s: losses differ from one process (rel %.3g)", name, worst_loss);
    /*
     * Bit-identical with and without overlap on 2 ranks (each sum is one
     * addition, whatever the algorithm); with more ranks Open MPI's blocking
     * and non-blocking allreduce may add in different orders.
     */
    if (P == 2)
        CHECK(same_state(mm[0], oo[0], mm[1], oo[1]),
              "%s: parameters, statistics or optimizer state differ with and without overlap",
              name);
    if (g_rank == 0)
        printf("equivalence %-22s ranks %d: max |dtheta| %.3g, max rel dloss %.3g\n", name, P,
               worst, worst_loss);
    for (int ov = 0; ov < 2; ov++) {
        mmoe_mpi_free(cc[ov]);
        mmoe_optimizer_free(oo[ov]);
        mmoe_model_free(mm[ov]);
    }
    mmoe_optimizer_free(ref_opt);
    mmoe_model_free(ref);
    mmoe_config_free(cfg);
    free(flags);
}

/* ---- identical replicas, dropout streams ------------------------------------------------- */

static void identical(void)
{
    setup s = {1, 1, 1, 0, MMOE_OPTIMIZER_ADAM};
    mmoe_config *cfg = make_config(&s);
    mmoe_model *m;
    mmoe_model_create(cfg, &m);
    mmoe_optimizer *opt = make_opt(m, s.opt);
    mmoe_mpi *ctx;
    CHECK(mmoe_mpi_create(MPI_COMM_WORLD, m, &ctx) == MMOE_OK, "create: %s",
          mmoe_mpi_last_error(NULL));
    /* a different start on every rank, then the broadcast makes them equal */
    float *p;
    mmoe_model_flat(m, &p, NULL, NULL);
    p[0] += (float)g_rank;
    int P = mmoe_mpi_size(ctx);
    if (P > 1)
        CHECK(mmoe_mpi_verify(ctx, opt) == MMOE_ERR_STATE, "verify misses a differing parameter");
    CHECK(mmoe_mpi_broadcast(ctx, opt) == MMOE_OK, "broadcast: %s", mmoe_mpi_last_error(ctx));
    CHECK(mmoe_mpi_verify(ctx, opt) == MMOE_OK, "replicas differ after the broadcast");
    static batch b;
    for (int step = 0; step < 5; step++) {
        make_batch(step, (size_t)g_rank * 8, 6, 1, &b);
        mmoe_status st = mmoe_mpi_train_step(ctx, opt, b.n, b.x, b.ids, b.y, NULL, NULL, NULL);
        CHECK(st == MMOE_OK, "identical: step %d: %s", step, mmoe_mpi_last_error(ctx));
    }
    CHECK(mmoe_optimizer_steps(opt) == 5, "identical: %llu steps",
          (unsigned long long)mmoe_optimizer_steps(opt));
    CHECK(mmoe_mpi_verify(ctx, opt) == MMOE_OK,
          "parameters, statistics or optimizer state differ between ranks after 5 steps");
    /* dropout: the same batch on every rank gives different training outputs */
    make_batch(0, 0, 6, 1, &b);
    mmoe_model_forward(m, b.n, b.x, b.ids);
    float out[6 * T];
    mmoe_model_outputs(m, out, 6 * T);
    double h = 0.0;
    for (int i = 0; i < 6 * T; i++)
        h = h * 1.000001 + out[i];
    double hmax = h, hmin = h;
    MPI_Allreduce(MPI_IN_PLACE, &hmax, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    MPI_Allreduce(MPI_IN_PLACE, &hmin, 1, MPI_DOUBLE, MPI_MIN, MPI_COMM_WORLD);
    if (P > 1)
        CHECK(hmax != hmin, "dropout masks are the same on every rank");
    /* the forward above ran outside the step: batch-norm statistics moved together */
    CHECK(mmoe_mpi_verify(ctx, NULL) == MMOE_OK, "statistics differ after a forward");
    mmoe_mpi_free(ctx);
    mmoe_optimizer_free(opt);
    mmoe_model_free(m);
    mmoe_config_free(cfg);
}

/* ---- collective failure ------------------------------------------------------------------ */

static uint64_t state_hash(mmoe_model *m, mmoe_optimizer *o)
{
    float *p, *s;
    size_t n;
    uint64_t h = 1469598103934665603ULL;
    mmoe_model_flat(m, &p, NULL, &n);
    mmoe_optimizer_state(o, 0, &s, NULL, NULL);
    for (size_t i = 0; i < n; i++) {
        uint32_t u, v;
        memcpy(&u, &p[i], 4);
        memcpy(&v, &s[i], 4);
        h = (h ^ u) * 1099511628211ULL;
        h = (h ^ v) * 1099511628211ULL;
    }
    return h ^ mmoe_optimizer_steps(o);
}

/* overlap: gradient allreduces started during backward, in buckets of 64 floats (several). */
static void failure(int overlap)
{
    setup s = {1, 1, 0, 1, MMOE_OPTIMIZER_ADAM};
    mmoe_config *cfg = make_config(&s);
    mmoe_model *m;
    int P;
    MPI_Comm_size(MPI_COMM_WORLD, &P);
    mmoe_model_create_sharded(cfg, 2, (unsigned char[]){1, 0}, (size_t)g_rank, (size_t)P, &m);
    mmoe_optimizer *opt = make_opt(m, s.opt);
    mmoe_mpi *ctx;
    CHECK(mmoe_mpi_create(MPI_COMM_WORLD, m, &ctx) == MMOE_OK, "create: %s",
          mmoe_mpi_last_error(NULL));
    if (overlap) {
        mmoe_mpi_set(ctx, MMOE_MPI_OVERLAP, 1);
        mmoe_mpi_set(ctx, MMOE_MPI_BUCKET_FLOATS, 64);
    }
    static batch b;
    const int last = P - 1;
    struct {
        const char *what;
        mmoe_status want;
    } cases[] = {
        {"none", MMOE_OK},
        {"NaN input on the last rank", MMOE_ERR_NONFINITE},
        {"none", MMOE_OK},
        {"overflowing input on the last rank (non-finite gradients)", MMOE_ERR_NONFINITE},
        {"id out of the vocabulary on rank 0", MMOE_ERR_RANGE},
        {"none", MMOE_OK},
    };
    for (int c = 0; c < (int)(sizeof cases / sizeof *cases); c++) {
        make_batch(c, (size_t)g_rank * 8, 5, 1, &b);
        if (c == 1 && g_rank == last)
            b.x[3] = NAN;
        if (c == 3 && g_rank == last)
            for (int i = 0; i < DIN; i++)
                b.x[DIN + i] = 3e38f;
        if (c == 4 && g_rank == 0)
            b.ids[NID] = 50;
        uint64_t before = state_hash(m, opt);
        mmoe_status st = mmoe_mpi_train_step(ctx, opt, b.n, b.x, b.ids, b.y, NULL, NULL, NULL);
        CHECK(st == cases[c].want, "failure case '%s' (overlap %d): status %s, want %s (%s)",
              cases[c].what, overlap, mmoe_status_name(st), mmoe_status_name(cases[c].want),
              mmoe_mpi_last_error(ctx));
        if (cases[c].want != MMOE_OK) {
            CHECK(state_hash(m, opt) == before, "failure case '%s' changed the state",
                  cases[c].what);
            if (c != 3)
                CHECK(strstr(mmoe_mpi_last_error(ctx), "rank ") != NULL,
                      "message does not name the rank: %s", mmoe_mpi_last_error(ctx));
        }
        CHECK(mmoe_mpi_verify(ctx, opt) == MMOE_OK, "failure case '%s': replicas differ",
              cases[c].what);
    }
    CHECK(mmoe_optimizer_steps(opt) == 3, "%llu steps taken, 3 succeeded",
          (unsigned long long)mmoe_optimizer_steps(opt));
    mmoe_mpi_free(ctx);
    mmoe_optimizer_free(opt);
    mmoe_model_free(m);
    mmoe_config_free(cfg);
}

/* ---- checkpoint and resume ---------------------------------------------------------------- */

static uint64_t gathered_hash(mmoe_mpi *ctx, mmoe_optimizer *opt)
{
    mmoe_model *full = NULL;
    mmoe_optimizer *fo = NULL;
    mmoe_status st = mmoe_mpi_gather(ctx, opt, &full, &fo);
    CHECK(st == MMOE_OK, "gather: %s", mmoe_mpi_last_error(ctx));
    uint64_t h = full ? state_hash(full, fo) : 0;
    MPI_Bcast(&h, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD);
    mmoe_optimizer_free(fo);
    mmoe_model_free(full);
    return h;
}

static void steps(mmoe_mpi *ctx, mmoe_optimizer *opt, int from, int to)
{
    static batch b;
    for (int step = from; step < to; step++) {
        make_batch(step, (size_t)g_rank * 8, 6, 1, &b);
        mmoe_status st = mmoe_mpi_train_step(ctx, opt, b.n, b.x, b.ids, b.y, b.w, NULL, NULL);
        CHECK(st == MMOE_OK, "resume: step %d: %s", step, mmoe_mpi_last_error(ctx));
    }
}

static void resume(const char *dir)
{
    setup s = {1, 1, 0, 1, MMOE_OPTIMIZER_ADAM};
    mmoe_config *cfg = make_config(&s);
    int P;
    MPI_Comm_size(MPI_COMM_WORLD, &P);
    unsigned char flags[2] = {1, 1};
    char mpath[512], opath[512];
    snprintf(mpath, sizeof mpath, "%s/mpi-resume-model.safetensors", dir);
    snprintf(opath, sizeof opath, "%s/mpi-resume-opt.safetensors", dir);
    mmoe_model *m;
    mmoe_model_create_sharded(cfg, 2, flags, (size_t)g_rank, (size_t)P, &m);
    mmoe_optimizer *opt = make_opt(m, s.opt);
    mmoe_mpi *ctx;
    mmoe_mpi_create(MPI_COMM_WORLD, m, &ctx);
    steps(ctx, opt, 0, 3);
    mmoe_status st = mmoe_mpi_save(ctx, opt, mpath, opath);
    CHECK(st == MMOE_OK, "save: %s", mmoe_mpi_last_error(ctx));
    steps(ctx, opt, 3, 6);
    uint64_t a = gathered_hash(ctx, opt);
    mmoe_mpi_free(ctx);
    mmoe_optimizer_free(opt);
    mmoe_model_free(m);

    /* the saved file is an ordinary model: it loads and predicts without MPI */
    if (g_rank == 0) {
        mmoe_model *plain = NULL;
        mmoe_workspace *ws = NULL;
        static batch b;
        make_batch(0, 0, 2, 1, &b);
        float out[2 * T];
        st = mmoe_model_load(mpath, &plain);
        CHECK(st == MMOE_OK, "plain load: %s", mmoe_last_error());
        if (st == MMOE_OK && mmoe_workspace_create(plain, 2, &ws) == MMOE_OK)
            CHECK(mmoe_model_predict(plain, ws, 2, b.x, b.ids, out) == MMOE_OK, "predict");
        mmoe_workspace_free(ws);
        mmoe_model_free(plain);
    }
    st = mmoe_mpi_load(MPI_COMM_WORLD, mpath, 2, flags, &m);
    CHECK(st == MMOE_OK, "mpi load: %s", mmoe_mpi_last_error(NULL));
    opt = make_opt(m, s.opt);
    mmoe_optimizer_set(opt, MMOE_OPT_LEARNING_RATE, 0.5); /* must come back from the file */
    mmoe_mpi_create(MPI_COMM_WORLD, m, &ctx);
    st = mmoe_mpi_load_optimizer(ctx, opt, opath);
    CHECK(st == MMOE_OK, "optimizer load: %s", mmoe_mpi_last_error(ctx));
    double lr = 0.0;
    mmoe_optimizer_get(opt, MMOE_OPT_LEARNING_RATE, &lr);
    CHECK(lr == 0.01 && mmoe_optimizer_steps(opt) == 3, "optimizer: lr %g, %llu steps", lr,
          (unsigned long long)mmoe_optimizer_steps(opt));
    steps(ctx, opt, 3, 6);
    uint64_t b2 = gathered_hash(ctx, opt);
    CHECK(a == b2, "resumed training differs from uninterrupted training");
    /* a missing file fails on every rank */
    mmoe_model *none = NULL;
    st = mmoe_mpi_load(MPI_COMM_WORLD, "/nonexistent/dir/model.safetensors", 2, flags, &none);
    CHECK(st == MMOE_ERR_IO && none == NULL, "missing file: %s", mmoe_status_name(st));
    mmoe_mpi_free(ctx);
    mmoe_optimizer_free(opt);
    mmoe_model_free(m);
    mmoe_config_free(cfg);
    if (g_rank == 0) {
        remove(mpath);
        remove(opath);
    }
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int P;
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &P);
    mmoe_set_num_threads(1);
    const char *dir = argc > 1 ? argv[1] : ".";

    equivalence(MPI_COMM_WORLD, "dense", (setup){0, 0, 0, 0, MMOE_OPTIMIZER_SGD}, -1);
    equivalence(MPI_COMM_WORLD, "embeddings sparse", (setup){1, 0, 0, 0, MMOE_OPTIMIZER_SGD}, 1);
    equivalence(MPI_COMM_WORLD, "embeddings dense", (setup){1, 0, 0, 0, MMOE_OPTIMIZER_SGD}, 2);
    equivalence(MPI_COMM_WORLD, "embeddings auto", (setup){1, 0, 0, 0, MMOE_OPTIMIZER_SGD}, 0);
    equivalence(MPI_COMM_WORLD, "sharded embeddings", (setup){1, 0, 0, 1, MMOE_OPTIMIZER_SGD}, -1);
    equivalence(MPI_COMM_WORLD, "batch-norm", (setup){0, 1, 0, 0, MMOE_OPTIMIZER_SGD}, -1);
    equivalence(MPI_COMM_WORLD, "all (sharded, bn)", (setup){1, 1, 0, 1, MMOE_OPTIMIZER_SGD}, -1);
    identical();
    failure(0);
    failure(1);
    resume(dir);
    if (P >= 3) {
        /* ranks 0..P-2 train together on a sub-communicator; the last rank alone */
        MPI_Comm sub;
        MPI_Comm_split(MPI_COMM_WORLD, g_rank == P - 1, g_rank, &sub);
        equivalence(sub, "sub-communicator", (setup){1, 1, 0, 1, MMOE_OPTIMIZER_SGD}, -1);
        MPI_Comm_free(&sub);
    }
    int counts[2] = {g_pass, g_fail};
    MPI_Allreduce(MPI_IN_PLACE, counts, 2, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (g_rank == 0)
        printf("mpi (%d ranks): %d passed, %d failed\n", P, counts[0], counts[1]);
    LEAK_CHECK();
    MPI_Finalize();
    return counts[1] ? 1 : 0;
}
