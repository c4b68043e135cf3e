/*
 * libmmoe - multi-task models (MMoE and its baselines).
 *
 * A model is built from an mmoe_config. For the default architecture
 * (MMOE_ARCH_MMOE) with N experts and T tasks:
 *
 *     e_i(x)   = expert MLP i                         i = 1..N
 *     g_k(x)   = softmax(W_k x)                       one gate per task k
 *     f_k(x)   = sum_i g_k(x)_i * e_i(x)
 *     y_k      = tower_k(f_k(x))                      a logit or a value
 *
 * OMoE shares one gate between tasks; Shared-Bottom has one expert and no
 * gate; Single-Task gives each task its own expert and no gate.
 *
 * Cross-Stitch: a network per task; after each hidden layer l a learned
 * T x T unit A_l (initially diag 0.9, off-diagonal 0.1/(T-1)) mixes the
 * tasks' activations, m_l^k = sum_j A_l[k][j] a_l^j, and layer l+1 (or
 * the tower) reads m_l^k.
 * Tensor-Factorization: a network per task whose layer-l weights for all
 * tasks, W_l [in, out, T] = G_l x1 U1_l x2 U2_l x3 U3_l, come from a shared
 * Tucker core G_l of rank (min(in,r), min(out,r), min(T,r)), r = tf.rank;
 * biases are per task.
 * docs/models.md gives every model's formula and parameter count.
 *
 * All experts' first layers run as one GEMM and all gates as one GEMM.
 * Parameters and their gradients live in one flat buffer each; named views
 * (mmoe_model_param) follow the convention
 *     experts.I.layers.L.weight  [width_L, width_{L-1}]   bias: .bias [width_L]
 *     gates.K.weight             [n_experts, input]
 *     towers.K.layers.L.weight   [...]                    the last L is the output layer
 *     cross_stitch.K.layers.L.weight/.bias, cross_stitch.units.L [T, T]
 *     tensor_factor.layers.L.core [r1, r2*r3], .u_in [in, r1], .u_out [out, r2],
 *     .u_task [T, r3]; tensor_factor.K.layers.L.bias [out]
 *
 * Inputs are row-major [batch, input.dense] floats. Labels are row-major
 * [batch, tasks]: 0/1 for binary tasks, any finite value for regression.
 *
 * Training: mmoe_model_forward -> mmoe_model_loss -> mmoe_model_backward ->
 * mmoe_optimizer_step (see mmoe/optimizer.h), or mmoe_model_train_step for
 * all of it. Training calls use buffers inside the model, sized once per
 * batch size (grow-only); steady-state steps do not allocate.
 *
 * Serving: mmoe_model_predict reads the model and writes only into the
 * caller's mmoe_workspace, so any number of threads may call it on one
 * model at once, each with its own workspace, as long as no thread trains
 * or otherwise modifies the model meanwhile. predict never allocates.
 *
 * Thread safety: except for mmoe_model_predict and the read-only queries
 * marked so, model calls must not run concurrently on one model.
 */
#ifndef MMOE_MODEL_H
#define MMOE_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "mmoe/config.h"
#include "mmoe/export.h"
#include "mmoe/status.h"
#include "mmoe/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Opaque model handle. */
typedef struct mmoe_model mmoe_model;

/** Opaque per-thread inference workspace. */
typedef struct mmoe_workspace mmoe_workspace;

/** Opaque optimizer handle (mmoe/optimizer.h); declared here for mmoe_model_train_step. */
typedef struct mmoe_optimizer mmoe_optimizer;

/**
 * Build a model from a description, with freshly initialised parameters
 * (He-normal for relu layers, Glorot-uniform otherwise, zero biases; drawn
 * from the config's seed, every expert from its own stream).
 * Size limits, checked from the description before anything is
 * allocated: at most 2^34 trainable scalars (64 GiB of float32) and as
 * many batch-norm statistics (MMOE_ERR_OVERFLOW beyond); and, where the
 * platform reports its physical memory (sysconf _SC_PHYS_PAGES), no
 * buffer larger than that memory (MMOE_ERR_NOMEM). The same checks run
 * when a model file is loaded, before its data are read.
 * @return MMOE_OK; MMOE_ERR_NULL; MMOE_ERR_CONFIG (invalid description);
 *         MMOE_ERR_OVERFLOW (sizes too large); MMOE_ERR_NOMEM. *out is
 *         NULL on failure; mmoe_last_error() explains.
 * Ownership: cfg is copied (the caller keeps and frees its own); the
 * caller frees the model with mmoe_model_free.
 */
