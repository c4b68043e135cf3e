/*
 * libmmoe-mpi context: the duplicated communicator, errors, the agreement
 * collective, the model's reducer, identical start and its check.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mpi_impl.h"

static _Thread_local char tls_err[MPI_ERRLEN];

mmoe_status mpi_fail(mmoe_mpi *ctx, mmoe_status st, const char *fmt, ...)
{
    char msg[MPI_ERRLEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    memcpy(tls_err, msg, sizeof msg);
    if (ctx)
        memcpy(ctx->err, msg, sizeof msg);
    return st;
}

mmoe_status mpi_check(mmoe_mpi *ctx, int rc, const char *what)
{
    if (rc == MPI_SUCCESS)
        return MMOE_OK;
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS)
        snprintf(text, sizeof text, "MPI error %d", rc);
    return mpi_fail(ctx, MMOE_ERR_IO, "%s failed: %s", what, text);
}

int mpi_grow(void **p, size_t *cap, size_t n, size_t elem)
{
    if (n <= *cap)
        return 0;
    if (elem && n > SIZE_MAX / elem)
        return -1;
    void *q = malloc(n * elem > 0 ? n * elem : 1);
    if (!q)
        return -1;
    free(*p);
    *p = q;
    *cap = n;
    return 0;
}

mmoe_status mpi_agree(mmoe_mpi *ctx, mmoe_status local, const int64_t *values, size_t n,
                      int64_t **all)
{
    const size_t w = n + 1;
    if (mpi_grow((void **)&ctx->meta, &ctx->meta_cap, w * (size_t)(ctx->size + 1),
                 sizeof *ctx->meta))
        return mpi_fail(ctx, MMOE_ERR_NOMEM, "no memory for the agreement");
    int64_t *mine = ctx->meta + w * (size_t)ctx->size;
    mine[0] = (int64_t)local;
    for (size_t i = 0; i < n; i++)
        mine[1 + i] = values ? values[i] : 0;
    ctx->bytes += w * sizeof *mine;
    mmoe_status st = mpi_check(
        ctx, MPI_Allgather(mine, (int)w, MPI_INT64_T, ctx->meta, (int)w, MPI_INT64_T, ctx->comm),
        "MPI_Allgather");
    if (st)
        return st;
    if (all)
        *all = ctx->meta;
    int bad = -1;
    for (int r = 0; r < ctx->size && bad < 0; r++)
        if (ctx->meta[(size_t)r * w] != MMOE_OK)
            bad = r;
    if (bad < 0)
        return MMOE_OK;
    char msg[MPI_ERRLEN];
    if (bad == ctx->rank)
        memcpy(msg, ctx->err, sizeof msg);
    msg[sizeof msg - 1] = '\0';
    st = mpi_check(ctx, MPI_Bcast(msg, (int)sizeof msg, MPI_CHAR, bad, ctx->comm), "MPI_Bcast");
    if (st)
        return st;
    msg[sizeof msg - 1] = '\0';
    return mpi_fail(ctx, (mmoe_status)ctx->meta[(size_t)bad * w], "rank %d: %.200s", bad, msg);
}

mmoe_status mpi_bcast_floats(mmoe_mpi *ctx, float *p, size_t n)
{
    for (size_t done = 0; done < n;) {
        int part = n - done > (size_t)INT_MAX ? INT_MAX : (int)(n - done);
        if (ctx->rank == 0)
            ctx->bytes += (uint64_t)part * sizeof *p;
        mmoe_status st =
            mpi_check(ctx, MPI_Bcast(p + done, part, MPI_FLOAT, 0, ctx->comm), "MPI_Bcast");
        if (st)
            return st;
        done += (size_t)part;
    }
    return MMOE_OK;
}

/* The model's reducer: sum across the communicator. */
static mmoe_status reduce_sum(void *vctx, double *v, size_t n)
{
    mmoe_mpi *ctx = vctx;
    if (n > (size_t)INT_MAX)
        return mpi_fail(ctx, MMOE_ERR_OVERFLOW, "reduction of %zu values", n);
    ctx->bytes += n * sizeof *v;
    return mpi_check(ctx, MPI_Allreduce(MPI_IN_PLACE, v, (int)n, MPI_DOUBLE, MPI_SUM, ctx->comm),
                     "MPI_Allreduce (batch statistics)");
}

static uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

#define FNV_START 0xcbf29ce484222325ULL

