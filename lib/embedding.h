/*
 * Private embedding kernel: one table [vocab, dim] per sparse feature.
 *
 * A feature reads `slots` int64 ids per sample (with a leading dimension
 * over the whole id row of a sample):
 *   slots == 1  single id; must be >= 0
 *   slots  > 1  a bag; ids < 0 are padding. The bag's vector is the sum or
 *               the mean of its rows (mean over the non-padding ids); a bag
 *               of padding only gives zeros.
 * Ids >= vocab are an error (oov error: rejected by mmoe__emb_check before
 * any forward) or hashed into the table (oov hash: see mmoe__emb_row).
 *
 * Backward only ADDS into the rows the batch used; every other row of the
 * gradient table is left as it was. Optimizers use this through
 * mmoe__model_sparse_blocks: rows whose gradient is all zero in a step are
 * skipped (lazy updates of embedding tables).
 */
#ifndef MMOE_EMBEDDING_H
#define MMOE_EMBEDDING_H

#include <stddef.h>
#include <stdint.h>

#include "internal.h"
#include "mmoe/model.h"

typedef struct mmoe__emb {
    uint64_t vocab;
    size_t dim;
    size_t slots;
    int sum;  /* bag pooling: 0 mean, 1 sum */
    int hash; /* ids >= vocab: 0 error, 1 hashed */
    /* Shard: the table stores rows r with r mod world == rank, row r at
     * index r / world (world 0 or 1: every row, at index r). */
    size_t world, rank;
} mmoe__emb;

/*
 * Rows fed from outside for one training pass (mmoe_model_feed_rows):
 * rows sorted ascending, vec [n, dim]; backward adds their gradients to
 * grad [n, dim]. A kernel given NULL or n == 0 reads the table only.
 */
typedef struct mmoe__emb_fed {
    const int64_t *rows;
    const float *vec;
    float *grad;
    size_t n;
} mmoe__emb_fed;

/* Rows a table of vocab rows stores as shard rank of world. */
static inline uint64_t mmoe__emb_shard_rows(uint64_t vocab, size_t rank, size_t world)
{
    if (world <= 1)
        return vocab;
    return vocab > rank ? (vocab - rank + world - 1) / world : 0;
}

/* Whether the table stores row (>= 0, < vocab). */
static inline int mmoe__emb_stores(const mmoe__emb *e, int64_t row)
{
    return e->world <= 1 || (uint64_t)row % e->world == e->rank;
}

/* Index of a stored row in the table. */
static inline size_t mmoe__emb_local(const mmoe__emb *e, int64_t row)
{
    return e->world <= 1 ? (size_t)row : (size_t)((uint64_t)row / e->world);
}

/* Index of row among fed rows, or -1. */
long mmoe__emb_fed_find(const mmoe__emb_fed *fed, int64_t row);

/* Result of mmoe__emb_check. */
typedef enum mmoe__emb_bad {
    MMOE__EMB_OK = 0,
    MMOE__EMB_NEGATIVE = 1, /* a single-id feature got an id < 0 */
    MMOE__EMB_OOV = 2       /* id >= vocab with oov error */
} mmoe__emb_bad;

/*
 * Table row of id: id itself when 0 <= id < vocab; for hashed features an
 * id >= vocab maps to mix64(id) mod vocab (mix64: the splitmix64 finaliser,
 * a fixed, platform-independent bijection of uint64); -1 for padding (< 0).
 * Assumes the ids passed mmoe__emb_check.
 */
int64_t mmoe__emb_row(const mmoe__emb *e, int64_t id);

/*
 * Validate B samples of ids (row r at ids + r * ldid). On failure stores
 * the sample and slot of the first bad id and returns why.
 */
mmoe__emb_bad mmoe__emb_check(const mmoe__emb *e, size_t B, const int64_t *ids, size_t ldid,
                              size_t *bad_row, size_t *bad_slot);

/*
 * Initialise the table: normal with standard deviation 1 / sqrt(dim). A
 * shard draws the whole table's sequence and keeps its rows, so its values
 * equal those rows of the unsharded table.
 */
void mmoe__emb_init(const mmoe__emb *e, float *table, uint64_t seed, uint64_t stream);

/*
 * Check that every row B samples use is fed or stored; on failure stores
 * the sample and slot of the first that is neither and returns nonzero.
 */
int mmoe__emb_check_stored(const mmoe__emb *e, const mmoe__emb_fed *fed, size_t B,
                           const int64_t *ids, size_t ldid, size_t *bad_row, size_t *bad_slot);

/* out[r, 0:dim] (ldo) = pooled rows of sample r's ids (fed rows first; fed may be NULL). */
void mmoe__emb_forward(const mmoe__emb *e, const float *table, const mmoe__emb_fed *fed, size_t B,
                       const int64_t *ids, size_t ldid, float *out, size_t ldo);

/*
 * Adds dL/dtable (only the rows used; fed rows' into fed->grad) given
 * dout [B, dim] (lddo).
 */
void mmoe__emb_backward(const mmoe__emb *e, float *dtable, const mmoe__emb_fed *fed, size_t B,
                        const int64_t *ids, size_t ldid, const float *dout, size_t lddo);

/* A contiguous embedding table inside a model's flat parameter buffer. */
typedef struct mmoe__sparse_block {
    size_t offset; /* first float of the table */
    size_t rows;   /* rows stored (the vocabulary size unless sharded) */
    size_t dim;    /* floats per row */
    int sharded;   /* stores a shard of world > 1 */
} mmoe__sparse_block;

/*
 * The model's embedding tables, in increasing offset order (non
 * overlapping). Returns their count and points *blocks at an array owned
 * by the model (0 and NULL for NULL or a model without sparse features).
 * Implemented in input.c.
 */
size_t mmoe__model_sparse_blocks(const mmoe_model *m, const mmoe__sparse_block **blocks);

#endif
