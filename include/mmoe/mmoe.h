/*
 * libmmoe - Multi-gate Mixture-of-Experts for multi-task learning.
 *
 * Umbrella header: include this to get the whole public API.
 *
 *     mmoe_config *cfg;  mmoe_model *m;  mmoe_optimizer *opt;  mmoe_workspace *ws;
 *     mmoe_config_create(&cfg);
 *     mmoe_config_set_int(cfg, "input.dense", 100);
 *     mmoe_config_set_experts(cfg, 8, 1, (size_t[]){16}, MMOE_ACT_RELU);
 *     mmoe_config_add_task(cfg, "ctr", MMOE_TASK_BINARY, 1, (size_t[]){8}, MMOE_ACT_RELU, 1.0f);
 *     mmoe_model_create(cfg, &m);
 *     mmoe_optimizer_create(m, MMOE_OPTIMIZER_ADAM, &opt);
 *     mmoe_model_train_step(m, opt, batch, x, NULL, labels, NULL, NULL, &loss);
 *     mmoe_workspace_create(m, 1, &ws);
 *     mmoe_model_predict(m, ws, 1, x, NULL, out);
 *     mmoe_workspace_free(ws); mmoe_optimizer_free(opt); mmoe_model_free(m); mmoe_config_free(cfg);
 *
 * Every fallible call returns mmoe_status (mmoe/status.h); check it.
 */
#ifndef MMOE_MMOE_H
#define MMOE_MMOE_H

#include "mmoe/export.h"
#include "mmoe/version.h"
#include "mmoe/status.h"
#include "mmoe/tensor.h"
#include "mmoe/layer.h"
#include "mmoe/config.h"
#include "mmoe/model.h"
#include "mmoe/optimizer.h"
#include "mmoe/loss.h"
#include "mmoe/runtime.h"
#include "mmoe/io.h"
#include "mmoe/metrics.h"
#include "mmoe/schema.h"
#include "mmoe/transform.h"
#include "mmoe/reader.h"
#include "mmoe/parallel.h"

#ifdef __cplusplus
extern "C" {
#endif
/* This umbrella header declares nothing itself; each included header has its own guards. */
#ifdef __cplusplus
}
#endif

#endif /* MMOE_MMOE_H */
