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

/** Kinds of layer handle. */
typedef enum mmoe_layer_kind {
    MMOE_LAYER_DENSE = 0,
    MMOE_LAYER_ACTIVATION = 1,
    MMOE_LAYER_EXPERT = 2,
    MMOE_LAYER_GATE = 3,
    MMOE_LAYER_TOWER = 4
} mmoe_layer_kind;

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
 *         MMOE_ERR_NOMEM. *out is NULL on failure.
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
 *         has NaN/Inf; output untouched); MMOE_ERR_NOMEM.
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

#ifdef __cplusplus
}
#endif

#endif /* MMOE_LAYER_H */
