/*
 * Private: splitting a delimited-text record into fields by a schema's
 * rules, and reading one field as a dense value, a label or a weight. The
 * same code serves fitting and applying, so both read a record alike.
 */
#ifndef MMOE_FIELDS_H
#define MMOE_FIELDS_H

#include <stddef.h>

#include "schema_impl.h"

typedef struct mmoe__span {
    const char *p;
    size_t len;
} mmoe__span;

/*
 * Split rec[0..len) into fields: spans [cap] receive the first cap fields
 * (trimmed, unquoted), *n the number of fields in the record. Quoted
 * fields holding doubled quotes are unescaped into scratch (len bytes
 * suffice). Returns 0, or -1 on bad quoting with *bad the 0-based field
 * and *why the reason.
 */
int mmoe__split(const mmoe_schema *s, const char *rec, size_t len, mmoe__span *sp, size_t cap,
                char *scratch, size_t *n, size_t *bad, const char **why);

/* Trim a span in place by the schema's trim rule. */
mmoe__span mmoe__trim(const mmoe_schema *s, mmoe__span v);

/* A finite number ([+-]digits[.digits][e[+-]digits], also ".5", "5."); 0 on success. */
int mmoe__span_number(mmoe__span v, double *out);

/* Dense value after log1p (not standardised); *missing set for empty/missing values. */
int mmoe__dense_raw(const mmoe_schema *s, const mmoe__feature *f, mmoe__span v, double *out,
                    int *missing, const char **why);

/* Label value (binary 0/1, regression number). 0, or -1 with *why. */
int mmoe__label_value(const mmoe__feature *f, mmoe__span v, float *out, const char **why);

/* Sample weight, finite and >= 0. 0, or -1 with *why. */
int mmoe__weight_value(mmoe__span v, float *out, const char **why);

/* Next non-empty piece of a multi field at *pos (trimmed); 0 when none is left. */
int mmoe__next_piece(const mmoe_schema *s, const mmoe__feature *f, mmoe__span field, size_t *pos,
                     mmoe__span *piece);

#endif
