/*
 * Optimizer handle and step driver.
 *
 * The optimizer takes the model's flat parameter and gradient buffers once,
 * at creation (they live as long as the model), and allocates its whole
 * state there: SGD keeps a velocity (n floats), Adam the moments m and v
 * (2n floats), Adagrad the sums of squares (n floats). A step allocates
 * nothing and runs, in this order:
 *
 *   1. finiteness: any NaN/Inf gradient refuses the step with
 *      MMOE_ERR_NONFINITE before anything is written (parameters, state and
 *      step count unchanged); the same pass sums the squared gradients;
 *   2. global-norm clipping: with clip_norm c > 0 and ||grad||_2 > c
 *      (accumulated in double), every gradient is scaled by c / ||grad||.
 *      The scale is applied inside the update; the model's gradient buffer
 *      is never modified;
 *   3. weight decay: the effective gradient is scale * grad + lambda * theta;
 *   4. the kind's update (optimizer_sgd.c, optimizer_adam.c, optimizer_adagrad.c);
 *      embedding tables are updated lazily, row by row (see update_lazy).
 *
 * Guarantees and limits: with finite gradients and in-range
 * hyper-parameters the state stays finite, and a refused step changes
 * nothing. State is stored as float and saturates at +-FLT_MAX: gradients
 * beyond about 1e19 in magnitude (whose squares exceed the float range)
 * saturate Adam's second moment and Adagrad's sums, after which those
 * parameters' steps are mis-scaled; clip_norm prevents this. The updated
 * parameters are not range checked: an update so large that theta - lr * step
 * leaves the float range (e.g. an enormous learning rate on unclipped
 * gradients) stores an infinite parameter. A parameter that is already
 * non-finite (written by the caller) stays so; it does not spread to others
 * through the step.
 */
#include <math.h>
#include <string.h>

#include "embedding.h"
#include "optimizer_impl.h"

static int kind_valid(mmoe_optimizer_kind kind)
{
    return kind == MMOE_OPTIMIZER_SGD || kind == MMOE_OPTIMIZER_ADAM ||
           kind == MMOE_OPTIMIZER_ADAGRAD;
}

static const char *kind_name(mmoe_optimizer_kind kind)
{
    switch (kind) {
    case MMOE_OPTIMIZER_SGD:
        return "sgd";
    case MMOE_OPTIMIZER_ADAM:
        return "adam";
    case MMOE_OPTIMIZER_ADAGRAD:
        return "adagrad";
    }
    return "?";
}

static const char *param_name(mmoe_optimizer_param param)
{
    switch (param) {
    case MMOE_OPT_LEARNING_RATE:
        return "learning_rate";
    case MMOE_OPT_MOMENTUM:
        return "momentum";
    case MMOE_OPT_BETA1:
        return "beta1";
    case MMOE_OPT_BETA2:
        return "beta2";
    case MMOE_OPT_EPSILON:
        return "epsilon";
    case MMOE_OPT_WEIGHT_DECAY:
        return "weight_decay";
    case MMOE_OPT_CLIP_NORM:
        return "clip_norm";
    }
    return "?";
}

/* Floats of state each kind keeps per parameter. */
static size_t state_per_param(mmoe_optimizer_kind kind)
{
    return kind == MMOE_OPTIMIZER_ADAM ? 2 : 1;
}

/* Whether opt's kind uses a known param (lr, weight decay, clipping: every kind). */
static int param_used(mmoe_optimizer_kind kind, mmoe_optimizer_param param)
{
    switch (param) {
    case MMOE_OPT_LEARNING_RATE:
    case MMOE_OPT_WEIGHT_DECAY:
    case MMOE_OPT_CLIP_NORM:
        return 1;
    case MMOE_OPT_MOMENTUM:
        return kind == MMOE_OPTIMIZER_SGD;
    case MMOE_OPT_BETA1:
    case MMOE_OPT_BETA2:
        return kind == MMOE_OPTIMIZER_ADAM;
    case MMOE_OPT_EPSILON:
        return kind == MMOE_OPTIMIZER_ADAM || kind == MMOE_OPTIMIZER_ADAGRAD;
    }
    return 0;
}

