/*
 * The safetensors container: header writing and atomic saves, header
 * parsing and structural validation, tensor extraction (safetensors.h).
 */
#if !defined(_POSIX_C_SOURCE) || _POSIX_C_SOURCE < 200809L
#    undef _POSIX_C_SOURCE
#    define _POSIX_C_SOURCE 200809L
#endif

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cJSON.h>

#include "mmoe/io.h"
#include "mmoe/version.h"
#include "safetensors.h"

#define HEADER_MAX MMOE__ST_HEADER_MAX   /* bytes of JSON header accepted */
#define EXACT_INT_MAX 9007199254740992.0 /* 2^53: integers exact in a double */

/*
 * cJSON records the position of a parse error in a process-wide variable
 * (and resets it on every parse): parses are serialised so that concurrent
 * loads neither race on it nor read another thread's position.
 */
static pthread_mutex_t json_lock = PTHREAD_MUTEX_INITIALIZER;

/* ---- byte order ------------------------------------------------------- */

static int host_is_little_endian(void)
{
    const union {
        uint32_t u;
        unsigned char b[4];
    } probe = {1u};
    return probe.b[0] == 1;
}

/* Store n floats as little-endian bytes. */
static void floats_to_le(unsigned char *dst, const float *src, size_t n)
{
    if (host_is_little_endian()) {
        memcpy(dst, src, n * sizeof(float));
        return;
    }
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &src[i], 4);
        dst[4 * i + 0] = (unsigned char)(u & 0xffu);
        dst[4 * i + 1] = (unsigned char)((u >> 8) & 0xffu);
        dst[4 * i + 2] = (unsigned char)((u >> 16) & 0xffu);
        dst[4 * i + 3] = (unsigned char)((u >> 24) & 0xffu);
    }
}

/* Load n little-endian floats. */
static void floats_from_le(float *dst, const unsigned char *src, size_t n)
{
    if (host_is_little_endian()) {
        memcpy(dst, src, n * sizeof(float));
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const unsigned char *b = src + 4 * i;
        uint32_t u = (uint32_t)b[0] | ((uint32_t)b[1] << 8) | ((uint32_t)b[2] << 16) |
                     ((uint32_t)b[3] << 24);
        memcpy(&dst[i], &u, 4);
    }
}

/* ---- growable text buffer for the header ------------------------------ */

typedef struct sbuf {
    char *p;
    size_t len, cap;
    int failed; /* MMOE_ERR_NOMEM or MMOE_ERR_OVERFLOW once anything failed */
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    size_t need;
    if (mmoe__add(b->len, n, &need) || mmoe__add(need, 1, &need)) {
        b->failed = MMOE_ERR_OVERFLOW;
        return;
    }
    if (need > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < need) {
            if (mmoe__mul(cap, 2, &cap)) {
                b->failed = MMOE_ERR_OVERFLOW;
                return;
            }
        }
        char *p = mmoe__malloc(cap);
        if (!p) {
            b->failed = MMOE_ERR_NOMEM;
            return;
        }
        if (b->len)
            memcpy(p, b->p, b->len);
        mmoe__free(b->p);
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_str(sbuf *b, const char *s)
{
    sb_put(b, s, strlen(s));
}

static void sb_u64(sbuf *b, uint64_t v)
{
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)v);
    sb_put(b, tmp, (size_t)n);
}

/* A JSON string literal: quotes, backslashes and control characters escaped. */
static void sb_json_string(sbuf *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    sb_put(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        if (*p == '"' || *p == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*p;
            sb_put(b, esc, 2);
        } else if (*p == '\n') {
            sb_put(b, "\\n", 2);
        } else if (*p == '\t') {
            sb_put(b, "\\t", 2);
        } else if (*p == '\r') {
            sb_put(b, "\\r", 2);
        } else if (*p < 0x20) {
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[*p >> 4];
            esc[5] = hex[*p & 15];
            sb_put(b, esc, 6);
        } else {
            sb_put(b, (const char *)p, 1);
        }
    }
    sb_put(b, "\"", 1);
}

/* ---- writing ---------------------------------------------------------- */

