/*
 * Embedding tables seen from outside (mmoe/parallel.h): their storage and
 * shard, the rows a batch uses, reading stored rows, adding row gradients
 * and feeding rows a shard does not store.
 */
#include <stdlib.h>
#include <string.h>

#include "model_impl.h"

/* Table k of m or a recorded failure (RANGE). */
static mmoe_status get_table(const mmoe_model *m, size_t k, mmoe__table **t, const char *func)
{
    size_t n = mmoe__input_num_tables(&m->input);
    if (k >= n)
        return mmoe__fail(NULL, MMOE_ERR_RANGE, func, "table %zu of %zu", k, n);
    *t = mmoe__input_table(&m->input, k);
    return MMOE_OK;
}

size_t mmoe_model_num_tables(const mmoe_model *m)
{
    return m ? mmoe__input_num_tables(&m->input) : 0;
}

mmoe_status mmoe_model_table(const mmoe_model *m, size_t k, uint64_t *vocab, size_t *dim,
                             size_t *offset, size_t *local_rows, size_t *rank, size_t *world)
{
    if (!m)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "model is NULL");
    mmoe__table *t = NULL;
    mmoe_status st = get_table(m, k, &t, __func__);
    if (st)
        return st;
    if (vocab)
        *vocab = t->emb.vocab;
    if (dim)
        *dim = t->emb.dim;
    if (offset)
        *offset = t->off;
    if (local_rows)
        *local_rows = t->local_rows;
    if (rank)
        *rank = t->emb.world > 1 ? t->emb.rank : 0;
    if (world)
        *world = t->emb.world > 1 ? t->emb.world : 1;
    return MMOE_OK;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Sorted distinct rows of B samples of ids (already checked). */
static mmoe_status list_rows(const mmoe__table *t, size_t n_ids, size_t B, const int64_t *ids,
                             int64_t *rows, size_t cap, size_t *n, const char *func)
{
    size_t count = 0;
    for (size_t r = 0; r < B; r++)
        for (size_t s = 0; s < t->emb.slots; s++)
            count += ids[r * n_ids + t->id_col + s] >= 0;
    if (count > cap) {
        *n = count;
        return mmoe__fail(NULL, MMOE_ERR_INVALID_ARG, func,
                          "rows holds %zu entries; up to %zu are needed", cap, count);
    }
    size_t i = 0;
    for (size_t r = 0; r < B; r++)
        for (size_t s = 0; s < t->emb.slots; s++) {
            int64_t row = mmoe__emb_row(&t->emb, ids[r * n_ids + t->id_col + s]);
            if (row >= 0)
                rows[i++] = row;
        }
    qsort(rows, i, sizeof *rows, cmp_i64);
    size_t u = 0;
    for (size_t j = 0; j < i; j++)
        if (u == 0 || rows[u - 1] != rows[j])
            rows[u++] = rows[j];
    *n = u;
    return MMOE_OK;
}

mmoe_status mmoe_model_batch_rows(const mmoe_model *m, size_t k, size_t batch, const int64_t *ids,
                                  int64_t *rows, size_t cap, size_t *n)
{
    if (!m || !ids || !n || (!rows && cap))
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "%s is NULL",
                         !m     ? "model"
                         : !ids ? "ids"
                         : !n   ? "n"
                                : "rows");
    *n = 0;
    mmoe__table *t = NULL;
    mmoe_status st = get_table(m, k, &t, __func__);
    if (st)
        return st;
    if (batch == 0)
        return MMOE_FAIL(NULL, MMOE_ERR_INVALID_ARG, "batch is 0");
    if ((st = mmoe__input_check_ids(&m->input, batch, ids, NULL, __func__)))
        return st;
    return list_rows(t, m->input.n_ids, batch, ids, rows, cap, n, __func__);
}

mmoe_status mmoe_model_touched_rows(const mmoe_model *m, size_t k, int64_t *rows, size_t cap,
                                    size_t *n)
{
    if (!m || !n || (!rows && cap))
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "%s is NULL", !m ? "model" : !n ? "n" : "rows");
    *n = 0;
    mmoe__table *t = NULL;
    mmoe_status st = get_table(m, k, &t, __func__);
    if (st)
        return st;
    if (!m->have_forward)
        return MMOE_FAIL(NULL, MMOE_ERR_STATE, "no training forward yet");
    return list_rows(t, m->input.n_ids, m->batch, m->tids, rows, cap, n, __func__);
}

/* Every row must be in the table and stored here. */
static mmoe_status check_stored(const mmoe__table *t, size_t k, size_t n, const int64_t *rows,
                                const char *func)
{
    for (size_t i = 0; i < n; i++) {
        if (rows[i] < 0 || (uint64_t)rows[i] >= t->emb.vocab)
            return mmoe__fail(NULL, MMOE_ERR_RANGE, func,
                              "rows[%zu] = %lld: table %zu has "
                              "%llu rows",
                              i, (long long)rows[i], k, (unsigned long long)t->emb.vocab);
        if (!mmoe__emb_stores(&t->emb, rows[i]))
            return mmoe__fail(NULL, MMOE_ERR_RANGE, func,
                              "rows[%zu] = %lld of table %zu is not "
                              "stored by shard %zu of %zu",
                              i, (long long)rows[i], k, t->emb.rank, t->emb.world);
    }
    return MMOE_OK;
}