/* Unknown param or one opt's kind does not use: record why, return MMOE_ERR_INVALID_ARG. */
static mmoe_status unusable_param(char *errbuf, mmoe_optimizer_kind kind,
                                  mmoe_optimizer_param param, const char *func)
{
    const char *name = param_name(param);
    if (!strcmp(name, "?"))
        return mmoe__fail(errbuf, MMOE_ERR_INVALID_ARG, func, "unknown parameter %d", (int)param);
    return mmoe__fail(errbuf, MMOE_ERR_INVALID_ARG, func, "%s optimizer has no parameter %s",
                      kind_name(kind), name);
}

/*
 * Range check for a known param: every value must be finite;
 * learning rate and epsilon > 0; momentum, beta1, beta2 in [0, 1);
 * weight decay and clip norm >= 0. Returns a description of the valid range
 * on failure, NULL when value is acceptable.
 */
static const char *range_error(mmoe_optimizer_param param, double value)
{
    if (!isfinite(value))
        return "a finite value";
    switch (param) {
    case MMOE_OPT_LEARNING_RATE:
    case MMOE_OPT_EPSILON:
        return value > 0.0 ? NULL : "a value > 0";
    case MMOE_OPT_MOMENTUM:
    case MMOE_OPT_BETA1:
    case MMOE_OPT_BETA2:
        return value >= 0.0 && value < 1.0 ? NULL : "a value in [0, 1)";
    case MMOE_OPT_WEIGHT_DECAY:
    case MMOE_OPT_CLIP_NORM:
        return value >= 0.0 ? NULL : "a value >= 0";
    }
    return "a known parameter";
}

static void set_defaults(mmoe_optimizer *opt)
{
    opt->lr = opt->kind == MMOE_OPTIMIZER_ADAM ? 0.001 : 0.01;
    opt->momentum = 0.0;
    opt->beta1 = 0.9;
    opt->beta2 = 0.999;
    opt->eps = opt->kind == MMOE_OPTIMIZER_ADAGRAD ? 1e-10 : 1e-8;
    opt->weight_decay = 0.0;
    opt->clip_norm = 0.0;
}

mmoe_status mmoe_optimizer_create(mmoe_model *model, mmoe_optimizer_kind kind,
                                  mmoe_optimizer **out)
{
    if (!out)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "out is NULL");
    *out = NULL;
    if (!model)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "model is NULL");
    if (!kind_valid(kind))
        return MMOE_FAIL(NULL, MMOE_ERR_INVALID_ARG, "unknown optimizer kind %d", (int)kind);

    float *params = NULL;
    float *grads = NULL;
    size_t n = 0;
    mmoe_status st = mmoe_model_flat(model, &params, &grads, &n);
    if (st != MMOE_OK)
        return MMOE_FAIL(NULL, st, "cannot read the model's parameters: %s",
                         mmoe_model_last_error(model));
    /* A state too large to count is too large to allocate. */
    size_t state_len;
    if (mmoe__mul(n, state_per_param(kind), &state_len))
        return MMOE_FAIL(NULL, MMOE_ERR_NOMEM, "%s state for %zu parameters is too large",
                         kind_name(kind), n);

    mmoe_optimizer *opt = mmoe__calloc(1, sizeof *opt);
    if (!opt)
        return MMOE_FAIL(NULL, MMOE_ERR_NOMEM, "no memory for the optimizer");
    opt->state = mmoe__calloc(state_len, sizeof(float));
    if (!opt->state) {
        mmoe__free(opt);
        return MMOE_FAIL(NULL, MMOE_ERR_NOMEM, "no memory for %s state (%zu floats)",
                         kind_name(kind), state_len);
    }
    opt->model = model;
    opt->params = params;
    opt->grads = grads;
    opt->n = n;
    opt->kind = kind;
    opt->state_len = state_len;
    opt->steps = 0;
    set_defaults(opt);
    mmoe__clear(opt->err);
    *out = opt;
    return MMOE_OK;
}

