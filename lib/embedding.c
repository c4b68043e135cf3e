/* Embedding lookups with single ids and pooled bags; row-sparse gradients. */
#include <math.h>
#include <string.h>

#include "embedding.h"
#include "mmoe/layer.h"
#include "rng.h"
#include "tensor_impl.h"

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

int64_t mmoe__emb_row(const mmoe__emb *e, int64_t id)
{
    if (id < 0)
        return -1;
    if ((uint64_t)id < e->vocab)
        return id;
    return (int64_t)(mix64((uint64_t)id) % e->vocab);
}

mmoe__emb_bad mmoe__emb_check(const mmoe__emb *e, size_t B, const int64_t *ids, size_t ldid,
                              size_t *bad_row, size_t *bad_slot)
{
    for (size_t r = 0; r < B; r++) {
        const int64_t *id = ids + r * ldid;
        for (size_t s = 0; s < e->slots; s++) {
            mmoe__emb_bad why = MMOE__EMB_OK;
            if (id[s] < 0)
                why = e->slots == 1 ? MMOE__EMB_NEGATIVE : MMOE__EMB_OK;
            else if ((uint64_t)id[s] >= e->vocab && !e->hash)
                why = MMOE__EMB_OOV;
            if (why) {
                *bad_row = r;
                *bad_slot = s;
                return why;
            }
        }
    }
    return MMOE__EMB_OK;
}

void mmoe__emb_init(const mmoe__emb *e, float *table, uint64_t seed, uint64_t stream)
{
    mmoe__rng r;
    mmoe__rng_seed(&r, seed, stream);
    double sd = 1.0 / sqrt((double)e->dim);
    const size_t d = e->dim;
    for (uint64_t row = 0; row < e->vocab; row++) {
        int keep = mmoe__emb_stores(e, (int64_t)row);
        float *t = table + mmoe__emb_local(e, (int64_t)row) * d;
        for (size_t j = 0; j < d; j++) {
            float v = (float)(sd * mmoe__rng_normal(&r));
            if (keep)
                t[j] = v;
        }
    }
}

long mmoe__emb_fed_find(const mmoe__emb_fed *fed, int64_t row)
{
    if (!fed)
        return -1;
    size_t lo = 0, hi = fed->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (fed->rows[mid] < row)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < fed->n && fed->rows[lo] == row ? (long)lo : -1;
}

int mmoe__emb_check_stored(const mmoe__emb *e, const mmoe__emb_fed *fed, size_t B,
                           const int64_t *ids, size_t ldid, size_t *bad_row, size_t *bad_slot)
{
    if (e->world <= 1)
        return 0;
    for (size_t r = 0; r < B; r++)
        for (size_t s = 0; s < e->slots; s++) {
            int64_t row = mmoe__emb_row(e, ids[r * ldid + s]);
            if (row >= 0 && !mmoe__emb_stores(e, row) && mmoe__emb_fed_find(fed, row) < 0) {
                *bad_row = r;
                *bad_slot = s;
                return 1;
            }
        }
    return 0;
}

/* Vector of a table row: the fed one if fed, else the stored one. */
static const float *row_vec(const mmoe__emb *e, const float *table, const mmoe__emb_fed *fed,
                            int64_t row)
{
    long f = fed && fed->n ? mmoe__emb_fed_find(fed, row) : -1;
    if (f >= 0)
        return fed->vec + (size_t)f * e->dim;
    return table + mmoe__emb_local(e, row) * e->dim;
}

/* Gradient of a table row: the fed one if fed, else the stored one. */
static float *row_grad(const mmoe__emb *e, float *dtable, const mmoe__emb_fed *fed, int64_t row)
{
    long f = fed && fed->n ? mmoe__emb_fed_find(fed, row) : -1;
    if (f >= 0)
        return fed->grad + (size_t)f * e->dim;
    return dtable + mmoe__emb_local(e, row) * e->dim;
}

void mmoe__emb_forward(const mmoe__emb *e, const float *table, const mmoe__emb_fed *fed, size_t B,
                       const int64_t *ids, size_t ldid, float *out, size_t ldo)
{
    const size_t d = e->dim;
    for (size_t r = 0; r < B; r++) {
        const int64_t *id = ids + r * ldid;
        float *o = out + r * ldo;
        if (e->slots == 1) {
            memcpy(o, row_vec(e, table, fed, mmoe__emb_row(e, id[0])), d * sizeof *o);
            continue;
        }
        memset(o, 0, d * sizeof *o);
        size_t count = 0;
        for (size_t s = 0; s < e->slots; s++) {
            int64_t row = mmoe__emb_row(e, id[s]);
            if (row < 0)
                continue;
            const float *t = row_vec(e, table, fed, row);
            for (size_t j = 0; j < d; j++)
                o[j] += t[j];
            count++;
        }
        if (!e->sum && count > 1) {
            float inv = 1.0f / (float)count;
            for (size_t j = 0; j < d; j++)
                o[j] *= inv;
        }
    }
}

