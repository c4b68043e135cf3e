/*
 * correlation-sweep: the synthetic-data experiment of the MMoE paper
 * (Ma et al., KDD 2018, figures 4 and 5). For each task
 * correlation p and each seed, a fresh two-task data set is drawn and
 * Shared-Bottom, OMoE and MMoE (with --all also the other baselines) are
 * trained on it; the test loss is recorded along training.
 *
 *     correlation-sweep                        (full run, see docs/reproduction.md)
 *     correlation-sweep --quick --out /tmp/q   (CI: < 1 minute, checks an early-training claim)
 *     correlation-sweep --all --gates --seeds 20
 *
 * Loss = mean over the two tasks of the test mean squared error (labels as
 * generated, not rescaled). All models of one seed see the same data and
 * the same initialisation seed, so differences between models are paired.
 *
 * Outputs in --out DIR:
 *   curves.csv       model,p,seed,step,task,test_mse   (every evaluation)
 *   curves_mean.csv  model,p,step,n,mean,ci95_lo,ci95_hi (loss over seeds)
 *   summary.csv      final loss per model and p: mean, sd, 95 % t interval, ...
 *   paired.csv       paired over seeds, at the final step and at --at-steps:
 *                    MMoE minus each other model per p ("mmoe_minus"), and each
 *                    model's loss at p minus at p = 1 ("p_minus_ref"; the
 *                    largest p when 1 is not swept)
 *   paired_curves.csv the same two comparisons at every evaluation step
 *   gates.csv        (--gates) model,p,seed,task,expert,mean_gate_weight
 *   plots.gp and, with gnuplot on PATH, curves.png, final_loss.png,
 *   paired_p.png and paired_models.png (the paired differences over training)
 *
 * Exit status: 0 success; 1 library or I/O error; 2 bad command line;
 * 3 --quick check failed (see usage: the loss at p = 0.5 not above the loss
 * at p = 1 in two thirds of the (model, seed) pairs after 300 steps).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

#define PROG "correlation-sweep"

static void usage(FILE *f)
{
    fprintf(f, "usage: " PROG " [options]\n"
               "\n"
               "Train multi-task models on synthetic two-task data at several task\n"
               "correlations p, several seeds each, and report the test loss (mean of the\n"
               "two tasks' test MSE) along training and at the end.\n"
               "\n"
               "  --seeds N          data/initialisation seeds per (model, p) cell [20]\n"
               "  --at-steps LIST    also print and save the paired tables at these evaluation\n"
               "                     steps (comma-separated; the final step always) []\n"
               "  --from-curves F    train nothing: read the curves.csv F of an earlier run\n"
               "                     (given the same --models, --corr, --seeds, --steps and\n"
               "                     --eval-every) and write its tables and plots to --out\n");
    paper_print_option_help(f);
    fprintf(f, "\n"
               "--quick runs 12 seeds x 300 steps on 20000 samples at p = 0.5 and 1 (unless\n"
               "given explicitly) and exits with status 3 unless, over Shared-Bottom, OMoE\n"
               "and MMoE and the seeds, the loss at p = 0.5 is above the loss at p = 1 in at\n"
               "least two thirds of the (model, seed) pairs, with a positive mean difference:\n"
               "early in training every model learns related tasks faster.\n"
               "Exit status: 0 success, 1 library or I/O error, 2 bad command line,\n"
               "3 --quick check failed.\n");
}

/* ------------------------------------------------------------------------ */

typedef struct sweep {
    paper_options o;
    size_t seeds;
    size_t widths[PAPER_MAX_ARCHS], params[PAPER_MAX_ARCHS];
    size_t n_evals;
    size_t *eval_steps;               /* [n_evals] */
    size_t at_steps[PAPER_MAX_CORRS]; /* --at-steps: extra steps for the paired tables */
    size_t n_at;
    const char *from_curves; /* --from-curves: tables and plots of an earlier run */
    double *curve;           /* [arch][corr][seed][eval]: mean-of-tasks test MSE */
    double *final_task;      /* [arch][corr][seed][task] */
    double *gates;           /* [arch][corr][seed][task][expert] or NULL */
    FILE *curves_csv;
    FILE *gates_csv;
} sweep;

typedef struct eval_ctx {
    sweep *sw;
    const paper_arch *a;
    double p;
    size_t seed;
    double *row; /* n_evals entries */
    size_t next;
} eval_ctx;

static size_t cell(const sweep *sw, size_t a, size_t c, size_t s)
{
    return (a * sw->o.n_corrs + c) * sw->seeds + s;
}

static void on_eval(void *vctx, size_t step, const double *mse)
{
    eval_ctx *ctx = vctx;
    for (size_t k = 0; k < PAPER_TASKS; k++)
        fprintf(ctx->sw->curves_csv, "%s,%g,%zu,%zu,%zu,%.6g\n", ctx->a->name, ctx->p, ctx->seed,
                step, k + 1, mse[k]);
    if (ctx->next < ctx->sw->n_evals && ctx->sw->eval_steps[ctx->next] == step)
        ctx->row[ctx->next++] = 0.5 * (mse[0] + mse[1]);
}

