/*
 * libmmoe - hooks for data-parallel and sharded training.
 *
 * libmmoe never communicates. These calls give a communication layer
 * (libmmoe-mpi, mmoe/mpi.h, or any other) what it needs to train replicas
 * of one model in step: the flat gradient and statistics buffers, the
 * embedding rows a batch uses, a reduction hook that makes batch-norm see
 * the union of all replicas' batches, and embedding tables sharded by row
 * across replicas, whose rows the model can use without storing them.
 *
 * Data parallelism with these calls (what libmmoe-mpi does per step):
 *
 *   1. every replica checks its batch (mmoe_model_check_batch) and sizes
 *      its buffers (mmoe_model_reserve); the replicas agree that all
 *      succeeded before anything collective happens;
 *   2. sharded tables: each replica lists the rows its batch uses
 *      (mmoe_model_batch_rows), obtains their vectors from their owners
 *      (mmoe_model_read_rows on the owner) and feeds them in
 *      (mmoe_model_feed_rows);
 *   3. zero_grad, forward, loss, backward as usual (with a reducer set,
 *      batch-norm layers call it: every replica must run these calls in
 *      step, see mmoe_model_set_reducer);
 *   4. the gradient of the global loss is sum_r (B_r / B) g_r, where g_r
 *      is replica r's gradient of its own mean loss (mmoe_model_flat),
 *      B_r its rows and B = sum_r B_r; fed rows' gradients
 *      (mmoe_model_fed_grads) go back to their owners, who add them
 *      (mmoe_model_add_row_grads); with a backward-progress callback
 *      (mmoe_model_set_grad_ready) the reduction of the parts backward
 *      has finished can start during step 3;
 *   5. mmoe_optimizer_step on every replica.
 *
 * Sharded tables: a model made by mmoe_model_create_sharded stores, of
 * each table declared sharded, only the rows r with r mod world == rank,
 * row r at local index r / world. Parameter names stay the same; the
 * table's view (mmoe_model_param) is [local_rows, dim]. Such a model
 * trains (with rows fed in) but cannot predict or be saved; gather it
 * into an ordinary model first (libmmoe-mpi does). Initial values equal
 * the same rows of the unsharded model built from the same description.
 *
 * Thread safety: as for the model (mmoe/model.h): calls that modify the
 * model must not run concurrently with any other call on it; the
 * read-only queries (marked) may run alongside predict.
 */
#ifndef MMOE_PARALLEL_H
#define MMOE_PARALLEL_H

#include <stddef.h>
#include <stdint.h>

#include "mmoe/config.h"
#include "mmoe/export.h"
#include "mmoe/model.h"
#include "mmoe/optimizer.h"
#include "mmoe/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- replicas: reduction hook, checks, random streams, statistics ------------------------ */

/**
 * Reduction across replicas: replace values[0..n) by their elementwise sum
 * over all replicas (every replica calls it with the same n, in the same
 * order). Return MMOE_OK or a failure status; a failure aborts the model
 * call that made the reduction with that status.
 */
typedef mmoe_status (*mmoe_reduce_fn)(void *ctx, double *values, size_t n);

/**
 * Install (fn not NULL) or remove (fn NULL) the model's reducer. With a
 * reducer, training passes compute batch-norm statistics over the union
 * of all replicas' batches (synchronised batch-norm): the forward reduces
 * each batch-norm layer's column sums and row count, then its centred
 * sums of squares (2 reductions of width+1 and width values), the backward
 * the two per-column sums batch-norm's gradient needs (1 reduction of
 * 2*width values). The running statistics then move identically on every
 * replica. Models without batch-norm never call the reducer from forward
 * or backward; mmoe_optimizer_step calls it once for models with sharded
 * tables (the sharded part of the gradient's squared norm, so that
 * clipping and the refusal of non-finite gradients are global).
 * Contract: while a reducer is installed, mmoe_model_forward,
 * mmoe_model_backward and mmoe_optimizer_step are collective: every
 * replica makes the same calls in the same order, and arguments must have
 * been checked beforehand (mmoe_model_check_batch, mmoe_model_reserve) so
 * that no replica fails before a reduction the others wait in.
 * @return MMOE_OK; MMOE_ERR_NULL (model).
 * Ownership: ctx is not owned; it must stay valid while installed.
 */