MMOE_API mmoe_status mmoe_model_create(const mmoe_config *cfg, mmoe_model **out);

/** Free a model. NULL is a no-op. Workspaces and optimizers made from it must be freed first. */
MMOE_API void mmoe_model_free(mmoe_model *model);

/**
 * Copy of the model's description.
 * @return MMOE_OK; MMOE_ERR_NULL; MMOE_ERR_NOMEM. Caller frees *out.
 * Thread safety: read-only; may run concurrently with predict.
 */
MMOE_API mmoe_status mmoe_model_get_config(const mmoe_model *model, mmoe_config **out);

/** Number of tasks (0 for NULL). Read-only. */
MMOE_API size_t mmoe_model_num_tasks(const mmoe_model *model);

/** Width of the dense input (0 for NULL). Read-only. */
MMOE_API size_t mmoe_model_input_dim(const mmoe_model *model);

/**
 * Int64 ids per sample (n_ids): the sum of sparse.K.slots over the sparse
 * features; 0 without sparse features or for NULL. Read-only.
 */
MMOE_API size_t mmoe_model_num_ids(const mmoe_model *model);

/**
 * Number of experts: experts.count for MMoE/OMoE, 1 for Shared-Bottom, the
 * number of tasks for the per-task-network kinds (single_task,
 * l2_constrained, cross_stitch, tensor_factorization); 0 for NULL. Read-only.
 */
MMOE_API size_t mmoe_model_num_experts(const mmoe_model *model);

/**
 * Number of gates: tasks for MMoE, 1 for OMoE, 0 for the other kinds
 * (0 for NULL). Read-only.
 */
MMOE_API size_t mmoe_model_num_gates(const mmoe_model *model);

/** Total number of trainable scalars (0 for NULL). Read-only. */
MMOE_API size_t mmoe_model_num_scalars(const mmoe_model *model);

/**
 * Name and kind of task k. Either out pointer may be NULL; the name is
 * owned by the model.
 * @return MMOE_OK; MMOE_ERR_NULL; MMOE_ERR_RANGE. Read-only.
 */
MMOE_API mmoe_status mmoe_model_task(const mmoe_model *model, size_t k, const char **name,
                                     mmoe_task_kind *kind);

/**
 * Training forward pass on a batch; caches activations for backward.
 * @param batch  rows, >= 1
 * @param x      [batch, input_dim] finite floats
 * @param ids    sparse feature ids, row-major [batch, n_ids] int64 with
 *               n_ids = mmoe_model_num_ids() = the sum of sparse.K.slots
 *               over the sparse features, feature after feature in their
 *               order (feature K's ids start at column sum_{J<K} slots_J).
 *               Single-id features (slots 1) need an id >= 0; in a bag
 *               (slots > 1) ids < 0 are padding (a bag of padding only
 *               embeds to zeros). Ids >= sparse.K.vocab are an error for
 *               sparse.K.oov error and hashed into the table for hash.
 *               NULL when the model has no sparse features (n_ids 0).
 *               (input.dense is always >= 1: a model whose features are
 *               all sparse passes one constant dense column, e.g. 0.)
 * @return MMOE_OK; MMOE_ERR_NULL (x NULL; ids NULL with n_ids > 0);
 *         MMOE_ERR_INVALID_ARG (batch 0, ids not NULL with n_ids 0);
 *         MMOE_ERR_RANGE (a negative single id, or an id >= vocab for an
 *         oov-error feature: the message names the row, column and
 *         feature); MMOE_ERR_NONFINITE (x has NaN/Inf); MMOE_ERR_OVERFLOW;
 *         MMOE_ERR_NOMEM (growing buffers for a new larger batch). On
 *         failure the previous forward's results stay as they were.
 */
MMOE_API mmoe_status mmoe_model_forward(mmoe_model *model, size_t batch, const float *x,
                                        const int64_t *ids);

/**
 * Outputs of the last forward: [batch, tasks], probabilities for binary
 * tasks, values for regression tasks.
 * @param cap  floats available in out (>= batch * tasks)
 * @return MMOE_OK; MMOE_ERR_NULL; MMOE_ERR_STATE (no forward); MMOE_ERR_RANGE (cap).
 */
