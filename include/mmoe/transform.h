/*
 * libmmoe - fitted transformations: from raw text fields to model inputs.
 *
 * A schema (mmoe/schema.h) is fitted on training rows into an
 * mmoe_transform: the mean and standard deviation of every standardised
 * dense feature and the vocabulary of every categorical feature. The
 * transformation turns the raw fields of a row, or a batch of raw records,
 * into exactly what mmoe_model_forward / mmoe_model_predict take:
 *
 *     x        [rows, mmoe_transform_dense_dim(tf)] floats
 *     ids      [rows, mmoe_transform_num_ids(tf)]  int64 (NULL-able when 0)
 *     labels   [rows, mmoe_transform_num_labels(tf)] floats (optional)
 *     weights  [rows] floats (optional; 1 without a weight column)
 *
 * A model stores its transformation (mmoe_model_set_transform; saved in
 * the model file), so a server that loads the file applies the very
 * transformation training used: no training/serving skew.
 *
 *     mmoe_fit *fit;  mmoe_transform *tf;
 *     mmoe_fit_create(schema, &fit);
 *     for each training record:  mmoe_fit_add_line(fit, rec, len, line);
 *     mmoe_fit_finish(fit, &tf);
 *     ...
 *     mmoe_transform_workspace *tws;                 one per thread
 *     mmoe_transform_workspace_create(tf, 0, &tws);
 *     mmoe_transform_line(tf, tws, rec, len, 0, x, ids, NULL, NULL);
 *     mmoe_model_predict(model, ws, 1, x, ids, out);
 *
 * Per feature: dense: v = the number (empty or a `missing` value: the
 * output is 0), log1p: sign(v) log(1 + |v|), standardize: (v - mean) / sd
 * with the training mean and population standard deviation (sd 1 when the
 * training variance is below 1e-12); categorical: id i + 1 for the i-th
 * vocabulary value (values ordered by training count, most frequent first,
 * ties by byte order), 0 for any other value; hash=N: FNV-1a 64 of the
 * value's bytes modulo N; multi: the field split at the separator, empty
 * pieces dropped, the first `slots` values mapped as above, the rest of the
 * bag padded with -1. A model with no dense feature gets one constant 0
 * column (a model needs input.dense >= 1). Binary labels: 1 when the value
 * is one of the positive values, or > threshold, or else the number 0 or 1;
 * regression labels: the number; weights: a finite number >= 0.
 *
 * Malformed records (too few fields, an unterminated quote, a dense value
 * that is not a number, a missing label, ...) get MMOE_ERR_FORMAT and a
 * message naming the line and the 1-based column; the batch call applies
 * the caller's policy (fail, or skip and count).
 *
 * Thread safety: an mmoe_transform is immutable; any number of threads may
 * apply one at once, each with its own mmoe_transform_workspace. Applying
 * never allocates. Fitting objects are not synchronised.
 */
#ifndef MMOE_TRANSFORM_H
#define MMOE_TRANSFORM_H

#include <stddef.h>
#include <stdint.h>

#include "mmoe/config.h"
#include "mmoe/export.h"
#include "mmoe/model.h"
#include "mmoe/schema.h"
#include "mmoe/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/** What a batch call does with a malformed record. Values are stable. */
typedef enum mmoe_malformed {
    MMOE_MALFORMED_FAIL = 0, /**< stop at the first one with MMOE_ERR_FORMAT */
    MMOE_MALFORMED_SKIP = 1  /**< leave it out of the outputs and count it */
} mmoe_malformed;

/** Opaque fitting state. */
typedef struct mmoe_fit mmoe_fit;

/** Opaque, immutable fitted transformation. */
typedef struct mmoe_transform mmoe_transform;

/** Opaque per-thread scratch for applying a transformation. */
typedef struct mmoe_transform_workspace mmoe_transform_workspace;

/* ---- fitting ------------------------------------------------------------ */

/**
 * Start fitting schema (copied; the caller keeps its own).
 * @return MMOE_OK; MMOE_ERR_NULL; MMOE_ERR_NOMEM. Free with mmoe_fit_free.
 */
MMOE_API mmoe_status mmoe_fit_create(const mmoe_schema *schema, mmoe_fit **out);

/** Free fitting state. NULL is a no-op. */
MMOE_API void mmoe_fit_free(mmoe_fit *fit);

/**
 * Give the header record of the training data (schemas with `header yes`):
 * resolves the columns the schema names.
 * @return MMOE_OK; MMOE_ERR_NULL; MMOE_ERR_FORMAT (a name is absent or
 *         appears twice, bad quoting); MMOE_ERR_STATE (no header in the
 *         schema, or rows were already added).
 */
MMOE_API mmoe_status mmoe_fit_header(mmoe_fit *fit, const char *record, size_t len);

/**
 * Account for one training record (the text between line breaks, without
 * the line break; quoted fields may hold line breaks). line numbers the
 * record in messages (0: not known). A malformed record changes nothing.
 * @return MMOE_OK; MMOE_ERR_NULL; MMOE_ERR_FORMAT (malformed record:
 *         the message names the line and column); MMOE_ERR_STATE (header
 *         names not resolved yet); MMOE_ERR_NOMEM.
 */
