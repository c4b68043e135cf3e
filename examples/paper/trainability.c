/*
 * trainability: the trainability experiment of the MMoE paper (Ma et al.,
 * KDD 2018, figure 6). Many independent runs per model and
 * task correlation p, each with its own data set (data seed) and its own
 * initialisation (init seed); the distribution of the final test losses
 * shows how reliably each model trains.
 *
 *     trainability                         (full run, see docs/reproduction.md)
 *     trainability --runs 50 --corr 0.5
 *     trainability --quick --out /tmp/t    (CI: < 1 minute, checks an early-training claim)
 *
 * Loss = mean over the two tasks of the test mean squared error after the
 * last training step. Within one run index, every model and every p use the
 * same data seed and init seed (paired); different runs use different ones.
 *
 * Outputs in --out DIR:
 *   finals.csv     model,p,run,task1_mse,task2_mse,loss      (every run)
 *   stats.csv      per model and p: n, mean, sd, 95 % t interval, min,
 *                  median, p95 (best of the worst 5 %), mean of the worst 5 %, max
 *   histogram.csv  model,p,bin_lo,bin_hi,count (log-spaced bins shared by the
 *                  models of one p)
 *   paired.csv     paired over runs: MMoE minus each model per p, sd(MMoE) /
 *                  sd(model) with a bootstrap interval, and each model's loss
 *                  at p minus at p = 1 (the largest p when 1 is not run)
 *   gates.csv      (--gates) model,p,run,task,expert,mean_gate_weight
 *   histograms.gp and, with gnuplot on PATH, histograms.png
 *
 * Exit status: 0 success; 1 library or I/O error; 2 bad command line;
 * 3 --quick check failed (see usage: the loss at p = 0.5 not above the loss
 * at p = 1 in two thirds of the (model, run) pairs after 300 steps).
 */
#if !defined(_POSIX_C_SOURCE)
#    define _POSIX_C_SOURCE 200809L
#endif
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

#define PROG "trainability"

static void usage(FILE *f)
{
    fprintf(f, "usage: " PROG " [options]\n"
               "\n"
               "Train every model many times per task correlation p, each run with its own\n"
               "data and initialisation seed, and report the distribution of the final test\n"
               "loss (mean of the two tasks' test MSE).\n"
               "\n"
               "  --runs N           runs per (model, p) [200]\n"
               "  --jobs J           runs trained at once, in J threads (results do not depend\n"
               "                     on J; use one BLAS thread per job) [1]\n"
               "  --bins N           histogram bins [30]\n");
    paper_print_option_help(f);
    fprintf(f, "\n"
               "Defaults differ from correlation-sweep: 6000 steps per run, and --eval-every\n"
               "is unused (only the final loss is measured).\n"
               "--quick runs 12 runs x 300 steps on 20000 samples at p = 0.5 and 1 (unless\n"
               "given explicitly) and exits with status 3 unless, over Shared-Bottom, OMoE\n"
               "and MMoE and the runs, the loss at p = 0.5 is above the loss at p = 1 in at\n"
               "least two thirds of the (model, run) pairs, with a positive mean difference:\n"
               "early in training every model learns related tasks faster.\n"
               "Exit status: 0 success, 1 library or I/O error, 2 bad command line,\n"
               "3 --quick check failed.\n");
}

typedef struct study {
    paper_options o;
    size_t runs, bins, jobs;
    size_t widths[PAPER_MAX_ARCHS], params[PAPER_MAX_ARCHS];
    double *finals; /* [arch][corr][run][task] */
    double *tv;     /* [arch][corr][run] gate TV distance, or NULL */
    double *gm;     /* [arch][corr][run][task][expert] mean gate weights, or NULL */
    size_t *gn;     /* [arch][corr][run] experts in gm (0: no gates) */
    /* the workers' shared state */
    pthread_mutex_t lock;
    size_t next_run;
    int failed;
    paper_progress prog;
} study;

static size_t cell(const study *s, size_t a, size_t c, size_t r)
{
    return (a * s->o.n_corrs + c) * s->runs + r;
}

