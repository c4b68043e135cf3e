/*
 * mmoe-mpi-bench: speed of data-parallel training with libmmoe-mpi.
 *
 *     mpirun -np 1 mmoe-mpi-bench --threads 1      1 rank x 1 thread
 *     mpirun -np 1 mmoe-mpi-bench --threads 2      1 rank x 2 threads
 *     mpirun -np 2 mmoe-mpi-bench --threads 1      2 ranks x 1 thread
 *
 * Prints one JSON object per line (rank 0), each with the number of ranks
 * and BLAS threads of the run:
 *   allreduce      MPI_Allreduce (float sum) of n floats: seconds per call
 *                  and the ring-allreduce "bus bandwidth" 2 (P-1)/P * bytes /
 *                  seconds (0 with one rank)
 *   train          samples/s of mmoe_mpi_train_step over all ranks for the
 *                  two shapes of mmoe-bench (A: input 100, 8 experts 16; B:
 *                  input 512, 16 experts 256-128, 4 tasks) at a global batch
 *                  of 256 (256 / P rows per rank), the seconds per step, and
 *                  the seconds per step of the same rank's local work alone
 *                  (mmoe_model_train_step on its rows, no communication);
 *                  bytes sent per step per rank (mmoe_mpi_traffic)
 *   embedding      seconds per step of shape A with one embedding table
 *                  (vocabulary V, width 16, one id per row) whose gradient
 *                  goes through the sparse exchange or the dense allreduce
 *                  (MMOE_MPI_EMBEDDING_EXCHANGE 1 and 2), and the choice the
 *                  cost rule makes (docs/distributed.md)
 *   iallreduce     as allreduce, through MPI_Iallreduce and MPI_Wait (the
 *                  calls the step's gradient buckets use)
 *
 * With --overlap, only this (both shapes, one context each):
 *   overlap        seconds per step and samples/s with the gradient
 *                  buckets' allreduces started during backward
 *                  (MMOE_MPI_OVERLAP 1) and after it (0), medians over
 *                  --reps R reps (default 7) that alternate the order of the
 *                  two modes, with the fastest and slowest rep; --bucket
 *                  sets MMOE_MPI_BUCKET_FLOATS (default: the library's)
 *
 * Timings vary with the machine and its load; compare numbers from one run.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mpi.h>

#include <mmoe/mmoe.h>
#include <mmoe/mpi.h>

static int rank, ranks, threads = 1, quick = 0;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Seconds per call of fn (all ranks start together; rank 0's clock; median of 3 rounds). */
typedef int (*call_fn)(void *ctx);

static double time_calls(call_fn fn, void *ctx, int calls)
{
    double best[3];
    for (int round = 0; round < 3; round++) {
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = now();
        for (int i = 0; i < calls; i++)
            if (fn(ctx))
                return -1.0;
        MPI_Barrier(MPI_COMM_WORLD);
        best[round] = (now() - t0) / calls;
    }
    double a = best[0], b = best[1], c = best[2];
    return a > b ? (b > c ? b : (a > c ? c : a)) : (a > c ? a : (b > c ? c : b));
}

typedef struct ar_ctx {
    float *buf;
    int n;
} ar_ctx;

static int do_allreduce(void *p)
{
    ar_ctx *c = p;
    return MPI_Allreduce(MPI_IN_PLACE, c->buf, c->n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD) !=
           MPI_SUCCESS;
}

/* MPI_Iallreduce and its MPI_Wait: the non-blocking path the step's buckets take. */
static int do_iallreduce(void *p)
{
    ar_ctx *c = p;
    MPI_Request req;
    if (MPI_Iallreduce(MPI_IN_PLACE, c->buf, c->n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &req) !=
        MPI_SUCCESS)
        return 1;
    return MPI_Wait(&req, MPI_STATUS_IGNORE) != MPI_SUCCESS;
}

static void bench_allreduce(void)
{
    static const int sizes[] = {2, 1024, 65536, 1 << 20, 1 << 22};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        ar_ctx c = {calloc((size_t)sizes[i], sizeof(float)), sizes[i]};
        if (!c.buf)
            return;
        int calls = sizes[i] >= (1 << 20) ? (quick ? 2 : 10) : (quick ? 20 : 200);
        for (int nb = 0; nb < 2; nb++) {
            double t = time_calls(nb ? do_iallreduce : do_allreduce, &c, calls);
            double bytes = 4.0 * sizes[i];
            double bw = ranks > 1 ? 2.0 * (ranks - 1) / ranks * bytes / t : 0.0;
            if (rank == 0)
                printf("{\"bench\":\"%s\",\"ranks\":%d,\"floats\":%d,\"seconds\":%.4g,"
                       "\"bus_bytes_per_s\":%.4g}\n",
                       nb ? "iallreduce" : "allreduce", ranks, sizes[i], t, bw);
        }
        free(c.buf);
    }
}

