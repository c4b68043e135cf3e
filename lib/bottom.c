/* The bottom kinds: a table from architecture to operations, and forwarding. */
#include <string.h>

#include "bottom.h"
#include "cross_stitch.h"
#include "gate.h"
#include "moe.h"
#include "ple.h"
#include "stacked.h"
#include "tensor_factor.h"

/* One row per architecture; a new kind adds its row here (and its name in lib/arch.c). */
static const mmoe__bottom_ops *const kinds[] = {
    [MMOE_ARCH_MMOE] = &mmoe__mmoe_ops,
    [MMOE_ARCH_OMOE] = &mmoe__omoe_ops,
    [MMOE_ARCH_SHARED_BOTTOM] = &mmoe__shared_bottom_ops,
    [MMOE_ARCH_SINGLE_TASK] = &mmoe__single_task_ops,
    [MMOE_ARCH_L2_CONSTRAINED] = &mmoe__l2_constrained_ops,
    [MMOE_ARCH_CROSS_STITCH] = &mmoe__cross_stitch_ops,
    [MMOE_ARCH_TENSOR_FACTORIZATION] = &mmoe__tensor_factor_ops,
    [MMOE_ARCH_CGC] = &mmoe__cgc_ops,
    [MMOE_ARCH_PLE] = &mmoe__ple_ops,
    [MMOE_ARCH_STACKED_MMOE] = &mmoe__stacked_mmoe_ops,
};
#define N_KINDS (sizeof kinds / sizeof kinds[0])

_Static_assert(N_KINDS == MMOE__ARCH_COUNT,
               "every architecture needs a row in the bottom table (lib/bottom.c)");

const mmoe__bottom_ops *mmoe__bottom_ops_of(mmoe_arch arch)
{
    return (size_t)arch < N_KINDS ? kinds[arch] : NULL;
}

size_t mmoe__bottom_arch_count(void)
{
    return N_KINDS;
}

int mmoe__bottom_ops_complete(const mmoe__bottom_ops *o)
{
    return o && o->name && o->size && o->setup && o->buffers && o->declare && o->init &&
           o->forward && o->backward && o->task_input && o->task_grad && o->zero_task_grads &&
           o->num_experts && o->num_gates && o->gate_row && o->penalty && o->aux_loss;
}

/* ---- shared operations ---------------------------------------------- */

size_t mmoe__bottom_experts_are_tasks(const mmoe__bottom *b)
{
    return b->n_tasks;
}

size_t mmoe__bottom_no_gates(const mmoe__bottom *b)
{
    (void)b;
    return 0;
}

/* Task k uses its own network: all weight on network k. */
void mmoe__bottom_task_routing(const mmoe__bottom *b, float *const *fb, size_t k, size_t r,
                               float *out)
{
    (void)fb;
    (void)r;
    memset(out, 0, b->n_tasks * sizeof *out);
    out[k] = 1.0f;
}

double mmoe__bottom_no_penalty(const mmoe__bottom *b, const float *params, float *grads)
{
    (void)b;
    (void)params;
    (void)grads;
    return 0.0;
}

double mmoe__bottom_no_aux_loss(const mmoe__bottom *b, float *const *fb)
{
    (void)b;
    (void)fb;
    return 0.0;
}

/* ---- forwarding ------------------------------------------------------ */

mmoe_status mmoe__bottom_setup(mmoe__bottom *b, const mmoe_config *c, size_t in, size_t n_tasks,
                               char *err)
{
    memset(b, 0, sizeof *b);
    const mmoe__bottom_ops *ops = mmoe__bottom_ops_of(c->arch);
    if (!ops)
        return MMOE_FAIL(err, MMOE_ERR_UNSUPPORTED,
                         "architecture %d is not available in this build", (int)c->arch);
    void *impl = mmoe__calloc(1, ops->size);
    if (!impl)
        return MMOE_FAIL(err, MMOE_ERR_NOMEM, "no memory for the %s bottom", ops->name);
    b->ops = ops;
    b->impl = impl;
    b->in = in;
    b->n_tasks = n_tasks;
    mmoe_status st = ops->setup(b, c, err);
    if (st)
        return st;
    /* Gate priors need a gate: none on gateless kinds or product tasks. */
    for (size_t k = 0; k < c->n_tasks; k++)
        if (mmoe__gate_prior_given(c, k) && (k >= n_tasks || ops->num_gates(b) == 0))
            return MMOE_FAIL(err, MMOE_ERR_CONFIG,
                             "task %zu gives a gate prior (task.%zu.gate_bias / gate_mask) but "
                             "has no gate (%s)",
                             k, k, k >= n_tasks ? "a product task" : ops->name);
    return MMOE_OK;
}

void mmoe__bottom_free(mmoe__bottom *b)
{
    if (b) {
        mmoe__free(b->impl);
        b->impl = NULL;
    }
}

size_t mmoe__bottom_buffers(const mmoe__bottom *b, size_t *widths)
{
    return b->ops->buffers(b, widths);
}

void mmoe__bottom_declare(mmoe__bottom *b, mmoe__registry *r)
{
    b->ops->declare(b, r);
}

void mmoe__bottom_init(const mmoe__bottom *b, float *params, uint64_t seed)
{
    b->ops->init(b, params, seed);
}

void mmoe__bottom_forward(const mmoe__bottom *b, const float *params, size_t B, const float *X,
                          size_t ldx, uint64_t *rng, float *const *fb)
{
    b->ops->forward(b, params, B, X, ldx, rng, fb);
}

void mmoe__bottom_backward(const mmoe__bottom *b, const float *params, float *grads, size_t B,
                           const float *X, size_t ldx, float *const *fb, float *const *bb,
                           float *dX, size_t lddx)
{
    b->ops->backward(b, params, grads, B, X, ldx, fb, bb, dX, lddx);
}

const float *mmoe__bottom_task_input(const mmoe__bottom *b, float *const *fb, size_t k, size_t *ld)
{
    return b->ops->task_input(b, fb, k, ld);
}

float *mmoe__bottom_task_grad(const mmoe__bottom *b, float *const *bb, size_t k, size_t *ld)
{
    return b->ops->task_grad(b, bb, k, ld);
}

void mmoe__bottom_zero_task_grads(const mmoe__bottom *b, float *const *bb, size_t B)
{
    b->ops->zero_task_grads(b, bb, B);
}

size_t mmoe__bottom_num_experts(const mmoe__bottom *b)
{
    return b->ops->num_experts(b);
}

size_t mmoe__bottom_num_gates(const mmoe__bottom *b)
{
    return b->ops->num_gates(b);
}

void mmoe__bottom_gate_row(const mmoe__bottom *b, float *const *fb, size_t k, size_t r, float *out)
{
    b->ops->gate_row(b, fb, k, r, out);
}

double mmoe__bottom_penalty(const mmoe__bottom *b, const float *params, float *grads)
{
    return b->ops->penalty(b, params, grads);
}

double mmoe__bottom_aux_loss(const mmoe__bottom *b, float *const *fb)
{
    return b->ops->aux_loss(b, fb);
}
