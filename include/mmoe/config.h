/*
 * libmmoe - model descriptions.
 *
 * An mmoe_config describes a model's architecture: the kind of model, the
 * input width, the experts, and one entry per task (name, kind, tower, loss
 * weight). It is opaque so that new options never change a struct layout:
 * every option is a key with a text value, set through mmoe_config_set()
 * or the typed helpers below, and the whole description round-trips through
 * a versioned text form (mmoe_config_to_string / mmoe_config_parse). That
 * text is what model files store.
 *
 * Text form (one "key value" per line, first line the format version; the
 * other lines may come in any order: the counts "tasks" and "input.sparse"
 * apply first, so "task.1.name" may precede "tasks 2". A key given twice
 * keeps its last value. input.dense is left out while it is not set):
 *
 *     mmoe-config 1
 *     arch mmoe
 *     input.dense 100
 *     experts.count 8
 *     experts.layers 16
 *     experts.activation relu
 *     seed 42
 *     tasks 2
 *     task.0.name y1
 *     task.0.kind regression
 *     task.0.weight 1
 *     task.0.layers 8
 *     task.0.activation relu
 *     ...
 *
 * Keys (defaults in brackets):
 *   arch                mmoe | omoe | shared_bottom | single_task |
 *                       l2_constrained | cross_stitch | tensor_factorization |
 *                       cgc | ple | stacked_mmoe [mmoe] (mmoe_arch_name lists them)
 *   input.dense         width of the dense input, >= 1 [required]
 *   experts.count       experts for mmoe/omoe, 1..1024 [8]; shared_bottom
 *                       uses one expert (the shared bottom), single_task
 *                       one expert per task (both ignore this key)
 *   experts.layers      comma-separated widths of each expert's layers [16]
 *   experts.activation  identity | relu | sigmoid | tanh [relu]
 *                       (l2_constrained, cross_stitch, tensor_factorization:
 *                       one network per task, each shaped by experts.layers)
 *   seed                initialisation seed, unsigned 64-bit [1]
 *   l2.lambda           l2_constrained penalty weight, finite, >= 0 [0.001]
 *   tf.rank             tensor_factorization rank of the shared core, 1..4096 [4]
 *   gate.kind           softmax | topk | hard: how the gates of the gated
 *                       kinds (mmoe, omoe, cgc, ple, stacked_mmoe) turn
 *                       logits z into weights [softmax]
 *                       softmax: softmax(z / tau); topk: softmax over the
 *                       gate.top_k largest logits, the other weights exactly
 *                       0 (batch-1 predict of every gated kind skips the
 *                       unselected experts);
 *                       hard: one-hot of the largest logit, trained with the
 *                       straight-through gradient of softmax(z / tau)
 *                       (docs/models.md)
 *   gate.temperature    tau, in [1e-6, 1e6] [1]
 *   gate.top_k          experts a topk gate keeps, 1..1024; a gate over
 *                       fewer experts keeps them all [2]
 *                       (the gate.* keys are written by mmoe_config_to_string
 *                       only when they differ from their defaults; the
 *                       gateless kinds ignore them)
 *   gate.noise          0 | 1: noisy top-k gating (every gated kind;
 *                       needs gate.kind topk): in training only the logits get
 *                       N(0,1) * softplus(W_noise x) from the model's random
 *                       stream; predict is noise-free [0]
 *   gate.balance.importance  weight of the importance term CV(sum of gate
 *                       weights over the batch)^2 of the auxiliary loss,
 *                       in [0, 1e6] (every gated kind) [0]
 *   gate.balance.load   weight of the load term CV(smooth load)^2, in
 *                       [0, 1e6]; needs gate.noise 1 [0] (Shazeer et al.
 *                       2017; the auxiliary loss is part of the total loss
 *                       and its gradient, docs/models.md)
 *   levels              ple: extraction levels; stacked_mmoe: MMoE levels;
 *                       1..16 [2] (cgc is one level)
 *   task.K.product      ESMM: comma-separated indices of binary tower tasks;
 *                       task K (binary) then predicts the product of their
 *                       probabilities, has no tower and no gate, and trains
 *                       on its own labels (BCE of the product; the gradient
 *                       reaches every factor). Product tasks come after all
 *                       tower tasks. Empty: a task with a tower [] (written
 *                       only when set)
 *   task.K.gate_bias    gate prior: comma-separated initial biases of task
 *                       K's gate logits, one per expert the gate mixes
 *                       (mmoe, stacked_mmoe: experts.count; cgc, ple:
 *                       task.K.experts own experts, then the shared ones;
 *                       omoe: task 0 only, for the one gate), each in
 *                       [-1e6, 1e6]; the biases are trainable parameters
 *                       (every gate of the model gets one, 0 where not
 *                       given). Empty: no bias [] (written only when set)
 *   task.K.gate_mask    gate prior: fixed additive offsets of task K's gate
 *                       logits, same count and order as gate_bias, each
 *                       -inf (the expert is never used by this gate) or a
 *                       number in [-1e6, 1e6]; not trained. A row of -inf
 *                       only is refused. Empty: none [] (docs/models.md)
 *   task.K.experts      cgc, ple: task K's own experts per level, 0..1024 [1]
 *                       (experts.count is then the shared experts per level;
 *                       levels and task.K.experts are written only when not
 *                       at their defaults)
 *   input.sparse        number of sparse (categorical) features 0..256 [0]
 *   sparse.K.name       feature name, like task names [sparseK]
 *   sparse.K.vocab      vocabulary size (ids 0..vocab-1), 1..2^31 [1000]
 *   sparse.K.dim        embedding width, 1..4096 [8]
 *   sparse.K.slots      ids per sample: 1 = single id, > 1 = a bag [1]
 *   sparse.K.pooling    mean | sum (bags; padding ids are < 0) [mean]
 *   sparse.K.oov        error | hash (ids >= vocab) [error]
 *   cross.layers        CrossNet layers on the assembled input, 0..16 [0]
 *   cross.form          vector | matrix [vector]
 *   dnn.layers          comma-separated widths of a DNN before the bottom, may be empty []
 *   dnn.activation      DNN activation [relu]
 *   dnn.batchnorm       0 | 1: batch-norm after each DNN dense layer [0]
 *   dnn.dropout         DNN dropout rate in [0, 1) [0]
 *   tasks               number of tasks 1..64; setting it keeps existing
 *                       task entries and gives new ones defaults
 *   task.K.name         task name, 1..63 chars of [A-Za-z0-9_.-] [taskK]
 *   task.K.kind         regression | binary [regression]
 *   task.K.weight       loss weight, finite, >= 0 [1]
 *   task.K.layers       comma-separated tower hidden widths, may be empty [8]
 *   task.K.activation   tower hidden activation [relu]
 *
 * Thread safety: a config is not synchronised; reading one config from
 * several threads (e.g. creating models) is safe when nobody writes it.
 */
