/*
 * Feature schemas: the text form (parse and write), shared by the schema
 * ("mmoe-schema 1") and the fitted transformation ("mmoe-transform 1"),
 * which adds statistics, vocabularies and resolved columns to the same
 * statements. docs/data.md is the reference of the format.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lexer.h"
#include "mmoe/config.h"
#include "numtext.h"
#include "schema_impl.h"

static const char *const kind_words[] = {
    "dense", "categorical", "multi", "binary", "regression", "weight",
};

/* ---- freeing, copying, layout ------------------------------------------ */

static void feature_clear(mmoe__feature *f)
{
    mmoe__free(f->colname);
    mmoe__strmap_free(&f->vocab);
    mmoe__strmap_free(&f->positive);
}

void mmoe__schema_clear(mmoe_schema *s)
{
    for (size_t i = 0; i < s->n; i++)
        feature_clear(&s->f[i]);
    mmoe__free(s->f);
    mmoe__strmap_free(&s->missing);
    s->f = NULL;
    s->n = s->cap = 0;
}

void mmoe_schema_free(mmoe_schema *schema)
{
    if (!schema)
        return;
    mmoe__schema_clear(schema);
    mmoe__free(schema);
}

static int strmap_copy(mmoe__strmap *dst, const mmoe__strmap *src)
{
    memset(dst, 0, sizeof *dst);
    for (size_t i = 0; i < src->n; i++) {
        size_t len;
        const char *k = mmoe__strmap_key(src, i, &len);
        if (mmoe__strmap_add(dst, k, len, src->ent[i].count) < 0) {
            mmoe__strmap_free(dst);
            return -1;
        }
    }
    return 0;
}

mmoe_status mmoe__schema_clone(const mmoe_schema *s, mmoe_schema **out)
{
    *out = NULL;
    mmoe_schema *c = mmoe__calloc(1, sizeof *c);
    if (!c)
        return MMOE_FAIL(NULL, MMOE_ERR_NOMEM, "out of memory");
    *c = *s;
    c->f = NULL;
    c->n = c->cap = 0;
    memset(&c->missing, 0, sizeof c->missing);
    c->f = mmoe__calloc(s->n ? s->n : 1, sizeof *c->f);
    if (!c->f || strmap_copy(&c->missing, &s->missing) != 0)
        goto nomem;
    c->cap = s->n;
    for (size_t i = 0; i < s->n; i++) {
        mmoe__feature *d = &c->f[i];
        *d = s->f[i];
        d->colname = NULL;
        memset(&d->vocab, 0, sizeof d->vocab);
        memset(&d->positive, 0, sizeof d->positive);
        c->n = i + 1;
        if (s->f[i].colname) {
            d->colname = mmoe__malloc(s->f[i].colname_len + 1);
            if (!d->colname)
                goto nomem;
            memcpy(d->colname, s->f[i].colname, s->f[i].colname_len + 1);
        }
        if (strmap_copy(&d->vocab, &s->f[i].vocab) != 0 ||
            strmap_copy(&d->positive, &s->f[i].positive) != 0)
            goto nomem;
    }
    *out = c;
    return MMOE_OK;
nomem:
    mmoe_schema_free(c);
    return MMOE_FAIL(NULL, MMOE_ERR_NOMEM, "out of memory copying a schema");
}

void mmoe__schema_layout(mmoe_schema *s)
{
    s->n_dense = s->n_sparse = s->n_ids = s->n_labels = 0;
    s->weight = -1;
    s->min_fields = 0;
    s->resolved = 1;
    for (size_t i = 0; i < s->n; i++) {
        mmoe__feature *f = &s->f[i];
        switch (f->kind) {
        case MMOE_FEATURE_DENSE:
            f->out = s->n_dense++;
            break;
        case MMOE_FEATURE_CATEGORICAL:
        case MMOE_FEATURE_MULTI:
            f->out = s->n_ids;
            f->sparse_index = s->n_sparse++;
            s->n_ids += f->slots;
            break;
        case MMOE_FEATURE_BINARY:
        case MMOE_FEATURE_REGRESSION:
            f->out = s->n_labels++;
            break;
        case MMOE_FEATURE_WEIGHT:
            s->weight = (long)i;
            break;
        }
        if (f->column == SIZE_MAX)
            s->resolved = 0;
        else if (f->column + 1 > s->min_fields)
            s->min_fields = f->column + 1;
    }
}

