/*
 * Standalone layers: dense, activation, expert MLP, gate and tower.
 *
 * Every layer is a chain of 1..MMOE_MAX_LAYERS+1 sub-layers. A sub-layer is
 * either a dense map (weight [out, in], optional bias [out]) followed by an
 * activation, a dense map followed by a row softmax (the gate), or a bare
 * activation (the activation layer).
 *
 * Memory: one flat parameter buffer and one flat gradient buffer per layer
 * (W0, b0, W1, b1, ...), with tensor views into them stored in the layer.
 * The forward cache holds, for a batch of B rows, the input [B, in], every
 * sub-layer's (post-activation) output [B, out_l] and two backward scratch
 * blocks [B, max_width]. It only grows, so steady-state calls do not allocate.
 *
 * CrossNet and DNN layers ("ext" layers) run the model's kernels
 * (crossnet.c, dnn.c) instead: their parameters (and DNN batch-norm
 * statistics) are laid out by a private registry, and their cache holds
 * the input and the kernel's forward and backward buffers.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "activation.h"
#include "crossnet.h"
#include "dense.h"
#include "dnn.h"
#include "init.h"
#include "internal.h"
#include "mix.h"
#include "mmoe/layer.h"
#include "params.h"
#include "tensor_impl.h"

#define LAYER_MAX_WIDTH ((size_t)1 << 24)
#define LAYER_MAX_SUB (MMOE_MAX_LAYERS + 1)
#define LAYER_MAX_PARAMS (2 * LAYER_MAX_SUB)
#define LAYER_NAME_LEN 40 /* "layers." + 20 digits + ".weight" + NUL fits */
#define LAYER_EXT_BUFS (MMOE_MAX_LAYERS * MMOE__DNN_BUFS_PER_LAYER + MMOE_MAX_CROSS_LAYERS + 1)

typedef struct sublayer {
    size_t in, out;
    mmoe_activation act; /* applied to the output (identity: linear) */
    int has_w, has_b;
    size_t w_off, b_off; /* offsets into params / grads */
    size_t col;          /* column offset of this output in a cache row */
} sublayer;

struct mmoe_layer {
    mmoe_layer_kind kind;
    size_t in, out;
    size_t n_sub;
    sublayer sub[LAYER_MAX_SUB];
    size_t max_width; /* widest sub-layer output */
    size_t row;       /* in + sum of outputs: cache floats per batch row */

    float *params, *grads;
    size_t n_floats;
    size_t n_params;
    char names[LAYER_MAX_PARAMS][LAYER_NAME_LEN];
    mmoe_tensor values[LAYER_MAX_PARAMS];
    mmoe_tensor gradts[LAYER_MAX_PARAMS];

    float *cache;
    size_t cache_batch; /* largest batch the cache holds */
    size_t batch;       /* batch of the last forward */
    int have_forward;

    /* CrossNet / DNN layers */
    int ext;
    mmoe__cross cross;
    mmoe__dnn dnn;
    mmoe__registry reg, sreg; /* parameters, statistics */
    float *stats;
    size_t n_bufs;
    size_t buf_w[LAYER_EXT_BUFS];
    float *fb[LAYER_EXT_BUFS], *bb[LAYER_EXT_BUFS];
    int training;     /* mode of the next forward */
    int fwd_training; /* mode of the last forward */
    uint64_t rng;     /* dropout stream */

    char err[MMOE__ERRLEN];
};

/* ---- construction ------------------------------------------------------------------------ */

static mmoe_status check_width(size_t w, const char *what, size_t idx, const char *func)
{
    if (w == 0 || w > LAYER_MAX_WIDTH)
        return mmoe__fail(NULL, MMOE_ERR_INVALID_ARG, func, "%s %zu is %zu (must be 1..%zu)", what,
                          idx, w, LAYER_MAX_WIDTH);
    return MMOE_OK;
}

/*
 * Build a layer of n_sub sub-layers with output widths outs[] and activations
 * acts[]; init_acts[] choose each weight's initialisation. has_w = 0 builds a
 * parameter-free activation layer. Widths must already be validated.
 */