#ifndef MMOE_CONFIG_H
#define MMOE_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "mmoe/export.h"
#include "mmoe/layer.h"
#include "mmoe/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Model architectures. Values are stable. */
typedef enum mmoe_arch {
    MMOE_ARCH_MMOE = 0,                 /**< one gate per task over shared experts */
    MMOE_ARCH_OMOE = 1,                 /**< one gate shared by all tasks */
    MMOE_ARCH_SHARED_BOTTOM = 2,        /**< one shared MLP, a tower per task */
    MMOE_ARCH_SINGLE_TASK = 3,          /**< an independent network per task */
    MMOE_ARCH_L2_CONSTRAINED = 4,       /**< single-task nets + L2 penalty tying their parameters */
    MMOE_ARCH_CROSS_STITCH = 5,         /**< single-task nets mixed by cross-stitch units */
    MMOE_ARCH_TENSOR_FACTORIZATION = 6, /**< task layers from a shared Tucker factorisation */
    MMOE_ARCH_CGC = 7, /**< shared + task-specific experts, a gate per task (PLE, one level) */
    MMOE_ARCH_PLE = 8, /**< CGC levels stacked, with shared gates between them */
    MMOE_ARCH_STACKED_MMOE = 9 /**< MMoE levels, each reading the previous level's task outputs */
} mmoe_arch;

/**
 * Name of an architecture as the model description (key `arch`) and the
 * example programs spell it: "mmoe", "omoe", "shared_bottom", ...; NULL for
 * a value this build does not know. The string is static. Thread-safe.
 */
MMOE_API const char *mmoe_arch_name(mmoe_arch arch);

/**
 * Display name of an architecture for tables and plots: "MMoE", "OMoE",
 * "Shared-Bottom", ...; NULL for an unknown value. Static. Thread-safe.
 */