MMOE_API mmoe_status mmoe_model_outputs(const mmoe_model *model, float *out, size_t cap);

/**
 * Gate weights of task k from the last forward: [batch, num_experts], each
 * row sums to 1. For gateless architectures the fixed routing is reported
 * (all weight on the expert the task reads).
 * @return MMOE_OK; MMOE_ERR_NULL; MMOE_ERR_STATE; MMOE_ERR_RANGE (k or cap);
 *         MMOE_ERR_INVALID_ARG (task k is a product task, which has no gate).
 */
MMOE_API mmoe_status mmoe_model_gate_weights(const mmoe_model *model, size_t k, float *out,
                                             size_t cap);

/**
 * Loss of the last forward against labels; also prepares backward.
 *
 *   L = sum_k w_k * (1/B) sum_b s_b * l(y_bk, t_bk)
 *
 * with w_k the task's loss weight, s_b the sample weight (1 when
 * sample_weights is NULL), l the squared error (regression) or the binary
 * cross-entropy of the logit (binary).
 * @param labels          [batch, tasks]; binary labels must be in [0, 1]
 * @param sample_weights  [batch] finite and >= 0, or NULL
 * @param task_losses     [tasks] out (unweighted per-task means), or NULL
 * @param total           out: L, or NULL
 * @return MMOE_OK; MMOE_ERR_NULL; MMOE_ERR_STATE (no forward);
 *         MMOE_ERR_NONFINITE (labels or weights); MMOE_ERR_RANGE (binary
 *         label outside [0,1], negative weight). Nothing changes on failure.
 */
MMOE_API mmoe_status mmoe_model_loss(mmoe_model *model, const float *labels,
                                     const float *sample_weights, float *task_losses, float *total);

/**
 * Backward pass for the last forward and loss: ADDS dL/dtheta into the
 * model's gradients.
 * @return MMOE_OK; MMOE_ERR_NULL; MMOE_ERR_STATE (no loss since the last forward).
 */
MMOE_API mmoe_status mmoe_model_backward(mmoe_model *model);

/** Set every gradient to zero. @return MMOE_OK; MMOE_ERR_NULL. */
MMOE_API mmoe_status mmoe_model_zero_grad(mmoe_model *model);

/** Number of named parameter tensors (0 for NULL). Read-only. */
MMOE_API size_t mmoe_model_param_count(const mmoe_model *model);

/**
 * Named parameter i and its gradient, as views owned by the model (valid
 * until the model is freed; do not free them). Writing a value tensor sets
 * the weights. Out pointers may be NULL.
 * @return MMOE_OK; MMOE_ERR_NULL; MMOE_ERR_RANGE.
 */
MMOE_API mmoe_status mmoe_model_param(mmoe_model *model, size_t i, const char **name,
                                      mmoe_tensor **value, mmoe_tensor **grad);

/**
 * The flat parameter and gradient buffers (n scalars each), owned by the
 * model. Out pointers may be NULL.
 * @return MMOE_OK; MMOE_ERR_NULL.
 */
MMOE_API mmoe_status mmoe_model_flat(mmoe_model *model, float **params, float **grads, size_t *n);

/**
 * Create an inference workspace for up to max_batch rows per internal pass
 * (larger batches given to predict are processed in chunks of max_batch).
 * @return MMOE_OK; MMOE_ERR_NULL; MMOE_ERR_INVALID_ARG (max_batch 0);
 *         MMOE_ERR_OVERFLOW; MMOE_ERR_NOMEM.
 * Ownership: caller frees with mmoe_workspace_free, before the model.
 * Thread safety: read-only on the model; may run concurrently with predict.
 */
MMOE_API mmoe_status mmoe_workspace_create(const mmoe_model *model, size_t max_batch,
                                           mmoe_workspace **out);

/** Free a workspace. NULL is a no-op. */
MMOE_API void mmoe_workspace_free(mmoe_workspace *ws);

/** Bytes a workspace for this model and max_batch holds; 0 on bad arguments. */
MMOE_API size_t mmoe_workspace_size(const mmoe_model *model, size_t max_batch);