static int extra_option(const char *a, const char *v, void *ctx)
{
    sweep *sw = ctx;
    if (strcmp(a, "--seeds") == 0)
        return paper_parse_size(PROG, a, v, 1, 100000, &sw->seeds) == 0 ? 1 : -1;
    if (strcmp(a, "--from-curves") == 0) {
        if (!*v) {
            fprintf(stderr, PROG ": --from-curves needs a file\n");
            return -1;
        }
        sw->from_curves = v;
        return 1;
    }
    if (strcmp(a, "--at-steps") == 0) {
        sw->n_at = 0;
        const char *q = v;
        char buf[32];
        while (*q) {
            size_t len = strcspn(q, ",");
            if (len == 0 || len >= sizeof buf || sw->n_at == PAPER_MAX_CORRS) {
                fprintf(stderr, PROG ": --at-steps: bad list '%s' (at most %d steps)\n", v,
                        PAPER_MAX_CORRS);
                return -1;
            }
            memcpy(buf, q, len);
            buf[len] = 0;
            if (paper_parse_size(PROG, a, buf, 1, 100000000, &sw->at_steps[sw->n_at]) != 0)
                return -1;
            sw->n_at++;
            q += len + (q[len] == ',');
        }
        return 1;
    }
    return 0;
}

static int parse_args(int argc, char **argv, sweep *sw, int *help)
{
    paper_options *o = &sw->o;
    /* --quick first: its presets apply unless an option overrides them */
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--quick") == 0) {
            o->quick = 1;
            sw->seeds = 12;
            o->steps = 300;
            o->n_train = 20000;
            o->n_test = 1000;
            o->eval_every = 100;
            o->corrs[0] = 0.5;
            o->corrs[1] = 1.0;
            o->n_corrs = 2;
        }
    return paper_parse_args(PROG, argc, argv, o, help, extra_option, sw);
}

static size_t arch_index(const sweep *sw, mmoe_arch arch)
{
    for (size_t i = 0; i < sw->o.n_archs; i++)
        if (sw->o.archs[i]->arch == arch)
            return i;
    return SIZE_MAX;
}

static size_t corr_index(const sweep *sw, double p)
{
    for (size_t i = 0; i < sw->o.n_corrs; i++)
        if (sw->o.corrs[i] == p)
            return i;
    return SIZE_MAX;
}

/* Final loss (mean of tasks) of one run, for paper_quick_check. */
static double final_loss(const void *ctx, size_t a, size_t c, size_t s)
{
    const sweep *sw = ctx;
    const double *t = sw->final_task + cell(sw, a, c, s) * PAPER_TASKS;
    return 0.5 * (t[0] + t[1]);
}

/* Final losses (mean of tasks) of one cell into v[seeds]. */
static void cell_finals(const sweep *sw, size_t a, size_t c, double *v)
{
    for (size_t s = 0; s < sw->seeds; s++) {
        const double *t = sw->final_task + cell(sw, a, c, s) * PAPER_TASKS;
        v[s] = 0.5 * (t[0] + t[1]);
    }
}

/* ------------------------------------------------------------------------ */
/* outputs                                                                   */
/* ------------------------------------------------------------------------ */

static int write_summary(sweep *sw, paper_stats *st_out)
{
    const paper_options *o = &sw->o;
    FILE *f = paper_open_out(PROG, o->out_dir, "summary.csv");
    if (!f)
        return -1;
    double *v = malloc(sw->seeds * sizeof *v);
    if (!v) {
        fclose(f);
        return -1;
    }
    fprintf(f, "model,label,params,p,n,mean,sd,ci95_lo,ci95_hi,median,min,max,task1_mean,"
               "task2_mean\n");
    for (size_t a = 0; a < o->n_archs; a++)
        for (size_t c = 0; c < o->n_corrs; c++) {
            double t1 = 0.0, t2 = 0.0;
            for (size_t s = 0; s < sw->seeds; s++) {
                const double *t = sw->final_task + cell(sw, a, c, s) * PAPER_TASKS;
                t1 += t[0] / (double)sw->seeds;
                t2 += t[1] / (double)sw->seeds;
            }
            cell_finals(sw, a, c, v);
            paper_stats *st = &st_out[a * o->n_corrs + c];
            paper_stats_compute(v, sw->seeds, st);
            fprintf(f, "%s,%s,%zu,%g,%zu,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g\n",
                    o->archs[a]->name, o->archs[a]->label, sw->params[a], o->corrs[c], st->n,
                    st->mean, st->sd, st->mean - st->ci_half, st->mean + st->ci_half, st->median,
                    st->min, st->max, t1, t2);
        }
    free(v);
    return paper_close_out(PROG, f, "summary.csv");
}

static void print_summary(const sweep *sw, const paper_stats *st)
{
    const paper_options *o = &sw->o;
    printf("\nFinal test loss (mean of the two tasks' MSE), mean +/- 95%% t-interval over %zu "
           "seeds, after %zu steps:\n\n",
           sw->seeds, o->steps);
    printf("%-22s %8s", "model", "params");
    for (size_t c = 0; c < o->n_corrs; c++) {
        char h[32];
        snprintf(h, sizeof h, "p = %g", o->corrs[c]);
        printf("  %-19s", h);
    }
    printf("\n");
    for (size_t a = 0; a < o->n_archs; a++) {
        printf("%-22s %8zu", o->archs[a]->label, sw->params[a]);
        for (size_t c = 0; c < o->n_corrs; c++) {
            const paper_stats *s = &st[a * o->n_corrs + c];
            char cellt[48];
            if (isnan(s->ci_half))
                snprintf(cellt, sizeof cellt, "%.4f", s->mean);
            else
                snprintf(cellt, sizeof cellt, "%.4f +/- %.4f", s->mean, s->ci_half);
            printf("  %-19s", cellt);
        }
        printf("\n");
    }
}

/* Loss (mean of tasks) of every seed of a cell at evaluation e into v[seeds]. */
static void cell_at(const sweep *sw, size_t a, size_t c, size_t e, double *v)
{
    for (size_t s = 0; s < sw->seeds; s++)
        v[s] = sw->curve[cell(sw, a, c, s) * sw->n_evals + e];
}

