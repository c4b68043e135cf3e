/*
 * Private reductions over float arrays, in two versions with one contract:
 * the fast ones keep several independent accumulators so the compiler
 * vectorises them; the _ref ones are plain loops (tests/test_kernels.c
 * compares the two).
 */
#ifndef MMOE_REDUCE_H
#define MMOE_REDUCE_H

#include <stddef.h>

/*
 * Sum of squares of n floats accumulated in double, and the largest |x|.
 * For finite floats the sum cannot overflow (n * FLT_MAX^2 < DBL_MAX for
 * any n that fits in size_t), so it is finite exactly when every value is:
 * one pass serves as the finiteness check, the clipping norm and the bound
 * of the largest value. absmax ignores NaNs (the sum does not).
 */
void mmoe__sumsq_absmax(const float *x, size_t n, double *sumsq, float *absmax);
void mmoe__sumsq_absmax_ref(const float *x, size_t n, double *sumsq, float *absmax);

/*
 * Largest |x| of n floats (NaNs ignored) into *absmax; returns nonzero when
 * every value is finite. Cheaper than the sum of squares: no widening.
 */
int mmoe__absmax_finite(const float *x, size_t n, float *absmax);
int mmoe__absmax_finite_ref(const float *x, size_t n, float *absmax);

/* Dot product of n floats in float (the fast one sums in 16 lanes). */
float mmoe__dotf(const float *a, const float *b, size_t n);
float mmoe__dotf_ref(const float *a, const float *b, size_t n);

#endif
