/*
 * libmmoe - model and optimizer files.
 *
 * Models are stored as safetensors files (docs/file-format.md has the exact
 * layout): an 8-byte little-endian header length N, N bytes of JSON header,
 * then the raw little-endian float32 data of every named parameter. The
 * header's "__metadata__" holds the format name ("libmmoe"), the format
 * version, the libmmoe version that wrote the file, the model's
 * description (mmoe_config_to_string text) and, when present, the state of
 * the dropout stream and the attached transformation. Tensor names are the names of
 * mmoe_model_param ("experts.0.layers.0.weight", ...), so the files open
 * with standard safetensors tools and weights trained elsewhere can be
 * written into a libmmoe file by a short script.
 *
 * Loading validates everything before it trusts it (header bounds, JSON,
 * metadata, every tensor's presence, dtype, shape and byte range, finite
 * values): a file either loads completely or fails with a specific status
 * and a message in mmoe_last_error(), never a partial model.
 *
 *     mmoe_model *m;
 *     if (mmoe_model_load("ctr.safetensors", &m) != MMOE_OK)
 *         fprintf(stderr, "load: %s\n", mmoe_last_error());
 *
 * Optimizer state (moments, step count, hyper-parameters) uses the same
 * container, so training can stop and resume exactly: the model file also
 * holds the batch-norm running statistics and the state of the dropout
 * stream, so a model and optimizer saved after a step, loaded and trained
 * on gives the model an uninterrupted run gives, bit for bit.
 *
 * Thread safety: saving only reads the model or optimizer (a model may be
 * saved while other threads call mmoe_model_predict on it, but not while
 * it trains). Loads create new objects or, for mmoe_optimizer_load,
 * modify only the given optimizer.
 */
#ifndef MMOE_IO_H
#define MMOE_IO_H

#include <stddef.h>

#include "mmoe/export.h"
#include "mmoe/model.h"
#include "mmoe/optimizer.h"
#include "mmoe/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Version of the file format this library writes (metadata "format_version"). */
#define MMOE_FILE_FORMAT_VERSION 1

/**
 * Save a model's description and parameters to path, atomically: the file
 * is written to a temporary file in the same directory (flushed and
 * synced), then renamed over path. On any failure the temporary file is
 * removed and an existing file at path is left untouched.
 * A new file gets mode 0644; an overwritten file keeps its mode.
 * Symbolic links: when path is a symbolic link, the file it points to is
 * replaced and the link stays (as writing through the link with open()
 * or cp would; deployments that switch a link between versions keep
 * working); the temporary file goes in the target's directory. A dangling
 * link creates its target.
 * Interrupted saves: a process killed while saving leaves its temporary
 * file, named "<target>.tmp-XXXXXX" (six random characters) beside the
 * target. Every save of the same target (model or optimizer) removes such
 * leftovers first, except those a save in progress holds: each save keeps
 * an advisory lock (flock) on its temporary file until the rename, and a
 * killed process loses its lock. Other names in the directory are never
 * touched.
 * @return MMOE_OK; MMOE_ERR_NULL; MMOE_ERR_NONFINITE (a parameter is NaN or
 *         infinite: such a model would not load, nothing is written);
 *         MMOE_ERR_IO (cannot create, write, sync or rename; the message
 *         has the system's reason); MMOE_ERR_NOMEM; MMOE_ERR_OVERFLOW.
 *         Messages go to mmoe_last_error().
 * Thread safety: reads the model only.
 */
MMOE_API mmoe_status mmoe_model_save(const mmoe_model *model, const char *path);

/**
 * Save a model to a new memory buffer holding exactly the bytes
 * mmoe_model_save would write.
 * @param buf  receives the buffer; the caller frees it with mmoe_buffer_free
 * @param len  receives its length in bytes
 * @return MMOE_OK; MMOE_ERR_NULL; MMOE_ERR_NONFINITE; MMOE_ERR_NOMEM;
 *         MMOE_ERR_OVERFLOW. On failure *buf is NULL and *len 0.
 * Thread safety: reads the model only.
 */
MMOE_API mmoe_status mmoe_model_save_buffer(const mmoe_model *model, void **buf, size_t *len);

/** Free a buffer returned by a libmmoe *_save_buffer call. NULL is a no-op. */
MMOE_API void mmoe_buffer_free(void *buf);

/**
 * Load a model from a file written by mmoe_model_save (or any writer
 * following docs/file-format.md). path must name a regular file (a
 * directory, device, FIFO or socket is refused before anything is read)
 * whose size, taken from fstat, is at most that of a model at the size cap
 * (mmoe/model.h) plus the 100 MB header limit. The file is mapped
 * read-only (read into memory where the file system cannot map) and
 * validated as by mmoe_model_load_buffer; the model keeps no reference to
 * it. Replace model files by renaming (as mmoe_model_save does), not by
 * rewriting them in place: a file truncated by another process while it
 * is mapped can raise SIGBUS.
 * @return as mmoe_model_load_buffer, plus MMOE_ERR_IO (cannot open or
 *         read path, or not a regular file); MMOE_ERR_FORMAT also for a
 *         file larger than the largest model file.
 * Ownership: the caller frees *out with mmoe_model_free.
 * Thread safety: safe from any thread.
 */
