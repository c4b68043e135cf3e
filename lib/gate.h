/*
 * Private gate kinds: how a gate turns its logits z (one per expert) into
 * the mixing weights p. Every gated bottom runs its gates through these
 * (description keys gate.kind, gate.temperature, gate.top_k):
 *
 *   softmax  p = softmax(z / tau)
 *   topk     p_i = exp(z_i / tau) / sum_{j in S} exp(z_j / tau) for i in S,
 *            p_i = 0 (exactly) otherwise; S = the k largest logits (ties:
 *            the lower expert index first); k > experts uses all of them
 *   hard     p = one-hot of the largest logit (ties: the lower index);
 *            backward is straight-through: the gradient that reaches z is
 *            that of q = softmax(z / tau), i.e. dz = q (dp - <q, dp>) / tau
 *
 * Backward of softmax and topk: dz = p (dp - <p, dp>) / tau (the experts
 * outside S have p = 0 and get no gradient). A gate kind is one row of the
 * table in lib/gate.c.
 */
#ifndef MMOE_GATE_H
#define MMOE_GATE_H

#include <stddef.h>

#include "config_impl.h"
#include "pmlp.h"

typedef struct mmoe__gate_kind mmoe__gate_kind;

typedef struct mmoe__gate {
    const mmoe__gate_kind *kind;
    float inv_temp; /* 1 / tau */
    size_t k;       /* top-k: experts kept */
    int sparse;     /* weights may be exactly zero: unselected experts can be skipped */
    int needs_q;    /* forward keeps q = softmax(z / tau) beside p (per-row width as p) */
} mmoe__gate;

/* From the description (gate.kind, gate.temperature, gate.top_k). */
void mmoe__gate_setup(mmoe__gate *g, const mmoe_config *cfg);

/*
 * Logits to weights, in place, on `rows` rows of n values (row i at
 * P + i * ld). Q (same layout) receives q for kinds with needs_q, else
 * may be NULL.
 */
void mmoe__gate_forward(const mmoe__gate *g, size_t rows, size_t n, float *P, float *Q, size_t ld);

/*
 * dL/dp to dL/dz, in place on D (same layout as P); P and Q as left by
 * mmoe__gate_forward.
 */
void mmoe__gate_backward(const mmoe__gate *g, size_t rows, size_t n, const float *P, const float *Q,
                         float *D, size_t ld);

/*
 * Batch 1 with a sparse gate: run only the experts (copies of ex, all
 * reading the row X) that one of G gates selected (P: G rows of
 * ex->copies weights, side by side); the other experts' activations in
 * A[0 .. n_layers) are set to zero, which is what their exactly-zero
 * weights make of them.
 */
void mmoe__gate_experts_forward(const mmoe__pmlp *ex, const float *params, const float *X,
                                const float *P, size_t G, float *const *A);

/* Names of the kinds for the description ("softmax", ...); -1 / NULL when unknown. */
int mmoe__gate_kind_parse(const char *name);
const char *mmoe__gate_kind_name(int kind);

#endif
