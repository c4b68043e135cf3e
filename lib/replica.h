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

#endif
