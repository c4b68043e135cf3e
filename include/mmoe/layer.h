/*
 * libmmoe - standalone layers.
 *
 * The building blocks of a model, usable on their own: dense (linear),
 * activation, expert MLP, gate and tower. A layer owns its parameters and
 * their gradients and caches what backward needs from the last forward.
 *
 * Data are row-major and batch-major: an input is a rank-2 tensor
 * [batch, in_width], an output [batch, out_width].
 *
 *   dense       y = x W^T + b                     W: [out, in], b: [out]
 *   activation  y = f(x) elementwise (relu, sigmoid, tanh, identity)
 *   expert      MLP: every layer dense + activation (outputs are activated)
 *   gate        y = softmax(x W^T) over n_experts  (no bias, as in the paper)
 *   tower       MLP: hidden layers dense + activation, then dense to 1 output
 *   crossnet    Deep & Cross Network cross layers on rows of width W
 *               (output width = input width), vector or matrix form
 *   dnn         MLP whose layers are dense + optional batch-norm +
 *               activation + optional dropout (training/inference modes)
 *   embedding   lookup tables for int64 ids: a separate handle,
 *               mmoe_embedding, since its input is not a float tensor
 *
 * Relation to models: crossnet, dnn and embedding layers run the same code
 * as a model's input stage (a model's "input.dnn.L.weight" is a DNN
 * layer's "layers.L.weight", "input.cross.L.bias" a CrossNet layer's
 * "layers.L.bias", and so on). The
 * dense, expert, gate and tower layers compute the same functions as a
 * model's experts, gates and towers (same formulas, same weight layout
 * [out, in], same activations) but are separate code: a model runs all its
 * experts' first layers as one GEMM and all gates as one GEMM, which a
 * single standalone layer cannot; their initial weights are drawn from
 * other streams, so a layer and a model built with the same seed start
 * from different weights. Copy weights between them through
 * mmoe_layer_param and mmoe_model_param to compare the two.
 *
 * Initialisation is explicit and seeded: weights are drawn from He-normal
 * (relu layers) or Glorot-uniform (all others) with the given seed; biases
 * start at zero. Two layers created with different seeds differ.
 *
 * Call order: forward, then backward with the gradient of the loss with
 * respect to the output. backward ADDS into the parameter gradients (call
 * mmoe_layer_zero_grad to reset) and writes (overwrites) the input gradient.
 *
 * Thread safety: a layer is not synchronised; use one layer from one thread
 * at a time. Different layers may be used from different threads.
 */
#ifndef MMOE_LAYER_H
#define MMOE_LAYER_H

#include <stddef.h>
#include <stdint.h>

#include "mmoe/export.h"
#include "mmoe/status.h"
#include "mmoe/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Elementwise activation functions. Values are stable (stored in model files). */
typedef enum mmoe_activation {
    MMOE_ACT_IDENTITY = 0,
    MMOE_ACT_RELU = 1,
    MMOE_ACT_SIGMOID = 2,
    MMOE_ACT_TANH = 3
} mmoe_activation;

/**
 * Name of an activation as the model description writes it: "identity",
 * "relu", "sigmoid", "tanh"; NULL for a value that is not an activation.
 * The string is static. Thread-safe.
 */
MMOE_API const char *mmoe_activation_name(mmoe_activation act);

/**
 * Activation by name (the names of mmoe_activation_name, exact match).
 * @return MMOE_OK; MMOE_ERR_NULL (name or out NULL); MMOE_ERR_INVALID_ARG
 *         (unknown name; the message lists the known ones). *out is
 *         unchanged on failure. Thread-safe.
 */
MMOE_API mmoe_status mmoe_activation_from_name(const char *name, mmoe_activation *out);

