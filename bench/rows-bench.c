/*
 * mmoe-rows-bench: rows per second of the serving path from raw records,
 * in memory (no file reading, no output formatting), through the public API:
 *
 *   transform          mmoe_transform_lines: raw text records -> dense
 *                      inputs and ids (the stored transformation alone)
 *   predict            mmoe_model_predict on the transformed rows
 *   transform_predict  both, batch after batch: the work of `mmoe predict`
 *                      without its reading and writing
 *   transform_share    ratio from this run: transform time / (transform +
 *                      predict time)
 *
 * Records come from a file (--model MODEL --data FILE: the model's stored
 * transformation, the first --rows records of FILE) or, by default, are
 * generated with a fixed seed: 6 dense columns, 6 categorical columns of 50
 * values each, one multi-valued column (up to 3 of 20 tags), a binary and
 * a regression label; the transformation is fitted on them and the model is
 * an MMoE with 8 experts of 16 units and towers of 8 (the shape of the
 * Census-Income model of docs/census.md).
 *
 * Prints one JSON object per metric on stdout: rows/s of wall time and of
 * the process's CPU time (the CPU figure is the steadier one on a shared
 * machine). Each measurement repeats whole passes over the records until
 * --seconds have passed (at least one pass).
 *
 *   mmoe-rows-bench [--model MODEL --data FILE] [--rows N] [--batch B]
 *                   [--seconds S] [--threads T] [--quick]
 */
#define _POSIX_C_SOURCE 200809L

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mmoe/mmoe.h>

typedef struct records {
    char **text;
    size_t *len;
    uint64_t *line;
    size_t n;
} records;

typedef struct bench {
    mmoe_model *model;
    const mmoe_transform *tf;
    mmoe_transform_workspace *tw;
    mmoe_workspace *ws;
    size_t batch, D, I, T;
    float *x, *y; /* [rows, D], [batch, T] */
    int64_t *ids; /* [rows, I] */
    double seconds;
} bench;

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int die(const char *what, const char *msg)
{
    fprintf(stderr, "mmoe-rows-bench: %s: %s\n", what, msg);
    return 1;
}

static int add_record(records *r, const char *text, size_t len, uint64_t line)
{
    char **t = realloc(r->text, (r->n + 1) * sizeof *t);
    if (t)
        r->text = t;
    size_t *l = realloc(r->len, (r->n + 1) * sizeof *l);
    if (l)
        r->len = l;
    uint64_t *ln = realloc(r->line, (r->n + 1) * sizeof *ln);
    if (ln)
        r->line = ln;
    char *copy = malloc(len + 1);
    if (!t || !l || !ln || !copy) {
        free(copy);
        return -1;
    }
    memcpy(copy, text, len);
    copy[len] = '\0';
    r->text[r->n] = copy;
    r->len[r->n] = len;
    r->line[r->n] = line;
    r->n++;
    return 0;
}

static void free_records(records *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->text[i]);
    free(r->text);
    free(r->len);
    free(r->line);
}

/* A uniform integer in [0, n) from a 64-bit LCG state. */
static unsigned draw(uint64_t *s, unsigned n)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (unsigned)((*s >> 33) % n);
}

static const char synth_schema[] =
    "mmoe-schema 1\nheader yes\n"
    "dense d0 d0 standardize\ndense d1 d1 standardize\ndense d2 d2 log1p standardize\n"
    "dense d3 d3 standardize\ndense d4 d4 standardize\ndense d5 d5 log1p standardize\n"
    "categorical c0 c0 dim=4\ncategorical c1 c1 dim=4\ncategorical c2 c2 dim=4\n"
    "categorical c3 c3 dim=4\ncategorical c4 c4 dim=4\ncategorical c5 c5 dim=4\n"
    "multi tags tags separator=\"|\" slots=3 dim=4\n"
    "binary click click positive=1\nregression spend spend\n";
static const char synth_header[] = "d0,d1,d2,d3,d4,d5,c0,c1,c2,c3,c4,c5,tags,click,spend";
static const char synth_config[] = "mmoe-config 1\narch mmoe\nexperts.count 8\nexperts.layers 16\n"
                                   "seed 1\ntasks 2\ntask.0.layers 8\ntask.1.layers 8\n";