/* ---- parsing ------------------------------------------------------------ */

typedef struct parser {
    mmoe__lex lx;
    mmoe_schema *s;
    int fitted;
    const char *func;
    mmoe_status st;
    mmoe__feature *last_sparse; /* fitted: statement the vocab lines belong to */
    size_t vocab_expected;
    char err[MMOE__ERRLEN];
} parser;

static int pfail_(parser *p)
{
    p->st = MMOE_ERR_CONFIG;
    return -1;
}
#define PFAIL(P, ...) (snprintf((P)->err, sizeof(P)->err, __VA_ARGS__), pfail_(P))

static int word_is(const mmoe__word *w, const char *s)
{
    return !w->key && !w->quoted && strcmp(w->text, s) == 0;
}

static int parse_uint(parser *p, const mmoe__word *w, uint64_t lo, uint64_t hi, uint64_t *out)
{
    const char *what = w->key ? w->key : "value";
    if (w->len == 0 || w->len > 20 || strspn(w->text, "0123456789") != w->len)
        return PFAIL(p, "line %zu: %s '%.40s' is not a non-negative integer", p->lx.line, what,
                     w->text);
    errno = 0;
    unsigned long long v = strtoull(w->text, NULL, 10);
    if (errno || v < lo || v > hi)
        return PFAIL(p, "line %zu: %s %.40s is outside %llu..%llu", p->lx.line, what, w->text,
                     (unsigned long long)lo, (unsigned long long)hi);
    *out = v;
    return 0;
}

static int parse_real(parser *p, const mmoe__word *w, double *out)
{
    if (w->len >= 64 || memchr(w->text, '\0', w->len) || mmoe__parse_double(w->text, out) != 0)
        return PFAIL(p, "line %zu: %s '%.40s' is not a finite number", p->lx.line,
                     w->key ? w->key : "value", w->text);
    return 0;
}

static int parse_yesno(parser *p, const mmoe__word *w, int *out)
{
    if (word_is(w, "yes") || word_is(w, "1") || word_is(w, "true"))
        *out = 1;
    else if (word_is(w, "no") || word_is(w, "0") || word_is(w, "false"))
        *out = 0;
    else
        return PFAIL(p, "line %zu: '%.40s' is not yes or no", p->lx.line, w->text);
    return 0;
}

/* One byte, given as itself, a quoted escape, or a name. */
static int parse_byte(parser *p, const mmoe__word *w, int allow_none, char *out)
{
    static const struct {
        const char *name;
        char c;
    } names[] = {{"comma", ','}, {"tab", '\t'}, {"semicolon", ';'}, {"pipe", '|'}, {"space", ' '}};
    if (allow_none && word_is(w, "none")) {
        *out = 0;
        return 0;
    }
    if (!w->quoted)
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
            if (strcmp(w->text, names[i].name) == 0) {
                *out = names[i].c;
                return 0;
            }
    if (w->len != 1 || w->text[0] == '\n' || w->text[0] == '\r' || w->text[0] == '\0')
        return PFAIL(p, "line %zu: %s needs one character (not a line break or NUL)", p->lx.line,
                     w->key ? w->key : "the value");
    *out = w->text[0];
    return 0;
}

static int valid_name(const char *s, size_t len)
{
    if (len == 0 || len > MMOE__SCHEMA_NAME_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return 0;
    }
    return 1;
}

static int set_column(parser *p, mmoe__feature *f, const mmoe__word *w)
{
    if (w->key)
        return PFAIL(p, "line %zu: expected a column, found option %s=", p->lx.line, w->key);
    if (!w->quoted && w->len > 0 && strspn(w->text, "0123456789") == w->len) {
        uint64_t c;
        if (parse_uint(p, w, 1, MMOE__MAX_COLUMN, &c) != 0)
            return -1;
        f->column = (size_t)(c - 1);
        return 0;
    }
    if (w->len == 0 || memchr(w->text, '\0', w->len))
        return PFAIL(p, "line %zu: empty column name", p->lx.line);
    f->column = SIZE_MAX;
    f->colname = mmoe__malloc(w->len + 1);
    if (!f->colname) {
        p->st = MMOE_ERR_NOMEM;
        snprintf(p->err, sizeof p->err, "out of memory");
        return -1;
    }
    memcpy(f->colname, w->text, w->len + 1);
    f->colname_len = w->len;
    return 0;
}

