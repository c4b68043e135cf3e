/*
 * serve - answer predictions from a libmmoe model file.
 *
 *   serve MODEL [--keep-going]
 *       Reads CSV rows of input_dim floats from stdin and writes, for each
 *       row, one line with the model's per-task predictions (probability
 *       for binary tasks, value for regression tasks), comma-separated, in
 *       task order, printed with 9 significant digits (exact float32
 *       round-trip). Output is flushed after every line, so serve can sit
 *       behind a pipe and answer row by row.
 *
 *       A malformed row (wrong number of values, a value that is not a
 *       finite number, an over-long line) is reported on stderr with its
 *       line number. By default serve then stops with exit status 1, so
 *       that no output line can be taken for the answer to another row.
 *       With --keep-going it writes the line "error" for that row instead
 *       (output line N still answers input line N), goes on, and exits
 *       with status 1 at the end.
 *
 *   serve MODEL --bench [--threads N] [--rows R] [--batch B] [--seconds S]
 *       Benchmark: N threads share the one loaded model, each with its own
 *       workspace, and call mmoe_model_predict on random rows, B rows per
 *       call, until each thread has predicted R rows (default 20000) or S
 *       seconds have passed. Prints one JSON line per thread and one for
 *       the whole run: predictions (rows) per second and per-call latency
 *       (mean and percentiles p50, p90, p99, max) in microseconds.
 *       With N > 1, serve calls mmoe_set_num_threads(1) first: the
 *       benchmark's threads are the only ones working (one owner of
 *       threads), as docs/serving.md recommends for serving processes.
 *       With N = 1 the BLAS keeps its default setting.
 *
 *   serve --config CONFIG [--save PATH] ...
 *       Instead of loading MODEL, build a fresh model (weights drawn from
 *       the description's seed) from a model description in the text form
 *       of mmoe/config.h, e.g. to benchmark an architecture before any
 *       training. With --save PATH the model is also written to PATH as a
 *       model file.
 *
 * Exit status: 0 success, 1 a malformed row or a failed prediction, 2 bad
 * usage or a model that cannot be loaded.
 *
 * A model file written by `mmoe train` (or any model given a transformation
 * with mmoe_model_set_transform) carries its preprocessing: serve then reads
 * raw records in the layout of the model's schema (CSV/TSV fields, sparse
 * categorical values included; label columns may be absent; a header line
 * first when the schema has one) and turns each into the model's inputs
 * with mmoe_transform_line, the call a C/C++ server makes.
 *
 * Only the public API (<mmoe/mmoe.h>) is used. Models with sparse
 * (categorical) inputs and no stored transformation are refused, as is
 * --bench on a model with sparse inputs (it draws dense random rows).
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mmoe/mmoe.h>

#define MAX_THREADS 256

static void usage(FILE *f)
{
    fprintf(f, "usage: serve MODEL [--keep-going]\n"
               "       serve MODEL --bench [--threads N] [--rows R] [--batch B] [--seconds S]\n"
               "       serve --config CONFIG [--save PATH] [--keep-going | --bench ...]\n"
               "Default mode: CSV rows of input_dim floats on stdin, one line of per-task\n"
               "predictions per row on stdout.\n");
}

/* ---------------------------------------------------------------- args -- */

typedef struct options {
    const char *model_path;
    const char *config_path;
    const char *save_path;
    int bench;
    int keep_going;
    size_t threads;
    size_t rows;
    size_t batch;
    double seconds;
} options;

static int parse_size(const char *s, size_t lo, size_t hi, size_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-' || v < lo || v > hi)
        return -1;
    *out = (size_t)v;
    return 0;
}

