/* Opaque float32 tensors: owning arrays and views. */
#include <string.h>

#include "tensor_impl.h"

static mmoe_status check_shape(size_t rank, const int64_t *shape, size_t *numel, const char *func)
{
    if (!shape)
        return mmoe__fail(NULL, MMOE_ERR_NULL, func, "shape is NULL");
    if (rank < 1 || rank > MMOE_TENSOR_MAX_RANK)
        return mmoe__fail(NULL, MMOE_ERR_INVALID_ARG, func, "rank %zu not in 1..%d", rank,
                          MMOE_TENSOR_MAX_RANK);
    size_t n = 1;
    for (size_t i = 0; i < rank; i++) {
        if (shape[i] < 1)
            return mmoe__fail(NULL, MMOE_ERR_INVALID_ARG, func,
                              "dimension %zu is %lld (must be >= 1)", i, (long long)shape[i]);
        if ((uint64_t)shape[i] > (uint64_t)SIZE_MAX || mmoe__mul(n, (size_t)shape[i], &n) ||
            n > MMOE__MAX_ELEMS)
            return mmoe__fail(NULL, MMOE_ERR_OVERFLOW, func,
                              "element count overflows at dimension %zu", i);
    }
    *numel = n;
    return MMOE_OK;
}

mmoe_status mmoe_tensor_create(size_t rank, const int64_t *shape, mmoe_tensor **out)
{
    if (!out)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "out is NULL");
    *out = NULL;
    size_t n;
    mmoe_status st = check_shape(rank, shape, &n, __func__);
    if (st)
        return st;
    mmoe_tensor *t = mmoe__calloc(1, sizeof *t);
    if (!t)
        return MMOE_FAIL(NULL, MMOE_ERR_NOMEM, "no memory for tensor header");
    t->data = mmoe__calloc(n, sizeof(float));
    if (!t->data) {
        mmoe__free(t);
        return MMOE_FAIL(NULL, MMOE_ERR_NOMEM, "no memory for %zu floats", n);
    }
    t->numel = n;
    t->rank = rank;
    memcpy(t->shape, shape, rank * sizeof *shape);
    t->owns = 1;
    *out = t;
    return MMOE_OK;
}

mmoe_status mmoe_tensor_create_2d(int64_t rows, int64_t cols, mmoe_tensor **out)
{
    int64_t shape[2] = {rows, cols};
    return mmoe_tensor_create(2, shape, out);
}

void mmoe__tensor_view(mmoe_tensor *t, float *data, size_t rank, const int64_t *shape)
{
    memset(t, 0, sizeof *t);
    t->data = data;
    t->rank = rank;
    t->numel = 1;
    for (size_t i = 0; i < rank; i++) {
        t->shape[i] = shape[i];
        t->numel *= (size_t)shape[i];
    }
    t->owns = 0;
}

int mmoe__tensor_is_2d(const mmoe_tensor *t, size_t rows, size_t cols)
{
    return t && t->rank == 2 && (uint64_t)t->shape[0] == rows && (uint64_t)t->shape[1] == cols;
}

void mmoe_tensor_free(mmoe_tensor *t)
{
    if (!t || !t->owns)
        return;
    mmoe__free(t->data);
    mmoe__free(t);
}

size_t mmoe_tensor_rank(const mmoe_tensor *t)
{
    return t ? t->rank : 0;
}

int64_t mmoe_tensor_dim(const mmoe_tensor *t, size_t axis)
{
    if (!t || axis >= t->rank)
        return -1;
    return t->shape[axis];
}

size_t mmoe_tensor_numel(const mmoe_tensor *t)
{
    return t ? t->numel : 0;
}

float *mmoe_tensor_data(mmoe_tensor *t)
{
    return t ? t->data : NULL;
}

const float *mmoe_tensor_cdata(const mmoe_tensor *t)
{
    return t ? t->data : NULL;
}

mmoe_status mmoe_tensor_fill(mmoe_tensor *t, float value)
{
    if (!t)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "tensor is NULL");
    for (size_t i = 0; i < t->numel; i++)
        t->data[i] = value;
    mmoe__clear(t->err);
    return MMOE_OK;
}

mmoe_status mmoe_tensor_copy(mmoe_tensor *dst, const mmoe_tensor *src)
{
    if (!dst || !src)
        return MMOE_FAIL(dst ? dst->err : NULL, MMOE_ERR_NULL, "%s is NULL", dst ? "src" : "dst");
    if (dst->rank != src->rank ||
        memcmp(dst->shape, src->shape, dst->rank * sizeof dst->shape[0]) != 0)
        return MMOE_FAIL(dst->err, MMOE_ERR_SHAPE, "shapes differ (rank %zu vs %zu)", dst->rank,
                         src->rank);
    memmove(dst->data, src->data, dst->numel * sizeof(float));
    mmoe__clear(dst->err);
    return MMOE_OK;
}

mmoe_status mmoe_tensor_copy_from(mmoe_tensor *t, const float *src, size_t n)
{
    if (!t || !src)
        return MMOE_FAIL(t ? t->err : NULL, MMOE_ERR_NULL, "%s is NULL", t ? "src" : "tensor");
    if (n != t->numel)
        return MMOE_FAIL(t->err, MMOE_ERR_SHAPE, "got %zu floats for a tensor of %zu", n, t->numel);
    memmove(t->data, src, n * sizeof(float));
    mmoe__clear(t->err);
    return MMOE_OK;
}

mmoe_status mmoe_tensor_copy_to(const mmoe_tensor *t, float *dst, size_t n)
{
    if (!t || !dst)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "%s is NULL", t ? "dst" : "tensor");
    if (n != t->numel)
        return MMOE_FAIL(NULL, MMOE_ERR_SHAPE, "buffer of %zu floats for a tensor of %zu", n,
                         t->numel);
    memmove(dst, t->data, n * sizeof(float));
    return MMOE_OK;
}

mmoe_status mmoe_tensor_reshape(mmoe_tensor *t, size_t rank, const int64_t *shape)
{
    if (!t)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "tensor is NULL");
    if (!t->owns)
        return MMOE_FAIL(t->err, MMOE_ERR_INVALID_ARG, "cannot reshape a view");
    size_t n;
    mmoe_status st = check_shape(rank, shape, &n, __func__);
    if (st)
        return mmoe__forward(t->err, st);
    if (n != t->numel)
        return MMOE_FAIL(t->err, MMOE_ERR_SHAPE, "new shape has %zu elements, tensor has %zu", n,
                         t->numel);
    t->rank = rank;
    memset(t->shape, 0, sizeof t->shape);
    memcpy(t->shape, shape, rank * sizeof *shape);
    mmoe__clear(t->err);
    return MMOE_OK;
}

const char *mmoe_tensor_last_error(const mmoe_tensor *t)
{
    return t ? t->err : "";
}
