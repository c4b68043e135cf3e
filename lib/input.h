/*
 * Private input stage: turns a sample's dense floats and sparse ids into
 * the vector x the bottom reads:
 *
 *   x0 = [ emb_1(ids_1) | ... | emb_S(ids_S) | dense ]   (embeddings pooled per bag)
 *   x1 = CrossNet(x0)       when cross.layers > 0
 *   x  = DNN(x1)            when dnn.layers is not empty
 *
 * With no sparse features, no CrossNet and no DNN the stage is inactive and
 * the bottom reads the dense input directly.
 *
 * Non-trainable state (batch-norm running statistics) lives in a second
 * registry and flat buffer ("stats"), saved with the model but never
 * touched by optimizers.
 */
#ifndef MMOE_INPUT_H
#define MMOE_INPUT_H

#include <stddef.h>
#include <stdint.h>

#include "config_impl.h"
#include "embedding.h"
#include "params.h"
#include "replica.h"

#define MMOE__INPUT_MAX_BUFS 64

typedef struct mmoe__input {
    int active;
    size_t dense; /* dense input width */
    size_t n_ids; /* int64 ids per sample (sum of slots over sparse features) */
    size_t out;   /* width of x */
    void *impl;   /* private state of the active stage (owned) */
} mmoe__input;

/*
 * An embedding table of the input stage: its kernel description (with its
 * shard), where its stored rows start in the flat buffers, and the rows
 * fed for training passes (mmoe_model_feed_rows; fed views the buffers).
 */
typedef struct mmoe__table {
    mmoe__emb emb;
    size_t off;        /* first float of the stored rows */
    size_t local_rows; /* rows stored */
    size_t id_col;     /* first id of the feature in a sample's id row */
    mmoe__emb_fed fed;
    int64_t *fed_rows;
    float *fed_vec, *fed_grad;
    size_t fed_cap; /* rows the fed buffers hold */
} mmoe__table;

mmoe_status mmoe__input_setup(mmoe__input *in, const mmoe_config *cfg, char *err);
void mmoe__input_free(mmoe__input *in);

/* Number of tables and table k (k < number). */
size_t mmoe__input_num_tables(const mmoe__input *in);
mmoe__table *mmoe__input_table(const mmoe__input *in, size_t k);

/* Make table k a shard (rank of world): before mmoe__input_declare. */
void mmoe__input_shard(mmoe__input *in, size_t k, size_t rank, size_t world);

/* The model's reducer, used by batch-norm in training passes. */
void mmoe__input_set_reducer(mmoe__input *in, mmoe__reducer *red);

/* Grow every table's fed buffers to hold `rows` rows (grow-only; NOMEM leaves them). */
mmoe_status mmoe__input_reserve_fed(mmoe__input *in, size_t batch);

/* Every row of a sharded table the batch uses is fed or stored (training passes). */
mmoe_status mmoe__input_check_stored(const mmoe__input *in, size_t B, const int64_t *ids, char *err,
                                     const char *func);

/* Reset the fed rows' gradients. */
void mmoe__input_zero_fed(const mmoe__input *in);

/* Per-row widths of the forward buffers (backward buffers have the same shapes). */
size_t mmoe__input_buffers(const mmoe__input *in, size_t *widths);

void mmoe__input_declare(mmoe__input *in, mmoe__registry *params, mmoe__registry *stats);
void mmoe__input_init(const mmoe__input *in, float *params, float *stats, uint64_t seed);

/* Validate ids of B samples ([B, n_ids]; NULL allowed only when n_ids == 0). */
mmoe_status mmoe__input_check_ids(const mmoe__input *in, size_t B, const int64_t *ids, char *err,
                                  const char *func);

/*
 * Forward. Training when update is not NULL: batch statistics + dropout
 * (drawing from *rng), running statistics updated in update (the same
 * buffer as stats), fed rows used. Inference when update is NULL: running
 * statistics (only read: const), no dropout, stored rows only. Returns x
 * and its leading dimension.
 */
const float *mmoe__input_forward(const mmoe__input *in, const float *params, const float *stats,
                                 float *update, size_t B, const float *dense, const int64_t *ids,
                                 uint64_t *rng, float *const *fb, size_t *ld);

/* Backward from dX [B, out]: adds parameter gradients (sparse rows only for embeddings). */
void mmoe__input_backward(const mmoe__input *in, const float *params, float *grads, size_t B,
                          const float *dense, const int64_t *ids, float *const *fb,
                          float *const *bb, const float *dX);

#endif