MMOE_API mmoe_status mmoe_model_set_reducer(mmoe_model *model, mmoe_reduce_fn fn, void *ctx);

/**
 * Backward progress: gradients [offset, offset + n) of the flat gradient
 * buffer (mmoe_model_flat) are final for the current mmoe_model_backward:
 * nothing later in that backward reads or writes them. Lets a replica
 * start reducing a part of the gradient while backward computes the rest.
 * Return MMOE_OK or a failure status (see mmoe_model_set_grad_ready).
 */
typedef mmoe_status (*mmoe_grad_ready_fn)(void *ctx, size_t offset, size_t n);

/**
 * Install (fn not NULL) or remove (fn NULL) the model's backward-progress
 * callback. Backward computes gradients from the top of the flat buffer
 * down (towers, then the bottom, then the input stage and embedding
 * tables), and, each time a part is done, calls fn once with the range
 * just finished. Within one backward the ranges are contiguous and
 * descending: the first ends at mmoe_model_flat's n, each next one ends
 * where the previous one started, and the last starts at 0, so their
 * union is the whole buffer, each float reported exactly once. The
 * granularity is the model's: all towers together, the bottom as a whole
 * or finer (mixture-of-experts bottoms without a penalty report their
 * gates, then each expert layer from the last to the first), then the
 * input stage with the tables. Offsets depend only on the description
 * (equal on replicas of one model), not on the batch.
 * The callback runs on the thread that called mmoe_model_backward, inside
 * that call; it may read and modify the gradients of the ranges it has
 * been given (e.g. scale them, or hand them to a non-blocking reduction
 * that writes them back later: backward does not touch them again), but
 * must not call any function on the model or its optimizer. A callback
 * that returns a failure gets no further calls in that backward; the
 * backward still completes its gradients and then returns that status.
 * Without a callback backward is unchanged (its cost is one test per part).
 * @return MMOE_OK; MMOE_ERR_NULL (model).
 * Ownership: ctx is not owned; it must stay valid while installed.
 * Thread safety: modifies the model (not concurrently with other calls
 * on it); the callback is called only from mmoe_model_backward (and so
 * from mmoe_model_train_step and the training loops built on it).
 */
MMOE_API mmoe_status mmoe_model_set_grad_ready(mmoe_model *model, mmoe_grad_ready_fn fn, void *ctx);

/**
 * Check a training batch exactly as mmoe_model_forward and mmoe_model_loss
 * would (x, ids, labels, sample weights), without running or changing
 * anything. Rows of sharded tables are not checked for being stored or
 * fed (feeding comes after this check).
 * @return MMOE_OK or the status forward or loss would return for the
 *         batch (MMOE_ERR_NULL, MMOE_ERR_INVALID_ARG, MMOE_ERR_RANGE,
 *         MMOE_ERR_NONFINITE, MMOE_ERR_OVERFLOW); the message is in
 *         mmoe_last_error() (the model is not modified).
 * Thread safety: read-only.
 */
MMOE_API mmoe_status mmoe_model_check_batch(const mmoe_model *model, size_t batch, const float *x,
                                            const int64_t *ids, const float *labels,
                                            const float *sample_weights);

/**
 * Size the training buffers (and the fed-row buffers of every table) for
 * batches of up to `batch` rows now, so that later training calls with at
 * most that many rows allocate nothing and cannot fail for memory.
 * Grow-only.
 * @return MMOE_OK; MMOE_ERR_NULL; MMOE_ERR_INVALID_ARG (batch 0);
 *         MMOE_ERR_OVERFLOW; MMOE_ERR_NOMEM (nothing changed).
 */