static int parse_args(int argc, char **argv, options *o)
{
    *o = (options){.threads = 1, .rows = 20000, .batch = 1, .seconds = 0.0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            exit(0);
        } else if (strcmp(a, "--bench") == 0) {
            o->bench = 1;
        } else if (strcmp(a, "--keep-going") == 0) {
            o->keep_going = 1;
        } else if (strcmp(a, "--threads") == 0 && v) {
            if (parse_size(v, 1, MAX_THREADS, &o->threads))
                return fprintf(stderr, "serve: --threads wants 1..%d\n", MAX_THREADS), -1;
            i++;
        } else if (strcmp(a, "--rows") == 0 && v) {
            if (parse_size(v, 1, (size_t)1 << 40, &o->rows))
                return fprintf(stderr, "serve: --rows wants a positive count\n"), -1;
            i++;
        } else if (strcmp(a, "--batch") == 0 && v) {
            if (parse_size(v, 1, 65536, &o->batch))
                return fprintf(stderr, "serve: --batch wants 1..65536\n"), -1;
            i++;
        } else if (strcmp(a, "--seconds") == 0 && v) {
            char *end;
            o->seconds = strtod(v, &end);
            if (end == v || *end || !(o->seconds > 0.0) || o->seconds > 86400.0)
                return fprintf(stderr, "serve: --seconds wants a positive number\n"), -1;
            i++;
        } else if (strcmp(a, "--config") == 0 && v) {
            o->config_path = v;
            i++;
        } else if (strcmp(a, "--save") == 0 && v) {
            o->save_path = v;
            i++;
        } else if (a[0] == '-' && a[1] != '\0') {
            return fprintf(stderr, "serve: unknown option or missing value: %s\n", a), -1;
        } else if (!o->model_path) {
            o->model_path = a;
        } else {
            return fprintf(stderr, "serve: unexpected argument: %s\n", a), -1;
        }
    }
    if (!o->model_path == !o->config_path)
        return fprintf(stderr, "serve: give either MODEL or --config CONFIG\n"), -1;
    if (o->bench && o->keep_going)
        return fprintf(stderr, "serve: --keep-going is for the stdin mode\n"), -1;
    return 0;
}

/* --------------------------------------------------------------- model -- */

static char *read_text_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t n = fread(buf + len, 1, cap - len - 1, f);
        len += n;
        if (len + 1 < cap)
            break;
        char *grown = realloc(buf, cap * 2);
        if (!grown) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = grown;
        cap *= 2;
    }
    int bad = ferror(f);
    fclose(f);
    if (!buf || bad) {
        free(buf);
        return NULL;
    }
    buf[len] = '\0';
    return buf;
}

static mmoe_model *open_model(const options *o)
{
    mmoe_model *m = NULL;
    if (o->model_path) {
        if (mmoe_model_load(o->model_path, &m) != MMOE_OK) {
            fprintf(stderr, "serve: %s: %s\n", o->model_path, mmoe_last_error());
            return NULL;
        }
    } else {
        char *text = read_text_file(o->config_path);
        if (!text) {
            fprintf(stderr, "serve: %s: %s\n", o->config_path, strerror(errno));
            return NULL;
        }
        mmoe_config *cfg = NULL;
        mmoe_status st = mmoe_config_create(&cfg);
        if (st == MMOE_OK)
            st = mmoe_config_parse(cfg, text);
        if (st == MMOE_OK)
            st = mmoe_model_create(cfg, &m);
        if (st != MMOE_OK)
            fprintf(stderr, "serve: %s: %s\n", o->config_path, mmoe_last_error());
        mmoe_config_free(cfg);
        free(text);
        if (st != MMOE_OK)
            return NULL;
    }
    if (o->save_path && mmoe_model_save(m, o->save_path) != MMOE_OK) {
        fprintf(stderr, "serve: saving %s: %s\n", o->save_path, mmoe_last_error());
        mmoe_model_free(m);
        return NULL;
    }
    /* Sparse inputs come through the model's stored transformation only. */
    mmoe_config *cfg = NULL;
    char sparse[32] = "0";
    if (mmoe_model_get_config(m, &cfg) == MMOE_OK)
        (void)mmoe_config_get(cfg, "input.sparse", sparse, sizeof sparse);
    mmoe_config_free(cfg);
    if (strcmp(sparse, "0") != 0 && (!mmoe_model_get_transform(m) || o->bench)) {
        fprintf(stderr, "serve: the model has %s sparse input features; %s\n", sparse,
                o->bench ? "--bench draws dense random rows only"
                         : "without a stored transformation (mmoe train writes one) serve "
                           "reads dense rows only");
        mmoe_model_free(m);
        return NULL;
    }
    return m;
}

/* --------------------------------------------------------- stdin mode -- */

/*
 * Parse one CSV row of exactly d finite floats (spaces around values
 * allowed). Returns 0, or -1 with a reason in why.
 */