/* Same value on every rank: all ranks get (max h, max ~h); equal iff max h == min h. */
static mmoe_status same_everywhere(mmoe_mpi *ctx, uint64_t h, int *same)
{
    uint64_t v[2] = {h, ~h};
    ctx->bytes += sizeof v;
    mmoe_status st = mpi_check(
        ctx, MPI_Allreduce(MPI_IN_PLACE, v, 2, MPI_UINT64_T, MPI_MAX, ctx->comm), "MPI_Allreduce");
    *same = st == MMOE_OK && v[0] == ~v[1];
    return st;
}

mmoe_status mpi_load_tables(mmoe_mpi *ctx)
{
    ctx->n_tables = mmoe_model_num_tables(ctx->model);
    ctx->tables = calloc(ctx->n_tables ? ctx->n_tables : 1, sizeof *ctx->tables);
    if (!ctx->tables)
        return mpi_fail(ctx, MMOE_ERR_NOMEM, "no memory for the table list");
    mmoe_config *cfg;
    mmoe_status st = mmoe_model_get_config(ctx->model, &cfg);
    if (st)
        return mpi_fail(ctx, st, "%s", mmoe_last_error());
    for (size_t k = 0; k < ctx->n_tables && st == MMOE_OK; k++) {
        mpi_table *t = &ctx->tables[k];
        size_t rank, world;
        char key[48], val[32];
        snprintf(key, sizeof key, "sparse.%zu.slots", k);
        st = mmoe_model_table(ctx->model, k, &t->vocab, &t->dim, &t->offset, &t->local_rows, &rank,
                              &world);
        if (st == MMOE_OK)
            st = mmoe_config_get(cfg, key, val, sizeof val);
        if (st) {
            st = mpi_fail(ctx, st, "table %zu: %s", k, mmoe_last_error());
            break;
        }
        t->slots = (size_t)strtoull(val, NULL, 10);
        t->sharded = world > 1;
        if (t->sharded && (world != (size_t)ctx->size || rank != (size_t)ctx->rank))
            st = mpi_fail(ctx, MMOE_ERR_INVALID_ARG,
                          "table %zu is shard %zu of %zu; this rank is "
                          "%d of %d",
                          k, rank, world, ctx->rank, ctx->size);
    }
    mmoe_config_free(cfg);
    return st;
}

/* Hash of the model's description text (0 on failure). */
static uint64_t config_hash(const mmoe_model *m)
{
    mmoe_config *cfg = NULL;
    char *text = NULL;
    uint64_t h = 0;
    if (mmoe_model_get_config(m, &cfg) == MMOE_OK && mmoe_config_to_string(cfg, &text) == MMOE_OK)
        h = fnv1a(FNV_START, text, strlen(text));
    mmoe_string_free(text);
    mmoe_config_free(cfg);
    return h;
}

mmoe_status mmoe_mpi_create(MPI_Comm comm, mmoe_model *model, mmoe_mpi **out)
{
    if (!out || !model) {
        if (out)
            *out = NULL;
        return mpi_fail(NULL, MMOE_ERR_NULL, "mmoe_mpi_create: %s is NULL", out ? "model" : "out");
    }
    *out = NULL;
    int init = 0;
    MPI_Initialized(&init);
    if (!init || comm == MPI_COMM_NULL)
        return mpi_fail(NULL, MMOE_ERR_INVALID_ARG, "mmoe_mpi_create: %s",
                        init ? "comm is MPI_COMM_NULL" : "MPI is not initialised");
    mmoe_mpi *ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        return mpi_fail(NULL, MMOE_ERR_NOMEM, "mmoe_mpi_create: no memory");
    ctx->model = model;
    ctx->bucket = (size_t)1 << 20;
    ctx->sparse_cost = 2.0;
    ctx->comm = MPI_COMM_NULL;
    mmoe_status st = mpi_check(ctx, MPI_Comm_dup(comm, &ctx->comm), "MPI_Comm_dup");
    if (st) {
        free(ctx);
        return st;
    }
    MPI_Comm_set_errhandler(ctx->comm, MPI_ERRORS_RETURN);
    MPI_Comm_rank(ctx->comm, &ctx->rank);
    MPI_Comm_size(ctx->comm, &ctx->size);
    mmoe_model_flat(model, NULL, NULL, &ctx->n_params);
    ctx->n_tasks = mmoe_model_num_tasks(model);
    mmoe_status local = mpi_load_tables(ctx);
    size_t pk = (size_t)ctx->size * (ctx->n_tables ? ctx->n_tables : 1);
    ctx->cnt = calloc(8 * (size_t)ctx->size, sizeof *ctx->cnt);
    ctx->kcnt_s = calloc(pk, sizeof *ctx->kcnt_s);
    ctx->kcnt_r = calloc(pk, sizeof *ctx->kcnt_r);
    if (local == MMOE_OK && (!ctx->cnt || !ctx->kcnt_s || !ctx->kcnt_r))
        local = mpi_fail(ctx, MMOE_ERR_NOMEM, "mmoe_mpi_create: no memory");
    st = mpi_agree(ctx, local, NULL, 0, NULL);
    int same = 0;
    uint64_t h = config_hash(model);
    if (st == MMOE_OK && (st = same_everywhere(ctx, h, &same)) == MMOE_OK && !same)
        st = mpi_fail(ctx, MMOE_ERR_INVALID_ARG,
                      "mmoe_mpi_create: the ranks' models have different descriptions");
    if (st) {
        char msg[MPI_ERRLEN];
        memcpy(msg, ctx->err, sizeof msg);
        mmoe_mpi_free(ctx);
        return mpi_fail(NULL, st, "%s", msg);
    }
    mmoe_model_set_reducer(model, reduce_sum, ctx);
    mmoe_model_seed_dropout(model, h ^ (0x9e3779b97f4a7c15ULL * (uint64_t)(ctx->rank + 1)));
    *out = ctx;
    return MMOE_OK;
}