/** Kinds of layer handle. */
typedef enum mmoe_layer_kind {
    MMOE_LAYER_DENSE = 0,
    MMOE_LAYER_ACTIVATION = 1,
    MMOE_LAYER_EXPERT = 2,
    MMOE_LAYER_GATE = 3,
    MMOE_LAYER_TOWER = 4,
    MMOE_LAYER_CROSSNET = 5,
    MMOE_LAYER_DNN = 6
} mmoe_layer_kind;

/** CrossNet forms. Values are stable. */
typedef enum mmoe_cross_form {
    MMOE_CROSS_VECTOR = 0, /**< x_{l+1} = x0 (x_l . w_l) + b_l + x_l */
    MMOE_CROSS_MATRIX = 1  /**< x_{l+1} = x0 (.) (W_l x_l + b_l) + x_l */
} mmoe_cross_form;

/** Most layers a CrossNet may have. */
#define MMOE_MAX_CROSS_LAYERS 16

/** Most hidden layers an expert or tower may have. */
#define MMOE_MAX_LAYERS 8

/** Opaque layer handle. */
typedef struct mmoe_layer mmoe_layer;

/**
 * Dense layer y = x W^T + b.
 * @param in, out  widths, each 1..2^24
 * @param act      the activation the layer feeds (chooses the init:
 *                 He-normal for relu, Glorot-uniform otherwise); the layer
 *                 itself is linear
 * @param seed     initialisation seed
 * @return MMOE_OK; MMOE_ERR_NULL; MMOE_ERR_INVALID_ARG (width 0 or too large);
 *         MMOE_ERR_OVERFLOW (in x out beyond 2^40 scalars or the model size
 *         cap of mmoe/model.h); MMOE_ERR_NOMEM. *out is NULL on failure.
 * Ownership: caller frees with mmoe_layer_free.
 */
MMOE_API mmoe_status mmoe_layer_dense_create(size_t in, size_t out, mmoe_activation act,
                                             uint64_t seed, mmoe_layer **layer);

/** Activation layer of a given width (no parameters). Errors as dense. */
MMOE_API mmoe_status mmoe_layer_activation_create(mmoe_activation act, size_t width,
                                                  mmoe_layer **layer);

/**
 * Expert MLP: n_layers dense layers of the given widths, each followed by
 * act. Output width is widths[n_layers-1].
 * @return as dense, plus MMOE_ERR_INVALID_ARG for n_layers not in
 *         1..MMOE_MAX_LAYERS, MMOE_ERR_NULL for widths NULL.
 */
MMOE_API mmoe_status mmoe_layer_expert_create(size_t in, size_t n_layers, const size_t *widths,
                                              mmoe_activation act, uint64_t seed,
                                              mmoe_layer **layer);

/**
 * Gate: softmax(x W^T) over n_experts (n_experts >= 1). Output rows sum to 1.
 * Errors as dense.
 */
MMOE_API mmoe_status mmoe_layer_gate_create(size_t in, size_t n_experts, uint64_t seed,
                                            mmoe_layer **layer);

/**
 * Tower: n_hidden dense+act layers (n_hidden may be 0; hidden may then be
 * NULL), then a linear layer to one output (a logit or a regression value).
 * Errors as expert.
 */
MMOE_API mmoe_status mmoe_layer_tower_create(size_t in, size_t n_hidden, const size_t *hidden,
                                             mmoe_activation act, uint64_t seed,
                                             mmoe_layer **layer);

/** Free a layer and its parameters. NULL is a no-op. Views it handed out die with it. */
MMOE_API void mmoe_layer_free(mmoe_layer *layer);

/** Kind of the layer (MMOE_LAYER_DENSE for NULL). */
MMOE_API mmoe_layer_kind mmoe_layer_get_kind(const mmoe_layer *layer);

/** Input width (0 for NULL). */
MMOE_API size_t mmoe_layer_in_width(const mmoe_layer *layer);

/** Output width (0 for NULL). */
MMOE_API size_t mmoe_layer_out_width(const mmoe_layer *layer);

