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
 *   4. the kind's update (optimizer_sgd.c, optimizer_adam.c, optimizer_adagrad.c),
 *      one fused float pass over parameters, gradients and state;
 *      embedding tables are updated lazily, row by row (see update_lazy);
 *   5. before 4, a range guard: from the largest gradient, a running bound
 *      of the first state (velocity, first moment) and, with weight decay,
 *      the largest parameter, each kind bounds the largest change a step can
 *      make. When the bound is below 2^100 no parameter can leave the float
 *      range; otherwise the step is first computed on copies and refused with
 *      MMOE_ERR_NONFINITE if any parameter would become non-finite.
 *
 * Guarantees and limits: with finite gradients and in-range
 * hyper-parameters the state stays finite, no step turns a finite parameter
 * into a non-finite one, and a refused step changes nothing. The step
 * counter never wraps: at 2^64 - 1 steps the step is refused with
 * MMOE_ERR_RANGE. State is stored as float and saturates at +-FLT_MAX:
 * gradients beyond about 1e19 in magnitude (whose squares exceed the float
 * range) saturate Adam's second moment and Adagrad's sums, after which
 * those parameters' steps are mis-scaled; clip_norm prevents this. A
 * parameter that is already non-finite (written by the caller) stays so
 * without weight decay (with weight decay the step is refused); it does not
 * spread to others through the step.
 */
#include <math.h>
#include <string.h>

#include "embedding.h"
#include "model_impl.h"
#include "optimizer_impl.h"
#include "reduce.h"
#include "pool.h"

static const mmoe__opt_kind *kind_ops(mmoe_optimizer_kind kind)
{
    static const mmoe__opt_kind *const table[] = {
        [MMOE_OPTIMIZER_SGD] = &mmoe__opt_sgd,
        [MMOE_OPTIMIZER_ADAM] = &mmoe__opt_adam,
        [MMOE_OPTIMIZER_ADAGRAD] = &mmoe__opt_adagrad,
    };
    if ((unsigned)kind >= sizeof table / sizeof table[0])
        return NULL;
    return table[kind];
}

static const char *param_name(mmoe_optimizer_param param)
{
    static const char *const names[] = {
        [MMOE_OPT_LEARNING_RATE] = "learning_rate",
        [MMOE_OPT_MOMENTUM] = "momentum",
        [MMOE_OPT_BETA1] = "beta1",
        [MMOE_OPT_BETA2] = "beta2",
        [MMOE_OPT_EPSILON] = "epsilon",
        [MMOE_OPT_WEIGHT_DECAY] = "weight_decay",
        [MMOE_OPT_CLIP_NORM] = "clip_norm",
    };
    if ((unsigned)param >= sizeof names / sizeof names[0])
        return "?";
    return names[param];
}

/* Whether opt's kind uses a known param. */
static int param_used(const mmoe__opt_kind *ops, mmoe_optimizer_param param)
{
    return (unsigned)param < 32u && (ops->params_used >> (unsigned)param & 1u);
}

/* Unknown param or one opt's kind does not use: record why, return MMOE_ERR_INVALID_ARG. */
static mmoe_status unusable_param(char *errbuf, const mmoe__opt_kind *ops,
                                  mmoe_optimizer_param param, const char *func)
{
    const char *name = param_name(param);
    if (!strcmp(name, "?"))
        return mmoe__fail(errbuf, MMOE_ERR_INVALID_ARG, func, "unknown parameter %d", (int)param);
    return mmoe__fail(errbuf, MMOE_ERR_INVALID_ARG, func, "%s optimizer has no parameter %s",
                      ops->name, name);
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
    opt->lr = opt->ops->default_lr;
    opt->momentum = 0.0;
    opt->beta1 = 0.9;
    opt->beta2 = 0.999;
    opt->eps = opt->ops->default_eps;
    opt->weight_decay = 0.0;
    opt->clip_norm = 0.0;
}