static int parse_row(char *line, size_t d, float *x, char *why, size_t why_cap)
{
    size_t n = 0;
    char *p = line;
    for (;;) {
        while (*p == ' ' || *p == '\t')
            p++;
        char *end;
        errno = 0;
        float v = strtof(p, &end);
        if (end == p) {
            if (*p == '\0' && n == 0)
                snprintf(why, why_cap, "empty row, expected %zu values", d);
            else
                snprintf(why, why_cap, "value %zu is not a number", n + 1);
            return -1;
        }
        /* Underflow (ERANGE with a finite result: subnormals, tiny values) is fine. */
        if (!isfinite(v)) {
            snprintf(why, why_cap, "value %zu is not a finite float", n + 1);
            return -1;
        }
        if (n == d) {
            snprintf(why, why_cap, "more than the %zu values the model takes", d);
            return -1;
        }
        x[n++] = v;
        p = end;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == ',') {
            p++;
            continue;
        }
        if (*p == '\0')
            break;
        snprintf(why, why_cap, "unexpected character '%c' after value %zu", *p, n);
        return -1;
    }
    if (n != d) {
        snprintf(why, why_cap, "%zu values, the model takes %zu", n, d);
        return -1;
    }
    return 0;
}

static int serve_stdin(const mmoe_model *m, int keep_going)
{
    /* A model with a stored transformation reads raw records in its schema's
       layout (sparse features included); others read rows of dense floats. */
    const mmoe_transform *tf = mmoe_model_get_transform(m);
    const size_t d = mmoe_model_input_dim(m), T = mmoe_model_num_tasks(m);
    const size_t n_ids = mmoe_model_num_ids(m);
    float *x = malloc(d * sizeof *x), *y = malloc(T * sizeof *y);
    int64_t *ids = malloc((n_ids ? n_ids : 1) * sizeof *ids);
    mmoe_workspace *ws = NULL;
    mmoe_transform_workspace *tws = NULL;
    if (!x || !y || !ids || mmoe_workspace_create(m, 1, &ws) != MMOE_OK ||
        (tf && mmoe_transform_workspace_create(tf, 0, &tws) != MMOE_OK)) {
        fprintf(stderr, "serve: cannot set up: %s\n", mmoe_last_error());
        mmoe_workspace_free(ws);
        free(x);
        free(y);
        free(ids);
        return 2;
    }
    const mmoe_schema *schema = tf ? mmoe_transform_schema(tf) : NULL;
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    ssize_t len;
    int failed = 0;
    char why[256];
    while ((len = getline(&line, &cap, stdin)) != -1) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        int ok = 0;
        if (tf && lineno == 1 && mmoe_schema_has_header(schema)) {
            /* the first line names the columns, as in the training data */
            if (mmoe_transform_check_header(tf, line, (size_t)len) == MMOE_OK)
                continue;
            fprintf(stderr, "serve: stdin line 1: %s\n", mmoe_last_error());
            failed = 1;
            break;
        }
        if (memchr(line, '\0', (size_t)len) != NULL) {
            snprintf(why, sizeof why, "NUL byte at column %zu",
                     (size_t)((const char *)memchr(line, '\0', (size_t)len) - line) + 1);
        } else if (tf ? mmoe_transform_line(tf, tws, line, (size_t)len, lineno, x,
                                            n_ids ? ids : NULL, NULL, NULL) == MMOE_OK
                      : parse_row(line, d, x, why, sizeof why) == 0) {
            mmoe_status st = mmoe_model_predict(m, ws, 1, x, n_ids ? ids : NULL, y);
            if (st == MMOE_OK)
                ok = 1;
            else
                snprintf(why, sizeof why, "%s", mmoe_workspace_last_error(ws));
        } else if (tf) {
            snprintf(why, sizeof why, "%s", mmoe_transform_workspace_last_error(tws));
        }
        if (ok) {
            for (size_t k = 0; k < T; k++)
                printf(k ? ",%.9g" : "%.9g", (double)y[k]);
            putchar('\n');
        } else {
            fprintf(stderr, "serve: stdin line %zu: %s\n", lineno, why);
            failed = 1;
            if (!keep_going)
                break;
            puts("error");
        }
        fflush(stdout);
    }
    if (ferror(stdin)) {
        fprintf(stderr, "serve: reading stdin: %s\n", strerror(errno));
        failed = 1;
    }
    free(line);
    mmoe_transform_workspace_free(tws);
    mmoe_workspace_free(ws);
    free(x);
    free(y);
    free(ids);
    return failed;
}