/* Build the padded header text; *data_len receives the data section size. */
static mmoe_status build_header(const mmoe__st_meta *meta, size_t n_meta, const mmoe__st_tensor *t,
                                size_t n_t, sbuf *hdr, uint64_t *data_len)
{
    sb_str(hdr, "{\"__metadata__\":{");
    for (size_t i = 0; i < n_meta; i++) {
        if (i)
            sb_str(hdr, ",");
        sb_json_string(hdr, meta[i].key);
        sb_str(hdr, ":");
        sb_json_string(hdr, meta[i].value);
    }
    sb_str(hdr, "}");
    size_t off = 0;
    for (size_t i = 0; i < n_t; i++) {
        size_t bytes, end;
        if (mmoe__mul(t[i].numel, 4, &bytes) || mmoe__add(off, bytes, &end))
            return MMOE_FAIL(NULL, MMOE_ERR_OVERFLOW, "data size overflows");
        sb_str(hdr, ",");
        sb_json_string(hdr, t[i].name);
        sb_str(hdr, ":{\"dtype\":\"F32\",\"shape\":[");
        for (size_t d = 0; d < t[i].rank; d++) {
            if (d)
                sb_str(hdr, ",");
            sb_u64(hdr, (uint64_t)t[i].shape[d]);
        }
        sb_str(hdr, "],\"data_offsets\":[");
        sb_u64(hdr, off);
        sb_str(hdr, ",");
        sb_u64(hdr, end);
        sb_str(hdr, "]}");
        off = end;
    }
    sb_str(hdr, "}");
    while (!hdr->failed && hdr->len % 8 != 0)
        sb_str(hdr, " ");
    if (hdr->failed)
        return MMOE_FAIL(NULL, (mmoe_status)hdr->failed, "cannot build the header (%s)",
                         hdr->failed == MMOE_ERR_NOMEM ? "no memory" : "too large");
    if ((uint64_t)hdr->len > HEADER_MAX)
        return MMOE_FAIL(NULL, MMOE_ERR_OVERFLOW, "header of %zu bytes exceeds the %llu limit",
                         hdr->len, (unsigned long long)HEADER_MAX);
    *data_len = off;
    return MMOE_OK;
}

static void put_u64_le(unsigned char *dst, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        dst[i] = (unsigned char)((v >> (8 * i)) & 0xffu);
}

mmoe_status mmoe__st_check_finite(const mmoe__st_tensor *t, size_t n, const char *what)
{
    for (size_t i = 0; i < n; i++)
        if (!mmoe__all_finite(t[i].src, t[i].numel)) {
            size_t j = 0;
            while (j < t[i].numel && isfinite(t[i].src[j]))
                j++;
            return MMOE_FAIL(NULL, MMOE_ERR_NONFINITE, "%s %s[%zu] is %s; not saved", what,
                             t[i].name, j, isnan(t[i].src[j]) ? "NaN" : "infinite");
        }
    return MMOE_OK;
}

/* Serialise into a new buffer. */
static mmoe_status st_write_buffer(const mmoe__st_meta *meta, size_t n_meta,
                                   const mmoe__st_tensor *t, size_t n_t, void **buf, size_t *len)
{
    sbuf hdr = {0};
    uint64_t data_len = 0;
    mmoe_status st = build_header(meta, n_meta, t, n_t, &hdr, &data_len);
    size_t total = 0;
    if (st == MMOE_OK && (mmoe__add(8, hdr.len, &total) || data_len > SIZE_MAX ||
                          mmoe__add(total, (size_t)data_len, &total)))
        st = MMOE_FAIL(NULL, MMOE_ERR_OVERFLOW, "file size overflows");
    unsigned char *out = NULL;
    if (st == MMOE_OK) {
        out = mmoe__malloc(total);
        if (!out)
            st = MMOE_FAIL(NULL, MMOE_ERR_NOMEM, "no memory for %zu bytes", total);
    }
    if (st == MMOE_OK) {
        put_u64_le(out, hdr.len);
        memcpy(out + 8, hdr.p, hdr.len);
        unsigned char *d = out + 8 + hdr.len;
        for (size_t i = 0; i < n_t; i++) {
            floats_to_le(d, t[i].src, t[i].numel);
            d += 4 * t[i].numel;
        }
        *buf = out;
        *len = total;
    }
    mmoe__free(hdr.p);
    return st;
}

/* fwrite all of n bytes or fail. */
static int write_all(FILE *f, const void *p, size_t n)
{
    return n == 0 || fwrite(p, 1, n, f) == n ? 0 : -1;
}

/* Write the container to f, converting the data in chunks on big-endian hosts. */
static int write_stream(FILE *f, const sbuf *hdr, const mmoe__st_tensor *t, size_t n_t)
{
    unsigned char len8[8];
    put_u64_le(len8, hdr->len);
    if (write_all(f, len8, 8) || write_all(f, hdr->p, hdr->len))
        return -1;
    for (size_t i = 0; i < n_t; i++) {
        if (host_is_little_endian()) {
            if (write_all(f, t[i].src, t[i].numel * sizeof(float)))
                return -1;
            continue;
        }
        unsigned char chunk[4096];
        for (size_t j = 0; j < t[i].numel; j += sizeof chunk / 4) {
            size_t k = t[i].numel - j < sizeof chunk / 4 ? t[i].numel - j : sizeof chunk / 4;
            floats_to_le(chunk, t[i].src + j, k);
            if (write_all(f, chunk, 4 * k))
                return -1;
        }
    }
    return 0;
}

/*
 * Atomic save: temporary file next to path (mkstemp), write, fflush, fsync,
 * fclose, rename over path. Any failure removes the temporary file.
 */