/* Evaluation index of a step, or SIZE_MAX. */
static size_t eval_index(const sweep *sw, size_t step)
{
    for (size_t e = 0; e < sw->n_evals; e++)
        if (sw->eval_steps[e] == step)
            return e;
    return SIZE_MAX;
}

/*
 * The two paired comparisons at evaluation e, for every model or p:
 * kind 0: MMoE - model at each p (x = MMoE, y = model);
 * kind 1: loss at p - loss at the reference p, per model (x = at p).
 * fn receives the statistics and the counts of seeds with x < y and x > y.
 */
typedef void (*paired_fn)(void *ctx, int kind, size_t a, size_t c, size_t e, const paper_stats *st,
                          size_t lower, size_t higher);

static int for_each_paired(const sweep *sw, size_t e, paired_fn fn, void *ctx)
{
    const paper_options *o = &sw->o;
    size_t im = arch_index(sw, MMOE_ARCH_MMOE), ir = paper_ref_corr(&sw->o);
    double *x = malloc(sw->seeds * sizeof *x), *y = malloc(sw->seeds * sizeof *y);
    double *d = malloc(sw->seeds * sizeof *d);
    if (!x || !y || !d) {
        free(x);
        free(y);
        free(d);
        fprintf(stderr, PROG ": out of memory\n");
        return -1;
    }
    for (size_t a = 0; a < o->n_archs; a++)
        for (size_t c = 0; c < o->n_corrs; c++) {
            paper_stats st;
            size_t lo, hi;
            if (im != SIZE_MAX && a != im) {
                cell_at(sw, im, c, e, x);
                cell_at(sw, a, c, e, y);
                paper_paired(x, y, sw->seeds, d, &st, &lo, &hi);
                fn(ctx, 0, a, c, e, &st, lo, hi);
            }
            if (c != ir) {
                cell_at(sw, a, c, e, x);
                cell_at(sw, a, ir, e, y);
                paper_paired(x, y, sw->seeds, d, &st, &lo, &hi);
                fn(ctx, 1, a, c, e, &st, lo, hi);
            }
        }
    free(x);
    free(y);
    free(d);
    return 0;
}

typedef struct paired_print {
    const sweep *sw;
    int kind;
    char cells[PAPER_MAX_ARCHS][PAPER_MAX_CORRS][64];
    int have[PAPER_MAX_ARCHS][PAPER_MAX_CORRS];
    FILE *csv;
} paired_print;

static void collect_paired(void *vctx, int kind, size_t a, size_t c, size_t e,
                           const paper_stats *st, size_t lower, size_t higher)
{
    paired_print *pp = vctx;
    const sweep *sw = pp->sw;
    if (pp->csv)
        fprintf(pp->csv, "%s,%s,%g,%zu,%zu,%.6g,%.6g,%.6g,%zu,%zu\n",
                kind ? "p_minus_ref" : "mmoe_minus", sw->o.archs[a]->name, sw->o.corrs[c],
                sw->eval_steps[e], st->n, st->mean, st->mean - st->ci_half, st->mean + st->ci_half,
                higher, lower);
    if (kind != pp->kind)
        return;
    /* MMoE - model: count the seeds where MMoE is lower; p change: where the loss is higher */
    paper_format_diff(pp->cells[a][c], sizeof pp->cells[a][c], st, kind ? higher : lower,
                      sw->seeds);
    pp->have[a][c] = 1;
}

/* Print both paired tables at evaluation e and append their rows to csv (may be NULL). */
static int print_paired(const sweep *sw, size_t e, FILE *csv)
{
    const paper_options *o = &sw->o;
    size_t ir = paper_ref_corr(&sw->o);
    for (int kind = 0; kind < 2; kind++) {
        paired_print *pp = calloc(1, sizeof *pp);
        if (!pp)
            return -1;
        pp->sw = sw;
        pp->kind = kind;
        pp->csv = kind == 0 ? csv : NULL; /* every row once */
        if (for_each_paired(sw, e, collect_paired, pp) != 0) {
            free(pp);
            return -1;
        }
        int any = 0;
        for (size_t a = 0; a < o->n_archs; a++)
            for (size_t c = 0; c < o->n_corrs; c++)
                any |= pp->have[a][c];
        if (any) {
            if (kind == 0)
                printf("\nPaired difference MMoE - model at step %zu (same data and init seed), "
                       "mean +/- 95%% t-interval (seeds where MMoE is lower):\n\n",
                       sw->eval_steps[e]);
            else
                printf("\nPaired change with p at step %zu: loss at p - loss at p = %g, "
                       "mean +/- 95%% t-interval (seeds where the loss is higher at p):\n\n",
                       sw->eval_steps[e], o->corrs[ir]);
            printf("%-22s", "model");
            for (size_t c = 0; c < o->n_corrs; c++) {
                char h[32];
                snprintf(h, sizeof h, "p = %g", o->corrs[c]);
                if (kind == 0 || c != ir)
                    printf("  %-27s", h);
            }
            printf("\n");
            for (size_t a = 0; a < o->n_archs; a++) {
                int row = 0;
                for (size_t c = 0; c < o->n_corrs; c++)
                    row |= pp->have[a][c];
                if (!row)
                    continue;
                printf("%-22s", o->archs[a]->label);
                for (size_t c = 0; c < o->n_corrs; c++)
                    if (kind == 0 || c != ir)
                        printf("  %-27s", pp->have[a][c] ? pp->cells[a][c] : "");
                printf("\n");
            }
        }
        free(pp);
    }
    return 0;
}

