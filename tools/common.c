/* The mmoe command: option parsing, errors, progress and evaluation helpers. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

int parse_opts(const char *cmd, int argc, char **argv, const cli_opt *opts, size_t n,
               void (*usage)(FILE *))
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return OPTS_HELP;
        }
        const cli_opt *o = NULL;
        for (size_t k = 0; k < n; k++)
            if (strcmp(a, opts[k].name) == 0)
                o = &opts[k];
        if (!o) {
            fprintf(stderr, "mmoe %s: unknown option '%s' (see mmoe %s --help)\n", cmd, a, cmd);
            return EXIT_USAGE;
        }
        if (o->kind == OPT_FLAG) {
            *(int *)o->dst = 1;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "mmoe %s: %s needs a value\n", cmd, a);
            return EXIT_USAGE;
        }
        const char *v = argv[++i];
        char *end = NULL;
        errno = 0;
        switch (o->kind) {
        case OPT_STR:
            *(const char **)o->dst = v;
            break;
        case OPT_SIZE:
        case OPT_U64: {
            if (!*v || *v == '-' || *v == '+') {
                fprintf(stderr, "mmoe %s: %s needs a non-negative integer\n", cmd, a);
                return EXIT_USAGE;
            }
            unsigned long long u = strtoull(v, &end, 10);
            if (errno || *end ||
                (o->kind == OPT_SIZE && ((double)u < o->lo || (double)u > o->hi))) {
                fprintf(stderr, "mmoe %s: %s: '%s' is not an integer in %.0f..%.0f\n", cmd, a, v,
                        o->lo, o->hi);
                return EXIT_USAGE;
            }
            if (o->kind == OPT_SIZE)
                *(size_t *)o->dst = (size_t)u;
            else
                *(uint64_t *)o->dst = (uint64_t)u;
            break;
        }
        case OPT_REAL: {
            double d = strtod(v, &end);
            if (!*v || errno || *end || !isfinite(d) || d < o->lo || d > o->hi) {
                fprintf(stderr, "mmoe %s: %s: '%s' is not a number in [%g, %g]\n", cmd, a, v, o->lo,
                        o->hi);
                return EXIT_USAGE;
            }
            *(double *)o->dst = d;
            break;
        }
        default:
            break;
        }
    }
    return 0;
}

int exit_for(mmoe_status st)
{
    switch (st) {
    case MMOE_ERR_FORMAT:
    case MMOE_ERR_CONFIG:
    case MMOE_ERR_VERSION:
    case MMOE_ERR_SHAPE:
    case MMOE_ERR_NONFINITE:
    case MMOE_ERR_RANGE:
        return EXIT_INPUT;
    default:
        return EXIT_FAIL;
    }
}

int report(const char *cmd, const char *what, mmoe_status st, const char *msg)
{
    fprintf(stderr, "mmoe %s: %s: %s: %s\n", cmd, what, mmoe_status_name(st),
            msg && *msg ? msg : mmoe_status_string(st));
    return exit_for(st);
}

int run_options(const char *cmd, const char *on_error, mmoe_malformed *policy, size_t threads)
{
    if (strcmp(on_error, "fail") == 0) {
        *policy = MMOE_MALFORMED_FAIL;
    } else if (strcmp(on_error, "skip") == 0) {
        *policy = MMOE_MALFORMED_SKIP;
    } else {
        fprintf(stderr, "mmoe %s: --on-error: '%s' is not fail or skip\n", cmd, on_error);
        return EXIT_USAGE;
    }
    if (threads == 0)
        return 0;
    mmoe_status st = mmoe_set_num_threads((int)threads);
    if (st == MMOE_ERR_UNSUPPORTED)
        fprintf(stderr, "mmoe %s: warning: BLAS %s has no thread control; --threads ignored\n", cmd,
                mmoe_blas_name());
    else if (st != MMOE_OK)
        return report(cmd, "--threads", st, mmoe_last_error());
    return 0;
}

int load_served_model(const char *cmd, const char *path, mmoe_model **out)
{
    mmoe_status st = mmoe_model_load(path, out);
    if (st != MMOE_OK)
        return report(cmd, path, st, mmoe_last_error());
    if (!mmoe_model_get_transform(*out)) {
        fprintf(stderr, "mmoe %s: %s has no stored transformation (not written by mmoe train)\n",
                cmd, path);
        mmoe_model_free(*out);
        *out = NULL;
        return EXIT_INPUT;
    }
    return 0;
}

double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- progress ---- */

