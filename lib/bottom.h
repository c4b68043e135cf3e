/*
 * Private "bottom" interface: everything between the (assembled) input x
 * and the per-task representations f_k that feed the towers.
 *
 * A bottom kind is one file and one const table of operations
 * (mmoe__bottom_ops); lib/bottom.c maps every architecture to its table
 * and forwards the calls below to it. Kinds:
 *   mixture of experts  MMoE, OMoE, Shared-Bottom, Single-Task,
 *                       L2-Constrained                       lib/moe.c
 *   cross-stitch        per-task MLPs mixed by cross-stitch units
 *                                                            lib/cross_stitch.c
 *   tensor              per-task layers from a shared Tucker factorisation
 *                                                            lib/tensor_factor.c
 *   ple                 CGC and PLE: shared and task-specific experts,
 *                       per-task gates, stacked levels       lib/ple.c
 *   stacked MMoE        MMoE levels on the previous level's task outputs
 *                                                            lib/stacked.c
 * Every table fills every operation (a kind without gates or a penalty
 * uses the shared helpers below); tests/test_bottom_ops.c checks that for
 * every architecture.
 *
 * A bottom describes its forward buffers as a list of per-row widths; the
 * model carves them (and same-sized backward buffers) from one arena.
 */
#ifndef MMOE_BOTTOM_H
#define MMOE_BOTTOM_H

#include <stddef.h>
#include <stdint.h>

#include "config_impl.h"
#include "params.h"
#include "replica.h"

#define MMOE__BOTTOM_MAX_BUFS 256

typedef struct mmoe__bottom_ops mmoe__bottom_ops;

typedef struct mmoe__bottom {
    const mmoe__bottom_ops *ops;
    size_t in, n_tasks, h; /* input width, tasks, width of each f_k */
    void *impl;            /* the kind's state, ops->size bytes (owned) */
    /*
     * Backward progress of the model (not owned; NULL when not wanted). A
     * kind may report watermarks inside its own block of parameters
     * (mmoe__grad_ready) as its backward finishes parts of it, provided
     * that nothing it does later in the backward (its penalty included)
     * writes gradients at or above them. Kinds that do not report are
     * reported as a whole by the model.
     */
    mmoe__progress *progress;
} mmoe__bottom;

struct mmoe__bottom_ops {
    const char *name; /* the kind, for messages */
    size_t size;      /* bytes of the kind's state (b->impl, zeroed before setup) */

    /* Configure b->impl from the description; set b->h. Fails with CONFIG. */
    mmoe_status (*setup)(mmoe__bottom *b, const mmoe_config *cfg, char *err);
    /* Per-row widths of the forward buffers; returns their count (<= MMOE__BOTTOM_MAX_BUFS). */
    size_t (*buffers)(const mmoe__bottom *b, size_t *widths);
    void (*declare)(mmoe__bottom *b, mmoe__registry *r);
    void (*init)(const mmoe__bottom *b, float *params, uint64_t seed);

    /* rng: the model's training stream (training-only randomness), NULL in inference. */
    void (*forward)(const mmoe__bottom *b, const float *params, size_t B, const float *X,
                    size_t ldx, uint64_t *rng, float *const *fb);
    /* dL/df_k is in the task_grad slots; ADDS dL/dX into dX when not NULL. */
    void (*backward)(const mmoe__bottom *b, const float *params, float *grads, size_t B,
                     const float *X, size_t ldx, float *const *fb, float *const *bb, float *dX,
                     size_t lddx);

    const float *(*task_input)(const mmoe__bottom *b, float *const *fb, size_t k, size_t *ld);
    float *(*task_grad)(const mmoe__bottom *b, float *const *bb, size_t k, size_t *ld);
    void (*zero_task_grads)(const mmoe__bottom *b, float *const *bb, size_t B);

    /* Gate introspection (mmoe_model_num_experts / _num_gates / _gate_weights). */
    size_t (*num_experts)(const mmoe__bottom *b);
    size_t (*num_gates)(const mmoe__bottom *b);
    void (*gate_row)(const mmoe__bottom *b, float *const *fb, size_t k, size_t r, float *out);

    /* Loss term on the parameters (gradient added into grads when not NULL). */
    double (*penalty)(const mmoe__bottom *b, const float *params, float *grads);
    /*
     * Auxiliary loss of the last training forward (fb), e.g. the gates'
     * load balancing; its gradient is part of backward. 0 for kinds without.
     */
    double (*aux_loss)(const mmoe__bottom *b, float *const *fb);
};

/* The operations of an architecture; NULL when it has none. */
const mmoe__bottom_ops *mmoe__bottom_ops_of(mmoe_arch arch);

/* Number of architectures the table covers (one past the largest mmoe_arch). */
size_t mmoe__bottom_arch_count(void);

/* Nonzero when every operation of ops is filled in. */
int mmoe__bottom_ops_complete(const mmoe__bottom_ops *ops);

/* Shared operations for kinds with one network per task and no gate or penalty. */
size_t mmoe__bottom_experts_are_tasks(const mmoe__bottom *b);
size_t mmoe__bottom_no_gates(const mmoe__bottom *b);
void mmoe__bottom_task_routing(const mmoe__bottom *b, float *const *fb, size_t k, size_t r,
                               float *out);
double mmoe__bottom_no_penalty(const mmoe__bottom *b, const float *params, float *grads);
double mmoe__bottom_no_aux_loss(const mmoe__bottom *b, float *const *fb);

/* ---- the model's entry points (forwarded to b->ops) ------------------ */

/*
 * Set up from the description for input width in and the first n_tasks
 * tasks (those with a tower; kinds read b->n_tasks, not cfg->n_tasks).
 * Fails with CONFIG/NOMEM/UNSUPPORTED.
 */
mmoe_status mmoe__bottom_setup(mmoe__bottom *b, const mmoe_config *cfg, size_t in, size_t n_tasks,
                               char *err);
void mmoe__bottom_free(mmoe__bottom *b);

size_t mmoe__bottom_buffers(const mmoe__bottom *b, size_t *widths);
void mmoe__bottom_declare(mmoe__bottom *b, mmoe__registry *r);
void mmoe__bottom_init(const mmoe__bottom *b, float *params, uint64_t seed);

/* rng: the model's training stream, NULL in inference (predict). */
void mmoe__bottom_forward(const mmoe__bottom *b, const float *params, size_t B, const float *X,
                          size_t ldx, uint64_t *rng, float *const *fb);
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

/* Auxiliary loss of the last training forward (0 for bottoms without one). */
double mmoe__bottom_aux_loss(const mmoe__bottom *b, float *const *fb);

#endif
