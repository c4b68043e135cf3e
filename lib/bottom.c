/* Dispatch of the bottom interface to its implementations. */
#include <string.h>

#include "bottom.h"
#include "cross_stitch.h"
#include "tensor_factor.h"

#define CS(b) ((mmoe__cstitch *)(b)->impl)
#define TF(b) ((mmoe__tfact *)(b)->impl)

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
    case MMOE_ARCH_CROSS_STITCH: {
        mmoe__cstitch *s = mmoe__calloc(1, sizeof *s);
        if (!s)
            return MMOE_FAIL(err, MMOE_ERR_NOMEM, "no memory for the cross-stitch bottom");
        mmoe__cs_setup(s, c, in);
        b->kind = MMOE__BOTTOM_CROSS_STITCH;
        b->impl = s;
        b->h = s->h;
        return MMOE_OK;
    }
    case MMOE_ARCH_TENSOR_FACTORIZATION: {
        mmoe__tfact *f = mmoe__calloc(1, sizeof *f);
        if (!f)
            return MMOE_FAIL(err, MMOE_ERR_NOMEM, "no memory for the tensor-factorisation bottom");
        mmoe__tf_setup(f, c, in);
        b->kind = MMOE__BOTTOM_TENSOR;
        b->impl = f;
        b->h = f->h;
        return MMOE_OK;
    }
    default:
        return MMOE_FAIL(err, MMOE_ERR_UNSUPPORTED, "architecture %d is not available in this build",
                         (int)c->arch);
    }
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
    switch (b->kind) {
    case MMOE__BOTTOM_CROSS_STITCH:
        return mmoe__cs_buffers(CS(b), widths);
    case MMOE__BOTTOM_TENSOR:
        return mmoe__tf_buffers(TF(b), widths);
    default:
        return mmoe__moe_buffers(&b->moe, widths);
    }
}

void mmoe__bottom_declare(mmoe__bottom *b, mmoe__registry *r)
{
    switch (b->kind) {
    case MMOE__BOTTOM_CROSS_STITCH:
        mmoe__cs_declare(CS(b), r);
        break;
    case MMOE__BOTTOM_TENSOR:
        mmoe__tf_declare(TF(b), r);
        break;
    default:
        mmoe__moe_declare(&b->moe, r);
        break;
    }
}

void mmoe__bottom_init(const mmoe__bottom *b, float *params, uint64_t seed)
{
    switch (b->kind) {
    case MMOE__BOTTOM_CROSS_STITCH:
        mmoe__cs_init(CS(b), params, seed);
        break;
    case MMOE__BOTTOM_TENSOR:
        mmoe__tf_init(TF(b), params, seed);
        break;
    default:
        mmoe__moe_init(&b->moe, params, seed);
        break;
    }
}

void mmoe__bottom_forward(const mmoe__bottom *b, const float *params, size_t B, const float *X,
                          size_t ldx, float *const *fb)
{
    switch (b->kind) {
    case MMOE__BOTTOM_CROSS_STITCH:
        mmoe__cs_forward(CS(b), params, B, X, ldx, fb);
        break;
    case MMOE__BOTTOM_TENSOR:
        mmoe__tf_forward(TF(b), params, B, X, ldx, fb);
        break;
    default:
        mmoe__moe_forward(&b->moe, params, B, X, ldx, fb);
        break;
    }
}

void mmoe__bottom_backward(const mmoe__bottom *b, const float *params, float *grads, size_t B,
                           const float *X, size_t ldx, float *const *fb, float *const *bb,
                           float *dX, size_t lddx)
{
    switch (b->kind) {
    case MMOE__BOTTOM_CROSS_STITCH:
        mmoe__cs_backward(CS(b), params, grads, B, X, ldx, fb, bb, dX, lddx);
        break;
    case MMOE__BOTTOM_TENSOR:
        mmoe__tf_backward(TF(b), params, grads, B, X, ldx, fb, bb, dX, lddx);
        break;
    default:
        mmoe__moe_backward(&b->moe, params, grads, B, X, ldx, fb, bb, dX, lddx);
        break;
    }
}

const float *mmoe__bottom_task_input(const mmoe__bottom *b, float *const *fb, size_t k, size_t *ld)
{
    switch (b->kind) {
    case MMOE__BOTTOM_CROSS_STITCH:
        return mmoe__cs_task_input(CS(b), fb, k, ld);
    case MMOE__BOTTOM_TENSOR:
        return mmoe__tf_task_input(TF(b), fb, k, ld);
    default:
        return mmoe__moe_task_input(&b->moe, fb, k, ld);
    }
}

float *mmoe__bottom_task_grad(const mmoe__bottom *b, float *const *bb, size_t k, size_t *ld)
{
    switch (b->kind) {
    case MMOE__BOTTOM_CROSS_STITCH:
        return mmoe__cs_task_grad(CS(b), bb, k, ld);
    case MMOE__BOTTOM_TENSOR:
        return mmoe__tf_task_grad(TF(b), bb, k, ld);
    default:
        return mmoe__moe_task_grad(&b->moe, bb, k, ld);
    }
}

void mmoe__bottom_zero_task_grads(const mmoe__bottom *b, float *const *bb, size_t B)
{
    switch (b->kind) {
    case MMOE__BOTTOM_CROSS_STITCH:
        mmoe__cs_zero_task_grads(CS(b), bb, B);
        break;
    case MMOE__BOTTOM_TENSOR:
        mmoe__tf_zero_task_grads(TF(b), bb, B);
        break;
    default:
        mmoe__moe_zero_task_grads(&b->moe, bb, B);
        break;
    }
}

size_t mmoe__bottom_num_experts(const mmoe__bottom *b)
{
    return b->kind == MMOE__BOTTOM_MOE ? b->moe.n_experts : b->n_tasks;
}

size_t mmoe__bottom_num_gates(const mmoe__bottom *b)
{
    return b->kind == MMOE__BOTTOM_MOE ? b->moe.n_gates : 0;
}

/* Cross-stitch and tensor factorisation: task k uses its own network (one-hot). */
void mmoe__bottom_gate_row(const mmoe__bottom *b, float *const *fb, size_t k, size_t r, float *out)
{
    if (b->kind == MMOE__BOTTOM_MOE) {
        mmoe__moe_gate_row(&b->moe, fb, k, r, out);
        return;
    }
    memset(out, 0, b->n_tasks * sizeof *out);
    out[k] = 1.0f;
}

double mmoe__bottom_penalty(const mmoe__bottom *b, const float *params, float *grads)
{
    return b->kind == MMOE__BOTTOM_MOE ? mmoe__moe_penalty(&b->moe, params, grads) : 0.0;
}