/**
 * Forward pass on a batch. Caches what backward needs (grows an internal
 * buffer when the batch is larger than any seen before).
 * @param input   [batch, in_width], batch >= 1, finite values
 * @param output  [batch, out_width], written
 * @return MMOE_OK; MMOE_ERR_NULL; MMOE_ERR_SHAPE; MMOE_ERR_NONFINITE (input
 *         has NaN/Inf; output untouched); MMOE_ERR_OVERFLOW (the cache for
 *         this batch would exceed 2^40 floats); MMOE_ERR_NOMEM.
 */
MMOE_API mmoe_status mmoe_layer_forward(mmoe_layer *layer, const mmoe_tensor *input,
                                        mmoe_tensor *output);

/**
 * Backward pass for the last forward.
 * @param grad_output  [batch, out_width]: dLoss/dOutput, same batch as forward
 * @param grad_input   [batch, in_width] or NULL: receives dLoss/dInput
 * @return MMOE_OK; MMOE_ERR_NULL; MMOE_ERR_STATE (no forward yet);
 *         MMOE_ERR_SHAPE; MMOE_ERR_NONFINITE (grad_output not finite;
 *         gradients unchanged).
 */
MMOE_API mmoe_status mmoe_layer_backward(mmoe_layer *layer, const mmoe_tensor *grad_output,
                                         mmoe_tensor *grad_input);

/** Set all parameter gradients to zero. @return MMOE_OK; MMOE_ERR_NULL. */
MMOE_API mmoe_status mmoe_layer_zero_grad(mmoe_layer *layer);

/** Number of parameter tensors (0 for activation layers and NULL). */
MMOE_API size_t mmoe_layer_param_count(const mmoe_layer *layer);

/**
 * Parameter i: its name ("layers.0.weight"), value and gradient tensors.
 * The returned tensors are views owned by the layer: write to a value to
 * set weights; do not free them. Any out pointer may be NULL.
 * @return MMOE_OK; MMOE_ERR_NULL (layer NULL); MMOE_ERR_RANGE (i too large).
 */
MMOE_API mmoe_status mmoe_layer_param(mmoe_layer *layer, size_t i, const char **name,
                                      mmoe_tensor **value, mmoe_tensor **grad);

/** Message of the last failure on the layer ("" if none, or for NULL). */
MMOE_API const char *mmoe_layer_last_error(const mmoe_layer *layer);

/**
 * CrossNet: n_layers cross layers on rows of width `width` (Wang et al.,
 * Deep & Cross Network). With x0 the layer's input and x_l the output of
 * cross layer l (x_0 = x0):
 *
 *   MMOE_CROSS_VECTOR  x_{l+1} = x0 * (x_l . w_l) + b_l + x_l   w_l, b_l: [width]
 *                      (cost linear in width)
 *   MMOE_CROSS_MATRIX  x_{l+1} = x0 (.) (W_l x_l + b_l) + x_l   W_l: [width, width]
 *
 * Parameters "layers.L.weight" ([width] or [width, width]) and
 * "layers.L.bias" [width]; weights Glorot-uniform, biases zero.
 * @param width     1..2^24 (matrix form: width^2 must fit in memory)
 * @param n_layers  1..MMOE_MAX_CROSS_LAYERS
 * @return MMOE_OK; MMOE_ERR_NULL; MMOE_ERR_INVALID_ARG (a size out of
 *         range, unknown form); MMOE_ERR_OVERFLOW (parameters too many);
 *         MMOE_ERR_NOMEM. *layer is NULL on failure.
 */
MMOE_API mmoe_status mmoe_layer_crossnet_create(size_t width, size_t n_layers, mmoe_cross_form form,
                                                uint64_t seed, mmoe_layer **layer);