/* paired.csv: both comparisons at the final step and at every --at-steps step, printed too. */
static int write_paired(sweep *sw)
{
    const paper_options *o = &sw->o;
    if (o->n_archs < 2 && o->n_corrs < 2)
        return 0;
    FILE *f = paper_open_out(PROG, o->out_dir, "paired.csv");
    if (!f)
        return -1;
    fprintf(f, "comparison,model,p,step,n,mean_diff,ci95_lo,ci95_hi,n_positive,n_negative\n");
    for (size_t i = 0; i <= sw->n_at; i++) {
        size_t e = i < sw->n_at ? eval_index(sw, sw->at_steps[i]) : sw->n_evals - 1;
        if (e == SIZE_MAX)
            continue; /* checked before the runs */
        if (print_paired(sw, e, f) != 0) {
            fclose(f);
            return -1;
        }
    }
    return paper_close_out(PROG, f, "paired.csv");
}

static void row_paired_curve(void *vctx, int kind, size_t a, size_t c, size_t e,
                             const paper_stats *st, size_t lower, size_t higher)
{
    paired_print *pp = vctx;
    const sweep *sw = pp->sw;
    fprintf(pp->csv, "%s,%s,%g,%zu,%zu,%.6g,%.6g,%.6g,%zu,%zu\n",
            kind ? "p_minus_ref" : "mmoe_minus", sw->o.archs[a]->name, sw->o.corrs[c],
            sw->eval_steps[e], st->n, st->mean, st->mean - st->ci_half, st->mean + st->ci_half,
            higher, lower);
}

/* paired_curves.csv: both comparisons at every evaluation step. */
static int write_paired_curves(sweep *sw)
{
    const paper_options *o = &sw->o;
    FILE *f = paper_open_out(PROG, o->out_dir, "paired_curves.csv");
    if (!f)
        return -1;
    paired_print pp;
    memset(&pp, 0, sizeof pp);
    pp.sw = sw;
    pp.csv = f;
    fprintf(f, "comparison,model,p,step,n,mean_diff,ci95_lo,ci95_hi,n_positive,n_negative\n");
    for (size_t e = 0; e < sw->n_evals; e++)
        if (for_each_paired(sw, e, row_paired_curve, &pp) != 0) {
            fclose(f);
            return -1;
        }
    return paper_close_out(PROG, f, "paired_curves.csv");
}

static int write_curves_mean(sweep *sw)
{
    const paper_options *o = &sw->o;
    FILE *f = paper_open_out(PROG, o->out_dir, "curves_mean.csv");
    if (!f)
        return -1;
    double *v = malloc(sw->seeds * sizeof *v);
    if (!v) {
        fclose(f);
        return -1;
    }
    fprintf(f, "model,p,step,n,mean,ci95_lo,ci95_hi\n");
    for (size_t a = 0; a < o->n_archs; a++)
        for (size_t c = 0; c < o->n_corrs; c++)
            for (size_t e = 0; e < sw->n_evals; e++) {
                for (size_t s = 0; s < sw->seeds; s++)
                    v[s] = sw->curve[cell(sw, a, c, s) * sw->n_evals + e];
                paper_stats st;
                paper_stats_compute(v, sw->seeds, &st);
                fprintf(f, "%s,%g,%zu,%zu,%.6g,%.6g,%.6g\n", o->archs[a]->name, o->corrs[c],
                        sw->eval_steps[e], st.n, st.mean, st.mean - st.ci_half,
                        st.mean + st.ci_half);
            }
    free(v);
    return paper_close_out(PROG, f, "curves_mean.csv");
}

static void print_gates(const sweep *sw)
{
    const paper_options *o = &sw->o;
    printf("\nGate inspection: mean gate weight per expert over the test set after training\n"
           "(seed 0 shown; gates.csv has every seed). 'TV' = total-variation distance\n"
           "0.5 * sum_e |g1_e - g2_e| between the two tasks' mean gate distributions,\n"
           "averaged over seeds (0: both tasks use the experts alike, 1: disjoint).\n");
    for (size_t a = 0; a < o->n_archs; a++) {
        if (!o->archs[a]->gated)
            continue;
        size_t ne = o->experts;
        for (size_t c = 0; c < o->n_corrs; c++) {
            double tv_mean = 0.0;
            for (size_t s = 0; s < sw->seeds; s++) {
                const double *g = sw->gates + cell(sw, a, c, s) * PAPER_TASKS * ne;
                double tv = 0.0;
                for (size_t e = 0; e < ne; e++)
                    tv += fabs(g[e] - g[ne + e]);
                tv_mean += 0.5 * tv / (double)sw->seeds;
            }
            printf("\n%s, p = %g (mean TV over seeds %.3f)\n", o->archs[a]->label, o->corrs[c],
                   tv_mean);
            const double *g = sw->gates + cell(sw, a, c, 0) * PAPER_TASKS * ne;
            printf("  expert:");
            for (size_t e = 0; e < ne; e++)
                printf(" %6zu", e);
            printf("\n");
            for (size_t k = 0; k < PAPER_TASKS; k++) {
                printf("  task %zu:", k + 1);
                for (size_t e = 0; e < ne; e++)
                    printf(" %6.3f", g[k * ne + e]);
                printf("\n");
            }
        }
    }
}

typedef struct paired_grid {
    const sweep *sw;
    double *v; /* [kind][arch][corr][eval][3]: mean, lo, hi; NaN where absent */
} paired_grid;

