/* Private locale-independent formatting and parsing of real numbers. */
#ifndef MMOE_NUMTEXT_H
#define MMOE_NUMTEXT_H

#include <stddef.h>

/* "%.*g" of v with '.' as the decimal point in every locale. */
void mmoe__format_double(char *buf, size_t cap, double v, int digits);

/* Strict finite decimal [-]digits[.digits][(e|E)[+-]digits], whole string; 0 on success. */
int mmoe__parse_double(const char *s, double *v);

#endif
