/* DNN stack: dense + batch-norm + activation + dropout, forward and backward. */
#include <math.h>
#include <string.h>

#include "activation.h"
#include "dense.h"
#include "dnn.h"
#include "init.h"
#include "rng.h"

#define BN_EPS 1e-5
#define BN_MOMENTUM 0.99

static size_t layer_in(const mmoe__dnn *d, size_t l)
{
    return l ? d->width[l - 1] : d->in;
}

/* Buffer holding layer l's output in a training pass. */
static size_t out_buf(const mmoe__dnn *d, size_t l)
{
    return d->dropout > 0.0 ? d->iO[l] : d->iH[l];
}

void mmoe__dnn_declare(mmoe__dnn *d, mmoe__registry *params, mmoe__registry *stats,
                       const char *prefix)
{
    size_t nb = 0;
    for (size_t l = 0; l < d->n_layers; l++) {
        size_t in = layer_in(d, l), w = d->width[l];
        d->w_off[l] = mmoe__reg_block(params, w, in);
        mmoe__reg_name(params, d->w_off[l], w, in, "%s.%zu.weight", prefix, l);
        d->b_off[l] = mmoe__reg_block(params, w, 1);
        mmoe__reg_name(params, d->b_off[l], w, 0, "%s.%zu.bias", prefix, l);
        d->iA[l] = nb++;
        if (d->bn) {
            d->g_off[l] = mmoe__reg_block(params, w, 1);
            mmoe__reg_name(params, d->g_off[l], w, 0, "%s.%zu.bn.gamma", prefix, l);
            d->be_off[l] = mmoe__reg_block(params, w, 1);
            mmoe__reg_name(params, d->be_off[l], w, 0, "%s.%zu.bn.beta", prefix, l);
            d->mean_off[l] = mmoe__reg_block(stats, w, 1);
            mmoe__reg_name(stats, d->mean_off[l], w, 0, "%s.%zu.bn.running_mean", prefix, l);
            d->var_off[l] = mmoe__reg_block(stats, w, 1);
            mmoe__reg_name(stats, d->var_off[l], w, 0, "%s.%zu.bn.running_var", prefix, l);
            mmoe__reg_nonneg(stats);
            d->iXH[l] = nb++;
            d->iH[l] = nb++;
        } else {
            d->iXH[l] = d->iH[l] = d->iA[l]; /* activation in place on the dense output */
        }
        if (d->dropout > 0.0) {
            d->iM[l] = nb++;
            d->iO[l] = nb++;
        } else {
            d->iM[l] = d->iO[l] = d->iH[l];
        }
    }
    d->n_bufs = nb;
}

void mmoe__dnn_init(const mmoe__dnn *d, float *params, float *stats, uint64_t seed,
                    uint64_t stream)
{
    for (size_t l = 0; l < d->n_layers; l++) {
        size_t in = layer_in(d, l), w = d->width[l];
        mmoe__init_weights(params + d->w_off[l], in, w, d->act, seed, stream + l);
        memset(params + d->b_off[l], 0, w * sizeof(float));
        if (d->bn) {
            for (size_t j = 0; j < w; j++) {
                params[d->g_off[l] + j] = 1.0f;
                params[d->be_off[l] + j] = 0.0f;
                stats[d->mean_off[l] + j] = 0.0f;
                stats[d->var_off[l] + j] = 1.0f;
            }
        }
    }
}

size_t mmoe__dnn_buffers(const mmoe__dnn *d, size_t *widths)
{
    for (size_t l = 0; l < d->n_layers; l++) {
        widths[d->iA[l]] = d->width[l];
        if (d->bn) {
            widths[d->iXH[l]] = d->width[l];
            widths[d->iH[l]] = d->width[l];
        }
        if (d->dropout > 0.0) {
            widths[d->iM[l]] = d->width[l];
            widths[d->iO[l]] = d->width[l];
        }
    }
    return d->n_bufs;
}

/* Batch mean and biased variance of column j of A [B, w]. */
static void column_moments(const float *A, size_t B, size_t w, size_t j, double *mean,
                           double *var)
{
    double s = 0.0;
    for (size_t r = 0; r < B; r++)
        s += A[r * w + j];
    double mu = s / (double)B, q = 0.0;
    for (size_t r = 0; r < B; r++) {
        double c = A[r * w + j] - mu;
        q += c * c;
    }
    *mean = mu;
    *var = q / (double)B;
}

/* 1 / sqrt(var + eps), rounded once so forward and backward agree. */
static float bn_inv(double var)
{
    return (float)(1.0 / sqrt(var + BN_EPS));
}

