/*
 * libmmoe - optimizers.
 *
 * An optimizer updates a model's flat parameter buffer from its flat
 * gradient buffer and keeps its own state (momentum, Adam moments, Adagrad
 * sums). Kinds: SGD (with optional momentum), Adam, Adagrad. Each supports
 * L2 weight decay (lambda * theta added to every gradient, biases
 * included) and optional clipping of the global gradient norm.
 *
 * Embedding tables (input.embeddings.K.weight) are updated lazily: in a
 * step, a table row whose gradient is entirely zero (no sample of the batch
 * used it) is skipped: its parameters, Adam moments, Adagrad sums and SGD
 * velocity stay as they are and weight decay does not apply to it. Used
 * rows get the ordinary update; Adam's bias correction uses the
 * optimizer's global step count.
 *
 * A step whose gradients contain NaN or infinity is refused with
 * MMOE_ERR_NONFINITE and changes nothing (parameters, state, step count).
 *
 * Lifetime: the optimizer refers to its model; free the optimizer first.
 * Thread safety: not synchronised; do not step while another thread uses
 * the model.
 */
#ifndef MMOE_OPTIMIZER_H
#define MMOE_OPTIMIZER_H

#include <stddef.h>
#include <stdint.h>

#include "mmoe/export.h"
#include "mmoe/model.h"
#include "mmoe/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Optimizer kinds. Values are stable. */
typedef enum mmoe_optimizer_kind {
    MMOE_OPTIMIZER_SGD = 0,
    MMOE_OPTIMIZER_ADAM = 1,
    MMOE_OPTIMIZER_ADAGRAD = 2
} mmoe_optimizer_kind;

/** Hyper-parameters, set with mmoe_optimizer_set. Values are stable. */
typedef enum mmoe_optimizer_param {
    MMOE_OPT_LEARNING_RATE = 0, /**< > 0; default 0.01 (SGD, Adagrad), 0.001 (Adam) */
    MMOE_OPT_MOMENTUM = 1,      /**< SGD only, [0, 1); default 0 */
    MMOE_OPT_BETA1 = 2,         /**< Adam, [0, 1); default 0.9 */
    MMOE_OPT_BETA2 = 3,         /**< Adam, [0, 1); default 0.999 */
    MMOE_OPT_EPSILON = 4,       /**< Adam, Adagrad, > 0; default 1e-8 (Adam), 1e-10 (Adagrad) */
    MMOE_OPT_WEIGHT_DECAY = 5,  /**< L2 lambda >= 0; default 0 */
    MMOE_OPT_CLIP_NORM = 6      /**< global gradient-norm bound, 0 = off (default) */
} mmoe_optimizer_param;

/** Opaque optimizer handle. */
typedef struct mmoe_optimizer mmoe_optimizer;

/**
 * Create an optimizer over all of model's parameters, hyper-parameters at
 * their defaults.
 * @return MMOE_OK; MMOE_ERR_NULL; MMOE_ERR_INVALID_ARG (unknown kind);
 *         MMOE_ERR_NOMEM. *out NULL on failure.
 * Ownership: caller frees with mmoe_optimizer_free before freeing the model.
 */
MMOE_API mmoe_status mmoe_optimizer_create(mmoe_model *model, mmoe_optimizer_kind kind,
                                           mmoe_optimizer **out);

/** Free an optimizer. NULL is a no-op. */
MMOE_API void mmoe_optimizer_free(mmoe_optimizer *opt);

/**
 * Set a hyper-parameter.
 * @return MMOE_OK; MMOE_ERR_NULL; MMOE_ERR_INVALID_ARG (unknown param or
 *         one this kind does not use); MMOE_ERR_RANGE (value out of range,
 *         NaN). Unchanged on failure.
 */
MMOE_API mmoe_status mmoe_optimizer_set(mmoe_optimizer *opt, mmoe_optimizer_param param,
                                        double value);

/**
 * Read a hyper-parameter.
 * @return MMOE_OK; MMOE_ERR_NULL; MMOE_ERR_INVALID_ARG (unknown param or one
 *         this kind does not use). The handle is const: a failure's message
 *         is only in mmoe_last_error().
 */
MMOE_API mmoe_status mmoe_optimizer_get(const mmoe_optimizer *opt, mmoe_optimizer_param param,
                                        double *value);

/**
 * One update from the model's current gradients. Gradients are not reset.
 * Order: check finiteness, clip the global norm, add weight decay, update.
 * Parameters are not range-checked after the update: an extreme learning
 * rate on unclipped gradients can overflow a parameter to infinity; use
 * MMOE_OPT_CLIP_NORM to bound updates.
 * @return MMOE_OK; MMOE_ERR_NULL; MMOE_ERR_NONFINITE (nothing changed).
 */
MMOE_API mmoe_status mmoe_optimizer_step(mmoe_optimizer *opt);

/** Forget all state (moments, step count). @return MMOE_OK; MMOE_ERR_NULL. */
MMOE_API mmoe_status mmoe_optimizer_reset(mmoe_optimizer *opt);

/** Number of successful steps since creation or reset (0 for NULL). */
MMOE_API uint64_t mmoe_optimizer_steps(const mmoe_optimizer *opt);

/** Message of the last failure ("" if none, or for NULL). */
MMOE_API const char *mmoe_optimizer_last_error(const mmoe_optimizer *opt);

/* mmoe_model_train_step, the whole step in one call, is declared in mmoe/model.h. */

#ifdef __cplusplus
}
#endif

#endif /* MMOE_OPTIMIZER_H */