MMOE_API const char *mmoe_arch_label(mmoe_arch arch);

/**
 * Architecture by name (the names of mmoe_arch_name, exact match).
 * @return MMOE_OK; MMOE_ERR_NULL (name or out NULL); MMOE_ERR_INVALID_ARG
 *         (unknown name; the message lists the known ones). *out is
 *         unchanged on failure. Thread-safe.
 */
MMOE_API mmoe_status mmoe_arch_from_name(const char *name, mmoe_arch *out);

/**
 * Number of architectures this build knows: they are the mmoe_arch values
 * 0 .. mmoe_arch_count() - 1 (so a program can list them all). Thread-safe.
 */
MMOE_API size_t mmoe_arch_count(void);

/** Task kinds. Values are stable. */
typedef enum mmoe_task_kind {
    MMOE_TASK_REGRESSION = 0, /**< mean squared error; predict returns the value */
    MMOE_TASK_BINARY = 1      /**< BCE on the logit; predict returns the probability */
} mmoe_task_kind;

/** Version of the text form written by mmoe_config_to_string. */
#define MMOE_CONFIG_FORMAT_VERSION 1

/** Most tasks a model may have. */
#define MMOE_MAX_TASKS 64

/** Opaque model description. */
typedef struct mmoe_config mmoe_config;

/**
 * Create a description with every key at its default (no tasks, no input
 * width: both must be set before a model can be built).
 * @return MMOE_OK; MMOE_ERR_NULL; MMOE_ERR_NOMEM. Caller frees with mmoe_config_free.
 */
MMOE_API mmoe_status mmoe_config_create(mmoe_config **out);

/** Free a description. NULL is a no-op. */
MMOE_API void mmoe_config_free(mmoe_config *cfg);

/** Deep copy. @return MMOE_OK; MMOE_ERR_NULL; MMOE_ERR_NOMEM. */
MMOE_API mmoe_status mmoe_config_clone(const mmoe_config *cfg, mmoe_config **out);

/**
 * Set one key from its text value (see the key list above).
 * @return MMOE_OK; MMOE_ERR_NULL; MMOE_ERR_CONFIG (unknown key, malformed
 *         or out-of-range value, task index >= tasks). On failure the
 *         description is unchanged and mmoe_config_last_error() says why.
 */
MMOE_API mmoe_status mmoe_config_set(mmoe_config *cfg, const char *key, const char *value);

/**
 * Read one key's value as text into buf (cap bytes, NUL-terminated).
 * @return MMOE_OK; MMOE_ERR_NULL; MMOE_ERR_CONFIG (unknown key);
 *         MMOE_ERR_RANGE (buf too small; buf holds a truncated value).
 */
MMOE_API mmoe_status mmoe_config_get(const mmoe_config *cfg, const char *key, char *buf,
                                     size_t cap);

/** Typed helper: mmoe_config_set(cfg, key, decimal text of value). */
MMOE_API mmoe_status mmoe_config_set_int(mmoe_config *cfg, const char *key, int64_t value);

/** Typed helper: mmoe_config_set(cfg, key, "%.9g" of value). */
MMOE_API mmoe_status mmoe_config_set_real(mmoe_config *cfg, const char *key, double value);

/** Typed helper: key "arch". */
MMOE_API mmoe_status mmoe_config_set_arch(mmoe_config *cfg, mmoe_arch arch);

/**
 * Typed helper: experts.count, experts.layers and experts.activation at
 * once (all or nothing).
 */
MMOE_API mmoe_status mmoe_config_set_experts(mmoe_config *cfg, size_t n_experts, size_t n_layers,
                                             const size_t *widths, mmoe_activation act);

/**
 * Typed helper: append a task (tasks += 1) with its name, kind, tower and
 * loss weight. n_hidden may be 0 (hidden may then be NULL). All or nothing.
 * @return as mmoe_config_set; MMOE_ERR_RANGE when MMOE_MAX_TASKS tasks exist.
 */
MMOE_API mmoe_status mmoe_config_add_task(mmoe_config *cfg, const char *name, mmoe_task_kind kind,
                                          size_t n_hidden, const size_t *hidden,
                                          mmoe_activation act, float loss_weight);

/**
 * Check that the description can build a model (input width set, at least
 * one task, sizes within limits).
 * @return MMOE_OK; MMOE_ERR_NULL; MMOE_ERR_CONFIG with a message.
 */
