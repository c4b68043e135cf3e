/* Private dense (linear) kernels on raw buffers. W: [out, in], b: [out]. */
#ifndef MMOE_DENSE_H
#define MMOE_DENSE_H

#include <stddef.h>

#include "mmoe/layer.h"

/*
 * Y[B,out] (ldy) = act(X[B,in] (ldx) W^T + b): Y starts from the bias (or
 * zero), the GEMM accumulates into it, then the activation pass. b may be
 * NULL; the previous contents of Y are ignored.
 */
void mmoe__dense_forward_act(const float *W, const float *b, mmoe_activation act, size_t in,
                             size_t out, size_t B, const float *X, size_t ldx, float *Y,
                             size_t ldy);

/* Y[B,out] (ldy) = X[B,in] (ldx) W^T + b (no activation). b may be NULL. */
void mmoe__dense_forward(const float *W, const float *b, size_t in, size_t out, size_t B,
                         const float *X, size_t ldx, float *Y, size_t ldy);

/*
 * Given dY[B,out] (lddy): dW += dY^T X, db += column sums of dY (db may be
 * NULL, e.g. when mmoe__act_bias_backward already summed them), and, if dX is
 * not NULL, dX[B,in] (lddx) = beta_dx * dX + dY W.
 */
void mmoe__dense_backward(const float *W, size_t in, size_t out, size_t B, const float *X,
                          size_t ldx, const float *dY, size_t lddy, float *dW, float *db, float *dX,
                          size_t lddx, float beta_dx);

/* Plain triple-loop versions of the above, for the kernel tests. */
void mmoe__dense_forward_act_ref(const float *W, const float *b, mmoe_activation act, size_t in,
                                 size_t out, size_t B, const float *X, size_t ldx, float *Y,
                                 size_t ldy);
void mmoe__dense_backward_ref(const float *W, size_t in, size_t out, size_t B, const float *X,
                              size_t ldx, const float *dY, size_t lddy, float *dW, float *db,
                              float *dX, size_t lddx, float beta_dx);

#endif
