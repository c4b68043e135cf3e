/*
 * Whole models on rank 0: gathering table shards into one ordinary model
 * (to save or evaluate it), saving checkpoints, and resuming from them by
 * scattering one model (and optimizer) file.
 *
 * Buffers aligned with the flat parameters (parameters, optimizer state)
 * are moved segment by segment: replicated segments are identical on every
 * rank (rank 0's copy is used; scattering broadcasts it), a sharded
 * table's rows travel with MPI_Gatherv / MPI_Scatterv, row i of rank r's
 * shard being table row i * size + r.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "mmoe/io.h"
#include "mpi_impl.h"

/* Rows rank r stores of a table of vocab rows sharded over P ranks. */
static size_t shard_rows(uint64_t vocab, int r, int P)
{
    return vocab > (uint64_t)r ? (size_t)((vocab - (uint64_t)r + (uint64_t)P - 1) / (uint64_t)P)
                               : 0;
}

/* Counts and displacements (floats) of every rank's shard of table t, in ctx->cnt. */
static mmoe_status shard_counts(mmoe_mpi *ctx, const mpi_table *t, int **c, int **d)
{
    *c = ctx->cnt;
    *d = ctx->cnt + ctx->size;
    size_t s = 0;
    for (int r = 0; r < ctx->size; r++) {
        size_t n = shard_rows(t->vocab, r, ctx->size) * t->dim;
        if (n > (size_t)INT_MAX || s > (size_t)INT_MAX)
            return mpi_fail(ctx, MMOE_ERR_OVERFLOW, "table shard too large for MPI");
        (*c)[r] = (int)n;
        (*d)[r] = (int)s;
        s += n;
    }
    return MMOE_OK;
}

/*
 * gather: local (every rank) -> full (rank 0; a buffer of the whole
 * model's layout). scatter: full (rank 0) -> local (every rank).
 */
static mmoe_status move_flat(mmoe_mpi *ctx, float *local, float *full, int gather)
{
    const int P = ctx->size, root = ctx->rank == 0;
    size_t lpos = 0, fpos = 0, biggest = 0;
    for (size_t k = 0; k < ctx->n_tables; k++)
        if (ctx->tables[k].sharded && ctx->tables[k].vocab * ctx->tables[k].dim > biggest)
            biggest = (size_t)ctx->tables[k].vocab * ctx->tables[k].dim;
    mmoe_status st = MMOE_OK;
    if (root && mpi_grow((void **)&ctx->vec_r, &ctx->vec_r_cap, biggest, sizeof(float)))
        st = mpi_fail(ctx, MMOE_ERR_NOMEM, "no memory for a table of %zu floats", biggest);
    if ((st = mpi_agree(ctx, st, NULL, 0, NULL)))
        return st;
    for (size_t k = 0; k <= ctx->n_tables && st == MMOE_OK; k++) {
        const mpi_table *t = k < ctx->n_tables ? &ctx->tables[k] : NULL;
        if (t && !t->sharded)
            continue;
        size_t len = (t ? t->offset : ctx->n_params) - lpos;
        if (root)
            memcpy(gather ? full + fpos : local + lpos, gather ? local + lpos : full + fpos,
                   len * sizeof(float));
        if (!gather)
            st = mpi_bcast_floats(ctx, local + lpos, len);
        lpos += len;
        fpos += len;
        if (!t || st)
            continue;
        int *c, *d;
        if ((st = shard_counts(ctx, t, &c, &d)))
            break;
        size_t whole = (size_t)t->vocab * t->dim;
        float *tmp = ctx->vec_r;
        if (!gather && root)
            for (int r = 0; r < P; r++)
                for (size_t i = 0; i < (size_t)c[r] / t->dim; i++)
                    memcpy(tmp + (size_t)d[r] + i * t->dim,
                           full + fpos + ((size_t)i * (size_t)P + (size_t)r) * t->dim,
                           t->dim * sizeof(float));
        int mine = c[ctx->rank];
        ctx->bytes += (uint64_t)(gather || root ? (size_t)mine : 0) * sizeof(float);
        st = mpi_check(
            ctx,
            gather
                ? MPI_Gatherv(local + lpos, mine, MPI_FLOAT, tmp, c, d, MPI_FLOAT, 0, ctx->comm)
                : MPI_Scatterv(tmp, c, d, MPI_FLOAT, local + lpos, mine, MPI_FLOAT, 0, ctx->comm),
            gather ? "MPI_Gatherv" : "MPI_Scatterv");
        if (st == MMOE_OK && gather && root)
            for (int r = 0; r < P; r++)
                for (size_t i = 0; i < (size_t)c[r] / t->dim; i++)
                    memcpy(full + fpos + ((size_t)i * (size_t)P + (size_t)r) * t->dim,
                           tmp + (size_t)d[r] + i * t->dim, t->dim * sizeof(float));
        lpos += t->local_rows * t->dim;
        fpos += whole;
    }
    return st;
}

