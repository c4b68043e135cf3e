/*
 * Delimited-text records from a file: one buffer of max_record + 64 KiB
 * bytes, refilled as records are consumed; quoted fields may span lines.
 * Plain files and gzip streams both go through zlib's gz* interface, which
 * passes plain text through unchanged (built without zlib, plain files only).
 */
#if !defined(_POSIX_C_SOURCE) || _POSIX_C_SOURCE < 200809L
#    undef _POSIX_C_SOURCE
#    define _POSIX_C_SOURCE 200809L
#endif

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(MMOE_HAVE_ZLIB)
#    include <zlib.h>
#endif

#include "reader_impl.h"

#define READ_CHUNK ((size_t)64 << 10)
#define DEFAULT_MAX_RECORD ((size_t)1 << 20)

/* ---- the file underneath ------------------------------------------------ */

static int src_open(mmoe_reader *r, const char *path)
{
#if defined(MMOE_HAVE_ZLIB)
    if (r->is_stdin) {
        int fd = dup(0);
        r->gz = fd >= 0 ? gzdopen(fd, "rb") : NULL;
        if (!r->gz && fd >= 0)
            close(fd);
    } else {
        r->gz = gzopen(path, "rb");
    }
    if (!r->gz)
        return -1;
    gzbuffer(r->gz, 128u << 10);
    return 0;
#else
    r->f = r->is_stdin ? stdin : fopen(path, "rb");
    if (!r->f)
        return -1;
    unsigned char magic[2];
    if (!r->is_stdin) {
        size_t got = fread(magic, 1, 2, r->f);
        if (got == 2 && magic[0] == 0x1f && magic[1] == 0x8b) {
            fclose(r->f);
            r->f = NULL;
            errno = ENOTSUP;
            r->gzip_unsupported = 1;
            return -1;
        }
        rewind(r->f);
    }
    return 0;
#endif
}

static void src_close(mmoe_reader *r)
{
#if defined(MMOE_HAVE_ZLIB)
    if (r->gz)
        gzclose(r->gz);
    r->gz = NULL;
#else
    if (r->f && !r->is_stdin)
        fclose(r->f);
    r->f = NULL;
#endif
}

/* Read up to n bytes; returns the count, 0 at the end, -1 on error (message in r->err). */
static long src_read(mmoe_reader *r, char *dst, size_t n)
{
#if defined(MMOE_HAVE_ZLIB)
    if (n > (size_t)1 << 30)
        n = (size_t)1 << 30;
    int got = gzread(r->gz, dst, (unsigned)n);
    if (got < 0 || (got == 0 && !gzeof(r->gz))) {
        int zerr = 0;
        const char *msg = gzerror(r->gz, &zerr);
        MMOE_FAIL(r->err, MMOE_ERR_IO, "%s: %s", r->path, zerr == Z_ERRNO ? strerror(errno) : msg);
        return -1;
    }
    if (got == 0) {
        int zerr = 0;
        const char *msg = gzerror(r->gz, &zerr);
        if (zerr != Z_OK && zerr != Z_STREAM_END) {
            MMOE_FAIL(r->err, MMOE_ERR_IO, "%s: %s", r->path, msg);
            return -1;
        }
    }
    return got;
#else
    size_t got = fread(dst, 1, n, r->f);
    if (got == 0 && ferror(r->f)) {
        MMOE_FAIL(r->err, MMOE_ERR_IO, "%s: %s", r->path, strerror(errno));
        return -1;
    }
    return (long)got;
#endif
}

static uint64_t src_offset(const mmoe_reader *r)
{
#if defined(MMOE_HAVE_ZLIB)
    if (!r->gz)
        return 0;
    long off = (long)gzoffset(r->gz);
    return off > 0 ? (uint64_t)off : 0;
#else
    long off = r->f ? ftell(r->f) : -1;
    return off > 0 ? (uint64_t)off : 0;
#endif
}

/* ---- records ------------------------------------------------------------ */

/*
 * Find the end of the record at p[0..avail): 1 with *rec_len (without the
 * line break), *consumed and *newlines; 0 when more data is needed; -1 for
 * a quote still open at the end of the input.
 */