/* Generated records, the transformation fitted on them and the model. */
static int synthesize(size_t n, records *recs, mmoe_model **model)
{
    uint64_t s = 20260101u;
    char buf[512];
    for (size_t i = 0; i < n; i++) {
        int len = 0;
        for (int j = 0; j < 6; j++)
            len += snprintf(buf + len, sizeof buf - (size_t)len, "%.4f,",
                            (double)draw(&s, 100000) / 1000.0 - (j % 2 ? 50.0 : 0.0));
        for (int j = 0; j < 6; j++)
            len += snprintf(buf + len, sizeof buf - (size_t)len, "v%u,", draw(&s, 50));
        unsigned k = draw(&s, 4);
        for (unsigned j = 0; j < k; j++)
            len +=
                snprintf(buf + len, sizeof buf - (size_t)len, "%st%u", j ? "|" : "", draw(&s, 20));
        len += snprintf(buf + len, sizeof buf - (size_t)len, ",%u,%.3f", draw(&s, 2),
                        (double)draw(&s, 1000) / 100.0);
        if (add_record(recs, buf, (size_t)len, i + 2) != 0)
            return die("records", "out of memory");
    }
    mmoe_schema *schema = NULL;
    mmoe_fit *fit = NULL;
    mmoe_transform *tf = NULL;
    mmoe_config *cfg = NULL;
    mmoe_status st = mmoe_schema_parse(synth_schema, sizeof synth_schema - 1, &schema);
    if (st == MMOE_OK)
        st = mmoe_fit_create(schema, &fit);
    if (st == MMOE_OK)
        st = mmoe_fit_header(fit, synth_header, sizeof synth_header - 1);
    for (size_t i = 0; st == MMOE_OK && i < recs->n; i++)
        st = mmoe_fit_add_line(fit, recs->text[i], recs->len[i], recs->line[i]);
    if (st == MMOE_OK)
        st = mmoe_fit_finish(fit, &tf);
    if (st == MMOE_OK && (st = mmoe_config_create(&cfg)) == MMOE_OK)
        st = mmoe_config_parse(cfg, synth_config);
    if (st == MMOE_OK)
        st = mmoe_transform_configure(tf, cfg);
    if (st == MMOE_OK)
        st = mmoe_model_create(cfg, model);
    if (st == MMOE_OK)
        st = mmoe_model_set_transform(*model, tf);
    int rc = st == MMOE_OK ? 0 : die("synthetic model", mmoe_last_error());
    mmoe_config_free(cfg);
    mmoe_transform_free(tf);
    mmoe_fit_free(fit);
    mmoe_schema_free(schema);
    return rc;
}

/* The first n records of path, in the layout of the model's transformation. */
static int read_records(const char *path, const mmoe_transform *tf, size_t n, records *recs)
{
    mmoe_reader *r = NULL;
    if (mmoe_reader_open(path, mmoe_transform_schema(tf), 0, &r) != MMOE_OK)
        return die(path, mmoe_last_error());
    int rc = 0;
    while (recs->n < n) {
        const char *text[256];
        size_t len[256], got;
        uint64_t line[256];
        if (mmoe_reader_next(r, 256, text, len, line, &got) != MMOE_OK) {
            rc = die(path, mmoe_reader_last_error(r));
            break;
        }
        if (got == 0)
            break;
        for (size_t i = 0; i < got && recs->n < n && rc == 0; i++)
            if (add_record(recs, text[i], len[i], line[i]) != 0)
                rc = die("records", "out of memory");
        if (rc)
            break;
    }
    mmoe_reader_close(r);
    if (rc == 0 && recs->n == 0)
        rc = die(path, "no record");
    return rc;
}

/* Transform records [i, i + n) into rows [i, i + n) of b->x and b->ids. */
static mmoe_status transform_at(bench *b, const records *recs, size_t i, size_t n)
{
    size_t out, skipped;
    return mmoe_transform_lines(b->tf, b->tw, n, (const char *const *)recs->text + i, recs->len + i,
                                recs->line + i, MMOE_MALFORMED_FAIL, b->x + i * b->D,
                                b->I ? b->ids + i * b->I : NULL, NULL, NULL, NULL, &out, &skipped);
}

enum { DO_TRANSFORM = 1, DO_PREDICT = 2 };

/* Passes over all records until b->seconds; prints the metric. */
static int measure(bench *b, const records *recs, int what, const char *metric, double *wall_out)
{
    double w0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
    double wall = 0.0;
    size_t rows = 0;
    do {
        for (size_t i = 0; i < recs->n; i += b->batch) {
            size_t n = recs->n - i < b->batch ? recs->n - i : b->batch;
            if ((what & DO_TRANSFORM) && transform_at(b, recs, i, n) != MMOE_OK)
                return die("mmoe_transform_lines", mmoe_transform_workspace_last_error(b->tw));
            if ((what & DO_PREDICT) &&
                mmoe_model_predict(b->model, b->ws, n, b->x + i * b->D,
                                   b->I ? b->ids + i * b->I : NULL, b->y) != MMOE_OK)
                return die("mmoe_model_predict", mmoe_workspace_last_error(b->ws));
        }
        rows += recs->n;
        wall = clock_s(CLOCK_MONOTONIC) - w0;
    } while (wall < b->seconds);
    double cpu = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
    printf("{\"metric\":\"%s_rows_per_s\",\"value\":%.0f,\"cpu_value\":%.0f,\"rows\":%zu,"
           "\"batch\":%zu}\n",
           metric, (double)rows / wall, cpu > 0 ? (double)rows / cpu : 0.0, rows, b->batch);
    fflush(stdout);
    *wall_out = wall / (double)rows;
    return 0;
}

