/* BLAS wrapper and runtime thread control. */
#include <cblas.h>

#include "blas.h"
#include "internal.h"
#include "mmoe/runtime.h"
#include "pool.h"

#ifndef MMOE_BLAS_NAME
#    define MMOE_BLAS_NAME "cblas"
#endif

#include <string.h>

#if defined(MMOE_HAVE_OPENBLAS_THREADS)
void openblas_set_num_threads(int num_threads);
#endif
#if defined(MMOE_HAVE_OPENBLAS_CORENAME)
char *openblas_get_corename(void);
#endif

static void sgemm1(int ta, int tb, size_t M, size_t N, size_t K, float alpha, const float *A,
                   size_t lda, const float *B, size_t ldb, float beta, float *C, size_t ldc)
{
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                (int)M, (int)N, (int)K, alpha, A, (int)lda, B, (int)ldb, beta, C, (int)ldc);
}

/*
 * With the library's pool on (mmoe_set_num_threads), a large product is
 * cut into blocks of C's rows or columns (the longer side), one
 * single-threaded BLAS call per block. Every element of C is still one
 * dot product over the whole K in the BLAS's order.
 */

typedef struct gemm_job {
    int ta, tb, by_rows;
    size_t M, N, K, lda, ldb, ldc;
    float alpha, beta;
    const float *A, *B;
    float *C;
} gemm_job;

static void gemm_block(void *ctx, size_t chunk, size_t b, size_t e)
{
    const gemm_job *j = ctx;
    (void)chunk;
    if (e <= b)
        return;
    if (j->by_rows) /* rows b..e of op(A) */
        sgemm1(j->ta, j->tb, e - b, j->N, j->K, j->alpha, j->ta ? j->A + b : j->A + b * j->lda,
               j->lda, j->B, j->ldb, j->beta, j->C + b * j->ldc, j->ldc);
    else /* columns b..e of op(B) */
        sgemm1(j->ta, j->tb, j->M, e - b, j->K, j->alpha, j->A, j->lda,
               j->tb ? j->B + b * j->ldb : j->B + b, j->ldb, j->beta, j->C + b, j->ldc);
}

void mmoe__sgemm(int ta, int tb, size_t M, size_t N, size_t K, float alpha, const float *A,
                 size_t lda, const float *B, size_t ldb, float beta, float *C, size_t ldc)
{
    const double flops = 2.0 * (double)M * (double)N * (double)K;
    if (mmoe__pool_width() > 1 && flops >= MMOE__PAR_FLOPS) {
        gemm_job j = {ta, tb, M > N, M, N, K, lda, ldb, ldc, alpha, beta, A, B, C};
        size_t n = j.by_rows ? M : N;
        mmoe__parallel_for(n, mmoe__flops_grain(n, flops, 32), j.by_rows ? 8 : 16, gemm_block, &j);
        return;
    }
    sgemm1(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

/*
 * Matrix-vector products below SMALL_GEMV elements run on the calling
 * thread. A threaded OpenBLAS splits a gemv across its threads from 9216
 * elements on (4 x 2304, its GEMM_MULTITHREAD_THRESHOLD default), far below
 * the size where waking a second thread pays: measured on a 2-core Xeon,
 * a 128 x 100 product takes 0.8 us on one thread and 2.3 us on two, a
 * 256 x 128 one 2.5 us against 4.5 us, while from about 512 x 128 on two
 * threads win. Cutting a small product into row (or column) blocks under
 * OpenBLAS's threshold keeps each call single-threaded; the arithmetic of
 * every output element is unchanged. Larger products go to the BLAS whole.
 */
#define SMALL_GEMV 40000
#define GEMV_BLOCK 8192

/* With the library's pool on, a large gemv is cut into blocks of y. */
#define PAR_GEMV 262144

typedef struct gemv_job {
    int t;
    size_t M, N, lda;
    float alpha, beta;
    const float *A, *x;
    float *y;
} gemv_job;

static void gemv_block(void *ctx, size_t chunk, size_t b, size_t e)
{
    const gemv_job *j = ctx;
    (void)chunk;
    if (e <= b)
        return;
    if (!j->t) /* y[b..e] = A[b..e, :] x */
        cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)(e - b), (int)j->N, j->alpha,
                    j->A + b * j->lda, (int)j->lda, j->x, 1, j->beta, j->y + b, 1);
    else /* y[b..e] = A[:, b..e]^T x */
        cblas_sgemv(CblasRowMajor, CblasTrans, (int)j->M, (int)(e - b), j->alpha, j->A + b,
                    (int)j->lda, j->x, 1, j->beta, j->y + b, 1);
}

