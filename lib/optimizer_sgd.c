/*
 * SGD with optional (heavy-ball) momentum.
 *
 * For each parameter i, with the effective gradient
 *     g_i = gscale * grad_i + lambda * theta_i          (lambda term only if lambda != 0)
 * one step is
 *     v_i     <- mu * v_i + g_i
 *     theta_i <- theta_i - lr * v_i
 * With mu = 0 this is plain gradient descent, theta_i -= lr * g_i (v_i then
 * just holds the last effective gradient). v starts at zero, so the first
 * step with any mu is theta -= lr * g.
 *
 * Step bound: |v_new| <= mu * max|v| + max|g|, so |dtheta| <= lr * that; the
 * bound of max|v| grows to it (it never shrinks: unused embedding rows keep
 * their velocity).
 */
#include <math.h>

#include "optimizer_impl.h"

MMOE__VECTORIZED static void sgd_update(size_t n, float *restrict params,
                                        const float *restrict grads, float *restrict velocity,
                                        float *s1, const mmoe__step *c)
{
    (void)s1;
    const float gs = (float)c->gscale, lambda = (float)c->lambda, lr = (float)c->lr,
                mu = (float)c->mu;
    if (c->lambda != 0.0) {
        for (size_t i = 0; i < n; i++) {
            float v =
                mmoe__flushf(mmoe__clampf(mu * velocity[i] + (gs * grads[i] + lambda * params[i])));
            velocity[i] = v;
            params[i] -= lr * v;
        }
    } else {
        for (size_t i = 0; i < n; i++) {
            float v = mmoe__flushf(mmoe__clampf(mu * velocity[i] + gs * grads[i]));
            velocity[i] = v;
            params[i] -= lr * v;
        }
    }
}

static void sgd_update_ref(size_t n, float *params, const float *grads, float *velocity, float *s1,
                           const mmoe__step *c)
{
    (void)s1;
    for (size_t i = 0; i < n; i++) {
        double theta = (double)params[i];
        double g = c->gscale * (double)grads[i];
        if (c->lambda != 0.0)
            g += c->lambda * theta;
        double v = c->mu * (double)velocity[i] + g;
        velocity[i] = mmoe__flushf(mmoe__sat_float(v));
        params[i] = (float)(theta - c->lr * v);
    }
}

static double sgd_bound(const mmoe__step *c, double geff, double *vmax)
{
    double v = c->mu * *vmax + geff;
    *vmax = v > *vmax ? v : *vmax;
    return c->lr * v;
}

const mmoe__opt_kind mmoe__opt_sgd = {
    "sgd",
    1,
    1u << MMOE_OPT_LEARNING_RATE | 1u << MMOE_OPT_MOMENTUM | 1u << MMOE_OPT_WEIGHT_DECAY |
        1u << MMOE_OPT_CLIP_NORM,
    0.01,
    1e-8,
    sgd_update,
    sgd_update_ref,
    sgd_bound,
};