static mmoe_status write_file_at(const mmoe__st_meta *meta, size_t n_meta, const mmoe__st_tensor *t,
                                 size_t n_t, const char *path)
{
    sbuf hdr = {0};
    uint64_t data_len = 0;
    mmoe_status st = build_header(meta, n_meta, t, n_t, &hdr, &data_len);
    if (st) {
        mmoe__free(hdr.p);
        return st;
    }
    size_t plen = strlen(path), tlen;
    static const char suffix[] = ".tmp-XXXXXX";
    char *tmp = NULL;
    if (mmoe__add(plen, sizeof suffix, &tlen) || !(tmp = mmoe__malloc(tlen))) {
        mmoe__free(hdr.p);
        return MMOE_FAIL(NULL, MMOE_ERR_NOMEM, "no memory for the temporary name");
    }
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, suffix, sizeof suffix);

    int fd = mkstemp(tmp);
    if (fd < 0) {
        int e = errno;
        st = MMOE_FAIL(NULL, MMOE_ERR_IO, "cannot create a temporary file for '%s': %s", path,
                       strerror(e));
        mmoe__free(tmp);
        mmoe__free(hdr.p);
        return st;
    }
    /* Hold a lock on the temporary file while it exists: cleanup skips it (see clean_stale). */
    int lockfd = dup(fd);
    if (lockfd >= 0)
        (void)flock(lockfd, LOCK_EX | LOCK_NB);
    /* Keep an existing file's permissions; new files get 0644. */
    struct stat sb;
    mode_t mode = 0644;
    if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode))
        mode = sb.st_mode & 07777;
    const char *step = NULL;
    int e = 0;
    FILE *f = NULL;
    if (fchmod(fd, mode) != 0) {
        step = "set permissions of";
        e = errno;
    } else if (!(f = fdopen(fd, "wb"))) {
        step = "open";
        e = errno;
    }
    if (!f)
        close(fd);
    if (!step) {
        errno = 0;
        if (write_stream(f, &hdr, t, n_t) != 0) {
            step = "write";
            e = errno ? errno : EIO;
        } else if (fflush(f) != 0) {
            step = "flush";
            e = errno;
        } else if (fsync(fileno(f)) != 0) {
            step = "sync";
            e = errno;
        }
    }
    if (f && fclose(f) != 0 && !step) {
        step = "close";
        e = errno;
    }
    if (!step && rename(tmp, path) != 0) {
        step = "rename over the target";
        e = errno;
    }
    if (lockfd >= 0)
        close(lockfd);
    if (step) {
        unlink(tmp);
        st = MMOE_FAIL(NULL, MMOE_ERR_IO, "cannot %s temporary file for '%s': %s; left unchanged",
                       step, path, strerror(e));
    } else {
        /* Make the rename durable (best effort: the file itself is complete). */
        size_t dlen = plen;
        while (dlen > 0 && path[dlen - 1] != '/')
            dlen--;
        memcpy(tmp, dlen ? path : ".", dlen ? dlen : 1);
        tmp[dlen ? dlen : 1] = '\0';
        int dfd = open(tmp, O_RDONLY);
        if (dfd >= 0) {
            (void)fsync(dfd);
            close(dfd);
        }
    }
    mmoe__free(tmp);
    mmoe__free(hdr.p);
    return st;
}

/* ---- reading: container structure ------------------------------------- */

/* Strict UTF-8 (no overlongs, no surrogates, <= U+10FFFF); also refuses NUL bytes. */
static int valid_utf8(const unsigned char *s, size_t n, size_t *bad)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t k;
        uint32_t cp, min;
        if (c == 0) {
            *bad = i;
            return 0;
        }
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            k = 1, cp = c & 0x1f, min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            k = 2, cp = c & 0x0f, min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            k = 3, cp = c & 0x07, min = 0x10000;
        } else {
            *bad = i;
            return 0;
        }
        if (n - i <= k) {
            *bad = i;
            return 0;
        }
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xc0) != 0x80) {
                *bad = i;
                return 0;
            }
            cp = (cp << 6) | (s[i + j] & 0x3fu);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
            *bad = i;
            return 0;
        }
        i += k + 1;
    }
    return 1;
}