typedef struct shape {
    const char *name;
    size_t input, experts, layers, widths[2], tasks, tower;
    mmoe_task_kind kind;
} shape;

static const shape shapes[] = {
    {"A", 100, 8, 1, {16, 0}, 2, 8, MMOE_TASK_REGRESSION},
    {"B", 512, 16, 2, {256, 128}, 4, 64, MMOE_TASK_BINARY},
};

static mmoe_model *build(const shape *s, uint64_t vocab)
{
    mmoe_config *cfg;
    mmoe_model *m = NULL;
    mmoe_config_create(&cfg);
    mmoe_config_set_int(cfg, "input.dense", (int64_t)s->input);
    mmoe_config_set_int(cfg, "seed", 42);
    mmoe_config_set_experts(cfg, s->experts, s->layers, s->widths, MMOE_ACT_RELU);
    for (size_t k = 0; k < s->tasks; k++) {
        char name[32];
        snprintf(name, sizeof name, "task%zu", k);
        mmoe_config_add_task(cfg, name, s->kind, 1, &s->tower, MMOE_ACT_RELU, 1.0f);
    }
    if (vocab) {
        mmoe_config_set_int(cfg, "input.sparse", 1);
        mmoe_config_set_int(cfg, "sparse.0.vocab", (int64_t)vocab);
        mmoe_config_set_int(cfg, "sparse.0.dim", 16);
    }
    if (mmoe_model_create(cfg, &m) != MMOE_OK)
        fprintf(stderr, "mmoe-mpi-bench: %s\n", mmoe_last_error());
    mmoe_config_free(cfg);
    return m;
}

typedef struct step_ctx {
    mmoe_mpi *mpi;
    mmoe_model *model;
    mmoe_optimizer *opt;
    size_t batch;
    float *x, *y;
    int64_t *ids;
} step_ctx;

static int do_step(void *p)
{
    step_ctx *c = p;
    return mmoe_mpi_train_step(c->mpi, c->opt, c->batch, c->x, c->ids, c->y, NULL, NULL, NULL) !=
           MMOE_OK;
}

static int do_local(void *p)
{
    step_ctx *c = p;
    return mmoe_model_train_step(c->model, c->opt, c->batch, c->x, c->ids, c->y, NULL, NULL,
                                 NULL) != MMOE_OK;
}

/* Model, optimizer and this rank's share of a global batch for shape s (0: failed). */
static int setup_step(const shape *s, uint64_t vocab, size_t global, step_ctx *c)
{
    memset(c, 0, sizeof *c);
    c->batch = global / (size_t)ranks;
    c->model = build(s, vocab);
    if (!c->model || mmoe_optimizer_create(c->model, MMOE_OPTIMIZER_ADAM, &c->opt) != MMOE_OK)
        return 0;
    c->x = malloc(c->batch * s->input * sizeof *c->x);
    c->y = malloc(c->batch * s->tasks * sizeof *c->y);
    c->ids = vocab ? malloc(c->batch * sizeof *c->ids) : NULL;
    if (!c->x || !c->y || (vocab && !c->ids))
        return 0;
    uint64_t z = 12345u + (uint64_t)rank;
    for (size_t i = 0; i < c->batch * s->input; i++) {
        z = z * 6364136223846793005ULL + 1442695040888963407ULL;
        c->x[i] = (float)((z >> 40) & 0xffff) / 65536.0f - 0.5f;
    }
    for (size_t i = 0; i < c->batch * s->tasks; i++)
        c->y[i] = (float)(i % 2);
    for (size_t i = 0; vocab && i < c->batch; i++) {
        z = z * 6364136223846793005ULL + 1442695040888963407ULL;
        c->ids[i] = (int64_t)((z >> 33) % vocab);
    }
    return 1;
}

static void free_step(step_ctx *c)
{
    mmoe_mpi_free(c->mpi);
    mmoe_optimizer_free(c->opt);
    mmoe_model_free(c->model);
    free(c->x);
    free(c->y);
    free(c->ids);
}

