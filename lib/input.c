/*
 * Input stage: embeddings of the sparse features and the dense columns
 * assembled into x0, then an optional CrossNet and an optional DNN.
 *
 *   x0 = [ emb_0 | ... | emb_{S-1} | dense ]     width E + dense, E = sum of dims
 *
 * Ids: every sample has n_ids = sum of slots int64 ids, feature after
 * feature (feature k's slots start at column sum_{j<k} slots_j).
 *
 * Forward buffers: x0, then the CrossNet's (layers + 1), then the DNN's.
 * The backward buffers of the same shapes carry gradients: the DNN writes
 * dL/d(its input) straight into the CrossNet's output-gradient buffer (or
 * into x0's when there is no CrossNet), and the embedding tables read the
 * gradient of their columns of x0. The model takes no gradient with
 * respect to the dense input, so without sparse features that last step
 * is skipped.
 *
 * Parameters: "input.embeddings.K.weight" [vocab, dim],
 * "input.cross.L.weight/bias", "input.dnn.L.weight/bias",
 * "input.dnn.L.bn.gamma/beta"; statistics "input.dnn.L.bn.running_mean/var".
 */
#include <string.h>

#include "crossnet.h"
#include "dnn.h"
#include "embedding.h"
#include "input.h"
#include "model_impl.h"

typedef struct feature {
    char name[MMOE__NAME_MAX];
    mmoe__table t;
    size_t col; /* first column in x0 */
} feature;

typedef struct input_impl {
    size_t n_sparse;
    feature feat[MMOE__MAX_SPARSE];
    mmoe__sparse_block blocks[MMOE__MAX_SPARSE];
    size_t x0w;       /* width of x0 */
    size_t dense_col; /* first dense column in x0 */
    int has_cross, has_dnn;
    mmoe__cross cross;
    mmoe__dnn dnn;
    size_t cross_base, dnn_base, n_bufs; /* buffer indices */
} input_impl;

mmoe_status mmoe__input_setup(mmoe__input *in, const mmoe_config *c, char *err)
{
    memset(in, 0, sizeof *in);
    in->dense = c->input_dense;
    in->out = c->input_dense;
    if (!c->n_sparse && !c->cross_layers && !c->dnn_layers)
        return MMOE_OK;
    if (c->n_sparse > MMOE__MAX_SPARSE || c->cross_layers > MMOE__CROSS_MAX_LAYERS ||
        c->dnn_layers > MMOE_MAX_LAYERS || !(c->dnn_dropout >= 0.0 && c->dnn_dropout < 1.0))
        return MMOE_FAIL(err, MMOE_ERR_CONFIG, "input stage out of range");
    input_impl *p = mmoe__calloc(1, sizeof *p);
    if (!p)
        return MMOE_FAIL(err, MMOE_ERR_NOMEM, "no memory for the input stage");
    size_t col = 0, ids = 0;
    for (size_t k = 0; k < c->n_sparse; k++) {
        const mmoe__sparse_cfg *s = &c->sparse[k];
        feature *f = &p->feat[k];
        memcpy(f->name, s->name, sizeof f->name);
        f->t.emb.vocab = s->vocab;
        f->t.emb.dim = s->dim;
        f->t.emb.slots = s->slots;
        f->t.emb.sum = s->pooling == 1;
        f->t.emb.hash = s->oov == 1;
        f->col = col;
        f->t.id_col = ids;
        f->t.emb.world = 1;
        f->t.local_rows = (size_t)s->vocab;
        /* dims and slots are <= 4096 and there are <= 256 features: no overflow. */
        col += s->dim;
        ids += s->slots;
    }
    p->n_sparse = c->n_sparse;
    p->dense_col = col;
    if (mmoe__add(col, c->input_dense, &p->x0w) || p->x0w > MMOE__MAX_INPUT) {
        mmoe__free(p);
        return MMOE_FAIL(err, MMOE_ERR_CONFIG, "assembled input width too large");
    }
    size_t nb = 1, width = p->x0w;
    if (c->cross_layers) {
        p->has_cross = 1;
        p->cross.width = p->x0w;
        p->cross.layers = c->cross_layers;
        p->cross.matrix = c->cross_form == 1;
        p->cross_base = nb;
        nb += c->cross_layers + 1;
    }
    if (c->dnn_layers) {
        p->has_dnn = 1;
        p->dnn.in = width;
        p->dnn.n_layers = c->dnn_layers;
        memcpy(p->dnn.width, c->dnn_widths, c->dnn_layers * sizeof *c->dnn_widths);
        p->dnn.act = c->dnn_act;
        p->dnn.bn = c->dnn_batchnorm;
        p->dnn.dropout = c->dnn_dropout;
        if (mmoe__dnn_alloc(&p->dnn)) {
            mmoe__free(p);
            return MMOE_FAIL(err, MMOE_ERR_NOMEM, "no memory for the input stage");
        }
        p->dnn_base = nb;
        nb += c->dnn_layers * (1 + (c->dnn_batchnorm ? 2 : 0) + (c->dnn_dropout > 0.0 ? 2 : 0));
        width = c->dnn_widths[c->dnn_layers - 1];
    }
    p->n_bufs = nb; /* <= 1 + 17 + 8 * 5 = 58 */
    in->active = 1;
    in->n_ids = ids;
    in->out = width;
    in->impl = p;
    return MMOE_OK;
}

