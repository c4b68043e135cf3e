/* Private BLAS wrapper: the only file that includes cblas.h. Row-major throughout. */
#ifndef MMOE_BLAS_H
#define MMOE_BLAS_H

#include <stddef.h>

/* C[M,N] = alpha * op(A) op(B) + beta * C; ta/tb nonzero = transpose. */
void mmoe__sgemm(int ta, int tb, size_t M, size_t N, size_t K, float alpha, const float *A,
                 size_t lda, const float *B, size_t ldb, float beta, float *C, size_t ldc);

/* y[M or N] = alpha * op(A) x + beta * y, A is [M, N]; t nonzero = transpose. */
void mmoe__sgemv(int t, size_t M, size_t N, float alpha, const float *A, size_t lda, const float *x,
                 float beta, float *y);

/* A[M,N] += alpha * x y^T. */
void mmoe__sger(size_t M, size_t N, float alpha, const float *x, const float *y, float *A,
                size_t lda);

#endif