static int any_sharded(const mmoe_mpi *ctx)
{
    for (size_t k = 0; k < ctx->n_tables; k++)
        if (ctx->tables[k].sharded)
            return 1;
    return 0;
}

/* Hyper-parameters of an optimizer: 7 values and which the kind uses. */
#define N_HYPER 7

static void copy_hyper(const mmoe_optimizer *from, mmoe_optimizer *to)
{
    for (int p = 0; p < N_HYPER; p++) {
        double v;
        if (mmoe_optimizer_get(from, (mmoe_optimizer_param)p, &v) == MMOE_OK)
            mmoe_optimizer_set(to, (mmoe_optimizer_param)p, v);
    }
}

/* Rank 0: an ordinary model (and optimizer) of ctx's description; others: NULL. */
static mmoe_status make_full(mmoe_mpi *ctx, const mmoe_optimizer *opt, mmoe_model **full,
                             mmoe_optimizer **full_opt)
{
    *full = NULL;
    if (full_opt)
        *full_opt = NULL;
    if (ctx->rank != 0)
        return MMOE_OK;
    mmoe_config *cfg = NULL;
    mmoe_status st = mmoe_model_get_config(ctx->model, &cfg);
    if (st == MMOE_OK)
        st = mmoe_model_create(cfg, full);
    mmoe_config_free(cfg);
    if (st == MMOE_OK && opt && full_opt) {
        mmoe_optimizer_kind kind;
        mmoe_optimizer_kind_of(opt, &kind);
        st = mmoe_optimizer_create(*full, kind, full_opt);
        if (st == MMOE_OK) {
            copy_hyper(opt, *full_opt);
            mmoe_optimizer_set_steps(*full_opt, mmoe_optimizer_steps(opt));
        }
    }
    if (st) {
        st = mpi_fail(ctx, st, "%s", mmoe_last_error());
        mmoe_model_free(*full);
        *full = NULL;
    }
    return st;
}

mmoe_status mmoe_mpi_gather(mmoe_mpi *ctx, mmoe_optimizer *opt, mmoe_model **full,
                            mmoe_optimizer **full_opt)
{
    if (full)
        *full = NULL;
    if (full_opt)
        *full_opt = NULL;
    if (!ctx || !full || (opt && !full_opt))
        return mpi_fail(ctx, MMOE_ERR_NULL, "mmoe_mpi_gather: %s is NULL",
                        !ctx    ? "ctx"
                        : !full ? "full"
                                : "full_opt");
    mmoe_status local = opt && mmoe_optimizer_model(opt) != ctx->model
                            ? mpi_fail(ctx, MMOE_ERR_INVALID_ARG,
                                       "mmoe_mpi_gather: the optimizer belongs to another model")
                            : MMOE_OK;
    if (local == MMOE_OK)
        local = make_full(ctx, opt, full, full_opt);
    mmoe_status st = mpi_agree(ctx, local, NULL, 0, NULL);
    float *lp = NULL, *fp = NULL, *ls = NULL, *fs = NULL;
    size_t ns = 0;
    mmoe_model_flat(ctx->model, &lp, NULL, NULL);
    mmoe_model_stats(ctx->model, &ls, &ns);
    if (*full) {
        mmoe_model_flat(*full, &fp, NULL, NULL);
        mmoe_model_stats(*full, &fs, NULL);
        memcpy(fs, ls, ns * sizeof *fs);
    }
    if (st == MMOE_OK)
        st = move_flat(ctx, lp, fp, 1);
    size_t count = 0;
    if (opt)
        mmoe_optimizer_state(opt, 0, NULL, NULL, &count);
    for (size_t b = 0; b < count && st == MMOE_OK; b++) {
        float *s, *fsb = NULL;
        mmoe_optimizer_state(opt, b, &s, NULL, NULL);
        if (full_opt && *full_opt)
            mmoe_optimizer_state(*full_opt, b, &fsb, NULL, NULL);
        st = move_flat(ctx, s, fsb, 1);
    }
    if (st) {
        if (full_opt && *full_opt) {
            mmoe_optimizer_free(*full_opt);
            *full_opt = NULL;
        }
        mmoe_model_free(*full);
        *full = NULL;
    }
    return st;
}

