/*
 * One synchronous data-parallel training step (docs/distributed.md):
 *
 *   1. agree    every rank checks its batch, sizes its buffers and lists
 *               the table rows its batch uses; one MPI_Allgather of
 *               (status, rows, rows used per table) per rank: any failure
 *               stops every rank here, with the failing rank's status;
 *   2. fetch    sharded tables: the batch's rows are requested from their
 *               owners (MPI_Alltoall of counts, MPI_Alltoallv of ids, then
 *               of vectors) and fed to the model;
 *   3. compute  zero_grad, forward, loss, backward on the local batch
 *               (synchronised batch-norm reduces through the model's reducer);
 *               the dense gradient is cut into buckets (from the top of the
 *               flat buffer down); with MMOE_MPI_OVERLAP each bucket's
 *               MPI_Iallreduce starts as soon as backward reports its
 *               gradients final (mmoe_model_set_grad_ready);
 *   4. reduce   gradients are weighted by B_r / B (B: the global batch) and
 *               summed: the buckets not yet started start; fed rows'
 *               gradients go back to their owners (MPI_Alltoallv);
 *               replicated tables exchange their touched rows
 *               (MPI_Allgatherv) or join the dense buckets, chosen by cost;
 *               then every bucket completes (MPI_Waitall);
 *   5. losses   one MPI_Allreduce of the weighted task losses and a failure
 *               flag: if any rank's compute or exchange failed, every rank
 *               returns the lowest failing rank's status here;
 *   6. update   mmoe_optimizer_step on every rank (identical gradients give
 *               identical updates; a non-finite gradient anywhere is
 *               non-finite everywhere after the sum, so all refuse).
 */
#include <limits.h>
#include <string.h>

#include "mpi_impl.h"

/* Counts/displacements: 8 arrays of size ints in ctx->cnt. */
enum { SC, SD, RC, RD, VSC, VSD, VRC, VRD };

static int *cnt(mmoe_mpi *ctx, int which)
{
    return ctx->cnt + (size_t)which * (size_t)ctx->size;
}

/* Displacements from counts; -1 when a total exceeds INT_MAX. */
static int displs(const int *c, int *d, int n, size_t *total)
{
    size_t s = 0;
    for (int i = 0; i < n; i++) {
        if (s > (size_t)INT_MAX)
            return -1;
        d[i] = (int)s;
        s += (size_t)c[i];
    }
    *total = s;
    return s > (size_t)INT_MAX ? -1 : 0;
}

static int to_int(size_t v, int *out)
{
    if (v > (size_t)INT_MAX)
        return -1;
    *out = (int)v;
    return 0;
}

/* Buckets a step can have: one per bucket-size of floats plus one per part. */
static size_t max_buckets(const mmoe_mpi *ctx)
{
    return ctx->n_params / ctx->bucket + ctx->n_tables + 2;
}

/* Step 1, local part: checks, reservation, rows used per table, room for the buckets. */
static mmoe_status prepare(mmoe_mpi *ctx, mmoe_optimizer *opt, size_t batch, const float *x,
                           const int64_t *ids, const float *labels, const float *sw)
{
    if (!opt)
        return mpi_fail(ctx, MMOE_ERR_NULL, "mmoe_mpi_train_step: opt is NULL");
    if (mmoe_optimizer_model(opt) != ctx->model)
        return mpi_fail(ctx, MMOE_ERR_INVALID_ARG,
                        "mmoe_mpi_train_step: the optimizer belongs to another model");
    mmoe_status st = mmoe_model_check_batch(ctx->model, batch, x, ids, labels, sw);
    if (st == MMOE_OK)
        st = mmoe_model_reserve(ctx->model, batch);
    if (st)
        return mpi_fail(ctx, st, "%s", mmoe_last_error());
    if (ctx->size == 1)
        return MMOE_OK;
    size_t nb = max_buckets(ctx);
    if (mpi_grow((void **)&ctx->bk, &ctx->bk_cap, nb, sizeof *ctx->bk) ||
        mpi_grow((void **)&ctx->bk_req, &ctx->req_cap, nb, sizeof *ctx->bk_req))
        return mpi_fail(ctx, MMOE_ERR_NOMEM, "no memory for %zu gradient buckets", nb);
    for (size_t k = 0; k < ctx->n_tables; k++) {
        mpi_table *t = &ctx->tables[k];
        if (mpi_grow((void **)&t->rows, &t->cap, batch * t->slots, sizeof *t->rows))
            return mpi_fail(ctx, MMOE_ERR_NOMEM, "no memory for the rows of table %zu", k);
        st = mmoe_model_batch_rows(ctx->model, k, batch, ids, t->rows, t->cap, &t->n_rows);
        if (st)
            return mpi_fail(ctx, st, "%s", mmoe_last_error());
    }
    return MMOE_OK;
}