void mmoe_mpi_free(mmoe_mpi *ctx)
{
    if (!ctx)
        return;
    if (ctx->model)
        mmoe_model_set_reducer(ctx->model, NULL, NULL);
    if (ctx->comm != MPI_COMM_NULL)
        MPI_Comm_free(&ctx->comm);
    for (size_t k = 0; ctx->tables && k < ctx->n_tables; k++)
        free(ctx->tables[k].rows);
    free(ctx->tables);
    free(ctx->meta);
    free(ctx->cnt);
    free(ctx->ids_s);
    free(ctx->ids_r);
    free(ctx->kcnt_s);
    free(ctx->kcnt_r);
    free(ctx->vec_s);
    free(ctx->vec_r);
    free(ctx->fed);
    free(ctx->rec_s);
    free(ctx->rec_r);
    free(ctx->bk);
    free(ctx->bk_req);
    free(ctx);
}

int mmoe_mpi_rank(const mmoe_mpi *ctx)
{
    return ctx ? ctx->rank : -1;
}

int mmoe_mpi_size(const mmoe_mpi *ctx)
{
    return ctx ? ctx->size : 0;
}

mmoe_status mmoe_mpi_set(mmoe_mpi *ctx, mmoe_mpi_option option, double value)
{
    if (!ctx)
        return mpi_fail(NULL, MMOE_ERR_NULL, "mmoe_mpi_set: ctx is NULL");
    switch (option) {
    case MMOE_MPI_BUCKET_FLOATS:
        if (!(value >= 64.0 && value <= (double)INT_MAX))
            return mpi_fail(ctx, MMOE_ERR_RANGE, "mmoe_mpi_set: bucket %g not in 64..%d", value,
                            INT_MAX);
        ctx->bucket = (size_t)value;
        return MMOE_OK;
    case MMOE_MPI_EMBEDDING_EXCHANGE:
        if (value != 0.0 && value != 1.0 && value != 2.0)
            return mpi_fail(ctx, MMOE_ERR_RANGE, "mmoe_mpi_set: exchange %g not 0, 1 or 2", value);
        ctx->exchange = (int)value;
        return MMOE_OK;
    case MMOE_MPI_SPARSE_COST:
        if (!(value > 0.0 && value < 1e6))
            return mpi_fail(ctx, MMOE_ERR_RANGE, "mmoe_mpi_set: sparse cost %g not in (0, 1e6)",
                            value);
        ctx->sparse_cost = value;
        return MMOE_OK;
    case MMOE_MPI_OVERLAP:
        if (value != 0.0 && value != 1.0)
            return mpi_fail(ctx, MMOE_ERR_RANGE, "mmoe_mpi_set: overlap %g not 0 or 1", value);
        ctx->overlap = (int)value;
        return MMOE_OK;
    }
    return mpi_fail(ctx, MMOE_ERR_INVALID_ARG, "mmoe_mpi_set: unknown option %d", (int)option);
}

mmoe_status mmoe_mpi_traffic(const mmoe_mpi *ctx, uint64_t *bytes_sent, uint64_t *steps)
{
    if (!ctx)
        return mpi_fail(NULL, MMOE_ERR_NULL, "mmoe_mpi_traffic: ctx is NULL");
    if (bytes_sent)
        *bytes_sent = ctx->bytes;
    if (steps)
        *steps = ctx->steps;
    return MMOE_OK;
}

const char *mmoe_mpi_last_error(const mmoe_mpi *ctx)
{
    return ctx ? ctx->err : tls_err;
}

/* ---- replicated state: broadcast and verification ------------------------------------- */

/*
 * Call fn on every replicated range of a flat-aligned buffer of the model
 * (everything outside table shards), in order.
 */