void mmoe__st_close(mmoe__st_file *f)
{
    cJSON_Delete(f->root);
    memset(f, 0, sizeof *f);
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* No key of the object obj (n members, all named) twice: sorted, O(n log n). */
static mmoe_status check_unique_keys(const cJSON *obj, size_t n, char *err)
{
    if (n < 2)
        return MMOE_OK;
    const char **names = mmoe__calloc(n, sizeof *names);
    if (!names)
        return MMOE_FAIL(err, MMOE_ERR_NOMEM, "no memory for %zu metadata keys", n);
    size_t i = 0;
    for (const cJSON *c = obj->child; c; c = c->next)
        names[i++] = c->string;
    qsort(names, n, sizeof *names, name_cmp);
    mmoe_status st = MMOE_OK;
    for (i = 1; st == MMOE_OK && i < n; i++)
        if (strcmp(names[i - 1], names[i]) == 0)
            st =
                MMOE_FAIL(err, MMOE_ERR_FORMAT, "__metadata__ key '%.60s' appears twice", names[i]);
    mmoe__free(names);
    return st;
}

/*
 * Position of the first "\u0000" escape in the JSON text h (n bytes), or n.
 * cJSON decodes it to a NUL that would silently cut a string short (other
 * readers see the whole string), so such headers are refused.
 */
static size_t find_nul_escape(const unsigned char *h, size_t n)
{
    for (size_t i = 0; i + 1 < n; i++) {
        if (h[i] != '\\')
            continue;
        if (h[i + 1] == 'u' && i + 5 < n && memcmp(h + i + 2, "0000", 4) == 0)
            return i;
        i++; /* skip the escaped character */
    }
    return n;
}

/* Split buf into header and data, parse the header, find __metadata__. */
mmoe_status mmoe__st_open(const void *buf, size_t len, mmoe__st_file *f, char *err)
{
    memset(f, 0, sizeof *f);
    const unsigned char *b = buf;
    if (len < 8)
        return MMOE_FAIL(err, MMOE_ERR_FORMAT, "%zu bytes: too short for a header length (8)", len);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = (n << 8) | b[i];
    if (n > HEADER_MAX)
        return MMOE_FAIL(err, MMOE_ERR_FORMAT, "header length %llu exceeds the %llu-byte limit",
                         (unsigned long long)n, (unsigned long long)HEADER_MAX);
    if (n > (uint64_t)(len - 8))
        return MMOE_FAIL(err, MMOE_ERR_FORMAT,
                         "header length %llu runs past the end of the data (%zu bytes; truncated?)",
                         (unsigned long long)n, len);
    size_t hn = (size_t)n;
    const unsigned char *h = b + 8;
    if (hn < 2 || h[0] != '{')
        return MMOE_FAIL(err, MMOE_ERR_FORMAT, "header is not a JSON object");
    size_t bad;
    if (!valid_utf8(h, hn, &bad))
        return MMOE_FAIL(err, MMOE_ERR_FORMAT, "header byte %zu is not valid UTF-8 text", bad);
    if ((bad = find_nul_escape(h, hn)) < hn)
        return MMOE_FAIL(err, MMOE_ERR_FORMAT,
                         "header byte %zu: a \\u0000 escape (NUL character) is not allowed in "
                         "names or metadata",
                         bad);
    char *text = mmoe__malloc(hn + 1);
    if (!text)
        return MMOE_FAIL(err, MMOE_ERR_NOMEM, "no memory for a %zu-byte header", hn);
    memcpy(text, h, hn);
    text[hn] = '\0';
    const char *end = NULL;
    size_t pos = 0;
    pthread_mutex_lock(&json_lock);
    cJSON *root = cJSON_ParseWithOpts(text, &end, 0);
    if (!root) {
        const char *at = cJSON_GetErrorPtr();
        pos = at && at >= text && at <= text + hn ? (size_t)(at - text) : 0;
    }
    pthread_mutex_unlock(&json_lock);
    mmoe_status st = MMOE_OK;
    if (!root) {
        st = MMOE_FAIL(err, MMOE_ERR_FORMAT, "header is not well-formed JSON (near byte %zu)", pos);
    } else {
        for (const char *p = end; st == MMOE_OK && p < text + hn; p++)
            if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
                st = MMOE_FAIL(err, MMOE_ERR_FORMAT,
                               "header has bytes after the JSON object (byte %zu)",
                               (size_t)(p - text));
        if (st == MMOE_OK && !cJSON_IsObject(root))
            st = MMOE_FAIL(err, MMOE_ERR_FORMAT, "header is not a JSON object");
    }
    mmoe__free(text);
    if (st) {
        cJSON_Delete(root);
        return st;
    }
    f->root = root;
    f->data = h + hn;
    f->data_len = len - 8 - hn;

    /* __metadata__: exactly one, an object of strings. */
    for (const cJSON *c = root->child; c; c = c->next) {
        if (!c->string)
            st = MMOE_FAIL(err, MMOE_ERR_FORMAT, "header entry without a name");
        else if (strcmp(c->string, "__metadata__") == 0) {
            if (f->meta)
                st = MMOE_FAIL(err, MMOE_ERR_FORMAT, "__metadata__ appears twice");
            else if (!cJSON_IsObject(c))
                st = MMOE_FAIL(err, MMOE_ERR_FORMAT, "__metadata__ is not an object");
            f->meta = c;
        }
        if (st)
            break;
    }
    if (st == MMOE_OK && !f->meta)
        st = MMOE_FAIL(err, MMOE_ERR_FORMAT, "no __metadata__: not a libmmoe file");
    size_t n_keys = 0;
    for (const cJSON *c = f->meta ? f->meta->child : NULL; st == MMOE_OK && c; c = c->next) {
        if (!c->string || !cJSON_IsString(c) || !c->valuestring)
            st = MMOE_FAIL(err, MMOE_ERR_FORMAT, "__metadata__ value '%.60s' is not a string",
                           c->string ? c->string : "?");
        n_keys++;
    }
    if (st == MMOE_OK)
        st = check_unique_keys(f->meta, n_keys, err);
    if (st)
        mmoe__st_close(f);
    return st;
}

/* A metadata value, or NULL when absent. */
const char *mmoe__st_meta_get(const mmoe__st_file *f, const char *key)
{
    for (const cJSON *c = f->meta->child; c; c = c->next)
        if (strcmp(c->string, key) == 0)
            return c->valuestring;
    return NULL;
}

/* Strict unsigned decimal: digits only, no sign or spaces, no overflow. */
int mmoe__st_parse_u64(const char *s, uint64_t *v)
{
    if (!s || !*s)
        return -1;
    uint64_t x = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        unsigned d = (unsigned)(*s - '0');
        if (x > (UINT64_MAX - d) / 10)
            return -1;
        x = x * 10 + d;
    }
    *v = x;
    return 0;
}