void mmoe__sgemv(int t, size_t M, size_t N, float alpha, const float *A, size_t lda, const float *x,
                 float beta, float *y)
{
    if (M * N < SMALL_GEMV && M * N > GEMV_BLOCK && N <= GEMV_BLOCK && M <= GEMV_BLOCK) {
        if (!t) { /* y[M] = A x: blocks of rows */
            size_t rows = GEMV_BLOCK / N;
            for (size_t m0 = 0; m0 < M; m0 += rows) {
                size_t m = M - m0 < rows ? M - m0 : rows;
                cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)m, (int)N, alpha, A + m0 * lda,
                            (int)lda, x, 1, beta, y + m0, 1);
            }
        } else { /* y[N] = A^T x: blocks of columns */
            size_t cols = GEMV_BLOCK / M;
            for (size_t n0 = 0; n0 < N; n0 += cols) {
                size_t n = N - n0 < cols ? N - n0 : cols;
                cblas_sgemv(CblasRowMajor, CblasTrans, (int)M, (int)n, alpha, A + n0, (int)lda, x,
                            1, beta, y + n0, 1);
            }
        }
        return;
    }
    if (mmoe__pool_width() > 1 && M * N >= PAR_GEMV) {
        gemv_job j = {t, M, N, lda, alpha, beta, A, x, y};
        mmoe__parallel_for(t ? N : M, 64, 16, gemv_block, &j);
        return;
    }
    cblas_sgemv(CblasRowMajor, t ? CblasTrans : CblasNoTrans, (int)M, (int)N, alpha, A, (int)lda, x,
                1, beta, y, 1);
}

void mmoe__sger(size_t M, size_t N, float alpha, const float *x, const float *y, float *A,
                size_t lda)
{
    cblas_sger(CblasRowMajor, (int)M, (int)N, alpha, x, 1, y, 1, A, (int)lda);
}

mmoe_status mmoe_set_num_threads(int n)
{
    if (n < 1)
        return MMOE_FAIL(NULL, MMOE_ERR_INVALID_ARG, "thread count %d < 1", n);
        /* One owner of threads: the BLAS runs single-threaded inside the library's pool. */
#if defined(MMOE_HAVE_OPENBLAS_THREADS)
    openblas_set_num_threads(1);
#endif
    return mmoe__pool_resize(n);
}

const char *mmoe_blas_name(void)
{
    return MMOE_BLAS_NAME;
}

const char *mmoe_blas_core(void)
{
#if defined(MMOE_HAVE_OPENBLAS_CORENAME)
    const char *name = openblas_get_corename();
    return name ? name : "";
#else
    return "";
#endif
}

int mmoe_blas_core_is_generic(void)
{
#if defined(MMOE_HAVE_OPENBLAS_CORENAME) && defined(__GNUC__) &&                                   \
    (defined(__x86_64__) || defined(__i386__))
    /* OpenBLAS x86 families without AVX2 kernels. */
    static const char *const generic[] = {"Prescott",  "Core2",  "Penryn",     "Dunnington",
                                          "Nehalem",   "Atom",   "Katmai",     "Coppermine",
                                          "Northwood", "Banias", "Sandybridge"};
    const char *core = mmoe_blas_core();
    int is_old = 0;
    for (size_t i = 0; i < sizeof generic / sizeof generic[0]; i++)
        is_old |= strcmp(core, generic[i]) == 0;
    __builtin_cpu_init();
    return is_old && (__builtin_cpu_supports("avx2") || __builtin_cpu_supports("avx512f"));
#else
    return 0;
#endif
}
