/*
 * Cross-stitch bottom.
 *
 * Forward, layer l (A_l, M_l: [B, T*w], task k at column k*w):
 *   A_l[:, k] = act(M_{l-1}[:, k] W_l^k^T + b_l^k)   layer 0: all tasks read x,
 *                                                     one GEMM for all tasks
 *   M_l[r, k] = sum_j U_l[k][j] A_l[r, j]             U_l = cross-stitch unit
 * Backward, layer l (dM_l given):
 *   dU_l[k][j] += sum_r <dM_l[r, k], A_l[r, j]>
 *   dA_l[r, j]  = sum_k U_l[k][j] dM_l[r, k]
 *   dA_l       *= act'(.)
 *   dense backward per task -> dW, db and dM_{l-1} (layer 0: ADD into dx)
 */
#include <string.h>

#include "activation.h"
#include "cross_stitch.h"
#include "dense.h"

static mmoe_status cs_setup(mmoe__bottom *b, const mmoe_config *c, char *err)
{
    mmoe__cstitch *s = b->impl;
    const size_t in = b->in;
    (void)err;
    s->in = in;
    s->n_tasks = b->n_tasks;
    mmoe__pmlp *p = &s->nets;
    p->copies = b->n_tasks;
    p->in = in;
    p->n_layers = c->expert_layers;
    for (size_t l = 0; l < c->expert_layers; l++)
        p->width[l] = c->expert_widths[l];
    p->act = p->out_act = c->expert_act;
    s->h = p->width[p->n_layers - 1];
    b->h = s->h;
    return MMOE_OK;
}

static size_t cs_buffers(const mmoe__bottom *b, size_t *widths)
{
    const mmoe__cstitch *s = b->impl;
    size_t n = 0;
    for (size_t l = 0; l < s->nets.n_layers; l++) {
        widths[n++] = s->n_tasks * s->nets.width[l]; /* A_l */
        widths[n++] = s->n_tasks * s->nets.width[l]; /* M_l */
    }
    return n;
}

static void cs_declare(mmoe__bottom *b, mmoe__registry *r)
{
    mmoe__cstitch *s = b->impl;
    const size_t T = s->n_tasks;
    mmoe__pmlp_declare(&s->nets, r, "cross_stitch", 1);
    for (size_t l = 0; l < s->nets.n_layers; l++) {
        s->unit_off[l] = mmoe__reg_block(r, T, T);
        mmoe__reg_name(r, s->unit_off[l], T, T, "cross_stitch.units.%zu", l);
    }
}

static void cs_init(const mmoe__bottom *b, float *params, uint64_t seed)
{
    const mmoe__cstitch *s = b->impl;
    const size_t T = s->n_tasks;
    mmoe__pmlp_init(&s->nets, params, seed, 2);
    const float diag = T == 1 ? 1.0f : MMOE__CS_INIT_DIAG;
    const float off = T == 1 ? 0.0f : (1.0f - MMOE__CS_INIT_DIAG) / (float)(T - 1);
    for (size_t l = 0; l < s->nets.n_layers; l++) {
        float *U = params + s->unit_off[l];
        for (size_t k = 0; k < T; k++)
            for (size_t j = 0; j < T; j++)
                U[k * T + j] = k == j ? diag : off;
    }
}

#define A_BUF(l) (2 * (l))
#define M_BUF(l) (2 * (l) + 1)

static const float *cs_task_input(const mmoe__bottom *b, float *const *fb, size_t k, size_t *ld)
{
    const mmoe__cstitch *s = b->impl;
    *ld = s->n_tasks * s->h;
    return fb[M_BUF(s->nets.n_layers - 1)] + k * s->h;
}

static float *cs_task_grad(const mmoe__bottom *b, float *const *bb, size_t k, size_t *ld)
{
    const mmoe__cstitch *s = b->impl;
    *ld = s->n_tasks * s->h;
    return bb[M_BUF(s->nets.n_layers - 1)] + k * s->h;
}

static void cs_zero_task_grads(const mmoe__bottom *b, float *const *bb, size_t B)
{
    const mmoe__cstitch *s = b->impl;
    memset(bb[M_BUF(s->nets.n_layers - 1)], 0, B * s->n_tasks * s->h * sizeof(float));
}

static size_t layer_in(const mmoe__cstitch *s, size_t l)
{
    return l == 0 ? s->in : s->nets.width[l - 1];
}

