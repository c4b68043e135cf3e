/* Private model layout shared by model.c, workspace.c and train.c. */
#ifndef MMOE_MODEL_IMPL_H
#define MMOE_MODEL_IMPL_H

#include "bottom.h"
#include "config_impl.h"
#include "input.h"
#include "mmoe/model.h"
#include "params.h"
#include "pmlp.h"
#include "replica.h"

/* Forward buffers of one pass (bound to an arena of `cap` rows). */
typedef struct mmoe__fwd {
    size_t cap;
    float *input[MMOE__INPUT_MAX_BUFS];
    float *bottom[MMOE__BOTTOM_MAX_BUFS];
    float *tower[MMOE_MAX_TASKS][MMOE_MAX_LAYERS + 1];
    float *Z; /* logits / raw outputs [B, T] */
    float *Y; /* outputs: probabilities or values [B, T] */
} mmoe__fwd;

/* Backward buffers: same shapes as the forward ones, plus dL/dx and dL/dZ. */
typedef struct mmoe__bwd {
    float *input[MMOE__INPUT_MAX_BUFS];
    float *bottom[MMOE__BOTTOM_MAX_BUFS];
    float *tower[MMOE_MAX_TASKS][MMOE_MAX_LAYERS + 1];
    float *dX; /* [B, input.out] when the input stage is active */
    float *dZ; /* [B, T] */
} mmoe__bwd;

struct mmoe_model {
    uint64_t id; /* unique within the process: never reused, unlike the address */
    mmoe_config *cfg;
    size_t n_tasks, in;
    size_t n_towers;     /* tasks with a tower (and a bottom output); the rest are products */
    mmoe__registry reg;  /* trainable parameters */
    mmoe__registry sreg; /* non-trainable state (batch-norm statistics) */
    float *params, *grads, *stats;
    mmoe__input input;
    mmoe__bottom bottom;
    mmoe__pmlp towers[MMOE_MAX_TASKS];
    size_t fwd_per_row, bwd_per_row;
    /* training state */
    float *train_arena;
    size_t train_cap;
    mmoe__fwd tf;
    mmoe__bwd tb;
    float *tx;       /* copy of the last training input [cap, in] */
    int64_t *tids;   /* copy of the last training ids [cap, n_ids] */
    const float *tX; /* bottom input of the last training forward */
    size_t tX_ld;
    uint64_t rng;                 /* dropout stream (saved as "dropout_state", serialize.c) */
    mmoe__reducer red;            /* replicas (mmoe_model_set_reducer) */
    mmoe__progress prog;          /* backward progress (mmoe_model_set_grad_ready) */
    size_t bottom_off, tower_off; /* where the bottom's and the towers' parameters start */
    size_t batch;
    int have_forward, have_loss;
    struct mmoe_transform *transform; /* attached preprocessing (transform.h), or NULL */
    char err[MMOE__ERRLEN];
};

/* The dropout stream's start for a description's seed (creation, mmoe_model_seed_dropout). */
#define MMOE__DROPOUT_START(seed) ((uint64_t)(seed) ^ 0x5eed5eed5eed5eedULL)

struct mmoe_workspace {
    const mmoe_model *model;
    uint64_t model_id; /* model->id at creation: a model freed and another allocated at the
                          same address is still told apart */
    float *arena;
    mmoe__fwd f;
    size_t rows; /* rows of the last predict that f holds whole (0: none, or it ran in chunks) */
    char err[MMOE__ERRLEN];
};

/* The model's process-unique id. */
uint64_t mmoe__model_id(const mmoe_model *m);

/* Bind forward buffers for cap rows at base (arena of cap * fwd_per_row floats). */
void mmoe__model_bind_fwd(const mmoe_model *m, float *base, size_t cap, mmoe__fwd *f);

/*
 * Forward of B <= f->cap rows; fills f->Z and f->Y and returns the bottom's
 * input (and its leading dimension). Training when update is not NULL:
 * batch statistics written to update (the model's statistics; only a
 * mutable model has them) and dropout from *rng. Inference when update is
 * NULL: the model, its statistics included, is only read.
 */
const float *mmoe__model_forward(const mmoe_model *m, size_t B, const float *x, const int64_t *ids,
                                 float *update, uint64_t *rng, const mmoe__fwd *f, size_t *ldX);

/*
 * Scalars a model built from cfg would hold (trainable, statistics), without
 * allocating them: lets a loader reject a file whose data cannot match
 * before it allocates what the description asks for.
 */
mmoe_status mmoe__model_layout_size(const mmoe_config *cfg, size_t *n_params, size_t *n_stats);

/* The model's reducer when one is installed, else NULL (parallel.c). */
mmoe__reducer *mmoe__model_reducer(mmoe_model *m);

/* Whether the model stores only a shard of some table (cannot predict or be saved). */
int mmoe__model_is_shard(const mmoe_model *m);

/* Common argument checks of forward and predict (into errbuf). */
mmoe_status mmoe__model_check_input(const mmoe_model *m, size_t batch, const float *x,
                                    const int64_t *ids, char *errbuf, const char *func);

#endif