static void grid_paired(void *vctx, int kind, size_t a, size_t c, size_t e, const paper_stats *st,
                        size_t lower, size_t higher)
{
    (void)lower;
    (void)higher;
    paired_grid *g = vctx;
    const sweep *sw = g->sw;
    double *p =
        g->v + ((((size_t)kind * sw->o.n_archs + a) * sw->o.n_corrs + c) * sw->n_evals + e) * 3;
    p[0] = st->mean;
    p[1] = st->mean - st->ci_half;
    p[2] = st->mean + st->ci_half;
}

/*
 * Curves of the paired differences over training (log step axis, so the
 * early steps where effects appear are visible), each with its 95 % band:
 * paired_p.png, one panel per model with loss(p) - loss(reference p);
 * paired_models.png, one panel per p with MMoE - model.
 */
static int plot_paired(const sweep *sw, paper_text *t)
{
    const paper_options *o = &sw->o;
    size_t im = arch_index(sw, MMOE_ARCH_MMOE), ir = paper_ref_corr(&sw->o);
    size_t n = 2 * o->n_archs * o->n_corrs * sw->n_evals * 3;
    paired_grid g = {sw, malloc(n * sizeof(double))};
    if (!g.v)
        return -1;
    for (size_t i = 0; i < n; i++)
        g.v[i] = NAN;
    for (size_t e = 0; e < sw->n_evals; e++)
        if (for_each_paired(sw, e, grid_paired, &g) != 0) {
            free(g.v);
            return -1;
        }
    for (int kind = 0; kind < 2; kind++)
        for (size_t a = 0; a < o->n_archs; a++)
            for (size_t c = 0; c < o->n_corrs; c++) {
                const double *p =
                    g.v + (((size_t)kind * o->n_archs + a) * o->n_corrs + c) * sw->n_evals * 3;
                if (isnan(p[3 * (sw->n_evals - 1)]))
                    continue;
                paper_text_printf(t, "$d%d_%zu_%zu << EOD\n", kind, a, c);
                for (size_t e = 0; e < sw->n_evals; e++)
                    if (sw->eval_steps[e] > 0 && !isnan(p[3 * e]))
                        paper_text_printf(t, "%zu %.6g %.6g %.6g\n", sw->eval_steps[e], p[3 * e],
                                          isnan(p[3 * e + 1]) ? p[3 * e] : p[3 * e + 1],
                                          isnan(p[3 * e + 2]) ? p[3 * e] : p[3 * e + 2]);
                paper_text_printf(t, "EOD\n");
            }
    static const char *const pcol[] = {"#d62728", "#ff7f0e", "#9467bd", "#8c564b",
                                       "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"};
    for (int kind = 0; kind < 2; kind++) {
        size_t panels = kind == 1 ? o->n_archs : o->n_corrs;
        if (kind == 0 && (im == SIZE_MAX || o->n_archs < 2))
            continue;
        if (kind == 1 && o->n_corrs < 2)
            continue;
        size_t cols = panels < 3 ? panels : 3, rows = (panels + cols - 1) / cols;
        char path[4200];
        paper_gp_path(path, sizeof path, o->out_dir, kind ? "paired_p.png" : "paired_models.png");
        paper_text_printf(t,
                          "reset\n"
                          "if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {\n"
                          "  set terminal pngcairo size %zu,%zu font 'sans,10'\n"
                          "} else {\n  set terminal png size %zu,%zu\n}\n",
                          400 * cols + 60, 330 * rows + 40, 400 * cols + 60, 330 * rows + 40);
        paper_text_printf(t, "set output %s\n", path);
        if (kind)
            paper_text_printf(t,
                              "set multiplot layout %zu,%zu title 'Paired change with p: loss at "
                              "p minus loss at p = %g (mean over %zu seeds, 95%% band)'\n",
                              rows, cols, o->corrs[ir], sw->seeds);
        else
            paper_text_printf(t,
                              "set multiplot layout %zu,%zu title 'Paired difference MMoE minus "
                              "model (mean over %zu seeds, 95%% band)'\n",
                              rows, cols, sw->seeds);
        paper_text_printf(t, "set xrange [%zu:%zu]\n", sw->n_evals > 1 ? sw->eval_steps[1] : 1,
                          o->steps > 1 ? o->steps : 2);
        paper_text_printf(t, "set logscale x\nset grid\nset xlabel 'training step (log scale)'\n"
                             "set ylabel 'test MSE difference'\nset key top right\n"
                             "set style fill transparent solid 0.2 noborder\n");
        for (size_t i = 0; i < panels; i++) {
            if (kind)
                paper_text_printf(t, "set title '%s'\n", o->archs[i]->label);
            else
                paper_text_printf(t, "set title 'p = %g'\n", o->corrs[i]);
            /* y range from the means after the first 1/30 of training: the
             * bands of the first evaluations are often ten times wider */
            double ymax = 0.0;
            for (size_t j = 0; j < (kind ? o->n_corrs : o->n_archs); j++) {
                size_t a = kind ? i : j, c = kind ? j : i;
                const double *p =
                    g.v + (((size_t)kind * o->n_archs + a) * o->n_corrs + c) * sw->n_evals * 3;
                for (size_t e = 0; e < sw->n_evals; e++)
                    if (30 * sw->eval_steps[e] >= o->steps && fabs(p[3 * e]) > ymax)
                        ymax = fabs(p[3 * e]);
            }
            if (ymax > 0.0)
                paper_text_printf(t, "set yrange [%.6g:%.6g]\n", -1.5 * ymax, 1.5 * ymax);
            else
                paper_text_printf(t, "set autoscale y\n");
            paper_text_printf(t, "plot 0 with lines lc rgb '#000000' dt 2 notitle");
            size_t k = 0;
            for (size_t j = 0; j < (kind ? o->n_corrs : o->n_archs); j++) {
                size_t a = kind ? i : j, c = kind ? j : i;
                if ((kind && c == ir) || (!kind && a == im))
                    continue;
                const char *col =
                    kind ? pcol[k % (sizeof pcol / sizeof pcol[0])] : paper_arch_color(o->archs[a]);
                k++;
                char title[64];
                if (kind)
                    snprintf(title, sizeof title, "p = %g", o->corrs[c]);
                else
                    snprintf(title, sizeof title, "MMoE - %s", o->archs[a]->label);
                paper_text_printf(t,
                                  ", \\\n  $d%d_%zu_%zu using 1:3:4 with filledcurves lc rgb "
                                  "'%s' notitle, \\\n  $d%d_%zu_%zu using 1:2 with lines lw 2 "
                                  "lc rgb '%s' title '%s'",
                                  kind, a, c, col, kind, a, c, col, title);
            }
            paper_text_printf(t, "\n");
        }
        paper_text_printf(t, "unset multiplot\nunset output\n");
    }
    free(g.v);
    return 0;
}