MMOE_API mmoe_status mmoe_fit_add_line(mmoe_fit *fit, const char *record, size_t len,
                                       uint64_t line);

/**
 * As mmoe_fit_add_line for a record already split into n fields
 * (fields[i] with lens[i] bytes, not unquoted further).
 */
MMOE_API mmoe_status mmoe_fit_add_fields(mmoe_fit *fit, size_t n, const char *const *fields,
                                         const size_t *lens, uint64_t line);

/** Records accounted for so far (0 for NULL). */
MMOE_API uint64_t mmoe_fit_rows(const mmoe_fit *fit);

/**
 * The transformation fitted on the records so far (the fit may go on).
 * @return MMOE_OK; MMOE_ERR_NULL; MMOE_ERR_STATE (no record yet, or
 *         header names not resolved); MMOE_ERR_NOMEM.
 * Ownership: the caller frees *out with mmoe_transform_free.
 */
MMOE_API mmoe_status mmoe_fit_finish(const mmoe_fit *fit, mmoe_transform **out);

/** Message of the last failure on fit ("" if none, or for NULL). */
MMOE_API const char *mmoe_fit_last_error(const mmoe_fit *fit);

/* ---- the transformation ------------------------------------------------- */

/** Free a transformation. NULL is a no-op. */
MMOE_API void mmoe_transform_free(mmoe_transform *tf);

/** Deep copy. @return MMOE_OK; MMOE_ERR_NULL; MMOE_ERR_NOMEM. */
MMOE_API mmoe_status mmoe_transform_clone(const mmoe_transform *tf, mmoe_transform **out);

/**
 * Text form ("mmoe-transform 1": the schema's statements with columns
 * resolved, statistics, vocabularies; docs/data.md). Pure ASCII.
 * @param out  NUL-terminated; free with mmoe_string_free
 * @return MMOE_OK; MMOE_ERR_NULL; MMOE_ERR_NOMEM.
 */
MMOE_API mmoe_status mmoe_transform_to_string(const mmoe_transform *tf, char **out);

/**
 * Parse the text form (len bytes).
 * @return MMOE_OK; MMOE_ERR_NULL; MMOE_ERR_VERSION; MMOE_ERR_CONFIG
 *         (message names the line); MMOE_ERR_NOMEM.
 */
MMOE_API mmoe_status mmoe_transform_parse(const char *text, size_t len, mmoe_transform **out);

/** The schema of the transformation, columns resolved (owned by tf). */
MMOE_API const mmoe_schema *mmoe_transform_schema(const mmoe_transform *tf);

/** Floats of x per row (dense features, at least 1); 0 for NULL. */
MMOE_API size_t mmoe_transform_dense_dim(const mmoe_transform *tf);

/** Int64 ids per row (the sum of the sparse features' slots); 0 for NULL. */
MMOE_API size_t mmoe_transform_num_ids(const mmoe_transform *tf);

/** Labels per row = the model's tasks; 0 for NULL. */
MMOE_API size_t mmoe_transform_num_labels(const mmoe_transform *tf);

/** Training records the statistics came from; 0 for NULL. */
MMOE_API uint64_t mmoe_transform_rows(const mmoe_transform *tf);

/**
 * Vocabulary size sparse feature k (0-based among categorical and multi
 * statements) gives the model: hash buckets, or known values + 1 (id 0
 * for unknown values). 0 for NULL or k out of range.
 */
MMOE_API size_t mmoe_transform_vocab_size(const mmoe_transform *tf, size_t k);

/**
 * Fill the input and task keys of a model description: input.dense,
 * input.sparse and sparse.K.{name,vocab,dim,slots,pooling,oov}; the tasks'
 * names and kinds. When cfg has no task yet, one task per label is added
 * (tower and activation at their defaults); when it has as many tasks as
 * there are labels, their towers and loss weights are kept. Atomic.
 * @return MMOE_OK; MMOE_ERR_NULL; MMOE_ERR_CONFIG (cfg has another
 *         number of tasks; a value the description refuses); MMOE_ERR_NOMEM.
 */
MMOE_API mmoe_status mmoe_transform_configure(const mmoe_transform *tf, mmoe_config *cfg);

/**
 * Check the header record of a file against the names the schema used
 * (each named column must carry its name at the fitted position; label
 * and weight columns may be missing from the end, as in serving data).
 * @return MMOE_OK; MMOE_ERR_NULL; MMOE_ERR_FORMAT (a name differs or is
 *         missing; the message says which).
 */
MMOE_API mmoe_status mmoe_transform_check_header(const mmoe_transform *tf, const char *record,
                                                 size_t len);

/**
 * Check that tf can feed model: same dense width, ids, vocabularies,
 * embedding shapes, number and kinds of tasks.
 * @return MMOE_OK; MMOE_ERR_NULL; MMOE_ERR_SHAPE (a mismatch, named).
 */
MMOE_API mmoe_status mmoe_transform_check_model(const mmoe_transform *tf, const mmoe_model *model);

