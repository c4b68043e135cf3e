/*
 * Private "bottom" interface: everything between the (assembled) input x
 * and the per-task representations f_k that feed the towers. Kinds:
 *   MOE           experts + gates (MMoE, OMoE, Shared-Bottom, Single-Task,
 *                 L2-Constrained)              lib/moe.c
 *   CROSS_STITCH  per-task MLPs mixed by cross-stitch units  lib/cross_stitch.c
 *   TENSOR        per-task layers from a shared Tucker factorisation
 *                                              lib/tensor_factor.c
 *
 * A bottom describes its forward buffers as a list of per-row widths; the
 * model carves them (and same-sized backward buffers) from one arena.
 */
#ifndef MMOE_BOTTOM_H
#define MMOE_BOTTOM_H

#include <stddef.h>
#include <stdint.h>

#include "config_impl.h"
#include "moe.h"
#include "params.h"

#define MMOE__BOTTOM_MAX_BUFS 64

typedef enum mmoe__bottom_kind {
    MMOE__BOTTOM_MOE = 0,
    MMOE__BOTTOM_CROSS_STITCH = 1,
    MMOE__BOTTOM_TENSOR = 2
} mmoe__bottom_kind;

typedef struct mmoe__bottom {
    mmoe__bottom_kind kind;
    size_t in, n_tasks, h; /* input width, tasks, width of each f_k */
    mmoe__moe moe;
    void *impl; /* CROSS_STITCH / TENSOR private state (owned) */
} mmoe__bottom;

/* Set up from the description (input width in). Fails with CONFIG/NOMEM. */
mmoe_status mmoe__bottom_setup(mmoe__bottom *b, const mmoe_config *cfg, size_t in, char *err);
void mmoe__bottom_free(mmoe__bottom *b);

/* Per-row widths of the forward buffers; returns their count (<= MMOE__BOTTOM_MAX_BUFS). */
size_t mmoe__bottom_buffers(const mmoe__bottom *b, size_t *widths);

void mmoe__bottom_declare(mmoe__bottom *b, mmoe__registry *r);
void mmoe__bottom_init(const mmoe__bottom *b, float *params, uint64_t seed);

void mmoe__bottom_forward(const mmoe__bottom *b, const float *params, size_t B, const float *X,
                          size_t ldx, float *const *fb);
/* Task gradients must have been accumulated into mmoe__bottom_task_grad slots. */
void mmoe__bottom_backward(const mmoe__bottom *b, const float *params, float *grads, size_t B,
                           const float *X, size_t ldx, float *const *fb, float *const *bb,
                           float *dX, size_t lddx);

const float *mmoe__bottom_task_input(const mmoe__bottom *b, float *const *fb, size_t k, size_t *ld);
float *mmoe__bottom_task_grad(const mmoe__bottom *b, float *const *bb, size_t k, size_t *ld);
void mmoe__bottom_zero_task_grads(const mmoe__bottom *b, float *const *bb, size_t B);

size_t mmoe__bottom_num_experts(const mmoe__bottom *b);
size_t mmoe__bottom_num_gates(const mmoe__bottom *b);
/* Routing weights of task k for row r into out[num_experts]. */
void mmoe__bottom_gate_row(const mmoe__bottom *b, float *const *fb, size_t k, size_t r, float *out);

/*
 * Regularisation term added to the loss (L2-Constrained: lambda * sum over
 * task pairs of ||theta_i - theta_j||^2). If grads is not NULL its
 * gradient is added. Returns the penalty (0 for bottoms without one).
 */
double mmoe__bottom_penalty(const mmoe__bottom *b, const float *params, float *grads);

#endif
