/* Parameter registry: offsets into one flat buffer plus named views. */
#if !defined(_POSIX_C_SOURCE) || _POSIX_C_SOURCE < 200809L
#    undef _POSIX_C_SOURCE
#    define _POSIX_C_SOURCE 200809L
#endif
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "params.h"

/*
 * Bytes of physical memory, where the platform tells (0 when it does not).
 * A model whose buffer alone would not fit is refused before anything is
 * allocated, instead of asking the system for it.
 */
static uint64_t physical_memory(void)
{
#if defined(_SC_PHYS_PAGES) && defined(_SC_PAGESIZE)
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages > 0 && page > 0)
        return (uint64_t)pages * (uint64_t)page;
#endif
    return 0;
}

size_t mmoe__reg_block(mmoe__registry *r, size_t rows, size_t cols)
{
    size_t n, end;
    if (r->failed)
        return 0;
    if (mmoe__mul(rows, cols, &n) || mmoe__add(r->total, n, &end) || end > MMOE__MAX_MODEL_FLOATS) {
        r->failed = MMOE_ERR_OVERFLOW;
        return 0;
    }
    /* Beyond 64 MiB, ask whether the buffer can fit in memory at all. */
    if (end > ((size_t)1 << 24)) {
        uint64_t mem = physical_memory();
        if (mem && (uint64_t)end * sizeof(float) > mem) {
            r->failed = MMOE_ERR_NOMEM;
            return 0;
        }
    }
    size_t off = r->total;
    r->total = end;
    return off;
}

void mmoe__reg_name(mmoe__registry *r, size_t offset, size_t rows, size_t cols, const char *fmt,
                    ...)
{
    if (r->failed)
        return;
    if (r->count == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 32;
        mmoe__param *items = mmoe__calloc(cap, sizeof *items);
        if (!items) {
            r->failed = MMOE_ERR_NOMEM;
            return;
        }
        if (r->count)
            memcpy(items, r->items, r->count * sizeof *items);
        mmoe__free(r->items);
        r->items = items;
        r->cap = cap;
    }
    mmoe__param *p = &r->items[r->count++];
    memset(p, 0, sizeof *p);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->name, sizeof p->name, fmt, ap);
    va_end(ap);
    p->offset = offset;
    p->rank = cols ? 2 : 1;
    p->shape[0] = (int64_t)rows;
    p->shape[1] = (int64_t)cols;
    p->numel = cols ? rows * cols : rows;
}

void mmoe__reg_nonneg(mmoe__registry *r)
{
    if (!r->failed && r->count > 0)
        r->items[r->count - 1].nonneg = 1;
}

void mmoe__reg_bind(mmoe__registry *r, float *params, float *grads)
{
    for (size_t i = 0; i < r->count; i++) {
        mmoe__param *p = &r->items[i];
        mmoe__tensor_view(&p->value, params + p->offset, p->rank, p->shape);
        mmoe__tensor_view(&p->grad, grads + p->offset, p->rank, p->shape);
    }
}

void mmoe__reg_free(mmoe__registry *r)
{
    mmoe__free(r->items);
    memset(r, 0, sizeof *r);
}
