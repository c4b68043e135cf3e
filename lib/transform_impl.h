/* Private layout of fitted transformations and their workspaces. */
#ifndef MMOE_TRANSFORM_IMPL_H
#define MMOE_TRANSFORM_IMPL_H

#include "fields.h"
#include "mmoe/transform.h"
#include "schema_impl.h"

struct mmoe_transform {
    mmoe_schema *s;     /* fitted, columns resolved */
    size_t need_inputs; /* fields a record needs for the inputs */
    size_t need_all;    /* ... and for labels and weight */
};

struct mmoe_transform_workspace {
    const mmoe_transform *tf;
    mmoe__span *sp; /* [ncols] */
    size_t ncols;
    char *scratch; /* [max_record] */
    size_t max_record;
    uint64_t bad_line;
    size_t bad_column;
    int have_bad;
    char err[MMOE__ERRLEN];
};

/* Build the transform around a fitted, resolved schema (takes ownership). */
mmoe_status mmoe__transform_wrap(mmoe_schema *s, mmoe_transform **out);

#endif
