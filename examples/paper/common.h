/*
 * Shared code of the paper-reproduction programs (correlation-sweep,
 * trainability): command-line options, the synthetic data, model
 * construction with parameter-count matching, the training loop,
 * statistics, progress reporting and gnuplot output.
 *
 * Only the public libmmoe API (<mmoe/mmoe.h>, <mmoe/synth.h>) is used.
 */
#ifndef PAPER_COMMON_H
#define PAPER_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <mmoe/mmoe.h>
#include <mmoe/synth.h>

/** The synthetic benchmark has two regression tasks. */
#define PAPER_TASKS 2

/** Most architectures one run may compare (at least all of mmoe_arch). */
#define PAPER_MAX_ARCHS 16

/** Most correlations in a --corr list. */
#define PAPER_MAX_CORRS 16

/** Error message buffer size. */
#define PAPER_ERRLEN 512

/** Weight initialisation of the paper programs (--init). */
typedef enum paper_init {
    PAPER_INIT_HE = 0,    /* the library's: He-normal before relu, Glorot-uniform otherwise */
    PAPER_INIT_GLOROT = 1 /* every weight matrix Glorot-uniform (Keras's Dense default) */
} paper_init;

/* ------------------------------------------------------------------------ */
/* architectures                                                             */
/* ------------------------------------------------------------------------ */

typedef struct paper_arch {
    const char *name;  /* command-line and CSV name: "shared_bottom" */
    const char *label; /* name in tables and plots: "Shared-Bottom" */
    mmoe_arch arch;
    int gated; /* has learned gates (MMoE, OMoE, ...): uses --experts experts */
} paper_arch;

/** Architecture by command-line name, or NULL. */
const paper_arch *paper_arch_find(const char *name);

/** Architecture by enum value, or NULL. */
const paper_arch *paper_arch_get(mmoe_arch arch);

/** All architectures in display order: Shared-Bottom, OMoE, MMoE, then the other baselines. */
const paper_arch *paper_arch_at(size_t i);
size_t paper_arch_count(void);

/** Plot colour ("#rrggbb") of an architecture of the table, one for each; never NULL. */
const char *paper_arch_color(const paper_arch *a);

/* ------------------------------------------------------------------------ */
/* options                                                                   */
/* ------------------------------------------------------------------------ */

typedef struct paper_options {
    /* data */
    size_t dim;       /* input width d */
    size_t n_train;   /* training samples per run (ignored with online) */
    size_t n_test;    /* test samples per run, drawn after the training ones */
    double scale;     /* c */
    size_t sin_terms; /* m */
    double noise;     /* sigma */
    int online;       /* --online: fresh samples from the generator every step */
    double corrs[PAPER_MAX_CORRS];
    size_t n_corrs;
    /* models */
    const paper_arch *archs[PAPER_MAX_ARCHS];
    size_t n_archs;
    int all_archs; /* --all: every architecture */
    size_t experts;
    size_t expert_units;
    size_t tower_units;
    int match_params; /* size non-MoE networks to MMoE's parameter count */
    double l2_lambda;
    size_t tf_rank;
    /* training */
    size_t steps;
    size_t batch;
    double lr;
    paper_init init;
    size_t eval_every; /* 0: only at the end */
    uint64_t seed;     /* base seed */
    int threads;
    /* output */
    const char *out_dir;
    int gates;
    int plots; /* draw PNGs with gnuplot when available */
    int quick;
} paper_options;

/** Fill o with the shared defaults (the paper's setup, see docs/reproduction.md). */
void paper_options_defaults(paper_options *o);

/**
 * Try to parse one shared option `flag value`.
 * @return 1 when it consumed flag and value, 0 when flag is not a shared
 *         option, -1 on a bad value (a message was printed).
 */
int paper_parse_option(const char *prog, const char *flag, const char *value, paper_options *o);

/**
 * Try to parse one shared value-less flag (--all, --no-match, --gates,
 * --no-plots, --quick). @return 1 when consumed, 0 otherwise.
 */
int paper_parse_flag(const char *flag, paper_options *o);

/** Shared option text for --help. */
void paper_print_option_help(FILE *f);

/*
 * Program-specific options: return 1 when flag (with its value) was handled,
 * 0 when it is not one of the program's, -1 on a bad value (message printed).
 */
typedef int (*paper_extra_option)(const char *flag, const char *value, void *ctx);

/*
 * The command-line loop both programs share: --help/-h sets *help; then the
 * common flags and options, then extra(), else an error. Applies
 * paper_finish_arch_list at the end. Returns 0 or -1 (message printed).
 * --quick presets must be applied by the caller before (they can be
 * overridden by later options).
 */
