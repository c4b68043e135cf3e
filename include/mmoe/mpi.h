/*
 * libmmoe-mpi - synchronous data-parallel training of libmmoe models on MPI,
 * with embedding tables optionally sharded by row across the ranks.
 *
 * A separate library (pkg-config libmmoe-mpi) on top of libmmoe's public
 * replica hooks (mmoe/parallel.h); libmmoe itself has no MPI in it.
 *
 * The host owns MPI: it calls MPI_Init (any thread level; libmmoe-mpi
 * makes MPI calls only from the thread that calls it) and MPI_Finalize,
 * and passes a communicator (MPI_COMM_WORLD or any sub-communicator).
 * A context duplicates it, so its traffic never mixes with the host's, and
 * sets MPI_ERRORS_RETURN on the duplicate: MPI failures become
 * MMOE_ERR_IO with MPI's message.
 *
 *     MPI_Init(&argc, &argv);
 *     mmoe_model_create(cfg, &model);           (same description on every rank)
 *     mmoe_optimizer_create(model, MMOE_OPTIMIZER_ADAM, &opt);
 *     mmoe_mpi_create(MPI_COMM_WORLD, model, &ctx);
 *     mmoe_mpi_broadcast(ctx, opt);             (identical start)
 *     for each step: mmoe_mpi_train_step(ctx, opt, B_r, x, ids, labels, NULL, task_loss, &loss);
 *     mmoe_mpi_save(ctx, opt, "model.safetensors", "opt.safetensors");
 *     mmoe_mpi_free(ctx); ...; MPI_Finalize();
 *
 * Collective calls: every function taking a context (and mmoe_mpi_load)
 * is collective over the context's communicator: every rank calls it, in
 * the same order, with consistent arguments. Each returns the same status
 * on every rank (a failure on one rank is reported by all: "rank R: ...").
 *
 * The step protocol, the bytes each rank sends and the measured speeds are
 * in docs/distributed.md.
 *
 * Thread safety: a context is not synchronised; use it from one thread at a
 * time, and do not use its model or optimizer elsewhere during its calls.
 */
#ifndef MMOE_MPI_H
#define MMOE_MPI_H

#include <stddef.h>
#include <stdint.h>

#include <mpi.h>

#include "mmoe/export.h"
#include "mmoe/model.h"
#include "mmoe/optimizer.h"
#include "mmoe/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Opaque context: a communicator and the model trained over it. */
typedef struct mmoe_mpi mmoe_mpi;

/** Settings (mmoe_mpi_set). Values are stable. */
typedef enum mmoe_mpi_option {
    /**
     * Floats per allreduce of the dense gradient (the buckets), 64 to
     * INT_MAX, rounded down to a whole number; default 1048576 (4 MiB).
     */
    MMOE_MPI_BUCKET_FLOATS = 0,
    /**
     * Gradients of replicated embedding tables: 0 = choose per table and
     * step by cost (default), 1 = always the sparse exchange of touched
     * rows, 2 = always a dense allreduce of the whole table.
     */
    MMOE_MPI_EMBEDDING_EXCHANGE = 1,
    /**
     * Cost of one byte of the sparse exchange relative to one byte of the
     * dense allreduce, > 0, used by the choice; default 2 (the
     * measurements behind it are in docs/distributed.md).
     */
    MMOE_MPI_SPARSE_COST = 2,
    /**
     * 1: start each gradient bucket's allreduce (MPI_Iallreduce) as soon
     * as backward has finished its gradients (mmoe_model_set_grad_ready),
     * so that communication overlaps the rest of backward; 0: MPI_Allreduce
     * the buckets after backward. Both modes sum the same buckets and keep
     * all ranks identical; on 2 ranks they give bit-identical results (each
     * sum is one addition), on more ranks they may differ by float rounding
     * (Open MPI's blocking and non-blocking allreduce may add in different
     * orders). Default 0 (measurements in docs/distributed.md).
     */
    MMOE_MPI_OVERLAP = 3
} mmoe_mpi_option;

