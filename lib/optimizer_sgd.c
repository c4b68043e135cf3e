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
 */
#include "optimizer_impl.h"

void mmoe__sgd_update(size_t n, float *params, const float *grads, float *velocity,
                      double gscale, double lambda, double lr, double mu)
{
    for (size_t i = 0; i < n; i++) {
        double theta = (double)params[i];
        double g = gscale * (double)grads[i];
        if (lambda != 0.0)
            g += lambda * theta;
        double v = mu * (double)velocity[i] + g;
        velocity[i] = mmoe__sat_float(v);
        params[i] = (float)(theta - lr * v);
    }
}
