/*
 * Private hash map from byte strings to dense indices 0..n-1 (insertion
 * order), with a 64-bit count per entry. Lookups only read the map, so a
 * finished map may be searched from many threads at once.
 */
#ifndef MMOE_STRMAP_H
#define MMOE_STRMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct mmoe__strent {
    size_t off, len; /* key bytes at arena + off */
    uint64_t count;
} mmoe__strent;

typedef struct mmoe__strmap {
    char *arena;
    size_t arena_len, arena_cap;
    mmoe__strent *ent;
    size_t n, ent_cap;
    uint32_t *slot; /* entry index + 1, 0 = empty; cap a power of two */
    size_t slot_cap;
} mmoe__strmap;

/* FNV-1a, 64-bit, of s[0..len): the documented hash of hashed features. */
uint64_t mmoe__fnv1a(const char *s, size_t len);

void mmoe__strmap_free(mmoe__strmap *m);

/* Index of s, or -1 when absent. */
long mmoe__strmap_find(const mmoe__strmap *m, const char *s, size_t len);

/*
 * Index of s, inserted with count 0 if new; count += add. Returns -1 out of
 * memory, -2 when the map already holds 2^31 - 1 entries.
 */
long mmoe__strmap_add(mmoe__strmap *m, const char *s, size_t len, uint64_t add);

/* Key of entry i. */
static inline const char *mmoe__strmap_key(const mmoe__strmap *m, size_t i, size_t *len)
{
    *len = m->ent[i].len;
    return m->arena + m->ent[i].off;
}

/* Bytes the map holds. */
size_t mmoe__strmap_bytes(const mmoe__strmap *m);

#endif