static int extra_option(const char *a, const char *v, void *ctx)
{
    study *s = ctx;
    if (strcmp(a, "--runs") == 0)
        return paper_parse_size(PROG, a, v, 1, 1000000, &s->runs) == 0 ? 1 : -1;
    if (strcmp(a, "--bins") == 0)
        return paper_parse_size(PROG, a, v, 1, 1000, &s->bins) == 0 ? 1 : -1;
    if (strcmp(a, "--jobs") == 0)
        return paper_parse_size(PROG, a, v, 1, 256, &s->jobs) == 0 ? 1 : -1;
    return 0;
}

static int parse_args(int argc, char **argv, study *s, int *help)
{
    paper_options *o = &s->o;
    /* --quick first: its presets apply unless an option overrides them */
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--quick") == 0) {
            o->quick = 1;
            s->runs = 12;
            o->steps = 300;
            o->n_train = 20000;
            o->n_test = 1000;
            o->corrs[0] = 0.5;
            o->corrs[1] = 1.0;
            o->n_corrs = 2;
        }
    return paper_parse_args(PROG, argc, argv, o, help, extra_option, s);
}

/* Final loss (mean of tasks) of one run, for paper_quick_check. */
static double final_loss(const void *ctx, size_t a, size_t c, size_t r)
{
    const study *s = ctx;
    const double *t = s->finals + cell(s, a, c, r) * PAPER_TASKS;
    return 0.5 * (t[0] + t[1]);
}

static void cell_losses(const study *s, size_t a, size_t c, double *v)
{
    for (size_t r = 0; r < s->runs; r++) {
        const double *t = s->finals + cell(s, a, c, r) * PAPER_TASKS;
        v[r] = 0.5 * (t[0] + t[1]);
    }
}

static size_t arch_index(const study *s, mmoe_arch arch)
{
    for (size_t i = 0; i < s->o.n_archs; i++)
        if (s->o.archs[i]->arch == arch)
            return i;
    return SIZE_MAX;
}

/* Log-spaced bin edges over [lo, hi] (lo > 0). */
static double bin_edge(double lo, double hi, size_t bins, size_t i)
{
    if (hi <= lo)
        return i == 0 ? lo * 0.999 : hi * 1.001;
    return exp(log(lo) + (log(hi) - log(lo)) * (double)i / (double)bins);
}

static size_t bin_of(double v, double lo, double hi, size_t bins)
{
    if (hi <= lo)
        return 0;
    double f = (log(v) - log(lo)) / (log(hi) - log(lo));
    size_t b = f <= 0.0 ? 0 : (size_t)(f * (double)bins);
    return b >= bins ? bins - 1 : b;
}

