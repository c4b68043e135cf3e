/*
 * Adagrad (Duchi, Hazan & Singer, 2011), diagonal form.
 *
 * For each parameter i, with the effective gradient
 *     g_i = gscale * grad_i + lambda * theta_i          (lambda term only if lambda != 0)
 * one step is
 *     G_i     <- G_i + g_i^2
 *     theta_i <- theta_i - lr * g_i / (sqrt(G_i) + eps)
 * G starts at zero, so the first step moves each parameter by
 * lr * g / (|g| + eps); later steps shrink as squared gradients accumulate.
 * G is stored as float, saturating at FLT_MAX.
 */
#include <math.h>

#include "optimizer_impl.h"

void mmoe__adagrad_update(size_t n, float *params, const float *grads, float *sumsq,
                          double gscale, double lambda, double lr, double eps)
{
    for (size_t i = 0; i < n; i++) {
        double theta = (double)params[i];
        double g = gscale * (double)grads[i];
        if (lambda != 0.0)
            g += lambda * theta;
        double G = (double)sumsq[i] + g * g;
        sumsq[i] = mmoe__sat_float(G);
        params[i] = (float)(theta - lr * g / (sqrt(G) + eps));
    }
}