/*
 * The agreement of a step: per rank (stride n_tables + 2) its status, its
 * batch rows and the rows its batch uses in each table.
 */
static size_t batch_of(const mmoe_mpi *ctx, const int64_t *all, int r)
{
    return (size_t)all[(size_t)r * (ctx->n_tables + 2) + 1];
}

static size_t rows_of(const mmoe_mpi *ctx, const int64_t *all, int r, size_t k)
{
    return (size_t)all[(size_t)r * (ctx->n_tables + 2) + 2 + k];
}

/* ---- sharded tables -------------------------------------------------------------------- */

/* Float offset, in a buffer laid out by peer then table, of peer p's rows of table k. */
static size_t block_start(const mmoe_mpi *ctx, const int *displ, int p, size_t k)
{
    size_t off = (size_t)displ[p];
    for (size_t j = 0; j < k; j++)
        off += (size_t)ctx->kcnt_s[(size_t)p * ctx->n_tables + j] * ctx->tables[j].dim;
    return off;
}

/*
 * Step 2: request the rows of sharded tables this rank's batch uses from
 * their owners (row mod size), serve the requests made to this rank, and
 * feed the vectors received. Layout of every exchange buffer: by peer
 * rank, then by table, then by row (ascending).
 */
static mmoe_status shard_fetch(mmoe_mpi *ctx)
{
    const int P = ctx->size;
    const size_t K = ctx->n_tables;
    int *sc = cnt(ctx, SC), *sd = cnt(ctx, SD), *rc = cnt(ctx, RC), *rd = cnt(ctx, RD);
    int *vsc = cnt(ctx, VSC), *vsd = cnt(ctx, VSD), *vrc = cnt(ctx, VRC), *vrd = cnt(ctx, VRD);
    memset(ctx->kcnt_s, 0, (size_t)P * K * sizeof *ctx->kcnt_s);
    for (size_t k = 0; k < K; k++) {
        const mpi_table *t = &ctx->tables[k];
        for (size_t i = 0; t->sharded && i < t->n_rows; i++)
            ctx->kcnt_s[(size_t)(t->rows[i] % P) * K + k]++;
    }
    mmoe_status st = mpi_check(
        ctx, MPI_Alltoall(ctx->kcnt_s, (int)K, MPI_INT, ctx->kcnt_r, (int)K, MPI_INT, ctx->comm),
        "MPI_Alltoall");
    if (st)
        return st;
    ctx->bytes += (uint64_t)P * K * sizeof(int);
    /* counts: ids to each owner (sc) and from each requester (rc); floats likewise */
    size_t n_ids_s, n_ids_r, n_vec_s, n_vec_r;
    for (int p = 0; p < P; p++) {
        size_t a = 0, b = 0, va = 0, vb = 0;
        for (size_t k = 0; k < K; k++) {
            a += (size_t)ctx->kcnt_s[(size_t)p * K + k];
            b += (size_t)ctx->kcnt_r[(size_t)p * K + k];
            va += (size_t)ctx->kcnt_s[(size_t)p * K + k] * ctx->tables[k].dim;
            vb += (size_t)ctx->kcnt_r[(size_t)p * K + k] * ctx->tables[k].dim;
        }
        if (to_int(a, &sc[p]) || to_int(b, &rc[p]) || to_int(va, &vrc[p]) || to_int(vb, &vsc[p]))
            return mpi_fail(ctx, MMOE_ERR_OVERFLOW, "exchange with rank %d too large for MPI", p);
    }
    if (displs(sc, sd, P, &n_ids_s) || displs(rc, rd, P, &n_ids_r) ||
        displs(vsc, vsd, P, &n_vec_s) || displs(vrc, vrd, P, &n_vec_r))
        return mpi_fail(ctx, MMOE_ERR_OVERFLOW, "exchange too large for MPI");
    if (mpi_grow((void **)&ctx->ids_s, &ctx->ids_s_cap, n_ids_s, sizeof *ctx->ids_s) ||
        mpi_grow((void **)&ctx->ids_r, &ctx->ids_r_cap, n_ids_r, sizeof *ctx->ids_r) ||
        mpi_grow((void **)&ctx->vec_s, &ctx->vec_s_cap, n_vec_s, sizeof *ctx->vec_s) ||
        mpi_grow((void **)&ctx->vec_r, &ctx->vec_r_cap, n_vec_r, sizeof *ctx->vec_r))
        return mpi_fail(ctx, MMOE_ERR_NOMEM, "no memory for the embedding exchange");
    /* ids to send, grouped by owner then table (rows ascending within) */
    for (int p = 0; p < P; p++) {
        size_t pos = (size_t)sd[p];
        for (size_t k = 0; k < K; k++) {
            const mpi_table *t = &ctx->tables[k];
            for (size_t i = 0; t->sharded && i < t->n_rows; i++)
                if (t->rows[i] % P == p)
                    ctx->ids_s[pos++] = t->rows[i];
        }
    }
    ctx->bytes += n_ids_s * sizeof(int64_t);
    st = mpi_check(
        ctx,
        MPI_Alltoallv(ctx->ids_s, sc, sd, MPI_INT64_T, ctx->ids_r, rc, rd, MPI_INT64_T, ctx->comm),
        "MPI_Alltoallv (row ids)");
    if (st)
        return st;
    /* serve: vectors of the rows requested from this rank */
    size_t ip = 0, vp = 0;
    for (int p = 0; p < P; p++)
        for (size_t k = 0; k < K; k++) {
            size_t n = (size_t)ctx->kcnt_r[(size_t)p * K + k];
            if (!n)
                continue;
            st = mmoe_model_read_rows(ctx->model, k, n, ctx->ids_r + ip, ctx->vec_s + vp);
            if (st)
                return mpi_fail(ctx, st, "serving rank %d: %s", p, mmoe_last_error());
            ip += n;
            vp += n * ctx->tables[k].dim;
        }
    ctx->bytes += n_vec_s * sizeof(float);
    st = mpi_check(
        ctx,
        MPI_Alltoallv(ctx->vec_s, vsc, vsd, MPI_FLOAT, ctx->vec_r, vrc, vrd, MPI_FLOAT, ctx->comm),
        "MPI_Alltoallv (row vectors)");
    if (st)
        return st;
    /* feed each sharded table its rows in ascending order */
    for (size_t k = 0; k < K; k++) {
        const mpi_table *t = &ctx->tables[k];
        if (!t->sharded)
            continue;
        if (mpi_grow((void **)&ctx->fed, &ctx->fed_cap, t->n_rows * t->dim, sizeof *ctx->fed))
            return mpi_fail(ctx, MMOE_ERR_NOMEM, "no memory for fed rows");
        /* sc doubles as the cursor of each owner's block for this table (<= INT_MAX) */
        for (int p = 0; p < P; p++)
            sc[p] = (int)block_start(ctx, vrd, p, k);
        for (size_t i = 0; i < t->n_rows; i++) {
            int p = (int)(t->rows[i] % P);
            memcpy(ctx->fed + i * t->dim, ctx->vec_r + sc[p], t->dim * sizeof *ctx->fed);
            sc[p] += (int)t->dim;
        }
        st = mmoe_model_feed_rows(ctx->model, k, t->n_rows, t->rows, ctx->fed);
        if (st)
            return mpi_fail(ctx, st, "%s", mmoe_last_error());
    }
    return MMOE_OK;
}

