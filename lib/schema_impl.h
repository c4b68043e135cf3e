/*
 * Private layout of a feature schema and of its fitted form (the fitted
 * transformation uses the same structure with the statistics and
 * vocabularies filled in). Shared by schema.c, fit.c, transform.c,
 * fields.c and transform_text.c.
 */
#ifndef MMOE_SCHEMA_IMPL_H
#define MMOE_SCHEMA_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "internal.h"
#include "mmoe/schema.h"
#include "strmap.h"

#define MMOE__MAX_COLUMN 1000000u    /* highest column number a schema may name */
#define MMOE__MAX_FEATURES 4096u     /* statements of one schema */
#define MMOE__SCHEMA_MAX_SPARSE 256u /* categorical + multi (the model's input.sparse) */
#define MMOE__MAX_SLOTS 1024u
#define MMOE__SCHEMA_NAME_MAX 63u

typedef struct mmoe__feature {
    mmoe_feature_kind kind;
    char name[MMOE__SCHEMA_NAME_MAX + 1];
    size_t column; /* 0-based field index; SIZE_MAX until a header resolves it */
    char *colname; /* header name the schema used, or NULL */
    size_t colname_len;
    /* dense */
    int log1p, standardize;
    double mean, sd; /* fitted (standardize) */
    /* categorical, multi */
    uint64_t min_count; /* vocabulary: values seen >= min_count times */
    uint64_t max_vocab; /* 0 = no limit */
    uint64_t hash;      /* > 0: hash into this many buckets, no vocabulary */
    size_t dim;         /* embedding width */
    size_t slots;       /* ids per row: 1 (categorical) or the bag size (multi) */
    char sep;           /* multi: value separator inside the field */
    int pool_sum;       /* multi: 1 sum, 0 mean */
    mmoe__strmap vocab; /* fitted: known value i has id i + 1; id 0 = unknown */
    /* binary */
    mmoe__strmap positive; /* positive values, or empty */
    int has_threshold;
    double threshold;
    /* position in the outputs: dense column, first id column, task or sparse index */
    size_t out;
    size_t sparse_index;
} mmoe__feature;

struct mmoe_schema {
    char delim;
    char quote; /* 0: quoting off */
    int header, trim;
    size_t fields; /* exact fields per record, 0 = not checked */
    size_t emb_dim;
    mmoe__strmap missing; /* dense values read as missing */
    mmoe__feature *f;
    size_t n, cap;
    /* derived by mmoe__schema_finish */
    size_t n_dense, n_sparse, n_ids, n_labels;
    long weight;       /* feature index of the weight, -1 none */
    size_t min_fields; /* highest column used + 1 (once resolved) */
    int resolved;      /* every column is an index */
    /* fitted */
    int fitted;
    uint64_t rows;
    char err[MMOE__ERRLEN];
};

/* Free everything a schema owns (not the struct). */
void mmoe__schema_clear(mmoe_schema *s);

/* Deep copy into a new schema. */
mmoe_status mmoe__schema_clone(const mmoe_schema *s, mmoe_schema **out);

/*
 * Parse a schema (fitted 0: "mmoe-schema 1") or a fitted transformation
 * (fitted 1: "mmoe-transform 1") into a new schema. Errors name the line.
 */
mmoe_status mmoe__schema_parse(const char *text, size_t len, int fitted, const char *func,
                               mmoe_schema **out);

/* Text form (schema or fitted form, by s->fitted). */
mmoe_status mmoe__schema_write(const mmoe_schema *s, char **out, size_t *len);

/* Recompute the derived counts and output positions. */
void mmoe__schema_layout(mmoe_schema *s);

/* Model vocabulary of a sparse feature: hash buckets, or known values + 1. */
static inline size_t mmoe__feature_vocab(const mmoe__feature *f)
{
    return f->hash ? (size_t)f->hash : f->vocab.n + 1;
}

static inline int mmoe__feature_is_sparse(const mmoe__feature *f)
{
    return f->kind == MMOE_FEATURE_CATEGORICAL || f->kind == MMOE_FEATURE_MULTI;
}

static inline int mmoe__feature_is_label(const mmoe__feature *f)
{
    return f->kind == MMOE_FEATURE_BINARY || f->kind == MMOE_FEATURE_REGRESSION;
}

/* Read a whole file of at most limit bytes; *buf is NUL-terminated, freed with mmoe__free. */
mmoe_status mmoe__read_small_file(const char *path, size_t limit, const char *func, char **buf,
                                  size_t *len);

#endif
