/*
 * Private tokenizer of the line-based text forms (schemas, fitted
 * transformations): a line is split into words at spaces and tabs; '#'
 * outside quotes starts a comment; a word may be a double-quoted string with
 * C escapes (\\ \" \n \r \t \xHH), and a word "key=value" has its value
 * quoted or bare. Decoded text is NUL-terminated but may hold NUL bytes
 * (\x00): lengths are kept.
 */
#ifndef MMOE_LEXER_H
#define MMOE_LEXER_H

#include <stddef.h>

#define MMOE__LEX_MAX_WORDS 64

typedef struct mmoe__word {
    const char *key;  /* "key" of key=value, NULL for a plain word */
    const char *text; /* the word, or the value of key=value (decoded) */
    size_t len;       /* bytes of text */
    int quoted;       /* text came from a quoted string */
} mmoe__word;

typedef struct mmoe__lex {
    const char *p, *end; /* remaining input */
    size_t line;         /* number of the line last returned (1-based) */
    char *buf;           /* decoded words of the current line */
    size_t cap;
    mmoe__word w[MMOE__LEX_MAX_WORDS];
    size_t n; /* words on the current line */
} mmoe__lex;

void mmoe__lex_init(mmoe__lex *lx, const char *text, size_t len);
void mmoe__lex_free(mmoe__lex *lx);

/*
 * Next non-empty line into lx->w[0..n-1]. Returns 1 with a line, 0 at the
 * end, -1 on a syntax error (message in err, MMOE__ERRLEN bytes), -2 out of
 * memory.
 */
int mmoe__lex_next(mmoe__lex *lx, char *err, size_t errcap);

/* Append s[0..len) to out as a word that lexes back to the same bytes. */
typedef struct mmoe__sbuf {
    char *p;
    size_t len, cap;
    int failed; /* set once an allocation failed */
} mmoe__sbuf;

void mmoe__sb_put(mmoe__sbuf *b, const char *s, size_t n);
void mmoe__sb_str(mmoe__sbuf *b, const char *s);
void mmoe__sb_printf(mmoe__sbuf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Quoted, escaped form of s[0..len): printable ASCII kept, everything else \xHH. */
void mmoe__sb_quoted(mmoe__sbuf *b, const char *s, size_t len);

#endif