/*
 * Step 4a: send the fed rows' gradients, weighted by share, back to their
 * owners, who add them in the order of the sending ranks.
 */
static mmoe_status shard_return(mmoe_mpi *ctx, double share)
{
    const int P = ctx->size;
    const size_t K = ctx->n_tables;
    int *vsc = cnt(ctx, VSC), *vsd = cnt(ctx, VSD), *vrc = cnt(ctx, VRC), *vrd = cnt(ctx, VRD);
    int *cur = cnt(ctx, SC);
    /* pack into vec_r's layout (the layout the vectors arrived in) */
    for (size_t k = 0; k < K; k++) {
        const mpi_table *t = &ctx->tables[k];
        if (!t->sharded)
            continue;
        const int64_t *rows;
        const float *g;
        size_t n;
        mmoe_model_fed_grads(ctx->model, k, &rows, &g, &n);
        for (int p = 0; p < P; p++)
            cur[p] = (int)block_start(ctx, vrd, p, k);
        for (size_t i = 0; i < n; i++) {
            int p = (int)(rows[i] % P);
            float *dst = ctx->vec_r + cur[p];
            for (size_t j = 0; j < t->dim; j++)
                dst[j] = (float)(share * (double)g[i * t->dim + j]);
            cur[p] += (int)t->dim;
        }
    }
    size_t n_send = 0;
    for (int p = 0; p < P; p++)
        n_send += (size_t)vrc[p];
    ctx->bytes += n_send * sizeof(float);
    mmoe_status st = mpi_check(
        ctx,
        MPI_Alltoallv(ctx->vec_r, vrc, vrd, MPI_FLOAT, ctx->vec_s, vsc, vsd, MPI_FLOAT, ctx->comm),
        "MPI_Alltoallv (row gradients)");
    if (st)
        return st;
    size_t ip = 0, vp = 0;
    for (int p = 0; p < P; p++)
        for (size_t k = 0; k < K; k++) {
            size_t n = (size_t)ctx->kcnt_r[(size_t)p * K + k];
            if (!n)
                continue;
            st = mmoe_model_add_row_grads(ctx->model, k, n, ctx->ids_r + ip, ctx->vec_s + vp);
            if (st)
                return mpi_fail(ctx, st, "%s", mmoe_last_error());
            ip += n;
            vp += n * ctx->tables[k].dim;
        }
    return MMOE_OK;
}