/**
 * DNN: n_layers layers of the given widths, each
 *
 *   a = x W^T + b  ->  [batch-norm]  ->  act  ->  [dropout]
 *
 * Batch-norm (batchnorm != 0): a -> gamma (a - mu) / sqrt(var + 1e-5) + beta
 * per feature. In training mode mu and var are the batch mean and
 * (biased) variance, and the running statistics move towards them with
 * momentum 0.99 (running = 0.99 running + 0.01 batch value; the running
 * variance takes the unbiased batch variance). In inference mode the
 * running statistics are used (start: mean 0, variance 1).
 * Dropout (rate p in [0, 1)): inverted dropout in training mode (a unit
 * is zeroed with probability p, kept ones are scaled by 1 / (1 - p)); off
 * in inference mode. Masks come from the layer's own seeded stream
 * (mmoe_layer_seed_dropout), which advances with every training forward.
 *
 * Parameters "layers.L.weight" [width_L, width_{L-1}], "layers.L.bias",
 * and with batch-norm "layers.L.bn.gamma" (start 1) / "layers.L.bn.beta"
 * (start 0); running statistics "layers.L.bn.running_mean/var" are
 * non-trainable state (mmoe_layer_state). Weights as for expert layers.
 * @return MMOE_OK; MMOE_ERR_NULL (layer, or widths NULL);
 *         MMOE_ERR_INVALID_ARG (n_layers not in 1..MMOE_MAX_LAYERS, width
 *         0 or > 2^24, unknown activation, dropout not in [0, 1));
 *         MMOE_ERR_NOMEM.
 */
MMOE_API mmoe_status mmoe_layer_dnn_create(size_t in, size_t n_layers, const size_t *widths,
                                           mmoe_activation act, int batchnorm, double dropout,
                                           uint64_t seed, mmoe_layer **layer);

/**
 * Training (nonzero, the default for every new layer) or inference mode.
 * Only DNN layers with batch-norm or dropout behave differently; for them
 * backward needs a forward run in training mode (MMOE_ERR_STATE otherwise).
 * Inference-mode forwards do not change the layer's state.
 * @return MMOE_OK; MMOE_ERR_NULL.
 */
MMOE_API mmoe_status mmoe_layer_set_training(mmoe_layer *layer, int training);

/**
 * Restart the dropout stream of a DNN layer: the next training forward
 * draws its masks from seed (the same seed gives the same masks). Layers
 * start from their creation seed. No effect for other kinds.
 * @return MMOE_OK; MMOE_ERR_NULL.
 */
MMOE_API mmoe_status mmoe_layer_seed_dropout(mmoe_layer *layer, uint64_t seed);

/** Number of non-trainable state tensors (DNN batch-norm statistics; 0 otherwise or NULL). */
MMOE_API size_t mmoe_layer_state_count(const mmoe_layer *layer);

/**
 * Non-trainable state tensor i ("layers.L.bn.running_mean" / "..._var"):
 * a view owned by the layer; writing it sets the statistics. Out pointers
 * may be NULL.
 * @return MMOE_OK; MMOE_ERR_NULL; MMOE_ERR_RANGE.
 */
MMOE_API mmoe_status mmoe_layer_state(mmoe_layer *layer, size_t i, const char **name,
                                      mmoe_tensor **value);

/* ---- embeddings ---------------------------------------------------------------------------- */

/** Pooling of a bag of ids. Values are stable. */
typedef enum mmoe_pooling {
    MMOE_POOL_MEAN = 0, /**< mean of the non-padding rows */
    MMOE_POOL_SUM = 1   /**< sum of the non-padding rows */
} mmoe_pooling;

/** Treatment of ids >= vocab. Values are stable. */
typedef enum mmoe_oov {
    MMOE_OOV_ERROR = 0, /**< forward fails with MMOE_ERR_RANGE */
    MMOE_OOV_HASH = 1   /**< hashed into the table (see mmoe_embedding_create) */
} mmoe_oov;

/** Opaque embedding handle: one table [vocab, dim] and its gradient. */
typedef struct mmoe_embedding mmoe_embedding;