static int write_outputs(study *s, paper_stats *stats, double wall)
{
    const paper_options *o = &s->o;
    double *v = malloc(s->runs * sizeof *v);
    size_t *counts = calloc(s->bins, sizeof *counts);
    paper_text t = {0};
    int rc = -1;
    FILE *f = NULL;
    if (!v || !counts) {
        fprintf(stderr, PROG ": out of memory\n");
        goto done;
    }

    /* stats.csv and the table */
    if (!(f = paper_open_out(PROG, o->out_dir, "stats.csv")))
        goto done;
    fprintf(f, "model,label,params,p,n,mean,sd,ci95_lo,ci95_hi,min,median,p95,worst5_mean,"
               "max\n");
    for (size_t a = 0; a < o->n_archs; a++)
        for (size_t c = 0; c < o->n_corrs; c++) {
            paper_stats *st = &stats[a * o->n_corrs + c];
            cell_losses(s, a, c, v);
            paper_stats_compute(v, s->runs, st);
            fprintf(f, "%s,%s,%zu,%g,%zu,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g\n",
                    o->archs[a]->name, o->archs[a]->label, s->params[a], o->corrs[c], st->n,
                    st->mean, st->sd, st->mean - st->ci_half, st->mean + st->ci_half, st->min,
                    st->median, st->p95, st->worst5_mean, st->max);
        }
    if (paper_close_out(PROG, f, "stats.csv") != 0) {
        f = NULL;
        goto done;
    }
    f = NULL;

    char wt[32];
    paper_format_duration(wall, wt, sizeof wt);
    printf("\nFinal test loss (mean of the two tasks' MSE) over %zu runs per cell, %zu steps "
           "each (%s in total):\n\n",
           s->runs, o->steps, wt);
    printf("%-22s %5s %9s %9s %9s %9s %9s %9s %9s\n", "model", "p", "mean", "+/-95%", "sd",
           "median", "p95", "worst5%", "max");
    for (size_t c = 0; c < o->n_corrs; c++) {
        for (size_t a = 0; a < o->n_archs; a++) {
            const paper_stats *st = &stats[a * o->n_corrs + c];
            printf("%-22s %5g %9.4f %9.4f %9.4f %9.4f %9.4f %9.4f %9.4f\n", o->archs[a]->label,
                   o->corrs[c], st->mean, st->ci_half, st->sd, st->median, st->p95, st->worst5_mean,
                   st->max);
        }
        printf("\n");
    }
    printf("(p95: 95th percentile; worst5%%: mean of the worst 5%% of runs)\n");

    /* histogram.csv and the plot script */
    if (!(f = paper_open_out(PROG, o->out_dir, "histogram.csv")))
        goto done;
    fprintf(f, "model,p,bin_lo,bin_hi,count\n");
    char path[4200];
    paper_gp_path(path, sizeof path, o->out_dir, "histograms.png");
    paper_text_printf(&t, "# written by " PROG "; data inline\n");
    paper_text_printf(&t,
                      "if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {\n"
                      "  set terminal pngcairo size %zu,440 font 'sans,10'\n"
                      "} else {\n  set terminal png size %zu,440\n}\n",
                      380 * o->n_corrs + 80, 380 * o->n_corrs + 80);
    paper_text_printf(&t, "set output %s\n", path);
    for (size_t c = 0; c < o->n_corrs; c++) {
        double lo = INFINITY, hi = 0.0;
        for (size_t a = 0; a < o->n_archs; a++) {
            cell_losses(s, a, c, v);
            for (size_t r = 0; r < s->runs; r++) {
                if (v[r] > 0.0 && v[r] < lo)
                    lo = v[r];
                if (v[r] > hi)
                    hi = v[r];
            }
        }
        if (!(lo < INFINITY))
            lo = hi = 1.0;
        for (size_t a = 0; a < o->n_archs; a++) {
            memset(counts, 0, s->bins * sizeof *counts);
            cell_losses(s, a, c, v);
            for (size_t r = 0; r < s->runs; r++)
                counts[bin_of(v[r] > lo ? v[r] : lo, lo, hi, s->bins)]++;
            paper_text_printf(&t, "$h%zu_%zu << EOD\n", a, c);
            for (size_t b = 0; b < s->bins; b++) {
                double e0 = bin_edge(lo, hi, s->bins, b), e1 = bin_edge(lo, hi, s->bins, b + 1);
                fprintf(f, "%s,%g,%.6g,%.6g,%zu\n", o->archs[a]->name, o->corrs[c], e0, e1,
                        counts[b]);
                paper_text_printf(&t, "%.6g %.6g %zu\n", e0, e1, counts[b]);
            }
            paper_text_printf(&t, "EOD\n");
        }
    }
    if (paper_close_out(PROG, f, "histogram.csv") != 0) {
        f = NULL;
        goto done;
    }
    f = NULL;
    paper_text_printf(&t,
                      "set multiplot layout 1,%zu title 'Final test loss of %zu runs per "
                      "model (each with its own data and initialisation)'\n",
                      o->n_corrs, s->runs);
    paper_text_printf(&t, "set logscale x\nset grid\nset xlabel 'final test MSE (log scale)'\n"
                          "set ylabel 'runs'\nset key top right\nset yrange [0:*]\n"
                          "set style fill transparent solid 0.35 border\n");
    for (size_t c = 0; c < o->n_corrs; c++) {
        paper_text_printf(&t, "set title 'p = %g'\nplot ", o->corrs[c]);
        for (size_t a = 0; a < o->n_archs; a++) {
            const char *col = paper_arch_color(o->archs[a]);
            paper_text_printf(&t,
                              "%s$h%zu_%zu using (sqrt($1*$2)):($3/2):1:2:(0):3 with boxxyerror "
                              "lc rgb '%s' title '%s'",
                              a ? ", \\\n  " : "", a, c, col, o->archs[a]->label);
        }
        paper_text_printf(&t, "\n");
    }
    paper_text_printf(&t, "unset multiplot\nunset output\n");
    if (t.failed) {
        fprintf(stderr, PROG ": out of memory for the plot script\n");
        goto done;
    }
    int prc;
    if (o->plots) {
        prc = paper_run_gnuplot(PROG, o->out_dir, "histograms.gp", t.s);
    } else {
        prc = -1;
        if ((f = paper_open_out(PROG, o->out_dir, "histograms.gp")) != NULL) {
            fputs(t.s, f);
            prc = paper_close_out(PROG, f, "histograms.gp") == 0 ? 2 : -1;
            f = NULL;
        }
    }
    if (prc == 0)
        printf("\nplot: %s/histograms.png\n", o->out_dir);
    else if (prc == 1)
        printf("\nplot: gnuplot is not on PATH; no PNG drawn (script saved as "
               "%s/histograms.gp)\n",
               o->out_dir);
    else if (prc == 2)
        printf("\nplot: skipped (--no-plots); script saved as %s/histograms.gp\n", o->out_dir);
    else
        goto done;
    rc = 0;
done:
    if (f)
        fclose(f);
    paper_text_free(&t);
    free(v);
    free(counts);
    return rc;
}

