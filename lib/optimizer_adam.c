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
 */
#include <math.h>

#include "optimizer_impl.h"

void mmoe__adam_update(size_t n, float *params, const float *grads, float *m, float *v,
                       double gscale, double lambda, double lr, double beta1, double beta2,
                       double eps, uint64_t t)
{
    /* 1 / (1 - b^t): b^t is in [0, 1) for b in [0, 1) and t >= 1. */
    double c1 = 1.0 / (1.0 - pow(beta1, (double)t));
    double c2 = 1.0 / (1.0 - pow(beta2, (double)t));
    double a1 = 1.0 - beta1;
    double a2 = 1.0 - beta2;
    for (size_t i = 0; i < n; i++) {
        double theta = (double)params[i];
        double g = gscale * (double)grads[i];
        if (lambda != 0.0)
            g += lambda * theta;
        double mi = beta1 * (double)m[i] + a1 * g;
        double vi = beta2 * (double)v[i] + a2 * g * g;
        m[i] = mmoe__sat_float(mi);
        v[i] = mmoe__sat_float(vi);
        params[i] = (float)(theta - lr * (mi * c1) / (sqrt(vi * c2) + eps));
    }
}