/** Message of the last failure of predict with this workspace ("" if none, or for NULL). */
MMOE_API const char *mmoe_workspace_last_error(const mmoe_workspace *ws);

/**
 * Inference: out[b, k] = probability (binary task k) or value (regression).
 * Does not touch the model's training caches; allocates nothing. Batch 1
 * takes a matrix-vector path.
 * @param ws     a workspace created from this model
 * @param batch  rows, >= 1 (any size; processed in chunks of the workspace's max_batch)
 * @param x      [batch, input_dim] finite floats
 * @param ids    [batch, n_ids] int64 sparse ids, as for mmoe_model_forward
 *               (NULL when the model has no sparse features)
 * @param out    [batch, tasks], written
 * @return MMOE_OK; MMOE_ERR_NULL; MMOE_ERR_INVALID_ARG (batch 0, a
 *         workspace from another model, ids not NULL with n_ids 0);
 *         MMOE_ERR_RANGE (bad id, as for forward); MMOE_ERR_NONFINITE
 *         (x has NaN/Inf, or finite inputs so large that an output
 *         overflows to NaN/Inf inside the network: predict never returns a
 *         non-finite output with MMOE_OK; out unspecified). Messages go to
 *         the workspace.
 *         A workspace is tied to the model that created it by a
 *         process-unique id, not only by address: a workspace kept after its
 *         model was freed is refused (MMOE_ERR_INVALID_ARG) by any later
 *         model, even one allocated at the same address.
 *         Inference mode: batch-norm uses the running statistics and
 *         dropout is off.
 * Thread safety: safe concurrently on one model with distinct workspaces.
 */
MMOE_API mmoe_status mmoe_model_predict(const mmoe_model *model, mmoe_workspace *ws, size_t batch,
                                        const float *x, const int64_t *ids, float *out);

/**
 * Gate weights of task k for the rows of the last mmoe_model_predict
 * through ws: [batch, num_experts], each row sums to 1, in inference mode
 * as the predictions were made (batch-norm from the running statistics, no
 * dropout), so a row's weights do not depend on the other rows of its
 * batch. The inference counterpart of mmoe_model_gate_weights (which
 * reports the last training-mode mmoe_model_forward). For gateless
 * architectures the fixed routing is reported.
 *
 *     mmoe_model_predict(m, ws, n, x, ids, y);
 *     for (size_t k = 0; k < mmoe_model_num_tasks(m); k++)
 *         mmoe_model_predict_gate_weights(m, ws, k, g, n * mmoe_model_num_experts(m));
 *
 * @param ws   the workspace of that predict (created from this model)
 * @param cap  floats available in out (>= batch * num_experts)
 * @return MMOE_OK; MMOE_ERR_NULL; MMOE_ERR_INVALID_ARG (a workspace from
 *         another model; task k is a product task, which has no gate);
 *         MMOE_ERR_STATE (no successful predict through ws yet, or the last
 *         one's batch exceeded the workspace's max_batch, so that only its
 *         last chunk is held); MMOE_ERR_RANGE (k or cap). Messages go to
 *         the workspace; nothing is written to out on failure.
 * Thread safety: as mmoe_model_predict (one thread per workspace).
 */
MMOE_API mmoe_status mmoe_model_predict_gate_weights(const mmoe_model *model, mmoe_workspace *ws,
                                                     size_t k, float *out, size_t cap);

/**
 * One training step: zero_grad, forward, loss, backward, optimizer step
 * (mmoe/optimizer.h creates and configures the optimizer).
 * Arguments as mmoe_model_forward and mmoe_model_loss; opt must belong to
 * model. If any stage fails, the parameters are unchanged.
 * @return any status of the stages; MMOE_ERR_INVALID_ARG when opt was
 *         created for another model (told apart by a process-unique model
 *         id, so an optimizer that outlived its model is refused even by a
 *         model at the same address). The message is on the model.
 */
MMOE_API mmoe_status mmoe_model_train_step(mmoe_model *model, mmoe_optimizer *opt, size_t batch,
                                           const float *x, const int64_t *ids, const float *labels,
                                           const float *sample_weights, float *task_losses,
                                           float *total);

/** Message of the last failure on the model ("" if none, or for NULL). */
MMOE_API const char *mmoe_model_last_error(const mmoe_model *model);

#ifdef __cplusplus
}
#endif

#endif /* MMOE_MODEL_H */
