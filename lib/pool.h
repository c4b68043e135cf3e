/*
 * The library's thread pool: the one owner of threads once the host calls
 * mmoe_set_num_threads (the BLAS then runs single-threaded inside it).
 *
 * mmoe__parallel_for(n, grain, fn, ctx) cuts [0, n) into contiguous chunks
 * whose bounds depend only on n, grain and the pool's width, never on which
 * thread runs them, so results do not depend on scheduling. It runs fn on
 * the calling thread alone when the pool has one thread, when the range is
 * too small, when called from inside a chunk (nested regions run inline),
 * or when another host thread is using the pool at that moment (serving
 * threads never queue behind each other).
 */
#ifndef MMOE_POOL_H
#define MMOE_POOL_H

#include <stddef.h>

#include "mmoe/status.h"

/* Work on [begin, end) of a range; `chunk` is the chunk's index. */
typedef void (*mmoe__range_fn)(void *ctx, size_t chunk, size_t begin, size_t end);

/* Most chunks a region is cut into (a caller's per-chunk result arrays have this size). */
#define MMOE__MAX_CHUNKS 64

/* Threads a region started now could use: 1 inside a chunk or when the pool is off. */
size_t mmoe__pool_width(void);

/*
 * Run fn over [0, n) in at most mmoe__pool_width() chunks of at least
 * `grain` items each (the last may be shorter), each chunk's begin a
 * multiple of `align` (1: any). Returns the number of chunks used (>= 1
 * for n > 0; fn runs once with an empty range when n is 0).
 */
size_t mmoe__parallel_for(size_t n, size_t grain, size_t align, mmoe__range_fn fn, void *ctx);

/* Chunks mmoe__parallel_for would use for these arguments (the same rule). */
size_t mmoe__parallel_chunks(size_t n, size_t grain, size_t align);

/*
 * Arithmetic worth sharing: a product (or layer) below MMOE__PAR_FLOPS runs
 * on the calling thread, and a chunk gets at least MMOE__CHUNK_FLOPS.
 * Measured on a 2-core Xeon VM with mmoe-bench: paper-shape products of
 * 6.5 MFLOP (predict, batch 256) and 26 MFLOP (training, batch 1024) ran
 * slower split in two than whole; the recsys shape's products (34 MFLOP
 * and up) gain from the split.
 */
#define MMOE__PAR_FLOPS 32e6
#define MMOE__CHUNK_FLOPS 16e6

/*
 * Element-wise passes (zeroing, the optimizer update, the finiteness
 * check, activation derivatives) are shared from MMOE__PAR_ELEMS floats
 * on, in chunks of at least half that.
 */
#define MMOE__PAR_ELEMS 262144

/* Items per chunk for n items costing `flops` in all: at least MMOE__CHUNK_FLOPS and min_grain. */
static inline size_t mmoe__flops_grain(size_t n, double flops, size_t min_grain)
{
    double g = flops > 0.0 ? (double)n * MMOE__CHUNK_FLOPS / flops : (double)n;
    size_t grain = g >= (double)n ? n : (size_t)g + 1;
    return grain < min_grain ? min_grain : grain;
}

/* Set the pool to n threads in all (the caller included); n == 1 stops the workers. */
mmoe_status mmoe__pool_resize(int n);

#endif