/* gnuplot: one panel per p with the mean test-loss curve of every model and
 * its 95 % band; a second figure with the final loss against p. */
static int plot(sweep *sw, const paper_stats *st)
{
    const paper_options *o = &sw->o;
    paper_text t = {0};
    char path[4200];
    paper_gp_path(path, sizeof path, o->out_dir, "curves.png");
    paper_text_printf(&t, "# written by " PROG "; data inline\n");
    paper_text_printf(&t,
                      "if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {\n"
                      "  set terminal pngcairo size %zu,420 font 'sans,10'\n"
                      "} else {\n  set terminal png size %zu,420\n}\n",
                      360 * o->n_corrs + 80, 360 * o->n_corrs + 80);
    paper_text_printf(&t, "set output %s\n", path);
    for (size_t a = 0; a < o->n_archs; a++)
        for (size_t c = 0; c < o->n_corrs; c++) {
            paper_text_printf(&t, "$c%zu_%zu << EOD\n", a, c);
            for (size_t e = 0; e < sw->n_evals; e++) {
                double m = 0.0;
                for (size_t s = 0; s < sw->seeds; s++)
                    m += sw->curve[cell(sw, a, c, s) * sw->n_evals + e] / (double)sw->seeds;
                paper_text_printf(&t, "%zu %.6g\n", sw->eval_steps[e], m);
            }
            paper_text_printf(&t, "EOD\n");
        }
    paper_text_printf(&t,
                      "set multiplot layout 1,%zu title 'Test loss (mean of both tasks) "
                      "during training, mean over %zu seeds'\n",
                      o->n_corrs, sw->seeds);
    paper_text_printf(&t, "set logscale y\nset format y '%%g'\nset grid\n"
                          "set xlabel 'training step'\nset ylabel 'test MSE (log scale)'\n"
                          "set key top right\n");
    for (size_t c = 0; c < o->n_corrs; c++) {
        paper_text_printf(&t, "set title 'p = %g'\nplot ", o->corrs[c]);
        for (size_t a = 0; a < o->n_archs; a++) {
            const char *col = paper_arch_color(o->archs[a]);
            paper_text_printf(&t, "%s$c%zu_%zu using 1:2 with lines lw 2 lc rgb '%s' title '%s'",
                              a ? ", \\\n  " : "", a, c, col, o->archs[a]->label);
        }
        paper_text_printf(&t, "\n");
    }
    paper_text_printf(&t, "unset multiplot\nunset output\n");

    /* final loss against p */
    paper_gp_path(path, sizeof path, o->out_dir, "final_loss.png");
    paper_text_printf(&t, "reset\n");
    paper_text_printf(&t, "if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {\n"
                          "  set terminal pngcairo size 640,440 font 'sans,10'\n"
                          "} else {\n  set terminal png size 640,440\n}\n");
    paper_text_printf(&t, "set output %s\n", path);
    paper_text_printf(&t,
                      "set title 'Final test loss after %zu steps, mean and 95%% t-interval "
                      "(%zu seeds)'\n",
                      o->steps, sw->seeds);
    paper_text_printf(&t, "set grid\nset xlabel 'task correlation p'\nset ylabel 'test MSE'\n"
                          "set key top right\nset offsets 0.03, 0.03, 0, 0\n");
    for (size_t a = 0; a < o->n_archs; a++) {
        paper_text_printf(&t, "$f%zu << EOD\n", a);
        for (size_t c = 0; c < o->n_corrs; c++) {
            const paper_stats *s = &st[a * o->n_corrs + c];
            double dx = 0.006 * ((double)a - 0.5 * (double)(o->n_archs - 1));
            paper_text_printf(&t, "%g %.6g %.6g\n", o->corrs[c] + dx, s->mean,
                              isnan(s->ci_half) ? 0.0 : s->ci_half);
        }
        paper_text_printf(&t, "EOD\n");
    }
    paper_text_printf(&t, "plot ");
    for (size_t a = 0; a < o->n_archs; a++) {
        const char *col = paper_arch_color(o->archs[a]);
        paper_text_printf(&t,
                          "%s$f%zu using 1:2:3 with yerrorlines lw 2 pt 7 lc rgb '%s' "
                          "title '%s'",
                          a ? ", \\\n  " : "", a, col, o->archs[a]->label);
    }
    paper_text_printf(&t, "\nunset output\n");
    if (plot_paired(sw, &t) != 0) {
        paper_text_free(&t);
        fprintf(stderr, PROG ": out of memory for the plot script\n");
        return -1;
    }
    if (t.failed) {
        paper_text_free(&t);
        fprintf(stderr, PROG ": out of memory for the plot script\n");
        return -1;
    }
    int rc;
    if (o->plots) {
        rc = paper_run_gnuplot(PROG, o->out_dir, "plots.gp", t.s);
    } else {
        rc = -1;
        FILE *f = paper_open_out(PROG, o->out_dir, "plots.gp");
        if (f) {
            fputs(t.s, f);
            rc = paper_close_out(PROG, f, "plots.gp") == 0 ? 2 : -1;
        }
    }
    paper_text_free(&t);
    if (rc == 0)
        printf("\nplots: %s/curves.png, %s/final_loss.png, %s/paired_p.png, "
               "%s/paired_models.png\n",
               o->out_dir, o->out_dir, o->out_dir, o->out_dir);
    else if (rc == 1)
        printf("\nplots: gnuplot is not on PATH; no PNGs drawn (script saved as %s/plots.gp)\n",
               o->out_dir);
    else if (rc == 2)
        printf("\nplots: skipped (--no-plots); script saved as %s/plots.gp\n", o->out_dir);
    return rc < 0 ? -1 : 0;
}