/* ---- applying ----------------------------------------------------------- */

/**
 * Scratch for applying tf from one thread: room for the fields of a record
 * of up to max_record bytes (0: 1 MiB); longer records are malformed.
 * @return MMOE_OK; MMOE_ERR_NULL; MMOE_ERR_NOMEM. Free with
 *         mmoe_transform_workspace_free (before tf).
 */
MMOE_API mmoe_status mmoe_transform_workspace_create(const mmoe_transform *tf, size_t max_record,
                                                     mmoe_transform_workspace **out);

/** Free a workspace. NULL is a no-op. */
MMOE_API void mmoe_transform_workspace_free(mmoe_transform_workspace *ws);

/** Message of the last failure with this workspace ("" if none, or for NULL). */
MMOE_API const char *mmoe_transform_workspace_last_error(const mmoe_transform_workspace *ws);

/**
 * Where the last malformed record was: its line number (as given) and
 * 1-based column (0 when the record as a whole is at fault, e.g. too few
 * fields). Either pointer may be NULL.
 * @return MMOE_OK; MMOE_ERR_NULL; MMOE_ERR_STATE (no malformed record yet).
 */
MMOE_API mmoe_status mmoe_transform_workspace_error_at(const mmoe_transform_workspace *ws,
                                                       uint64_t *line, size_t *column);

/**
 * Transform one record (the text of one CSV/TSV record, without its line
 * break). x gets dense_dim floats, ids num_ids int64 (may be NULL when
 * num_ids is 0). labels (num_labels floats) and weight (one float) may be
 * NULL: their columns are then not read, so serving records need not carry
 * them. line numbers the record in messages.
 * @return MMOE_OK; MMOE_ERR_NULL; MMOE_ERR_INVALID_ARG (ws from another
 *         transformation); MMOE_ERR_FORMAT (malformed: the message on ws
 *         names line and column; outputs unspecified).
 * Thread safety: safe concurrently on one tf with distinct workspaces.
 * Never allocates.
 */
MMOE_API mmoe_status mmoe_transform_line(const mmoe_transform *tf, mmoe_transform_workspace *ws,
                                         const char *record, size_t len, uint64_t line, float *x,
                                         int64_t *ids, float *labels, float *weight);

/**
 * As mmoe_transform_line for a record already split into n fields
 * (fields[i], lens[i] bytes each; used as they are: no unquoting; trimmed
 * when the schema says trim).
 */
MMOE_API mmoe_status mmoe_transform_fields(const mmoe_transform *tf, mmoe_transform_workspace *ws,
                                           size_t n, const char *const *fields, const size_t *lens,
                                           uint64_t line, float *x, int64_t *ids, float *labels,
                                           float *weight);

/**
 * Transform a batch of records. Output row j goes to x + j * dense_dim
 * (ids, labels, weights alike). With MMOE_MALFORMED_FAIL the call stops at
 * the first malformed record (MMOE_ERR_FORMAT; *n_out rows before it are
 * written). With MMOE_MALFORMED_SKIP malformed records are left out: the
 * outputs are compacted, *n_skipped counts them and kept (optional,
 * [batch]) receives for each output row the index of its record; the
 * message of the last skipped record stays on ws.
 * @param lines    [batch] record texts; lens [batch] their lengths
 * @param numbers  [batch] line numbers for messages, or NULL (index + 1)
 * @return MMOE_OK; MMOE_ERR_NULL; MMOE_ERR_INVALID_ARG (unknown policy,
 *         ws from another transformation); MMOE_ERR_FORMAT (fail policy).
 * Thread safety and allocation as mmoe_transform_line.
 */
MMOE_API mmoe_status mmoe_transform_lines(const mmoe_transform *tf, mmoe_transform_workspace *ws,
                                          size_t batch, const char *const *lines,
                                          const size_t *lens, const uint64_t *numbers,
                                          mmoe_malformed policy, float *x, int64_t *ids,
                                          float *labels, float *weights, size_t *kept,
                                          size_t *n_out, size_t *n_skipped);

/* ---- models carry their transformation ---------------------------------- */

/**
 * Attach a copy of tf to model (NULL detaches). mmoe_model_save writes it
 * into the model file and mmoe_model_load restores it.
 * @return MMOE_OK; MMOE_ERR_NULL (model); MMOE_ERR_SHAPE (tf does not fit
 *         the model, see mmoe_transform_check_model); MMOE_ERR_NOMEM.
 *         On failure the model keeps its previous transformation.
 * Thread safety: modifies the model; not concurrently with predict.
 */
MMOE_API mmoe_status mmoe_model_set_transform(mmoe_model *model, const mmoe_transform *tf);

/**
 * The model's transformation, owned by the model (valid until the model is
 * freed or mmoe_model_set_transform is called), or NULL when it has none.
 * Read-only; may run concurrently with predict.
 */
MMOE_API const mmoe_transform *mmoe_model_get_transform(const mmoe_model *model);

#ifdef __cplusplus
}
#endif

#endif /* MMOE_TRANSFORM_H */