/**
 * Create a context for model over comm (collective). Duplicates comm,
 * installs the model's reducer (synchronised batch-norm, global
 * clipping), uses the model's backward-progress callback during its
 * steps when MMOE_MPI_OVERLAP is on (installed for the backward and
 * removed after it: do not install another one), and reseeds the model's dropout stream per rank
 * (the description's seed mixed with the rank) so that ranks draw different masks. Does not touch
 * the parameters: call mmoe_mpi_broadcast or mmoe_mpi_verify for an identical start. Every rank's
 * model must have the same description and the same table shards layout (rank r of world = the
 * communicator's size, or none).
 * @return MMOE_OK; MMOE_ERR_NULL; MMOE_ERR_INVALID_ARG (comm is
 *         MPI_COMM_NULL, MPI not initialised, a table sharded for
 *         another rank or world, descriptions differ between ranks);
 *         MMOE_ERR_NOMEM; MMOE_ERR_IO (MPI failure).
 * Ownership: the context refers to model (not owned); free the context
 * (mmoe_mpi_free) before the model, and before MPI_Finalize.
 */
MMOE_API mmoe_status mmoe_mpi_create(MPI_Comm comm, mmoe_model *model, mmoe_mpi **out);

/**
 * Free a context (collective: frees the duplicated communicator) and
 * remove the model's reducer. NULL is a no-op.
 */
MMOE_API void mmoe_mpi_free(mmoe_mpi *ctx);

/** This rank in the context's communicator (-1 for NULL). */
MMOE_API int mmoe_mpi_rank(const mmoe_mpi *ctx);

/** Number of ranks in the context's communicator (0 for NULL). */
MMOE_API int mmoe_mpi_size(const mmoe_mpi *ctx);

/**
 * Change a setting (not collective, but give every rank the same value).
 * @return MMOE_OK; MMOE_ERR_NULL; MMOE_ERR_INVALID_ARG (unknown option);
 *         MMOE_ERR_RANGE (value).
 */
MMOE_API mmoe_status mmoe_mpi_set(mmoe_mpi *ctx, mmoe_mpi_option option, double value);

/**
 * Identical start: rank 0's parameters (all but table shards, which every
 * owner initialises from the description's seed exactly as the unsharded
 * table), batch-norm statistics and, when opt is not NULL, its optimizer
 * state and step count, are copied to every rank.
 * @return MMOE_OK; MMOE_ERR_NULL; MMOE_ERR_INVALID_ARG (opt of another
 *         model); MMOE_ERR_IO.
 */
MMOE_API mmoe_status mmoe_mpi_broadcast(mmoe_mpi *ctx, mmoe_optimizer *opt);

/**
 * Check that every rank holds the same replicated state: a 64-bit hash
 * (FNV-1a) of the parameters outside table shards, the statistics and,
 * when opt is not NULL, the optimizer's state outside table shards and its
 * step count, compared across ranks.
 * @return MMOE_OK (identical); MMOE_ERR_STATE (they differ);
 *         MMOE_ERR_NULL; MMOE_ERR_INVALID_ARG; MMOE_ERR_IO.
 */
MMOE_API mmoe_status mmoe_mpi_verify(mmoe_mpi *ctx, mmoe_optimizer *opt);

/**
 * One synchronous training step over all ranks; rank r trains on its own
 * batch of batch_r >= 1 rows (sizes may differ between ranks). Arguments
 * as mmoe_model_train_step. The step minimises the mean loss over the
 * global batch (all ranks' rows: per-task and per-sample weights keep
 * their meaning), so P ranks with B rows each take the step one process
 * takes on the P*B rows, up to float rounding. Every rank ends with the
 * same parameters and optimizer state. task_losses [tasks] and total (may
 * be NULL) receive the global batch's losses, the same on every rank.
 * Failure is collective: if any rank's batch is bad (or its buffers cannot
 * grow), every rank returns that rank's status, with its message, before
 * anything changed; a failure later in a rank's step (an MPI error) is
 * agreed before the update, so every rank returns it and none updates;
 * non-finite gradients on any rank make every rank's optimizer refuse the
 * step (MMOE_ERR_NONFINITE, nothing changed). No rank steps alone, and no
 * non-blocking request is left open on any return.
 * @return MMOE_OK; any status of mmoe_model_train_step; MMOE_ERR_IO (MPI).
 */