mmoe_status mmoe_mpi_save(mmoe_mpi *ctx, mmoe_optimizer *opt, const char *model_path,
                          const char *opt_path)
{
    if (!ctx)
        return mpi_fail(NULL, MMOE_ERR_NULL, "mmoe_mpi_save: ctx is NULL");
    mmoe_model *m = ctx->model, *full = NULL;
    mmoe_optimizer *o = opt && opt_path ? opt : NULL, *full_opt = NULL;
    mmoe_status st = MMOE_OK;
    if (any_sharded(ctx)) {
        st = mmoe_mpi_gather(ctx, o, &full, o ? &full_opt : NULL);
        if (st)
            return st;
        m = full;
        o = full_opt;
    }
    mmoe_status local = MMOE_OK;
    if (ctx->rank == 0) {
        if (!model_path)
            local = mpi_fail(ctx, MMOE_ERR_NULL, "mmoe_mpi_save: model_path is NULL on rank 0");
        if (local == MMOE_OK && o && (local = mmoe_optimizer_save(o, opt_path)))
            mpi_fail(ctx, local, "%s", mmoe_last_error());
        if (local == MMOE_OK && (local = mmoe_model_save(m, model_path)))
            mpi_fail(ctx, local, "%s", mmoe_last_error());
    }
    mmoe_optimizer_free(full_opt);
    mmoe_model_free(full);
    return mpi_agree(ctx, local, NULL, 0, NULL);
}

/* Broadcast a NUL-terminated text from rank 0 (*text on rank 0; allocated on the others). */
static mmoe_status bcast_text(mmoe_mpi *ctx, char **text)
{
    uint64_t len = ctx->rank == 0 ? strlen(*text) + 1 : 0;
    mmoe_status st = mpi_check(ctx, MPI_Bcast(&len, 1, MPI_UINT64_T, 0, ctx->comm), "MPI_Bcast");
    if (st)
        return st;
    if (len > (uint64_t)INT_MAX)
        return mpi_fail(ctx, MMOE_ERR_OVERFLOW, "description too long");
    mmoe_status local = MMOE_OK;
    if (ctx->rank != 0 && !(*text = malloc((size_t)len)))
        local = mpi_fail(ctx, MMOE_ERR_NOMEM, "no memory for the description");
    if ((st = mpi_agree(ctx, local, NULL, 0, NULL)))
        return st;
    st = mpi_check(ctx, MPI_Bcast(*text, (int)len, MPI_CHAR, 0, ctx->comm), "MPI_Bcast");
    if (st == MMOE_OK)
        (*text)[len - 1] = '\0';
    return st;
}