static mmoe_status layer_build(mmoe_layer_kind kind, size_t in, size_t n_sub, const size_t *outs,
                               const mmoe_activation *acts, const mmoe_activation *init_acts,
                               int has_w, int has_b, int prefixed, uint64_t seed,
                               mmoe_layer **layer, const char *func)
{
    mmoe_layer *l = mmoe__calloc(1, sizeof *l);
    if (!l)
        return mmoe__fail(NULL, MMOE_ERR_NOMEM, func, "no memory for the layer");
    l->kind = kind;
    l->training = 1;
    l->in = in;
    l->n_sub = n_sub;
    l->out = outs[n_sub - 1];

    size_t nf = 0, row = in, prev = in;
    for (size_t i = 0; i < n_sub; i++) {
        sublayer *s = &l->sub[i];
        s->in = prev;
        s->out = outs[i];
        s->act = acts[i];
        s->has_w = has_w;
        s->has_b = has_b;
        s->col = row;
        if (mmoe__add(row, s->out, &row))
            goto too_large;
        if (s->out > l->max_width)
            l->max_width = s->out;
        if (has_w) {
            size_t wn;
            s->w_off = nf;
            if (mmoe__mul(s->in, s->out, &wn) || mmoe__add(nf, wn, &nf))
                goto too_large;
            if (has_b) {
                s->b_off = nf;
                if (mmoe__add(nf, s->out, &nf))
                    goto too_large;
            }
        }
        prev = s->out;
    }
    if (nf > MMOE__MAX_ELEMS)
        goto too_large;
    l->row = row;
    l->n_floats = nf;

    if (has_w) {
        l->params = mmoe__calloc(nf, sizeof(float));
        l->grads = mmoe__calloc(nf, sizeof(float));
        if (!l->params || !l->grads) {
            mmoe_layer_free(l);
            return mmoe__fail(NULL, MMOE_ERR_NOMEM, func, "no memory for %zu parameters", nf);
        }
        size_t p = 0;
        for (size_t i = 0; i < n_sub; i++) {
            sublayer *s = &l->sub[i];
            /* Distinct stream per (kind, sub-layer): sub-layers never share weights. */
            mmoe__init_weights(l->params + s->w_off, s->in, s->out, init_acts[i], seed,
                               ((uint64_t)kind << 16) | (uint64_t)i);
            int64_t wshape[2] = {(int64_t)s->out, (int64_t)s->in};
            int64_t bshape[1] = {(int64_t)s->out};
            if (prefixed)
                snprintf(l->names[p], LAYER_NAME_LEN, "layers.%zu.weight", i);
            else
                snprintf(l->names[p], LAYER_NAME_LEN, "weight");
            mmoe__tensor_view(&l->values[p], l->params + s->w_off, 2, wshape);
            mmoe__tensor_view(&l->gradts[p], l->grads + s->w_off, 2, wshape);
            p++;
            if (has_b) {
                if (prefixed)
                    snprintf(l->names[p], LAYER_NAME_LEN, "layers.%zu.bias", i);
                else
                    snprintf(l->names[p], LAYER_NAME_LEN, "bias");
                mmoe__tensor_view(&l->values[p], l->params + s->b_off, 1, bshape);
                mmoe__tensor_view(&l->gradts[p], l->grads + s->b_off, 1, bshape);
                p++;
            }
        }
        l->n_params = p;
    }
    *layer = l;
    return MMOE_OK;

too_large:
    mmoe_layer_free(l);
    return mmoe__fail(NULL, MMOE_ERR_OVERFLOW, func, "parameter or cache size overflows");
}

mmoe_status mmoe_layer_dense_create(size_t in, size_t out, mmoe_activation act, uint64_t seed,
                                    mmoe_layer **layer)
{
    if (!layer)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "layer is NULL");
    *layer = NULL;
    mmoe_status st;
    if ((st = check_width(in, "input width", 0, __func__)) ||
        (st = check_width(out, "output width", 0, __func__)))
        return st;
    if (!mmoe__act_valid((int)act))
        return MMOE_FAIL(NULL, MMOE_ERR_INVALID_ARG, "unknown activation %d", (int)act);
    mmoe_activation lin = MMOE_ACT_IDENTITY;
    return layer_build(MMOE_LAYER_DENSE, in, 1, &out, &lin, &act, 1, 1, 0, seed, layer, __func__);
}

mmoe_status mmoe_layer_activation_create(mmoe_activation act, size_t width, mmoe_layer **layer)
{
    if (!layer)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "layer is NULL");
    *layer = NULL;
    mmoe_status st = check_width(width, "width", 0, __func__);
    if (st)
        return st;
    if (!mmoe__act_valid((int)act))
        return MMOE_FAIL(NULL, MMOE_ERR_INVALID_ARG, "unknown activation %d", (int)act);
    return layer_build(MMOE_LAYER_ACTIVATION, width, 1, &width, &act, &act, 0, 0, 0, 0, layer,
                       __func__);
}

