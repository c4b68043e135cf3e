/* Record splitting and field reading shared by fitting and applying. */
#include "fields.h"

#include <math.h>
#include <string.h>

#include "numtext.h"

static int blank(const mmoe_schema *s, char c)
{
    return c == ' ' || (c == '\t' && s->delim != '\t');
}

mmoe__span mmoe__trim(const mmoe_schema *s, mmoe__span v)
{
    if (!s->trim)
        return v;
    while (v.len && blank(s, v.p[0])) {
        v.p++;
        v.len--;
    }
    while (v.len && blank(s, v.p[v.len - 1]))
        v.len--;
    return v;
}

int mmoe__split(const mmoe_schema *s, const char *rec, size_t len, mmoe__span *sp, size_t cap,
                char *scratch, size_t *n, size_t *bad, const char **why)
{
    size_t pos = 0, k = 0, used = 0;
    const char d = s->delim, q = s->quote;
    for (;;) {
        mmoe__span f;
        size_t p = pos;
        if (s->trim)
            while (p < len && blank(s, rec[p]))
                p++;
        if (q && p < len && rec[p] == q) {
            /* quoted field: "" inside stands for one quote */
            p++;
            const char *start = rec + p;
            size_t flen = 0;
            char *out = NULL;
            for (;;) {
                if (p >= len) {
                    *bad = k;
                    *why = "unterminated quoted field";
                    return -1;
                }
                const char *e = memchr(rec + p, q, len - p);
                if (!e) {
                    *bad = k;
                    *why = "unterminated quoted field";
                    return -1;
                }
                size_t chunk = (size_t)(e - (rec + p));
                int escaped = (size_t)(e - rec) + 1 < len && e[1] == q;
                if (escaped && !out) {
                    out = scratch + used;
                    memcpy(out, start, flen);
                }
                if (out)
                    memcpy(out + flen, rec + p, chunk);
                flen += chunk;
                p = (size_t)(e - rec) + 1;
                if (!escaped)
                    break;
                out[flen++] = q;
                p++;
            }
            f.p = out ? out : start;
            f.len = flen;
            if (out)
                used += flen;
            if (s->trim)
                while (p < len && blank(s, rec[p]))
                    p++;
            if (p < len && rec[p] != d) {
                *bad = k;
                *why = "text after the closing quote";
                return -1;
            }
        } else {
            const char *e = memchr(rec + pos, d, len - pos);
            size_t end = e ? (size_t)(e - rec) : len;
            f.p = rec + pos;
            f.len = end - pos;
            f = mmoe__trim(s, f);
            p = end;
        }
        if (k < cap)
            sp[k] = f;
        k++;
        if (p >= len)
            break;
        pos = p + 1; /* past the delimiter */
    }
    *n = k;
    return 0;
}

int mmoe__span_number(mmoe__span v, double *out)
{
    char buf[72];
    const char *p = v.p;
    size_t n = v.len;
    if (n && *p == '+') {
        p++;
        n--;
    }
    if (n == 0 || n > 64)
        return -1;
    size_t o = 0;
    int neg = *p == '-';
    if (neg) {
        buf[o++] = '-';
        p++;
        n--;
    }
    if (n && *p == '.')
        buf[o++] = '0'; /* ".5" */
    memcpy(buf + o, p, n);
    o += n;
    if (o && buf[o - 1] == '.')
        o--; /* "5." */
    buf[o] = '\0';
    if (memchr(buf, '\0', o))
        return -1;
    return mmoe__parse_double(buf, out);
}

int mmoe__dense_raw(const mmoe_schema *s, const mmoe__feature *f, mmoe__span v, double *out,
                    int *missing, const char **why)
{
    *missing = 0;
    if (v.len == 0 || (s->missing.n && mmoe__strmap_find(&s->missing, v.p, v.len) >= 0)) {
        *missing = 1;
        *out = 0.0;
        return 0;
    }
    double x;
    if (mmoe__span_number(v, &x) != 0) {
        *why = "not a number";
        return -1;
    }
    if (f->log1p)
        x = x >= 0.0 ? log1p(x) : -log1p(-x);
    *out = x;
    return 0;
}

int mmoe__label_value(const mmoe__feature *f, mmoe__span v, float *out, const char **why)
{
    if (f->kind == MMOE_FEATURE_BINARY && f->positive.n) {
        if (v.len == 0) {
            *why = "empty label";
            return -1;
        }
        *out = mmoe__strmap_find(&f->positive, v.p, v.len) >= 0 ? 1.0f : 0.0f;
        return 0;
    }
    double x;
    if (mmoe__span_number(v, &x) != 0) {
        *why = v.len ? "label is not a number" : "empty label";
        return -1;
    }
    if (f->kind == MMOE_FEATURE_REGRESSION) {
        float y = (float)x;
        if (!isfinite(y)) {
            *why = "label out of float range";
            return -1;
        }
        *out = y;
        return 0;
    }
    if (f->has_threshold) {
        *out = x > f->threshold ? 1.0f : 0.0f;
        return 0;
    }
    if (x != 0.0 && x != 1.0) {
        *why = "binary label is not 0 or 1 (give positive= or threshold=)";
        return -1;
    }
    *out = (float)x;
    return 0;
}

int mmoe__weight_value(mmoe__span v, float *out, const char **why)
{
    double x;
    if (mmoe__span_number(v, &x) != 0) {
        *why = "weight is not a number";
        return -1;
    }
    float w = (float)x;
    if (!(w >= 0.0f) || !isfinite(w)) {
        *why = "weight is negative or too large";
        return -1;
    }
    *out = w;
    return 0;
}

int mmoe__next_piece(const mmoe_schema *s, const mmoe__feature *f, mmoe__span field, size_t *pos,
                     mmoe__span *piece)
{
    while (*pos <= field.len) {
        size_t p = *pos;
        const char *e = p < field.len ? memchr(field.p + p, f->sep, field.len - p) : NULL;
        size_t end = e ? (size_t)(e - field.p) : field.len;
        mmoe__span v = {field.p + p, end - p};
        *pos = end + 1;
        v = mmoe__trim(s, v);
        if (v.len) {
            *piece = v;
            return 1;
        }
    }
    return 0;
}
