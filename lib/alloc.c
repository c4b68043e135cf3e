/* The single allocation entry point of the library. */
#include <stdlib.h>

#include "internal.h"

void *mmoe__malloc(size_t n)
{
    return malloc(n ? n : 1);
}

void *mmoe__calloc(size_t count, size_t size)
{
    if (count == 0 || size == 0)
        return calloc(1, 1);
    return calloc(count, size);
}

void mmoe__free(void *p)
{
    free(p);
}
