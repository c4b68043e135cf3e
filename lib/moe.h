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
} mmoe__moe;

/* Per-row float counts of the forward and backward buffers (for workspace sizing). */
size_t mmoe__moe_fwd_floats(const mmoe__moe *m);
size_t mmoe__moe_bwd_floats(const mmoe__moe *m);

typedef struct mmoe__moe_fwd {
    float *H[MMOE_MAX_LAYERS]; /* expert activations [B, E*w_l] */
    float *P;                  /* gate probabilities [B, G*E] */
    float *F;                  /* mixed [B, T*h] (GATED only) */
} mmoe__moe_fwd;

typedef struct mmoe__moe_bwd {
    float *dH[MMOE_MAX_LAYERS];
    float *dP;
    float *dF; /* [B, T*h] (GATED only) */
} mmoe__moe_bwd;

/* Carve buffers for `cap` rows from base; returns the end pointer. */
float *mmoe__moe_bind_fwd(const mmoe__moe *m, float *base, size_t cap, mmoe__moe_fwd *f);
float *mmoe__moe_bind_bwd(const mmoe__moe *m, float *base, size_t cap, mmoe__moe_bwd *b);

void mmoe__moe_declare(mmoe__moe *m, mmoe__registry *r);
void mmoe__moe_init(const mmoe__moe *m, float *params, uint64_t seed);

/*
 * Where task k's representation lives after forward: pointer to column 0 of
 * task k's slice, with leading dimension *ld (width h).
 */
const float *mmoe__moe_task_input(const mmoe__moe *m, const mmoe__moe_fwd *f, size_t k, size_t *ld);

/* The matching gradient slot (caller ADDS into it); clear with mmoe__moe_zero_task_grads first. */
float *mmoe__moe_task_grad(const mmoe__moe *m, const mmoe__moe_bwd *b, size_t k, size_t *ld);
void mmoe__moe_zero_task_grads(const mmoe__moe *m, const mmoe__moe_bwd *b, size_t B);

void mmoe__moe_forward(const mmoe__moe *m, const float *params, size_t B, const float *X,
                       size_t ldx, const mmoe__moe_fwd *f);

/* Backward from the task gradients; adds into grads; dX (nullable) accumulates. */
void mmoe__moe_backward(const mmoe__moe *m, const float *params, float *grads, size_t B,
                        const float *X, size_t ldx, const mmoe__moe_fwd *f,
                        const mmoe__moe_bwd *b, float *dX, size_t lddx);

/* Gate weights of task k for row r into out[E]. */
void mmoe__moe_gate_row(const mmoe__moe *m, const mmoe__moe_fwd *f, size_t k, size_t r, float *out);

#endif