void mmoe__input_free(mmoe__input *in)
{
    input_impl *p = in ? in->impl : NULL;
    if (!p)
        return;
    for (size_t k = 0; k < p->n_sparse; k++) {
        mmoe__free(p->feat[k].t.fed_rows);
        mmoe__free(p->feat[k].t.fed_vec);
        mmoe__free(p->feat[k].t.fed_grad);
    }
    mmoe__dnn_free(&p->dnn);
    mmoe__free(p);
    in->impl = NULL;
}

size_t mmoe__input_num_tables(const mmoe__input *in)
{
    const input_impl *p = in->impl;
    return in->active ? p->n_sparse : 0;
}

mmoe__table *mmoe__input_table(const mmoe__input *in, size_t k)
{
    input_impl *p = in->impl;
    return &p->feat[k].t;
}

void mmoe__input_shard(mmoe__input *in, size_t k, size_t rank, size_t world)
{
    mmoe__table *t = mmoe__input_table(in, k);
    t->emb.rank = rank;
    t->emb.world = world;
    t->local_rows = (size_t)mmoe__emb_shard_rows(t->emb.vocab, rank, world);
}

void mmoe__input_set_reducer(mmoe__input *in, mmoe__reducer *red)
{
    input_impl *p = in->impl;
    if (in->active)
        p->dnn.red = red;
}

mmoe_status mmoe__input_reserve_fed(mmoe__input *in, size_t batch)
{
    for (size_t k = 0; k < mmoe__input_num_tables(in); k++) {
        mmoe__table *t = mmoe__input_table(in, k);
        size_t rows, floats;
        if (mmoe__mul(batch, t->emb.slots, &rows) || mmoe__mul(rows, t->emb.dim, &floats) ||
            floats > MMOE__MAX_ELEMS)
            return MMOE_ERR_OVERFLOW;
        if (rows <= t->fed_cap)
            continue;
        int64_t *r = mmoe__malloc(rows * sizeof *r);
        float *v = mmoe__malloc(floats * sizeof *v), *g = mmoe__malloc(floats * sizeof *g);
        if (!r || !v || !g) {
            mmoe__free(r);
            mmoe__free(v);
            mmoe__free(g);
            return MMOE_ERR_NOMEM;
        }
        if (t->fed.n) {
            memcpy(r, t->fed_rows, t->fed.n * sizeof *r);
            memcpy(v, t->fed_vec, t->fed.n * t->emb.dim * sizeof *v);
            memcpy(g, t->fed_grad, t->fed.n * t->emb.dim * sizeof *g);
        }
        mmoe__free(t->fed_rows);
        mmoe__free(t->fed_vec);
        mmoe__free(t->fed_grad);
        t->fed_rows = r;
        t->fed_vec = v;
        t->fed_grad = g;
        t->fed_cap = rows;
        t->fed.rows = r;
        t->fed.vec = v;
        t->fed.grad = g;
    }
    return MMOE_OK;
}

