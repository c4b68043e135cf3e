/*
 * Private CrossNet (Deep & Cross Network) kernel on rows of width W.
 *
 *   vector form  x_{l+1} = x0 * (x_l . w_l) + b_l + x_l     w_l, b_l: [W]
 *                (O(W) per row and layer: the scalar x_l . w_l scales x0)
 *   matrix form  x_{l+1} = x0 (.) (W_l x_l + b_l) + x_l     W_l: [W, W], b_l: [W]
 *
 * Parameters "<prefix>.L.weight" ([W] vector form, [W, W] matrix form) and
 * "<prefix>.L.bias" [W]. Weights start Glorot-uniform, biases at zero.
 *
 * Forward buffers: the L layer outputs [W] each, then one auxiliary buffer
 * of L columns (vector form: the scalars x_l . w_l) or L * W columns
 * (matrix form: W_l x_l + b_l). The output is the last layer's buffer.
 */
#ifndef MMOE_CROSSNET_H
#define MMOE_CROSSNET_H

#include <stddef.h>
#include <stdint.h>

#include "mmoe/layer.h"
#include "params.h"

#define MMOE__CROSS_MAX_LAYERS MMOE_MAX_CROSS_LAYERS

typedef struct mmoe__cross {
    size_t width;
    size_t layers; /* 1..MMOE__CROSS_MAX_LAYERS */
    int matrix;
    size_t w_off[MMOE__CROSS_MAX_LAYERS];
    size_t b_off[MMOE__CROSS_MAX_LAYERS];
} mmoe__cross;

void mmoe__cross_declare(mmoe__cross *c, mmoe__registry *r, const char *prefix);
void mmoe__cross_init(const mmoe__cross *c, float *params, uint64_t seed, uint64_t stream);

/* Per-row widths of the forward buffers; returns their count (layers + 1). */
size_t mmoe__cross_buffers(const mmoe__cross *c, size_t *widths);

/* Forward of B rows of X0 (ld0); returns the output (fb[layers - 1], ld width). */
const float *mmoe__cross_forward(const mmoe__cross *c, const float *params, size_t B,
                                 const float *X0, size_t ld0, float *const *fb);

/*
 * Backward from dOut [B, W] (ldd; may be bb[layers - 1] itself, ldd W). Uses
 * bb (shaped like fb) as scratch,
 * ADDS parameter gradients into grads and, if dX0 is not NULL, writes
 * (overwrites) dL/dX0 into it (lddx).
 */
void mmoe__cross_backward(const mmoe__cross *c, const float *params, float *grads, size_t B,
                          const float *X0, size_t ld0, float *const *fb, float *const *bb,
                          const float *dOut, size_t ldd, float *dX0, size_t lddx);

#endif
