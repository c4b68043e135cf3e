/*
 * Private mixture-of-experts bottom: experts + gates + mixing, producing one
 * representation per task. Covers MMoE (a gate per task), OMoE (one shared
 * gate), Shared-Bottom (one expert, no gate) and Single-Task (an expert per
 * task, no gate).
 */
#ifndef MMOE_MOE_H
#define MMOE_MOE_H

#include <stddef.h>
#include <stdint.h>

#include "config_impl.h"
#include "pmlp.h"

typedef enum mmoe__routing {
    MMOE__ROUTE_GATED = 0,    /* f_k = sum_e g_{gate(k)}(x)_e h_e(x) */
    MMOE__ROUTE_SHARED = 1,   /* one expert, f_k = h_0(x) for all k */
    MMOE__ROUTE_SEPARATE = 2  /* expert k serves task k only */
} mmoe__routing;

typedef struct mmoe__moe {
    size_t in, n_tasks, n_experts, n_gates;
    mmoe__routing routing;
    mmoe__pmlp experts;
    size_t gate_off; /* W_g [n_gates * n_experts, in], no bias */
    size_t h;        /* expert output width */
    double l2;       /* L2-Constrained: penalty weight between task networks */
} mmoe__moe;

/* Configure from the description (arch decides routing, experts, gates). */
void mmoe__moe_setup(mmoe__moe *m, const mmoe_config *cfg, size_t in);

/*
 * Forward buffers, per-row widths: H_0..H_{L-1} (expert activations
 * [B, E*w_l]), then for GATED routing P (gate probabilities [B, G*E]) and
 * F (mixed, [B, T*h]). Backward buffers have the same shapes.
 */
size_t mmoe__moe_buffers(const mmoe__moe *m, size_t *widths);

void mmoe__moe_declare(mmoe__moe *m, mmoe__registry *r);
void mmoe__moe_init(const mmoe__moe *m, float *params, uint64_t seed);

const float *mmoe__moe_task_input(const mmoe__moe *m, float *const *fb, size_t k, size_t *ld);
float *mmoe__moe_task_grad(const mmoe__moe *m, float *const *bb, size_t k, size_t *ld);
void mmoe__moe_zero_task_grads(const mmoe__moe *m, float *const *bb, size_t B);

void mmoe__moe_forward(const mmoe__moe *m, const float *params, size_t B, const float *X,
                       size_t ldx, float *const *fb);
void mmoe__moe_backward(const mmoe__moe *m, const float *params, float *grads, size_t B,
                        const float *X, size_t ldx, float *const *fb, float *const *bb,
                        float *dX, size_t lddx);
void mmoe__moe_gate_row(const mmoe__moe *m, float *const *fb, size_t k, size_t r, float *out);

/* L2-Constrained penalty over the experts' parameters (0 unless l2 > 0). */
double mmoe__moe_penalty(const mmoe__moe *m, const float *params, float *grads);

#endif