mmoe_status mmoe__input_check_stored(const mmoe__input *in, size_t B, const int64_t *ids, char *err,
                                     const char *func)
{
    for (size_t k = 0; k < mmoe__input_num_tables(in); k++) {
        const mmoe__table *t = mmoe__input_table(in, k);
        size_t r, s;
        if (!mmoe__emb_check_stored(&t->emb, &t->fed, B, ids + t->id_col, in->n_ids, &r, &s))
            continue;
        int64_t row = mmoe__emb_row(&t->emb, ids[r * in->n_ids + t->id_col + s]);
        return mmoe__fail(err, MMOE_ERR_STATE, func,
                          "ids[%zu][%zu]: row %lld of table %zu is stored by shard %llu of %zu "
                          "and was not fed (mmoe_model_feed_rows)",
                          r, t->id_col + s, (long long)row, k,
                          (unsigned long long)((uint64_t)row % t->emb.world), t->emb.world);
    }
    return MMOE_OK;
}

void mmoe__input_zero_fed(const mmoe__input *in)
{
    for (size_t k = 0; k < mmoe__input_num_tables(in); k++) {
        mmoe__table *t = mmoe__input_table(in, k);
        if (t->fed.n)
            memset(t->fed_grad, 0, t->fed.n * t->emb.dim * sizeof(float));
    }
}

size_t mmoe__input_buffers(const mmoe__input *in, size_t *widths)
{
    const input_impl *p = in->impl;
    if (!in->active)
        return 0;
    widths[0] = p->x0w;
    if (p->has_cross)
        mmoe__cross_buffers(&p->cross, widths + p->cross_base);
    if (p->has_dnn)
        mmoe__dnn_buffers(&p->dnn, widths + p->dnn_base);
    return p->n_bufs;
}

void mmoe__input_declare(mmoe__input *in, mmoe__registry *params, mmoe__registry *stats)
{
    input_impl *p = in->impl;
    if (!in->active)
        return;
    for (size_t k = 0; k < p->n_sparse; k++) {
        feature *f = &p->feat[k];
        f->t.off = mmoe__reg_block(params, f->t.local_rows, f->t.emb.dim);
        mmoe__reg_name(params, f->t.off, f->t.local_rows, f->t.emb.dim,
                       "input.embeddings.%zu.weight", k);
        p->blocks[k].offset = f->t.off;
        p->blocks[k].rows = f->t.local_rows;
        p->blocks[k].dim = f->t.emb.dim;
        p->blocks[k].sharded = f->t.emb.world > 1;
    }
    if (p->has_cross)
        mmoe__cross_declare(&p->cross, params, "input.cross");
    if (p->has_dnn)
        mmoe__dnn_declare(&p->dnn, params, stats, "input.dnn");
}

void mmoe__input_init(const mmoe__input *in, float *params, float *stats, uint64_t seed)
{
    input_impl *p = in->impl;
    if (!in->active)
        return;
    for (size_t k = 0; k < p->n_sparse; k++)
        mmoe__emb_init(&p->feat[k].t.emb, params + p->feat[k].t.off, seed, 0x1e0000u + k);
    if (p->has_cross)
        mmoe__cross_init(&p->cross, params, seed, 0x1c0000u);
    if (p->has_dnn)
        mmoe__dnn_init(&p->dnn, params, stats, seed, 0x1d0000u);
}

mmoe_status mmoe__input_check_ids(const mmoe__input *in, size_t B, const int64_t *ids, char *err,
                                  const char *func)
{
    if (in->n_ids == 0 && ids)
        return mmoe__fail(err, MMOE_ERR_INVALID_ARG, func,
                          "ids given but the model has no sparse features");
    if (in->n_ids && !ids)
        return mmoe__fail(err, MMOE_ERR_NULL, func,
                          "ids is NULL but the model has sparse features");
    if (!in->n_ids)
        return MMOE_OK;
    size_t n;
    if (mmoe__mul(B, in->n_ids, &n) || n > MMOE__MAX_ELEMS)
        return mmoe__fail(err, MMOE_ERR_OVERFLOW, func, "batch %zu x %zu ids too large", B,
                          in->n_ids);
    const input_impl *p = in->impl;
    for (size_t k = 0; k < p->n_sparse; k++) {
        const feature *f = &p->feat[k];
        size_t r, s;
        mmoe__emb_bad why = mmoe__emb_check(&f->t.emb, B, ids + f->t.id_col, in->n_ids, &r, &s);
        if (why == MMOE__EMB_OK)
            continue;
        long long id = (long long)ids[r * in->n_ids + f->t.id_col + s];
        if (why == MMOE__EMB_NEGATIVE)
            return mmoe__fail(err, MMOE_ERR_RANGE, func,
                              "ids[%zu][%zu] = %lld: negative id for single-id feature '%s' "
                              "(sparse.%zu)",
                              r, f->t.id_col + s, id, f->name, k);
        return mmoe__fail(err, MMOE_ERR_RANGE, func,
                          "ids[%zu][%zu] = %lld: out of the vocabulary (%llu) of feature '%s' "
                          "(sparse.%zu, oov error)",
                          r, f->t.id_col + s, id, (unsigned long long)f->t.emb.vocab, f->name, k);
    }
    return MMOE_OK;
}