int paper_parse_args(const char *prog, int argc, char **argv, paper_options *o, int *help,
                     paper_extra_option extra, void *ctx);

/** Parse a non-negative integer in lo..hi; 0 or -1 (message printed). */
int paper_parse_size(const char *prog, const char *flag, const char *s, size_t lo, size_t hi,
                     size_t *out);

/** Expand --all and default the architecture list when none was given. */
void paper_finish_arch_list(paper_options *o);

/**
 * Index in o->corrs of the reference correlation of the paired "change with
 * p" comparisons: p = 1 when it is in the list, else the largest p.
 */
size_t paper_ref_corr(const paper_options *o);

/** Print the constants of a run (data, models, training) to f. */
void paper_print_setup(FILE *f, const char *prog, const paper_options *o);

/* ------------------------------------------------------------------------ */
/* data                                                                      */
/* ------------------------------------------------------------------------ */

typedef struct paper_data {
    size_t dim, n_train, n_test;
    float *x_train, *y_train; /* [n_train, dim], [n_train, 2]; NULL when online */
    float *x_test, *y_test;   /* [n_test, dim], [n_test, 2] */
    double test_var[PAPER_TASKS];
    mmoe_synth *gen; /* online: the generator, whose stream after the test set trains */
} paper_data;

/**
 * Draw a fresh data set: training then test samples of one generator with
 * the given correlation and seed. With o->online there is no training set:
 * the test samples are drawn first, and paper_train draws every mini-batch
 * from the rest of the same stream (rewound for each model, so all models
 * of a seed see the same samples in the same order).
 * @return 0, or -1 with a message in err.
 */
int paper_data_make(const paper_options *o, double corr, uint64_t seed, paper_data *d, char *err,
                    size_t cap);
void paper_data_free(paper_data *d);

/* ------------------------------------------------------------------------ */
/* models                                                                    */
/* ------------------------------------------------------------------------ */

/**
 * Build a model description: arch, input d, width-sized experts (for
 * mmoe/omoe: o->experts experts of `width` units; otherwise the shared bottom
 * or per-task networks of `width` units), two regression tasks with towers
 * of o->tower_units, the arch's own keys (l2.lambda, tf.rank), init seed.
 */
mmoe_status paper_config(const paper_options *o, const paper_arch *a, size_t width,
                         uint64_t init_seed, mmoe_config **out, char *err, size_t cap);

/** Parameter count of the model paper_config describes. */
mmoe_status paper_param_count(const paper_options *o, const paper_arch *a, size_t width,
                              size_t *count, char *err, size_t cap);

/**
 * Width of each architecture for this run and its parameter count. MMoE and
 * OMoE use o->expert_units; with o->match_params, every other architecture
 * gets the width whose parameter count is closest to MMoE's.
 * Returns MMOE_ERR_UNSUPPORTED when this libmmoe cannot build the arch.
 */
mmoe_status paper_arch_width(const paper_options *o, const paper_arch *a, size_t *width,
                             size_t *count, char *err, size_t cap);

/**
 * Drop the architectures this libmmoe cannot build (printing why) and fill
 * widths[] / params[] for the rest. @return 0, or -1 on another error or
 * when nothing is left.
 */
int paper_resolve_archs(const char *prog, paper_options *o, size_t *widths, size_t *params);

/* ------------------------------------------------------------------------ */
/* training                                                                  */
/* ------------------------------------------------------------------------ */

/** Called at step 0, every eval_every steps and after the last step. */
typedef void (*paper_eval_fn)(void *ctx, size_t step, const double *task_mse);

typedef struct paper_run_result {
    double final_mse[PAPER_TASKS]; /* test MSE of each task after the last step */
    double final_loss;             /* mean of final_mse over the tasks */
    int has_gates;
    size_t n_experts;
    double *gate_mean; /* [2, n_experts] mean test gate weight, or NULL */
} paper_run_result;

/**
 * Train one model (Adam, o->steps mini-batches of o->batch from shuffled
 * passes over the training set, or fresh ones with o->online) and evaluate
 * on the test set. With o->init == PAPER_INIT_GLOROT every weight matrix
 * [out, in] is redrawn Glorot-uniform (limit sqrt(6 / (in + out))) from
 * init_seed before training; biases stay 0.
 * With want_gates and a gated model, res->gate_mean is allocated (free with
 * paper_run_result_free).
 * @return 0, or -1 with a message in err.
 */
int paper_train(const paper_options *o, const paper_data *d, const paper_arch *a, size_t width,
                uint64_t init_seed, int want_gates, paper_eval_fn fn, void *ctx,
                paper_run_result *res, char *err, size_t cap);
void paper_run_result_free(paper_run_result *res);