static int scan_record(const mmoe_reader *r, const char *p, size_t avail, int at_eof,
                       size_t *rec_len, size_t *consumed, uint64_t *newlines)
{
    const char q = r->quote, d = r->delim;
    const char *nl = memchr(p, '\n', avail);
    if (nl && (!q || !memchr(p, q, (size_t)(nl - p)))) {
        *rec_len = (size_t)(nl - p);
        *consumed = *rec_len + 1;
        *newlines = 1;
        return 1;
    }
    if (!nl && !q) {
        if (!at_eof)
            return 0;
        *rec_len = *consumed = avail;
        *newlines = 0;
        return 1;
    }
    /* quotes on this line: follow them (a quote opens only at a field's start) */
    size_t i = 0;
    uint64_t lines = 0;
    int inq = 0, start = 1;
    while (i < avail) {
        char c = p[i];
        if (inq) {
            if (c == q) {
                if (i + 1 < avail) {
                    if (p[i + 1] == q) {
                        i += 2;
                        continue;
                    }
                    inq = 0;
                } else if (!at_eof) {
                    return 0; /* a doubled quote may follow */
                } else {
                    inq = 0;
                }
            } else if (c == '\n') {
                lines++;
            }
            i++;
            continue;
        }
        if (c == '\n') {
            *rec_len = i;
            *consumed = i + 1;
            *newlines = lines + 1;
            return 1;
        }
        if (start) {
            if (r->trim && (c == ' ' || (c == '\t' && d != '\t'))) {
                i++;
                continue;
            }
            start = 0;
            if (c == q) {
                inq = 1;
                i++;
                continue;
            }
        }
        if (c == d)
            start = 1;
        i++;
    }
    if (!at_eof)
        return 0;
    if (inq)
        return -1;
    *rec_len = *consumed = avail;
    *newlines = lines;
    return 1;
}

static int is_blank_record(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != ' ' && p[i] != '\t')
            return 0;
    return 1;
}

/* Fill the buffer after moving the unconsumed bytes to its front. 0, or -1. */
static int refill(mmoe_reader *r)
{
    size_t keep = r->end - r->beg;
    if (r->beg && keep)
        memmove(r->buf, r->buf + r->beg, keep);
    r->beg = 0;
    r->end = keep;
    if (r->end >= r->cap)
        return 0;
    long got = src_read(r, r->buf + r->end, r->cap - r->end);
    if (got < 0)
        return -1;
    if (got == 0)
        r->eof = 1;
    r->end += (size_t)got;
    return 0;
}

mmoe_status mmoe__reader_next(mmoe_reader *r, size_t max, const char **recs, size_t *lens,
                              uint64_t *lines, size_t *n)
{
    *n = 0;
    if (r->failed)
        return mmoe__fail(NULL, r->failed, "mmoe_reader_next", "%s", r->err);
    for (;;) {
        while (*n < max && r->beg < r->end) {
            size_t len, used;
            uint64_t nls;
            int f = scan_record(r, r->buf + r->beg, r->end - r->beg, r->eof, &len, &used, &nls);
            if (f == 0)
                break;
            if (f < 0) {
                r->failed = MMOE_ERR_FORMAT;
                return MMOE_FAIL(r->err, MMOE_ERR_FORMAT,
                                 "%s: line %llu: quoted field still open at the end of the file",
                                 r->path, (unsigned long long)r->line);
            }
            if (len > r->max_record) {
                r->failed = MMOE_ERR_FORMAT;
                return MMOE_FAIL(r->err, MMOE_ERR_FORMAT,
                                 "%s: line %llu: record longer than %zu bytes", r->path,
                                 (unsigned long long)r->line, r->max_record);
            }
            const char *rec = r->buf + r->beg;
            uint64_t line = r->line;
            r->beg += used;
            r->line += nls;
            r->records++;
            if (len && rec[len - 1] == '\r')
                len--;
            if (is_blank_record(rec, len))
                continue;
            recs[*n] = rec;
            lens[*n] = len;
            if (lines)
                lines[*n] = line;
            (*n)++;
        }
        if (*n > 0 || (r->eof && r->beg == r->end))
            return MMOE_OK;
        if (r->end - r->beg > r->max_record) {
            r->failed = MMOE_ERR_FORMAT;
            return MMOE_FAIL(r->err, MMOE_ERR_FORMAT, "%s: line %llu: record longer than %zu bytes",
                             r->path, (unsigned long long)r->line, r->max_record);
        }
        if (refill(r) != 0) {
            r->failed = MMOE_ERR_IO;
            return mmoe__fail(NULL, MMOE_ERR_IO, "mmoe_reader_next", "%s", r->err);
        }
    }
}

/* Read the header record (schemas with a header). */
static mmoe_status read_header(mmoe_reader *r)
{
    const char *rec;
    size_t len, n;
    mmoe_status st = mmoe__reader_next(r, 1, &rec, &len, NULL, &n);
    if (st != MMOE_OK)
        return st;
    if (n == 0)
        return MMOE_FAIL(r->err, MMOE_ERR_FORMAT, "%s: empty file, expected a header", r->path);
    if (!r->header) {
        r->header = mmoe__malloc(len + 1);
        if (!r->header)
            return MMOE_FAIL(r->err, MMOE_ERR_NOMEM, "out of memory");
        memcpy(r->header, rec, len);
        r->header[len] = '\0';
        r->header_len = len;
    }
    return MMOE_OK;
}

