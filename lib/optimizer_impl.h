/*
 * Private optimizer internals: the handle, the per-kind operations table
 * and the update kernels.
 *
 * Every kernel updates len parameters in place from the model's gradients,
 * which it never modifies. The effective gradient of parameter i is
 *
 *     g_i = gscale * grad_i + lambda * theta_i
 *
 * where gscale is the global-norm clipping factor (1 when not clipping) and
 * lambda the L2 weight decay (the lambda term is skipped when lambda is 0,
 * so a non-finite theta never turns into a non-finite gradient by 0 * inf).
 *
 * Each kind has two kernels with one contract:
 *   update      the fast kernel: one fused pass in float over parameters,
 *               gradients and state, written so the compiler vectorises it
 *               (no calls, no double, no branches in the loop);
 *   update_ref  the reference: the same step in double, one element at a
 *               time, as the formulas read. tests/test_kernels.c checks that
 *               the two agree on random data.
 * State is stored as float and saturates at +-FLT_MAX. The kernels allocate
 * nothing and cannot fail: the caller (optimizer.c) has checked that the
 * gradients are finite, the hyper-parameters in range and, with the kind's
 * step_bound, that no parameter can leave the float range.
 */
#ifndef MMOE_OPTIMIZER_IMPL_H
#define MMOE_OPTIMIZER_IMPL_H

#include <float.h>
#include <stddef.h>
#include <stdint.h>

#include "internal.h"
#include "mmoe/model.h"
#include "mmoe/optimizer.h"

/* Coefficients of one step, shared by every range the step updates. */
typedef struct mmoe__step {
    uint64_t t;    /* number of this step, >= 1 */
    double gscale; /* clipping factor */
    double lambda; /* weight decay */
    double lr;     /* learning rate */
    double mu;     /* SGD momentum */
    double beta1, beta2, eps;
    double c1, c2; /* Adam bias corrections 1 / (1 - beta^t) */
} mmoe__step;

/*
 * Kernel: update parameters [0, len) of the given arrays (params, grads
 * and the kind's state arrays, all offset by the caller; s1 is NULL for
 * kinds with one state array).
 */
typedef void (*mmoe__update_fn)(size_t len, float *params, const float *grads, float *s0, float *s1,
                                const mmoe__step *c);

typedef struct mmoe__opt_kind {
    const char *name;
    size_t state_arrays;  /* floats of state per parameter */
    unsigned params_used; /* bit (1 << mmoe_optimizer_param) per hyper-parameter it reads */
    double default_lr, default_eps;
    mmoe__update_fn update;
    mmoe__update_fn update_ref;
    /*
     * Upper bound on |theta_new - theta| for any parameter this step, given
     * max |effective gradient| geff and *s0max, an upper bound on |first
     * state|, which it raises to bound the state after the step.
     */
    double (*step_bound)(const mmoe__step *c, double geff, double *s0max);
} mmoe__opt_kind;

extern const mmoe__opt_kind mmoe__opt_sgd, mmoe__opt_adam, mmoe__opt_adagrad;

struct mmoe_optimizer {
    mmoe_model *model;  /* not owned */
    uint64_t model_id;  /* the model's unique id (see mmoe__model_id) */
    float *params;      /* model's flat parameters (n) */
    const float *grads; /* model's flat gradients (n) */
    size_t n;
    mmoe_optimizer_kind kind;
    const mmoe__opt_kind *ops;
    float *state;     /* state_arrays blocks of n floats: SGD v; Adam m, v; Adagrad G */
    size_t state_len; /* floats in state */
    uint64_t steps;
    double lr;
    double momentum;
    double beta1;
    double beta2;
    double eps;
    double weight_decay;
    double clip_norm;
    /*
     * An upper bound on |first state array| (never below the true maximum,
     * kept by step_bound); negative when unknown (after a load), then
     * recomputed from the state by the next step.
     */
    double s0_bound;
    char err[MMOE__ERRLEN];
};

/* Clamp x to [-FLT_MAX, FLT_MAX] (x is never NaN here); vectorises to min/max. */
static inline float mmoe__clampf(float x)
{
    x = x < FLT_MAX ? x : FLT_MAX;
    return x > -FLT_MAX ? x : -FLT_MAX;
}

/*
 * State values below FLT_MIN in magnitude are stored as zero: a moment that
 * decays towards zero would otherwise pass through subnormal floats, whose
 * arithmetic is tens of times slower on common CPUs, for no effect on the
 * step (such a moment moves a parameter by less than 1e-30).
 */
static inline float mmoe__flushf(float x)
{
    return (x < FLT_MIN && x > -FLT_MIN) ? 0.0f : x;
}

/* Round x to float, saturating at +-FLT_MAX (reference kernels). */
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

/* Nonzero when opt was created for exactly this model (pointer and unique id). */
int mmoe__optimizer_belongs_to(const mmoe_optimizer *opt, const mmoe_model *model);

/* The model's process-unique id (model.c; declared in model_impl.h too). */
uint64_t mmoe__model_id(const mmoe_model *m);

/* The state was replaced wholesale (loaded): forget the state bound. */
void mmoe__optimizer_state_changed(mmoe_optimizer *opt);

#endif /* MMOE_OPTIMIZER_IMPL_H */
