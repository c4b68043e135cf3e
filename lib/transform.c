/*
 * Fitted transformations: lifetime, text form, queries, header checks and
 * applying one record or a batch (the per-row path reads only the
 * transformation and writes only the caller's workspace and outputs).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "transform_impl.h"

mmoe_status mmoe__transform_wrap(mmoe_schema *s, mmoe_transform **out)
{
    mmoe_transform *tf = mmoe__calloc(1, sizeof *tf);
    if (!tf) {
        mmoe_schema_free(s);
        return MMOE_FAIL(NULL, MMOE_ERR_NOMEM, "out of memory");
    }
    mmoe__schema_layout(s);
    tf->s = s;
    for (size_t i = 0; i < s->n; i++) {
        const mmoe__feature *f = &s->f[i];
        size_t need = f->column + 1;
        if (need > tf->need_all)
            tf->need_all = need;
        if (!mmoe__feature_is_label(f) && f->kind != MMOE_FEATURE_WEIGHT && need > tf->need_inputs)
            tf->need_inputs = need;
    }
    *out = tf;
    return MMOE_OK;
}

void mmoe_transform_free(mmoe_transform *tf)
{
    if (!tf)
        return;
    mmoe_schema_free(tf->s);
    mmoe__free(tf);
}

mmoe_status mmoe_transform_clone(const mmoe_transform *tf, mmoe_transform **out)
{
    if (!out)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "out is NULL");
    *out = NULL;
    if (!tf)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "tf is NULL");
    mmoe_schema *s;
    mmoe_status st = mmoe__schema_clone(tf->s, &s);
    if (st != MMOE_OK)
        return st;
    return mmoe__transform_wrap(s, out);
}

mmoe_status mmoe_transform_to_string(const mmoe_transform *tf, char **out)
{
    if (!tf || !out)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "%s is NULL", tf ? "out" : "tf");
    size_t len;
    return mmoe__schema_write(tf->s, out, &len);
}

mmoe_status mmoe_transform_parse(const char *text, size_t len, mmoe_transform **out)
{
    if (!out)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "out is NULL");
    *out = NULL;
    if (!text && len)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "text is NULL");
    mmoe_schema *s;
    mmoe_status st = mmoe__schema_parse(text ? text : "", len, 1, __func__, &s);
    if (st != MMOE_OK)
        return st;
    return mmoe__transform_wrap(s, out);
}

const mmoe_schema *mmoe_transform_schema(const mmoe_transform *tf)
{
    return tf ? tf->s : NULL;
}

size_t mmoe_transform_dense_dim(const mmoe_transform *tf)
{
    return tf ? (tf->s->n_dense ? tf->s->n_dense : 1) : 0;
}

size_t mmoe_transform_num_ids(const mmoe_transform *tf)
{
    return tf ? tf->s->n_ids : 0;
}

size_t mmoe_transform_num_labels(const mmoe_transform *tf)
{
    return tf ? tf->s->n_labels : 0;
}

uint64_t mmoe_transform_rows(const mmoe_transform *tf)
{
    return tf ? tf->s->rows : 0;
}

size_t mmoe_transform_vocab_size(const mmoe_transform *tf, size_t k)
{
    if (!tf)
        return 0;
    for (size_t i = 0; i < tf->s->n; i++) {
        const mmoe__feature *f = &tf->s->f[i];
        if (mmoe__feature_is_sparse(f) && f->sparse_index == k)
            return mmoe__feature_vocab(f);
    }
    return 0;
}

mmoe_status mmoe_transform_check_header(const mmoe_transform *tf, const char *record, size_t len)
{
    if (!tf || (!record && len))
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "%s is NULL", tf ? "record" : "tf");
    const mmoe_schema *s = tf->s;
    size_t nf = 0, bad = 0;
    const char *why = NULL;
    char *scratch = mmoe__malloc(len ? len : 1);
    if (!scratch)
        return MMOE_FAIL(NULL, MMOE_ERR_NOMEM, "out of memory");
    if (mmoe__split(s, record ? record : "", len, NULL, 0, scratch, &nf, &bad, &why) != 0) {
        mmoe__free(scratch);
        return MMOE_FAIL(NULL, MMOE_ERR_FORMAT, "header, column %zu: %s", bad + 1, why);
    }
    mmoe__span *sp = mmoe__calloc(nf ? nf : 1, sizeof *sp);
    if (!sp) {
        mmoe__free(scratch);
        return MMOE_FAIL(NULL, MMOE_ERR_NOMEM, "out of memory");
    }
    mmoe_status st = MMOE_OK;
    if (mmoe__split(s, record ? record : "", len, sp, nf, scratch, &nf, &bad, &why) != 0) {
        st = MMOE_FAIL(NULL, MMOE_ERR_FORMAT, "header, column %zu: %s", bad + 1, why);
    } else {
        for (size_t i = 0; i < s->n && st == MMOE_OK; i++) {
            const mmoe__feature *f = &s->f[i];
            if (!f->colname)
                continue;
            if (f->column >= nf && (mmoe__feature_is_label(f) || f->kind == MMOE_FEATURE_WEIGHT))
                continue; /* serving data may end before the label columns */
            if (f->column >= nf)
                st = MMOE_FAIL(NULL, MMOE_ERR_FORMAT,
                               "header has %zu fields; '%.60s' was column %zu", nf, f->colname,
                               f->column + 1);
            else if (sp[f->column].len != f->colname_len ||
                     memcmp(sp[f->column].p, f->colname, f->colname_len) != 0)
                st =
                    MMOE_FAIL(NULL, MMOE_ERR_FORMAT,
                              "header column %zu is '%.*s', the training data had '%.60s'",
                              f->column + 1, (int)(sp[f->column].len < 60 ? sp[f->column].len : 60),
                              sp[f->column].p, f->colname);
        }
    }
    mmoe__free(scratch);
    mmoe__free(sp);
    return st;
}

