/*
 * libmmoe - evaluation metrics.
 *
 * Each metric is computed per task over row-major [n, T] arrays of
 * predictions and labels (as mmoe_model_predict writes them and as
 * mmoe_model_loss reads them), optionally weighted by per-sample weights
 * [n]. With weights w_i (all 1 when weights is NULL) and W = sum_i w_i:
 *
 *   MMOE_METRIC_AUC       exact area under the ROC curve: the weighted
 *                         probability that a positive scores above a
 *                         negative, ties counting one half,
 *                           sum_{i pos, j neg} w_i w_j [s_i > s_j] + 0.5 [s_i = s_j]
 *                           ---------------------------------------------------
 *                                      (sum_{pos} w_i) (sum_{neg} w_j)
 *                         (unweighted: the Mann-Whitney statistic with tied
 *                         scores given their average rank). Sorts the
 *                         scores: O(n log n) time, O(n) scratch memory.
 *                         Labels 0 or 1; scores any finite value.
 *   MMOE_METRIC_LOG_LOSS  (1/W) sum_i w_i * -(y_i log p_i + (1 - y_i) log(1 - p_i)),
 *                         p clipped to [1e-7, 1 - 1e-7]. Predictions are
 *                         probabilities in [0, 1]; labels in [0, 1].
 *   MMOE_METRIC_ACCURACY  (1/W) sum_i w_i [ (p_i >= 0.5) == (y_i == 1) ].
 *                         Labels 0 or 1; predictions any finite value
 *                         (probabilities: the threshold is 0.5).
 *   MMOE_METRIC_MSE       (1/W) sum_i w_i (p_i - y_i)^2. Any finite values.
 *   MMOE_METRIC_RMSE      sqrt(MSE).
 *
 * Sums are accumulated in double.
 *
 * Errors are recorded in this thread's last-error message (mmoe_last_error).
 * On failure the output array is not written.
 *
 * Thread safety: the functions have no shared state; they may run
 * concurrently (the inputs are only read).
 */
#ifndef MMOE_METRICS_H
#define MMOE_METRICS_H

#include <stddef.h>

#include "mmoe/export.h"
#include "mmoe/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Metrics. Values are stable. */
typedef enum mmoe_metric {
    MMOE_METRIC_AUC = 0,
    MMOE_METRIC_LOG_LOSS = 1,
    MMOE_METRIC_ACCURACY = 2,
    MMOE_METRIC_MSE = 3,
    MMOE_METRIC_RMSE = 4
} mmoe_metric;

/**
 * A metric of every task: out[k] for column k of the [n, T] arrays.
 * @param metric   which metric
 * @param n        samples (rows), >= 1
 * @param T        tasks (columns), >= 1
 * @param pred     [n, T] predictions (scores / probabilities / values)
 * @param labels   [n, T] labels
 * @param weights  [n] sample weights, finite and >= 0, or NULL (all 1)
 * @param out      [T] results, written only on success
 * @return MMOE_OK;
 *         MMOE_ERR_NULL (pred, labels or out NULL);
 *         MMOE_ERR_INVALID_ARG (n or T is 0; unknown metric);
 *         MMOE_ERR_OVERFLOW (n * T too large);
 *         MMOE_ERR_NONFINITE (a prediction, label or weight is NaN/Inf);
 *         MMOE_ERR_RANGE (a negative weight; total weight 0; a label not 0
 *         or 1 for AUC/accuracy, outside [0, 1] for log loss; a prediction
 *         outside [0, 1] for log loss; AUC of a task whose labels hold a
 *         single class (no positive or no negative with weight > 0): the
 *         AUC is undefined there). The message names the row and task.
 *         MMOE_ERR_NOMEM (AUC scratch memory).
 */
MMOE_API mmoe_status mmoe_metric_compute(mmoe_metric metric, size_t n, size_t T, const float *pred,
                                         const float *labels, const float *weights, double *out);

/**
 * AUC of one task: mmoe_metric_compute(MMOE_METRIC_AUC, n, 1, scores,
 * labels, weights, auc). Same errors.
 */
MMOE_API mmoe_status mmoe_metric_auc(size_t n, const float *scores, const float *labels,
                                     const float *weights, double *auc);

/** Name of a metric ("auc", "log_loss", "accuracy", "mse", "rmse"; "?" when unknown). */
MMOE_API const char *mmoe_metric_name(mmoe_metric metric);

#ifdef __cplusplus
}
#endif

#endif /* MMOE_METRICS_H */
