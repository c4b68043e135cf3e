/* Private layout of record readers (reader.c), used by the batcher. */
#ifndef MMOE_READER_IMPL_H
#define MMOE_READER_IMPL_H

#include <stdio.h>

#include "mmoe/reader.h"
#include "schema_impl.h"

struct mmoe_reader {
    char *path;
#if defined(MMOE_HAVE_ZLIB)
    void *gz; /* gzFile */
#else
    FILE *f;
    int gzip_unsupported;
#endif
    int is_stdin;
    char delim, quote;
    int trim, has_header;
    char *header;
    size_t header_len;
    char *buf;
    size_t cap, beg, end; /* unconsumed bytes are buf[beg, end) */
    size_t max_record;
    int eof;
    mmoe_status failed; /* sticky error */
    uint64_t line;      /* line number at buf + beg */
    uint64_t records;
    uint64_t size; /* file size, 0 if unknown */
    char err[MMOE__ERRLEN];
};

/* mmoe_reader_next without argument checks. */
mmoe_status mmoe__reader_next(mmoe_reader *r, size_t max, const char **recs, size_t *lens,
                              uint64_t *lines, size_t *n);

/* Bytes a reader holds. */
size_t mmoe__reader_bytes(const mmoe_reader *r);

#endif
