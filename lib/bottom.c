/* Dispatch of the bottom interface to its implementations. */
#include <string.h>

#include "bottom.h"

mmoe_status mmoe__bottom_setup(mmoe__bottom *b, const mmoe_config *c, size_t in, char *err)
{
    memset(b, 0, sizeof *b);
    b->in = in;
    b->n_tasks = c->n_tasks;
    switch (c->arch) {
    case MMOE_ARCH_MMOE:
    case MMOE_ARCH_OMOE:
    case MMOE_ARCH_SHARED_BOTTOM:
    case MMOE_ARCH_SINGLE_TASK:
    case MMOE_ARCH_L2_CONSTRAINED:
        b->kind = MMOE__BOTTOM_MOE;
        mmoe__moe_setup(&b->moe, c, in);
        b->h = b->moe.h;
        return MMOE_OK;
    default:
        return MMOE_FAIL(err, MMOE_ERR_UNSUPPORTED, "architecture %d is not available in this build",
                         (int)c->arch);
    }
}

void mmoe__bottom_free(mmoe__bottom *b)
{
    if (b)
        mmoe__free(b->impl);
}

size_t mmoe__bottom_buffers(const mmoe__bottom *b, size_t *widths)
{
    return mmoe__moe_buffers(&b->moe, widths);
}

void mmoe__bottom_declare(mmoe__bottom *b, mmoe__registry *r)
{
    mmoe__moe_declare(&b->moe, r);
}

void mmoe__bottom_init(const mmoe__bottom *b, float *params, uint64_t seed)
{
    mmoe__moe_init(&b->moe, params, seed);
}

void mmoe__bottom_forward(const mmoe__bottom *b, const float *params, size_t B, const float *X,
                          size_t ldx, float *const *fb)
{
    mmoe__moe_forward(&b->moe, params, B, X, ldx, fb);
}

void mmoe__bottom_backward(const mmoe__bottom *b, const float *params, float *grads, size_t B,
                           const float *X, size_t ldx, float *const *fb, float *const *bb,
                           float *dX, size_t lddx)
{
    mmoe__moe_backward(&b->moe, params, grads, B, X, ldx, fb, bb, dX, lddx);
}

const float *mmoe__bottom_task_input(const mmoe__bottom *b, float *const *fb, size_t k, size_t *ld)
{
    return mmoe__moe_task_input(&b->moe, fb, k, ld);
}

float *mmoe__bottom_task_grad(const mmoe__bottom *b, float *const *bb, size_t k, size_t *ld)
{
    return mmoe__moe_task_grad(&b->moe, bb, k, ld);
}

void mmoe__bottom_zero_task_grads(const mmoe__bottom *b, float *const *bb, size_t B)
{
    mmoe__moe_zero_task_grads(&b->moe, bb, B);
}

size_t mmoe__bottom_num_experts(const mmoe__bottom *b)
{
    return b->kind == MMOE__BOTTOM_MOE ? b->moe.n_experts : b->n_tasks;
}

size_t mmoe__bottom_num_gates(const mmoe__bottom *b)
{
    return b->kind == MMOE__BOTTOM_MOE ? b->moe.n_gates : 0;
}

void mmoe__bottom_gate_row(const mmoe__bottom *b, float *const *fb, size_t k, size_t r, float *out)
{
    mmoe__moe_gate_row(&b->moe, fb, k, r, out);
}

double mmoe__bottom_penalty(const mmoe__bottom *b, const float *params, float *grads)
{
    return mmoe__moe_penalty(&b->moe, params, grads);
}
