/* Byte-string hash map with insertion-order indices; see strmap.h. */
#include "strmap.h"

#include <string.h>

#include "internal.h"

#define STRMAP_MAX 0x7fffffffu

uint64_t mmoe__fnv1a(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

void mmoe__strmap_free(mmoe__strmap *m)
{
    if (!m)
        return;
    mmoe__free(m->arena);
    mmoe__free(m->ent);
    mmoe__free(m->slot);
    memset(m, 0, sizeof *m);
}

long mmoe__strmap_find(const mmoe__strmap *m, const char *s, size_t len)
{
    if (m->slot_cap == 0)
        return -1;
    size_t mask = m->slot_cap - 1;
    size_t h = (size_t)mmoe__fnv1a(s, len) & mask;
    for (;;) {
        uint32_t v = m->slot[h];
        if (!v)
            return -1;
        const mmoe__strent *e = &m->ent[v - 1];
        if (e->len == len && memcmp(m->arena + e->off, s, len) == 0)
            return (long)(v - 1);
        h = (h + 1) & mask;
    }
}

static int rehash(mmoe__strmap *m, size_t cap)
{
    uint32_t *slot = mmoe__calloc(cap, sizeof *slot);
    if (!slot)
        return -1;
    for (size_t i = 0; i < m->n; i++) {
        size_t h = (size_t)mmoe__fnv1a(m->arena + m->ent[i].off, m->ent[i].len) & (cap - 1);
        while (slot[h])
            h = (h + 1) & (cap - 1);
        slot[h] = (uint32_t)i + 1;
    }
    mmoe__free(m->slot);
    m->slot = slot;
    m->slot_cap = cap;
    return 0;
}

/* Grow a buffer of elem-sized items to hold need items. */
static int grow(void **p, size_t *cap, size_t need, size_t elem, size_t used)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : 64;
    while (c < need)
        if (mmoe__mul(c, 2, &c))
            return -1;
    size_t bytes;
    if (mmoe__mul(c, elem, &bytes))
        return -1;
    void *np = mmoe__malloc(bytes);
    if (!np)
        return -1;
    if (used)
        memcpy(np, *p, used * elem);
    mmoe__free(*p);
    *p = np;
    *cap = c;
    return 0;
}

long mmoe__strmap_add(mmoe__strmap *m, const char *s, size_t len, uint64_t add)
{
    long i = mmoe__strmap_find(m, s, len);
    if (i >= 0) {
        m->ent[i].count += add;
        return i;
    }
    if (m->n >= STRMAP_MAX)
        return -2;
    size_t need_arena;
    if (mmoe__add(m->arena_len, len, &need_arena))
        return -1;
    if (grow((void **)&m->arena, &m->arena_cap, need_arena ? need_arena : 1, 1, m->arena_len) ||
        grow((void **)&m->ent, &m->ent_cap, m->n + 1, sizeof *m->ent, m->n))
        return -1;
    if (2 * (m->n + 1) > m->slot_cap && rehash(m, m->slot_cap ? 2 * m->slot_cap : 64) != 0)
        return -1;
    if (len)
        memcpy(m->arena + m->arena_len, s, len);
    mmoe__strent *e = &m->ent[m->n];
    e->off = m->arena_len;
    e->len = len;
    e->count = add;
    m->arena_len += len;
    size_t mask = m->slot_cap - 1;
    size_t h = (size_t)mmoe__fnv1a(s, len) & mask;
    while (m->slot[h])
        h = (h + 1) & mask;
    m->slot[h] = (uint32_t)m->n + 1;
    return (long)m->n++;
}

size_t mmoe__strmap_bytes(const mmoe__strmap *m)
{
    return m->arena_cap + m->ent_cap * sizeof *m->ent + m->slot_cap * sizeof *m->slot;
}