static mmoe__feature *new_feature(parser *p)
{
    mmoe_schema *s = p->s;
    if (s->n == MMOE__MAX_FEATURES) {
        PFAIL(p, "line %zu: more than %u statements", p->lx.line, MMOE__MAX_FEATURES);
        return NULL;
    }
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 16;
        mmoe__feature *nf = mmoe__calloc(cap, sizeof *nf);
        if (!nf) {
            p->st = MMOE_ERR_NOMEM;
            snprintf(p->err, sizeof p->err, "out of memory");
            return NULL;
        }
        if (s->n)
            memcpy(nf, s->f, s->n * sizeof *nf);
        mmoe__free(s->f);
        s->f = nf;
        s->cap = cap;
    }
    mmoe__feature *f = &s->f[s->n++];
    memset(f, 0, sizeof *f);
    f->min_count = 1;
    f->slots = 1;
    f->sd = 1.0;
    return f;
}

static int add_value(parser *p, mmoe__strmap *m, const mmoe__word *w)
{
    long r = mmoe__strmap_add(m, w->text, w->len, 0);
    if (r == -1) {
        p->st = MMOE_ERR_NOMEM;
        snprintf(p->err, sizeof p->err, "out of memory");
        return -1;
    }
    if (r < 0)
        return PFAIL(p, "line %zu: too many values", p->lx.line);
    return 0;
}

