/* Private dense (linear) kernels on raw buffers. W: [out, in], b: [out]. */
#ifndef MMOE_DENSE_H
#define MMOE_DENSE_H

#include <stddef.h>

/* Y[B,out] (ldy) = X[B,in] (ldx) W^T + b. Batch 1 uses gemv. b may be NULL. */
void mmoe__dense_forward(const float *W, const float *b, size_t in, size_t out, size_t B,
                         const float *X, size_t ldx, float *Y, size_t ldy);

/*
 * Given dY[B,out] (lddy): dW += dY^T X, db += column sums of dY (db may be NULL),
 * and, if dX is not NULL, dX[B,in] (lddx) = beta_dx * dX + dY W.
 */
void mmoe__dense_backward(const float *W, size_t in, size_t out, size_t B, const float *X,
                          size_t ldx, const float *dY, size_t lddy, float *dW, float *db,
                          float *dX, size_t lddx, float beta_dx);

#endif
