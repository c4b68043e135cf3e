/*
 * Shuffled mini-batches from a delimited-text file: records from a reader,
 * transformed one at a time into the slots of a fixed shuffle buffer, drawn
 * at random into the batch (see mmoe/reader.h for the scheme and the
 * memory bound).
 */
#include <string.h>

#include "reader_impl.h"
#include "transform_impl.h"

#define RECS_PER_READ 256

struct mmoe_batcher {
    const mmoe_transform *tf;
    mmoe_reader *r;
    mmoe_transform_workspace *ws;
    mmoe_malformed policy;
    size_t batch, pool_cap, fill;
    size_t D, I, T;
    /* shuffle buffer [pool_cap] and batch [batch] rows */
    float *px, *py, *pw, *bx, *by, *bw;
    int64_t *pi, *bi;
    /* records of the last read */
    const char *recs[RECS_PER_READ];
    size_t lens[RECS_PER_READ];
    uint64_t lines[RECS_PER_READ];
    size_t n_recs, next_rec;
    int at_end, started;
    uint64_t rng, rows, skipped;
    size_t bytes;
    char err[MMOE__ERRLEN];
};

static uint64_t next_rand(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* Uniform integer in [0, n). */
static size_t uniform(uint64_t *s, size_t n)
{
    uint64_t lim = UINT64_MAX - UINT64_MAX % n;
    uint64_t v;
    do
        v = next_rand(s);
    while (v >= lim);
    return (size_t)(v % n);
}

void mmoe_batcher_free(mmoe_batcher *b)
{
    if (!b)
        return;
    mmoe_reader_close(b->r);
    mmoe_transform_workspace_free(b->ws);
    mmoe__free(b->px);
    mmoe__free(b->py);
    mmoe__free(b->pw);
    mmoe__free(b->pi);
    mmoe__free(b->bx);
    mmoe__free(b->by);
    mmoe__free(b->bw);
    mmoe__free(b->bi);
    mmoe__free(b);
}

static size_t ws_bytes(const mmoe_transform_workspace *ws)
{
    return sizeof *ws + ws->max_record + ws->ncols * sizeof *ws->sp;
}

/* rows * width elements of elem bytes, accounted in *bytes; NULL on overflow or no memory. */
static void *rows_alloc(size_t rows, size_t width, size_t elem, size_t *bytes, int *overflow)
{
    size_t n, sz;
    if (mmoe__mul(rows, width ? width : 1, &n) || mmoe__mul(n, elem, &sz) || n > MMOE__MAX_ELEMS ||
        mmoe__add(*bytes, sz, bytes)) {
        *overflow = 1;
        return NULL;
    }
    return mmoe__malloc(sz);
}

mmoe_status mmoe_batcher_create(const mmoe_transform *tf, const char *path, size_t batch,
                                size_t shuffle, uint64_t seed, mmoe_malformed policy,
                                size_t max_record, mmoe_batcher **out)
{
    if (!out)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "out is NULL");
    *out = NULL;
    if (!tf || !path)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "%s is NULL", tf ? "path" : "tf");
    if (batch == 0)
        return MMOE_FAIL(NULL, MMOE_ERR_INVALID_ARG, "batch is 0");
    if (policy != MMOE_MALFORMED_FAIL && policy != MMOE_MALFORMED_SKIP)
        return MMOE_FAIL(NULL, MMOE_ERR_INVALID_ARG, "unknown malformed-record policy %d",
                         (int)policy);
    mmoe_batcher *b = mmoe__calloc(1, sizeof *b);
    if (!b)
        return MMOE_FAIL(NULL, MMOE_ERR_NOMEM, "out of memory");
    b->tf = tf;
    b->policy = policy;
    b->batch = batch;
    b->pool_cap = shuffle > 1 ? shuffle : 0;
    b->D = mmoe_transform_dense_dim(tf);
    b->I = tf->s->n_ids;
    b->T = tf->s->n_labels;
    b->rng = seed;
    int overflow = 0;
    size_t bytes = sizeof *b;
    if (b->pool_cap) {
        b->px = rows_alloc(b->pool_cap, b->D, sizeof(float), &bytes, &overflow);
        b->py = rows_alloc(b->pool_cap, b->T, sizeof(float), &bytes, &overflow);
        b->pw = rows_alloc(b->pool_cap, 1, sizeof(float), &bytes, &overflow);
        b->pi = rows_alloc(b->pool_cap, b->I, sizeof(int64_t), &bytes, &overflow);
    }
    b->bx = rows_alloc(batch, b->D, sizeof(float), &bytes, &overflow);
    b->by = rows_alloc(batch, b->T, sizeof(float), &bytes, &overflow);
    b->bw = rows_alloc(batch, 1, sizeof(float), &bytes, &overflow);
    b->bi = rows_alloc(batch, b->I, sizeof(int64_t), &bytes, &overflow);
    if (overflow) {
        mmoe_batcher_free(b);
        return MMOE_FAIL(NULL, MMOE_ERR_OVERFLOW,
                         "shuffle buffer of %zu rows, batch %zu: too large", shuffle, batch);
    }
    if (!b->bx || !b->by || !b->bw || !b->bi ||
        (b->pool_cap && (!b->px || !b->py || !b->pw || !b->pi))) {
        mmoe_batcher_free(b);
        return MMOE_FAIL(NULL, MMOE_ERR_NOMEM, "out of memory (%zu bytes of rows)", bytes);
    }
    mmoe_status st = mmoe_transform_workspace_create(tf, max_record, &b->ws);
    if (st == MMOE_OK)
        st = mmoe_reader_open(path, tf->s, max_record, &b->r);
    if (st == MMOE_OK && tf->s->header) {
        const char *h;
        size_t hl;
        mmoe_reader_header(b->r, &h, &hl);
        st = mmoe_transform_check_header(tf, h, hl);
        if (st != MMOE_OK) {
            char msg[MMOE__ERRLEN];
            snprintf(msg, sizeof msg, "%s", mmoe_last_error());
            st = MMOE_FAIL(NULL, st, "%s: %s", path, msg);
        }
    }
    if (st != MMOE_OK) {
        mmoe_batcher_free(b);
        return st;
    }
    b->bytes = bytes + mmoe__reader_bytes(b->r) + ws_bytes(b->ws);
    *out = b;
    return MMOE_OK;
}