mmoe_status mmoe_mpi_load(MPI_Comm comm, const char *path, size_t n_flags,
                          const unsigned char *sharded, mmoe_model **out)
{
    if (!out)
        return mpi_fail(NULL, MMOE_ERR_NULL, "mmoe_mpi_load: out is NULL");
    *out = NULL;
    int init = 0;
    MPI_Initialized(&init);
    if (!init || comm == MPI_COMM_NULL)
        return mpi_fail(NULL, MMOE_ERR_INVALID_ARG, "mmoe_mpi_load: %s",
                        init ? "comm is MPI_COMM_NULL" : "MPI is not initialised");
    mmoe_mpi tmp;
    memset(&tmp, 0, sizeof tmp);
    mmoe_mpi *ctx = &tmp;
    mmoe_status st = mpi_check(NULL, MPI_Comm_dup(comm, &ctx->comm), "MPI_Comm_dup");
    if (st)
        return st;
    MPI_Comm_set_errhandler(ctx->comm, MPI_ERRORS_RETURN);
    MPI_Comm_rank(ctx->comm, &ctx->rank);
    MPI_Comm_size(ctx->comm, &ctx->size);
    mmoe_model *full = NULL, *m = NULL;
    mmoe_config *cfg = NULL;
    char *text = NULL;
    mmoe_status local = MMOE_OK;
    if (ctx->rank == 0) {
        if (!path)
            local = mpi_fail(ctx, MMOE_ERR_NULL, "mmoe_mpi_load: path is NULL on rank 0");
        else if ((local = mmoe_model_load(path, &full)) == MMOE_OK &&
                 (local = mmoe_model_get_config(full, &cfg)) == MMOE_OK)
            local = mmoe_config_to_string(cfg, &text);
        if (local && !ctx->err[0])
            mpi_fail(ctx, local, "%s", mmoe_last_error());
        mmoe_config_free(cfg);
        cfg = NULL;
    }
    st = mpi_agree(ctx, local, NULL, 0, NULL);
    if (st == MMOE_OK)
        st = bcast_text(ctx, &text);
    local = MMOE_OK;
    if (st == MMOE_OK) {
        unsigned char *none = NULL;
        if ((local = mmoe_config_create(&cfg)) == MMOE_OK)
            local = mmoe_config_parse(cfg, text);
        size_t ns = 0;
        if (local == MMOE_OK && !sharded && n_flags == 0) {
            char v[32];
            mmoe_config_get(cfg, "input.sparse", v, sizeof v);
            ns = (size_t)strtoull(v, NULL, 10);
            none = calloc(ns ? ns : 1, 1);
            if (!none)
                local = MMOE_ERR_NOMEM;
        }
        if (local == MMOE_OK)
            local = mmoe_model_create_sharded(cfg, none ? ns : n_flags, none ? none : sharded,
                                              (size_t)ctx->rank, (size_t)ctx->size, &m);
        free(none);
        if (local)
            mpi_fail(ctx, local, "%s", mmoe_last_error());
        ctx->model = m;
        if (local == MMOE_OK)
            local = mpi_load_tables(ctx);
        if (local == MMOE_OK) {
            ctx->cnt = calloc(8 * (size_t)ctx->size, sizeof *ctx->cnt);
            if (!ctx->cnt)
                local = mpi_fail(ctx, MMOE_ERR_NOMEM, "no memory");
        }
        st = mpi_agree(ctx, local, NULL, 0, NULL);
    }
    if (st == MMOE_OK) {
        float *lp, *fp = NULL, *ls, *fs = NULL;
        size_t ns;
        mmoe_model_flat(m, &lp, NULL, &ctx->n_params);
        mmoe_model_stats(m, &ls, &ns);
        if (full) {
            mmoe_model_flat(full, &fp, NULL, NULL);
            mmoe_model_stats(full, &fs, NULL);
            memcpy(ls, fs, ns * sizeof *ls);
        }
        st = move_flat(ctx, lp, fp, 0);
        if (st == MMOE_OK)
            st = mpi_bcast_floats(ctx, ls, ns);
    }
    char msg[MPI_ERRLEN];
    memcpy(msg, ctx->err, sizeof msg);
    if (st)
        mmoe_model_free(m);
    else
        *out = m;
    ctx->model = NULL;
    mmoe_model_free(full);
    mmoe_config_free(cfg);
    if (ctx->rank == 0)
        mmoe_string_free(text);
    else
        free(text);
    for (size_t k = 0; ctx->tables && k < ctx->n_tables; k++)
        free(ctx->tables[k].rows);
    free(ctx->tables);
    free(ctx->meta);
    free(ctx->cnt);
    free(ctx->vec_r);
    MPI_Comm_free(&ctx->comm);
    return st ? mpi_fail(NULL, st, "%s", msg) : MMOE_OK;
}