static double sample_sd(const double *v, const size_t *idx, size_t n)
{
    double m = 0.0, ss = 0.0;
    for (size_t i = 0; i < n; i++)
        m += v[idx ? idx[i] : i];
    m /= (double)n;
    for (size_t i = 0; i < n; i++) {
        double e = v[idx ? idx[i] : i] - m;
        ss += e * e;
    }
    return n > 1 ? sqrt(ss / (double)(n - 1)) : NAN;
}

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

#define BOOT_RESAMPLES 2000

/*
 * sd(x) / sd(y) over paired runs and its 95 % percentile-bootstrap interval
 * (BOOT_RESAMPLES resamples of the runs, the same runs for x and y; fixed
 * seed, so the interval is reproducible).
 */
static int sd_ratio(const double *x, const double *y, size_t n, double *ratio, double *lo,
                    double *hi)
{
    size_t *idx = malloc(n * sizeof *idx);
    double *r = malloc(BOOT_RESAMPLES * sizeof *r);
    if (!idx || !r) {
        free(idx);
        free(r);
        return -1;
    }
    *ratio = sample_sd(x, NULL, n) / sample_sd(y, NULL, n);
    uint64_t st = 0x9E3779B97F4A7C15ULL;
    for (size_t b = 0; b < BOOT_RESAMPLES; b++) {
        for (size_t i = 0; i < n; i++) {
            st ^= st << 13;
            st ^= st >> 7;
            st ^= st << 17;
            idx[i] = (size_t)(st % n);
        }
        r[b] = sample_sd(x, idx, n) / sample_sd(y, idx, n);
    }
    qsort(r, BOOT_RESAMPLES, sizeof *r, cmp_dbl);
    *lo = r[(size_t)(0.025 * BOOT_RESAMPLES)];
    *hi = r[(size_t)(0.975 * BOOT_RESAMPLES) - 1];
    free(idx);
    free(r);
    return 0;
}

/*
 * paired.csv and the paired tables: MMoE - model per p (runs MMoE lower),
 * sd(MMoE) / sd(model) with its bootstrap interval, and each model's loss at
 * p minus at the reference p (runs where it is higher at p).
 */