/* ---- workspaces --------------------------------------------------------- */

#define DEFAULT_MAX_RECORD ((size_t)1 << 20)

mmoe_status mmoe_transform_workspace_create(const mmoe_transform *tf, size_t max_record,
                                            mmoe_transform_workspace **out)
{
    if (!out)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "out is NULL");
    *out = NULL;
    if (!tf)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "tf is NULL");
    if (max_record == 0)
        max_record = DEFAULT_MAX_RECORD;
    mmoe_transform_workspace *ws = mmoe__calloc(1, sizeof *ws);
    if (!ws)
        return MMOE_FAIL(NULL, MMOE_ERR_NOMEM, "out of memory");
    ws->tf = tf;
    ws->ncols = tf->need_all;
    ws->max_record = max_record;
    ws->sp = mmoe__calloc(ws->ncols ? ws->ncols : 1, sizeof *ws->sp);
    ws->scratch = mmoe__malloc(max_record);
    if (!ws->sp || !ws->scratch) {
        mmoe_transform_workspace_free(ws);
        return MMOE_FAIL(NULL, MMOE_ERR_NOMEM, "out of memory (workspace of %zu bytes)",
                         max_record);
    }
    *out = ws;
    return MMOE_OK;
}

void mmoe_transform_workspace_free(mmoe_transform_workspace *ws)
{
    if (!ws)
        return;
    mmoe__free(ws->sp);
    mmoe__free(ws->scratch);
    mmoe__free(ws);
}

const char *mmoe_transform_workspace_last_error(const mmoe_transform_workspace *ws)
{
    return ws ? ws->err : "";
}

mmoe_status mmoe_transform_workspace_error_at(const mmoe_transform_workspace *ws, uint64_t *line,
                                              size_t *column)
{
    if (!ws)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "ws is NULL");
    if (!ws->have_bad)
        return MMOE_FAIL(NULL, MMOE_ERR_STATE, "no malformed record yet");
    if (line)
        *line = ws->bad_line;
    if (column)
        *column = ws->bad_column;
    return MMOE_OK;
}

/* ---- applying ----------------------------------------------------------- */

/* Record a malformed record on ws: line, column (1-based, 0 = whole record). */
static mmoe_status malformed(mmoe_transform_workspace *ws, uint64_t line, size_t column,
                             const char *what, const char *why, mmoe__span v)
{
    ws->have_bad = 1;
    ws->bad_line = line;
    ws->bad_column = column;
    if (column && v.p)
        return MMOE_FAIL(ws->err, MMOE_ERR_FORMAT, "line %llu, column %zu (%s): %s '%.*s'",
                         (unsigned long long)line, column, what, why,
                         (int)(v.len < 40 ? v.len : 40), v.p);
    if (column)
        return MMOE_FAIL(ws->err, MMOE_ERR_FORMAT, "line %llu, column %zu: %s",
                         (unsigned long long)line, column, why);
    return MMOE_FAIL(ws->err, MMOE_ERR_FORMAT, "line %llu: %s", (unsigned long long)line, why);
}