/* ---- replicated tables and dense gradients --------------------------------------------- */

/*
 * Whether replicated table k exchanges its touched rows this step: the
 * sparse exchange moves about U * (8 + 4 d) bytes per rank (U: rows used
 * over all ranks), a ring allreduce of the table 2 * V * 4 d; the sparse
 * bytes are weighted by the measured relative cost (MMOE_MPI_SPARSE_COST).
 */
static int choose_sparse(const mmoe_mpi *ctx, const int64_t *all, size_t k)
{
    if (ctx->exchange)
        return ctx->exchange == 1;
    const mpi_table *t = &ctx->tables[k];
    double U = 0.0;
    for (int r = 0; r < ctx->size; r++)
        U += (double)rows_of(ctx, all, r, k);
    double sparse = ctx->sparse_cost * U * (8.0 + 4.0 * (double)t->dim);
    double dense = 2.0 * (double)t->vocab * 4.0 * (double)t->dim;
    return sparse < dense;
}

/* Step 4b: replicated tables chosen sparse: all-gather (row, gradient) records, sum in rank order.
 */
static mmoe_status sparse_exchange(mmoe_mpi *ctx, const int64_t *all, float *grads)
{
    const int P = ctx->size;
    int *rc = cnt(ctx, RC), *rd = cnt(ctx, RD);
    int any = 0;
    for (size_t k = 0; k < ctx->n_tables; k++)
        any |= ctx->tables[k].sparse;
    if (!any)
        return MMOE_OK;
    for (int r = 0; r < P; r++) {
        size_t b = 0;
        for (size_t k = 0; k < ctx->n_tables; k++)
            if (ctx->tables[k].sparse)
                b += rows_of(ctx, all, r, k) * (8 + 4 * ctx->tables[k].dim);
        if (to_int(b, &rc[r]))
            return mpi_fail(ctx, MMOE_ERR_OVERFLOW, "sparse exchange too large for MPI");
    }
    size_t total;
    if (displs(rc, rd, P, &total))
        return mpi_fail(ctx, MMOE_ERR_OVERFLOW, "sparse exchange too large for MPI");
    size_t mine = (size_t)rc[ctx->rank];
    if (mpi_grow((void **)&ctx->rec_s, &ctx->rec_s_cap, mine, 1) ||
        mpi_grow((void **)&ctx->rec_r, &ctx->rec_r_cap, total, 1))
        return mpi_fail(ctx, MMOE_ERR_NOMEM, "no memory for the sparse exchange");
    unsigned char *w = ctx->rec_s;
    for (size_t k = 0; k < ctx->n_tables; k++) {
        mpi_table *t = &ctx->tables[k];
        if (!t->sparse)
            continue;
        for (size_t i = 0; i < t->n_rows; i++) {
            float *g = grads + t->offset + (size_t)t->rows[i] * t->dim;
            memcpy(w, &t->rows[i], 8);
            memcpy(w + 8, g, 4 * t->dim);
            memset(g, 0, 4 * t->dim); /* re-added below, in rank order */
            w += 8 + 4 * t->dim;
        }
    }
    ctx->bytes += mine;
    mmoe_status st = mpi_check(
        ctx,
        MPI_Allgatherv(ctx->rec_s, (int)mine, MPI_BYTE, ctx->rec_r, rc, rd, MPI_BYTE, ctx->comm),
        "MPI_Allgatherv (embedding rows)");
    if (st)
        return st;
    const unsigned char *q = ctx->rec_r;
    for (int r = 0; r < P; r++)
        for (size_t k = 0; k < ctx->n_tables; k++) {
            const mpi_table *t = &ctx->tables[k];
            if (!t->sparse)
                continue;
            for (size_t i = rows_of(ctx, all, r, k); i > 0; i--) {
                int64_t row;
                memcpy(&row, q, 8);
                float *g = grads + t->offset + (size_t)row * t->dim;
                for (size_t j = 0; j < t->dim; j++) {
                    float v;
                    memcpy(&v, q + 8 + 4 * j, 4);
                    g[j] += v;
                }
                q += 8 + 4 * t->dim;
            }
        }
    return MMOE_OK;
}

