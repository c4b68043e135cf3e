/* Error recording: per-handle message buffers and the per-thread last error. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "reduce.h"
#include "mmoe/mmoe.h"

static _Thread_local char tls_last_error[MMOE__ERRLEN];

mmoe_status mmoe__fail(char *errbuf, mmoe_status status, const char *func, const char *fmt, ...)
{
    char msg[MMOE__ERRLEN];
    /* Only public functions (mmoe_x, not mmoe__x or a static helper) name themselves. */
    int n = 0;
    if (func && strncmp(func, "mmoe_", 5) == 0 && func[5] != '_')
        n = snprintf(msg, sizeof msg, "%s: ", func);
    if (n < 0 || (size_t)n >= sizeof msg)
        n = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg + n, sizeof msg - (size_t)n, fmt, ap);
    va_end(ap);
    memcpy(tls_last_error, msg, sizeof msg);
    if (errbuf)
        memcpy(errbuf, msg, sizeof msg);
    return status;
}

mmoe_status mmoe__forward(char *errbuf, mmoe_status status)
{
    if (errbuf && status != MMOE_OK)
        memcpy(errbuf, tls_last_error, MMOE__ERRLEN);
    return status;
}

void mmoe__clear(char *errbuf)
{
    if (errbuf)
        errbuf[0] = '\0';
}

const char *mmoe_last_error(void)
{
    return tls_last_error;
}

int mmoe__all_finite(const float *x, size_t n)
{
    float unused;
    return mmoe__absmax_finite(x, n, &unused); /* one vectorised pass (reduce.c) */
}
