/*
 * Census-Income (KDD) data for the census example: reading the UCI files,
 * the per-column dictionaries of nominal values, the two task groups of the
 * MMoE paper and the encoding of a row into model inputs.
 *
 * Nothing here depends on libmmoe; the example links it into one program.
 */
#ifndef CENSUS_DATA_H
#define CENSUS_DATA_H

#include <stddef.h>
#include <stdint.h>

/* Columns of a row (file order; 0-based indices below). */
#define CENSUS_COLS 42
/* Continuous columns: age, wage per hour, capital gains, capital losses,
 * dividends, num persons worked for employer, weeks worked in year. */
#define CENSUS_NCONT 7
/* Nominal columns: every other column except the instance weight (24);
 * the income label (41) counts as nominal (it is an input of group 2). */
#define CENSUS_NNOM 34

#define CENSUS_COL_EDUCATION 4
#define CENSUS_COL_MARITAL 7
#define CENSUS_COL_WEIGHT 24
#define CENSUS_COL_INCOME 41

/* Value counts are tiny (at most a few dozen per column); this bounds them. */
#define CENSUS_MAX_VALUES 4096

/* Short name (Census Bureau code) and type of column c. */
const char *census_col_name(int c);
int census_col_is_cont(int c);

/* Index of column c among the nominal (resp. continuous) columns, or -1. */
int census_nom_index(int c);
int census_cont_index(int c);
/* Column of nominal index j / continuous index j. */
int census_nom_col(int j);
int census_cont_col(int j);

/* One dictionary per nominal column: value text -> raw id (0-based, in
 * order of first appearance over all rows read, training file first). */
typedef struct census_dict {
    size_t n;       /* values */
    size_t cap;     /* hash slots (power of two) */
    int32_t *slots; /* raw id + 1, or 0 = empty */
    char **values;  /* [n] owned copies */
} census_dict;

/* Rows of one file, nominal values as raw ids, continuous values as read. */
typedef struct census_rows {
    size_t n;
    int32_t *nom;           /* [n, CENSUS_NNOM] raw ids */
    float *cont;            /* [n, CENSUS_NCONT] */
    uint8_t *income;        /* column 42 is "50000+." */
    uint8_t *never_married; /* column 8 is "Never married" */
    uint8_t *college;       /* column 5 is one of the six college degrees */
} census_rows;

typedef struct census_data {
    census_dict dict[CENSUS_NNOM];
    census_rows train;
    census_rows test;
} census_data;

/*
 * Read census-income.data (the parts census-income.data.part1.gz and
 * census-income.data.part2.gz, or else census-income.data.gz or
 * census-income.data) and census-income.test(.gz) from dir. gzip files may
 * have several members; plain text is read as is.
 * Returns 0; -1 with a message in err (cap bytes) on failure;
 * 1 when dir does not exist or holds none of the files (message in err).
 */
int census_read(const char *dir, census_data *d, char *err, size_t cap);
void census_data_free(census_data *d);

/* The task group: which label columns become the two tasks. */
typedef struct census_group {
    int id; /* 1 or 2 */
    const char *task_name[2];
    int removed[2]; /* columns removed from the inputs */
} census_group;

void census_group_get(int id, census_group *g);

/*
 * Encoding chosen from the training rows actually used: for every nominal
 * input column the vocabulary (raw id -> id 1..V, every other raw id -> 0
 * "unknown"), and for every continuous column its transform and training
 * mean / standard deviation.
 */
typedef struct census_encoding {
    size_t n_sparse;           /* nominal input columns */
    int col[CENSUS_NNOM];      /* their column numbers */
    size_t vocab[CENSUS_NNOM]; /* ids 0..vocab-1 (0 = unknown) */
    int32_t *map[CENSUS_NNOM]; /* raw id -> id, [dict n] */
    int log1p_money;           /* log1p on the four money columns */
    double mean[CENSUS_NCONT];
    double sd[CENSUS_NCONT];
    size_t onehot_width; /* CENSUS_NCONT + sum (vocab - 1) */
} census_encoding;

/* Build the encoding from rows[idx[0..n-1]] of the training set. 0 or -1 (no memory). */
int census_encoding_build(census_encoding *e, const census_data *d, const census_group *g,
                          const size_t *idx, size_t n, int log1p_money);
void census_encoding_free(census_encoding *e);

/* A split ready for the model (rows in the given order). */
typedef struct census_set {
    size_t n;
    int64_t *ids;  /* [n, n_sparse] */
    float *dense;  /* [n, CENSUS_NCONT] standardised */
    float *labels; /* [n, 2] 0/1 */
} census_set;

/* Encode rows[idx[0..n-1]] of src. 0 or -1 (no memory). */
int census_set_build(census_set *s, const census_encoding *e, const census_rows *src,
                     const census_group *g, const size_t *idx, size_t n);
void census_set_free(census_set *s);

/*
 * One-hot row: out[0..CENSUS_NCONT-1] = dense, then for each nominal input
 * a block of vocab-1 columns with a 1 at id-1 (an unknown id 0 gives an
 * all-zero block). out has e->onehot_width floats.
 */
void census_onehot_row(const census_encoding *e, const int64_t *ids, const float *dense,
                       float *out);

#endif