/*
 * Dense buckets: the parts of the flat gradient outside table shards and
 * outside replicated tables exchanged sparsely, each cut from its top
 * down into buckets of at most ctx->bucket floats, listed from the top of
 * the buffer down (the order in which backward finishes them). The cut
 * depends only on the layout, the bucket size and this step's exchange
 * choices, which are the same on every rank.
 */
static void add_segment(mmoe_mpi *ctx, size_t lo, size_t hi)
{
    while (hi > lo) {
        size_t n = hi - lo < ctx->bucket ? hi - lo : ctx->bucket;
        hi -= n;
        ctx->bk[ctx->n_bk++] = (mpi_bucket){hi, n};
    }
}

/* Step 3a: choose each replicated table's exchange, cut the buckets, arm the progress. */
static void plan_buckets(mmoe_mpi *ctx, const int64_t *all, double share)
{
    ctx->n_bk = ctx->bk_next = 0;
    size_t hi = ctx->n_params;
    for (size_t k = ctx->n_tables; k-- > 0;) {
        mpi_table *t = &ctx->tables[k];
        t->sparse = !t->sharded && choose_sparse(ctx, all, k);
        if (!t->sharded && !t->sparse)
            continue;
        add_segment(ctx, t->offset + t->local_rows * t->dim, hi);
        hi = t->offset;
    }
    add_segment(ctx, 0, hi);
    mmoe_model_flat(ctx->model, NULL, &ctx->grads, NULL);
    ctx->mark = ctx->n_params;
    ctx->share = share;
    ctx->bk_st = MMOE_OK;
}