static int write_paired(const study *s)
{
    const paper_options *o = &s->o;
    size_t im = arch_index(s, MMOE_ARCH_MMOE), ir = paper_ref_corr(&s->o);
    double *x = malloc(s->runs * sizeof *x), *y = malloc(s->runs * sizeof *y);
    double *d = malloc(s->runs * sizeof *d);
    FILE *f = NULL;
    int rc = -1;
    if (!x || !y || !d) {
        fprintf(stderr, PROG ": out of memory\n");
        goto done;
    }
    if (!(f = paper_open_out(PROG, o->out_dir, "paired.csv")))
        goto done;
    fprintf(f, "comparison,model,p,n,value,ci95_lo,ci95_hi,n_positive,n_negative\n");
    for (int kind = 0; kind < 3; kind++) {
        if (kind < 2 && (im == SIZE_MAX || o->n_archs < 2))
            continue;
        if (kind == 2 && o->n_corrs < 2)
            continue;
        if (kind == 0)
            printf("\nPaired difference MMoE - model (same data and init seed per run), mean "
                   "+/- 95%% t-interval (runs where MMoE is lower):\n\n");
        else if (kind == 1)
            printf("\nSpread: sd(MMoE) / sd(model) over the runs, with a 95%% percentile "
                   "bootstrap interval (%d resamples of the runs):\n\n",
                   BOOT_RESAMPLES);
        else
            printf("\nPaired change with p: loss at p - loss at p = %g, mean +/- 95%% "
                   "t-interval (runs where the loss is higher at p):\n\n",
                   o->corrs[ir]);
        printf("%-22s", "model");
        for (size_t c = 0; c < o->n_corrs; c++) {
            char h[32];
            snprintf(h, sizeof h, "p = %g", o->corrs[c]);
            if (kind < 2 || c != ir)
                printf("  %-29s", h);
        }
        printf("\n");
        for (size_t a = 0; a < o->n_archs; a++) {
            if (kind < 2 && a == im)
                continue;
            printf("%-22s", o->archs[a]->label);
            for (size_t c = 0; c < o->n_corrs; c++) {
                char t[64];
                if (kind == 2 && c == ir)
                    continue;
                cell_losses(s, kind < 2 ? im : a, c, x);
                cell_losses(s, a, kind < 2 ? c : ir, y);
                if (kind == 1) {
                    double r, lo, hi;
                    if (sd_ratio(x, y, s->runs, &r, &lo, &hi) != 0) {
                        fprintf(stderr, PROG ": out of memory\n");
                        goto done;
                    }
                    snprintf(t, sizeof t, "%.2f [%.2f, %.2f]", r, lo, hi);
                    fprintf(f, "sd_ratio_mmoe,%s,%g,%zu,%.6g,%.6g,%.6g,,\n", o->archs[a]->name,
                            o->corrs[c], s->runs, r, lo, hi);
                } else {
                    paper_stats st;
                    size_t lower, higher;
                    paper_paired(x, y, s->runs, d, &st, &lower, &higher);
                    paper_format_diff(t, sizeof t, &st, kind == 0 ? lower : higher, s->runs);
                    fprintf(f, "%s,%s,%g,%zu,%.6g,%.6g,%.6g,%zu,%zu\n",
                            kind == 0 ? "mmoe_minus" : "p_minus_ref", o->archs[a]->name,
                            o->corrs[c], st.n, st.mean, st.mean - st.ci_half, st.mean + st.ci_half,
                            higher, lower);
                }
                printf("  %-29s", t);
            }
            printf("\n");
        }
    }
    rc = paper_close_out(PROG, f, "paired.csv");
    f = NULL;
done:
    if (f)
        fclose(f);
    free(x);
    free(y);
    free(d);
    return rc;
}

static void print_gates(const study *s)
{
    const paper_options *o = &s->o;
    printf("\nGate inspection: total-variation distance 0.5 * sum_e |g1_e - g2_e| between\n"
           "the two tasks' mean gate weights over the test set (0: the tasks use the\n"
           "experts alike; 1: disjoint experts). Mean and max over runs; per-expert\n"
           "weights of every run are in gates.csv.\n\n");
    for (size_t a = 0; a < o->n_archs; a++) {
        if (!o->archs[a]->gated)
            continue;
        for (size_t c = 0; c < o->n_corrs; c++) {
            double m = 0.0, mx = 0.0;
            for (size_t r = 0; r < s->runs; r++) {
                double v = s->tv[cell(s, a, c, r)];
                m += v / (double)s->runs;
                if (v > mx)
                    mx = v;
            }
            printf("  %-8s p = %-4g  mean TV %.3f  max %.3f\n", o->archs[a]->label, o->corrs[c], m,
                   mx);
        }
    }
}