/* Check the format name and version. */
mmoe_status mmoe__st_check_format(const mmoe__st_file *f, const char *want, char *err)
{
    const char *fmt = mmoe__st_meta_get(f, "format");
    if (!fmt)
        return MMOE_FAIL(err, MMOE_ERR_FORMAT, "__metadata__ has no 'format': not a libmmoe file");
    if (strcmp(fmt, want) != 0)
        return MMOE_FAIL(err, MMOE_ERR_FORMAT, "file format is '%.60s', expected '%s'", fmt, want);
    const char *ver = mmoe__st_meta_get(f, "format_version");
    uint64_t v;
    if (!ver)
        return MMOE_FAIL(err, MMOE_ERR_FORMAT, "__metadata__ has no 'format_version'");
    if (mmoe__st_parse_u64(ver, &v) || v == 0)
        return MMOE_FAIL(err, MMOE_ERR_FORMAT, "format_version '%.40s' is not a positive integer",
                         ver);
    if (v > MMOE_FILE_FORMAT_VERSION) {
        const char *lib = mmoe__st_meta_get(f, "libmmoe_version");
        return MMOE_FAIL(err, MMOE_ERR_VERSION,
                         "file format version %llu%s%.20s%s is newer than this library supports "
                         "(%d, libmmoe %s); upgrade libmmoe to read it",
                         (unsigned long long)v, lib ? " (written by libmmoe " : "", lib ? lib : "",
                         lib ? ")" : "", MMOE_FILE_FORMAT_VERSION, mmoe_version_string());
    }
    return MMOE_OK;
}

/* A JSON number that is an exact non-negative integer (<= 2^53). */
static int json_uint(const cJSON *c, uint64_t *v)
{
    if (!cJSON_IsNumber(c))
        return -1;
    double d = c->valuedouble;
    if (!(d >= 0.0 && d <= EXACT_INT_MAX) || d != floor(d))
        return -1;
    *v = (uint64_t)d;
    return 0;
}

typedef struct span {
    uint64_t begin, end;
    size_t index;
} span;

static int span_cmp(const void *a, const void *b)
{
    const span *x = a, *y = b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return 0;
}

/*
 * Validate one tensor entry against its expected description: its keys,
 * dtype and shape; with offsets, also its byte range, filling its span.
 */
