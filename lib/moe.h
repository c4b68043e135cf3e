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

#include "bottom.h"
#include "gate.h"
#include "pmlp.h"

typedef enum mmoe__routing {
    MMOE__ROUTE_GATED = 0,   /* f_k = sum_e g_{gate(k)}(x)_e h_e(x) */
    MMOE__ROUTE_SHARED = 1,  /* one expert, f_k = h_0(x) for all k */
    MMOE__ROUTE_SEPARATE = 2 /* expert k serves task k only */
} mmoe__routing;

typedef struct mmoe__moe {
    size_t in, n_tasks, n_experts, n_gates;
    mmoe__routing routing;
    mmoe__pmlp experts;
    mmoe__gate_block gates; /* GATED: W_g [n_gates * n_experts, in] (+ bias, noise weights) */
    size_t z_buf, u_buf, eps_buf, aux_buf;  /* noise buffers, auxiliary loss (0: none) */
    mmoe__gate gate;                        /* GATED: how logits become weights (gate.kind, ...) */
    mmoe__gate_prior prior[MMOE_MAX_TASKS]; /* per gate (task.K.gate_bias / gate_mask) */
    size_t h;                               /* expert output width */
    double l2; /* L2-Constrained: penalty weight between task networks */
} mmoe__moe;

/*
 * Forward buffers, per-row widths: H_0..H_{L-1} (expert activations
 * [B, E*w_l]), then for GATED routing P (gate weights [B, G*E]) and
 * F (mixed, [B, T*h]), and Q (softmax beside P, [B, G*E]) for gate kinds
 * that need it (hard); with gate.noise the clean logits Z, the noise
 * logits U and the draws Eps ([B, G*E] each), with gate.balance.* one
 * float per row whose row 0 holds the auxiliary loss. Backward buffers
 * have the same shapes.
 *
 * Sparse gates (topk, hard) at batch 1 compute the gates first and then
 * only the experts some gate selected (mmoe__gate_experts_forward); the
 * others' activations are set to zero (their weights are exactly zero, so
 * the outputs and gradients are those of the full computation).
 */
extern const mmoe__bottom_ops mmoe__mmoe_ops;
extern const mmoe__bottom_ops mmoe__omoe_ops;
extern const mmoe__bottom_ops mmoe__shared_bottom_ops;
extern const mmoe__bottom_ops mmoe__single_task_ops;
extern const mmoe__bottom_ops mmoe__l2_constrained_ops; /* penalty: see moe_penalty */

#endif
