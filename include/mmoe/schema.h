/*
 * libmmoe - feature schemas for delimited text (CSV, TSV).
 *
 * A schema says how the columns of a delimited text file become a model's
 * inputs and labels. It is a small text file (docs/data.md has the full
 * reference):
 *
 *     mmoe-schema 1
 *     delimiter ","            # one byte; "\t" for TSV [","]
 *     quote "\""               # quote character, or none ["\""]
 *     header no                # yes: the first record names the columns [no]
 *     trim yes                 # strip blanks around every field [yes]
 *     missing "?" ""           # dense values read as missing
 *     embedding_dim 8          # default embedding width [8]
 *
 *     dense      age     1   standardize
 *     dense      gains   17  log1p standardize
 *     categorical job    2   min_count=5 dim=4
 *     categorical zip    3   hash=100000
 *     multi      tags    4   separator="|" slots=8 pooling=mean min_count=2
 *     binary     income  42  positive="50000+."
 *     binary     click   6   threshold=0.5
 *     regression watch   5
 *     weight     25
 *
 * Columns are 1-based field numbers, or header names when `header yes`.
 * Statements: dense (a float input: optional log1p, standardisation with
 * training mean and standard deviation), categorical (one id: a vocabulary
 * of the training values seen at least min_count times, at most max_vocab
 * of them, unknown values id 0; or hash=N buckets), multi (several values
 * in one field split at a separator: a bag of at most `slots` ids, pooled
 * by mean or sum), binary and regression (task labels, in order: the
 * model's tasks), weight (an optional sample-weight column).
 *
 * A schema is only a description; mmoe/transform.h fits it on training
 * data into the transformation a model stores and applies.
 *
 * Thread safety: a schema is immutable after parsing; any number of
 * threads may read one at once.
 */
#ifndef MMOE_SCHEMA_H
#define MMOE_SCHEMA_H

#include <stddef.h>

#include "mmoe/export.h"
#include "mmoe/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Version of the schema text this library reads and writes ("mmoe-schema 1"). */
#define MMOE_SCHEMA_FORMAT_VERSION 1

/** Kinds of schema statements. Values are stable. */
typedef enum mmoe_feature_kind {
    MMOE_FEATURE_DENSE = 0,       /**< one float input */
    MMOE_FEATURE_CATEGORICAL = 1, /**< one id (vocabulary or hash) */
    MMOE_FEATURE_MULTI = 2,       /**< a bag of ids from one field */
    MMOE_FEATURE_BINARY = 3,      /**< a binary task label */
    MMOE_FEATURE_REGRESSION = 4,  /**< a regression task label */
    MMOE_FEATURE_WEIGHT = 5       /**< the sample weight */
} mmoe_feature_kind;

/** Opaque, immutable schema. */
typedef struct mmoe_schema mmoe_schema;

/**
 * Parse a schema from len bytes of text (need not be NUL-terminated).
 * @return MMOE_OK; MMOE_ERR_NULL; MMOE_ERR_VERSION (first statement names
 *         a newer format); MMOE_ERR_CONFIG (syntax error, unknown
 *         statement or option, bad value, duplicate name, no label, header
 *         names without `header yes`, ...: mmoe_last_error() names the
 *         line); MMOE_ERR_NOMEM. *out is NULL on failure.
 * Ownership: the caller frees *out with mmoe_schema_free.
 * Thread safety: safe from any thread.
 */
MMOE_API mmoe_status mmoe_schema_parse(const char *text, size_t len, mmoe_schema **out);

/**
 * Read and parse a schema file.
 * @return as mmoe_schema_parse; MMOE_ERR_IO (cannot read path).
 */
MMOE_API mmoe_status mmoe_schema_load(const char *path, mmoe_schema **out);

/** Free a schema. NULL is a no-op. */
MMOE_API void mmoe_schema_free(mmoe_schema *schema);

/**
 * Canonical text of the schema (parses back to the same schema).
 * @param out  receives a NUL-terminated string; free with mmoe_string_free
 * @return MMOE_OK; MMOE_ERR_NULL; MMOE_ERR_NOMEM.
 */
MMOE_API mmoe_status mmoe_schema_to_string(const mmoe_schema *schema, char **out);

/** Number of statements (features, labels, weight); 0 for NULL. */
MMOE_API size_t mmoe_schema_num_features(const mmoe_schema *schema);

/**
 * Statement i: its kind, name ("" for the weight) and 1-based column
 * (0 when the column is a header name not yet resolved). Out pointers may
 * be NULL; the name belongs to the schema.
 * @return MMOE_OK; MMOE_ERR_NULL; MMOE_ERR_RANGE (i too large).
 */
MMOE_API mmoe_status mmoe_schema_feature(const mmoe_schema *schema, size_t i,
                                         mmoe_feature_kind *kind, const char **name,
                                         size_t *column);

/** 1 when records start with a header record (`header yes`), 0 otherwise or for NULL. */
MMOE_API int mmoe_schema_has_header(const mmoe_schema *schema);

#ifdef __cplusplus
}
#endif

#endif /* MMOE_SCHEMA_H */
