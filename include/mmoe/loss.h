/*
 * libmmoe - loss functions.
 *
 * The losses the model uses for its tasks, exposed for use with the
 * standalone layers and for testing:
 *
 *   regression (MSE):  l(y, t) = (y - t)^2
 *   binary (BCE):      l(z, t) = max(z, 0) - z t + log(1 + exp(-|z|))
 *                      (cross-entropy of sigmoid(z), computed stably on the logit z)
 *
 *   loss = (1/n) sum_i w_i l_i,   grad_i = (w_i / n) dl_i/dy_i
 *
 * Thread safety: pure functions; safe from any thread.
 */
#ifndef MMOE_LOSS_H
#define MMOE_LOSS_H

#include <stddef.h>

#include "mmoe/config.h"
#include "mmoe/export.h"
#include "mmoe/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Mean (weighted) loss of n predictions and, optionally, its gradient.
 * @param kind     MMOE_TASK_REGRESSION (pred = value) or MMOE_TASK_BINARY (pred = logit)
 * @param n        number of samples, >= 1
 * @param pred     [n] predictions (values or logits)
 * @param target   [n] targets; in [0, 1] for binary
 * @param weights  [n] sample weights >= 0, or NULL for all ones
 * @param loss     out: the mean loss
 * @param grad     [n] out: dloss/dpred, or NULL
 * @return MMOE_OK; MMOE_ERR_NULL; MMOE_ERR_INVALID_ARG (n 0, unknown kind);
 *         MMOE_ERR_NONFINITE; MMOE_ERR_RANGE (binary target outside [0,1],
 *         negative weight). Outputs untouched on failure; details in
 *         mmoe_last_error().
 */
MMOE_API mmoe_status mmoe_loss(mmoe_task_kind kind, size_t n, const float *pred,
                               const float *target, const float *weights, double *loss,
                               float *grad);

#ifdef __cplusplus
}
#endif

#endif /* MMOE_LOSS_H */