static int64_t sparse_id(const mmoe__feature *f, mmoe__span v)
{
    if (f->hash)
        return (int64_t)(mmoe__fnv1a(v.p, v.len) % f->hash);
    long i = mmoe__strmap_find(&f->vocab, v.p, v.len);
    return i < 0 ? 0 : (int64_t)i + 1;
}

/* The record's fields are in ws->sp (nf of them). */
static mmoe_status apply(const mmoe_transform *tf, mmoe_transform_workspace *ws, size_t nf,
                         uint64_t line, float *x, int64_t *ids, float *labels, float *weight)
{
    const mmoe_schema *s = tf->s;
    const int want_targets = labels || weight;
    size_t need = want_targets ? tf->need_all : tf->need_inputs;
    /* serving records (no labels asked for) may end before the label columns */
    if (s->fields && (want_targets ? nf != s->fields : nf > s->fields)) {
        char why[96];
        snprintf(why, sizeof why, "%zu fields, expected %zu", nf, s->fields);
        return malformed(ws, line, 0, NULL, why, (mmoe__span){NULL, 0});
    }
    if (nf < need) {
        char why[96];
        snprintf(why, sizeof why, "%zu fields, expected at least %zu", nf, need);
        return malformed(ws, line, 0, NULL, why, (mmoe__span){NULL, 0});
    }
    if (s->n_dense == 0)
        x[0] = 0.0f;
    if (weight)
        *weight = 1.0f;
    for (size_t i = 0; i < s->n; i++) {
        const mmoe__feature *f = &s->f[i];
        const char *why = NULL;
        mmoe__span v;
        switch (f->kind) {
        case MMOE_FEATURE_DENSE: {
            v = ws->sp[f->column];
            double d;
            int missing;
            if (mmoe__dense_raw(s, f, v, &d, &missing, &why) != 0)
                return malformed(ws, line, f->column + 1, f->name, why, v);
            if (missing)
                x[f->out] = 0.0f;
            else
                x[f->out] = f->standardize ? (float)((d - f->mean) / f->sd) : (float)d;
            if (!isfinite(x[f->out]))
                return malformed(ws, line, f->column + 1, f->name, "value out of float range", v);
            break;
        }
        case MMOE_FEATURE_CATEGORICAL:
            v = ws->sp[f->column];
            ids[f->out] = sparse_id(f, v);
            break;
        case MMOE_FEATURE_MULTI: {
            v = ws->sp[f->column];
            size_t pos = 0, k = 0;
            mmoe__span piece;
            while (k < f->slots && mmoe__next_piece(s, f, v, &pos, &piece))
                ids[f->out + k++] = sparse_id(f, piece);
            for (; k < f->slots; k++)
                ids[f->out + k] = -1;
            break;
        }
        case MMOE_FEATURE_BINARY:
        case MMOE_FEATURE_REGRESSION:
            if (!labels)
                break;
            v = ws->sp[f->column];
            if (mmoe__label_value(f, v, &labels[f->out], &why) != 0)
                return malformed(ws, line, f->column + 1, f->name, why, v);
            break;
        case MMOE_FEATURE_WEIGHT:
            if (!weight)
                break;
            v = ws->sp[f->column];
            if (mmoe__weight_value(v, weight, &why) != 0)
                return malformed(ws, line, f->column + 1, "weight", why, v);
            break;
        }
    }
    return MMOE_OK;
}

static mmoe_status check_args(const mmoe_transform *tf, mmoe_transform_workspace *ws,
                              const float *x, const int64_t *ids)
{
    if (!tf || !ws || !x || (!ids && tf->s->n_ids))
        return MMOE_FAIL(ws ? ws->err : NULL, MMOE_ERR_NULL, "%s is NULL",
                         !tf   ? "tf"
                         : !ws ? "ws"
                         : !x  ? "x"
                               : "ids");
    if (ws->tf != tf)
        return MMOE_FAIL(ws->err, MMOE_ERR_INVALID_ARG,
                         "the workspace belongs to another transformation");
    return MMOE_OK;
}