/* A feature statement: KIND NAME COLUMN options..., or weight COLUMN. */
static int parse_feature(parser *p, mmoe_feature_kind kind)
{
    const mmoe__word *w = p->lx.w;
    size_t n = p->lx.n, at = 1;
    size_t line = p->lx.line;
    mmoe__feature *f = new_feature(p);
    if (!f)
        return -1;
    f->kind = kind;
    if (kind != MMOE_FEATURE_WEIGHT) {
        if (n < 3)
            return PFAIL(p, "line %zu: %s needs a name and a column", line, kind_words[kind]);
        if (w[1].key || !valid_name(w[1].text, w[1].len))
            return PFAIL(p, "line %zu: '%.40s' is not a name (1..%u of A-Z a-z 0-9 _ . -)", line,
                         w[1].text, MMOE__SCHEMA_NAME_MAX);
        memcpy(f->name, w[1].text, w[1].len + 1);
        for (size_t i = 0; i + 1 < p->s->n; i++)
            if (strcmp(p->s->f[i].name, f->name) == 0)
                return PFAIL(p, "line %zu: name '%s' is used twice", line, f->name);
        at = 2;
    } else {
        if (n < 2)
            return PFAIL(p, "line %zu: weight needs a column", line);
        if (p->s->weight >= 0)
            return PFAIL(p, "line %zu: a second weight column", line);
        p->s->weight = (long)(p->s->n - 1);
    }
    if (set_column(p, f, &w[at]) != 0)
        return -1;
    int have_hash = 0, have_vocab_opt = 0, have_sep = 0, have_slots = 0, have_size = 0;
    int have_mean = 0, have_sd = 0, have_pool = 0, have_dim = 0;
    uint64_t size = 0;
    for (size_t i = at + 1; i < n; i++) {
        const mmoe__word *o = &w[i];
        uint64_t u;
        if (!o->key) {
            if (kind == MMOE_FEATURE_DENSE && word_is(o, "log1p")) {
                f->log1p = 1;
                continue;
            }
            if (kind == MMOE_FEATURE_DENSE && word_is(o, "standardize")) {
                f->standardize = 1;
                continue;
            }
            return PFAIL(p, "line %zu: unexpected word '%.40s' in a %s statement", line, o->text,
                         kind_words[kind]);
        }
        const char *k = o->key;
        int sparse = kind == MMOE_FEATURE_CATEGORICAL || kind == MMOE_FEATURE_MULTI;
        if (sparse && strcmp(k, "min_count") == 0) {
            if (parse_uint(p, o, 1, UINT64_MAX, &f->min_count))
                return -1;
            have_vocab_opt = 1;
        } else if (sparse && strcmp(k, "max_vocab") == 0) {
            if (parse_uint(p, o, 1, 0x7ffffffeu, &f->max_vocab))
                return -1;
            have_vocab_opt = 1;
        } else if (sparse && strcmp(k, "hash") == 0) {
            if (parse_uint(p, o, 1, (uint64_t)1 << 31, &f->hash))
                return -1;
            have_hash = 1;
        } else if (sparse && strcmp(k, "dim") == 0) {
            if (parse_uint(p, o, 1, 4096, &u))
                return -1;
            f->dim = (size_t)u;
            have_dim = 1;
        } else if (kind == MMOE_FEATURE_MULTI && strcmp(k, "separator") == 0) {
            if (parse_byte(p, o, 0, &f->sep))
                return -1;
            have_sep = 1;
        } else if (kind == MMOE_FEATURE_MULTI && strcmp(k, "slots") == 0) {
            if (parse_uint(p, o, 1, MMOE__MAX_SLOTS, &u))
                return -1;
            f->slots = (size_t)u;
            have_slots = 1;
        } else if (kind == MMOE_FEATURE_MULTI && strcmp(k, "pooling") == 0) {
            if (strcmp(o->text, "mean") == 0)
                f->pool_sum = 0;
            else if (strcmp(o->text, "sum") == 0)
                f->pool_sum = 1;
            else
                return PFAIL(p, "line %zu: pooling must be mean or sum", line);
            have_pool = 1;
        } else if (kind == MMOE_FEATURE_BINARY && strcmp(k, "positive") == 0) {
            if (add_value(p, &f->positive, o))
                return -1;
        } else if (kind == MMOE_FEATURE_BINARY && strcmp(k, "threshold") == 0) {
            if (parse_real(p, o, &f->threshold))
                return -1;
            if (f->has_threshold)
                return PFAIL(p, "line %zu: threshold given twice", line);
            f->has_threshold = 1;
        } else if (p->fitted && strcmp(k, "header") == 0) {
            if (f->colname || o->len == 0 || memchr(o->text, '\0', o->len))
                return PFAIL(p, "line %zu: bad or repeated header=", line);
            f->colname = mmoe__malloc(o->len + 1);
            if (!f->colname) {
                p->st = MMOE_ERR_NOMEM;
                snprintf(p->err, sizeof p->err, "out of memory");
                return -1;
            }
            memcpy(f->colname, o->text, o->len + 1);
            f->colname_len = o->len;
        } else if (p->fitted && kind == MMOE_FEATURE_DENSE && strcmp(k, "mean") == 0) {
            if (parse_real(p, o, &f->mean))
                return -1;
            have_mean = 1;
        } else if (p->fitted && kind == MMOE_FEATURE_DENSE && strcmp(k, "sd") == 0) {
            if (parse_real(p, o, &f->sd))
                return -1;
            if (!(f->sd > 0.0))
                return PFAIL(p, "line %zu: sd must be > 0", line);
            have_sd = 1;
        } else if (p->fitted && sparse && strcmp(k, "size") == 0) {
            if (parse_uint(p, o, 0, 0x7ffffffeu, &size))
                return -1;
            have_size = 1;
        } else {
            return PFAIL(p, "line %zu: unknown option %s= for %s", line, k, kind_words[kind]);
        }
    }
    if (kind == MMOE_FEATURE_MULTI && !have_sep)
        return PFAIL(p, "line %zu: multi needs separator=", line);
    if (kind == MMOE_FEATURE_MULTI && !have_slots)
        f->slots = 8;
    if (have_hash && have_vocab_opt)
        return PFAIL(p, "line %zu: hash= excludes min_count= and max_vocab=", line);
    if (kind == MMOE_FEATURE_BINARY && f->has_threshold && f->positive.n)
        return PFAIL(p, "line %zu: positive= and threshold= exclude each other", line);
    if (have_dim == 0)
        f->dim = 0; /* the schema's embedding_dim, applied at the end */
    (void)have_pool;
    if (p->fitted) {
        if (kind == MMOE_FEATURE_DENSE && f->standardize && (!have_mean || !have_sd))
            return PFAIL(p, "line %zu: a fitted standardized feature needs mean= and sd=", line);
        if (kind == MMOE_FEATURE_DENSE && !f->standardize && (have_mean || have_sd))
            return PFAIL(p, "line %zu: mean=/sd= without standardize", line);
        if (kind == MMOE_FEATURE_CATEGORICAL || kind == MMOE_FEATURE_MULTI) {
            if (f->hash && have_size)
                return PFAIL(p, "line %zu: size= with hash=", line);
            if (!f->hash && !have_size)
                return PFAIL(p, "line %zu: a fitted vocabulary needs size=", line);
            p->last_sparse = f->hash ? NULL : f;
            p->vocab_expected = (size_t)size;
        }
        if (f->column == SIZE_MAX)
            return PFAIL(p, "line %zu: a fitted transformation names columns by number", line);
    }
    return 0;
}

