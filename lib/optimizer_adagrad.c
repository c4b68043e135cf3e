/*
 * Adagrad (Duchi et al., 2011).
 *
 * For each parameter i, with the effective gradient
 *     g_i = gscale * grad_i + lambda * theta_i          (lambda term only if lambda != 0)
 * one step is
 *     G_i     <- G_i + g_i^2
 *     theta_i <- theta_i - lr * g_i / (sqrt(G_i) + eps)
 * G starts at zero.
 *
 * Step bound: the denominator is >= eps, so |dtheta| <= lr * max|g| / eps.
 */
#include <math.h>

#include "optimizer_impl.h"

MMOE__VECTORIZED static void adagrad_update(size_t n, float *restrict params,
                                            const float *restrict grads, float *restrict sumsq,
                                            float *s1, const mmoe__step *c)
{
    (void)s1;
    const float gs = (float)c->gscale, lambda = (float)c->lambda, lr = (float)c->lr,
                eps = (float)c->eps;
    if (c->lambda != 0.0) {
        for (size_t i = 0; i < n; i++) {
            float g = gs * grads[i] + lambda * params[i];
            float G = mmoe__flushf(mmoe__clampf(sumsq[i] + g * g));
            sumsq[i] = G;
            params[i] -= lr * g / (sqrtf(G) + eps);
        }
    } else {
        for (size_t i = 0; i < n; i++) {
            float g = gs * grads[i];
            float G = mmoe__flushf(mmoe__clampf(sumsq[i] + g * g));
            sumsq[i] = G;
            params[i] -= lr * g / (sqrtf(G) + eps);
        }
    }
}

static void adagrad_update_ref(size_t n, float *params, const float *grads, float *sumsq, float *s1,
                               const mmoe__step *c)
{
    (void)s1;
    for (size_t i = 0; i < n; i++) {
        double theta = (double)params[i];
        double g = c->gscale * (double)grads[i];
        if (c->lambda != 0.0)
            g += c->lambda * theta;
        double G = (double)sumsq[i] + g * g;
        sumsq[i] = mmoe__flushf(mmoe__sat_float(G));
        params[i] = (float)(theta - c->lr * g / (sqrt(G) + c->eps));
    }
}

static double adagrad_bound(const mmoe__step *c, double geff, double *unused)
{
    (void)unused;
    return c->lr * geff / c->eps;
}

const mmoe__opt_kind mmoe__opt_adagrad = {
    "adagrad",
    1,
    1u << MMOE_OPT_LEARNING_RATE | 1u << MMOE_OPT_EPSILON | 1u << MMOE_OPT_WEIGHT_DECAY |
        1u << MMOE_OPT_CLIP_NORM,
    0.01,
    1e-10,
    adagrad_update,
    adagrad_update_ref,
    adagrad_bound,
};