/** Deterministic 64-bit mixing of a base seed with up to three indices. */
uint64_t paper_mix_seed(uint64_t base, uint64_t a, uint64_t b, uint64_t c);

/* ------------------------------------------------------------------------ */
/* statistics                                                                */
/* ------------------------------------------------------------------------ */

typedef struct paper_stats {
    size_t n;
    double mean, sd, ci_half; /* ci_half: half-width of the 95 % t interval of the mean */
    double min, median, max;
    double p95;         /* 95th percentile (the best of the worst 5 %) */
    double worst5_mean; /* mean of the worst 5 % (at least one value) */
} paper_stats;

/** Statistics of v[0..n-1] (v is sorted in place). */
void paper_stats_compute(double *v, size_t n, paper_stats *s);

/** Two-sided 97.5 % quantile of Student's t with df degrees of freedom. */
double paper_t975(size_t df);

/**
 * Paired comparison of a[i] - b[i] over n pairs: statistics of the
 * differences (d is scratch of n values) and the number of pairs with
 * a[i] < b[i] (*a_lower) and a[i] > b[i] (*a_higher); either may be NULL.
 */
void paper_paired(const double *a, const double *b, size_t n, double *d, paper_stats *s,
                  size_t *a_lower, size_t *a_higher);

/*
 * The --quick check of both programs, a claim that holds early in training
 * whatever the seed: every model learns two related tasks faster than two
 * less related ones. loss(a, c, i) gives the final loss of architecture a
 * at correlation index c for seed or run i (n of them). Over the pairs
 * (Shared-Bottom, OMoE, MMoE that were run) x i, counts those whose loss
 * at p = 0.5 is above the loss at p = 1 and passes when they are at least
 * two thirds of the pairs and the mean difference is positive. Prints the
 * result; returns 1 pass, 0 fail, -1 when the run lacks what it needs
 * (p = 0.5, p = 1 or the three models).
 */
typedef double (*paper_loss_fn)(const void *ctx, size_t a, size_t c, size_t i);
int paper_quick_check(const paper_options *o, paper_loss_fn loss, const void *ctx, size_t n);

/** "+0.0012 +/- 0.0008 (7/10)" into buf: mean difference, interval, count of n. */
void paper_format_diff(char *buf, size_t cap, const paper_stats *s, size_t count, size_t n);

/* ------------------------------------------------------------------------ */
/* progress, files, plots                                                    */
/* ------------------------------------------------------------------------ */

typedef struct paper_progress {
    const char *prog;
    size_t total, done;
    double t0, last_print;
    int tty;
} paper_progress;

double paper_now(void);
void paper_progress_start(paper_progress *p, const char *prog, size_t total);
/** One more run finished; prints "runs done/total, elapsed, ETA" to stderr. */
void paper_progress_step(paper_progress *p, const char *what);
void paper_progress_end(paper_progress *p);

/** Format seconds as "1h02m03s" / "2m03s" / "4.1s". */
void paper_format_duration(double s, char *buf, size_t cap);

/** Create a directory and its parents (like mkdir -p). @return 0 or -1 (message printed). */
int paper_mkdir_p(const char *prog, const char *path);

/*
 * The start both programs share: set the BLAS thread count (a note when the
 * BLAS has no thread control), resolve the models and their widths, print
 * the setup and the parameter counts (after "<count> <what>; "), create the
 * output directory. Returns 0 or -1 (message printed).
 */
int paper_prepare(const char *prog, paper_options *o, size_t *widths, size_t *params, size_t count,
                  const char *what);

/** Open dir/name for writing; prints a message and returns NULL on failure. */
FILE *paper_open_out(const char *prog, const char *dir, const char *name);

/** Close a file opened with paper_open_out; -1 (message printed) when writing failed. */
int paper_close_out(const char *prog, FILE *f, const char *name);

/** 1 when a program called gnuplot is on PATH. */
int paper_have_gnuplot(void);

/**
 * Save a gnuplot script as dir/script_name and run it through a gnuplot
 * pipe (when gnuplot is available). @return 0 when the PNGs were drawn,
 * 1 when gnuplot is not available (the script is still saved), -1 on error.
 */
int paper_run_gnuplot(const char *prog, const char *dir, const char *script_name,
                      const char *script);

/** Append a gnuplot single-quoted string of dir/name to buf (quotes doubled). */
void paper_gp_path(char *buf, size_t cap, const char *dir, const char *name);

/* Growable text buffer for building scripts. */
typedef struct paper_text {
    char *s;
    size_t len, cap;
    int failed;
} paper_text;

void paper_text_printf(paper_text *t, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
void paper_text_free(paper_text *t);

#endif /* PAPER_COMMON_H */