/* Argument checks shared by the stacked layers (expert MLP, DNN). */
static mmoe_status check_stack(size_t in, size_t n_layers, const size_t *widths,
                               mmoe_activation act, mmoe_layer **layer, const char *func)
{
    if (!layer)
        return mmoe__fail(NULL, MMOE_ERR_NULL, func, "layer is NULL");
    *layer = NULL;
    if (!widths)
        return mmoe__fail(NULL, MMOE_ERR_NULL, func, "widths is NULL");
    if (n_layers < 1 || n_layers > MMOE_MAX_LAYERS)
        return mmoe__fail(NULL, MMOE_ERR_INVALID_ARG, func, "n_layers %zu not in 1..%d", n_layers,
                          MMOE_MAX_LAYERS);
    mmoe_status st = check_width(in, "input width", 0, func);
    for (size_t i = 0; st == MMOE_OK && i < n_layers; i++)
        st = check_width(widths[i], "width of layer", i, func);
    if (st == MMOE_OK && !mmoe__act_valid((int)act))
        st = mmoe__fail(NULL, MMOE_ERR_INVALID_ARG, func, "unknown activation %d", (int)act);
    return st;
}

mmoe_status mmoe_layer_expert_create(size_t in, size_t n_layers, const size_t *widths,
                                     mmoe_activation act, uint64_t seed, mmoe_layer **layer)
{
    mmoe_status st = check_stack(in, n_layers, widths, act, layer, __func__);
    if (st)
        return st;
    mmoe_activation acts[LAYER_MAX_SUB];
    for (size_t i = 0; i < n_layers; i++)
        acts[i] = act;
    return layer_build(MMOE_LAYER_EXPERT, in, n_layers, widths, acts, acts, 1, 1, 1, seed, layer,
                       __func__);
}

mmoe_status mmoe_layer_gate_create(size_t in, size_t n_experts, uint64_t seed, mmoe_layer **layer)
{
    if (!layer)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "layer is NULL");
    *layer = NULL;
    mmoe_status st;
    if ((st = check_width(in, "input width", 0, __func__)) ||
        (st = check_width(n_experts, "n_experts", 0, __func__)))
        return st;
    mmoe_activation lin = MMOE_ACT_IDENTITY;
    return layer_build(MMOE_LAYER_GATE, in, 1, &n_experts, &lin, &lin, 1, 0, 0, seed, layer,
                       __func__);
}

mmoe_status mmoe_layer_tower_create(size_t in, size_t n_hidden, const size_t *hidden,
                                    mmoe_activation act, uint64_t seed, mmoe_layer **layer)
{
    if (!layer)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "layer is NULL");
    *layer = NULL;
    if (n_hidden > MMOE_MAX_LAYERS)
        return MMOE_FAIL(NULL, MMOE_ERR_INVALID_ARG, "n_hidden %zu not in 0..%d", n_hidden,
                         MMOE_MAX_LAYERS);
    if (n_hidden > 0 && !hidden)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "hidden is NULL");
    mmoe_status st = check_width(in, "input width", 0, __func__);
    if (st)
        return st;
    for (size_t i = 0; i < n_hidden; i++)
        if ((st = check_width(hidden[i], "width of hidden layer", i, __func__)))
            return st;
    if (!mmoe__act_valid((int)act))
        return MMOE_FAIL(NULL, MMOE_ERR_INVALID_ARG, "unknown activation %d", (int)act);
    size_t outs[LAYER_MAX_SUB];
    mmoe_activation acts[LAYER_MAX_SUB];
    for (size_t i = 0; i < n_hidden; i++) {
        outs[i] = hidden[i];
        acts[i] = act;
    }
    outs[n_hidden] = 1;
    acts[n_hidden] = MMOE_ACT_IDENTITY;
    return layer_build(MMOE_LAYER_TOWER, in, n_hidden + 1, outs, acts, acts, 1, 1, 1, seed, layer,
                       __func__);
}