MMOE_API mmoe_status mmoe_model_reserve(mmoe_model *model, size_t batch);

/**
 * Reseed the stream training passes draw dropout masks from (by default
 * derived from the description's seed, so replicas would draw the same
 * masks; give each replica its own seed). The stream's state is saved with
 * the model (mmoe_model_save) and restored by mmoe_model_load.
 * @return MMOE_OK; MMOE_ERR_NULL.
 */
MMOE_API mmoe_status mmoe_model_seed_dropout(mmoe_model *model, uint64_t seed);

/**
 * The flat buffer of non-trainable state (batch-norm running means and
 * variances; n may be 0), owned by the model and saved with it. Training
 * forwards update it; writing it sets the statistics. Out pointers may be
 * NULL.
 * @return MMOE_OK; MMOE_ERR_NULL.
 */
MMOE_API mmoe_status mmoe_model_stats(mmoe_model *model, float **stats, size_t *n);

/* ---- embedding tables ------------------------------------------------------------------- */

/** Number of embedding tables (= sparse features; 0 for NULL). Read-only. */
MMOE_API size_t mmoe_model_num_tables(const mmoe_model *model);

/**
 * Table k: its vocabulary (rows of the whole table) and width, where its
 * stored rows start in the flat buffers (mmoe_model_flat; the optimizer's
 * state buffers are aligned with them), how many rows this model stores,
 * and its shard (rank, world; 0 and 1 for a table that is not sharded).
 * Stored row i holds table row i * world + rank. Out pointers may be NULL.
 * @return MMOE_OK; MMOE_ERR_NULL; MMOE_ERR_RANGE (k). Read-only.
 */
MMOE_API mmoe_status mmoe_model_table(const mmoe_model *model, size_t k, uint64_t *vocab,
                                      size_t *dim, size_t *offset, size_t *local_rows, size_t *rank,
                                      size_t *world);

/**
 * Build a model like mmoe_model_create whose tables flagged in sharded
 * (n_flags == input.sparse entries; sharded NULL: every table) store only
 * the rows r with r mod world == rank. world 1 gives an ordinary model.
 * @return as mmoe_model_create; MMOE_ERR_INVALID_ARG (world 0, rank >=
 *         world, n_flags != input.sparse, a sharded table with fewer rows
 *         than world).
 * Ownership: as mmoe_model_create.
 */
MMOE_API mmoe_status mmoe_model_create_sharded(const mmoe_config *cfg, size_t n_flags,
                                               const unsigned char *sharded, size_t rank,
                                               size_t world, mmoe_model **out);

/**
 * The table rows (after hashing of out-of-vocabulary ids; padding left
 * out) that `batch` samples of ids ([batch, n_ids], as for forward) use in
 * table k, sorted ascending without repeats, into rows (cap entries;
 * batch * slots always suffices).
 * @return MMOE_OK; MMOE_ERR_NULL; MMOE_ERR_RANGE (k; a bad id, as for
 *         forward); MMOE_ERR_INVALID_ARG (batch 0; cap too small: *n
 *         receives the number needed).
 * Thread safety: read-only.
 */
MMOE_API mmoe_status mmoe_model_batch_rows(const mmoe_model *model, size_t k, size_t batch,
                                           const int64_t *ids, int64_t *rows, size_t cap,
                                           size_t *n);

/**
 * The rows of table k the last training forward used (its gradients touch
 * only these), as mmoe_model_batch_rows of that forward's ids.
 * @return as mmoe_model_batch_rows; MMOE_ERR_STATE (no forward yet).
 * Thread safety: read-only.
 */
MMOE_API mmoe_status mmoe_model_touched_rows(const mmoe_model *model, size_t k, int64_t *rows,
                                             size_t cap, size_t *n);