/* ------------------------------------------------------------------------ */

/*
 * --from-curves: fill the curves and final losses from an earlier run's
 * curves.csv (values as printed there, 6 significant digits). Every model,
 * p, seed, evaluation step and task of this run's options must be in it.
 */
static int read_curves(sweep *sw, const char *path)
{
    const paper_options *o = &sw->o;
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, PROG ": %s: cannot open\n", path);
        return -1;
    }
    size_t ncells = o->n_archs * o->n_corrs * sw->seeds;
    unsigned char *have = calloc(ncells * sw->n_evals, 1);
    char line[512];
    size_t lineno = 0;
    int rc = -1;
    if (!have) {
        fprintf(stderr, PROG ": out of memory\n");
        goto done;
    }
    while (fgets(line, sizeof line, f)) {
        lineno++;
        if (lineno == 1 && strncmp(line, "model,", 6) == 0)
            continue;
        char model[64];
        double p, mse;
        size_t seed, step, task;
        if (sscanf(line, "%63[^,],%lf,%zu,%zu,%zu,%lf", model, &p, &seed, &step, &task, &mse) !=
            6) {
            fprintf(stderr, PROG ": %s:%zu: not a curves.csv row\n", path, lineno);
            goto done;
        }
        const paper_arch *ar = paper_arch_find(model);
        size_t a = ar ? arch_index(sw, ar->arch) : SIZE_MAX, c = corr_index(sw, p);
        size_t e = eval_index(sw, step);
        if (a == SIZE_MAX || c == SIZE_MAX || seed >= sw->seeds || e == SIZE_MAX || task < 1 ||
            task > PAPER_TASKS)
            continue; /* a row of a model, p, seed or step this run does not use */
        size_t ci = cell(sw, a, c, seed);
        unsigned char bit = (unsigned char)(1u << (task - 1));
        if (!(have[ci * sw->n_evals + e] & bit)) {
            have[ci * sw->n_evals + e] |= bit;
            sw->curve[ci * sw->n_evals + e] += mse / PAPER_TASKS;
            if (step == o->steps)
                sw->final_task[ci * PAPER_TASKS + task - 1] = mse;
        }
    }
    for (size_t i = 0; i < ncells * sw->n_evals; i++)
        if (have[i] != (1u << PAPER_TASKS) - 1) {
            size_t ci = i / sw->n_evals, e = i % sw->n_evals;
            size_t s = ci % sw->seeds, c = ci / sw->seeds % o->n_corrs;
            size_t a = ci / sw->seeds / o->n_corrs;
            fprintf(stderr, PROG ": %s: no row for %s, p %g, seed %zu, step %zu\n", path,
                    o->archs[a]->name, o->corrs[c], s, sw->eval_steps[e]);
            goto done;
        }
    rc = 0;
done:
    free(have);
    fclose(f);
    return rc;
}