void progress_start(progress *p, const char *label, int quiet)
{
    p->label = label;
    p->quiet = quiet;
    p->tty = isatty(2);
    p->t0 = p->last = now_seconds();
    p->last_quarter = 0;
}

static void fmt_time(char *buf, size_t cap, double s)
{
    if (!(s >= 0.0) || s > 1e7)
        snprintf(buf, cap, "--:--");
    else if (s >= 3600)
        snprintf(buf, cap, "%d:%02d:%02d", (int)s / 3600, (int)s / 60 % 60, (int)s % 60);
    else
        snprintf(buf, cap, "%02d:%02d", (int)s / 60, (int)s % 60);
}

void progress_update(progress *p, uint64_t done, uint64_t total, uint64_t rows)
{
    if (p->quiet)
        return;
    double t = now_seconds(), el = t - p->t0;
    double frac = total ? (double)done / (double)total : 0.0;
    if (frac > 1.0)
        frac = 1.0;
    double rate = el > 0 ? (double)rows / el : 0.0;
    if (p->tty) {
        if (t - p->last < 0.1)
            return;
        p->last = t;
        char eta[32], ela[32];
        fmt_time(ela, sizeof ela, el);
        fmt_time(eta, sizeof eta, frac > 0 ? el / frac - el : -1);
        int w = 30, fill = (int)(frac * w);
        char bar[64];
        for (int i = 0; i < w; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[w] = '\0';
        if (total)
            fprintf(stderr, "\r%s [%s] %3.0f%%  %.0f rows/s  %s elapsed, ETA %s ", p->label, bar,
                    100 * frac, rate, ela, eta);
        else
            fprintf(stderr, "\r%s %llu rows  %.0f rows/s  %s elapsed ", p->label,
                    (unsigned long long)rows, rate, ela);
        fflush(stderr);
    } else {
        int q = (int)(frac * 4);
        if (total && q > p->last_quarter && q < 4) {
            p->last_quarter = q;
            fprintf(stderr, "%s: %d%%, %llu rows, %.0f rows/s\n", p->label, 25 * q,
                    (unsigned long long)rows, rate);
        }
    }
}

void progress_end(progress *p)
{
    if (!p->quiet && p->tty)
        fprintf(stderr, "\r\033[K");
}

/* ---- evaluation ---- */

int evalbuf_add(evalbuf *e, size_t rows, const float *pred, const float *label, const float *w)
{
    if (e->n + rows > e->cap) {
        size_t cap = e->cap ? e->cap : 4096;
        while (cap < e->n + rows)
            cap *= 2;
        float *p = realloc(e->pred, cap * e->T * sizeof *p);
        if (p)
            e->pred = p;
        float *l = realloc(e->label, cap * e->T * sizeof *l);
        if (l)
            e->label = l;
        float *ww = realloc(e->weight, cap * sizeof *ww);
        if (ww)
            e->weight = ww;
        if (!p || !l || !ww)
            return -1;
        e->cap = cap;
    }
    memcpy(e->pred + e->n * e->T, pred, rows * e->T * sizeof *pred);
    memcpy(e->label + e->n * e->T, label, rows * e->T * sizeof *label);
    if (w)
        memcpy(e->weight + e->n, w, rows * sizeof *w);
    else
        for (size_t i = 0; i < rows; i++)
            e->weight[e->n + i] = 1.0f;
    e->n += rows;
    return 0;
}

void evalbuf_free(evalbuf *e)
{
    free(e->pred);
    free(e->label);
    free(e->weight);
    memset(e, 0, sizeof *e);
}

int evalbuf_metrics(const evalbuf *e, const mmoe_model *m, task_metrics *out)
{
    const size_t T = e->T;
    float *p = malloc((e->n ? e->n : 1) * sizeof *p), *l = malloc((e->n ? e->n : 1) * sizeof *l);
    if (!p || !l) {
        free(p);
        free(l);
        return -1;
    }
    for (size_t k = 0; k < T; k++) {
        for (size_t i = 0; i < e->n; i++) {
            p[i] = e->pred[i * T + k];
            l[i] = e->label[i * T + k];
        }
        mmoe_task_kind kind = MMOE_TASK_REGRESSION;
        mmoe_model_task(m, k, NULL, &kind);
        out[k].auc = out[k].logloss = out[k].mse = NAN;
        if (e->n == 0)
            continue;
        if (kind == MMOE_TASK_BINARY) {
            if (mmoe_metric_compute(MMOE_METRIC_AUC, e->n, 1, p, l, e->weight, &out[k].auc) !=
                MMOE_OK)
                out[k].auc = NAN;
            if (mmoe_metric_compute(MMOE_METRIC_LOG_LOSS, e->n, 1, p, l, e->weight,
                                    &out[k].logloss) != MMOE_OK)
                out[k].logloss = NAN;
        } else if (mmoe_metric_compute(MMOE_METRIC_MSE, e->n, 1, p, l, e->weight, &out[k].mse) !=
                   MMOE_OK) {
            out[k].mse = NAN;
        }
    }
    free(p);
    free(l);
    return 0;
}

int evaluate_file(const char *cmd, const mmoe_model *m, mmoe_workspace *ws, const char *path,
                  size_t batch, mmoe_malformed policy, evalbuf *e, uint64_t *skipped, int quiet)
{
    const mmoe_transform *tf = mmoe_model_get_transform(m);
    mmoe_batcher *b = NULL;
    mmoe_status st = mmoe_batcher_create(tf, path, batch, 0, 0, policy, 0, &b);
    if (st != MMOE_OK)
        return report(cmd, path, st, mmoe_last_error());
    const size_t T = mmoe_model_num_tasks(m);
    float *pred = malloc(batch * T * sizeof *pred);
    int rc = EXIT_OK;
    if (!pred) {
        mmoe_batcher_free(b);
        return report(cmd, "evaluation", MMOE_ERR_NOMEM, "out of memory");
    }
    e->T = T;
    progress pr;
    progress_start(&pr, "eval", quiet);
    for (;;) {
        size_t n;
        const float *x, *y, *w;
        const int64_t *ids;
        st = mmoe_batcher_next(b, &n, &x, &ids, &y, &w);
        if (st != MMOE_OK) {
            progress_end(&pr);
            rc = report(cmd, path, st, mmoe_batcher_last_error(b));
            break;
        }
        if (n == 0)
            break;
        st = mmoe_model_predict(m, ws, n, x, ids, pred);
        if (st != MMOE_OK) {
            progress_end(&pr);
            rc = report(cmd, "mmoe_model_predict", st, mmoe_workspace_last_error(ws));
            break;
        }
        if (evalbuf_add(e, n, pred, y, w) != 0) {
            progress_end(&pr);
            rc = report(cmd, "evaluation", MMOE_ERR_NOMEM, "out of memory");
            break;
        }
        uint64_t done, total;
        mmoe_reader_progress(mmoe_batcher_reader(b), &done, &total);
        progress_update(&pr, done, total, e->n);
    }
    progress_end(&pr);
    *skipped = mmoe_batcher_skipped(b);
    if (rc == EXIT_OK && *skipped)
        fprintf(stderr, "mmoe %s: %s: skipped %llu malformed records (last: %s)\n", cmd, path,
                (unsigned long long)*skipped, mmoe_batcher_last_error(b));
    free(pred);
    mmoe_batcher_free(b);
    return rc;
}
