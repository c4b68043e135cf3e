/* Private model layout shared by model.c, workspace.c and train.c. */
#ifndef MMOE_MODEL_IMPL_H
#define MMOE_MODEL_IMPL_H

#include "config_impl.h"
#include "moe.h"
#include "mmoe/model.h"
#include "params.h"

/* Forward buffers of one pass (bound to an arena of `cap` rows). */
typedef struct mmoe__fwd {
    size_t cap;
    mmoe__moe_fwd moe;
    float *tower[MMOE_MAX_TASKS][MMOE_MAX_LAYERS + 1];
    float *Z; /* logits / raw outputs [B, T] */
    float *Y; /* outputs: probabilities or values [B, T] */
} mmoe__fwd;

typedef struct mmoe__bwd {
    mmoe__moe_bwd moe;
    float *tower[MMOE_MAX_TASKS][MMOE_MAX_LAYERS + 1];
    float *dZ; /* [B, T] */
} mmoe__bwd;

struct mmoe_model {
    mmoe_config *cfg;
    size_t n_tasks, in;
    mmoe__registry reg;
    float *params, *grads;
    mmoe__moe moe;
    mmoe__pmlp towers[MMOE_MAX_TASKS];
    size_t fwd_per_row, bwd_per_row;
    /* training state */
    float *train_arena;
    size_t train_cap;
    mmoe__fwd tf;
    mmoe__bwd tb;
    float *tx; /* copy of the last training input [cap, in] */
    size_t batch;
    int have_forward, have_loss;
    char err[MMOE__ERRLEN];
};

struct mmoe_workspace {
    const mmoe_model *model;
    float *arena;
    mmoe__fwd f;
    char err[MMOE__ERRLEN];
};

/* Bind forward buffers for cap rows at base (arena of cap * fwd_per_row floats). */
void mmoe__model_bind_fwd(const mmoe_model *m, float *base, size_t cap, mmoe__fwd *f);

/* Inference/training forward of B <= f->cap rows; fills f->Z and f->Y. */
void mmoe__model_forward(const mmoe_model *m, size_t B, const float *x, const mmoe__fwd *f);

/* Common argument checks of forward and predict (into errbuf). */
mmoe_status mmoe__model_check_input(const mmoe_model *m, size_t batch, const float *x,
                                    const int64_t *ids, char *errbuf, const char *func);

#endif