static int close_vocab(parser *p)
{
    if (p->last_sparse && p->last_sparse->vocab.n != p->vocab_expected)
        return PFAIL(p, "line %zu: %s has %zu vocabulary values, size= said %zu", p->lx.line,
                     p->last_sparse->name, p->last_sparse->vocab.n, p->vocab_expected);
    p->last_sparse = NULL;
    return 0;
}

static int parse_statement(parser *p, int first)
{
    const mmoe__word *w = p->lx.w;
    size_t n = p->lx.n, line = p->lx.line;
    const char *magic = p->fitted ? "mmoe-transform" : "mmoe-schema";
    if (w[0].key || w[0].quoted)
        return PFAIL(p, "line %zu: a statement starts with a keyword", line);
    const char *k = w[0].text;
    if (first) {
        if (strcmp(k, magic) != 0 || n != 2)
            return PFAIL(p, "line %zu: the first statement must be '%s %d'", line, magic,
                         MMOE_SCHEMA_FORMAT_VERSION);
        uint64_t v;
        if (parse_uint(p, &w[1], 1, UINT32_MAX, &v))
            return -1;
        if (v > MMOE_SCHEMA_FORMAT_VERSION) {
            snprintf(p->err, sizeof p->err, "line %zu: format version %llu is newer than %d", line,
                     (unsigned long long)v, MMOE_SCHEMA_FORMAT_VERSION);
            p->st = MMOE_ERR_VERSION;
            return -1;
        }
        return 0;
    }
    if (p->fitted && strcmp(k, "vocab") == 0) {
        if (n != 2 || w[1].key)
            return PFAIL(p, "line %zu: vocab needs one value", line);
        if (!p->last_sparse)
            return PFAIL(p, "line %zu: vocab outside a fitted vocabulary", line);
        if (p->last_sparse->vocab.n >= p->vocab_expected)
            return PFAIL(p, "line %zu: more vocab values than size=", line);
        size_t before = p->last_sparse->vocab.n;
        if (add_value(p, &p->last_sparse->vocab, &w[1]))
            return -1;
        if (p->last_sparse->vocab.n == before)
            return PFAIL(p, "line %zu: vocab value repeated", line);
        return 0;
    }
    if (close_vocab(p))
        return -1;
    for (int kind = 0; kind < (int)(sizeof kind_words / sizeof kind_words[0]); kind++)
        if (strcmp(k, kind_words[kind]) == 0)
            return parse_feature(p, (mmoe_feature_kind)kind);
    mmoe_schema *s = p->s;
    uint64_t u;
    if (strcmp(k, "delimiter") == 0 && n == 2 && !w[1].key)
        return parse_byte(p, &w[1], 0, &s->delim);
    if (strcmp(k, "quote") == 0 && n == 2 && !w[1].key)
        return parse_byte(p, &w[1], 1, &s->quote);
    if (strcmp(k, "header") == 0 && n == 2)
        return parse_yesno(p, &w[1], &s->header);
    if (strcmp(k, "trim") == 0 && n == 2)
        return parse_yesno(p, &w[1], &s->trim);
    if (strcmp(k, "fields") == 0 && n == 2) {
        if (parse_uint(p, &w[1], 1, MMOE__MAX_COLUMN, &u))
            return -1;
        s->fields = (size_t)u;
        return 0;
    }
    if (strcmp(k, "embedding_dim") == 0 && n == 2) {
        if (parse_uint(p, &w[1], 1, 4096, &u))
            return -1;
        s->emb_dim = (size_t)u;
        return 0;
    }
    if (strcmp(k, "missing") == 0 && n >= 2) {
        for (size_t i = 1; i < n; i++) {
            if (w[i].key)
                return PFAIL(p, "line %zu: missing takes values, not options", line);
            if (add_value(p, &s->missing, &w[i]))
                return -1;
        }
        return 0;
    }
    if (p->fitted && strcmp(k, "rows") == 0 && n == 2)
        return parse_uint(p, &w[1], 0, UINT64_MAX, &s->rows);
    static const char *const settings[] = {"delimiter", "quote",         "header",  "trim",
                                           "fields",    "embedding_dim", "missing", "rows"};
    for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++)
        if (strcmp(k, settings[i]) == 0)
            return PFAIL(p, "line %zu: wrong arguments for %s", line, k);
    return PFAIL(p, "line %zu: unknown statement '%.40s'", line, k);
}

