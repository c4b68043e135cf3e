/* BLAS wrapper and runtime thread control. */
#include <cblas.h>

#include "blas.h"
#include "internal.h"
#include "mmoe/runtime.h"

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

void mmoe__sgemm(int ta, int tb, size_t M, size_t N, size_t K, float alpha, const float *A,
                 size_t lda, const float *B, size_t ldb, float beta, float *C, size_t ldc)
{
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                (int)M, (int)N, (int)K, alpha, A, (int)lda, B, (int)ldb, beta, C, (int)ldc);
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
#if defined(MMOE_HAVE_OPENBLAS_THREADS)
    openblas_set_num_threads(n);
    return MMOE_OK;
#else
    return MMOE_FAIL(NULL, MMOE_ERR_UNSUPPORTED, "BLAS '%s' has no thread control", MMOE_BLAS_NAME);
#endif
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
