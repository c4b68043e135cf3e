/*
 * Replica hooks of mmoe/parallel.h that are not about tables: the
 * reduction hook, the dropout stream, the statistics buffer and the
 * optimizer's state buffers.
 */
#include "model_impl.h"
#include "optimizer_impl.h"

mmoe_status mmoe_model_set_reducer(mmoe_model *m, mmoe_reduce_fn fn, void *ctx)
{
    if (!m)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "model is NULL");
    m->red.fn = fn;
    m->red.ctx = fn ? ctx : NULL;
    m->red.status = MMOE_OK;
    mmoe__clear(m->err);
    return MMOE_OK;
}

mmoe_status mmoe_model_set_grad_ready(mmoe_model *m, mmoe_grad_ready_fn fn, void *ctx)
{
    if (!m)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "model is NULL");
    m->prog.fn = fn;
    m->prog.ctx = fn ? ctx : NULL;
    m->prog.status = MMOE_OK;
    mmoe__clear(m->err);
    return MMOE_OK;
}

mmoe__reducer *mmoe__model_reducer(mmoe_model *m)
{
    return mmoe__reducing(&m->red) ? &m->red : NULL;
}

mmoe_status mmoe_model_seed_dropout(mmoe_model *m, uint64_t seed)
{
    if (!m)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "model is NULL");
    m->rng = MMOE__DROPOUT_START(seed); /* as the description's seed at creation */
    mmoe__clear(m->err);
    return MMOE_OK;
}

mmoe_status mmoe_model_stats(mmoe_model *m, float **stats, size_t *n)
{
    if (!m)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "model is NULL");
    if (stats)
        *stats = m->stats;
    if (n)
        *n = m->sreg.total;
    return MMOE_OK;
}

mmoe_model *mmoe_optimizer_model(const mmoe_optimizer *opt)
{
    return opt ? opt->model : NULL;
}

mmoe_status mmoe_optimizer_kind_of(const mmoe_optimizer *opt, mmoe_optimizer_kind *kind)
{
    if (!opt || !kind)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "%s is NULL", opt ? "kind" : "opt");
    *kind = opt->kind;
    return MMOE_OK;
}

mmoe_status mmoe_optimizer_state(mmoe_optimizer *opt, size_t k, float **state, size_t *n,
                                 size_t *count)
{
    if (!opt)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "opt is NULL");
    size_t buffers = opt->n ? opt->state_len / opt->n : (opt->kind == MMOE_OPTIMIZER_ADAM ? 2 : 1);
    if (count)
        *count = buffers;
    if (k >= buffers)
        return MMOE_FAIL(opt->err, MMOE_ERR_RANGE, "state buffer %zu of %zu", k, buffers);
    if (state)
        *state = opt->state + k * opt->n;
    if (n)
        *n = opt->n;
    return MMOE_OK;
}

mmoe_status mmoe_optimizer_set_steps(mmoe_optimizer *opt, uint64_t steps)
{
    if (!opt)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "opt is NULL");
    opt->steps = steps;
    mmoe__clear(opt->err);
    return MMOE_OK;
}
