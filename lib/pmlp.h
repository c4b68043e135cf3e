/*
 * Private "parallel MLP": C copies of an MLP with identical layer widths
 * (the experts; also a single tower with C = 1). Layer l of all copies is
 * stored as one block W_l [C * width_l, width_{l-1}], so when all copies
 * read the same input the first layer is ONE GEMM. Activations of layer l
 * for all copies live in one buffer [B, C * width_l] (copy c at column
 * c * width_l).
 */
#ifndef MMOE_PMLP_H
#define MMOE_PMLP_H

#include <stddef.h>
#include <stdint.h>

#include "mmoe/layer.h"
#include "params.h"
#include "replica.h"

typedef struct mmoe__pmlp {
    size_t copies;
    size_t in;
    size_t n_layers;
    size_t width[MMOE_MAX_LAYERS + 1]; /* towers: hidden layers + the output layer */
    mmoe_activation act;               /* after hidden layers */
    mmoe_activation out_act;           /* after the last layer */
    size_t w_off[MMOE_MAX_LAYERS + 1];
    size_t b_off[MMOE_MAX_LAYERS + 1];
} mmoe__pmlp;

/* Reserve and name parameters: "<prefix>.<c>.layers.<l>.weight/.bias" ("<prefix>.layers..." if C ==
 * 1 and single). */
void mmoe__pmlp_declare(mmoe__pmlp *p, mmoe__registry *r, const char *prefix, int number_copies);

/* Initialise weights (He/Glorot per layer's activation), zero biases. */
void mmoe__pmlp_init(const mmoe__pmlp *p, float *params, uint64_t seed, uint64_t stream);

/* Output width of all copies together (C * last width). */
static inline size_t mmoe__pmlp_out(const mmoe__pmlp *p)
{
    return p->copies * p->width[p->n_layers - 1];
}

/*
 * Forward. shared: all copies read X[:, 0:in]; else copy c reads X[:, c*in:(c+1)*in].
 * A[l] receives layer l's activations [B, C * width_l].
 */
void mmoe__pmlp_forward(const mmoe__pmlp *p, const float *params, size_t B, const float *X,
                        size_t ldx, int shared, float *const *A);

/*
 * Backward. dA[n_layers-1] holds dL/d(output) on entry (all dA are
 * overwritten). Adds parameter gradients into grads. If dX is not NULL,
 * ADDS dL/dX into it (same layout as X).
 */
void mmoe__pmlp_backward(const mmoe__pmlp *p, const float *params, float *grads, size_t B,
                         const float *X, size_t ldx, int shared, float *const *A, float *const *dA,
                         float *dX, size_t lddx);

/*
 * Backward that also reports to prog (may be NULL) after each layer, from
 * the last to the first: layer l's weights and biases, and everything in
 * the flat buffer above them, are then final. Only for MLPs whose layers
 * sit at the top of what remains unreported (declared last, nothing
 * written above them afterwards).
 */
void mmoe__pmlp_backward_report(const mmoe__pmlp *p, const float *params, float *grads, size_t B,
                                const float *X, size_t ldx, int shared, float *const *A,
                                float *const *dA, float *dX, size_t lddx, mmoe__progress *prog);

#endif
