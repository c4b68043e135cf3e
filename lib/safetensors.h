/*
 * Private safetensors container (docs/file-format.md), generic over a list
 * of named float32 tensors and string metadata:
 *
 *   bytes [0, 8)        N, the header length, unsigned 64-bit little-endian
 *   bytes [8, 8+N)      UTF-8 JSON object, padded with spaces so that 8+N
 *                       is a multiple of 8
 *   bytes [8+N, end)    data section: every tensor's raw little-endian
 *                       float32 values, at the header's data_offsets
 *                       (relative to 8+N), contiguous, no gaps
 *
 * Writing produces the header in a fixed key order (metadata in the order
 * given, then tensors in list order), so the same lists always give the
 * same bytes; files are written atomically. Reading checks every
 * structural property before any value is used. What a model or optimizer
 * file holds (which metadata, which tensors) is decided by the mapping in
 * serialize.c; this file knows nothing of models.
 *
 * Errors: functions taking err record into it (may be NULL) and into the
 * thread's last error; functions without err record into the last error.
 */
#ifndef MMOE_SAFETENSORS_H
#define MMOE_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "internal.h"

struct cJSON;

/* One tensor, in either direction. */
typedef struct mmoe__st_tensor {
    const char *name;
    size_t rank; /* 1 or 2 */
    int64_t shape[2];
    size_t numel;
    const float *src; /* writing: values */
    float *dst;       /* reading: destination */
    int nonneg;       /* reading: values must be >= 0 (MMOE_ERR_RANGE otherwise) */
} mmoe__st_tensor;

/* One "__metadata__" entry (both strings). */
typedef struct mmoe__st_meta {
    const char *key;
    const char *value;
} mmoe__st_meta;

/* An opened container: parsed header, the data section inside the caller's bytes. */
typedef struct mmoe__st_file {
    struct cJSON *root;
    const struct cJSON *meta;
    const unsigned char *data;
    size_t data_len;
} mmoe__st_file;

/* MMOE_ERR_NONFINITE naming the first NaN/Inf of the n tensors (what: "parameter", ...). */
mmoe_status mmoe__st_check_finite(const mmoe__st_tensor *t, size_t n, const char *what);

/*
 * Serialise metadata and tensors: to path atomically (temporary file in the
 * same directory, flushed and synced, renamed over path; an existing file
 * keeps its mode) when path is not NULL, else into a new buffer *buf of
 * *len bytes (freed with mmoe__free).
 */
mmoe_status mmoe__st_write(const mmoe__st_meta *meta, size_t n_meta, const mmoe__st_tensor *t,
                           size_t n_t, const char *path, void **buf, size_t *len);

/* Split buf into header and data, parse and check the header and its __metadata__. */
mmoe_status mmoe__st_open(const void *buf, size_t len, mmoe__st_file *f, char *err);

void mmoe__st_close(mmoe__st_file *f);

/* A metadata value, or NULL when absent. */
const char *mmoe__st_meta_get(const mmoe__st_file *f, const char *key);

/* Strict unsigned decimal: digits only, no sign or spaces, no overflow. 0 or -1. */
int mmoe__st_parse_u64(const char *s, uint64_t *v);

/* Check metadata "format" is want and "format_version" one this library reads. */
mmoe_status mmoe__st_check_format(const mmoe__st_file *f, const char *want, char *err);

/*
 * Match the header's tensors with the wanted list (all present once, no
 * others, exact dtype and shape), check their byte ranges tile the data
 * section exactly, then copy the values to each dst and check they are finite
 * (MMOE_ERR_NONFINITE) and, for nonneg tensors, >= 0 (MMOE_ERR_RANGE).
 */
mmoe_status mmoe__st_read_tensors(const mmoe__st_file *f, mmoe__st_tensor *want, size_t n,
                                  char *err);

/*
 * Largest file a loader opens: the header limit plus the data of a model at
 * the size cap (parameters and statistics) or of Adam's state (two floats
 * per parameter), MMOE__MAX_MODEL_FLOATS each, float32.
 */
#define MMOE__ST_HEADER_MAX ((uint64_t)100 * 1024 * 1024)
#define MMOE__ST_FILE_MAX (8 + MMOE__ST_HEADER_MAX + (uint64_t)MMOE__MAX_MODEL_FLOATS * 2 * 4)

/* A file's bytes: mapped read-only, or read into memory where mapping fails. */
typedef struct mmoe__st_bytes {
    const unsigned char *data;
    size_t len;
    void *map;           /* mapping of len bytes, or NULL */
    unsigned char *heap; /* copy, or NULL */
} mmoe__st_bytes;

/*
 * Open path, which must be a regular file of at most MMOE__ST_FILE_MAX
 * bytes (its size from fstat), and map it read-only (or read it when the
 * file system cannot map). MMOE_ERR_IO for a path that cannot be opened or
 * is not a regular file (a directory, a device such as /dev/zero, a pipe);
 * MMOE_ERR_FORMAT for a file too large to be one this library wrote.
 * Release with mmoe__st_unmap.
 */
mmoe_status mmoe__st_map_path(const char *path, mmoe__st_bytes *b, char *err);

void mmoe__st_unmap(mmoe__st_bytes *b);

#endif