/*
 * Gradients [off, mark) are final: weight them by share (so that the sum
 * is the gradient of the global mean loss) and reduce every bucket that
 * now lies wholly above off: with overlap, start its MPI_Iallreduce;
 * without, MPI_Allreduce it (Open MPI's blocking allreduce has less
 * latency than its non-blocking one, docs/distributed.md). A bucket that
 * fails records the failure and gets no request.
 */
static void advance(mmoe_mpi *ctx, size_t off)
{
    if (off >= ctx->mark)
        return;
    if (ctx->share != 1.0)
        for (size_t i = off; i < ctx->mark; i++)
            ctx->grads[i] = (float)(ctx->share * (double)ctx->grads[i]);
    ctx->mark = off;
    for (; ctx->bk_next < ctx->n_bk && ctx->bk[ctx->bk_next].off >= off; ctx->bk_next++) {
        const mpi_bucket *b = &ctx->bk[ctx->bk_next];
        MPI_Request *req = &ctx->bk_req[ctx->bk_next];
        ctx->bytes += b->n * sizeof *ctx->grads;
        *req = MPI_REQUEST_NULL;
        int rc = ctx->overlap ? MPI_Iallreduce(MPI_IN_PLACE, ctx->grads + b->off, (int)b->n,
                                               MPI_FLOAT, MPI_SUM, ctx->comm, req)
                              : MPI_Allreduce(MPI_IN_PLACE, ctx->grads + b->off, (int)b->n,
                                              MPI_FLOAT, MPI_SUM, ctx->comm);
        if (rc != MPI_SUCCESS) {
            *req = MPI_REQUEST_NULL;
            if (ctx->bk_st == MMOE_OK)
                ctx->bk_st = mpi_check(ctx, rc, "MPI_Iallreduce (gradients)");
        }
    }
}

/* The model's backward-progress callback (overlap on): start what is ready, let MPI progress. */
static mmoe_status grad_ready(void *vctx, size_t offset, size_t n)
{
    (void)n;
    mmoe_mpi *ctx = vctx;
    advance(ctx, offset);
    int done;
    if (ctx->bk_next)
        MPI_Testall((int)ctx->bk_next, ctx->bk_req, &done, MPI_STATUSES_IGNORE);
    return MMOE_OK;
}

/*
 * Step 4: the rest of the gradient of the global mean loss: start the
 * buckets backward has not started, return fed rows' gradients to their
 * owners, exchange sparse tables' rows (blocking collectives, in the same
 * order on every rank while the buckets are in flight), then complete
 * every bucket. Runs on every rank even when its compute failed, so that
 * all ranks make the same collective calls and no request is left open.
 */
static mmoe_status reduce_grads(mmoe_mpi *ctx, const int64_t *all, int any_sharded)
{
    advance(ctx, 0);
    mmoe_status st = MMOE_OK;
    if (any_sharded)
        st = shard_return(ctx, ctx->share);
    if (st == MMOE_OK)
        st = sparse_exchange(ctx, all, ctx->grads);
    int rc = MPI_Waitall((int)ctx->n_bk, ctx->bk_req, MPI_STATUSES_IGNORE);
    mmoe_status wst = mpi_check(ctx, rc, "MPI_Waitall (gradients)");
    return st ? st : ctx->bk_st ? ctx->bk_st : wst;
}

