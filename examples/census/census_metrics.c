/*
 * Metrics of the census example; see census_metrics.h.
 */
#include "census_metrics.h"

#include <math.h>
#include <stdlib.h>

#ifdef CENSUS_HAVE_MMOE_METRICS
#include <mmoe/metrics.h>
#endif

#ifndef CENSUS_HAVE_MMOE_METRICS
typedef struct scored {
    float score;
    float label;
} scored;

static int by_score(const void *a, const void *b)
{
    float x = ((const scored *)a)->score, y = ((const scored *)b)->score;
    return (x > y) - (x < y);
}
#endif

double census_auc(const float *scores, size_t score_stride, const float *labels,
                  size_t label_stride, size_t n)
{
#ifdef CENSUS_HAVE_MMOE_METRICS
    double auc = NAN;
    if (mmoe_metric_auc(scores, score_stride, labels, label_stride, n, &auc) != MMOE_OK)
        return NAN;
    return auc;
#else
    if (n == 0)
        return NAN;
    scored *v = malloc(n * sizeof *v);
    if (!v)
        return NAN;
    for (size_t i = 0; i < n; i++) {
        v[i].score = scores[i * score_stride];
        v[i].label = labels[i * label_stride];
    }
    qsort(v, n, sizeof *v, by_score);
    /* Sum of the (tie-averaged, 1-based) ranks of the positives. */
    double rank_sum = 0.0, pos = 0.0;
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        double p = 0.0;
        while (j < n && v[j].score == v[i].score) {
            p += v[j].label > 0.5f;
            j++;
        }
        double mid = 0.5 * ((double)(i + 1) + (double)j); /* mean rank of i+1..j */
        rank_sum += p * mid;
        pos += p;
        i = j;
    }
    free(v);
    double neg = (double)n - pos;
    if (pos == 0.0 || neg == 0.0)
        return NAN;
    return (rank_sum - pos * (pos + 1.0) / 2.0) / (pos * neg);
#endif
}
