/* Reductions over float arrays (see reduce.h). */
#include <math.h>

#include "internal.h"
#include "reduce.h"

#define LANES 8

MMOE__VECTORIZED void mmoe__sumsq_absmax(const float *x, size_t n, double *sumsq, float *absmax)
{
    double s[LANES] = {0};
    float m[LANES] = {0};
    size_t i = 0;
    for (; i + LANES <= n; i += LANES) {
        for (size_t j = 0; j < LANES; j++) {
            double d = (double)x[i + j];
            float a = fabsf(x[i + j]);
            s[j] += d * d;
            m[j] = a > m[j] ? a : m[j];
        }
    }
    for (size_t j = 0; i < n; i++, j++) {
        double d = (double)x[i];
        float a = fabsf(x[i]);
        s[j] += d * d;
        m[j] = a > m[j] ? a : m[j];
    }
    double total = 0.0;
    float mx = 0.0f;
    for (size_t j = 0; j < LANES; j++) {
        total += s[j];
        mx = m[j] > mx ? m[j] : mx;
    }
    *sumsq = total;
    *absmax = mx;
}

void mmoe__sumsq_absmax_ref(const float *x, size_t n, double *sumsq, float *absmax)
{
    double s = 0.0;
    float mx = 0.0f;
    for (size_t i = 0; i < n; i++) {
        s += (double)x[i] * (double)x[i];
        if (fabsf(x[i]) > mx)
            mx = fabsf(x[i]);
    }
    *sumsq = s;
    *absmax = mx;
}