int main(int argc, char **argv)
{
    const char *model_path = NULL, *data = NULL;
    size_t rows = 100000, batch = 1024;
    double seconds = 3.0;
    int threads = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--quick") == 0) {
            rows = 5000;
            seconds = 0.0;
        } else if (strcmp(a, "--model") == 0 && v) {
            model_path = v, i++;
        } else if (strcmp(a, "--data") == 0 && v) {
            data = v, i++;
        } else if (strcmp(a, "--rows") == 0 && v && atol(v) > 0) {
            rows = (size_t)atol(v), i++;
        } else if (strcmp(a, "--batch") == 0 && v && atol(v) > 0 && atol(v) <= 65536) {
            batch = (size_t)atol(v), i++;
        } else if (strcmp(a, "--seconds") == 0 && v && atof(v) >= 0) {
            seconds = atof(v), i++;
        } else if (strcmp(a, "--threads") == 0 && v && atoi(v) >= 0) {
            threads = atoi(v), i++;
        } else {
            fprintf(stderr, "usage: mmoe-rows-bench [--model MODEL --data FILE] [--rows N] "
                            "[--batch B] [--seconds S] [--threads T] [--quick]\n");
            return 2;
        }
    }
    if (!model_path != !data)
        return die("usage", "--model and --data go together");
    if (threads > 0)
        mmoe_set_num_threads(threads);
    records recs = {0};
    bench b = {.batch = batch, .seconds = seconds};
    int rc;
    if (model_path) {
        if (mmoe_model_load(model_path, &b.model) != MMOE_OK)
            return die(model_path, mmoe_last_error());
        if (!mmoe_model_get_transform(b.model)) {
            mmoe_model_free(b.model);
            return die(model_path, "the model has no stored transformation");
        }
        rc = read_records(data, mmoe_model_get_transform(b.model), rows, &recs);
    } else {
        rc = synthesize(rows, &recs, &b.model);
    }
    if (rc == 0) {
        b.tf = mmoe_model_get_transform(b.model);
        b.D = mmoe_transform_dense_dim(b.tf);
        b.I = mmoe_transform_num_ids(b.tf);
        b.T = mmoe_model_num_tasks(b.model);
        b.x = malloc(recs.n * b.D * sizeof *b.x);
        b.ids = malloc((recs.n * b.I > 0 ? recs.n * b.I : 1) * sizeof *b.ids);
        b.y = malloc(batch * b.T * sizeof *b.y);
        if (!b.x || !b.ids || !b.y)
            rc = die("setup", "out of memory");
        else if (mmoe_transform_workspace_create(b.tf, 0, &b.tw) != MMOE_OK ||
                 mmoe_workspace_create(b.model, batch, &b.ws) != MMOE_OK)
            rc = die("setup", mmoe_last_error());
    }
    if (rc == 0) {
        fprintf(stderr,
                "mmoe-rows-bench: %zu records of %s, batch %zu, %zu dense inputs, %zu ids, "
                "%zu tasks, BLAS %s\n",
                recs.n, data ? data : "generated data", batch, b.D, b.I, b.T, mmoe_blas_name());
        double t_tf = 0.0, t_pred = 0.0, t_both = 0.0;
        rc = measure(&b, &recs, DO_TRANSFORM, "transform", &t_tf);
        if (rc == 0)
            rc = measure(&b, &recs, DO_PREDICT, "predict", &t_pred);
        if (rc == 0)
            rc = measure(&b, &recs, DO_TRANSFORM | DO_PREDICT, "transform_predict", &t_both);
        if (rc == 0)
            printf("{\"metric\":\"transform_share\",\"value\":%.3f}\n", t_tf / (t_tf + t_pred));
    }
    free(b.x);
    free(b.ids);
    free(b.y);
    mmoe_transform_workspace_free(b.tw);
    mmoe_workspace_free(b.ws);
    mmoe_model_free(b.model);
    free_records(&recs);
    return rc;
}
