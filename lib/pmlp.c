/* Parallel MLP: the experts (and towers) as stacked dense layers. */
#include <string.h>

#include "activation.h"
#include "dense.h"
#include "init.h"
#include "pmlp.h"
#include "pool.h"

static size_t layer_in(const mmoe__pmlp *p, size_t l)
{
    return l == 0 ? p->in : p->width[l - 1];
}

static mmoe_activation layer_act(const mmoe__pmlp *p, size_t l)
{
    return l + 1 == p->n_layers ? p->out_act : p->act;
}

void mmoe__pmlp_declare(mmoe__pmlp *p, mmoe__registry *r, const char *prefix, int number_copies)
{
    for (size_t l = 0; l < p->n_layers; l++) {
        size_t in = layer_in(p, l), w = p->width[l];
        p->w_off[l] = mmoe__reg_block(r, p->copies * w, in);
        p->b_off[l] = mmoe__reg_block(r, p->copies, w);
        for (size_t c = 0; c < p->copies; c++) {
            if (number_copies) {
                mmoe__reg_name(r, p->w_off[l] + c * w * in, w, in, "%s.%zu.layers.%zu.weight",
                               prefix, c, l);
                mmoe__reg_name(r, p->b_off[l] + c * w, w, 0, "%s.%zu.layers.%zu.bias", prefix, c,
                               l);
            } else {
                mmoe__reg_name(r, p->w_off[l], w, in, "%s.layers.%zu.weight", prefix, l);
                mmoe__reg_name(r, p->b_off[l], w, 0, "%s.layers.%zu.bias", prefix, l);
            }
        }
    }
}

void mmoe__pmlp_init(const mmoe__pmlp *p, float *params, uint64_t seed, uint64_t stream)
{
    for (size_t l = 0; l < p->n_layers; l++) {
        size_t in = layer_in(p, l), w = p->width[l];
        for (size_t c = 0; c < p->copies; c++) {
            /* Every copy and layer draws from its own stream: no two experts start equal. */
            uint64_t s = stream * 1000003u + (uint64_t)c * 64u + (uint64_t)l;
            mmoe__init_weights(params + p->w_off[l] + c * w * in, in, w, layer_act(p, l), seed, s);
        }
        memset(params + p->b_off[l], 0, p->copies * w * sizeof(float));
    }
}

/* One layer of every copy, copies [c0, c1) per chunk of the pool. */
typedef struct copies_job {
    const mmoe__pmlp *p;
    const float *params;
    float *grads;
    size_t l, B, ldx, lddx;
    const float *X;
    float *const *A, *const *dA;
    float *dX;
    int shared;
} copies_job;

/* Copies per chunk when layer l's copies are worth sharing across the pool; 0: they are not. */
static size_t share_copies(const mmoe__pmlp *p, size_t l, size_t B)
{
    double flops =
        2.0 * (double)B * (double)p->copies * (double)p->width[l] * (double)layer_in(p, l);
    if (p->copies < 2 || mmoe__pool_width() < 2 || flops < MMOE__PAR_FLOPS)
        return 0;
    return mmoe__flops_grain(p->copies, flops, 1);
}

static void forward_copies(void *ctx, size_t chunk, size_t c0, size_t c1)
{
    const copies_job *j = ctx;
    const mmoe__pmlp *p = j->p;
    const size_t l = j->l, in = layer_in(p, l), w = p->width[l], ldy = p->copies * w;
    const float *W = j->params + p->w_off[l], *b = j->params + p->b_off[l];
    const float *In = l == 0 ? j->X : j->A[l - 1];
    size_t ldi = l == 0 ? j->ldx : p->copies * in;
    (void)chunk;
    for (size_t c = c0; c < c1; c++)
        mmoe__dense_forward_act(W + c * w * in, b + c * w, layer_act(p, l), in, w, j->B,
                                In + c * in, ldi, j->A[l] + c * w, ldy);
}