MMOE_API mmoe_status mmoe_config_validate(const mmoe_config *cfg);

/**
 * Write the description as text (format above, keys in a fixed order).
 * @param out  receives a NUL-terminated string the caller frees with
 *             mmoe_string_free
 * @return MMOE_OK; MMOE_ERR_NULL; MMOE_ERR_NOMEM.
 */
MMOE_API mmoe_status mmoe_config_to_string(const mmoe_config *cfg, char **out);

/**
 * Replace cfg's content with the description in text (as written by
 * mmoe_config_to_string; unknown keys are errors). Atomic: on failure cfg
 * is unchanged.
 * @return MMOE_OK; MMOE_ERR_NULL; MMOE_ERR_VERSION (first line names a
 *         newer format); MMOE_ERR_CONFIG (malformed line, unknown key, bad
 *         value: the message names the line); MMOE_ERR_NOMEM.
 */
MMOE_API mmoe_status mmoe_config_parse(mmoe_config *cfg, const char *text);

/** Types of description keys (mmoe_config_key_info). Values are stable. */
typedef enum mmoe_key_type {
    MMOE_KEY_INTEGER = 0, /**< unsigned decimal integer in [lo, hi] */
    MMOE_KEY_REAL = 1,    /**< finite decimal number in [lo, hi] */
    MMOE_KEY_CHOICE =
        2, /**< a word of a fixed list (mmoe_config_key_choice); lo 0, hi = words - 1 */
    MMOE_KEY_WIDTHS =
        3, /**< comma-separated list of up to MMOE_MAX_LAYERS integers, each in [lo, hi] */
    MMOE_KEY_NAME = 4, /**< lo..hi characters of [A-Za-z0-9_.-] */
    MMOE_KEY_REALS = 5 /**< comma-separated list of up to 128 numbers, each in [lo, hi] (may be
                          empty); lo = -infinity: the word -inf is a value */
} mmoe_key_type;

/**
 * The i-th key of the list above, in the order of the text form, with "K"
 * standing for a task or sparse-feature index ("task.K.name"); NULL when
 * i is past the end. The string is static.
 * Thread safety: safe from any thread.
 */
MMOE_API const char *mmoe_config_key_at(size_t i);

/**
 * Describe a key without a description: its type, the bounds of its
 * values and its default, in the style of zstd's ZSTD_cParam_getBounds.
 * key is a key of the list, with K either an index ("task.3.kind") or the
 * letter K ("task.K.kind").
 * @param type  out: the key's type, or NULL
 * @param lo    out: smallest accepted value (for MMOE_KEY_WIDTHS, of each
 *              width; for MMOE_KEY_NAME, the shortest length), or NULL
 * @param hi    out: largest accepted value, or NULL. Bounds are inclusive
 *              and exact, except the largest seed, 2^64 - 1, which a
 *              double rounds up to 2^64. dnn.dropout's hi is the largest
 *              double below 1.
 * @param dflt  out: the default as text (cap bytes, NUL-terminated), or
 *              NULL. "" for input.dense, which has none and must be set.
 *              The default name of task K is "taskK" (of sparse feature K,
 *              "sparseK"); for the key with the letter K, "taskK" literally.
 * @return MMOE_OK; MMOE_ERR_NULL (key); MMOE_ERR_CONFIG (unknown key);
 *         MMOE_ERR_RANGE (dflt too small: it holds a truncated value).
 * Thread safety: safe from any thread.
 */
MMOE_API mmoe_status mmoe_config_key_info(const char *key, mmoe_key_type *type, double *lo,
                                          double *hi, char *dflt, size_t cap);

/**
 * The i-th word a MMOE_KEY_CHOICE key accepts ("mmoe", "omoe", ... for
 * "arch"); the stored value of a choice is the index of its word. NULL for
 * an unknown key, a key of another type or i past the end. Static string.
 * Thread safety: safe from any thread.
 */
MMOE_API const char *mmoe_config_key_choice(const char *key, size_t i);

/** Free a string returned by libmmoe (mmoe_config_to_string). NULL is a no-op. */
MMOE_API void mmoe_string_free(char *s);

/** Message of the last failure on cfg ("" if none, or for NULL). */
MMOE_API const char *mmoe_config_last_error(const mmoe_config *cfg);

#ifdef __cplusplus
}
#endif

#endif /* MMOE_CONFIG_H */
