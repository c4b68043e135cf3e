/*
 * Evaluation metrics of the census example.
 */
#ifndef CENSUS_METRICS_H
#define CENSUS_METRICS_H

#include <stddef.h>

/*
 * Exact area under the ROC curve of scores against 0/1 labels, both read
 * with a stride (floats between consecutive samples), ties counted as
 * one half (the Mann-Whitney statistic). Returns NaN when one class is
 * absent or memory runs out.
 */
double census_auc(const float *scores, size_t score_stride, const float *labels,
                  size_t label_stride, size_t n);

#endif
