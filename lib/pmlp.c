/* Parallel MLP: the experts (and towers) as stacked dense layers. */
#include <string.h>

#include "activation.h"
#include "dense.h"
#include "init.h"
#include "pmlp.h"

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
            const float *In = l == 0 ? X : A[l - 1];
            size_t ldi = l == 0 ? ldx : C * in;
            for (size_t c = 0; c < C; c++)
                mmoe__dense_forward_act(W + c * w * in, b + c * w, layer_act(p, l), in, w, B,
                                        In + c * in, ldi, A[l] + c * w, ldy);
        }
    }
}

void mmoe__pmlp_backward(const mmoe__pmlp *p, const float *params, float *grads, size_t B,
                         const float *X, size_t ldx, int shared, float *const *A, float *const *dA,
                         float *dX, size_t lddx)
{
    const size_t C = p->copies;
    for (size_t li = p->n_layers; li-- > 0;) {
        size_t in = layer_in(p, li), w = p->width[li], ldy = C * w;
        const float *W = params + p->w_off[li];
        float *dW = grads + p->w_off[li], *db = grads + p->b_off[li];
        /* Activation derivative and all copies' bias gradients in one pass. */
        mmoe__act_bias_backward(layer_act(p, li), B, ldy, A[li], ldy, dA[li], ldy, db);
        if (li == 0 && shared) {
            mmoe__dense_backward(W, in, C * w, B, X, ldx, dA[0], ldy, dW, NULL, dX, lddx, 1.0f);
            continue;
        }
        const float *In = li == 0 ? X : A[li - 1];
        size_t ldi = li == 0 ? ldx : C * in;
        float *dIn = li == 0 ? dX : dA[li - 1];
        size_t lddi = li == 0 ? lddx : C * in;
        float beta = li == 0 ? 1.0f : 0.0f;
        for (size_t c = 0; c < C; c++)
            mmoe__dense_backward(W + c * w * in, in, w, B, In + c * in, ldi, dA[li] + c * w, ldy,
                                 dW + c * w * in, NULL, dIn ? dIn + c * in : NULL, lddi, beta);
    }
}