static mmoe_status check_entry(const cJSON *e, const mmoe__st_tensor *want, size_t data_len,
                               int offsets, span *sp, char *err)
{
    const char *name = want->name;
    if (!cJSON_IsObject(e))
        return MMOE_FAIL(err, MMOE_ERR_FORMAT, "tensor '%s': entry is not an object", name);
    const cJSON *dtype = NULL, *shape = NULL, *offs = NULL;
    for (const cJSON *c = e->child; c; c = c->next) {
        const cJSON **slot = NULL;
        if (c->string && strcmp(c->string, "dtype") == 0)
            slot = &dtype;
        else if (c->string && strcmp(c->string, "shape") == 0)
            slot = &shape;
        else if (c->string && strcmp(c->string, "data_offsets") == 0)
            slot = &offs;
        if (!slot)
            return MMOE_FAIL(err, MMOE_ERR_FORMAT, "tensor '%s': unknown key '%.40s'", name,
                             c->string ? c->string : "?");
        if (*slot)
            return MMOE_FAIL(err, MMOE_ERR_FORMAT, "tensor '%s': key '%s' appears twice", name,
                             c->string);
        *slot = c;
    }
    if (!dtype || !shape || !offs)
        return MMOE_FAIL(err, MMOE_ERR_FORMAT, "tensor '%s': missing '%s'", name,
                         !dtype   ? "dtype"
                         : !shape ? "shape"
                                  : "data_offsets");
    if (!cJSON_IsString(dtype) || strcmp(dtype->valuestring, "F32") != 0)
        return MMOE_FAIL(err, MMOE_ERR_FORMAT, "tensor '%s': dtype %.20s%s%s, expected F32", name,
                         cJSON_IsString(dtype) ? "'" : "",
                         cJSON_IsString(dtype) ? dtype->valuestring : "is not a string",
                         cJSON_IsString(dtype) ? "'" : "");
    if (!cJSON_IsArray(shape))
        return MMOE_FAIL(err, MMOE_ERR_FORMAT, "tensor '%s': shape is not an array", name);
    size_t rank = 0;
    int shape_ok = 1;
    for (const cJSON *c = shape->child; c; c = c->next, rank++) {
        uint64_t d;
        if (json_uint(c, &d))
            return MMOE_FAIL(err, MMOE_ERR_FORMAT,
                             "tensor '%s': shape entry %zu is not a non-negative integer", name,
                             rank);
        if (rank >= want->rank || d != (uint64_t)want->shape[rank])
            shape_ok = 0;
    }
    if (!shape_ok || rank != want->rank) {
        if (want->rank == 1)
            return MMOE_FAIL(err, MMOE_ERR_FORMAT, "tensor '%s': wrong shape, expected [%lld]",
                             name, (long long)want->shape[0]);
        return MMOE_FAIL(err, MMOE_ERR_FORMAT, "tensor '%s': wrong shape, expected [%lld, %lld]",
                         name, (long long)want->shape[0], (long long)want->shape[1]);
    }
    if (!offsets)
        return MMOE_OK;
    uint64_t be[2];
    size_t k = 0;
    if (!cJSON_IsArray(offs))
        return MMOE_FAIL(err, MMOE_ERR_FORMAT, "tensor '%s': data_offsets is not an array", name);
    for (const cJSON *c = offs->child; c; c = c->next, k++)
        if (k >= 2 || json_uint(c, &be[k]))
            return MMOE_FAIL(err, MMOE_ERR_FORMAT,
                             "tensor '%s': data_offsets must be two non-negative integers", name);
    if (k != 2)
        return MMOE_FAIL(err, MMOE_ERR_FORMAT,
                         "tensor '%s': data_offsets must be two non-negative integers", name);
    if (be[0] > be[1])
        return MMOE_FAIL(err, MMOE_ERR_FORMAT, "tensor '%s': data_offsets begin %llu > end %llu",
                         name, (unsigned long long)be[0], (unsigned long long)be[1]);
    if (be[1] > (uint64_t)data_len)
        return MMOE_FAIL(err, MMOE_ERR_FORMAT,
                         "tensor '%s': bytes [%llu, %llu) lie outside the %zu-byte data section "
                         "(offsets count from the start of the data section, after the header; "
                         "truncated?)",
                         name, (unsigned long long)be[0], (unsigned long long)be[1], data_len);
    size_t bytes;
    if (mmoe__mul(want->numel, 4, &bytes) || (uint64_t)bytes != be[1] - be[0])
        return MMOE_FAIL(err, MMOE_ERR_FORMAT,
                         "tensor '%s': data_offsets span %llu bytes; its shape needs %zu floats, "
                         "%zu bytes",
                         name, (unsigned long long)(be[1] - be[0]), want->numel, want->numel * 4);
    sp->begin = be[0];
    sp->end = be[1];
    return MMOE_OK;
}

/*
 * Match the header's tensors with the wanted list (all present once, no
 * others), check offsets tile the data section exactly, then copy values to
 * each dst and check they are finite.
 */
typedef struct named {
    const char *name;
    size_t index;
} named;

static int named_cmp(const void *a, const void *b)
{
    return strcmp(((const named *)a)->name, ((const named *)b)->name);
}

