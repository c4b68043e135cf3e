/*
 * Private parameter registry: components reserve contiguous blocks of the
 * model's flat parameter buffer and name views inside them.
 */
#ifndef MMOE_PARAMS_H
#define MMOE_PARAMS_H

#include <stddef.h>
#include <stdint.h>

#include "internal.h"
#include "tensor_impl.h"

#define MMOE__PARAM_NAME 64

typedef struct mmoe__param {
    char name[MMOE__PARAM_NAME];
    size_t rank;
    int64_t shape[2];
    size_t offset; /* in floats, into the flat buffers */
    size_t numel;
    int nonneg;        /* values must be >= 0 (variances); checked when a file loads */
    mmoe_tensor value; /* views, bound once the buffers exist */
    mmoe_tensor grad;
} mmoe__param;

typedef struct mmoe__registry {
    mmoe__param *items;
    size_t count, cap;
    size_t total;       /* floats reserved so far */
    mmoe_status failed; /* first failure (overflow / no memory), sticky */
} mmoe__registry;

/* Reserve n floats; returns the block's offset (0 and sets failed on overflow). */
size_t mmoe__reg_block(mmoe__registry *r, size_t rows, size_t cols);

/* Name a [rows, cols] (cols 0: rank 1 [rows]) view at offset. */
void mmoe__reg_name(mmoe__registry *r, size_t offset, size_t rows, size_t cols, const char *fmt,
                    ...) MMOE__PRINTF(5, 6);

/* Mark the entry named last as holding values >= 0 only (a variance). */
void mmoe__reg_nonneg(mmoe__registry *r);

/* Bind every entry's value/grad views to the flat buffers. */
void mmoe__reg_bind(mmoe__registry *r, float *params, float *grads);

void mmoe__reg_free(mmoe__registry *r);

#endif