mmoe_status mmoe_optimizer_create(mmoe_model *model, mmoe_optimizer_kind kind, mmoe_optimizer **out)
{
    if (!out)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "out is NULL");
    *out = NULL;
    if (!model)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "model is NULL");
    const mmoe__opt_kind *ops = kind_ops(kind);
    if (!ops)
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
    if (mmoe__mul(n, ops->state_arrays, &state_len))
        return MMOE_FAIL(NULL, MMOE_ERR_NOMEM, "%s state for %zu parameters is too large",
                         ops->name, n);

    mmoe_optimizer *opt = mmoe__calloc(1, sizeof *opt);
    if (!opt)
        return MMOE_FAIL(NULL, MMOE_ERR_NOMEM, "no memory for the optimizer");
    opt->state = mmoe__calloc(state_len, sizeof(float));
    if (!opt->state) {
        mmoe__free(opt);
        return MMOE_FAIL(NULL, MMOE_ERR_NOMEM, "no memory for %s state (%zu floats)", ops->name,
                         state_len);
    }
    opt->model = model;
    opt->model_id = mmoe__model_id(model);
    opt->params = params;
    opt->grads = grads;
    opt->n = n;
    opt->kind = kind;
    opt->ops = ops;
    opt->s0_bound = 0.0;
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
    if (!param_used(opt->ops, param))
        return unusable_param(opt->err, opt->ops, param, __func__);
    const char *want = range_error(param, value);
    if (want)
        return MMOE_FAIL(opt->err, MMOE_ERR_RANGE, "%s = %g: must be %s", param_name(param), value,
                         want);
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

mmoe_status mmoe_optimizer_get(const mmoe_optimizer *opt, mmoe_optimizer_param param, double *value)
{
    if (!opt)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "opt is NULL");
    if (!value)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "value is NULL");
    if (!param_used(opt->ops, param))
        return unusable_param(NULL, opt->ops, param, __func__);
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
 * Squared gradient norm of a model holding shards of tables, with a
 * reducer installed: the replicated part (identical on every replica,
 * summed range by range in the same order everywhere) plus the shards'
 * parts summed across replicas, so every replica gets the same value.
 * Returns 0 (*sumsq unchanged) when the model has no shard or no reducer.
 */
static int global_sumsq(mmoe_optimizer *opt, double *sumsq, mmoe_status *st)
{
    mmoe__reducer *red = mmoe__model_reducer(opt->model);
    const mmoe__sparse_block *blk;
    size_t nb = mmoe__model_sparse_blocks(opt->model, &blk), pos = 0;
    double rep = 0.0, shard = 0.0, part;
    float ignore;
    int any = 0;
    for (size_t b = 0; red && b < nb; b++) {
        if (!blk[b].sharded)
            continue;
        any = 1;
        mmoe__sumsq_absmax(opt->grads + pos, blk[b].offset - pos, &part, &ignore);
        rep += part;
        pos = blk[b].offset + blk[b].rows * blk[b].dim;
        mmoe__sumsq_absmax(opt->grads + blk[b].offset, blk[b].rows * blk[b].dim, &part, &ignore);
        shard += part;
    }
    if (!any)
        return 0;
    mmoe__sumsq_absmax(opt->grads + pos, opt->n - pos, &part, &ignore);
    rep += part;
    red->status = MMOE_OK;
    mmoe__reduce(red, &shard, 1);
    *st = red->status;
    *sumsq = rep + shard;
    return 1;
}

/*
 * Whether any replica refuses (flag nonzero on some replica): the same
 * answer on every replica of a sharded model with a reducer; the local
 * flag otherwise.
 */
static int any_refuses(mmoe_optimizer *opt, int flag, mmoe_status *st)
{
    mmoe__reducer *red = mmoe__model_reducer(opt->model);
    if (!red || !mmoe__model_is_shard(opt->model))
        return flag;
    double v = flag ? 1.0 : 0.0;
    red->status = MMOE_OK;
    mmoe__reduce(red, &v, 1);
    *st = red->status;
    return v != 0.0;
}

/* Index of the first non-finite value (n if all are finite). */
static size_t first_nonfinite(const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return i;
    return n;
}

/*
 * Largest |parameter change| a step may make and still land inside the
 * float range: for finite theta and |d| < 2^103 (half the spacing of floats
 * at FLT_MAX), theta - d rounds to a finite float. A smaller limit leaves a
 * wide margin for the rounding of the bound itself.
 */
#define SAFE_STEP 0x1p100

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

