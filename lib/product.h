/*
 * Private product tasks (ESMM, Ma et al., SIGIR 2018): a binary task
 * declared with task.K.product "i,j,..." predicts p_K = p_i p_j ... (the
 * probabilities of binary tower tasks) and is trained with the binary
 * cross-entropy of p_K on its own labels; its gradient reaches every
 * factor's logit. Product tasks have no tower and no gate; they come after
 * every tower task.
 */
#ifndef MMOE_PRODUCT_H
#define MMOE_PRODUCT_H

#include <stddef.h>

#include "config_impl.h"

/* Tasks with a tower: those before the first product task. */
size_t mmoe__product_tower_tasks(const mmoe_config *cfg);

/* Check the product declarations of cfg (into err). */
mmoe_status mmoe__product_check(const mmoe_config *cfg, char *err);

/*
 * Row of outputs: for every product task k, Y[k] = prod Y[factors] and
 * Z[k] = its logit, log p - log(1 - p).
 */
void mmoe__product_forward(const mmoe_config *cfg, const float *Z, float *Zout, float *Y);

/*
 * BCE of product task k on label t, from the factors' logits z (row of
 * all tasks' logits); ADDS scale * dL/dz_j into dz[j] for every factor j.
 * Returns the loss.
 */
double mmoe__product_loss(const mmoe__task_cfg *task, const float *z, float t, float scale,
                          float *dz);

#endif