/* --------------------------------------------------------- bench mode -- */

enum { POOL_ROWS = 4096 };

/* Start line: the threads wait until all are ready (go 1) or told to quit (go -1). */
typedef struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int go;
} gate;

static int gate_wait(gate *g)
{
    pthread_mutex_lock(&g->mu);
    while (g->go == 0)
        pthread_cond_wait(&g->cv, &g->mu);
    int go = g->go;
    pthread_mutex_unlock(&g->mu);
    return go;
}

static void gate_open(gate *g, int go)
{
    pthread_mutex_lock(&g->mu);
    g->go = go;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

typedef struct bench_thread {
    const mmoe_model *model;
    const options *opt;
    size_t id;
    struct gate *start;
    /* results */
    double *lat_us; /* per-call latencies, [max_calls] */
    size_t max_calls;
    size_t calls;
    double wall_s;
    mmoe_status status;
    char error[256];
} bench_thread;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void fill_random(float *x, size_t n, uint64_t seed)
{
    uint64_t s = seed * 0x9E3779B97F4A7C15ULL + 0x632BE59BD9B4E019ULL;
    for (size_t i = 0; i < n; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        x[i] = (float)((double)(s >> 40) / (double)(1ULL << 24)) * 2.0f - 1.0f;
    }
}

static void *bench_run(void *arg)
{
    bench_thread *t = arg;
    const options *o = t->opt;
    const size_t d = mmoe_model_input_dim(t->model), T = mmoe_model_num_tasks(t->model);
    const size_t B = o->batch;
    /* A pool of random rows the calls walk through; at least one batch. */
    const size_t pool = B > POOL_ROWS ? B : POOL_ROWS;
    float *x = malloc(pool * d * sizeof *x);
    float *y = malloc(B * T * sizeof *y);
    mmoe_workspace *ws = NULL;
    t->status = x && y ? mmoe_workspace_create(t->model, B, &ws) : MMOE_ERR_NOMEM;
    if (t->status != MMOE_OK)
        snprintf(t->error, sizeof t->error, "%s", x && y ? mmoe_last_error() : "out of memory");
    else
        fill_random(x, pool * d, t->id + 1);

    /* Warm up (caches, BLAS buffers) before the clock starts. */
    for (size_t i = 0; t->status == MMOE_OK && i < 16; i++)
        t->status = mmoe_model_predict(t->model, ws, B, x, NULL, y);
    if (gate_wait(t->start) < 0 && t->status == MMOE_OK) {
        t->status = MMOE_ERR_STATE;
        snprintf(t->error, sizeof t->error, "benchmark cancelled");
    }

    size_t row = 0;
    const double t0 = now_s();
    const double deadline = o->seconds > 0.0 ? t0 + o->seconds : 0.0;
    while (t->status == MMOE_OK && t->calls < t->max_calls) {
        if (row + B > pool)
            row = 0;
        const double a = now_s();
        mmoe_status st = mmoe_model_predict(t->model, ws, B, x + row * d, NULL, y);
        const double b = now_s();
        if (st != MMOE_OK) {
            t->status = st;
            snprintf(t->error, sizeof t->error, "%s", mmoe_workspace_last_error(ws));
            break;
        }
        t->lat_us[t->calls++] = (b - a) * 1e6;
        row += B;
        if (deadline > 0.0 && b >= deadline)
            break;
    }
    t->wall_s = now_s() - t0;
    mmoe_workspace_free(ws);
    free(x);
    free(y);
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of a sorted array. */
static double percentile(const double *v, size_t n, double p)
{
    if (n == 0)
        return 0.0;
    size_t rank = (size_t)ceil(p / 100.0 * (double)n);
    return v[rank == 0 ? 0 : rank - 1];
}

static void print_result(FILE *f, const char *scope, long thread, size_t threads, const options *o,
                         size_t calls, double wall_s, double *lat, size_t n)
{
    qsort(lat, n, sizeof *lat, cmp_double);
    double sum = 0.0;
    for (size_t i = 0; i < n; i++)
        sum += lat[i];
    const double rows = (double)calls * (double)o->batch;
    fprintf(f, "{\"scope\":\"%s\",", scope);
    if (thread >= 0)
        fprintf(f, "\"thread\":%ld,", thread);
    fprintf(f,
            "\"threads\":%zu,\"batch\":%zu,\"calls\":%zu,\"rows\":%.0f,\"seconds\":%.6f,"
            "\"predictions_per_s\":%.1f,\"latency_us\":{\"mean\":%.3f,\"p50\":%.3f,\"p90\":%.3f,"
            "\"p99\":%.3f,\"max\":%.3f},\"blas\":\"%s\",\"libmmoe\":\"%s\"}\n",
            threads, o->batch, calls, rows, wall_s, wall_s > 0.0 ? rows / wall_s : 0.0,
            n ? sum / (double)n : 0.0, percentile(lat, n, 50.0), percentile(lat, n, 90.0),
            percentile(lat, n, 99.0), n ? lat[n - 1] : 0.0, mmoe_blas_name(),
            mmoe_version_string());
}

static int bench(const mmoe_model *m, const options *o)
{
    const size_t N = o->threads;
    if (N > 1) {
        /* One owner of threads: ours. The BLAS runs single-threaded. */
        mmoe_status st = mmoe_set_num_threads(1);
        if (st != MMOE_OK && st != MMOE_ERR_UNSUPPORTED) {
            fprintf(stderr, "serve: mmoe_set_num_threads: %s\n", mmoe_last_error());
            return 2;
        }
    }
    const size_t max_calls = (o->rows + o->batch - 1) / o->batch;
    bench_thread *t = calloc(N, sizeof *t);
    pthread_t *tid = calloc(N, sizeof *tid);
    double *all = malloc(N * max_calls * sizeof *all);
    gate start = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
    if (!t || !tid || !all) {
        fprintf(stderr, "serve: out of memory for %zu threads x %zu calls\n", N, max_calls);
        free(t);
        free(tid);
        free(all);
        return 2;
    }
    size_t started = 0;
    for (size_t i = 0; i < N; i++) {
        t[i] = (bench_thread){.model = m,
                              .opt = o,
                              .id = i,
                              .start = &start,
                              .lat_us = all + i * max_calls,
                              .max_calls = max_calls};
        if (pthread_create(&tid[i], NULL, bench_run, &t[i]) != 0)
            break;
        started++;
    }
    int rc = 0;
    if (started < N) {
        fprintf(stderr, "serve: could not start thread %zu of %zu\n", started + 1, N);
        rc = 2;
    }
    gate_open(&start, rc ? -1 : 1);
    for (size_t i = 0; i < started; i++)
        pthread_join(tid[i], NULL);
    if (rc)
        goto done;

    double wall = 0.0;
    size_t total_calls = 0;
    for (size_t i = 0; i < N; i++) {
        if (t[i].status != MMOE_OK) {
            fprintf(stderr, "serve: thread %zu: %s: %s\n", i, mmoe_status_name(t[i].status),
                    t[i].error);
            rc = 1;
        }
        if (t[i].wall_s > wall)
            wall = t[i].wall_s;
        total_calls += t[i].calls;
    }
    if (rc == 0) {
        for (size_t i = 0; i < N; i++)
            print_result(stdout, "thread", (long)i, N, o, t[i].calls, t[i].wall_s, t[i].lat_us,
                         t[i].calls);
        /* Gather every latency for the whole run's percentiles. */
        size_t n = 0;
        for (size_t i = 0; i < N; i++) {
            memmove(all + n, t[i].lat_us, t[i].calls * sizeof *all);
            n += t[i].calls;
        }
        print_result(stdout, "total", -1, N, o, total_calls, wall, all, n);
    }
done:
    free(all);
    free(tid);
    free(t);
    return rc;
}

/* ---------------------------------------------------------------- main -- */

int main(int argc, char **argv)
{
    options o;
    if (parse_args(argc, argv, &o) != 0) {
        usage(stderr);
        return 2;
    }
    if (mmoe_version() >> 16 != MMOE_VERSION_MAJOR) {
        fprintf(stderr, "serve: built for libmmoe %d.x, loaded %s\n", MMOE_VERSION_MAJOR,
                mmoe_version_string());
        return 2;
    }
    mmoe_model *m = open_model(&o);
    if (!m)
        return 2;
    int rc = o.bench ? bench(m, &o) : serve_stdin(m, o.keep_going);
    mmoe_model_free(m);
    return rc;
}
