/*
 * Fitting a schema on training records: the running mean and variance of
 * every standardised dense feature (Welford's update, in double) and the
 * value counts of every vocabulary feature; finishing turns them into a
 * fitted transformation. Memory grows with the number of distinct
 * categorical values, not with the number of records.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "transform_impl.h"

typedef struct welford {
    uint64_t n;
    double mean, m2;
} welford;

struct mmoe_fit {
    mmoe_schema *s;
    welford *w;          /* [s->n] */
    mmoe__strmap *count; /* [s->n] value counts of vocabulary features */
    double *dense;       /* [s->n] a record's dense values before committing */
    unsigned char *miss; /* [s->n] */
    mmoe__span *sp;      /* [ncols] */
    size_t ncols;
    char *scratch;
    size_t scratch_cap;
    uint64_t rows;
    char err[MMOE__ERRLEN];
};

void mmoe_fit_free(mmoe_fit *fit)
{
    if (!fit)
        return;
    if (fit->count)
        for (size_t i = 0; i < fit->s->n; i++)
            mmoe__strmap_free(&fit->count[i]);
    mmoe__free(fit->count);
    mmoe__free(fit->w);
    mmoe__free(fit->dense);
    mmoe__free(fit->miss);
    mmoe__free(fit->sp);
    mmoe__free(fit->scratch);
    mmoe_schema_free(fit->s);
    mmoe__free(fit);
}

static mmoe_status alloc_spans(mmoe_fit *fit, size_t ncols)
{
    mmoe__span *sp = mmoe__calloc(ncols ? ncols : 1, sizeof *sp);
    if (!sp)
        return MMOE_FAIL(fit->err, MMOE_ERR_NOMEM, "out of memory");
    mmoe__free(fit->sp);
    fit->sp = sp;
    fit->ncols = ncols;
    return MMOE_OK;
}

mmoe_status mmoe_fit_create(const mmoe_schema *schema, mmoe_fit **out)
{
    if (!out)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "out is NULL");
    *out = NULL;
    if (!schema)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "schema is NULL");
    mmoe_fit *fit = mmoe__calloc(1, sizeof *fit);
    if (!fit)
        return MMOE_FAIL(NULL, MMOE_ERR_NOMEM, "out of memory");
    mmoe_status st = mmoe__schema_clone(schema, &fit->s);
    if (st != MMOE_OK) {
        mmoe__free(fit);
        return st;
    }
    size_t n = fit->s->n;
    fit->w = mmoe__calloc(n, sizeof *fit->w);
    fit->count = mmoe__calloc(n, sizeof *fit->count);
    fit->dense = mmoe__calloc(n, sizeof *fit->dense);
    fit->miss = mmoe__calloc(n, 1);
    if (!fit->w || !fit->count || !fit->dense || !fit->miss ||
        alloc_spans(fit, fit->s->min_fields) != MMOE_OK) {
        mmoe_fit_free(fit);
        return MMOE_FAIL(NULL, MMOE_ERR_NOMEM, "out of memory");
    }
    *out = fit;
    return MMOE_OK;
}

/* Scratch for unescaping a record of len bytes. */
static mmoe_status ensure_scratch(mmoe_fit *fit, size_t len)
{
    if (len <= fit->scratch_cap)
        return MMOE_OK;
    size_t cap = fit->scratch_cap ? fit->scratch_cap : 4096;
    while (cap < len)
        if (mmoe__mul(cap, 2, &cap))
            return MMOE_FAIL(fit->err, MMOE_ERR_OVERFLOW, "record too long");
    char *p = mmoe__malloc(cap);
    if (!p)
        return MMOE_FAIL(fit->err, MMOE_ERR_NOMEM, "out of memory");
    mmoe__free(fit->scratch);
    fit->scratch = p;
    fit->scratch_cap = cap;
    return MMOE_OK;
}