static void cs_forward(const mmoe__bottom *b, const float *params, size_t B, const float *X,
                       size_t ldx, uint64_t *rng, float *const *fb)
{
    (void)rng; /* no training-only randomness */
    const mmoe__cstitch *s = b->impl;
    const mmoe__pmlp *p = &s->nets;
    const size_t T = s->n_tasks;
    for (size_t l = 0; l < p->n_layers; l++) {
        const size_t in = layer_in(s, l), w = p->width[l], ld = T * w;
        const float *W = params + p->w_off[l], *bias = params + p->b_off[l];
        float *A = fb[A_BUF(l)], *M = fb[M_BUF(l)];
        if (l == 0) {
            mmoe__dense_forward(W, bias, in, T * w, B, X, ldx, A, ld);
        } else {
            const float *In = fb[M_BUF(l - 1)];
            for (size_t k = 0; k < T; k++)
                mmoe__dense_forward(W + k * w * in, bias + k * w, in, w, B, In + k * in, T * in,
                                    A + k * w, ld);
        }
        mmoe__act_forward(p->act, B, ld, A, ld);
        const float *U = params + s->unit_off[l];
        for (size_t r = 0; r < B; r++) {
            const float *ar = A + r * ld;
            float *mr = M + r * ld;
            for (size_t k = 0; k < T; k++) {
                float *mk = mr + k * w;
                memset(mk, 0, w * sizeof *mk);
                for (size_t j = 0; j < T; j++) {
                    const float u = U[k * T + j], *aj = ar + j * w;
                    for (size_t i = 0; i < w; i++)
                        mk[i] += u * aj[i];
                }
            }
        }
    }
}

static void cs_backward(const mmoe__bottom *b, const float *params, float *grads, size_t B,
                        const float *X, size_t ldx, float *const *fb, float *const *bb, float *dX,
                        size_t lddx)
{
    const mmoe__cstitch *s = b->impl;
    const mmoe__pmlp *p = &s->nets;
    const size_t T = s->n_tasks;
    for (size_t l = p->n_layers; l-- > 0;) {
        const size_t in = layer_in(s, l), w = p->width[l], ld = T * w;
        const float *A = fb[A_BUF(l)], *dM = bb[M_BUF(l)];
        const float *U = params + s->unit_off[l];
        float *dA = bb[A_BUF(l)], *dU = grads + s->unit_off[l];
        /* Through the cross-stitch unit. */
        for (size_t r = 0; r < B; r++) {
            const float *ar = A + r * ld, *dmr = dM + r * ld;
            float *dar = dA + r * ld;
            memset(dar, 0, ld * sizeof *dar);
            for (size_t k = 0; k < T; k++) {
                const float *dmk = dmr + k * w;
                for (size_t j = 0; j < T; j++) {
                    const float u = U[k * T + j], *aj = ar + j * w;
                    float *daj = dar + j * w, dot = 0.0f;
                    for (size_t i = 0; i < w; i++) {
                        dot += dmk[i] * aj[i];
                        daj[i] += u * dmk[i];
                    }
                    dU[k * T + j] += dot;
                }
            }
        }
        mmoe__act_backward(p->act, B, ld, A, ld, dA, ld);
        /* Through the task layers. */
        const float *W = params + p->w_off[l];
        float *dW = grads + p->w_off[l], *db = grads + p->b_off[l];
        if (l == 0) {
            mmoe__dense_backward(W, in, T * w, B, X, ldx, dA, ld, dW, db, dX, lddx, 1.0f);
        } else {
            const float *In = fb[M_BUF(l - 1)];
            float *dIn = bb[M_BUF(l - 1)];
            for (size_t k = 0; k < T; k++)
                mmoe__dense_backward(W + k * w * in, in, w, B, In + k * in, T * in, dA + k * w, ld,
                                     dW + k * w * in, db + k * w, dIn + k * in, T * in, 0.0f);
        }
    }
}

const mmoe__bottom_ops mmoe__cross_stitch_ops = {
    .name = "Cross-Stitch",
    .size = sizeof(mmoe__cstitch),
    .setup = cs_setup,
    .buffers = cs_buffers,
    .declare = cs_declare,
    .init = cs_init,
    .forward = cs_forward,
    .backward = cs_backward,
    .task_input = cs_task_input,
    .task_grad = cs_task_grad,
    .zero_task_grads = cs_zero_task_grads,
    .num_experts = mmoe__bottom_experts_are_tasks,
    .num_gates = mmoe__bottom_no_gates,
    .gate_row = mmoe__bottom_task_routing,
    .penalty = mmoe__bottom_no_penalty,
    .aux_loss = mmoe__bottom_no_aux_loss,
};
