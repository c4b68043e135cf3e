/*
 * Dense layer math: one GEMM per direction (GEMV/GER at batch 1). Forward
 * starts the output from the bias and lets the GEMM accumulate into it
 * (beta 1): with OpenBLAS this is faster than a beta-0 GEMM, which clears
 * the output in a pass of its own, followed by a bias pass (measured on
 * shape B of mmoe-bench: 5-10 % of predict at batch 256). Backward fuses
 * the activation derivative with the bias gradient (activation.c).
 */
#include <string.h>

#include "activation.h"
#include "blas.h"
#include "dense.h"
#include "pool.h"

/* Columns [c0, c1) of a forward: bias, product and activation of that block. */
static void forward_cols(const float *W, const float *b, mmoe_activation act, size_t in, size_t c0,
                         size_t c1, size_t B, const float *X, size_t ldx, float *Y, size_t ldy)
{
    const size_t n = c1 - c0;
    for (size_t r = 0; r < B; r++) {
        if (b)
            memcpy(Y + r * ldy + c0, b + c0, n * sizeof *Y);
        else
            memset(Y + r * ldy + c0, 0, n * sizeof *Y);
    }
    if (B == 1)
        mmoe__sgemv(0, n, in, 1.0f, W + c0 * in, in, X, 1.0f, Y + c0);
    else
        mmoe__sgemm(0, 1, B, n, in, 1.0f, X, ldx, W + c0 * in, in, 1.0f, Y + c0, ldy);
    mmoe__act_forward(act, B, n, Y + c0, ldy);
}

typedef struct forward_job {
    const float *W, *b, *X;
    mmoe_activation act;
    size_t in, B, ldx, ldy;
    float *Y;
} forward_job;

static void forward_chunk(void *ctx, size_t chunk, size_t c0, size_t c1)
{
    const forward_job *j = ctx;
    (void)chunk;
    if (c1 > c0)
        forward_cols(j->W, j->b, j->act, j->in, c0, c1, j->B, j->X, j->ldx, j->Y, j->ldy);
}

void mmoe__dense_forward_act(const float *W, const float *b, mmoe_activation act, size_t in,
                             size_t out, size_t B, const float *X, size_t ldx, float *Y, size_t ldy)
{
    const double flops = 2.0 * (double)B * (double)out * (double)in;
    if (B > 1 && mmoe__pool_width() > 1 && flops >= MMOE__PAR_FLOPS) {
        forward_job j = {W, b, X, act, in, B, ldx, ldy, Y};
        mmoe__parallel_for(out, mmoe__flops_grain(out, flops, 32), 16, forward_chunk, &j);
        return;
    }
    forward_cols(W, b, act, in, 0, out, B, X, ldx, Y, ldy);
}

void mmoe__dense_forward(const float *W, const float *b, size_t in, size_t out, size_t B,
                         const float *X, size_t ldx, float *Y, size_t ldy)
{
    mmoe__dense_forward_act(W, b, MMOE_ACT_IDENTITY, in, out, B, X, ldx, Y, ldy);
}

void mmoe__dense_backward(const float *W, size_t in, size_t out, size_t B, const float *X,
                          size_t ldx, const float *dY, size_t lddy, float *dW, float *db, float *dX,
                          size_t lddx, float beta_dx)
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

void mmoe__dense_forward_act_ref(const float *W, const float *b, mmoe_activation act, size_t in,
                                 size_t out, size_t B, const float *X, size_t ldx, float *Y,
                                 size_t ldy)
{
    for (size_t r = 0; r < B; r++)
        for (size_t o = 0; o < out; o++) {
            double s = 0.0;
            for (size_t i = 0; i < in; i++)
                s += (double)X[r * ldx + i] * (double)W[o * in + i];
            Y[r * ldy + o] = (float)s;
        }
    mmoe__bias_act_forward_ref(act, B, out, b, Y, ldy);
}

void mmoe__dense_backward_ref(const float *W, size_t in, size_t out, size_t B, const float *X,
                              size_t ldx, const float *dY, size_t lddy, float *dW, float *db,
                              float *dX, size_t lddx, float beta_dx)
{
    for (size_t o = 0; o < out; o++) {
        for (size_t i = 0; i < in; i++) {
            double s = 0.0;
            for (size_t r = 0; r < B; r++)
                s += (double)dY[r * lddy + o] * (double)X[r * ldx + i];
            dW[o * in + i] += (float)s;
        }
        if (db) {
            double s = 0.0;
            for (size_t r = 0; r < B; r++)
                s += (double)dY[r * lddy + o];
            db[o] += (float)s;
        }
    }
    if (dX)
        for (size_t r = 0; r < B; r++)
            for (size_t i = 0; i < in; i++) {
                double s = 0.0;
                for (size_t o = 0; o < out; o++)
                    s += (double)dY[r * lddy + o] * (double)W[o * in + i];
                dX[r * lddx + i] = (float)(beta_dx == 0.0f ? s : beta_dx * dX[r * lddx + i] + s);
            }
}