/* One pass of a step over the parameters; `dry` computes on copies only. */
typedef struct step_pass {
    mmoe_optimizer *opt;
    const mmoe__step *c;
    int dry;
    size_t bad; /* dry: first parameter that would become non-finite (n: none) */
} step_pass;

#define DRY_BLOCK 256

/* The real update of [off + b, off + e), one chunk of the pool's. */
typedef struct update_job {
    mmoe_optimizer *opt;
    const mmoe__step *c;
    size_t off;
} update_job;

static void update_chunk(void *ctx, size_t chunk, size_t b, size_t e)
{
    const update_job *j = ctx;
    mmoe_optimizer *opt = j->opt;
    const size_t off = j->off + b;
    (void)chunk;
    if (e <= b)
        return;
    float *s0 = opt->state + off;
    float *s1 = opt->ops->state_arrays > 1 ? opt->state + opt->n + off : NULL;
    opt->ops->update(e - b, opt->params + off, opt->grads + off, s0, s1, j->c);
}

/* The kind's update on parameters [off, off + len). */
static void update_range(step_pass *p, size_t off, size_t len)
{
    mmoe_optimizer *opt = p->opt;
    const size_t na = opt->ops->state_arrays;
    if (len == 0)
        return;
    if (!p->dry) {
        update_job j = {opt, p->c, off};
        if (len >= MMOE__PAR_ELEMS && mmoe__pool_width() > 1)
            mmoe__parallel_for(len, MMOE__PAR_ELEMS / 2, 16, update_chunk, &j);
        else
            update_chunk(&j, 0, 0, len);
        return;
    }
    /* The same kernel on copies, block by block: exactly the values a real pass writes. */
    float th[DRY_BLOCK], st0[DRY_BLOCK], st1[DRY_BLOCK];
    for (size_t b = 0; b < len && p->bad == opt->n; b += DRY_BLOCK) {
        size_t k = len - b < DRY_BLOCK ? len - b : DRY_BLOCK;
        memcpy(th, opt->params + off + b, k * sizeof *th);
        memcpy(st0, opt->state + off + b, k * sizeof *st0);
        if (na > 1)
            memcpy(st1, opt->state + opt->n + off + b, k * sizeof *st1);
        opt->ops->update(k, th, opt->grads + off + b, st0, st1, p->c);
        size_t i = first_nonfinite(th, k);
        if (i < k)
            p->bad = off + b + i;
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
static void update_lazy(step_pass *p)
{
    mmoe_optimizer *opt = p->opt;
    const mmoe__sparse_block *blk;
    size_t nb = mmoe__model_sparse_blocks(opt->model, &blk), pos = 0;
    for (size_t b = 0; b < nb; b++) {
        const size_t dim = blk[b].dim, end = blk[b].offset + blk[b].rows * dim;
        update_range(p, pos, blk[b].offset - pos);
        size_t run = blk[b].offset; /* start of the current run of used rows */
        for (size_t off = blk[b].offset; off < end; off += dim) {
            if (all_zero(opt->grads + off, dim)) {
                update_range(p, run, off - run);
                run = off + dim;
            }
        }
        update_range(p, run, end - run);
        pos = end;
    }
    update_range(p, pos, opt->n - pos);
}

mmoe_status mmoe_optimizer_step(mmoe_optimizer *opt)
{
    if (!opt)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "opt is NULL");
    if (opt->steps == UINT64_MAX)
        return MMOE_FAIL(opt->err, MMOE_ERR_RANGE,
                         "the step counter is at its maximum (%llu); reset the optimizer",
                         (unsigned long long)opt->steps);

    /*
     * 1. Refuse non-finite gradients before writing anything. The sum of
     * squares (in double) is only needed for clipping.
     */
    double sumsq = 0.0;
    float gmax;
    int finite;
    mmoe_status rst = MMOE_OK;
    if (opt->clip_norm > 0.0 || mmoe__model_reducer(opt->model)) {
        /* Clipping needs the norm; replicas with table shards sum theirs across replicas. */
        mmoe__sumsq_absmax(opt->grads, opt->n, &sumsq, &gmax);
        global_sumsq(opt, &sumsq, &rst);
        if (rst)
            return MMOE_FAIL(opt->err, rst, "reduction across replicas failed; step refused");
        if (!isfinite(sumsq) && first_nonfinite(opt->grads, opt->n) == opt->n)
            return MMOE_FAIL(opt->err, MMOE_ERR_NONFINITE,
                             "a gradient of a table shard on another "
                             "replica is not finite; step refused, nothing changed");
        finite = isfinite(sumsq);
    } else {
        finite = mmoe__absmax_finite(opt->grads, opt->n, &gmax);
    }
    if (!finite) {
        size_t i = first_nonfinite(opt->grads, opt->n);
        return MMOE_FAIL(opt->err, MMOE_ERR_NONFINITE,
                         "gradient %zu of %zu is %s; step refused, nothing changed", i, opt->n,
                         i < opt->n && isnan(opt->grads[i]) ? "NaN" : "infinite");
    }

    /* 2. Global-norm clipping, as a scale applied inside the update. */
    mmoe__step c = {0};
    c.gscale = 1.0;
    if (opt->clip_norm > 0.0) {
        double norm = sqrt(sumsq);
        if (norm > opt->clip_norm)
            c.gscale = opt->clip_norm / norm;
    }

    /* 3 and 4. Weight decay is folded into the effective gradient by the kernels. */
    c.t = opt->steps + 1;
    c.lambda = opt->weight_decay;
    c.lr = opt->lr;
    c.mu = opt->momentum;
    c.beta1 = opt->beta1;
    c.beta2 = opt->beta2;
    c.eps = opt->eps;
    c.c1 = 1.0 / (1.0 - pow(opt->beta1, (double)c.t));
    c.c2 = 1.0 / (1.0 - pow(opt->beta2, (double)c.t));

    /*
     * 5. No step makes a parameter non-finite: bound the largest change;
     * only when the bound is not small enough, try the step on copies first
     * and refuse it if any parameter would leave the float range.
     */
    double geff = c.gscale * (double)gmax;
    if (c.lambda != 0.0) {
        double psq;
        float pmax;
        mmoe__sumsq_absmax(opt->params, opt->n, &psq, &pmax);
        geff = isfinite(psq) ? geff + c.lambda * (double)pmax : INFINITY;
    }
    if (opt->s0_bound < 0.0) {
        double ssq;
        float smax;
        mmoe__sumsq_absmax(opt->state, opt->n, &ssq, &smax);
        opt->s0_bound = smax;
    }
    step_pass pass = {opt, &c, 0, opt->n};
    double s0_bound = opt->s0_bound;
    double bound = opt->ops->step_bound(&c, geff, &s0_bound);
    pass.bad = opt->n;
    if (!(bound < SAFE_STEP)) {
        pass.dry = 1;
        update_lazy(&pass);
        pass.dry = 0;
    }
    /* Shards differ between replicas: they refuse together (one reduction, every step). */
    if (any_refuses(opt, pass.bad < opt->n, &rst) || rst) {
        if (rst)
            return MMOE_FAIL(opt->err, rst, "reduction across replicas failed; step refused");
        if (pass.bad == opt->n)
            return MMOE_FAIL(opt->err, MMOE_ERR_NONFINITE,
                             "the step would make a parameter of a "
                             "table shard on another replica non-finite; step refused, nothing "
                             "changed");
        return MMOE_FAIL(opt->err, MMOE_ERR_NONFINITE,
                         "the step would make parameter %zu of %zu non-finite (it is %g; "
                         "learning rate %g); step refused, nothing changed",
                         pass.bad, opt->n, (double)opt->params[pass.bad], opt->lr);
    }
    update_lazy(&pass);
    /* Float rounding may put a state value a few ulps above the real-number bound. */
    opt->s0_bound = s0_bound * (1.0 + 1e-5);
    opt->steps = c.t;
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
    opt->s0_bound = 0.0;
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

void mmoe__optimizer_state_changed(mmoe_optimizer *opt)
{
    opt->s0_bound = -1.0;
}

int mmoe__optimizer_belongs_to(const mmoe_optimizer *opt, const mmoe_model *model)
{
    return opt && model && opt->model == model && opt->model_id == mmoe__model_id(model);
}

mmoe_model *mmoe__optimizer_model(const mmoe_optimizer *opt)
{
    return opt ? opt->model : NULL;
}