/* Every model at every p for run r (its own data and init seed). 0 or -1 (message printed). */
static int train_run(study *s, size_t r)
{
    const paper_options *o = &s->o;
    char err[PAPER_ERRLEN];
    paper_data data;
    uint64_t data_seed = paper_mix_seed(o->seed, r, 0x5452444154ULL, 0);
    uint64_t init_seed = paper_mix_seed(o->seed, r, 0x5452494E49ULL, 0);
    for (size_t c = 0; c < o->n_corrs; c++) {
        if (paper_data_make(o, o->corrs[c], data_seed, &data, err, sizeof err) != 0) {
            fprintf(stderr, "\n" PROG ": %s\n", err);
            return -1;
        }
        for (size_t a = 0; a < o->n_archs; a++) {
            const paper_arch *ar = o->archs[a];
            paper_run_result res;
            if (paper_train(o, &data, ar, s->widths[a], init_seed, o->gates, NULL, NULL, &res, err,
                            sizeof err) != 0) {
                fprintf(stderr, "\n" PROG ": %s\n", err);
                paper_data_free(&data);
                return -1;
            }
            size_t ci = cell(s, a, c, r);
            for (size_t k = 0; k < PAPER_TASKS; k++)
                s->finals[ci * PAPER_TASKS + k] = res.final_mse[k];
            if (res.has_gates) {
                double tv = 0.0;
                size_t ne = res.n_experts < o->experts ? res.n_experts : o->experts;
                for (size_t e = 0; e < ne; e++) {
                    tv += fabs(res.gate_mean[e] - res.gate_mean[res.n_experts + e]);
                    for (size_t k = 0; k < PAPER_TASKS; k++)
                        s->gm[(ci * PAPER_TASKS + k) * o->experts + e] =
                            res.gate_mean[k * res.n_experts + e];
                }
                s->gn[ci] = ne;
                s->tv[ci] = 0.5 * tv;
            }
            paper_run_result_free(&res);
            char what[96];
            snprintf(what, sizeof what, "run %zu, p %g, %s: %.4f", r, o->corrs[c], ar->name,
                     res.final_loss);
            pthread_mutex_lock(&s->lock);
            paper_progress_step(&s->prog, what);
            pthread_mutex_unlock(&s->lock);
        }
        paper_data_free(&data);
    }
    return 0;
}

/* A worker: takes the next run index until none is left or one failed. */
static void *worker(void *arg)
{
    study *s = arg;
    for (;;) {
        pthread_mutex_lock(&s->lock);
        size_t r = s->next_run;
        int stop = s->failed || r >= s->runs;
        if (!stop)
            s->next_run++;
        pthread_mutex_unlock(&s->lock);
        if (stop)
            return NULL;
        if (train_run(s, r) != 0) {
            pthread_mutex_lock(&s->lock);
            s->failed = 1;
            pthread_mutex_unlock(&s->lock);
            return NULL;
        }
    }
}

/* Every run, in s->jobs threads (the calling thread is one of them). 0 or -1. */
static int run_all(study *s)
{
    pthread_t thr[256];
    size_t started = 0;
    if (pthread_mutex_init(&s->lock, NULL) != 0) {
        fprintf(stderr, PROG ": cannot create a mutex\n");
        return -1;
    }
    for (size_t j = 1; j < s->jobs && j < s->runs; j++) {
        if (pthread_create(&thr[started], NULL, worker, s) != 0) {
            fprintf(stderr, PROG ": cannot start thread %zu; going on with %zu\n", j, started + 1);
            break;
        }
        started++;
    }
    worker(s);
    for (size_t j = 0; j < started; j++)
        pthread_join(thr[j], NULL);
    pthread_mutex_destroy(&s->lock);
    return s->failed ? -1 : 0;
}