const float *mmoe__dnn_forward(const mmoe__dnn *d, const float *params, float *stats, size_t B,
                               const float *X, size_t ldx, int training, uint64_t *rng,
                               float *const *fb)
{
    const float *In = X;
    size_t ldi = ldx;
    int drop = training && d->dropout > 0.0;
    mmoe__rng r;
    if (drop)
        mmoe__rng_seed(&r, rng ? *rng : 0, 0xd50u);
    for (size_t l = 0; l < d->n_layers; l++) {
        const size_t in = layer_in(d, l), w = d->width[l];
        float *A = fb[d->iA[l]], *H = fb[d->iH[l]];
        mmoe__dense_forward(params + d->w_off[l], params + d->b_off[l], in, w, B, In, ldi, A, w);
        if (d->bn) {
            const float *gamma = params + d->g_off[l], *beta = params + d->be_off[l];
            float *rm = stats + d->mean_off[l], *rv = stats + d->var_off[l];
            float *XH = fb[d->iXH[l]];
            for (size_t j = 0; j < w; j++) {
                double mu, var;
                if (training) {
                    column_moments(A, B, w, j, &mu, &var);
                    double unbiased = B > 1 ? var * (double)B / (double)(B - 1) : var;
                    rm[j] = (float)(BN_MOMENTUM * rm[j] + (1.0 - BN_MOMENTUM) * mu);
                    rv[j] = (float)(BN_MOMENTUM * rv[j] + (1.0 - BN_MOMENTUM) * unbiased);
                } else {
                    mu = rm[j];
                    var = rv[j];
                }
                float m = (float)mu, inv = bn_inv(var);
                for (size_t i = 0; i < B; i++) {
                    float xh = (A[i * w + j] - m) * inv;
                    if (training)
                        XH[i * w + j] = xh;
                    H[i * w + j] = gamma[j] * xh + beta[j];
                }
            }
        }
        mmoe__act_forward(d->act, B, w, H, w);
        In = H;
        if (drop) {
            float *M = fb[d->iM[l]], *O = fb[d->iO[l]];
            const double p = d->dropout;
            const float keep = (float)(1.0 / (1.0 - p));
            for (size_t i = 0; i < B * w; i++) {
                M[i] = mmoe__rng_uniform(&r) < p ? 0.0f : keep;
                O[i] = H[i] * M[i];
            }
            In = O;
        }
        ldi = w;
    }
    if (drop && rng)
        *rng = mmoe__rng_next(&r);
    return In;
}

void mmoe__dnn_backward(const mmoe__dnn *d, const float *params, float *grads, size_t B,
                        const float *X, size_t ldx, float *const *fb, float *const *bb,
                        const float *dOut, size_t ldd, float *dX, size_t lddx)
{
    const size_t L = d->n_layers, wl = d->width[L - 1];
    float *top = bb[out_buf(d, L - 1)];
    if (dOut != top)
        for (size_t r = 0; r < B; r++)
            memcpy(top + r * wl, dOut + r * ldd, wl * sizeof(float));
    for (size_t l = L; l-- > 0;) {
        const size_t in = layer_in(d, l), w = d->width[l];
        float *dH = bb[d->iH[l]];
        if (d->dropout > 0.0) {
            const float *M = fb[d->iM[l]], *dO = bb[d->iO[l]];
            for (size_t i = 0; i < B * w; i++)
                dH[i] = dO[i] * M[i];
        }
        mmoe__act_backward(d->act, B, w, fb[d->iH[l]], w, dH, w);
        float *dA = bb[d->iA[l]];
        if (d->bn) {
            const float *A = fb[d->iA[l]], *XH = fb[d->iXH[l]];
            const float *gamma = params + d->g_off[l];
            float *dgamma = grads + d->g_off[l], *dbeta = grads + d->be_off[l];
            for (size_t j = 0; j < w; j++) {
                double mu, var, sg = 0.0, sgx = 0.0, dg = 0.0, dbt = 0.0;
                column_moments(A, B, w, j, &mu, &var);
                double inv = bn_inv(var);
                for (size_t i = 0; i < B; i++) {
                    double g = dH[i * w + j], xh = XH[i * w + j];
                    dg += g * xh;
                    dbt += g;
                    double gx = g * gamma[j]; /* dL/dxhat */
                    sg += gx;
                    sgx += gx * xh;
                }
                dgamma[j] += (float)dg;
                dbeta[j] += (float)dbt;
                const double invB = 1.0 / (double)B;
                for (size_t i = 0; i < B; i++) {
                    double gx = (double)dH[i * w + j] * gamma[j], xh = XH[i * w + j];
                    dA[i * w + j] = (float)(inv * (gx - sg * invB - xh * sgx * invB));
                }
            }
        }
        float *dIn = l ? bb[out_buf(d, l - 1)] : dX;
        size_t lddi = l ? d->width[l - 1] : lddx;
        const float *In = l ? fb[out_buf(d, l - 1)] : X;
        size_t ldi = l ? d->width[l - 1] : ldx;
        mmoe__dense_backward(params + d->w_off[l], in, w, B, In, ldi, dA, w,
                             grads + d->w_off[l], grads + d->b_off[l], dIn, lddi, 0.0f);
    }
}