void mmoe_layer_free(mmoe_layer *layer)
{
    if (!layer)
        return;
    mmoe__free(layer->params);
    mmoe__free(layer->grads);
    mmoe__free(layer->stats);
    mmoe__free(layer->cache);
    mmoe__reg_free(&layer->reg);
    mmoe__reg_free(&layer->sreg);
    mmoe__dnn_free(&layer->dnn);
    mmoe__free(layer);
}

/* ---- CrossNet and DNN layers ---------------------------------------------------------------- */

/* Lay out an ext layer's parameters and statistics and allocate them. */
static mmoe_status ext_finish(mmoe_layer *l, uint64_t seed, mmoe_layer **layer, const char *func)
{
    if (l->kind == MMOE_LAYER_CROSSNET) {
        mmoe__cross_declare(&l->cross, &l->reg, "layers");
        l->n_bufs = mmoe__cross_buffers(&l->cross, l->buf_w);
    } else {
        mmoe__dnn_declare(&l->dnn, &l->reg, &l->sreg, "layers");
        l->n_bufs = mmoe__dnn_buffers(&l->dnn, l->buf_w);
    }
    mmoe_status failed = l->reg.failed ? l->reg.failed : l->sreg.failed;
    if (!failed) {
        l->params = mmoe__calloc(l->reg.total, sizeof(float));
        l->grads = mmoe__calloc(l->reg.total, sizeof(float));
        l->stats = mmoe__calloc(l->sreg.total ? l->sreg.total : 1, sizeof(float));
        if (!l->params || !l->grads || !l->stats)
            failed = MMOE_ERR_NOMEM;
        else if (l->kind != MMOE_LAYER_CROSSNET)
            failed = mmoe__dnn_alloc(&l->dnn);
    }
    if (failed) {
        mmoe_layer_free(l);
        return mmoe__fail(NULL, failed, func, "%s",
                          failed == MMOE_ERR_NOMEM ? "no memory for the parameters"
                                                   : "parameter size overflows");
    }
    l->n_floats = l->reg.total;
    l->n_params = l->reg.count;
    mmoe__reg_bind(&l->reg, l->params, l->grads);
    mmoe__reg_bind(&l->sreg, l->stats, l->stats);
    size_t row = 0;
    for (size_t i = 0; i < l->n_bufs; i++)
        row += l->buf_w[i]; /* bounded by the widths checked above */
    l->row = row;
    l->rng = seed;
    if (l->kind == MMOE_LAYER_CROSSNET)
        mmoe__cross_init(&l->cross, l->params, seed, (uint64_t)MMOE_LAYER_CROSSNET << 16);
    else
        mmoe__dnn_init(&l->dnn, l->params, l->stats, seed, (uint64_t)MMOE_LAYER_DNN << 16);
    *layer = l;
    return MMOE_OK;
}

mmoe_status mmoe_layer_crossnet_create(size_t width, size_t n_layers, mmoe_cross_form form,
                                       uint64_t seed, mmoe_layer **layer)
{
    if (!layer)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "layer is NULL");
    *layer = NULL;
    mmoe_status st = check_width(width, "width", 0, __func__);
    if (st)
        return st;
    if (n_layers < 1 || n_layers > MMOE_MAX_CROSS_LAYERS)
        return MMOE_FAIL(NULL, MMOE_ERR_INVALID_ARG, "n_layers %zu not in 1..%d", n_layers,
                         MMOE_MAX_CROSS_LAYERS);
    if (form != MMOE_CROSS_VECTOR && form != MMOE_CROSS_MATRIX)
        return MMOE_FAIL(NULL, MMOE_ERR_INVALID_ARG, "unknown CrossNet form %d", (int)form);
    mmoe_layer *l = mmoe__calloc(1, sizeof *l);
    if (!l)
        return MMOE_FAIL(NULL, MMOE_ERR_NOMEM, "no memory for the layer");
    l->kind = MMOE_LAYER_CROSSNET;
    l->ext = 1;
    l->training = 1;
    l->in = l->out = width;
    l->cross.width = width;
    l->cross.layers = n_layers;
    l->cross.matrix = form == MMOE_CROSS_MATRIX;
    return ext_finish(l, seed, layer, __func__);
}