mmoe_status mmoe_mpi_train_step(mmoe_mpi *ctx, mmoe_optimizer *opt, size_t batch, const float *x,
                                const int64_t *ids, const float *labels, const float *sw,
                                float *task_losses, float *total)
{
    if (!ctx)
        return mpi_fail(NULL, MMOE_ERR_NULL, "mmoe_mpi_train_step: ctx is NULL");
    const size_t K = ctx->n_tables, T = ctx->n_tasks;
    mmoe_status local = prepare(ctx, opt, batch, x, ids, labels, sw);
    int64_t vals[1 + 256];
    vals[0] = (int64_t)batch;
    for (size_t k = 0; k < K; k++)
        vals[1 + k] = local == MMOE_OK ? (int64_t)ctx->tables[k].n_rows : 0;
    int64_t *all = NULL;
    mmoe_status st = mpi_agree(ctx, local, vals, 1 + K, &all);
    if (st)
        return st;
    double B = 0.0;
    for (int r = 0; r < ctx->size; r++)
        B += (double)batch_of(ctx, all, r);
    const double share = (double)batch / B;
    mmoe_model *m = ctx->model;
    const int many = ctx->size > 1;
    int any_sharded = 0;
    for (size_t k = 0; k < K; k++)
        any_sharded |= ctx->tables[k].sharded;
    if (many && any_sharded && (st = shard_fetch(ctx)))
        return st;
    if (many) {
        plan_buckets(ctx, all, share);
        if (ctx->overlap)
            mmoe_model_set_grad_ready(m, grad_ready, ctx);
    }
    float tl[64], tot = 0.0f;
    if ((st = mmoe_model_zero_grad(m)) || (st = mmoe_model_forward(m, batch, x, ids)) ||
        (st = mmoe_model_loss(m, labels, sw, tl, &tot)) || (st = mmoe_model_backward(m)))
        st = mpi_fail(ctx, st, "%s", mmoe_model_last_error(m));
    if (many && ctx->overlap)
        mmoe_model_set_grad_ready(m, NULL, NULL);
    if (!many && st)
        return st;
    /*
     * Steps 4 and 6: the buckets complete on every rank whatever happened;
     * the losses' allreduce carries a failure flag, so that a failure in
     * any rank's compute or exchange stops every rank before the update.
     */
    double l[66];
    for (size_t k = 0; k < T; k++)
        l[k] = share * (double)tl[k];
    l[T] = share * (double)tot;
    l[T + 1] = 0.0;
    if (many) {
        mmoe_status rst = reduce_grads(ctx, all, any_sharded);
        if (st == MMOE_OK)
            st = rst;
        l[T + 1] = st != MMOE_OK;
        ctx->bytes += (T + 2) * sizeof *l;
        mmoe_status lst = mpi_check(
            ctx, MPI_Allreduce(MPI_IN_PLACE, l, (int)(T + 2), MPI_DOUBLE, MPI_SUM, ctx->comm),
            "MPI_Allreduce (losses)");
        if (lst)
            return lst;
        if (l[T + 1] > 0.0) /* every rank: the lowest failing rank's status and message */
            return mpi_agree(ctx, st, NULL, 0, NULL);
    }
    if ((st = mmoe_optimizer_step(opt)))
        return mpi_fail(ctx, st, "%s", mmoe_optimizer_last_error(opt));
    for (size_t k = 0; task_losses && k < T; k++)
        task_losses[k] = (float)l[k];
    if (total)
        *total = (float)l[T];
    ctx->steps++;
    ctx->err[0] = '\0';
    return MMOE_OK;
}
