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

void mmoe__dnn_init(const mmoe__dnn *d, float *params, float *stats, uint64_t seed, uint64_t stream)
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

mmoe_status mmoe__dnn_alloc(mmoe__dnn *d)
{
    if (!d->bn)
        return MMOE_OK;
    size_t maxw = 0, sum = 0;
    for (size_t l = 0; l < d->n_layers; l++) {
        maxw = d->width[l] > maxw ? d->width[l] : maxw;
        sum += d->width[l]; /* widths <= 2^20, layers <= 16: no overflow */
    }
    d->acc = mmoe__calloc(2 * maxw + 2, sizeof *d->acc);
    d->inv = mmoe__calloc(sum, sizeof *d->inv);
    if (!d->acc || !d->inv) {
        mmoe__dnn_free(d);
        return MMOE_ERR_NOMEM;
    }
    d->total = d->acc + 2 * maxw + 1;
    *d->total = 1.0;
    return MMOE_OK;
}

void mmoe__dnn_free(mmoe__dnn *d)
{
    mmoe__free(d->acc);
    mmoe__free(d->inv);
    d->acc = NULL;
    d->inv = NULL;
    d->total = NULL;
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

/* 1 / sqrt(var + eps), rounded once so forward and backward agree. */
static float bn_inv(double var)
{
    return (float)(1.0 / sqrt(var + BN_EPS));
}

/*
 * Training statistics of A [B, w]: column means (left in d->acc[0..w)),
 * biased variances over the batch (of all replicas with a reducer: sums
 * and row count are reduced, then the centred sums of squares), running
 * statistics moved towards them, and inv[j] = 1 / sqrt(var_j + eps). The
 * rows counted go to *d->total.
 */
static void bn_batch_moments(const mmoe__dnn *d, const float *A, size_t B, size_t w, float *rm,
                             float *rv, float *inv)
{
    double *mu = d->acc, *q = d->acc + w + 1;
    for (size_t j = 0; j < w; j++) {
        double s = 0.0;
        for (size_t r = 0; r < B; r++)
            s += A[r * w + j];
        mu[j] = s;
    }
    mu[w] = (double)B;
    mmoe__reduce(d->red, mu, w + 1);
    const double n = mu[w];
    for (size_t j = 0; j < w; j++) {
        mu[j] /= n;
        double acc = 0.0;
        for (size_t r = 0; r < B; r++) {
            double c = A[r * w + j] - mu[j];
            acc += c * c;
        }
        q[j] = acc;
    }
    mmoe__reduce(d->red, q, w);
    for (size_t j = 0; j < w; j++) {
        double var = q[j] / n;
        double unbiased = n > 1.0 ? var * n / (n - 1.0) : var;
        rm[j] = (float)(BN_MOMENTUM * rm[j] + (1.0 - BN_MOMENTUM) * mu[j]);
        rv[j] = (float)(BN_MOMENTUM * rv[j] + (1.0 - BN_MOMENTUM) * unbiased);
        inv[j] = bn_inv(var);
    }
    *d->total = n;
}

const float *mmoe__dnn_forward(const mmoe__dnn *d, const float *params, const float *stats,
                               float *update, size_t B, const float *X, size_t ldx, uint64_t *rng,
                               float *const *fb)
{
    const int training = update != NULL;
    const float *In = X;
    size_t ldi = ldx;
    int drop = training && d->dropout > 0.0;
    size_t inv_off = 0; /* this layer's columns in d->inv */
    mmoe__rng r;
    if (drop)
        mmoe__rng_seed(&r, rng ? *rng : 0, 0xd50u);
    for (size_t l = 0; l < d->n_layers; l++) {
        const size_t in = layer_in(d, l), w = d->width[l];
        float *A = fb[d->iA[l]], *H = fb[d->iH[l]];
        mmoe__dense_forward(params + d->w_off[l], params + d->b_off[l], in, w, B, In, ldi, A, w);
        if (d->bn) {
            const float *gamma = params + d->g_off[l], *beta = params + d->be_off[l];
            const float *rm = stats + d->mean_off[l], *rv = stats + d->var_off[l];
            float *XH = fb[d->iXH[l]];
            if (training)
                bn_batch_moments(d, A, B, w, update + d->mean_off[l], update + d->var_off[l],
                                 d->inv + inv_off);
            for (size_t j = 0; j < w; j++) {
                float m, inv;
                if (training) {
                    m = (float)d->acc[j];
                    inv = d->inv[inv_off + j];
                } else {
                    m = rm[j];
                    inv = bn_inv(rv[j]);
                }
                for (size_t i = 0; i < B; i++) {
                    float xh = (A[i * w + j] - m) * inv;
                    if (training)
                        XH[i * w + j] = xh;
                    H[i * w + j] = gamma[j] * xh + beta[j];
                }
            }
            inv_off += w;
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

/*
 * Batch-norm backward of layer l: with xh the normalised values and
 * gx = dL/dxhat = gamma * dH,
 *   dA_i = inv * (gx_i - S_g / B - xh_i * S_gx / B),
 * S_g = sum gx and S_gx = sum gx * xh over the batch. With replicas, the
 * loss differentiated is the global mean, sum_r (B_r / N) L_r, and each
 * replica's gradients stay those of its own mean loss L_r (the caller
 * weights them by B_r / N): the sums are then reduced as
 * S = sum_r (B_r / N) * S_r, and the formula above with the local B holds
 * unchanged (alone: N == B, S == S_r). Adds dgamma, dbeta.
 */
static void bn_backward(const mmoe__dnn *d, const float *params, float *grads, size_t l, size_t B,
                        const float *XH, const float *dH, float *dA, const float *inv)
{
    const size_t w = d->width[l];
    const float *gamma = params + d->g_off[l];
    float *dgamma = grads + d->g_off[l], *dbeta = grads + d->be_off[l];
    double *sg = d->acc, *sgx = d->acc + w;
    const double share = (double)B / *d->total; /* exactly 1 alone */
    for (size_t j = 0; j < w; j++) {
        double s1 = 0.0, s2 = 0.0, dg = 0.0, dbt = 0.0;
        for (size_t i = 0; i < B; i++) {
            double g = dH[i * w + j], xh = XH[i * w + j];
            dg += g * xh;
            dbt += g;
            double gx = g * gamma[j]; /* dL/dxhat */
            s1 += gx;
            s2 += gx * xh;
        }
        dgamma[j] += (float)dg;
        dbeta[j] += (float)dbt;
        sg[j] = share * s1;
        sgx[j] = share * s2;
    }
    mmoe__reduce(d->red, d->acc, 2 * w);
    const double invB = 1.0 / (double)B;
    for (size_t j = 0; j < w; j++) {
        double iv = inv[j];
        for (size_t i = 0; i < B; i++) {
            double gx = (double)dH[i * w + j] * gamma[j], xh = XH[i * w + j];
            dA[i * w + j] = (float)(iv * (gx - sg[j] * invB - xh * sgx[j] * invB));
        }
    }
}

void mmoe__dnn_backward(const mmoe__dnn *d, const float *params, float *grads, size_t B,
                        const float *X, size_t ldx, float *const *fb, float *const *bb,
                        const float *dOut, size_t ldd, float *dX, size_t lddx)
{
    const size_t L = d->n_layers, wl = d->width[L - 1];
    size_t inv_off = 0;
    for (size_t l = 0; d->bn && l < L; l++)
        inv_off += d->width[l];
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
            inv_off -= w;
            bn_backward(d, params, grads, l, B, fb[d->iXH[l]], dH, dA, d->inv + inv_off);
        }
        float *dIn = l ? bb[out_buf(d, l - 1)] : dX;
        size_t lddi = l ? d->width[l - 1] : lddx;
        const float *In = l ? fb[out_buf(d, l - 1)] : X;
        size_t ldi = l ? d->width[l - 1] : ldx;
        mmoe__dense_backward(params + d->w_off[l], in, w, B, In, ldi, dA, w, grads + d->w_off[l],
                             grads + d->b_off[l], dIn, lddi, 0.0f);
    }
}
