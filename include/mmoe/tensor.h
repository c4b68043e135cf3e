/*
 * libmmoe - tensors.
 *
 * An mmoe_tensor is an opaque, row-major float32 array of rank 1 to 4.
 * Tensors carry data into and out of the standalone layers (mmoe/layer.h)
 * and give named views of a model's parameters (mmoe/model.h).
 *
 * A tensor either owns its data (mmoe_tensor_create) or is a view into an
 * object that owns it (the tensors a layer or model hands out). Views must
 * not be freed by the caller and live as long as their owner.
 *
 * Thread safety: a tensor is not synchronised. Reading one tensor from many
 * threads is safe; writing while another thread reads or writes is not.
 */
#ifndef MMOE_TENSOR_H
#define MMOE_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "mmoe/export.h"
#include "mmoe/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Highest rank a tensor may have. */
#define MMOE_TENSOR_MAX_RANK 4

/** Opaque tensor handle. */
typedef struct mmoe_tensor mmoe_tensor;

/**
 * Create a zero-filled tensor owning its data.
 *
 * @param rank   number of dimensions, 1..MMOE_TENSOR_MAX_RANK
 * @param shape  rank dimensions, each >= 1
 * @param out    receives the new tensor; set to NULL on failure
 * @return MMOE_OK; MMOE_ERR_NULL (shape or out NULL); MMOE_ERR_INVALID_ARG
 *         (rank out of range, a dimension < 1); MMOE_ERR_OVERFLOW (element
 *         count or byte size too large); MMOE_ERR_NOMEM.
 * Ownership: the caller owns the tensor and frees it with mmoe_tensor_free.
 */
MMOE_API mmoe_status mmoe_tensor_create(size_t rank, const int64_t *shape, mmoe_tensor **out);

/** Convenience: create a zero-filled rows x cols matrix (see mmoe_tensor_create). */
MMOE_API mmoe_status mmoe_tensor_create_2d(int64_t rows, int64_t cols, mmoe_tensor **out);

/**
 * Free a tensor created by mmoe_tensor_create. NULL is a no-op.
 * Passing a view handed out by a layer or model is a no-op too: views belong
 * to their owner.
 */
MMOE_API void mmoe_tensor_free(mmoe_tensor *t);

/** Rank of t, or 0 if t is NULL. */
MMOE_API size_t mmoe_tensor_rank(const mmoe_tensor *t);

/** Dimension `axis` of t, or -1 if t is NULL or axis >= rank. */
MMOE_API int64_t mmoe_tensor_dim(const mmoe_tensor *t, size_t axis);

/** Number of elements of t, or 0 if t is NULL. */
MMOE_API size_t mmoe_tensor_numel(const mmoe_tensor *t);

/**
 * Mutable pointer to the first of numel() floats, row-major; NULL if t is
 * NULL. Valid while the tensor (or, for a view, its owner) lives.
 */
MMOE_API float *mmoe_tensor_data(mmoe_tensor *t);

/** Read-only pointer to the data; NULL if t is NULL. */
MMOE_API const float *mmoe_tensor_cdata(const mmoe_tensor *t);

/**
 * Set every element to value.
 * @return MMOE_OK; MMOE_ERR_NULL.
 */
MMOE_API mmoe_status mmoe_tensor_fill(mmoe_tensor *t, float value);

/**
 * Copy src's elements into dst. The shapes must be equal.
 * @return MMOE_OK; MMOE_ERR_NULL; MMOE_ERR_SHAPE (dst unchanged).
 */
MMOE_API mmoe_status mmoe_tensor_copy(mmoe_tensor *dst, const mmoe_tensor *src);

/**
 * Copy n floats from a caller buffer into t; n must equal numel(t).
 * @return MMOE_OK; MMOE_ERR_NULL; MMOE_ERR_SHAPE (t unchanged).
 */
MMOE_API mmoe_status mmoe_tensor_copy_from(mmoe_tensor *t, const float *src, size_t n);

/**
 * Copy t's elements into a caller buffer of n floats; n must equal numel(t).
 * @return MMOE_OK; MMOE_ERR_NULL; MMOE_ERR_SHAPE.
 */
MMOE_API mmoe_status mmoe_tensor_copy_to(const mmoe_tensor *t, float *dst, size_t n);

/**
 * Change the shape of an owning tensor without changing its element count.
 * @return MMOE_OK; MMOE_ERR_NULL; MMOE_ERR_INVALID_ARG (bad rank or a
 *         dimension < 1, or t is a view); MMOE_ERR_SHAPE (element count
 *         differs). On failure t is unchanged.
 */
MMOE_API mmoe_status mmoe_tensor_reshape(mmoe_tensor *t, size_t rank, const int64_t *shape);

/**
 * Message of the last failure on t ("" if none). Valid until the next call
 * on t. Returns "" for NULL.
 */
MMOE_API const char *mmoe_tensor_last_error(const mmoe_tensor *t);

#ifdef __cplusplus
}
#endif

#endif /* MMOE_TENSOR_H */