mmoe_status mmoe__st_read_tensors(const mmoe__st_file *f, mmoe__st_tensor *want, size_t n,
                                  char *err)
{
    size_t entries = 0;
    for (const cJSON *c = f->root->child; c; c = c->next)
        entries++;
    entries--; /* __metadata__ */
    span *sp = mmoe__calloc(n ? n : 1, sizeof *sp);
    unsigned char *seen = mmoe__calloc(n ? n : 1, 1);
    named *by_name = mmoe__calloc(n ? n : 1, sizeof *by_name);
    mmoe_status st = MMOE_OK;
    if (!sp || !seen || !by_name)
        st = MMOE_FAIL(err, MMOE_ERR_NOMEM, "no memory");
    /* Wanted names sorted, so that matching the header is O(n log n). */
    for (size_t i = 0; st == MMOE_OK && i < n; i++)
        by_name[i] = (named){want[i].name, i};
    if (st == MMOE_OK)
        qsort(by_name, n, sizeof *by_name, named_cmp);
    for (const cJSON *c = f->root->child; st == MMOE_OK && c; c = c->next) {
        if (c == f->meta)
            continue;
        const named key = {c->string, 0};
        const named *hit = n ? bsearch(&key, by_name, n, sizeof *by_name, named_cmp) : NULL;
        size_t i = hit ? hit->index : n;
        if (i == n)
            st = MMOE_FAIL(err, MMOE_ERR_FORMAT,
                           "unknown tensor '%.80s': not a parameter of the described model",
                           c->string);
        else if (seen[i])
            st = MMOE_FAIL(err, MMOE_ERR_FORMAT, "tensor '%s' appears twice", want[i].name);
        else {
            seen[i] = 1;
            sp[i].index = i;
            st = check_entry(c, &want[i], f->data_len, 0, &sp[i], err);
        }
    }
    for (size_t i = 0; st == MMOE_OK && i < n; i++)
        if (!seen[i])
            st = MMOE_FAIL(err, MMOE_ERR_FORMAT, "tensor '%s' is missing (%zu of %zu present)",
                           want[i].name, entries, n);
    /* Names and shapes all match: now the byte ranges, in header order. */
    for (const cJSON *c = f->root->child; st == MMOE_OK && c; c = c->next) {
        if (c == f->meta)
            continue;
        const named key = {c->string, 0};
        const named *hit = bsearch(&key, by_name, n, sizeof *by_name, named_cmp);
        st = check_entry(c, &want[hit->index], f->data_len, 1, &sp[hit->index], err);
    }
    if (st == MMOE_OK) {
        qsort(sp, n, sizeof *sp, span_cmp);
        uint64_t pos = 0;
        for (size_t i = 0; st == MMOE_OK && i < n; i++) {
            if (sp[i].begin < pos)
                st = MMOE_FAIL(err, MMOE_ERR_FORMAT, "tensor '%s' overlaps the previous one",
                               want[sp[i].index].name);
            else if (sp[i].begin > pos)
                st = MMOE_FAIL(err, MMOE_ERR_FORMAT,
                               "gap of %llu bytes in the data section before tensor '%s'",
                               (unsigned long long)(sp[i].begin - pos), want[sp[i].index].name);
            pos = sp[i].end;
        }
        if (st == MMOE_OK && pos != (uint64_t)f->data_len)
            st = MMOE_FAIL(err, MMOE_ERR_FORMAT,
                           "%llu bytes after the last tensor (data section %zu bytes, tensors "
                           "end at %llu)",
                           (unsigned long long)((uint64_t)f->data_len - pos), f->data_len,
                           (unsigned long long)pos);
    }
    if (st == MMOE_OK) {
        for (size_t i = 0; i < n; i++) {
            const mmoe__st_tensor *w = &want[sp[i].index];
            floats_from_le(w->dst, f->data + sp[i].begin, w->numel);
        }
        for (size_t i = 0; st == MMOE_OK && i < n; i++)
            if (!mmoe__all_finite(want[i].dst, want[i].numel)) {
                size_t j = 0;
                while (j < want[i].numel && isfinite(want[i].dst[j]))
                    j++;
                st = MMOE_FAIL(err, MMOE_ERR_NONFINITE, "tensor '%s' value %zu is %s", want[i].name,
                               j, isnan(want[i].dst[j]) ? "NaN" : "infinite");
            }
        for (size_t i = 0; st == MMOE_OK && i < n; i++)
            for (size_t j = 0; want[i].nonneg && j < want[i].numel; j++)
                if (want[i].dst[j] < 0.0f) {
                    st = MMOE_FAIL(err, MMOE_ERR_RANGE,
                                   "tensor '%s' value %zu is %g; it must be >= 0 (a variance)",
                                   want[i].name, j, (double)want[i].dst[j]);
                    break;
                }
    }
    mmoe__free(sp);
    mmoe__free(seen);
    mmoe__free(by_name);
    return st;
}

mmoe_status mmoe__st_map_path(const char *path, mmoe__st_bytes *b, char *err)
{
    memset(b, 0, sizeof *b);
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        int e = errno;
        return MMOE_FAIL(err, MMOE_ERR_IO, "cannot open '%s': %s", path, strerror(e));
    }
    struct stat sb;
    mmoe_status st = MMOE_OK;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        st = MMOE_FAIL(err, MMOE_ERR_IO, "cannot stat '%s': %s", path, strerror(e));
    } else if (!S_ISREG(sb.st_mode)) {
        st = MMOE_FAIL(err, MMOE_ERR_IO, "'%s' is not a regular file", path);
    } else if (sb.st_size < 0 || (uint64_t)sb.st_size > MMOE__ST_FILE_MAX) {
        st = MMOE_FAIL(err, MMOE_ERR_FORMAT,
                       "'%s' holds %lld bytes, more than the largest model or optimizer file "
                       "(%llu bytes)",
                       path, (long long)sb.st_size, (unsigned long long)MMOE__ST_FILE_MAX);
    }
    size_t len = st == MMOE_OK ? (size_t)sb.st_size : 0;
    if (st == MMOE_OK && len > 0) {
        void *p = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p != MAP_FAILED) {
            b->map = p;
            b->data = p;
        } else {
            /* No mapping (some file systems): read exactly the size fstat gave. */
            unsigned char *buf = mmoe__malloc(len);
            size_t got = 0;
            if (!buf)
                st =
                    MMOE_FAIL(err, MMOE_ERR_NOMEM, "no memory to read '%s' (%zu bytes)", path, len);
            while (st == MMOE_OK && got < len) {
                ssize_t r = read(fd, buf + got, len - got);
                if (r < 0 && errno == EINTR)
                    continue;
                if (r < 0) {
                    int e = errno;
                    st = MMOE_FAIL(err, MMOE_ERR_IO, "cannot read '%s': %s", path, strerror(e));
                } else if (r == 0) {
                    len = got; /* shrank meanwhile: validation sees a truncated file */
                } else {
                    got += (size_t)r;
                }
            }
            b->heap = buf;
            b->data = buf;
        }
    }
    close(fd);
    if (st) {
        mmoe__st_unmap(b);
        return st;
    }
    static const unsigned char empty[1];
    if (!b->data)
        b->data = empty;
    b->len = len;
    return MMOE_OK;
}