mmoe_status mmoe_layer_dnn_create(size_t in, size_t n_layers, const size_t *widths,
                                  mmoe_activation act, int batchnorm, double dropout, uint64_t seed,
                                  mmoe_layer **layer)
{
    mmoe_status st = check_stack(in, n_layers, widths, act, layer, __func__);
    if (st)
        return st;
    if (!(dropout >= 0.0 && dropout < 1.0))
        return MMOE_FAIL(NULL, MMOE_ERR_INVALID_ARG, "dropout %g not in [0, 1)", dropout);
    mmoe_layer *l = mmoe__calloc(1, sizeof *l);
    if (!l)
        return MMOE_FAIL(NULL, MMOE_ERR_NOMEM, "no memory for the layer");
    l->kind = MMOE_LAYER_DNN;
    l->ext = 1;
    l->training = 1;
    l->in = in;
    l->out = widths[n_layers - 1];
    l->dnn.in = in;
    l->dnn.n_layers = n_layers;
    memcpy(l->dnn.width, widths, n_layers * sizeof *widths);
    l->dnn.act = act;
    l->dnn.bn = batchnorm != 0;
    l->dnn.dropout = dropout;
    return ext_finish(l, seed, layer, __func__);
}

/* Cache for B rows: input [B, in], forward and backward buffers [B, row] each. */
static mmoe_status ext_cache(mmoe_layer *l, size_t B, const char *func)
{
    if (B <= l->cache_batch)
        return MMOE_OK;
    size_t per_row, n;
    if (mmoe__mul(2, l->row, &per_row) || mmoe__add(per_row, l->in, &per_row) ||
        mmoe__mul(per_row, B, &n) || n > MMOE__MAX_ELEMS)
        return mmoe__fail(l->err, MMOE_ERR_OVERFLOW, func, "cache for batch %zu is too large", B);
    float *c = mmoe__calloc(n, sizeof(float));
    if (!c)
        return mmoe__fail(l->err, MMOE_ERR_NOMEM, func, "no memory for a cache of %zu floats", n);
    mmoe__free(l->cache);
    l->cache = c;
    l->cache_batch = B;
    float *base = c + B * l->in;
    for (size_t i = 0; i < l->n_bufs; i++) {
        l->fb[i] = base;
        base += B * l->buf_w[i];
    }
    for (size_t i = 0; i < l->n_bufs; i++) {
        l->bb[i] = base;
        base += B * l->buf_w[i];
    }
    l->have_forward = 0;
    return MMOE_OK;
}

static mmoe_status ext_forward(mmoe_layer *l, size_t B, const float *x, float *y, const char *func)
{
    mmoe_status st = ext_cache(l, B, func);
    if (st)
        return st;
    memcpy(l->cache, x, B * l->in * sizeof(float));
    const float *out;
    if (l->kind == MMOE_LAYER_CROSSNET)
        out = mmoe__cross_forward(&l->cross, l->params, B, l->cache, l->in, l->fb);
    else
        out = mmoe__dnn_forward(&l->dnn, l->params, l->stats, l->training ? l->stats : NULL, B,
                                l->cache, l->in, &l->rng, l->fb);
    memcpy(y, out, B * l->out * sizeof(float));
    l->batch = B;
    l->have_forward = 1;
    l->fwd_training = l->training;
    mmoe__clear(l->err);
    return MMOE_OK;
}

static mmoe_status ext_backward(mmoe_layer *l, const float *dy, float *dx, const char *func)
{
    const size_t B = l->batch;
    if (l->kind == MMOE_LAYER_DNN && !l->fwd_training && (l->dnn.bn || l->dnn.dropout > 0.0))
        return mmoe__fail(l->err, MMOE_ERR_STATE, func,
                          "the last forward ran in inference mode (batch-norm/dropout)");
    if (dx)
        memset(dx, 0, B * l->in * sizeof(float));
    if (l->kind == MMOE_LAYER_CROSSNET)
        mmoe__cross_backward(&l->cross, l->params, l->grads, B, l->cache, l->in, l->fb, l->bb, dy,
                             l->out, dx, l->in);
    else
        mmoe__dnn_backward(&l->dnn, l->params, l->grads, B, l->cache, l->in, l->fb, l->bb, dy,
                           l->out, dx, l->in);
    mmoe__clear(l->err);
    return MMOE_OK;
}

mmoe_status mmoe_layer_set_training(mmoe_layer *layer, int training)
{
    if (!layer)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "layer is NULL");
    layer->training = training != 0;
    mmoe__clear(layer->err);
    return MMOE_OK;
}

mmoe_status mmoe_layer_seed_dropout(mmoe_layer *layer, uint64_t seed)
{
    if (!layer)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "layer is NULL");
    layer->rng = seed;
    mmoe__clear(layer->err);
    return MMOE_OK;
}

