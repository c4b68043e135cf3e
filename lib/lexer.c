/* Tokenizer and writer of the line-based text forms; see lexer.h. */
#include "lexer.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

void mmoe__lex_init(mmoe__lex *lx, const char *text, size_t len)
{
    memset(lx, 0, sizeof *lx);
    lx->p = text;
    lx->end = text + len;
}

void mmoe__lex_free(mmoe__lex *lx)
{
    mmoe__free(lx->buf);
    lx->buf = NULL;
    lx->cap = 0;
}

static int is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decode one quoted string starting after the opening quote. */
static int decode_quoted(const char **pp, const char *eol, char *out, size_t *olen, char *err,
                         size_t errcap, size_t line)
{
    const char *p = *pp;
    size_t n = 0;
    for (;;) {
        if (p >= eol) {
            snprintf(err, errcap, "line %zu: unterminated quoted string", line);
            return -1;
        }
        char c = *p++;
        if (c == '"')
            break;
        if ((unsigned char)c < 0x20 && c != '\t') {
            snprintf(err, errcap, "line %zu: control character in a quoted string", line);
            return -1;
        }
        if (c == '\\') {
            if (p >= eol) {
                snprintf(err, errcap, "line %zu: unterminated escape", line);
                return -1;
            }
            char e = *p++;
            switch (e) {
            case '\\':
                c = '\\';
                break;
            case '"':
                c = '"';
                break;
            case 'n':
                c = '\n';
                break;
            case 'r':
                c = '\r';
                break;
            case 't':
                c = '\t';
                break;
            case 'x': {
                int h = p + 1 < eol ? hexval(p[0]) : -1, l = p + 1 < eol ? hexval(p[1]) : -1;
                if (h < 0 || l < 0) {
                    snprintf(err, errcap, "line %zu: \\x needs two hex digits", line);
                    return -1;
                }
                c = (char)(h * 16 + l);
                p += 2;
                break;
            }
            default:
                snprintf(err, errcap, "line %zu: unknown escape '\\%c'", line,
                         (e >= 0x20 && e < 0x7f) ? e : '?');
                return -1;
            }
        }
        out[n++] = c;
    }
    *pp = p;
    *olen = n;
    return 0;
}

int mmoe__lex_next(mmoe__lex *lx, char *err, size_t errcap)
{
    for (;;) {
        if (lx->p >= lx->end)
            return 0;
        const char *eol = memchr(lx->p, '\n', (size_t)(lx->end - lx->p));
        if (!eol)
            eol = lx->end;
        const char *p = lx->p;
        lx->p = eol < lx->end ? eol + 1 : eol;
        lx->line++;
        size_t need = (size_t)(eol - p) + 2 * MMOE__LEX_MAX_WORDS + 1;
        if (need > lx->cap) {
            char *nb = mmoe__malloc(need);
            if (!nb)
                return -2;
            mmoe__free(lx->buf);
            lx->buf = nb;
            lx->cap = need;
        }
        char *out = lx->buf;
        lx->n = 0;
        while (p < eol) {
            while (p < eol && is_blank(*p))
                p++;
            if (p >= eol || *p == '#')
                break;
            if (lx->n == MMOE__LEX_MAX_WORDS) {
                snprintf(err, errcap, "line %zu: more than %d words", lx->line,
                         MMOE__LEX_MAX_WORDS);
                return -1;
            }
            mmoe__word *w = &lx->w[lx->n];
            w->key = NULL;
            w->quoted = 0;
            if (*p != '"') {
                /* bare word, or key= followed by a bare or quoted value */
                const char *s = p;
                while (p < eol && !is_blank(*p) && *p != '"' && *p != '=' && *p != '#')
                    p++;
                if (p < eol && *p == '=') {
                    if (p == s) {
                        snprintf(err, errcap, "line %zu: '=' without a key", lx->line);
                        return -1;
                    }
                    memcpy(out, s, (size_t)(p - s));
                    out[p - s] = '\0';
                    w->key = out;
                    out += (p - s) + 1;
                    p++;
                    s = p;
                    if (p < eol && *p == '"')
                        goto quoted;
                    while (p < eol && !is_blank(*p) && *p != '"' && *p != '#')
                        p++;
                } else if (p < eol && *p == '"') {
                    snprintf(err, errcap, "line %zu: quote inside a word", lx->line);
                    return -1;
                }
                memcpy(out, s, (size_t)(p - s));
                out[p - s] = '\0';
                w->text = out;
                w->len = (size_t)(p - s);
                out += (p - s) + 1;
                if (p < eol && *p == '"') {
                    snprintf(err, errcap, "line %zu: quote inside a word", lx->line);
                    return -1;
                }
            } else {
            quoted:
                p++;
                {
                    size_t n = 0;
                    if (decode_quoted(&p, eol, out, &n, err, errcap, lx->line) != 0)
                        return -1;
                    out[n] = '\0';
                    w->text = out;
                    w->len = n;
                    w->quoted = 1;
                    out += n + 1;
                }
                if (p < eol && !is_blank(*p) && *p != '#') {
                    snprintf(err, errcap, "line %zu: text right after a closing quote", lx->line);
                    return -1;
                }
            }
            lx->n++;
        }
        if (lx->n > 0)
            return 1;
    }
}

void mmoe__sb_put(mmoe__sbuf *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    size_t need;
    if (mmoe__add(b->len, n, &need) || mmoe__add(need, 1, &need)) {
        b->failed = 1;
        return;
    }
    if (need > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < need) {
            if (mmoe__mul(cap, 2, &cap)) {
                b->failed = 1;
                return;
            }
        }
        char *p = mmoe__malloc(cap);
        if (!p) {
            b->failed = 1;
            return;
        }
        if (b->len)
            memcpy(p, b->p, b->len);
        mmoe__free(b->p);
        b->p = p;
        b->cap = cap;
    }
    if (n)
        memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void mmoe__sb_str(mmoe__sbuf *b, const char *s)
{
    mmoe__sb_put(b, s, strlen(s));
}

void mmoe__sb_printf(mmoe__sbuf *b, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof tmp) {
        b->failed = 1;
        return;
    }
    mmoe__sb_put(b, tmp, (size_t)n);
}

void mmoe__sb_quoted(mmoe__sbuf *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    mmoe__sb_put(b, "\"", 1);
    size_t run = 0; /* pending plain bytes */
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
            run++;
            continue;
        }
        mmoe__sb_put(b, s + i - run, run);
        run = 0;
        char esc[4] = {'\\', 'x', hex[c >> 4], hex[c & 15]};
        if (c == '"' || c == '\\') {
            esc[1] = (char)c;
            mmoe__sb_put(b, esc, 2);
        } else {
            mmoe__sb_put(b, esc, 4);
        }
    }
    mmoe__sb_put(b, s + len - run, run);
    mmoe__sb_put(b, "\"", 1);
}
