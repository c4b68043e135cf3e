/* Private per-sample task losses, shared by mmoe_loss and the model's loss. */
#ifndef MMOE_LOSS_IMPL_H
#define MMOE_LOSS_IMPL_H

#include "mmoe/config.h"

/*
 * Loss of one prediction y (a value, or a logit for binary) against target
 * t, and its derivative dl/dy in *dl:
 *   regression: (y - t)^2,                          dl = 2 (y - t)
 *   binary:     max(y, 0) - y t + log(1 + e^-|y|),  dl = sigmoid(y) - t
 * computed in double, stably for any finite logit.
 */
double mmoe__loss_elem(mmoe_task_kind kind, double y, double t, double *dl);

#endif