/* Steps of shape s with a table of vocab rows (0: none) and the exchange mode; seconds per step. */
static double run(const shape *s, uint64_t vocab, int exchange, size_t global, const char *label)
{
    step_ctx c;
    if (!setup_step(s, vocab, global, &c)) {
        free_step(&c);
        return -1.0;
    }
    double t_local = time_calls(do_local, &c, quick ? 3 : 30); /* also warms the buffers */
    mmoe_mpi_create(MPI_COMM_WORLD, c.model, &c.mpi);
    mmoe_mpi_broadcast(c.mpi, c.opt);
    if (exchange >= 0)
        mmoe_mpi_set(c.mpi, MMOE_MPI_EMBEDDING_EXCHANGE, exchange);
    do_step(&c);
    uint64_t b0, s0, b1, s1;
    mmoe_mpi_traffic(c.mpi, &b0, &s0);
    double t = time_calls(do_step, &c, quick ? 3 : 30);
    mmoe_mpi_traffic(c.mpi, &b1, &s1);
    size_t n;
    mmoe_model_flat(c.model, NULL, NULL, &n);
    if (rank == 0)
        printf("{\"bench\":\"%s\",\"shape\":\"%s\",\"ranks\":%d,\"threads\":%d,\"params\":%zu,"
               "\"vocab\":%llu,\"exchange\":%d,\"global_batch\":%zu,\"samples_per_s\":%.4g,"
               "\"seconds_per_step\":%.4g,\"local_seconds_per_step\":%.4g,"
               "\"bytes_per_step\":%.4g}\n",
               label, s->name, ranks, threads, n, (unsigned long long)vocab, exchange,
               c.batch * (size_t)ranks, (double)(c.batch * (size_t)ranks) / t, t, t_local,
               s1 > s0 ? (double)(b1 - b0) / (double)(s1 - s0) : 0.0);
    free_step(&c);
    return t;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/*
 * Gradient allreduce overlapped with backward or not (MMOE_MPI_OVERLAP 1 /
 * 0) on one context, in reps alternating which mode goes first; each rep
 * times both modes (time_calls); medians and extremes over the reps.
 */
static void overlap_compare(const shape *s, size_t global, double bucket, int reps)
{
    step_ctx c;
    if (!setup_step(s, 0, global, &c) || mmoe_mpi_create(MPI_COMM_WORLD, c.model, &c.mpi)) {
        free_step(&c);
        return;
    }
    mmoe_mpi_broadcast(c.mpi, c.opt);
    if (bucket > 0.0)
        mmoe_mpi_set(c.mpi, MMOE_MPI_BUCKET_FLOATS, bucket);
    int calls = s->input > 200 ? (quick ? 2 : 10) : (quick ? 20 : 200);
    double t[2][64];
    reps = reps > 64 ? 64 : reps;
    do_step(&c);
    for (int r = 0; r < reps; r++)
        for (int i = 0; i < 2; i++) {
            int mode = (r + i) % 2;
            mmoe_mpi_set(c.mpi, MMOE_MPI_OVERLAP, mode);
            do_step(&c);
            t[mode][r] = time_calls(do_step, &c, calls);
        }
    if (rank == 0) {
        double med[2];
        for (int mode = 0; mode < 2; mode++) {
            qsort(t[mode], (size_t)reps, sizeof **t, cmp_double);
            med[mode] =
                reps % 2 ? t[mode][reps / 2] : 0.5 * (t[mode][reps / 2 - 1] + t[mode][reps / 2]);
        }
        double g = (double)(c.batch * (size_t)ranks);
        printf("{\"bench\":\"overlap\",\"shape\":\"%s\",\"ranks\":%d,\"threads\":%d,"
               "\"bucket\":%.0f,\"reps\":%d,\"global_batch\":%.0f,"
               "\"off_samples_per_s\":%.4g,\"on_samples_per_s\":%.4g,"
               "\"off_seconds_per_step\":[%.4g,%.4g,%.4g],"
               "\"on_seconds_per_step\":[%.4g,%.4g,%.4g],\"on_over_off_speed\":%.4f}\n",
               s->name, ranks, threads, bucket, reps, g, g / med[0], g / med[1], t[0][0], med[0],
               t[0][reps - 1], t[1][0], med[1], t[1][reps - 1], med[0] / med[1]);
    }
    free_step(&c);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &ranks);
    int overlap = 0, reps = 7;
    double bucket = 0.0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick"))
            quick = 1;
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--overlap"))
            overlap = 1;
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--bucket") && i + 1 < argc)
            bucket = atof(argv[++i]);
        else {
            if (rank == 0)
                fprintf(stderr, "usage: mmoe-mpi-bench [--quick] [--threads N] "
                                "[--overlap [--reps R] [--bucket FLOATS]]\n");
            MPI_Finalize();
            return 2;
        }
    }
    if (threads > 0)
        mmoe_set_num_threads(threads);
    if (overlap) {
        for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++)
            overlap_compare(&shapes[i], 256, bucket, reps < 1 ? 1 : reps);
        MPI_Finalize();
        return 0;
    }
    bench_allreduce();
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++)
        run(&shapes[i], 0, -1, 256, "train");
    static const uint64_t vocabs[] = {1000, 100000};
    for (size_t i = 0; ranks > 1 && i < sizeof vocabs / sizeof *vocabs; i++)
        for (int mode = 0; mode <= 2; mode++)
            run(&shapes[0], vocabs[i], mode, 256, "embedding");
    MPI_Finalize();
    return 0;
}
