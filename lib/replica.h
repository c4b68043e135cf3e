/*
 * Private reduction hook of a model (mmoe_model_set_reducer): sums values
 * across replicas. Without a hook, a reduction leaves the local values, so
 * one code path serves a lone model and a replica.
 */
#ifndef MMOE_REPLICA_H
#define MMOE_REPLICA_H

#include <stddef.h>

#include "mmoe/parallel.h"

typedef struct mmoe__reducer {
    mmoe_reduce_fn fn; /* NULL: no replicas */
    void *ctx;
    mmoe_status status; /* first failure since the owner last cleared it */
} mmoe__reducer;

/* Whether r reduces across replicas. */
static inline int mmoe__reducing(const mmoe__reducer *r)
{
    return r && r->fn;
}

/*
 * Sum v[0..n) across replicas in place. After a failure (recorded in
 * r->status) further reductions are skipped and leave local values.
 */
static inline void mmoe__reduce(mmoe__reducer *r, double *v, size_t n)
{
    if (!mmoe__reducing(r) || r->status)
        return;
    r->status = r->fn(r->ctx, v, n);
}

/*
 * Backward progress (mmoe_model_set_grad_ready): gradients [mark, end) of
 * the flat buffer have been reported final in the current backward. A
 * backward starts with mark = end and reports strictly lower watermarks;
 * without a callback a report is one test of fn.
 */
typedef struct mmoe__progress {
    mmoe_grad_ready_fn fn; /* NULL: nobody listens */
    void *ctx;
    size_t mark;
    mmoe_status status; /* the callback's first failure in this backward */
} mmoe__progress;

/*
 * Report gradients [offset, p->mark) final (nothing when offset is not below
 * the mark). After a failure of the callback no further reports are made.
 */
static inline void mmoe__grad_ready(mmoe__progress *p, size_t offset)
{
    if (!p || !p->fn || p->status || offset >= p->mark)
        return;
    p->status = p->fn(p->ctx, offset, p->mark - offset);
    p->mark = offset;
}

#endif