typedef mmoe_status (*range_fn)(mmoe_mpi *ctx, float *p, size_t n, void *arg);

static mmoe_status each_replicated(mmoe_mpi *ctx, float *buf, range_fn fn, void *arg)
{
    size_t pos = 0;
    mmoe_status st = MMOE_OK;
    for (size_t k = 0; k < ctx->n_tables && st == MMOE_OK; k++) {
        const mpi_table *t = &ctx->tables[k];
        if (!t->sharded)
            continue;
        st = fn(ctx, buf + pos, t->offset - pos, arg);
        pos = t->offset + t->local_rows * t->dim;
    }
    return st ? st : fn(ctx, buf + pos, ctx->n_params - pos, arg);
}

static mmoe_status bcast_range(mmoe_mpi *ctx, float *p, size_t n, void *arg)
{
    (void)arg;
    return mpi_bcast_floats(ctx, p, n);
}

static mmoe_status hash_range(mmoe_mpi *ctx, float *p, size_t n, void *arg)
{
    (void)ctx;
    *(uint64_t *)arg = fnv1a(*(uint64_t *)arg, p, n * sizeof *p);
    return MMOE_OK;
}

static mmoe_status check_opt(mmoe_mpi *ctx, const mmoe_optimizer *opt, const char *func)
{
    if (!opt || mmoe_optimizer_model(opt) == ctx->model)
        return MMOE_OK;
    return mpi_fail(ctx, MMOE_ERR_INVALID_ARG, "%s: the optimizer belongs to another model", func);
}

mmoe_status mmoe_mpi_broadcast(mmoe_mpi *ctx, mmoe_optimizer *opt)
{
    if (!ctx)
        return mpi_fail(NULL, MMOE_ERR_NULL, "mmoe_mpi_broadcast: ctx is NULL");
    mmoe_status st = mpi_agree(ctx, check_opt(ctx, opt, __func__), NULL, 0, NULL);
    float *params, *stats;
    size_t n_stats;
    mmoe_model_flat(ctx->model, &params, NULL, NULL);
    mmoe_model_stats(ctx->model, &stats, &n_stats);
    if (st == MMOE_OK)
        st = each_replicated(ctx, params, bcast_range, NULL);
    if (st == MMOE_OK)
        st = mpi_bcast_floats(ctx, stats, n_stats);
    size_t count = 0;
    if (st == MMOE_OK && opt) {
        mmoe_optimizer_state(opt, 0, NULL, NULL, &count);
        for (size_t b = 0; b < count && st == MMOE_OK; b++) {
            float *s;
            mmoe_optimizer_state(opt, b, &s, NULL, NULL);
            st = each_replicated(ctx, s, bcast_range, NULL);
        }
        uint64_t steps = mmoe_optimizer_steps(opt);
        if (st == MMOE_OK)
            st = mpi_check(ctx, MPI_Bcast(&steps, 1, MPI_UINT64_T, 0, ctx->comm), "MPI_Bcast");
        if (st == MMOE_OK)
            mmoe_optimizer_set_steps(opt, steps);
    }
    return st;
}

mmoe_status mmoe_mpi_verify(mmoe_mpi *ctx, mmoe_optimizer *opt)
{
    if (!ctx)
        return mpi_fail(NULL, MMOE_ERR_NULL, "mmoe_mpi_verify: ctx is NULL");
    mmoe_status st = mpi_agree(ctx, check_opt(ctx, opt, __func__), NULL, 0, NULL);
    if (st)
        return st;
    float *params, *stats;
    size_t n_stats;
    mmoe_model_flat(ctx->model, &params, NULL, NULL);
    mmoe_model_stats(ctx->model, &stats, &n_stats);
    uint64_t h = FNV_START;
    each_replicated(ctx, params, hash_range, &h);
    h = fnv1a(h, stats, n_stats * sizeof *stats);
    if (opt) {
        size_t count = 0;
        mmoe_optimizer_state(opt, 0, NULL, NULL, &count);
        for (size_t b = 0; b < count; b++) {
            float *s;
            mmoe_optimizer_state(opt, b, &s, NULL, NULL);
            each_replicated(ctx, s, hash_range, &h);
        }
        uint64_t steps = mmoe_optimizer_steps(opt);
        h = fnv1a(h, &steps, sizeof steps);
    }
    int same = 0;
    if ((st = same_everywhere(ctx, h, &same)))
        return st;
    if (!same)
        return mpi_fail(ctx, MMOE_ERR_STATE,
                        "mmoe_mpi_verify: the ranks' replicated parameters, "
                        "statistics or optimizer state differ");
    return MMOE_OK;
}