const float *mmoe__input_forward(const mmoe__input *in, const float *params, const float *stats,
                                 float *update, size_t B, const float *dense, const int64_t *ids,
                                 uint64_t *rng, float *const *fb, size_t *ld)
{
    const int training = update != NULL;
    if (!in->active) {
        *ld = in->dense;
        return dense;
    }
    const input_impl *p = in->impl;
    const size_t w0 = p->x0w;
    float *X0 = fb[0];
    for (size_t k = 0; k < p->n_sparse; k++) {
        const feature *f = &p->feat[k];
        mmoe__emb_forward(&f->t.emb, params + f->t.off, training ? &f->t.fed : NULL, B,
                          ids + f->t.id_col, in->n_ids, X0 + f->col, w0);
    }
    for (size_t r = 0; r < B; r++)
        memcpy(X0 + r * w0 + p->dense_col, dense + r * in->dense, in->dense * sizeof(float));
    const float *X = X0;
    size_t ldx = w0;
    if (p->has_cross)
        X = mmoe__cross_forward(&p->cross, params, B, X0, w0, fb + p->cross_base);
    if (p->has_dnn) {
        X = mmoe__dnn_forward(&p->dnn, params, stats, update, B, X, ldx, rng, fb + p->dnn_base);
        ldx = mmoe__dnn_out(&p->dnn);
    }
    *ld = ldx;
    return X;
}

void mmoe__input_backward(const mmoe__input *in, const float *params, float *grads, size_t B,
                          const float *dense, const int64_t *ids, float *const *fb,
                          float *const *bb, const float *dX)
{
    (void)dense;
    if (!in->active)
        return;
    const input_impl *p = in->impl;
    const size_t w0 = p->x0w;
    /* Gradient wrt x0 is only needed by the embeddings. */
    float *dX0 = p->n_sparse ? bb[0] : NULL;
    const float *g = dX; /* gradient of the current stage's output */
    size_t ldg = in->out;
    if (p->has_dnn) {
        /* The DNN's input gradient lands where the next stage down reads it. */
        float *dIn = p->has_cross ? bb[p->cross_base + p->cross.layers - 1] : dX0;
        const float *Xd = p->has_cross ? fb[p->cross_base + p->cross.layers - 1] : fb[0];
        mmoe__dnn_backward(&p->dnn, params, grads, B, Xd, w0, fb + p->dnn_base, bb + p->dnn_base, g,
                           ldg, dIn, w0);
        g = dIn;
        ldg = w0;
    }
    if (p->has_cross) {
        mmoe__cross_backward(&p->cross, params, grads, B, fb[0], w0, fb + p->cross_base,
                             bb + p->cross_base, g, ldg, dX0, w0);
        g = dX0;
        ldg = w0;
    }
    if (!p->n_sparse)
        return;
    for (size_t k = 0; k < p->n_sparse; k++) {
        const feature *f = &p->feat[k];
        mmoe__emb_backward(&f->t.emb, grads + f->t.off, &f->t.fed, B, ids + f->t.id_col, in->n_ids,
                           g + f->col, ldg);
    }
}

/* ---- model queries ------------------------------------------------------------------------ */

size_t mmoe__model_sparse_blocks(const mmoe_model *m, const mmoe__sparse_block **blocks)
{
    *blocks = NULL;
    if (!m || !m->input.active)
        return 0;
    const input_impl *p = m->input.impl;
    if (!p->n_sparse)
        return 0;
    *blocks = p->blocks;
    return p->n_sparse;
}

size_t mmoe_model_num_ids(const mmoe_model *m)
{
    return m ? m->input.n_ids : 0;
}
