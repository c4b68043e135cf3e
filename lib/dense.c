/* Dense layer math: one GEMM per direction (GEMV/GER at batch 1). */
#include <string.h>

#include "blas.h"
#include "dense.h"

void mmoe__dense_forward(const float *W, const float *b, size_t in, size_t out, size_t B,
                         const float *X, size_t ldx, float *Y, size_t ldy)
{
    /* Y = b (broadcast), then Y += X W^T. */
    for (size_t r = 0; r < B; r++) {
        float *y = Y + r * ldy;
        if (b)
            memcpy(y, b, out * sizeof *y);
        else
            memset(y, 0, out * sizeof *y);
    }
    if (B == 1)
        mmoe__sgemv(0, out, in, 1.0f, W, in, X, 1.0f, Y);
    else
        mmoe__sgemm(0, 1, B, out, in, 1.0f, X, ldx, W, in, 1.0f, Y, ldy);
}

void mmoe__dense_backward(const float *W, size_t in, size_t out, size_t B, const float *X,
                          size_t ldx, const float *dY, size_t lddy, float *dW, float *db,
                          float *dX, size_t lddx, float beta_dx)
{
    /* dW[out,in] += dY^T[out,B] X[B,in] */
    if (B == 1)
        mmoe__sger(out, in, 1.0f, dY, X, dW, in);
    else
        mmoe__sgemm(1, 0, out, in, B, 1.0f, dY, lddy, X, ldx, 1.0f, dW, in);
    if (db) {
        for (size_t r = 0; r < B; r++) {
            const float *g = dY + r * lddy;
            for (size_t j = 0; j < out; j++)
                db[j] += g[j];
        }
    }
    if (dX) {
        /* dX[B,in] = beta dX + dY[B,out] W[out,in] */
        if (B == 1)
            mmoe__sgemv(1, out, in, 1.0f, W, in, dY, beta_dx, dX);
        else
            mmoe__sgemm(0, 0, B, in, out, 1.0f, dY, lddy, W, in, beta_dx, dX, lddx);
    }
}