void mmoe__st_unmap(mmoe__st_bytes *b)
{
    if (b->map)
        munmap(b->map, b->len);
    mmoe__free(b->heap);
    memset(b, 0, sizeof *b);
}

/*
 * The file a save to path replaces: path itself, or, when path is a
 * symbolic link, the file it finally points to (followed like open()
 * would, at most 40 links; a dangling link names the file to create).
 * Returns a new string, or NULL on no memory / too many links (errno).
 */
static char *resolve_target(const char *path)
{
    size_t n = strlen(path);
    char *cur = mmoe__malloc(n + 1);
    if (!cur)
        return NULL;
    memcpy(cur, path, n + 1);
    for (int hops = 0;; hops++) {
        struct stat sb;
        if (lstat(cur, &sb) != 0 || !S_ISLNK(sb.st_mode))
            return cur;
        if (hops == 40) {
            mmoe__free(cur);
            errno = ELOOP;
            return NULL;
        }
        char link[4096];
        ssize_t len = readlink(cur, link, sizeof link - 1);
        if (len < 0 || (size_t)len >= sizeof link - 1)
            return cur; /* unreadable link: let the save report what fails */
        link[len] = '\0';
        size_t dir = 0;
        if (link[0] != '/')
            for (size_t i = strlen(cur); i > 0; i--)
                if (cur[i - 1] == '/') {
                    dir = i;
                    break;
                }
        char *next = mmoe__malloc(dir + (size_t)len + 1);
        if (!next) {
            mmoe__free(cur);
            return NULL;
        }
        memcpy(next, cur, dir);
        memcpy(next + dir, link, (size_t)len + 1);
        mmoe__free(cur);
        cur = next;
    }
}

/*
 * Remove leftovers of interrupted saves of target: files named
 * "<target>.tmp-XXXXXX" (six characters, as mkstemp makes them) that no
 * save holds. A save holds an advisory lock (flock) on its temporary file
 * until it renamed it; a process killed meanwhile loses its lock, so a
 * file whose lock can be taken is stale. Best effort: errors are ignored.
 */
static void clean_stale(const char *target)
{
    size_t dlen = 0;
    for (size_t i = strlen(target); i > 0; i--)
        if (target[i - 1] == '/') {
            dlen = i;
            break;
        }
    const char *base = target + dlen;
    size_t blen = strlen(base);
    char *dir = mmoe__malloc(dlen + 2);
    if (!dir)
        return;
    memcpy(dir, dlen ? target : ".", dlen ? dlen : 1);
    dir[dlen ? dlen : 1] = '\0';
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        const char *nm = e->d_name;
        if (strlen(nm) != blen + 11 || strncmp(nm, base, blen) != 0 ||
            strncmp(nm + blen, ".tmp-", 5) != 0)
            continue;
        size_t plen = dlen + strlen(nm) + 1;
        char *p = mmoe__malloc(plen);
        if (!p)
            break;
        snprintf(p, plen, "%.*s%s", (int)dlen, target, nm);
        int fd = open(p, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
        struct stat a, b;
        if (fd >= 0 && fstat(fd, &a) == 0 && S_ISREG(a.st_mode) &&
            flock(fd, LOCK_EX | LOCK_NB) == 0 && lstat(p, &b) == 0 && a.st_ino == b.st_ino &&
            a.st_dev == b.st_dev)
            (void)unlink(p);
        if (fd >= 0)
            close(fd);
        mmoe__free(p);
    }
    if (d)
        closedir(d);
    mmoe__free(dir);
}

/* Save to the file path names (through symbolic links), removing stale temporaries first. */
static mmoe_status st_write_file(const mmoe__st_meta *meta, size_t n_meta, const mmoe__st_tensor *t,
                                 size_t n_t, const char *path)
{
    char *target = resolve_target(path);
    if (!target) {
        int e = errno;
        return MMOE_FAIL(NULL, e == ELOOP ? MMOE_ERR_IO : MMOE_ERR_NOMEM, "cannot resolve '%s': %s",
                         path, strerror(e));
    }
    clean_stale(target);
    mmoe_status st = write_file_at(meta, n_meta, t, n_t, target);
    mmoe__free(target);
    return st;
}

mmoe_status mmoe__st_write(const mmoe__st_meta *meta, size_t n_meta, const mmoe__st_tensor *t,
                           size_t n_t, const char *path, void **buf, size_t *len)
{
    return path ? st_write_file(meta, n_meta, t, n_t, path)
                : st_write_buffer(meta, n_meta, t, n_t, buf, len);
}
