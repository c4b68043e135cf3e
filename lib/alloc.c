/* The single allocation entry point of the library. */
#include <stdlib.h>

#include "internal.h"

#if defined(MMOE_ALLOC_FAIL_HOOK)
/*
 * Failure injection for the allocation-failure tests only: the build of the
 * internal test library defines MMOE_ALLOC_FAIL_HOOK; the shipped library
 * has no such state. After mmoe__alloc_fail_after(n), the n+1-th allocation
 * and every later one fail until the hook is reset with -1.
 */
static long fail_after = -1;

void mmoe__alloc_fail_after(long n)
{
    fail_after = n;
}

static int injected_failure(void)
{
    if (fail_after < 0)
        return 0;
    if (fail_after == 0)
        return 1;
    fail_after--;
    return 0;
}
#else
static int injected_failure(void)
{
    return 0;
}
#endif

void *mmoe__malloc(size_t n)
{
    if (injected_failure())
        return NULL;
    return malloc(n ? n : 1);
}

void *mmoe__calloc(size_t count, size_t size)
{
    if (injected_failure())
        return NULL;
    if (count == 0 || size == 0)
        return calloc(1, 1);
    return calloc(count, size);
}

void mmoe__free(void *p)
{
    free(p);
}