size_t mmoe_layer_state_count(const mmoe_layer *layer)
{
    return layer && layer->ext ? layer->sreg.count : 0;
}

mmoe_status mmoe_layer_state(mmoe_layer *layer, size_t i, const char **name, mmoe_tensor **value)
{
    if (!layer)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "layer is NULL");
    size_t n = mmoe_layer_state_count(layer);
    if (i >= n)
        return MMOE_FAIL(layer->err, MMOE_ERR_RANGE, "state tensor %zu of %zu", i, n);
    mmoe__param *p = &layer->sreg.items[i];
    if (name)
        *name = p->name;
    if (value)
        *value = &p->value;
    mmoe__clear(layer->err);
    return MMOE_OK;
}

/* ---- queries ------------------------------------------------------------------------------ */

mmoe_layer_kind mmoe_layer_get_kind(const mmoe_layer *layer)
{
    return layer ? layer->kind : MMOE_LAYER_DENSE;
}

size_t mmoe_layer_in_width(const mmoe_layer *layer)
{
    return layer ? layer->in : 0;
}

size_t mmoe_layer_out_width(const mmoe_layer *layer)
{
    return layer ? layer->out : 0;
}

size_t mmoe_layer_param_count(const mmoe_layer *layer)
{
    return layer ? layer->n_params : 0;
}

mmoe_status mmoe_layer_param(mmoe_layer *layer, size_t i, const char **name, mmoe_tensor **value,
                             mmoe_tensor **grad)
{
    if (!layer)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "layer is NULL");
    if (i >= layer->n_params)
        return MMOE_FAIL(layer->err, MMOE_ERR_RANGE, "parameter %zu of %zu", i, layer->n_params);
    if (layer->ext) {
        mmoe__param *p = &layer->reg.items[i];
        if (name)
            *name = p->name;
        if (value)
            *value = &p->value;
        if (grad)
            *grad = &p->grad;
        mmoe__clear(layer->err);
        return MMOE_OK;
    }
    if (name)
        *name = layer->names[i];
    if (value)
        *value = &layer->values[i];
    if (grad)
        *grad = &layer->gradts[i];
    mmoe__clear(layer->err);
    return MMOE_OK;
}

const char *mmoe_layer_last_error(const mmoe_layer *layer)
{
    return layer ? layer->err : "";
}

mmoe_status mmoe_layer_zero_grad(mmoe_layer *layer)
{
    if (!layer)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "layer is NULL");
    if (layer->n_floats)
        memset(layer->grads, 0, layer->n_floats * sizeof(float));
    mmoe__clear(layer->err);
    return MMOE_OK;
}

/* ---- forward / backward ------------------------------------------------------------------- */

/* Make room for a batch of B rows (grow only). */
static mmoe_status ensure_cache(mmoe_layer *l, size_t B, const char *func)
{
    if (B <= l->cache_batch)
        return MMOE_OK;
    size_t per_row, n;
    if (mmoe__mul(2, l->max_width, &per_row) || mmoe__add(per_row, l->row, &per_row) ||
        mmoe__mul(per_row, B, &n) || n > MMOE__MAX_ELEMS)
        return mmoe__fail(l->err, MMOE_ERR_OVERFLOW, func, "cache for batch %zu is too large", B);
    float *c = mmoe__malloc(n * sizeof(float));
    if (!c)
        return mmoe__fail(l->err, MMOE_ERR_NOMEM, func, "no memory for a cache of %zu floats", n);
    mmoe__free(l->cache);
    l->cache = c;
    l->cache_batch = B;
    return MMOE_OK;
}