mmoe_status mmoe_reader_open(const char *path, const mmoe_schema *schema, size_t max_record,
                             mmoe_reader **out)
{
    if (!out)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "out is NULL");
    *out = NULL;
    if (!path || !schema)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "%s is NULL", path ? "schema" : "path");
    if (max_record == 0)
        max_record = DEFAULT_MAX_RECORD;
    if (max_record > ((size_t)1 << 30))
        return MMOE_FAIL(NULL, MMOE_ERR_OVERFLOW, "max_record %zu is above 1 GiB", max_record);
    mmoe_reader *r = mmoe__calloc(1, sizeof *r);
    if (!r)
        return MMOE_FAIL(NULL, MMOE_ERR_NOMEM, "out of memory");
    size_t plen = strlen(path);
    r->path = mmoe__malloc(plen + 1);
    r->max_record = max_record;
    r->cap = max_record + READ_CHUNK + 1;
    r->buf = mmoe__malloc(r->cap);
    if (!r->path || !r->buf) {
        mmoe_reader_close(r);
        return MMOE_FAIL(NULL, MMOE_ERR_NOMEM, "out of memory (reader buffer of %zu bytes)",
                         max_record + READ_CHUNK);
    }
    memcpy(r->path, path, plen + 1);
    r->delim = schema->delim;
    r->quote = schema->quote;
    r->trim = schema->trim;
    r->has_header = schema->header;
    r->is_stdin = strcmp(path, "-") == 0;
    r->line = 1;
    errno = 0;
    if (src_open(r, path) != 0) {
#if defined(MMOE_HAVE_ZLIB)
        mmoe_status st = MMOE_ERR_IO;
#else
        mmoe_status st = r->gzip_unsupported ? MMOE_ERR_UNSUPPORTED : MMOE_ERR_IO;
#endif
        int e = errno;
        mmoe_reader_close(r);
        if (st == MMOE_ERR_UNSUPPORTED)
            return MMOE_FAIL(NULL, st, "%s is gzip-compressed and this libmmoe has no zlib", path);
        return MMOE_FAIL(NULL, st, "cannot open %s: %s", path, e ? strerror(e) : "error");
    }
    struct stat sb;
    if (!r->is_stdin && stat(path, &sb) == 0 && S_ISREG(sb.st_mode))
        r->size = (uint64_t)sb.st_size;
    if (r->has_header) {
        mmoe_status st = read_header(r);
        if (st != MMOE_OK) {
            mmoe_reader_close(r);
            return st;
        }
    }
    *out = r;
    return MMOE_OK;
}

void mmoe_reader_close(mmoe_reader *r)
{
    if (!r)
        return;
    src_close(r);
    mmoe__free(r->header);
    mmoe__free(r->buf);
    mmoe__free(r->path);
    mmoe__free(r);
}

mmoe_status mmoe_reader_header(const mmoe_reader *r, const char **record, size_t *len)
{
    if (!r || !record || !len)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "%s is NULL", !r ? "r" : "an out pointer");
    if (!r->has_header)
        return MMOE_FAIL(NULL, MMOE_ERR_STATE, "the schema has no header");
    *record = r->header;
    *len = r->header_len;
    return MMOE_OK;
}

mmoe_status mmoe_reader_next(mmoe_reader *r, size_t max, const char **recs, size_t *lens,
                             uint64_t *lines, size_t *n)
{
    if (!r || !recs || !lens || !n) {
        if (n)
            *n = 0;
        return MMOE_FAIL(r ? r->err : NULL, MMOE_ERR_NULL, "%s is NULL",
                         !r      ? "r"
                         : !recs ? "recs"
                         : !lens ? "lens"
                                 : "n");
    }
    if (max == 0) {
        *n = 0;
        return MMOE_FAIL(r->err, MMOE_ERR_INVALID_ARG, "max is 0");
    }
    return mmoe__reader_next(r, max, recs, lens, lines, n);
}

mmoe_status mmoe_reader_rewind(mmoe_reader *r)
{
    if (!r)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "r is NULL");
    if (r->is_stdin)
        return MMOE_FAIL(r->err, MMOE_ERR_UNSUPPORTED, "standard input cannot be read twice");
    src_close(r);
    r->beg = r->end = 0;
    r->eof = 0;
    r->failed = MMOE_OK;
    r->line = 1;
    r->records = 0;
    errno = 0;
    if (src_open(r, r->path) != 0) {
        r->failed = MMOE_ERR_IO;
        return MMOE_FAIL(r->err, MMOE_ERR_IO, "cannot reopen %s: %s", r->path,
                         errno ? strerror(errno) : "error");
    }
    if (r->has_header)
        return read_header(r);
    mmoe__clear(r->err);
    return MMOE_OK;
}

mmoe_status mmoe_reader_progress(const mmoe_reader *r, uint64_t *done, uint64_t *total)
{
    if (!r)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "r is NULL");
    if (done)
        *done = src_offset(r);
    if (total)
        *total = r->size;
    return MMOE_OK;
}

const char *mmoe_reader_last_error(const mmoe_reader *r)
{
    return r ? r->err : "";
}

size_t mmoe__reader_bytes(const mmoe_reader *r)
{
    /* the buffer, the header, and zlib: 2 x 128 KiB buffers + inflate state (~48 KiB) */
    return r->cap + r->header_len + (size_t)320 * 1024;
}