void mmoe_optimizer_free(mmoe_optimizer *opt)
{
    if (!opt)
        return;
    mmoe__free(opt->state);
    mmoe__free(opt);
}

mmoe_status mmoe_optimizer_set(mmoe_optimizer *opt, mmoe_optimizer_param param, double value)
{
    if (!opt)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "opt is NULL");
    if (!param_used(opt->kind, param))
        return unusable_param(opt->err, opt->kind, param, __func__);
    const char *want = range_error(param, value);
    if (want)
        return MMOE_FAIL(opt->err, MMOE_ERR_RANGE, "%s = %g: must be %s", param_name(param),
                         value, want);
    switch (param) {
    case MMOE_OPT_LEARNING_RATE:
        opt->lr = value;
        break;
    case MMOE_OPT_MOMENTUM:
        opt->momentum = value;
        break;
    case MMOE_OPT_BETA1:
        opt->beta1 = value;
        break;
    case MMOE_OPT_BETA2:
        opt->beta2 = value;
        break;
    case MMOE_OPT_EPSILON:
        opt->eps = value;
        break;
    case MMOE_OPT_WEIGHT_DECAY:
        opt->weight_decay = value;
        break;
    case MMOE_OPT_CLIP_NORM:
        opt->clip_norm = value;
        break;
    }
    mmoe__clear(opt->err);
    return MMOE_OK;
}

mmoe_status mmoe_optimizer_get(const mmoe_optimizer *opt, mmoe_optimizer_param param,
                               double *value)
{
    if (!opt)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "opt is NULL");
    if (!value)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "value is NULL");
    if (!param_used(opt->kind, param))
        return unusable_param(NULL, opt->kind, param, __func__);
    double v = 0.0;
    switch (param) {
    case MMOE_OPT_LEARNING_RATE:
        v = opt->lr;
        break;
    case MMOE_OPT_MOMENTUM:
        v = opt->momentum;
        break;
    case MMOE_OPT_BETA1:
        v = opt->beta1;
        break;
    case MMOE_OPT_BETA2:
        v = opt->beta2;
        break;
    case MMOE_OPT_EPSILON:
        v = opt->eps;
        break;
    case MMOE_OPT_WEIGHT_DECAY:
        v = opt->weight_decay;
        break;
    case MMOE_OPT_CLIP_NORM:
        v = opt->clip_norm;
        break;
    }
    *value = v;
    return MMOE_OK;
}

/*
 * Sum of squares of n floats, accumulated in double. For finite floats it
 * cannot overflow (n * FLT_MAX^2 < DBL_MAX for any n that fits in size_t),
 * so the sum is finite exactly when every value is: one pass serves as both
 * the finiteness check and the clipping norm.
 */
static double sum_squares(const float *g, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += (double)g[i] * (double)g[i];
    return s;
}

/* Index of the first non-finite value (n if all are finite). */
static size_t first_nonfinite(const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return i;
    return n;
}

/* ---- sparse (embedding) updates ------------------------------------------------------------
 *
 * Embedding tables are updated lazily: a table row whose gradient is all
 * zero in this step (a row no sample of the batch used) is skipped
 * entirely, so its Adam moments, Adagrad sums and SGD velocity are neither
 * decayed nor grown, and weight decay does not shrink it. Rows that were
 * used get the ordinary update; Adam's bias correction uses the global step
 * count t, as for every other parameter. All other parameters are dense
 * and updated every step. The tables come from mmoe__model_sparse_blocks.
 */