static mmoe_status line_into(const mmoe_transform *tf, mmoe_transform_workspace *ws,
                             const char *record, size_t len, uint64_t line, float *x, int64_t *ids,
                             float *labels, float *weight)
{
    if (!record && len)
        return MMOE_FAIL(ws->err, MMOE_ERR_NULL, "record is NULL");
    if (len > ws->max_record) {
        char why[112];
        snprintf(why, sizeof why, "record of %zu bytes, longer than the workspace's %zu", len,
                 ws->max_record);
        return malformed(ws, line, 0, NULL, why, (mmoe__span){NULL, 0});
    }
    size_t nf = 0, bad = 0;
    const char *why = NULL;
    if (mmoe__split(tf->s, record ? record : "", len, ws->sp, ws->ncols, ws->scratch, &nf, &bad,
                    &why) != 0)
        return malformed(ws, line, bad + 1, NULL, why, (mmoe__span){NULL, 0});
    return apply(tf, ws, nf, line, x, ids, labels, weight);
}

mmoe_status mmoe_transform_line(const mmoe_transform *tf, mmoe_transform_workspace *ws,
                                const char *record, size_t len, uint64_t line, float *x,
                                int64_t *ids, float *labels, float *weight)
{
    mmoe_status st = check_args(tf, ws, x, ids);
    if (st != MMOE_OK)
        return st;
    st = line_into(tf, ws, record, len, line, x, ids, labels, weight);
    if (st == MMOE_OK)
        mmoe__clear(ws->err);
    return st;
}

mmoe_status mmoe_transform_fields(const mmoe_transform *tf, mmoe_transform_workspace *ws, size_t n,
                                  const char *const *fields, const size_t *lens, uint64_t line,
                                  float *x, int64_t *ids, float *labels, float *weight)
{
    mmoe_status st = check_args(tf, ws, x, ids);
    if (st != MMOE_OK)
        return st;
    if (n && (!fields || !lens))
        return MMOE_FAIL(ws->err, MMOE_ERR_NULL, "%s is NULL", fields ? "lens" : "fields");
    for (size_t i = 0; i < n && i < ws->ncols; i++) {
        if (!fields[i] && lens[i])
            return MMOE_FAIL(ws->err, MMOE_ERR_NULL, "field %zu is NULL", i);
        ws->sp[i] = mmoe__trim(tf->s, (mmoe__span){fields[i] ? fields[i] : "", lens[i]});
    }
    st = apply(tf, ws, n, line, x, ids, labels, weight);
    if (st == MMOE_OK)
        mmoe__clear(ws->err);
    return st;
}

mmoe_status mmoe_transform_lines(const mmoe_transform *tf, mmoe_transform_workspace *ws,
                                 size_t batch, const char *const *lines, const size_t *lens,
                                 const uint64_t *numbers, mmoe_malformed policy, float *x,
                                 int64_t *ids, float *labels, float *weights, size_t *kept,
                                 size_t *n_out, size_t *n_skipped)
{
    if (n_out)
        *n_out = 0;
    if (n_skipped)
        *n_skipped = 0;
    mmoe_status st = check_args(tf, ws, x, ids);
    if (st != MMOE_OK)
        return st;
    if (batch && (!lines || !lens))
        return MMOE_FAIL(ws->err, MMOE_ERR_NULL, "%s is NULL", lines ? "lens" : "lines");
    if (!n_out)
        return MMOE_FAIL(ws->err, MMOE_ERR_NULL, "n_out is NULL");
    if (policy != MMOE_MALFORMED_FAIL && policy != MMOE_MALFORMED_SKIP)
        return MMOE_FAIL(ws->err, MMOE_ERR_INVALID_ARG, "unknown malformed-record policy %d",
                         (int)policy);
    const size_t D = mmoe_transform_dense_dim(tf), I = tf->s->n_ids, T = tf->s->n_labels;
    size_t j = 0, skipped = 0;
    mmoe__clear(ws->err);
    for (size_t r = 0; r < batch; r++) {
        uint64_t line = numbers ? numbers[r] : (uint64_t)r + 1;
        st = line_into(tf, ws, lines[r], lens[r], line, x + j * D, I ? ids + j * I : NULL,
                       labels ? labels + j * T : NULL, weights ? weights + j : NULL);
        if (st == MMOE_ERR_FORMAT && policy == MMOE_MALFORMED_SKIP) {
            skipped++;
            continue;
        }
        if (st != MMOE_OK) {
            *n_out = j;
            if (n_skipped)
                *n_skipped = skipped;
            return st;
        }
        if (kept)
            kept[j] = r;
        j++;
    }
    *n_out = j;
    if (n_skipped)
        *n_skipped = skipped;
    return MMOE_OK;
}