/*
 * Transform the next record of the file into one row at the given places:
 * 1 done, 0 end of the file, -1 error (status in *st).
 */
static int produce(mmoe_batcher *b, float *x, int64_t *ids, float *y, float *w, mmoe_status *st)
{
    for (;;) {
        if (b->next_rec == b->n_recs) {
            if (b->at_end)
                return 0;
            b->started = 1;
            *st = mmoe__reader_next(b->r, RECS_PER_READ, b->recs, b->lens, b->lines, &b->n_recs);
            b->next_rec = 0;
            if (*st != MMOE_OK) {
                b->n_recs = 0;
                mmoe__forward(b->err, *st);
                return -1;
            }
            if (b->n_recs == 0) {
                b->at_end = 1;
                return 0;
            }
        }
        size_t k = b->next_rec++;
        *st = mmoe_transform_line(b->tf, b->ws, b->recs[k], b->lens[k], b->lines[k], x,
                                  b->I ? ids : NULL, y, w);
        if (*st == MMOE_OK)
            return 1;
        if (*st == MMOE_ERR_FORMAT && b->policy == MMOE_MALFORMED_SKIP) {
            b->skipped++;
            memcpy(b->err, mmoe_transform_workspace_last_error(b->ws), sizeof b->err);
            continue;
        }
        mmoe__forward(b->err, *st);
        return -1;
    }
}

