/* Private layout of mmoe_config (fixed-size; cloned by memcpy). */
#ifndef MMOE_CONFIG_IMPL_H
#define MMOE_CONFIG_IMPL_H

#include "internal.h"
#include "mmoe/config.h"
#include "mmoe/layer.h"

#define MMOE__NAME_MAX 64
#define MMOE__MAX_WIDTH ((size_t)1 << 20)
#define MMOE__MAX_INPUT ((size_t)1 << 24)
#define MMOE__MAX_EXPERTS 1024
#define MMOE__MAX_PRIOR 128 /* values of task.K.gate_bias / task.K.gate_mask */

/* Architectures of this build: mmoe_arch values 0 .. MMOE__ARCH_COUNT - 1. */
#define MMOE__ARCH_COUNT ((size_t)MMOE_ARCH_STACKED_MMOE + 1)

typedef struct mmoe__task_cfg {
    char name[MMOE__NAME_MAX];
    mmoe_task_kind kind;
    double weight;
    size_t n_layers;
    size_t widths[MMOE_MAX_LAYERS];
    mmoe_activation act;
    size_t n_experts; /* cgc, ple: the task's own experts per level */
    size_t n_factors; /* product task (ESMM): the tasks it multiplies; 0: a tower task */
    size_t factors[MMOE_MAX_LAYERS];
    /* gate priors (lib/gate.c): one value per expert task K's gate mixes; 0 values: none */
    size_t n_gate_bias, n_gate_mask;
    float gate_bias[MMOE__MAX_PRIOR]; /* initial bias of the gate logits (trainable) */
    float gate_mask[MMOE__MAX_PRIOR]; /* fixed additive offsets; -inf forbids an expert */
} mmoe__task_cfg;

#define MMOE__MAX_SPARSE 256

typedef struct mmoe__sparse_cfg {
    char name[MMOE__NAME_MAX];
    uint64_t vocab;
    size_t dim;
    size_t slots;
    int pooling; /* 0 mean, 1 sum */
    int oov;     /* 0 error, 1 hash */
} mmoe__sparse_cfg;

struct mmoe_config {
    mmoe_arch arch;
    size_t input_dense;
    size_t n_experts;
    size_t expert_layers;
    size_t expert_widths[MMOE_MAX_LAYERS];
    mmoe_activation expert_act;
    uint64_t seed;
    size_t n_tasks;
    mmoe__task_cfg tasks[MMOE_MAX_TASKS];
    double l2_lambda;
    size_t tf_rank;
    size_t n_sparse;
    mmoe__sparse_cfg sparse[MMOE__MAX_SPARSE];
    size_t cross_layers;
    int cross_form; /* 0 vector, 1 matrix */
    size_t dnn_layers;
    size_t dnn_widths[MMOE_MAX_LAYERS];
    mmoe_activation dnn_act;
    int dnn_batchnorm;
    double dnn_dropout;
    /* gates of the gated kinds (keys gate.*, lib/gate.c) */
    size_t levels; /* ple, stacked_mmoe: levels */
    int gate_kind; /* index into the gate kinds of lib/gate.c: 0 softmax, 1 topk, 2 hard */
    double gate_temperature;
    size_t gate_top_k;
    int gate_noise;           /* noisy top-k gating (training only) */
    double gate_w_importance; /* load-balancing weights (gate.balance.*) */
    double gate_w_load;
    char err[MMOE__ERRLEN];
};

/* Architecture by name (-1 when unknown); "mmoe, omoe, ..." into buf (lib/arch.c). */
int mmoe__arch_parse(const char *name);
void mmoe__arch_list(char *buf, size_t cap);

/* Gate kinds (rows of the table in lib/gate.c). */
#define MMOE__GATE_KINDS 3

/* Validate into errbuf (may be NULL). */
mmoe_status mmoe__config_check(const mmoe_config *cfg, char *errbuf);

#endif