MMOE_API mmoe_status mmoe_model_load(const char *path, mmoe_model **out);

/**
 * Load a model from len bytes of a model file in memory (the buffer is
 * only read and may be freed after the call).
 * Checks, in order: length >= 8; the header length N <= 100 MB and fits
 * in the buffer; the header is UTF-8 JSON, one object; "__metadata__" has
 * format "libmmoe" and an integer format_version; the description parses
 * and builds a model; every parameter of that model appears exactly once
 * as an F32 tensor of its exact shape, no other tensor appears; byte
 * ranges lie inside the data section, have the tensor's size and tile it
 * with no gap or overlap and nothing after; every value is finite; every
 * batch-norm running variance is >= 0.
 * @return MMOE_OK; MMOE_ERR_NULL; MMOE_ERR_FORMAT (corrupt or truncated
 *         data, malformed header, missing/unknown/duplicate tensor, wrong
 *         dtype or shape, bad offsets, not a libmmoe model file);
 *         MMOE_ERR_VERSION (format_version or description version newer
 *         than this library); MMOE_ERR_CONFIG (the description does not
 *         parse or does not describe a valid model); MMOE_ERR_OVERFLOW
 *         (described model too large); MMOE_ERR_NONFINITE (a NaN or
 *         infinite parameter); MMOE_ERR_RANGE (a value outside its
 *         domain: a negative batch-norm running variance); MMOE_ERR_NOMEM. On failure *out is NULL,
 *         nothing leaks and mmoe_last_error() explains.
 * Ownership: the caller frees *out with mmoe_model_free.
 * Thread safety: safe from any thread.
 */
MMOE_API mmoe_status mmoe_model_load_buffer(const void *buf, size_t len, mmoe_model **out);

/**
 * Number of tensors a model file of this model holds: every trainable
 * parameter (as mmoe_model_param lists them), then every non-trainable
 * state tensor (batch-norm running statistics
 * "input.dnn.L.bn.running_mean" / ".running_var"), in file order; 0 for
 * NULL. Thread safety: read-only.
 */
MMOE_API size_t mmoe_model_file_tensor_count(const mmoe_model *model);

/**
 * Tensor i of the model's file, in file order (see above). Out pointers
 * may be NULL. value is a view owned by the model (valid until it is
 * freed); writing it sets the values, e.g. running statistics taken from
 * another framework. trainable receives 1 for a parameter (also listed by
 * mmoe_model_param), 0 for a running statistic.
 * @return MMOE_OK; MMOE_ERR_NULL (model); MMOE_ERR_RANGE (i).
 * Thread safety: read-only on the model (writing through value is not).
 */
MMOE_API mmoe_status mmoe_model_file_tensor(mmoe_model *model, size_t i, const char **name,
                                            mmoe_tensor **value, int *trainable);

/**
 * Save an optimizer's state (kind, step count, hyper-parameters, moment
 * buffers) to path, atomically like mmoe_model_save. The model's
 * parameters are not included: save the model too.
 * @return MMOE_OK; MMOE_ERR_NULL; MMOE_ERR_NONFINITE; MMOE_ERR_IO;
 *         MMOE_ERR_NOMEM; MMOE_ERR_OVERFLOW. Messages go to mmoe_last_error().
 * Thread safety: reads the optimizer only.
 */
MMOE_API mmoe_status mmoe_optimizer_save(const mmoe_optimizer *opt, const char *path);

/** Save an optimizer's state to a buffer (as mmoe_model_save_buffer). */
MMOE_API mmoe_status mmoe_optimizer_save_buffer(const mmoe_optimizer *opt, void **buf, size_t *len);

/**
 * Restore state saved by mmoe_optimizer_save into opt, which must be of
 * the same kind over a model with the same number of parameters. Every
 * check runs before anything changes: on failure opt is unchanged.
 * @return MMOE_OK; MMOE_ERR_NULL; MMOE_ERR_IO (cannot open or read path);
 *         MMOE_ERR_FORMAT (corrupt file, not an optimizer file, missing or
 *         malformed entries); MMOE_ERR_VERSION (newer format);
 *         MMOE_ERR_CONFIG (the file holds another optimizer kind);
 *         MMOE_ERR_SHAPE (state for a different number of parameters);
 *         MMOE_ERR_RANGE (a hyper-parameter out of range, or a step
 *         count above 2^53);
 *         MMOE_ERR_NONFINITE (non-finite state); MMOE_ERR_NOMEM.
 *         The message is on opt (mmoe_optimizer_last_error) and in
 *         mmoe_last_error().
 * Thread safety: modifies opt; do not use opt or step meanwhile.
 */
MMOE_API mmoe_status mmoe_optimizer_load(mmoe_optimizer *opt, const char *path);

/** Restore optimizer state from a buffer (as mmoe_optimizer_load). */
MMOE_API mmoe_status mmoe_optimizer_load_buffer(mmoe_optimizer *opt, const void *buf, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* MMOE_IO_H */