MMOE_API mmoe_status mmoe_mpi_train_step(mmoe_mpi *ctx, mmoe_optimizer *opt, size_t batch,
                                         const float *x, const int64_t *ids, const float *labels,
                                         const float *sample_weights, float *task_losses,
                                         float *total);

/**
 * Bytes this rank has passed to MPI as send buffers since the context was
 * created, and the steps taken (either out pointer may be NULL).
 * @return MMOE_OK; MMOE_ERR_NULL.
 */
MMOE_API mmoe_status mmoe_mpi_traffic(const mmoe_mpi *ctx, uint64_t *bytes_sent, uint64_t *steps);

/**
 * Gather the model (and, when opt is not NULL, its optimizer) into one
 * ordinary model on rank 0: table shards are collected from their owners.
 * On rank 0 *full (and *full_opt) receive new objects the caller frees
 * (optimizer first); on other ranks they are set to NULL. Rank 0 needs
 * memory for the whole model for as long as it keeps them.
 * @return MMOE_OK; MMOE_ERR_NULL; MMOE_ERR_NOMEM; MMOE_ERR_IO.
 */
MMOE_API mmoe_status mmoe_mpi_gather(mmoe_mpi *ctx, mmoe_optimizer *opt, mmoe_model **full,
                                     mmoe_optimizer **full_opt);

/**
 * Checkpoint: gather, then rank 0 saves the model to model_path and (when
 * opt and opt_path are not NULL) the optimizer to opt_path, each with the
 * atomic save of mmoe/io.h (the optimizer first, so a model file is never
 * newer than its optimizer file). The files are ordinary libmmoe files:
 * serving needs no MPI. Paths matter on rank 0 only (others may pass the
 * same or NULL; model_path must not be NULL on rank 0).
 * @return MMOE_OK; the save's status on every rank; MMOE_ERR_IO (MPI).
 */
MMOE_API mmoe_status mmoe_mpi_save(mmoe_mpi *ctx, mmoe_optimizer *opt, const char *model_path,
                                   const char *opt_path);

/**
 * Resume (collective over comm): rank 0 loads the model file at path
 * (other ranks' path is ignored), every rank builds the model from its
 * description, with the tables flagged in sharded (as
 * mmoe_model_create_sharded with the communicator's rank and size;
 * n_flags 0 and sharded NULL: none sharded) and receives its parameters
 * and statistics from rank 0.
 * @return MMOE_OK; any status of mmoe_model_load (rank 0's, on every
 *         rank); MMOE_ERR_INVALID_ARG (flags); MMOE_ERR_NOMEM;
 *         MMOE_ERR_IO. *out is NULL on failure; the caller frees it.
 */
MMOE_API mmoe_status mmoe_mpi_load(MPI_Comm comm, const char *path, size_t n_flags,
                                   const unsigned char *sharded, mmoe_model **out);

/**
 * Resume the optimizer: rank 0 reads the optimizer file at path (saved by
 * mmoe_mpi_save or mmoe_optimizer_save for the whole model) and every
 * rank's opt (over the context's model, of the file's kind) receives its
 * hyper-parameters, step count and its part of the state.
 * @return MMOE_OK; any status of mmoe_optimizer_load (rank 0's, on every
 *         rank); MMOE_ERR_NULL; MMOE_ERR_INVALID_ARG; MMOE_ERR_NOMEM;
 *         MMOE_ERR_IO. opt is unchanged on failure.
 */
MMOE_API mmoe_status mmoe_mpi_load_optimizer(mmoe_mpi *ctx, mmoe_optimizer *opt, const char *path);

/**
 * Message of the last failure on ctx, or with ctx NULL of the last failure
 * of a libmmoe-mpi call on this thread ("" if none).
 */
MMOE_API const char *mmoe_mpi_last_error(const mmoe_mpi *ctx);

#ifdef __cplusplus
}
#endif

#endif /* MMOE_MPI_H */