void mmoe__emb_backward(const mmoe__emb *e, float *dtable, const mmoe__emb_fed *fed, size_t B,
                        const int64_t *ids, size_t ldid, const float *dout, size_t lddo)
{
    const size_t d = e->dim;
    for (size_t r = 0; r < B; r++) {
        const int64_t *id = ids + r * ldid;
        const float *g = dout + r * lddo;
        float scale = 1.0f;
        if (!e->sum && e->slots > 1) {
            size_t count = 0;
            for (size_t s = 0; s < e->slots; s++)
                count += id[s] >= 0;
            if (count == 0)
                continue;
            scale = 1.0f / (float)count;
        }
        for (size_t s = 0; s < e->slots; s++) {
            int64_t row = mmoe__emb_row(e, id[s]);
            if (row < 0)
                continue;
            float *t = row_grad(e, dtable, fed, row);
            for (size_t j = 0; j < d; j++)
                t[j] += scale * g[j];
        }
    }
}

/* ---- public embedding handle ---------------------------------------------------------------- */

struct mmoe_embedding {
    mmoe__emb e;
    float *table, *grad;
    mmoe_tensor value, gradt;
    int64_t *ids;   /* ids of the last forward [batch, slots] */
    size_t ids_cap; /* rows the id cache holds */
    size_t batch;
    int have_forward;
    char err[MMOE__ERRLEN];
};

mmoe_status mmoe_embedding_create(uint64_t vocab, size_t dim, size_t slots, mmoe_pooling pooling,
                                  mmoe_oov oov, uint64_t seed, mmoe_embedding **out)
{
    if (!out)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "out is NULL");
    *out = NULL;
    if (vocab < 1 || vocab > ((uint64_t)1 << 31))
        return MMOE_FAIL(NULL, MMOE_ERR_INVALID_ARG, "vocab %llu not in 1..2^31",
                         (unsigned long long)vocab);
    if (dim < 1 || dim > 4096 || slots < 1 || slots > 4096)
        return MMOE_FAIL(NULL, MMOE_ERR_INVALID_ARG, "%s %zu not in 1..4096",
                         dim < 1 || dim > 4096 ? "dim" : "slots",
                         dim < 1 || dim > 4096 ? dim : slots);
    if (pooling != MMOE_POOL_MEAN && pooling != MMOE_POOL_SUM)
        return MMOE_FAIL(NULL, MMOE_ERR_INVALID_ARG, "unknown pooling %d", (int)pooling);
    if (oov != MMOE_OOV_ERROR && oov != MMOE_OOV_HASH)
        return MMOE_FAIL(NULL, MMOE_ERR_INVALID_ARG, "unknown oov treatment %d", (int)oov);
    size_t n = (size_t)vocab * dim; /* <= 2^43 */
    if (n > MMOE__MAX_ELEMS)
        return MMOE_FAIL(NULL, MMOE_ERR_NOMEM, "table of %zu floats is too large", n);
    mmoe_embedding *m = mmoe__calloc(1, sizeof *m);
    if (!m)
        return MMOE_FAIL(NULL, MMOE_ERR_NOMEM, "no memory for the embedding");
    m->table = mmoe__malloc(n * sizeof(float));
    m->grad = mmoe__calloc(n, sizeof(float));
    if (!m->table || !m->grad) {
        mmoe_embedding_free(m);
        return MMOE_FAIL(NULL, MMOE_ERR_NOMEM, "no memory for a table of %zu floats", n);
    }
    m->e.vocab = vocab;
    m->e.dim = dim;
    m->e.slots = slots;
    m->e.sum = pooling == MMOE_POOL_SUM;
    m->e.hash = oov == MMOE_OOV_HASH;
    mmoe__emb_init(&m->e, m->table, seed, 0x1e0000u);
    int64_t shape[2] = {(int64_t)vocab, (int64_t)dim};
    mmoe__tensor_view(&m->value, m->table, 2, shape);
    mmoe__tensor_view(&m->gradt, m->grad, 2, shape);
    *out = m;
    return MMOE_OK;
}

