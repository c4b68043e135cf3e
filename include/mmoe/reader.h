/*
 * libmmoe - streaming delimited-text data: records from files, and
 * shuffled mini-batches of model inputs.
 *
 * mmoe_reader reads the records of a CSV/TSV file (plain or gzip, detected
 * from the content; "-" is standard input) in the layout a schema
 * describes: delimiter, quoting (a quoted field may hold delimiters, line
 * breaks and doubled quotes), an optional header record. Lines may end in
 * "\n" or "\r\n"; blank lines are skipped. It holds one buffer of
 * max_record + 64 KiB bytes plus zlib's state, whatever the file size.
 *
 * mmoe_batcher turns a file into mini-batches through a fitted
 * transformation (mmoe/transform.h), with a shuffle buffer of `shuffle`
 * transformed rows: the first `shuffle` rows fill the buffer; each row
 * given out is drawn uniformly from the buffer and its place taken by the
 * next row of the file (the scheme of tf.data's shuffle). shuffle >= the
 * number of rows gives a uniform permutation; 0 or 1 keeps file order. The
 * memory it holds is bounded by mmoe_batcher_memory(): (shuffle + batch)
 * rows of inputs, labels and weight, the reader's buffer, a transformation
 * workspace and zlib's state, independent of the file's size.
 *
 *     mmoe_batcher *b;
 *     mmoe_batcher_create(tf, "train.csv.gz", 256, 100000, seed, MMOE_MALFORMED_SKIP, 0, &b);
 *     for (epoch...) {
 *         mmoe_batcher_restart(b, seed + epoch);
 *         while (mmoe_batcher_next(b, &n, &x, &ids, &y, &w) == MMOE_OK && n > 0)
 *             mmoe_model_train_step(model, opt, n, x, ids, y, w, NULL, &loss);
 *     }
 *
 * Thread safety: readers and batchers are not synchronised; use each from
 * one thread at a time. The transformation they read may be shared.
 */
#ifndef MMOE_READER_H
#define MMOE_READER_H

#include <stddef.h>
#include <stdint.h>

#include "mmoe/export.h"
#include "mmoe/schema.h"
#include "mmoe/status.h"
#include "mmoe/transform.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Opaque record reader. */
typedef struct mmoe_reader mmoe_reader;

/** Opaque shuffled mini-batch stream. */
typedef struct mmoe_batcher mmoe_batcher;

/**
 * Open path ("-": standard input) with the layout of schema (copied).
 * When the schema has `header yes`, the first record is read now and kept
 * (mmoe_reader_header). max_record bounds the bytes of one record (0: 1 MiB).
 * @return MMOE_OK; MMOE_ERR_NULL; MMOE_ERR_IO (cannot open or read; a
 *         corrupt gzip stream); MMOE_ERR_FORMAT (a header was expected but
 *         the file is empty, or is malformed); MMOE_ERR_NOMEM.
 * Ownership: close with mmoe_reader_close.
 */
MMOE_API mmoe_status mmoe_reader_open(const char *path, const mmoe_schema *schema,
                                      size_t max_record, mmoe_reader **out);

/** Close a reader. NULL is a no-op. */
MMOE_API void mmoe_reader_close(mmoe_reader *r);

/**
 * The header record (owned by the reader).
 * @return MMOE_OK; MMOE_ERR_NULL; MMOE_ERR_STATE (the schema has no header).
 */
MMOE_API mmoe_status mmoe_reader_header(const mmoe_reader *r, const char **record, size_t *len);

/**
 * Up to max next records: recs[i] (lens[i] bytes, without the line break;
 * not NUL-terminated) starting on line lines[i] (lines may be NULL). The
 * texts stay valid until the next call on r. *n is 0 at the end of input.
 * @return MMOE_OK; MMOE_ERR_NULL; MMOE_ERR_INVALID_ARG (max 0);
 *         MMOE_ERR_IO (read error, corrupt gzip data); MMOE_ERR_FORMAT (a
 *         record longer than max_record, a quote left open at the end of
 *         the file: the message names the line). After an error the
 *         reader only fails.
 */
