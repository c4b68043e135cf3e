/*
 * Private optimizer internals: the handle and the per-kind update kernels.
 *
 * Every kernel updates n parameters in place from the model's gradients,
 * which it never modifies. The effective gradient of parameter i is
 *
 *     g_i = gscale * grad_i + lambda * theta_i
 *
 * where gscale is the global-norm clipping factor (1 when not clipping) and
 * lambda the L2 weight decay (the lambda term is skipped when lambda is 0,
 * so a non-finite theta never turns into a non-finite gradient by 0 * inf).
 * Arithmetic is carried out in double per element; parameters and state
 * are stored as float. The kernels allocate nothing and cannot fail: the
 * caller (optimizer.c) has already checked the gradients are finite and the
 * hyper-parameters are in range.
 */
#ifndef MMOE_OPTIMIZER_IMPL_H
#define MMOE_OPTIMIZER_IMPL_H

#include <float.h>
#include <stddef.h>
#include <stdint.h>

#include "internal.h"
#include "mmoe/model.h"
#include "mmoe/optimizer.h"

struct mmoe_optimizer {
    mmoe_model *model;          /* not owned */
    float *params;              /* model's flat parameters (n) */
    const float *grads;         /* model's flat gradients (n) */
    size_t n;
    mmoe_optimizer_kind kind;
    float *state;               /* SGD: velocity [n]; Adam: m [n] then v [n]; Adagrad: G [n] */
    size_t state_len;           /* floats in state */
    uint64_t steps;
    double lr;
    double momentum;
    double beta1;
    double beta2;
    double eps;
    double weight_decay;
    double clip_norm;
    char err[MMOE__ERRLEN];
};

/*
 * Round x to float, saturating at +-FLT_MAX, for storing optimizer state:
 * a squared gradient that exceeds the float range leaves the state at the
 * largest float instead of infinity (x is never NaN here).
 */
static inline float mmoe__sat_float(double x)
{
    if (x > (double)FLT_MAX)
        return FLT_MAX;
    if (x < -(double)FLT_MAX)
        return -FLT_MAX;
    return (float)x;
}

/* Model the optimizer updates (NULL for NULL). */
mmoe_model *mmoe__optimizer_model(const mmoe_optimizer *opt);

/*
 * SGD with momentum mu in [0, 1):  v = mu * v + g;  theta -= lr * v.
 * velocity holds v (n floats, zero before the first step).
 */
void mmoe__sgd_update(size_t n, float *params, const float *grads, float *velocity,
                      double gscale, double lambda, double lr, double mu);

/*
 * Adam, bias-corrected; t >= 1 is the number of this step:
 *   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
 *   theta -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps).
 * m and v hold n floats each (zero before the first step).
 */
void mmoe__adam_update(size_t n, float *params, const float *grads, float *m, float *v,
                       double gscale, double lambda, double lr, double beta1, double beta2,
                       double eps, uint64_t t);

/*
 * Adagrad:  G += g^2;  theta -= lr * g / (sqrt(G) + eps).
 * sumsq holds G (n floats, zero before the first step).
 */
void mmoe__adagrad_update(size_t n, float *params, const float *grads, float *sumsq,
                          double gscale, double lambda, double lr, double eps);

#endif /* MMOE_OPTIMIZER_IMPL_H */