mmoe_status mmoe_layer_forward(mmoe_layer *layer, const mmoe_tensor *input, mmoe_tensor *output)
{
    if (!layer)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "layer is NULL");
    if (!input || !output)
        return MMOE_FAIL(layer->err, MMOE_ERR_NULL, "%s is NULL", input ? "output" : "input");
    if (input->rank != 2 || (uint64_t)input->shape[1] != layer->in)
        return MMOE_FAIL(layer->err, MMOE_ERR_SHAPE,
                         "input must be [batch, %zu] (got rank %zu, last dim %lld)", layer->in,
                         input->rank, (long long)input->shape[input->rank ? input->rank - 1 : 0]);
    size_t B = (size_t)input->shape[0];
    if (!mmoe__tensor_is_2d(output, B, layer->out))
        return MMOE_FAIL(layer->err, MMOE_ERR_SHAPE, "output must be [%zu, %zu]", B, layer->out);
    if (!mmoe__all_finite(input->data, input->numel))
        return MMOE_FAIL(layer->err, MMOE_ERR_NONFINITE, "input has NaN or infinite values");
    if (layer->ext)
        return ext_forward(layer, B, input->data, output->data, __func__);
    mmoe_status st = ensure_cache(layer, B, __func__);
    if (st)
        return st;

    float *c = layer->cache;
    memcpy(c, input->data, B * layer->in * sizeof(float));
    const float *x = c;
    for (size_t i = 0; i < layer->n_sub; i++) {
        const sublayer *s = &layer->sub[i];
        float *a = c + B * s->col;
        if (!s->has_w) {
            memcpy(a, x, B * s->out * sizeof(float));
            mmoe__act_forward(s->act, B, s->out, a, s->out);
        } else {
            mmoe__dense_forward(layer->params + s->w_off,
                                s->has_b ? layer->params + s->b_off : NULL, s->in, s->out, B, x,
                                s->in, a, s->out);
            if (layer->kind == MMOE_LAYER_GATE)
                mmoe__softmax_rows(B, s->out, a, s->out);
            else
                mmoe__act_forward(s->act, B, s->out, a, s->out);
        }
        x = a;
    }
    memcpy(output->data, x, B * layer->out * sizeof(float));
    layer->batch = B;
    layer->have_forward = 1;
    mmoe__clear(layer->err);
    return MMOE_OK;
}

mmoe_status mmoe_layer_backward(mmoe_layer *layer, const mmoe_tensor *grad_output,
                                mmoe_tensor *grad_input)
{
    if (!layer)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "layer is NULL");
    if (!grad_output)
        return MMOE_FAIL(layer->err, MMOE_ERR_NULL, "grad_output is NULL");
    if (!layer->have_forward)
        return MMOE_FAIL(layer->err, MMOE_ERR_STATE, "backward called before forward");
    size_t B = layer->batch;
    if (!mmoe__tensor_is_2d(grad_output, B, layer->out))
        return MMOE_FAIL(layer->err, MMOE_ERR_SHAPE,
                         "grad_output must be [%zu, %zu] (batch of the last forward)", B,
                         layer->out);
    if (grad_input && !mmoe__tensor_is_2d(grad_input, B, layer->in))
        return MMOE_FAIL(layer->err, MMOE_ERR_SHAPE, "grad_input must be [%zu, %zu]", B, layer->in);
    if (!mmoe__all_finite(grad_output->data, grad_output->numel))
        return MMOE_FAIL(layer->err, MMOE_ERR_NONFINITE, "grad_output has NaN or infinite values");
    if (layer->ext)
        return ext_backward(layer, grad_output->data, grad_input ? grad_input->data : NULL,
                            __func__);

    float *c = layer->cache;
    float *d = c + B * layer->row;
    float *e = d + B * layer->max_width;
    memcpy(d, grad_output->data, B * layer->out * sizeof(float));
    for (size_t k = layer->n_sub; k-- > 0;) {
        const sublayer *s = &layer->sub[k];
        const float *a = c + B * s->col;
        const float *x = k ? c + B * layer->sub[k - 1].col : c;
        if (layer->kind == MMOE_LAYER_GATE)
            mmoe__softmax_backward_rows(B, s->out, a, s->out, d, s->out);
        else
            mmoe__act_backward(s->act, B, s->out, a, s->out, d, s->out);
        float *dx = k ? e : (grad_input ? grad_input->data : NULL);
        if (!s->has_w) {
            if (dx)
                memcpy(dx, d, B * s->out * sizeof(float));
        } else {
            /* Clear first: a beta of 0 must not let stale NaNs in dx through. */
            if (dx)
                memset(dx, 0, B * s->in * sizeof(float));
            mmoe__dense_backward(layer->params + s->w_off, s->in, s->out, B, x, s->in, d, s->out,
                                 layer->grads + s->w_off, s->has_b ? layer->grads + s->b_off : NULL,
                                 dx, s->in, 0.0f);
        }
        float *t = d;
        d = e;
        e = t;
    }
    mmoe__clear(layer->err);
    return MMOE_OK;
}