void mmoe__pmlp_forward(const mmoe__pmlp *p, const float *params, size_t B, const float *X,
                        size_t ldx, int shared, float *const *A)
{
    const size_t C = p->copies;
    for (size_t l = 0; l < p->n_layers; l++) {
        size_t in = layer_in(p, l), w = p->width[l], ldy = C * w;
        const float *W = params + p->w_off[l], *b = params + p->b_off[l];
        if (l == 0 && shared) {
            mmoe__dense_forward_act(W, b, layer_act(p, l), in, C * w, B, X, ldx, A[0], ldy);
        } else {
            copies_job j = {p, params, NULL, l, B, ldx, 0, X, A, NULL, NULL, shared};
            size_t grain = share_copies(p, l, B);
            if (grain)
                mmoe__parallel_for(C, grain, 1, forward_copies, &j);
            else
                forward_copies(&j, 0, 0, C);
        }
    }
}

/* Backward of layer l for copies [c0, c1): activation derivative, bias and weight gradients, input
 * gradient. */
static void backward_copies(void *ctx, size_t chunk, size_t c0, size_t c1)
{
    const copies_job *j = ctx;
    const mmoe__pmlp *p = j->p;
    const size_t li = j->l, in = layer_in(p, li), w = p->width[li], C = p->copies, ldy = C * w;
    const float *W = j->params + p->w_off[li];
    float *dW = j->grads + p->w_off[li], *db = j->grads + p->b_off[li];
    const float *In = li == 0 ? j->X : j->A[li - 1];
    size_t ldi = li == 0 ? j->ldx : C * in;
    float *dIn = li == 0 ? j->dX : j->dA[li - 1];
    size_t lddi = li == 0 ? j->lddx : C * in;
    float beta = li == 0 ? 1.0f : 0.0f;
    (void)chunk;
    if (c1 <= c0)
        return;
    mmoe__act_bias_backward(layer_act(p, li), j->B, (c1 - c0) * w, j->A[li] + c0 * w, ldy,
                            j->dA[li] + c0 * w, ldy, db + c0 * w);
    for (size_t c = c0; c < c1; c++)
        mmoe__dense_backward(W + c * w * in, in, w, j->B, In + c * in, ldi, j->dA[li] + c * w, ldy,
                             dW + c * w * in, NULL, dIn ? dIn + c * in : NULL, lddi, beta);
}

/* The shared first layer: activation derivative and bias gradients by column blocks. */
static void act_bias_cols(void *ctx, size_t chunk, size_t c0, size_t c1)
{
    const copies_job *j = ctx;
    const size_t ldy = j->p->copies * j->p->width[0];
    (void)chunk;
    if (c1 > c0)
        mmoe__act_bias_backward(layer_act(j->p, 0), j->B, c1 - c0, j->A[0] + c0, ldy, j->dA[0] + c0,
                                ldy, j->grads + j->p->b_off[0] + c0);
}

void mmoe__pmlp_backward(const mmoe__pmlp *p, const float *params, float *grads, size_t B,
                         const float *X, size_t ldx, int shared, float *const *A, float *const *dA,
                         float *dX, size_t lddx)
{
    mmoe__pmlp_backward_report(p, params, grads, B, X, ldx, shared, A, dA, dX, lddx, NULL);
}

void mmoe__pmlp_backward_report(const mmoe__pmlp *p, const float *params, float *grads, size_t B,
                                const float *X, size_t ldx, int shared, float *const *A,
                                float *const *dA, float *dX, size_t lddx, mmoe__progress *prog)
{
    const size_t C = p->copies;
    for (size_t li = p->n_layers; li-- > 0;) {
        copies_job j = {p, params, grads, li, B, ldx, lddx, X, A, dA, dX, shared};
        if (li == 0 && shared) {
            size_t in = layer_in(p, 0), w = p->width[0], ldy = C * w;
            if (mmoe__pool_width() > 1 && B * ldy >= MMOE__PAR_ELEMS)
                mmoe__parallel_for(ldy, MMOE__PAR_ELEMS / 2 / B + 1, 16, act_bias_cols, &j);
            else
                act_bias_cols(&j, 0, 0, ldy);
            mmoe__dense_backward(params + p->w_off[0], in, ldy, B, X, ldx, dA[0], ldy,
                                 grads + p->w_off[0], NULL, dX, lddx, 1.0f);
            mmoe__grad_ready(prog, p->w_off[0]);
            continue;
        }
        size_t grain = share_copies(p, li, B);
        if (grain)
            mmoe__parallel_for(C, grain, 1, backward_copies, &j);
        else
            backward_copies(&j, 0, 0, C);
        mmoe__grad_ready(prog, p->w_off[li]);
    }
}
