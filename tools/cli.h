/*
 * The mmoe command: shared declarations of the subcommands (train, eval,
 * predict, inspect) and their helpers. Public libmmoe API only.
 */
#ifndef MMOE_TOOLS_CLI_H
#define MMOE_TOOLS_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <mmoe/mmoe.h>

/* Exit statuses (docs/cli.md). */
enum {
    EXIT_OK = 0,
    EXIT_FAIL = 1,  /* I/O error, library error, out of memory */
    EXIT_USAGE = 2, /* bad command line */
    EXIT_INPUT = 3, /* invalid schema, model description, model file or data */
};

int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_inspect(int argc, char **argv);

/* ---- command-line options ---- */

typedef enum opt_kind { OPT_FLAG, OPT_STR, OPT_SIZE, OPT_U64, OPT_REAL } opt_kind;

typedef struct cli_opt {
    const char *name; /* "--epochs" */
    opt_kind kind;
    void *dst;     /* int*, const char**, size_t*, uint64_t*, double* */
    double lo, hi; /* range of numbers */
} cli_opt;

/* What parse_opts returns after printing the help text (the command then exits 0). */
#define OPTS_HELP (-1)

/*
 * Parse argv[1..] (argv[0] is the subcommand) against opts. Returns 0;
 * OPTS_HELP after printing usage(stdout) for --help or -h; or EXIT_USAGE
 * after a message on stderr.
 */
int parse_opts(const char *cmd, int argc, char **argv, const cli_opt *opts, size_t n,
               void (*usage)(FILE *));

/* Status of a library failure: EXIT_INPUT for bad data, EXIT_FAIL otherwise. */
int exit_for(mmoe_status st);

/* "mmoe CMD: what: STATUS_NAME: message" on stderr; returns exit_for(st). */
int report(const char *cmd, const char *what, mmoe_status st, const char *msg);

/*
 * The options every data-reading command shares: --on-error ("fail" or
 * "skip", into *policy) and --threads (0: keep the BLAS default; applied).
 * Returns 0 or an exit status after a message.
 */
int run_options(const char *cmd, const char *on_error, mmoe_malformed *policy, size_t threads);

/*
 * Load a model file that carries its transformation (one mmoe train wrote).
 * Returns 0 or an exit status after a message (*out NULL).
 */
int load_served_model(const char *cmd, const char *path, mmoe_model **out);

double now_seconds(void);

/* ---- progress on stderr: a bar on a terminal, plain lines otherwise ---- */

typedef struct progress {
    const char *label;
    int tty, quiet;
    double t0, last;
    int last_quarter;
} progress;

void progress_start(progress *p, const char *label, int quiet);
/* done/total bytes (total 0: unknown), rows so far. */
void progress_update(progress *p, uint64_t done, uint64_t total, uint64_t rows);
void progress_end(progress *p);

/* ---- evaluation ---- */

/* Growing arrays of predictions and labels [n, T] for the metrics. */
typedef struct evalbuf {
    size_t n, cap, T;
    float *pred, *label, *weight;
} evalbuf;

int evalbuf_add(evalbuf *e, size_t rows, const float *pred, const float *label, const float *w);
void evalbuf_free(evalbuf *e);

/* Per-task metrics: binary: AUC (NaN when undefined) and log loss; regression: MSE. */
typedef struct task_metrics {
    double auc, logloss, mse;
} task_metrics;

int evalbuf_metrics(const evalbuf *e, const mmoe_model *m, task_metrics *out);

/*
 * Predict every record of a file through the model's transformation and
 * collect predictions and labels. Returns 0 or an exit status (message
 * printed). *skipped counts malformed records (skip policy).
 */
int evaluate_file(const char *cmd, const mmoe_model *m, mmoe_workspace *ws, const char *path,
                  size_t batch, mmoe_malformed policy, evalbuf *e, uint64_t *skipped, int quiet);

#endif