static void copy_row(mmoe_batcher *b, size_t dst, const float *x, const int64_t *ids,
                     const float *y, const float *w)
{
    memcpy(b->bx + dst * b->D, x, b->D * sizeof *x);
    if (b->I)
        memcpy(b->bi + dst * b->I, ids, b->I * sizeof *ids);
    memcpy(b->by + dst * b->T, y, b->T * sizeof *y);
    b->bw[dst] = *w;
}

static void move_slot(mmoe_batcher *b, size_t dst, size_t src)
{
    memcpy(b->px + dst * b->D, b->px + src * b->D, b->D * sizeof *b->px);
    if (b->I)
        memcpy(b->pi + dst * b->I, b->pi + src * b->I, b->I * sizeof *b->pi);
    memcpy(b->py + dst * b->T, b->py + src * b->T, b->T * sizeof *b->py);
    b->pw[dst] = b->pw[src];
}

mmoe_status mmoe_batcher_next(mmoe_batcher *b, size_t *n, const float **x, const int64_t **ids,
                              const float **labels, const float **weights)
{
    if (n)
        *n = 0;
    if (!b || !n)
        return MMOE_FAIL(b ? b->err : NULL, MMOE_ERR_NULL, "%s is NULL", b ? "n" : "b");
    mmoe_status st = MMOE_OK;
    size_t j = 0;
    while (j < b->batch) {
        if (!b->pool_cap) {
            int r =
                produce(b, b->bx + j * b->D, b->bi + j * b->I, b->by + j * b->T, b->bw + j, &st);
            if (r < 0)
                return st;
            if (r == 0)
                break;
            j++;
            continue;
        }
        while (b->fill < b->pool_cap) {
            size_t f = b->fill;
            int r =
                produce(b, b->px + f * b->D, b->pi + f * b->I, b->py + f * b->T, b->pw + f, &st);
            if (r < 0)
                return st;
            if (r == 0)
                break;
            b->fill++;
        }
        if (b->fill == 0)
            break;
        size_t k = uniform(&b->rng, b->fill);
        copy_row(b, j, b->px + k * b->D, b->pi + k * b->I, b->py + k * b->T, b->pw + k);
        j++;
        int r = produce(b, b->px + k * b->D, b->pi + k * b->I, b->py + k * b->T, b->pw + k, &st);
        if (r < 0)
            return st;
        if (r == 0) {
            move_slot(b, k, b->fill - 1);
            b->fill--;
        }
    }
    b->rows += j;
    *n = j;
    if (x)
        *x = b->bx;
    if (ids)
        *ids = b->I ? b->bi : NULL;
    if (labels)
        *labels = b->by;
    if (weights)
        *weights = b->bw;
    return MMOE_OK;
}

mmoe_status mmoe_batcher_restart(mmoe_batcher *b, uint64_t seed)
{
    if (!b)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "b is NULL");
    if (b->started) {
        mmoe_status st = mmoe_reader_rewind(b->r);
        if (st != MMOE_OK)
            return mmoe__forward(b->err, st);
    }
    b->started = 0;
    b->fill = 0;
    b->n_recs = b->next_rec = 0;
    b->at_end = 0;
    b->rng = seed;
    b->rows = b->skipped = 0;
    mmoe__clear(b->err);
    return MMOE_OK;
}

uint64_t mmoe_batcher_rows(const mmoe_batcher *b)
{
    return b ? b->rows : 0;
}

uint64_t mmoe_batcher_skipped(const mmoe_batcher *b)
{
    return b ? b->skipped : 0;
}

size_t mmoe_batcher_memory(const mmoe_batcher *b)
{
    return b ? b->bytes : 0;
}

const mmoe_reader *mmoe_batcher_reader(const mmoe_batcher *b)
{
    return b ? b->r : NULL;
}

const char *mmoe_batcher_last_error(const mmoe_batcher *b)
{
    return b ? b->err : "";
}