/**
 * Embedding table [vocab, dim] read with `slots` int64 ids per sample.
 *
 *   slots == 1   a single id per sample, 0 <= id (negative: MMOE_ERR_RANGE)
 *   slots  > 1   a bag: ids < 0 are padding; the output is the mean or the
 *                sum (pooling) of the rows of the other ids; a bag of
 *                padding only gives a zero vector
 *
 * An id >= vocab fails (MMOE_OOV_ERROR) or is hashed (MMOE_OOV_HASH) to
 * row mix64(id) mod vocab, with mix64 the splitmix64 finaliser
 * (z ^= z >> 30; z *= 0xbf58476d1ce4e5b9; z ^= z >> 27;
 * z *= 0x94d049bb133111eb; z ^= z >> 31, on uint64): fixed across
 * platforms and versions. Ids below vocab are their own row.
 * The table starts normal with standard deviation 1 / sqrt(dim).
 *
 * Backward ADDS the gradient into the rows the last forward used, and
 * only those (a model's optimizer then updates only those rows: see
 * mmoe/optimizer.h).
 *
 * @param vocab  1..2^31;  dim, slots: 1..4096
 * @return MMOE_OK; MMOE_ERR_NULL; MMOE_ERR_INVALID_ARG (a size out of
 *         range, unknown pooling or oov); MMOE_ERR_NOMEM.
 * Ownership: caller frees with mmoe_embedding_free.
 * Thread safety: as layers (one thread at a time per handle).
 */
MMOE_API mmoe_status mmoe_embedding_create(uint64_t vocab, size_t dim, size_t slots,
                                           mmoe_pooling pooling, mmoe_oov oov, uint64_t seed,
                                           mmoe_embedding **out);

/** Free an embedding. NULL is a no-op. */
MMOE_API void mmoe_embedding_free(mmoe_embedding *emb);

/**
 * Look up a batch: output[b] = pooled rows of ids[b * slots .. b * slots + slots).
 * The ids are copied for backward.
 * @param ids     [batch, slots] int64, batch >= 1
 * @param output  [batch, dim] tensor, written
 * @return MMOE_OK; MMOE_ERR_NULL; MMOE_ERR_INVALID_ARG (batch 0);
 *         MMOE_ERR_SHAPE (output); MMOE_ERR_RANGE (negative single id,
 *         id >= vocab with MMOE_OOV_ERROR; output untouched);
 *         MMOE_ERR_NOMEM.
 */
MMOE_API mmoe_status mmoe_embedding_forward(mmoe_embedding *emb, size_t batch, const int64_t *ids,
                                            mmoe_tensor *output);

/**
 * Backward for the last forward: ADDS dLoss/dtable into the rows used.
 * @param grad_output  [batch, dim] of the last forward
 * @return MMOE_OK; MMOE_ERR_NULL; MMOE_ERR_STATE (no forward);
 *         MMOE_ERR_SHAPE; MMOE_ERR_NONFINITE (gradient unchanged).
 */
MMOE_API mmoe_status mmoe_embedding_backward(mmoe_embedding *emb, const mmoe_tensor *grad_output);

/** Zero the table's gradient. @return MMOE_OK; MMOE_ERR_NULL. */
MMOE_API mmoe_status mmoe_embedding_zero_grad(mmoe_embedding *emb);

/**
 * The table ("weight", [vocab, dim]) and its gradient, as views owned by
 * the handle. Out pointers may be NULL.
 * @return MMOE_OK; MMOE_ERR_NULL.
 */
MMOE_API mmoe_status mmoe_embedding_param(mmoe_embedding *emb, const char **name,
                                          mmoe_tensor **value, mmoe_tensor **grad);

/** Message of the last failure on the embedding ("" if none, or for NULL). */
MMOE_API const char *mmoe_embedding_last_error(const mmoe_embedding *emb);

#ifdef __cplusplus
}
#endif

#endif /* MMOE_LAYER_H */