mmoe_status mmoe_mpi_load_optimizer(mmoe_mpi *ctx, mmoe_optimizer *opt, const char *path)
{
    if (!ctx)
        return mpi_fail(NULL, MMOE_ERR_NULL, "mmoe_mpi_load_optimizer: ctx is NULL");
    mmoe_status local = MMOE_OK;
    if (!opt)
        local = mpi_fail(ctx, MMOE_ERR_NULL, "mmoe_mpi_load_optimizer: opt is NULL");
    else if (mmoe_optimizer_model(opt) != ctx->model)
        local = mpi_fail(ctx, MMOE_ERR_INVALID_ARG,
                         "mmoe_mpi_load_optimizer: the optimizer belongs to another model");
    mmoe_model *full = NULL;
    mmoe_optimizer *full_opt = NULL;
    if (local == MMOE_OK)
        local = make_full(ctx, opt, &full, &full_opt);
    if (local == MMOE_OK && ctx->rank == 0) {
        if (!path)
            local = mpi_fail(ctx, MMOE_ERR_NULL, "mmoe_mpi_load_optimizer: path is NULL on rank 0");
        else if ((local = mmoe_optimizer_load(full_opt, path)))
            mpi_fail(ctx, local, "%s", mmoe_last_error());
    }
    mmoe_optimizer_kind kind = MMOE_OPTIMIZER_SGD;
    if (opt)
        mmoe_optimizer_kind_of(opt, &kind);
    int64_t k64 = (int64_t)kind;
    int64_t *all;
    mmoe_status st = mpi_agree(ctx, local, &k64, 1, &all);
    for (int r = 1; st == MMOE_OK && r < ctx->size; r++)
        if (all[(size_t)r * 2 + 1] != all[1])
            st = mpi_fail(ctx, MMOE_ERR_INVALID_ARG,
                          "mmoe_mpi_load_optimizer: rank %d's "
                          "optimizer is of another kind than rank 0's",
                          r);
    /* hyper-parameters and step count from rank 0 */
    double hyper[N_HYPER + 1] = {0};
    if (st == MMOE_OK && ctx->rank == 0) {
        for (int p = 0; p < N_HYPER; p++)
            if (mmoe_optimizer_get(full_opt, (mmoe_optimizer_param)p, &hyper[p]) != MMOE_OK)
                hyper[p] = -1.0; /* unused by the kind */
    }
    uint64_t steps = full_opt ? mmoe_optimizer_steps(full_opt) : 0;
    if (st == MMOE_OK)
        st = mpi_check(ctx, MPI_Bcast(hyper, N_HYPER, MPI_DOUBLE, 0, ctx->comm), "MPI_Bcast");
    if (st == MMOE_OK)
        st = mpi_check(ctx, MPI_Bcast(&steps, 1, MPI_UINT64_T, 0, ctx->comm), "MPI_Bcast");
    size_t count = 0;
    if (st == MMOE_OK)
        mmoe_optimizer_state(opt, 0, NULL, NULL, &count);
    for (size_t b = 0; b < count && st == MMOE_OK; b++) {
        float *s, *fs = NULL;
        mmoe_optimizer_state(opt, b, &s, NULL, NULL);
        if (full_opt)
            mmoe_optimizer_state(full_opt, b, &fs, NULL, NULL);
        st = move_flat(ctx, s, fs, 0);
    }
    if (st == MMOE_OK) {
        for (int p = 0; p < N_HYPER; p++)
            if (hyper[p] >= 0.0)
                mmoe_optimizer_set(opt, (mmoe_optimizer_param)p, hyper[p]);
        mmoe_optimizer_set_steps(opt, steps);
    }
    mmoe_optimizer_free(full_opt);
    mmoe_model_free(full);
    return st;
}
