/* Locale-independent decimal text for real numbers. */
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "numtext.h"

/*
 * Reals in text (model descriptions, file metadata) use '.' as the decimal
 * point whatever the C locale of the host process, and are read back the
 * same way.
 */
void mmoe__format_double(char *buf, size_t cap, double v, int digits)
{
    snprintf(buf, cap, "%.*g", digits, v);
    char *w = buf;
    for (const char *r = buf; *r;) {
        if ((*r >= '0' && *r <= '9') || *r == '-' || *r == '+' || *r == 'e' || *r == 'E') {
            *w++ = *r++;
            continue;
        }
        *w++ = '.'; /* the locale's decimal point (one or more bytes) */
        while (*r && !((*r >= '0' && *r <= '9') || *r == 'e' || *r == 'E'))
            r++;
    }
    *w = '\0';
}

/* Strict finite decimal: [-]digits[.digits][(e|E)[+-]digits], whole string. */
int mmoe__parse_double(const char *s, double *v)
{
    const char *p = s;
    size_t n = strlen(s);
    if (n == 0 || n > 60)
        return -1;
    if (*p == '-')
        p++;
    if (*p < '0' || *p > '9')
        return -1;
    while (*p >= '0' && *p <= '9')
        p++;
    const char *dot = NULL;
    if (*p == '.') {
        dot = p++;
        if (*p < '0' || *p > '9')
            return -1;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (*p < '0' || *p > '9')
            return -1;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p)
        return -1;
    /* strtod follows the locale's decimal point: substitute it for '.'. */
    char tmp[80];
    const char *point = localeconv()->decimal_point;
    size_t plen = point && *point ? strlen(point) : 1;
    if (plen > 8)
        return -1;
    if (dot) {
        size_t head = (size_t)(dot - s);
        memcpy(tmp, s, head);
        memcpy(tmp + head, point && *point ? point : ".", plen);
        strcpy(tmp + head + plen, dot + 1);
    } else {
        strcpy(tmp, s);
    }
    char *end;
    errno = 0;
    double d = strtod(tmp, &end);
    if (*end != '\0' || !isfinite(d))
        return -1;
    *v = d;
    return 0;
}