/* Checks over the whole schema once every statement is read. */
static int finish(parser *p)
{
    mmoe_schema *s = p->s;
    if (close_vocab(p))
        return -1;
    mmoe__schema_layout(s);
    if (s->n_labels == 0)
        return PFAIL(p, "no label: a schema needs at least one binary or regression statement");
    if (s->n_labels > MMOE_MAX_TASKS)
        return PFAIL(p, "%zu labels; a model has at most %d tasks", s->n_labels, MMOE_MAX_TASKS);
    if (s->n_sparse > MMOE__SCHEMA_MAX_SPARSE)
        return PFAIL(p, "%zu categorical and multi features; at most %u", s->n_sparse,
                     MMOE__SCHEMA_MAX_SPARSE);
    if (s->quote && s->quote == s->delim)
        return PFAIL(p, "the quote and the delimiter are the same character");
    for (size_t i = 0; i < s->n; i++) {
        mmoe__feature *f = &s->f[i];
        if (f->colname && !s->header && !p->fitted)
            return PFAIL(p,
                         "statement '%s' names column '%.40s' but the schema has no "
                         "'header yes'",
                         f->kind == MMOE_FEATURE_WEIGHT ? "weight" : f->name, f->colname);
        if (mmoe__feature_is_sparse(f) && f->dim == 0)
            f->dim = s->emb_dim;
        if (f->kind == MMOE_FEATURE_MULTI && (f->sep == s->delim || f->sep == s->quote))
            return PFAIL(p, "multi %s: the separator is the delimiter or the quote", f->name);
        if (s->fields && f->column != SIZE_MAX && f->column >= s->fields)
            return PFAIL(p, "%s uses column %zu but records have %zu fields",
                         f->kind == MMOE_FEATURE_WEIGHT ? "weight" : f->name, f->column + 1,
                         s->fields);
    }
    return 0;
}

mmoe_status mmoe__schema_parse(const char *text, size_t len, int fitted, const char *func,
                               mmoe_schema **out)
{
    *out = NULL;
    parser p;
    memset(&p, 0, sizeof p);
    p.fitted = fitted;
    p.func = func;
    p.s = mmoe__calloc(1, sizeof *p.s);
    if (!p.s)
        return mmoe__fail(NULL, MMOE_ERR_NOMEM, func, "out of memory");
    p.s->delim = ',';
    p.s->quote = '"';
    p.s->trim = 1;
    p.s->emb_dim = 8;
    p.s->weight = -1;
    p.s->fitted = fitted;
    mmoe__lex_init(&p.lx, text, len);
    int first = 1, r;
    while ((r = mmoe__lex_next(&p.lx, p.err, sizeof p.err)) == 1) {
        if (parse_statement(&p, first) != 0) {
            r = -3;
            break;
        }
        first = 0;
    }
    mmoe_status st = MMOE_OK;
    if (r == -1)
        st = MMOE_ERR_CONFIG;
    else if (r == -2)
        st = MMOE_ERR_NOMEM, snprintf(p.err, sizeof p.err, "out of memory");
    else if (r == -3)
        st = p.st;
    else if (first)
        st = MMOE_ERR_CONFIG,
        snprintf(p.err, sizeof p.err, "empty text: no '%s %d' line",
                 fitted ? "mmoe-transform" : "mmoe-schema", MMOE_SCHEMA_FORMAT_VERSION);
    else if (finish(&p) != 0)
        st = p.st;
    mmoe__lex_free(&p.lx);
    if (st != MMOE_OK) {
        mmoe_schema_free(p.s);
        return mmoe__fail(NULL, st, func, "%s", p.err);
    }
    *out = p.s;
    return MMOE_OK;
}

/* ---- writing ------------------------------------------------------------ */

