/* Private helpers shared by the library sources: errors, allocation, sizes. */
#ifndef MMOE_INTERNAL_H
#define MMOE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "mmoe/status.h"

#define MMOE__ERRLEN 256

#if defined(__GNUC__)
#    define MMOE__PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#    define MMOE__PRINTF(a, b)
#endif

/*
 * Marks an element-wise kernel to be compiled for several vector widths,
 * the best one chosen when the library loads (see meson.build).
 */
#if defined(MMOE_HAVE_TARGET_CLONES)
#    define MMOE__VECTORIZED __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#    define MMOE__VECTORIZED
#endif

/*
 * Record a failure: formats "func: message" into errbuf (MMOE__ERRLEN bytes,
 * may be NULL) and into this thread's last-error buffer, then returns status.
 * Only public names (mmoe_...) are written: a message recorded in an
 * internal helper (mmoe__..., static functions) has no prefix, so users
 * never see internal function names; public functions that pass on a
 * helper's message add their own name.
 */
mmoe_status mmoe__fail(char *errbuf, mmoe_status status, const char *func, const char *fmt, ...)
    MMOE__PRINTF(4, 5);

/* Copy an inner handle's message (already recorded) into errbuf. */
mmoe_status mmoe__forward(char *errbuf, mmoe_status status);

/* Clear errbuf (called at the start of a successful public call). */
void mmoe__clear(char *errbuf);

#define MMOE_FAIL(errbuf, status, ...) mmoe__fail((errbuf), (status), __func__, __VA_ARGS__)

/* Allocation: every library allocation goes through these. */
void *mmoe__malloc(size_t n);
void *mmoe__calloc(size_t count, size_t size);
void mmoe__free(void *p);

#if defined(MMOE_ALLOC_FAIL_HOOK)
/* Test builds only: make allocation n+1 and all later ones fail (n < 0: never). */
void mmoe__alloc_fail_after(long n);
#endif

/* Overflow-checked size arithmetic: return 0 on success, -1 on overflow. */
static inline int mmoe__mul(size_t a, size_t b, size_t *out)
{
    if (a != 0 && b > SIZE_MAX / a)
        return -1;
    *out = a * b;
    return 0;
}

static inline int mmoe__add(size_t a, size_t b, size_t *out)
{
    if (b > SIZE_MAX - a)
        return -1;
    *out = a + b;
    return 0;
}

/* Largest element count we accept for one buffer (2^40 floats = 4 TiB). */
#define MMOE__MAX_ELEMS ((size_t)1 << 40)

/*
 * Most floats one model may hold in each of its buffers (parameters,
 * statistics): 2^34, 64 GiB of float32. Descriptions beyond it fail with
 * MMOE_ERR_OVERFLOW before anything is allocated (include/mmoe/model.h).
 */
#define MMOE__MAX_MODEL_FLOATS ((size_t)1 << 34)

/* Nonzero when every one of n values is finite. */
int mmoe__all_finite(const float *x, size_t n);

#endif /* MMOE_INTERNAL_H */