MMOE_API mmoe_status mmoe_reader_next(mmoe_reader *r, size_t max, const char **recs, size_t *lens,
                                      uint64_t *lines, size_t *n);

/**
 * Go back to the first record (after the header). Not for standard input.
 * @return MMOE_OK; MMOE_ERR_NULL; MMOE_ERR_UNSUPPORTED (standard input);
 *         MMOE_ERR_IO.
 */
MMOE_API mmoe_status mmoe_reader_rewind(mmoe_reader *r);

/**
 * Progress: bytes of the file consumed so far and its size (0 when not
 * known, e.g. a pipe). Either pointer may be NULL.
 */
MMOE_API mmoe_status mmoe_reader_progress(const mmoe_reader *r, uint64_t *done, uint64_t *total);

/** Message of the last failure ("" if none, or for NULL). */
MMOE_API const char *mmoe_reader_last_error(const mmoe_reader *r);

/**
 * A mini-batch stream over path through tf (which must outlive it).
 * @param batch    rows per batch, >= 1
 * @param shuffle  rows of the shuffle buffer (0 or 1: file order)
 * @param seed     seed of the first pass's order (see restart)
 * @param policy   malformed records: fail the pass, or skip and count
 * @param max_record  bytes of one record at most (0: 1 MiB)
 * If the file has a header, it is checked against tf
 * (mmoe_transform_check_header).
 * @return MMOE_OK; MMOE_ERR_NULL; MMOE_ERR_INVALID_ARG (batch 0, policy);
 *         MMOE_ERR_OVERFLOW (buffers too large); errors of
 *         mmoe_reader_open and mmoe_transform_check_header; MMOE_ERR_NOMEM.
 * Ownership: free with mmoe_batcher_free, before tf.
 */
MMOE_API mmoe_status mmoe_batcher_create(const mmoe_transform *tf, const char *path, size_t batch,
                                         size_t shuffle, uint64_t seed, mmoe_malformed policy,
                                         size_t max_record, mmoe_batcher **out);

/** Free a batcher. NULL is a no-op. */
MMOE_API void mmoe_batcher_free(mmoe_batcher *b);

/**
 * Next mini-batch: *n rows (<= batch; 0 once the pass is over) at *x
 * [n, dense_dim], *ids [n, num_ids] (NULL when num_ids is 0), *labels
 * [n, num_labels], *weights [n]. The arrays belong to the batcher and stay
 * valid until the next call. Any out pointer but n may be NULL.
 * @return MMOE_OK; MMOE_ERR_NULL; MMOE_ERR_FORMAT (a malformed record
 *         under MMOE_MALFORMED_FAIL, or a reader format error);
 *         MMOE_ERR_IO. After an error, restart begins a new pass.
 */
MMOE_API mmoe_status mmoe_batcher_next(mmoe_batcher *b, size_t *n, const float **x,
                                       const int64_t **ids, const float **labels,
                                       const float **weights);

/**
 * Begin a new pass over the file, rows in the order given by seed (the
 * same seed gives the same order). Not for standard input after the
 * first pass.
 * @return MMOE_OK; MMOE_ERR_NULL; errors of mmoe_reader_rewind.
 */
MMOE_API mmoe_status mmoe_batcher_restart(mmoe_batcher *b, uint64_t seed);

/** Rows given out in the current pass (0 for NULL). */
MMOE_API uint64_t mmoe_batcher_rows(const mmoe_batcher *b);

/** Malformed records skipped in the current pass (0 for NULL). */
MMOE_API uint64_t mmoe_batcher_skipped(const mmoe_batcher *b);

/** Upper bound of the bytes the batcher holds (0 for NULL). */
MMOE_API size_t mmoe_batcher_memory(const mmoe_batcher *b);

/** The batcher's reader (for progress); owned by the batcher. */
MMOE_API const mmoe_reader *mmoe_batcher_reader(const mmoe_batcher *b);

/**
 * Message of the last failure, or of the last skipped record ("" if none,
 * or for NULL).
 */
MMOE_API const char *mmoe_batcher_last_error(const mmoe_batcher *b);

#ifdef __cplusplus
}
#endif

#endif /* MMOE_READER_H */