static void put_byte_word(mmoe__sbuf *b, char c)
{
    mmoe__sb_quoted(b, &c, 1);
}

static void put_real(mmoe__sbuf *b, const char *key, double v)
{
    char num[40];
    mmoe__format_double(num, sizeof num, v, 17);
    mmoe__sb_printf(b, " %s=%s", key, num);
}

mmoe_status mmoe__schema_write(const mmoe_schema *s, char **out, size_t *len)
{
    mmoe__sbuf b = {0};
    mmoe__sb_printf(&b, "%s %d\n", s->fitted ? "mmoe-transform" : "mmoe-schema",
                    MMOE_SCHEMA_FORMAT_VERSION);
    mmoe__sb_str(&b, "delimiter ");
    put_byte_word(&b, s->delim);
    mmoe__sb_str(&b, "\nquote ");
    if (s->quote)
        put_byte_word(&b, s->quote);
    else
        mmoe__sb_str(&b, "none");
    mmoe__sb_printf(&b, "\nheader %s\ntrim %s\n", s->header ? "yes" : "no", s->trim ? "yes" : "no");
    if (s->fields)
        mmoe__sb_printf(&b, "fields %zu\n", s->fields);
    mmoe__sb_printf(&b, "embedding_dim %zu\n", s->emb_dim);
    if (s->missing.n) {
        mmoe__sb_str(&b, "missing");
        for (size_t i = 0; i < s->missing.n; i++) {
            size_t l;
            const char *k = mmoe__strmap_key(&s->missing, i, &l);
            mmoe__sb_str(&b, " ");
            mmoe__sb_quoted(&b, k, l);
        }
        mmoe__sb_str(&b, "\n");
    }
    if (s->fitted)
        mmoe__sb_printf(&b, "rows %llu\n", (unsigned long long)s->rows);
    for (size_t i = 0; i < s->n; i++) {
        const mmoe__feature *f = &s->f[i];
        mmoe__sb_str(&b, kind_words[f->kind]);
        if (f->kind != MMOE_FEATURE_WEIGHT)
            mmoe__sb_printf(&b, " %s", f->name);
        if (f->column != SIZE_MAX) {
            mmoe__sb_printf(&b, " %zu", f->column + 1);
        } else {
            mmoe__sb_str(&b, " ");
            mmoe__sb_quoted(&b, f->colname, f->colname_len);
        }
        switch (f->kind) {
        case MMOE_FEATURE_DENSE:
            if (f->log1p)
                mmoe__sb_str(&b, " log1p");
            if (f->standardize) {
                mmoe__sb_str(&b, " standardize");
                if (s->fitted) {
                    put_real(&b, "mean", f->mean);
                    put_real(&b, "sd", f->sd);
                }
            }
            break;
        case MMOE_FEATURE_CATEGORICAL:
        case MMOE_FEATURE_MULTI:
            if (f->kind == MMOE_FEATURE_MULTI) {
                mmoe__sb_str(&b, " separator=");
                put_byte_word(&b, f->sep);
                mmoe__sb_printf(&b, " slots=%zu pooling=%s", f->slots,
                                f->pool_sum ? "sum" : "mean");
            }
            if (f->hash)
                mmoe__sb_printf(&b, " hash=%llu", (unsigned long long)f->hash);
            else {
                mmoe__sb_printf(&b, " min_count=%llu", (unsigned long long)f->min_count);
                if (f->max_vocab)
                    mmoe__sb_printf(&b, " max_vocab=%llu", (unsigned long long)f->max_vocab);
            }
            mmoe__sb_printf(&b, " dim=%zu", f->dim);
            if (s->fitted && !f->hash)
                mmoe__sb_printf(&b, " size=%zu", f->vocab.n);
            break;
        case MMOE_FEATURE_BINARY:
            for (size_t j = 0; j < f->positive.n; j++) {
                size_t l;
                const char *k = mmoe__strmap_key(&f->positive, j, &l);
                mmoe__sb_str(&b, " positive=");
                mmoe__sb_quoted(&b, k, l);
            }
            if (f->has_threshold)
                put_real(&b, "threshold", f->threshold);
            break;
        default:
            break;
        }
        if (f->colname && f->column != SIZE_MAX) {
            /* fitted form: the header name the column was resolved from */
            mmoe__sb_str(&b, " header=");
            mmoe__sb_quoted(&b, f->colname, f->colname_len);
        }
        mmoe__sb_str(&b, "\n");
        if (s->fitted && mmoe__feature_is_sparse(f) && !f->hash)
            for (size_t j = 0; j < f->vocab.n; j++) {
                size_t l;
                const char *k = mmoe__strmap_key(&f->vocab, j, &l);
                mmoe__sb_str(&b, "vocab ");
                mmoe__sb_quoted(&b, k, l);
                mmoe__sb_str(&b, "\n");
            }
    }
    if (b.failed) {
        mmoe__free(b.p);
        return MMOE_FAIL(NULL, MMOE_ERR_NOMEM, "out of memory writing a schema");
    }
    *out = b.p;
    *len = b.len;
    return MMOE_OK;
}