mmoe_status mmoe_fit_header(mmoe_fit *fit, const char *record, size_t len)
{
    if (!fit || (!record && len))
        return MMOE_FAIL(fit ? fit->err : NULL, MMOE_ERR_NULL, "%s is NULL",
                         fit ? "record" : "fit");
    mmoe_schema *s = fit->s;
    if (!s->header)
        return MMOE_FAIL(fit->err, MMOE_ERR_STATE, "the schema has no header");
    if (fit->rows)
        return MMOE_FAIL(fit->err, MMOE_ERR_STATE, "records were added before the header");
    mmoe_status st = ensure_scratch(fit, len);
    if (st != MMOE_OK)
        return st;
    /* count the header's fields first, then split into enough spans */
    size_t nf = 0, bad = 0;
    const char *why = NULL;
    if (mmoe__split(s, record ? record : "", len, NULL, 0, fit->scratch, &nf, &bad, &why) != 0)
        return MMOE_FAIL(fit->err, MMOE_ERR_FORMAT, "header, column %zu: %s", bad + 1, why);
    mmoe__span *sp = mmoe__calloc(nf, sizeof *sp);
    if (!sp)
        return MMOE_FAIL(fit->err, MMOE_ERR_NOMEM, "out of memory");
    mmoe__split(s, record ? record : "", len, sp, nf, fit->scratch, &nf, &bad, &why);
    size_t *col = mmoe__calloc(s->n, sizeof *col);
    if (!col) {
        mmoe__free(sp);
        return MMOE_FAIL(fit->err, MMOE_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < s->n; i++) {
        mmoe__feature *f = &s->f[i];
        col[i] = f->column;
        if (!f->colname)
            continue;
        size_t hit = SIZE_MAX;
        for (size_t c = 0; c < nf; c++) {
            if (sp[c].len != f->colname_len || memcmp(sp[c].p, f->colname, sp[c].len) != 0)
                continue;
            if (hit != SIZE_MAX) {
                mmoe__free(sp);
                mmoe__free(col);
                return MMOE_FAIL(fit->err, MMOE_ERR_FORMAT,
                                 "header: column name '%.60s' appears twice (columns %zu, %zu)",
                                 f->colname, hit + 1, c + 1);
            }
            hit = c;
        }
        if (hit == SIZE_MAX) {
            mmoe__free(sp);
            mmoe__free(col);
            return MMOE_FAIL(fit->err, MMOE_ERR_FORMAT, "header has no column '%.60s'", f->colname);
        }
        col[i] = hit;
    }
    mmoe__free(sp);
    /* check and allocate everything before the schema changes */
    if (s->fields && s->fields != nf) {
        mmoe__free(col);
        return MMOE_FAIL(fit->err, MMOE_ERR_FORMAT, "header has %zu fields, the schema says %zu",
                         nf, s->fields);
    }
    size_t need = 0;
    for (size_t i = 0; i < s->n; i++)
        if (col[i] + 1 > need)
            need = col[i] + 1;
    mmoe__span *nsp = mmoe__calloc(need ? need : 1, sizeof *nsp);
    if (!nsp) {
        mmoe__free(col);
        return MMOE_FAIL(fit->err, MMOE_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < s->n; i++)
        s->f[i].column = col[i];
    mmoe__free(col);
    mmoe__schema_layout(s);
    mmoe__free(fit->sp);
    fit->sp = nsp;
    fit->ncols = need;
    mmoe__clear(fit->err);
    return MMOE_OK;
}

/* Read the record in fit->sp (nf fields) into the statistics. */
static mmoe_status add_record(mmoe_fit *fit, size_t nf, uint64_t line)
{
    mmoe_schema *s = fit->s;
    if (nf < s->min_fields || (s->fields && nf != s->fields))
        return MMOE_FAIL(fit->err, MMOE_ERR_FORMAT, "line %llu: %zu fields, expected %s%zu",
                         (unsigned long long)line, nf, s->fields ? "" : "at least ",
                         s->fields ? s->fields : s->min_fields);
    /* check every field before changing anything */
    for (size_t i = 0; i < s->n; i++) {
        const mmoe__feature *f = &s->f[i];
        mmoe__span v = fit->sp[f->column];
        const char *why = NULL;
        int bad = 0, missing = 0;
        float y;
        switch (f->kind) {
        case MMOE_FEATURE_DENSE:
            bad = mmoe__dense_raw(s, f, v, &fit->dense[i], &missing, &why);
            fit->miss[i] = (unsigned char)missing;
            break;
        case MMOE_FEATURE_BINARY:
        case MMOE_FEATURE_REGRESSION:
            bad = mmoe__label_value(f, v, &y, &why);
            break;
        case MMOE_FEATURE_WEIGHT:
            bad = mmoe__weight_value(v, &y, &why);
            break;
        default:
            break;
        }
        if (bad)
            return MMOE_FAIL(fit->err, MMOE_ERR_FORMAT, "line %llu, column %zu (%s): %s '%.*s'",
                             (unsigned long long)line, f->column + 1,
                             f->kind == MMOE_FEATURE_WEIGHT ? "weight" : f->name, why,
                             (int)(v.len < 40 ? v.len : 40), v.p ? v.p : "");
    }
    for (size_t i = 0; i < s->n; i++) {
        const mmoe__feature *f = &s->f[i];
        if (f->kind == MMOE_FEATURE_DENSE && f->standardize && !fit->miss[i]) {
            welford *w = &fit->w[i];
            double x = fit->dense[i];
            w->n++;
            double d = x - w->mean;
            w->mean += d / (double)w->n;
            w->m2 += d * (x - w->mean);
        } else if (mmoe__feature_is_sparse(f) && !f->hash) {
            mmoe__span v = fit->sp[f->column];
            size_t pos = 0;
            mmoe__span piece = v;
            int more =
                f->kind == MMOE_FEATURE_CATEGORICAL ? 1 : mmoe__next_piece(s, f, v, &pos, &piece);
            for (size_t k = 0; more && k < f->slots; k++) {
                long r = mmoe__strmap_add(&fit->count[i], piece.p, piece.len, 1);
                if (r < 0)
                    return MMOE_FAIL(fit->err, r == -1 ? MMOE_ERR_NOMEM : MMOE_ERR_OVERFLOW,
                                     "line %llu: %s: %s", (unsigned long long)line, f->name,
                                     r == -1 ? "out of memory" : "too many distinct values");
                if (f->kind == MMOE_FEATURE_CATEGORICAL)
                    break;
                more = mmoe__next_piece(s, f, v, &pos, &piece);
            }
        }
    }
    fit->rows++;
    mmoe__clear(fit->err);
    return MMOE_OK;
}

mmoe_status mmoe_fit_add_line(mmoe_fit *fit, const char *record, size_t len, uint64_t line)
{
    if (!fit || (!record && len))
        return MMOE_FAIL(fit ? fit->err : NULL, MMOE_ERR_NULL, "%s is NULL",
                         fit ? "record" : "fit");
    if (!fit->s->resolved)
        return MMOE_FAIL(fit->err, MMOE_ERR_STATE,
                         "the schema names columns: give the header "
                         "first (mmoe_fit_header)");
    mmoe_status st = ensure_scratch(fit, len);
    if (st != MMOE_OK)
        return st;
    size_t nf = 0, bad = 0;
    const char *why = NULL;
    if (mmoe__split(fit->s, record ? record : "", len, fit->sp, fit->ncols, fit->scratch, &nf, &bad,
                    &why) != 0)
        return MMOE_FAIL(fit->err, MMOE_ERR_FORMAT, "line %llu, column %zu: %s",
                         (unsigned long long)line, bad + 1, why);
    return add_record(fit, nf, line);
}

mmoe_status mmoe_fit_add_fields(mmoe_fit *fit, size_t n, const char *const *fields,
                                const size_t *lens, uint64_t line)
{
    if (!fit || (n && (!fields || !lens)))
        return MMOE_FAIL(fit ? fit->err : NULL, MMOE_ERR_NULL, "%s is NULL",
                         fit ? "fields or lens" : "fit");
    if (!fit->s->resolved)
        return MMOE_FAIL(fit->err, MMOE_ERR_STATE,
                         "the schema names columns: give the header "
                         "first (mmoe_fit_header)");
    for (size_t i = 0; i < n && i < fit->ncols; i++) {
        if (!fields[i] && lens[i])
            return MMOE_FAIL(fit->err, MMOE_ERR_NULL, "field %zu is NULL", i);
        mmoe__span v = {fields[i] ? fields[i] : "", lens[i]};
        fit->sp[i] = mmoe__trim(fit->s, v);
    }
    return add_record(fit, n, line);
}

uint64_t mmoe_fit_rows(const mmoe_fit *fit)
{
    return fit ? fit->rows : 0;
}

const char *mmoe_fit_last_error(const mmoe_fit *fit)
{
    return fit ? fit->err : "";
}

typedef struct ranked {
    const mmoe__strmap *m;
    size_t i;
} ranked;

static int cmp_ranked(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    uint64_t cx = x->m->ent[x->i].count, cy = y->m->ent[y->i].count;
    if (cx != cy)
        return cx > cy ? -1 : 1;
    size_t lx, ly;
    const char *kx = mmoe__strmap_key(x->m, x->i, &lx), *ky = mmoe__strmap_key(y->m, y->i, &ly);
    int c = memcmp(kx, ky, lx < ly ? lx : ly);
    if (c)
        return c;
    return (lx > ly) - (lx < ly);
}

/* Vocabulary of feature f from its counts: the ranked values kept. */
static mmoe_status build_vocab(mmoe__feature *f, const mmoe__strmap *cnt, char *err)
{
    ranked *r = mmoe__calloc(cnt->n ? cnt->n : 1, sizeof *r);
    if (!r)
        return MMOE_FAIL(err, MMOE_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < cnt->n; i++) {
        r[i].m = cnt;
        r[i].i = i;
    }
    qsort(r, cnt->n, sizeof *r, cmp_ranked);
    mmoe__strmap_free(&f->vocab);
    for (size_t i = 0; i < cnt->n; i++) {
        const mmoe__strent *e = &cnt->ent[r[i].i];
        if (e->count < f->min_count || (f->max_vocab && f->vocab.n >= f->max_vocab))
            break;
        if (mmoe__strmap_add(&f->vocab, cnt->arena + e->off, e->len, e->count) < 0) {
            mmoe__free(r);
            return MMOE_FAIL(err, MMOE_ERR_NOMEM, "out of memory");
        }
    }
    mmoe__free(r);
    return MMOE_OK;
}

mmoe_status mmoe_fit_finish(const mmoe_fit *fit, mmoe_transform **out)
{
    if (!out)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "out is NULL");
    *out = NULL;
    if (!fit)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "fit is NULL");
    if (!fit->s->resolved)
        return MMOE_FAIL(NULL, MMOE_ERR_STATE, "column names not resolved: no header given");
    if (fit->rows == 0)
        return MMOE_FAIL(NULL, MMOE_ERR_STATE, "no training record was added");
    mmoe_schema *s = NULL;
    mmoe_status st = mmoe__schema_clone(fit->s, &s);
    if (st != MMOE_OK)
        return st;
    s->fitted = 1;
    s->rows = fit->rows;
    for (size_t i = 0; i < s->n; i++) {
        mmoe__feature *f = &s->f[i];
        if (f->kind == MMOE_FEATURE_DENSE && f->standardize) {
            const welford *w = &fit->w[i];
            double var = w->n ? w->m2 / (double)w->n : 0.0;
            f->mean = w->n ? w->mean : 0.0;
            f->sd = var > 1e-12 ? sqrt(var) : 1.0;
        } else if (mmoe__feature_is_sparse(f) && !f->hash) {
            st = build_vocab(f, &fit->count[i], NULL);
            if (st != MMOE_OK) {
                mmoe_schema_free(s);
                return st;
            }
        }
    }
    return mmoe__transform_wrap(s, out);
}
