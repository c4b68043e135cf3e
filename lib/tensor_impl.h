/* Private tensor layout and view construction. */
#ifndef MMOE_TENSOR_IMPL_H
#define MMOE_TENSOR_IMPL_H

#include "internal.h"
#include "mmoe/tensor.h"

struct mmoe_tensor {
    float *data;
    size_t numel;
    size_t rank;
    int64_t shape[MMOE_TENSOR_MAX_RANK];
    int owns; /* 1: created by mmoe_tensor_create; 0: view */
    char err[MMOE__ERRLEN];
};

/* Initialise a view over memory owned elsewhere (no allocation). */
void mmoe__tensor_view(mmoe_tensor *t, float *data, size_t rank, const int64_t *shape);

/* Nonzero when t is a rank-2 tensor of shape [rows, cols]. */
int mmoe__tensor_is_2d(const mmoe_tensor *t, size_t rows, size_t cols);

#endif
