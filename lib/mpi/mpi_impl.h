/* Private state of libmmoe-mpi shared by its sources. */
#ifndef MMOE_MPI_IMPL_H
#define MMOE_MPI_IMPL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "mmoe/mpi.h"
#include "mmoe/parallel.h"

#define MPI_ERRLEN 256

/* An embedding table of the model as the step sees it. */
typedef struct mpi_table {
    size_t dim, slots, local_rows, offset;
    uint64_t vocab;
    int sharded;   /* stored as shard rank of size */
    int64_t *rows; /* rows this rank's batch uses (sorted) */
    size_t n_rows, cap;
    int sparse; /* replicated table exchanged sparsely this step */
} mpi_table;

/* A bucket of the dense gradient: floats [off, off + n) of the flat buffer. */
typedef struct mpi_bucket {
    size_t off, n;
} mpi_bucket;

struct mmoe_mpi {
    MPI_Comm comm;
    int rank, size;
    mmoe_model *model;
    size_t n_params, n_tasks, n_tables;
    mpi_table *tables;
    /* settings */
    size_t bucket;
    int exchange;
    double sparse_cost;
    int overlap; /* start bucket allreduces during backward */
    /* dense buckets of the current step, from the top of the flat buffer down */
    mpi_bucket *bk;
    MPI_Request *bk_req;
    size_t bk_cap, req_cap, n_bk, bk_next;
    size_t mark;       /* gradients [mark, n_params) are scaled and their buckets started */
    double share;      /* this rank's weight B_r / B */
    float *grads;      /* the model's flat gradient */
    mmoe_status bk_st; /* first failure to start a bucket */
    /* per-step scratch, grow-only */
    int64_t *meta; /* agreement: [size][2 + n_tables] */
    size_t meta_cap;
    int *cnt; /* send/recv counts and displacements, 8 arrays of size */
    int64_t *ids_s, *ids_r;
    size_t ids_s_cap, ids_r_cap;
    int *kcnt_s, *kcnt_r; /* [size][n_tables] rows per destination/source and table */
    float *vec_s, *vec_r, *fed;
    size_t vec_s_cap, vec_r_cap, fed_cap;
    unsigned char *rec_s, *rec_r;
    size_t rec_s_cap, rec_r_cap;
    /* counters */
    uint64_t bytes, steps;
    char err[MPI_ERRLEN];
};

/* Record a failure in ctx->err (may be NULL ctx) and this thread's message; returns st. */
mmoe_status mpi_fail(mmoe_mpi *ctx, mmoe_status st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* MPI return code -> MMOE_OK or MMOE_ERR_IO with MPI's message. */
mmoe_status mpi_check(mmoe_mpi *ctx, int rc, const char *what);

/*
 * Agreement: every rank contributes its local status (and message) and n
 * int64 values; afterwards all[r * (n + 1) + 1 + i] holds rank r's values
 * (all: [size][n + 1] scratch, ctx->meta). Returns the status of the
 * lowest failing rank on every rank, its message in ctx->err.
 */
mmoe_status mpi_agree(mmoe_mpi *ctx, mmoe_status local, const int64_t *values, size_t n,
                      int64_t **all);

/* Grow *p to hold n elements of size elem (grow-only). 0 or -1 (no memory / overflow). */
int mpi_grow(void **p, size_t *cap, size_t n, size_t elem);

/* Fill ctx->tables from ctx->model (checks shards against rank and size). */
mmoe_status mpi_load_tables(mmoe_mpi *ctx);

/* Broadcast n floats from rank 0 in pieces of at most INT_MAX. */
mmoe_status mpi_bcast_floats(mmoe_mpi *ctx, float *p, size_t n);

#endif