/**
 * Copy n stored rows of table k (rows[i] must be stored by this model:
 * r mod world == rank) into out [n, dim].
 * @return MMOE_OK; MMOE_ERR_NULL (NULL arrays with n > 0); MMOE_ERR_RANGE
 *         (k, a row outside the table or not stored here; out unspecified).
 * Thread safety: read-only.
 */
MMOE_API mmoe_status mmoe_model_read_rows(const mmoe_model *model, size_t k, size_t n,
                                          const int64_t *rows, float *out);

/**
 * Add grads [n, dim] into the gradients of n stored rows of table k
 * (repeats allowed; added in order).
 * @return as mmoe_model_read_rows; all rows are checked before anything
 *         is added.
 */
MMOE_API mmoe_status mmoe_model_add_row_grads(mmoe_model *model, size_t k, size_t n,
                                              const int64_t *rows, const float *grads);

/**
 * Give training passes the vectors [n, dim] of n rows of table k (sorted
 * ascending, no repeats), copied into the model. Until the next feed of
 * table k, training forwards read these rows from the fed vectors instead
 * of the table, and backward adds their gradients to the fed gradients
 * (mmoe_model_fed_grads) instead of the model's gradient buffer. A forward
 * whose batch uses a row of a sharded table that is neither fed nor
 * stored fails with MMOE_ERR_STATE. n 0 (rows, vectors may be NULL) ends
 * feeding. The fed gradients start at zero and are reset by
 * mmoe_model_zero_grad. Predict never reads fed rows.
 * @return MMOE_OK; MMOE_ERR_NULL; MMOE_ERR_RANGE (k, a row outside the
 *         table); MMOE_ERR_INVALID_ARG (rows not strictly ascending);
 *         MMOE_ERR_NONFINITE (a vector value); MMOE_ERR_NOMEM (more rows
 *         than reserved and growing failed). Unchanged on failure.
 */
MMOE_API mmoe_status mmoe_model_feed_rows(mmoe_model *model, size_t k, size_t n,
                                          const int64_t *rows, const float *vectors);

/**
 * The rows fed to table k and their accumulated gradients [n, dim] (views
 * owned by the model, valid until the next feed of table k or free).
 * @return MMOE_OK; MMOE_ERR_NULL; MMOE_ERR_RANGE (k). Read-only.
 */
MMOE_API mmoe_status mmoe_model_fed_grads(const mmoe_model *model, size_t k, const int64_t **rows,
                                          const float **grads, size_t *n);

/* ---- optimizer state --------------------------------------------------------------------- */

/** The model an optimizer updates (NULL for NULL). Read-only. */
MMOE_API mmoe_model *mmoe_optimizer_model(const mmoe_optimizer *opt);

/** Kind of an optimizer. @return MMOE_OK; MMOE_ERR_NULL. Read-only. */
MMOE_API mmoe_status mmoe_optimizer_kind_of(const mmoe_optimizer *opt, mmoe_optimizer_kind *kind);

/**
 * State buffer k of an optimizer (SGD: 0 velocity; Adam: 0 first moment,
 * 1 second moment; Adagrad: 0 sums of squares), n floats aligned with the
 * model's flat parameter buffer, owned by the optimizer. Writing it sets
 * the state. *count (may be NULL) receives the number of buffers the kind
 * has; state and n may be NULL.
 * @return MMOE_OK; MMOE_ERR_NULL; MMOE_ERR_RANGE (k >= count).
 */
MMOE_API mmoe_status mmoe_optimizer_state(mmoe_optimizer *opt, size_t k, float **state, size_t *n,
                                          size_t *count);

/**
 * Set the step count (Adam's bias correction uses it), e.g. when the
 * state is restored from elsewhere. @return MMOE_OK; MMOE_ERR_NULL.
 */
MMOE_API mmoe_status mmoe_optimizer_set_steps(mmoe_optimizer *opt, uint64_t steps);

#ifdef __cplusplus
}
#endif

#endif /* MMOE_PARALLEL_H */