int main(int argc, char **argv)
{
    sweep sw;
    memset(&sw, 0, sizeof sw);
    paper_options_defaults(&sw.o);
    sw.seeds = 20;
    int help = 0;
    if (parse_args(argc, argv, &sw, &help) != 0)
        return 2;
    if (help) {
        usage(stdout);
        return 0;
    }
    paper_options *o = &sw.o;
    int rc = 1;
    paper_stats *stats = NULL;
    paper_data data;
    memset(&data, 0, sizeof data);
    char err[PAPER_ERRLEN];

    if (paper_prepare(PROG, o, sw.widths, sw.params, sw.seeds, "seeds per cell") != 0)
        return 1;

    /* evaluation steps: 0, K, 2K, ..., steps */
    size_t ne = 1 + (o->eval_every ? o->steps / o->eval_every : 0);
    if (!o->eval_every || o->steps % o->eval_every)
        ne++;
    sw.n_evals = ne;
    sw.eval_steps = malloc(ne * sizeof *sw.eval_steps);
    size_t ncells = o->n_archs * o->n_corrs * sw.seeds;
    sw.curve = calloc(ncells * ne, sizeof *sw.curve);
    sw.final_task = calloc(ncells * PAPER_TASKS, sizeof *sw.final_task);
    stats = calloc(o->n_archs * o->n_corrs, sizeof *stats);
    if (o->gates)
        sw.gates = calloc(ncells * PAPER_TASKS * o->experts, sizeof *sw.gates);
    if (!sw.eval_steps || !sw.curve || !sw.final_task || !stats || (o->gates && !sw.gates)) {
        fprintf(stderr, PROG ": out of memory\n");
        goto done;
    }
    for (size_t e = 0, s = 0; e < ne; e++, s += o->eval_every)
        sw.eval_steps[e] = e + 1 == ne ? o->steps : s;
    for (size_t i = 0; i < sw.n_at; i++)
        if (eval_index(&sw, sw.at_steps[i]) == SIZE_MAX) {
            fprintf(stderr,
                    PROG ": --at-steps: step %zu is not an evaluation step (0, %zu, %zu, ..., "
                         "%zu)\n",
                    sw.at_steps[i], o->eval_every, 2 * o->eval_every, o->steps);
            rc = 2;
            goto done;
        }

    if (sw.from_curves) {
        if (o->gates)
            printf("(--gates: no gate weights with --from-curves; the run's gates.csv has them)\n");
        o->gates = 0;
        if (read_curves(&sw, sw.from_curves) != 0)
            goto done;
        if (write_summary(&sw, stats) != 0 || write_curves_mean(&sw) != 0 ||
            write_paired_curves(&sw) != 0)
            goto done;
        print_summary(&sw, stats);
        if (write_paired(&sw) != 0 || plot(&sw, stats) != 0)
            goto done;
        printf("\ntables and plots of %s in %s/\n", sw.from_curves, o->out_dir);
        rc = 0;
        goto done;
    }
    sw.curves_csv = paper_open_out(PROG, o->out_dir, "curves.csv");
    if (!sw.curves_csv)
        goto done;
    fprintf(sw.curves_csv, "model,p,seed,step,task,test_mse\n");
    if (o->gates) {
        sw.gates_csv = paper_open_out(PROG, o->out_dir, "gates.csv");
        if (!sw.gates_csv)
            goto done;
        fprintf(sw.gates_csv, "model,p,seed,task,expert,mean_gate_weight\n");
    }

    paper_progress prog;
    paper_progress_start(&prog, PROG, ncells);
    for (size_t s = 0; s < sw.seeds; s++) {
        /* one data seed per seed index: with a fixed seed the synth keeps the
         * inputs and unit vectors across p, so the p's differ only in w_2 */
        uint64_t data_seed = paper_mix_seed(o->seed, s, 0x44415441ULL, 0);
        uint64_t init_seed = paper_mix_seed(o->seed, s, 0x494E4954ULL, 0);
        for (size_t c = 0; c < o->n_corrs; c++) {
            if (paper_data_make(o, o->corrs[c], data_seed, &data, err, sizeof err) != 0) {
                fprintf(stderr, "\n" PROG ": %s\n", err);
                goto done;
            }
            for (size_t a = 0; a < o->n_archs; a++) {
                const paper_arch *ar = o->archs[a];
                size_t ci = cell(&sw, a, c, s);
                eval_ctx ctx = {&sw, ar, o->corrs[c], s, sw.curve + ci * ne, 0};
                paper_run_result res;
                if (paper_train(o, &data, ar, sw.widths[a], init_seed, o->gates, on_eval, &ctx,
                                &res, err, sizeof err) != 0) {
                    fprintf(stderr, "\n" PROG ": %s\n", err);
                    goto done;
                }
                for (size_t k = 0; k < PAPER_TASKS; k++)
                    sw.final_task[ci * PAPER_TASKS + k] = res.final_mse[k];
                if (res.has_gates) {
                    for (size_t k = 0; k < PAPER_TASKS; k++)
                        for (size_t e = 0; e < res.n_experts && e < o->experts; e++) {
                            double g = res.gate_mean[k * res.n_experts + e];
                            sw.gates[(ci * PAPER_TASKS + k) * o->experts + e] = g;
                            fprintf(sw.gates_csv, "%s,%g,%zu,%zu,%zu,%.6g\n", ar->name, o->corrs[c],
                                    s, k + 1, e, g);
                        }
                }
                paper_run_result_free(&res);
                char what[96];
                snprintf(what, sizeof what, "seed %zu, p %g, %s: %.4f", s, o->corrs[c], ar->name,
                         res.final_loss);
                paper_progress_step(&prog, what);
            }
            paper_data_free(&data);
        }
        fflush(sw.curves_csv);
    }
    paper_progress_end(&prog);
    double wall = paper_now() - prog.t0;

    int bad = paper_close_out(PROG, sw.curves_csv, "curves.csv");
    sw.curves_csv = NULL;
    if (sw.gates_csv) {
        bad |= paper_close_out(PROG, sw.gates_csv, "gates.csv");
        sw.gates_csv = NULL;
    }
    if (bad || write_summary(&sw, stats) != 0 || write_curves_mean(&sw) != 0 ||
        write_paired_curves(&sw) != 0)
        goto done;
    print_summary(&sw, stats);
    if (write_paired(&sw) != 0)
        goto done;
    if (o->gates)
        print_gates(&sw);
    if (plot(&sw, stats) != 0)
        goto done;
    char wt[32];
    paper_format_duration(wall, wt, sizeof wt);
    printf("\n%zu runs in %s; outputs in %s/\n", ncells, wt, o->out_dir);
    rc = 0;

    if (o->quick && paper_quick_check(o, final_loss, &sw, sw.seeds) == 0)
        rc = 3;

done:
    if (sw.curves_csv)
        fclose(sw.curves_csv);
    if (sw.gates_csv)
        fclose(sw.gates_csv);
    paper_data_free(&data);
    free(sw.eval_steps);
    free(sw.curve);
    free(sw.final_task);
    free(sw.gates);
    free(stats);
    return rc;
}