int main(int argc, char **argv)
{
    study s;
    memset(&s, 0, sizeof s);
    paper_options_defaults(&s.o);
    s.o.eval_every = 0;
    s.o.steps = 6000;
    s.runs = 200;
    s.bins = 30;
    s.jobs = 1;
    int help = 0;
    if (parse_args(argc, argv, &s, &help) != 0)
        return 2;
    if (help) {
        usage(stdout);
        return 0;
    }
    paper_options *o = &s.o;
    o->eval_every = 0; /* only the final loss is used */
    int rc = 1;
    paper_stats *stats = NULL;
    FILE *finals_csv = NULL, *gates_csv = NULL;

    if (paper_prepare(PROG, o, s.widths, s.params, s.runs, "runs per (model, p)") != 0)
        return 1;

    size_t ncells = o->n_archs * o->n_corrs * s.runs;
    s.finals = calloc(ncells * PAPER_TASKS, sizeof *s.finals);
    stats = calloc(o->n_archs * o->n_corrs, sizeof *stats);
    if (o->gates) {
        s.tv = calloc(ncells, sizeof *s.tv);
        s.gm = calloc(ncells * PAPER_TASKS * o->experts, sizeof *s.gm);
        s.gn = calloc(ncells, sizeof *s.gn);
    }
    if (!s.finals || !stats || (o->gates && (!s.tv || !s.gm || !s.gn))) {
        fprintf(stderr, PROG ": out of memory\n");
        goto done;
    }
    if (!(finals_csv = paper_open_out(PROG, o->out_dir, "finals.csv")))
        goto done;
    fprintf(finals_csv, "model,p,run,task1_mse,task2_mse,loss\n");
    if (o->gates) {
        if (!(gates_csv = paper_open_out(PROG, o->out_dir, "gates.csv")))
            goto done;
        fprintf(gates_csv, "model,p,run,task,expert,mean_gate_weight\n");
    }

    paper_progress_start(&s.prog, PROG, ncells);
    if (run_all(&s) != 0)
        goto done;
    for (size_t r = 0; r < s.runs; r++)
        for (size_t c = 0; c < o->n_corrs; c++)
            for (size_t a = 0; a < o->n_archs; a++) {
                size_t ci = cell(&s, a, c, r);
                const double *t = s.finals + ci * PAPER_TASKS;
                fprintf(finals_csv, "%s,%g,%zu,%.6g,%.6g,%.6g\n", o->archs[a]->name, o->corrs[c], r,
                        t[0], t[1], 0.5 * (t[0] + t[1]));
                for (size_t e = 0; gates_csv && e < s.gn[ci]; e++)
                    for (size_t k = 0; k < PAPER_TASKS; k++)
                        fprintf(gates_csv, "%s,%g,%zu,%zu,%zu,%.6g\n", o->archs[a]->name,
                                o->corrs[c], r, k + 1, e,
                                s.gm[(ci * PAPER_TASKS + k) * o->experts + e]);
            }
    paper_progress_end(&s.prog);
    double wall = paper_now() - s.prog.t0;

    int bad = paper_close_out(PROG, finals_csv, "finals.csv");
    finals_csv = NULL;
    if (gates_csv) {
        bad |= paper_close_out(PROG, gates_csv, "gates.csv");
        gates_csv = NULL;
    }
    if (bad || write_outputs(&s, stats, wall) != 0 || write_paired(&s) != 0)
        goto done;
    if (o->gates)
        print_gates(&s);
    char wt[32];
    paper_format_duration(wall, wt, sizeof wt);
    printf("\n%zu runs in %s; outputs in %s/\n", ncells, wt, o->out_dir);
    rc = 0;

    if (o->quick && paper_quick_check(o, final_loss, &s, s.runs) == 0)
        rc = 3;

done:
    if (finals_csv)
        fclose(finals_csv);
    if (gates_csv)
        fclose(gates_csv);
    free(s.finals);
    free(s.tv);
    free(s.gm);
    free(s.gn);
    free(stats);
    return rc;
}
