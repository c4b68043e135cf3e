/* CrossNet layers (vector and matrix form), forward and backward. */
#include <string.h>

#include "crossnet.h"
#include "dense.h"
#include "init.h"

void mmoe__cross_declare(mmoe__cross *c, mmoe__registry *r, const char *prefix)
{
    const size_t W = c->width;
    for (size_t l = 0; l < c->layers; l++) {
        if (c->matrix) {
            c->w_off[l] = mmoe__reg_block(r, W, W);
            mmoe__reg_name(r, c->w_off[l], W, W, "%s.%zu.weight", prefix, l);
        } else {
            c->w_off[l] = mmoe__reg_block(r, W, 1);
            mmoe__reg_name(r, c->w_off[l], W, 0, "%s.%zu.weight", prefix, l);
        }
        c->b_off[l] = mmoe__reg_block(r, W, 1);
        mmoe__reg_name(r, c->b_off[l], W, 0, "%s.%zu.bias", prefix, l);
    }
}

void mmoe__cross_init(const mmoe__cross *c, float *params, uint64_t seed, uint64_t stream)
{
    const size_t W = c->width;
    for (size_t l = 0; l < c->layers; l++) {
        mmoe__init_weights(params + c->w_off[l], W, c->matrix ? W : 1, MMOE_ACT_IDENTITY, seed,
                           stream + l);
        memset(params + c->b_off[l], 0, W * sizeof(float));
    }
}

size_t mmoe__cross_buffers(const mmoe__cross *c, size_t *widths)
{
    for (size_t l = 0; l < c->layers; l++)
        widths[l] = c->width;
    widths[c->layers] = c->layers * (c->matrix ? c->width : 1);
    return c->layers + 1;
}

const float *mmoe__cross_forward(const mmoe__cross *c, const float *params, size_t B,
                                 const float *X0, size_t ld0, float *const *fb)
{
    const size_t W = c->width, L = c->layers;
    const size_t lda = L * (c->matrix ? W : 1);
    float *aux = fb[L];
    for (size_t l = 0; l < L; l++) {
        const float *Xl = l ? fb[l - 1] : X0;
        size_t ldl = l ? W : ld0;
        const float *w = params + c->w_off[l], *b = params + c->b_off[l];
        float *Y = fb[l];
        if (c->matrix) {
            float *U = aux + l * W;
            mmoe__dense_forward(w, b, W, W, B, Xl, ldl, U, lda);
            for (size_t r = 0; r < B; r++) {
                const float *x0 = X0 + r * ld0, *xl = Xl + r * ldl, *u = U + r * lda;
                float *y = Y + r * W;
                for (size_t j = 0; j < W; j++)
                    y[j] = x0[j] * u[j] + xl[j];
            }
        } else {
            for (size_t r = 0; r < B; r++) {
                const float *x0 = X0 + r * ld0, *xl = Xl + r * ldl;
                float *y = Y + r * W;
                float s = 0.0f;
                for (size_t j = 0; j < W; j++)
                    s += xl[j] * w[j];
                aux[r * lda + l] = s;
                for (size_t j = 0; j < W; j++)
                    y[j] = x0[j] * s + b[j] + xl[j];
            }
        }
    }
    return fb[L - 1];
}

void mmoe__cross_backward(const mmoe__cross *c, const float *params, float *grads, size_t B,
                          const float *X0, size_t ld0, float *const *fb, float *const *bb,
                          const float *dOut, size_t ldd, float *dX0, size_t lddx)
{
    const size_t W = c->width, L = c->layers;
    const size_t lda = L * (c->matrix ? W : 1);
    const float *aux = fb[L];
    if (dOut != bb[L - 1])
        for (size_t r = 0; r < B; r++)
            memcpy(bb[L - 1] + r * W, dOut + r * ldd, W * sizeof(float));
    if (dX0)
        for (size_t r = 0; r < B; r++)
            memset(dX0 + r * lddx, 0, W * sizeof(float));
    for (size_t li = L; li-- > 0;) {
        const float *G = bb[li]; /* dL/dx_{l+1} */
        const float *Xl = li ? fb[li - 1] : X0;
        size_t ldl = li ? W : ld0;
        /* dL/dx_l: the previous layer's output, or (layer 0) x0 itself. */
        float *D = li ? bb[li - 1] : dX0;
        size_t ldD = li ? W : lddx;
        const float *w = params + c->w_off[li];
        float *dw = grads + c->w_off[li], *db = grads + c->b_off[li];
        if (c->matrix) {
            const float *U = aux + li * W;
            float *dU = bb[L] + li * W;
            for (size_t r = 0; r < B; r++) {
                const float *g = G + r * W, *x0 = X0 + r * ld0, *u = U + r * lda;
                float *du = dU + r * lda;
                for (size_t j = 0; j < W; j++)
                    du[j] = g[j] * x0[j];
                if (dX0) {
                    float *dx0 = dX0 + r * lddx;
                    for (size_t j = 0; j < W; j++)
                        dx0[j] += g[j] * u[j];
                }
            }
            /* dW += dU^T X_l, db += sums of dU, D (+)= dU W. */
            mmoe__dense_backward(w, W, W, B, Xl, ldl, dU, lda, dw, db, D, ldD, li ? 0.0f : 1.0f);
            if (D)
                for (size_t r = 0; r < B; r++) {
                    const float *g = G + r * W;
                    float *d = D + r * ldD;
                    for (size_t j = 0; j < W; j++)
                        d[j] += g[j];
                }
        } else {
            for (size_t r = 0; r < B; r++) {
                const float *g = G + r * W, *x0 = X0 + r * ld0, *xl = Xl + r * ldl;
                float s = aux[r * lda + li];
                float ds = 0.0f;
                for (size_t j = 0; j < W; j++)
                    ds += g[j] * x0[j];
                for (size_t j = 0; j < W; j++) {
                    dw[j] += ds * xl[j];
                    db[j] += g[j];
                }
                if (dX0) {
                    float *dx0 = dX0 + r * lddx;
                    for (size_t j = 0; j < W; j++)
                        dx0[j] += g[j] * s;
                }
                if (D) {
                    float *d = D + r * ldD;
                    if (li)
                        for (size_t j = 0; j < W; j++)
                            d[j] = g[j] + ds * w[j];
                    else
                        for (size_t j = 0; j < W; j++)
                            d[j] += g[j] + ds * w[j];
                }
            }
        }
    }
}