/* The kind's update on parameters [off, off + len). */
static void update_range(mmoe_optimizer *opt, size_t off, size_t len, double gscale, uint64_t t)
{
    if (len == 0)
        return;
    float *p = opt->params + off;
    const float *g = opt->grads + off;
    switch (opt->kind) {
    case MMOE_OPTIMIZER_SGD:
        mmoe__sgd_update(len, p, g, opt->state + off, gscale, opt->weight_decay, opt->lr,
                         opt->momentum);
        break;
    case MMOE_OPTIMIZER_ADAM:
        mmoe__adam_update(len, p, g, opt->state + off, opt->state + opt->n + off, gscale,
                          opt->weight_decay, opt->lr, opt->beta1, opt->beta2, opt->eps, t);
        break;
    case MMOE_OPTIMIZER_ADAGRAD:
        mmoe__adagrad_update(len, p, g, opt->state + off, gscale, opt->weight_decay, opt->lr,
                             opt->eps);
        break;
    }
}

static int all_zero(const float *g, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (g[i] != 0.0f)
            return 0;
    return 1;
}

/*
 * Dense ranges in one piece each; embedding tables by runs of consecutive
 * used rows, skipping unused rows.
 */
static void update_lazy(mmoe_optimizer *opt, double gscale, uint64_t t)
{
    const mmoe__sparse_block *blk;
    size_t nb = mmoe__model_sparse_blocks(opt->model, &blk), pos = 0;
    for (size_t b = 0; b < nb; b++) {
        const size_t dim = blk[b].dim, end = blk[b].offset + blk[b].rows * dim;
        update_range(opt, pos, blk[b].offset - pos, gscale, t);
        size_t run = blk[b].offset; /* start of the current run of used rows */
        for (size_t off = blk[b].offset; off < end; off += dim) {
            if (all_zero(opt->grads + off, dim)) {
                update_range(opt, run, off - run, gscale, t);
                run = off + dim;
            }
        }
        update_range(opt, run, end - run, gscale, t);
        pos = end;
    }
    update_range(opt, pos, opt->n - pos, gscale, t);
}

mmoe_status mmoe_optimizer_step(mmoe_optimizer *opt)
{
    if (!opt)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "opt is NULL");

    /* 1. Refuse non-finite gradients before writing anything. */
    double sumsq = sum_squares(opt->grads, opt->n);
    if (!isfinite(sumsq)) {
        size_t i = first_nonfinite(opt->grads, opt->n);
        return MMOE_FAIL(opt->err, MMOE_ERR_NONFINITE,
                         "gradient %zu of %zu is %s; step refused, nothing changed", i, opt->n,
                         i < opt->n && isnan(opt->grads[i]) ? "NaN" : "infinite");
    }

    /* 2. Global-norm clipping, as a scale applied inside the update. */
    double gscale = 1.0;
    if (opt->clip_norm > 0.0) {
        double norm = sqrt(sumsq);
        if (norm > opt->clip_norm)
            gscale = opt->clip_norm / norm;
    }

    /* 3 and 4. Weight decay is folded into the effective gradient by the kernels. */
    uint64_t t = opt->steps + 1;
    update_lazy(opt, gscale, t);
    opt->steps = t;
    mmoe__clear(opt->err);
    return MMOE_OK;
}

mmoe_status mmoe_optimizer_reset(mmoe_optimizer *opt)
{
    if (!opt)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "opt is NULL");
    if (opt->state_len > 0)
        memset(opt->state, 0, opt->state_len * sizeof(float));
    opt->steps = 0;
    mmoe__clear(opt->err);
    return MMOE_OK;
}

uint64_t mmoe_optimizer_steps(const mmoe_optimizer *opt)
{
    return opt ? opt->steps : 0;
}

const char *mmoe_optimizer_last_error(const mmoe_optimizer *opt)
{
    return opt ? opt->err : "";
}

mmoe_model *mmoe__optimizer_model(const mmoe_optimizer *opt)
{
    return opt ? opt->model : NULL;
}