mmoe_status mmoe_model_read_rows(const mmoe_model *m, size_t k, size_t n, const int64_t *rows,
                                 float *out)
{
    if (!m || (n && (!rows || !out)))
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "%s is NULL", !m ? "model" : !rows ? "rows" : "out");
    mmoe__table *t = NULL;
    mmoe_status st = get_table(m, k, &t, __func__);
    if (st || (st = check_stored(t, k, n, rows, __func__)))
        return st;
    const size_t d = t->emb.dim;
    for (size_t i = 0; i < n; i++)
        memcpy(out + i * d, m->params + t->off + mmoe__emb_local(&t->emb, rows[i]) * d,
               d * sizeof *out);
    return MMOE_OK;
}

mmoe_status mmoe_model_add_row_grads(mmoe_model *m, size_t k, size_t n, const int64_t *rows,
                                     const float *grads)
{
    if (!m || (n && (!rows || !grads)))
        return MMOE_FAIL(m ? m->err : NULL, MMOE_ERR_NULL, "%s is NULL",
                         !m      ? "model"
                         : !rows ? "rows"
                                 : "grads");
    mmoe__table *t = NULL;
    mmoe_status st = get_table(m, k, &t, __func__);
    if (st || (st = check_stored(t, k, n, rows, __func__)))
        return mmoe__forward(m->err, st);
    const size_t d = t->emb.dim;
    for (size_t i = 0; i < n; i++) {
        float *g = m->grads + t->off + mmoe__emb_local(&t->emb, rows[i]) * d;
        for (size_t j = 0; j < d; j++)
            g[j] += grads[i * d + j];
    }
    mmoe__clear(m->err);
    return MMOE_OK;
}

mmoe_status mmoe_model_feed_rows(mmoe_model *m, size_t k, size_t n, const int64_t *rows,
                                 const float *vectors)
{
    if (!m || (n && (!rows || !vectors)))
        return MMOE_FAIL(m ? m->err : NULL, MMOE_ERR_NULL, "%s is NULL",
                         !m      ? "model"
                         : !rows ? "rows"
                                 : "vectors");
    mmoe__table *t = NULL;
    mmoe_status st = get_table(m, k, &t, __func__);
    if (st)
        return mmoe__forward(m->err, st);
    const size_t d = t->emb.dim;
    for (size_t i = 0; i < n; i++) {
        if (rows[i] < 0 || (uint64_t)rows[i] >= t->emb.vocab)
            return MMOE_FAIL(m->err, MMOE_ERR_RANGE, "rows[%zu] = %lld: table %zu has %llu rows", i,
                             (long long)rows[i], k, (unsigned long long)t->emb.vocab);
        if (i && rows[i] <= rows[i - 1])
            return MMOE_FAIL(m->err, MMOE_ERR_INVALID_ARG, "rows are not strictly ascending at %zu",
                             i);
    }
    size_t nv;
    if (mmoe__mul(n, d, &nv) || nv > MMOE__MAX_ELEMS)
        return MMOE_FAIL(m->err, MMOE_ERR_OVERFLOW, "%zu rows too many", n);
    if (!mmoe__all_finite(vectors, nv))
        return MMOE_FAIL(m->err, MMOE_ERR_NONFINITE, "vectors contain NaN or infinity");
    if (n > t->fed_cap) {
        /* Grow to whole batches of this table's slots (rounded up). */
        size_t batch = (n + t->emb.slots - 1) / t->emb.slots;
        if ((st = mmoe__input_reserve_fed(&m->input, batch)))
            return MMOE_FAIL(m->err, st, "no memory for %zu fed rows", n);
    }
    if (n) {
        memcpy(t->fed_rows, rows, n * sizeof *rows);
        memcpy(t->fed_vec, vectors, nv * sizeof *vectors);
        memset(t->fed_grad, 0, nv * sizeof(float));
    }
    t->fed.n = n;
    mmoe__clear(m->err);
    return MMOE_OK;
}

mmoe_status mmoe_model_fed_grads(const mmoe_model *m, size_t k, const int64_t **rows,
                                 const float **grads, size_t *n)
{
    if (!m)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "model is NULL");
    mmoe__table *t = NULL;
    mmoe_status st = get_table(m, k, &t, __func__);
    if (st)
        return st;
    if (rows)
        *rows = t->fed.n ? t->fed_rows : NULL;
    if (grads)
        *grads = t->fed.n ? t->fed_grad : NULL;
    if (n)
        *n = t->fed.n;
    return MMOE_OK;
}