void mmoe_embedding_free(mmoe_embedding *emb)
{
    if (!emb)
        return;
    mmoe__free(emb->table);
    mmoe__free(emb->grad);
    mmoe__free(emb->ids);
    mmoe__free(emb);
}

mmoe_status mmoe_embedding_forward(mmoe_embedding *emb, size_t batch, const int64_t *ids,
                                   mmoe_tensor *output)
{
    if (!emb)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "embedding is NULL");
    if (!ids || !output)
        return MMOE_FAIL(emb->err, MMOE_ERR_NULL, "%s is NULL", ids ? "output" : "ids");
    if (batch == 0)
        return MMOE_FAIL(emb->err, MMOE_ERR_INVALID_ARG, "batch is 0");
    if (!mmoe__tensor_is_2d(output, batch, emb->e.dim))
        return MMOE_FAIL(emb->err, MMOE_ERR_SHAPE, "output must be [%zu, %zu]", batch, emb->e.dim);
    size_t nid;
    if (mmoe__mul(batch, emb->e.slots, &nid) || nid > MMOE__MAX_ELEMS)
        return MMOE_FAIL(emb->err, MMOE_ERR_OVERFLOW, "batch %zu too large", batch);
    size_t r, s;
    mmoe__emb_bad why = mmoe__emb_check(&emb->e, batch, ids, emb->e.slots, &r, &s);
    if (why)
        return MMOE_FAIL(emb->err, MMOE_ERR_RANGE, "ids[%zu][%zu] = %lld: %s", r, s,
                         (long long)ids[r * emb->e.slots + s],
                         why == MMOE__EMB_NEGATIVE ? "negative single id"
                                                   : "not below the vocabulary size (oov error)");
    if (batch > emb->ids_cap) {
        int64_t *c = mmoe__malloc(nid * sizeof *c);
        if (!c)
            return MMOE_FAIL(emb->err, MMOE_ERR_NOMEM, "no memory for %zu ids", nid);
        mmoe__free(emb->ids);
        emb->ids = c;
        emb->ids_cap = batch;
    }
    memcpy(emb->ids, ids, nid * sizeof *ids);
    mmoe__emb_forward(&emb->e, emb->table, NULL, batch, emb->ids, emb->e.slots, output->data,
                      emb->e.dim);
    emb->batch = batch;
    emb->have_forward = 1;
    mmoe__clear(emb->err);
    return MMOE_OK;
}

mmoe_status mmoe_embedding_backward(mmoe_embedding *emb, const mmoe_tensor *grad_output)
{
    if (!emb)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "embedding is NULL");
    if (!grad_output)
        return MMOE_FAIL(emb->err, MMOE_ERR_NULL, "grad_output is NULL");
    if (!emb->have_forward)
        return MMOE_FAIL(emb->err, MMOE_ERR_STATE, "backward called before forward");
    if (!mmoe__tensor_is_2d(grad_output, emb->batch, emb->e.dim))
        return MMOE_FAIL(emb->err, MMOE_ERR_SHAPE,
                         "grad_output must be [%zu, %zu] (batch of the last forward)", emb->batch,
                         emb->e.dim);
    if (!mmoe__all_finite(grad_output->data, grad_output->numel))
        return MMOE_FAIL(emb->err, MMOE_ERR_NONFINITE, "grad_output has NaN or infinite values");
    mmoe__emb_backward(&emb->e, emb->grad, NULL, emb->batch, emb->ids, emb->e.slots,
                       grad_output->data, emb->e.dim);
    mmoe__clear(emb->err);
    return MMOE_OK;
}

mmoe_status mmoe_embedding_zero_grad(mmoe_embedding *emb)
{
    if (!emb)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "embedding is NULL");
    memset(emb->grad, 0, (size_t)emb->e.vocab * emb->e.dim * sizeof(float));
    mmoe__clear(emb->err);
    return MMOE_OK;
}

mmoe_status mmoe_embedding_param(mmoe_embedding *emb, const char **name, mmoe_tensor **value,
                                 mmoe_tensor **grad)
{
    if (!emb)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "embedding is NULL");
    if (name)
        *name = "weight";
    if (value)
        *value = &emb->value;
    if (grad)
        *grad = &emb->gradt;
    return MMOE_OK;
}

const char *mmoe_embedding_last_error(const mmoe_embedding *emb)
{
    return emb ? emb->err : "";
}