/* ---- public ------------------------------------------------------------- */

mmoe_status mmoe_schema_parse(const char *text, size_t len, mmoe_schema **out)
{
    if (!out)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "out is NULL");
    *out = NULL;
    if (!text && len)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "text is NULL");
    return mmoe__schema_parse(text ? text : "", len, 0, __func__, out);
}

mmoe_status mmoe__read_small_file(const char *path, size_t limit, const char *func, char **buf,
                                  size_t *len)
{
    *buf = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return mmoe__fail(NULL, MMOE_ERR_IO, func, "cannot open %s: %s", path, strerror(errno));
    size_t cap = 4096, n = 0;
    char *p = mmoe__malloc(cap);
    for (;;) {
        if (!p) {
            fclose(f);
            return mmoe__fail(NULL, MMOE_ERR_NOMEM, func, "out of memory reading %s", path);
        }
        size_t got = fread(p + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0)
            break;
        if (n + 1 == cap) {
            if (cap >= limit) {
                mmoe__free(p);
                fclose(f);
                return mmoe__fail(NULL, MMOE_ERR_FORMAT, func, "%s is larger than %zu bytes", path,
                                  limit);
            }
            char *np = mmoe__malloc(cap * 2);
            if (np)
                memcpy(np, p, n);
            mmoe__free(p);
            p = np;
            cap *= 2;
        }
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        mmoe__free(p);
        return mmoe__fail(NULL, MMOE_ERR_IO, func, "cannot read %s", path);
    }
    p[n] = '\0';
    *buf = p;
    *len = n;
    return MMOE_OK;
}

mmoe_status mmoe_schema_load(const char *path, mmoe_schema **out)
{
    if (!out)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "out is NULL");
    *out = NULL;
    if (!path)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "path is NULL");
    char *text;
    size_t len;
    mmoe_status st = mmoe__read_small_file(path, (size_t)64 << 20, __func__, &text, &len);
    if (st != MMOE_OK)
        return st;
    st = mmoe__schema_parse(text, len, 0, __func__, out);
    if (st != MMOE_OK) {
        char msg[MMOE__ERRLEN];
        snprintf(msg, sizeof msg, "%s", mmoe_last_error());
        mmoe__fail(NULL, st, __func__, "%s: %s", path,
                   msg + (strncmp(msg, "mmoe_schema_load: ", 18) ? 0 : 18));
    }
    mmoe__free(text);
    return st;
}

mmoe_status mmoe_schema_to_string(const mmoe_schema *schema, char **out)
{
    if (!schema || !out)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "%s is NULL", schema ? "out" : "schema");
    size_t len;
    return mmoe__schema_write(schema, out, &len);
}

size_t mmoe_schema_num_features(const mmoe_schema *schema)
{
    return schema ? schema->n : 0;
}

mmoe_status mmoe_schema_feature(const mmoe_schema *schema, size_t i, mmoe_feature_kind *kind,
                                const char **name, size_t *column)
{
    if (!schema)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "schema is NULL");
    if (i >= schema->n)
        return MMOE_FAIL(NULL, MMOE_ERR_RANGE, "statement %zu of %zu", i, schema->n);
    const mmoe__feature *f = &schema->f[i];
    if (kind)
        *kind = f->kind;
    if (name)
        *name = f->name;
    if (column)
        *column = f->column == SIZE_MAX ? 0 : f->column + 1;
    return MMOE_OK;
}

int mmoe_schema_has_header(const mmoe_schema *schema)
{
    return schema ? schema->header : 0;
}
