/*
 * Adam (Kingma & Ba, 2015) with bias correction.
 *
 * For each parameter i, with the effective gradient
 *     g_i = gscale * grad_i + lambda * theta_i          (lambda term only if lambda != 0)
 * step t (t = 1 for the first step after creation or reset) is
 *     m_i     <- b1 * m_i + (1 - b1) * g_i
 *     v_i     <- b2 * v_i + (1 - b2) * g_i^2
 *     mhat_i   = m_i / (1 - b1^t)
 *     vhat_i   = v_i / (1 - b2^t)
 *     theta_i <- theta_i - lr * mhat_i / (sqrt(vhat_i) + eps)
 * m and v start at zero. On the first step mhat = g and vhat = g^2, so each
 * parameter moves by lr * g / (|g| + eps), about lr in the direction of -g.
 * A gradient of exactly zero on a parameter whose moments are zero leaves
 * that parameter unchanged (0 / (0 + eps) = 0). Since b1, b2 < 1, the
 * corrections 1 - b^t are > 0 for every t >= 1.
 *
 * The fast kernel computes the same step in float, one fused pass, as
 *     theta -= (lr * c1) * m / (sqrt(c2) * sqrt(v) + eps),   c = 1 / (1 - b^t)
 * Step bound: the denominator is >= eps, so
 *     |dtheta| <= lr * c1 * (b1 * max|m| + (1 - b1) * max|g|) / eps,
 * and the bound of max|m| grows to b1 * max|m| + (1 - b1) * max|g| (it never
 * shrinks: unused embedding rows keep their moments).
 */
#include <math.h>

#include "optimizer_impl.h"

MMOE__VECTORIZED static void adam_update(size_t n, float *restrict params,
                                         const float *restrict grads, float *restrict m,
                                         float *restrict v, const mmoe__step *c)
{
    const float gs = (float)c->gscale, lambda = (float)c->lambda;
    const float b1 = (float)c->beta1, a1 = (float)(1.0 - c->beta1);
    const float b2 = (float)c->beta2, a2 = (float)(1.0 - c->beta2);
    const float lrc1 = (float)(c->lr * c->c1), s2 = (float)sqrt(c->c2), eps = (float)c->eps;
    if (c->lambda != 0.0) {
        for (size_t i = 0; i < n; i++) {
            float g = gs * grads[i] + lambda * params[i];
            float mi = mmoe__flushf(mmoe__clampf(b1 * m[i] + a1 * g));
            float vi = mmoe__flushf(mmoe__clampf(b2 * v[i] + a2 * (g * g)));
            m[i] = mi;
            v[i] = vi;
            params[i] -= lrc1 * mi / (s2 * sqrtf(vi) + eps);
        }
    } else {
        for (size_t i = 0; i < n; i++) {
            float g = gs * grads[i];
            float mi = mmoe__flushf(mmoe__clampf(b1 * m[i] + a1 * g));
            float vi = mmoe__flushf(mmoe__clampf(b2 * v[i] + a2 * (g * g)));
            m[i] = mi;
            v[i] = vi;
            params[i] -= lrc1 * mi / (s2 * sqrtf(vi) + eps);
        }
    }
}

static void adam_update_ref(size_t n, float *params, const float *grads, float *m, float *v,
                            const mmoe__step *c)
{
    for (size_t i = 0; i < n; i++) {
        double theta = (double)params[i];
        double g = c->gscale * (double)grads[i];
        if (c->lambda != 0.0)
            g += c->lambda * theta;
        double mi = c->beta1 * (double)m[i] + (1.0 - c->beta1) * g;
        double vi = c->beta2 * (double)v[i] + (1.0 - c->beta2) * g * g;
        m[i] = mmoe__flushf(mmoe__sat_float(mi));
        v[i] = mmoe__flushf(mmoe__sat_float(vi));
        params[i] = (float)(theta - c->lr * (mi * c->c1) / (sqrt(vi * c->c2) + c->eps));
    }
}

static double adam_bound(const mmoe__step *c, double geff, double *mmax)
{
    double m = c->beta1 * *mmax + (1.0 - c->beta1) * geff;
    *mmax = m > *mmax ? m : *mmax;
    return c->lr * c->c1 * m / c->eps;
}

const mmoe__opt_kind mmoe__opt_adam = {
    "adam",
    2,
    1u << MMOE_OPT_LEARNING_RATE | 1u << MMOE_OPT_BETA1 | 1u << MMOE_OPT_BETA2 |
        1u << MMOE_OPT_EPSILON | 1u << MMOE_OPT_WEIGHT_DECAY | 1u << MMOE_OPT_CLIP_NORM,
    0.001,
    1e-8,
    adam_update,
    adam_update_ref,
    adam_bound,
};
