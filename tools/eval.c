/* mmoe eval: per-task metrics of a model file on a labelled data file. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define CMD "eval"

static void usage(FILE *f)
{
    fprintf(f, "usage: mmoe eval --model MODEL --data FILE [options]\n"
               "\n"
               "Predict every record of FILE through the model's stored transformation and\n"
               "print, per task, AUC and log loss (binary tasks) or MSE and RMSE (regression),\n"
               "weighted by the schema's weight column if it has one.\n"
               "\n"
               "  --model MODEL      model file written by mmoe train\n"
               "  --data FILE        labelled data in the training layout (plain or gzip)\n"
               "  --batch B          rows per prediction call [1024]\n"
               "  --on-error E       malformed records: fail | skip (and count) [fail]\n"
               "  --threads T        BLAS threads (0: the BLAS default) [1]\n"
               "  --json             one JSON object instead of the table\n"
               "  --quiet            no progress output\n"
               "  --help             this text\n"
               "\n"
               "Exit status: 0 success, 1 I/O or library failure, 2 bad command line,\n"
               "3 invalid model file or data.\n");
}

int cmd_eval(int argc, char **argv)
{
    const char *model_path = NULL, *data = NULL, *on_error = "fail";
    size_t batch = 1024, threads = 1;
    int json = 0, quiet = 0;
    const cli_opt opts[] = {
        {"--model", OPT_STR, &model_path, 0, 0},    {"--data", OPT_STR, &data, 0, 0},
        {"--batch", OPT_SIZE, &batch, 1, 1 << 20},  {"--on-error", OPT_STR, &on_error, 0, 0},
        {"--threads", OPT_SIZE, &threads, 0, 1024}, {"--json", OPT_FLAG, &json, 0, 0},
        {"--quiet", OPT_FLAG, &quiet, 0, 0},
    };
    int rc = parse_opts(CMD, argc, argv, opts, sizeof opts / sizeof opts[0], usage);
    if (rc)
        return rc == OPTS_HELP ? EXIT_OK : rc;
    mmoe_malformed policy;
    if (!model_path || !data) {
        fprintf(stderr, "mmoe eval: --model and --data are required (see mmoe eval --help)\n");
        return EXIT_USAGE;
    }
    if ((rc = run_options(CMD, on_error, &policy, threads)) != 0)
        return rc;
    mmoe_model *m = NULL;
    mmoe_workspace *ws = NULL;
    evalbuf ev = {0};
    task_metrics *met = NULL;
    if ((rc = load_served_model(CMD, model_path, &m)) != 0)
        return rc;
    mmoe_status st;
    if ((st = mmoe_workspace_create(m, batch, &ws)) != MMOE_OK) {
        rc = report(CMD, "workspace", st, mmoe_last_error());
        goto done;
    }
    uint64_t skipped = 0;
    if ((rc = evaluate_file(CMD, m, ws, data, batch, policy, &ev, &skipped, quiet)) != 0)
        goto done;
    const size_t T = mmoe_model_num_tasks(m);
    met = calloc(T, sizeof *met);
    if (!met || evalbuf_metrics(&ev, m, met) != 0) {
        rc = report(CMD, "metrics", MMOE_ERR_NOMEM, "out of memory");
        goto done;
    }
    if (json) {
        printf("{\"rows\":%zu,\"skipped\":%llu,\"tasks\":[", ev.n, (unsigned long long)skipped);
    } else {
        printf("%zu rows", ev.n);
        if (skipped)
            printf(" (%llu malformed skipped)", (unsigned long long)skipped);
        printf("\n%-24s %-10s %10s %10s\n", "task", "kind", "auc/mse", "logloss/rmse");
    }
    for (size_t k = 0; k < T; k++) {
        const char *name;
        mmoe_task_kind kind;
        mmoe_model_task(m, k, &name, &kind);
        int bin = kind == MMOE_TASK_BINARY;
        if (json) {
            printf("%s{\"name\":\"%s\",\"kind\":\"%s\"", k ? "," : "", name,
                   bin ? "binary" : "regression");
            if (bin && isfinite(met[k].auc))
                printf(",\"auc\":%.9g", met[k].auc);
            if (bin && isfinite(met[k].logloss))
                printf(",\"logloss\":%.9g", met[k].logloss);
            if (!bin && isfinite(met[k].mse))
                printf(",\"mse\":%.9g,\"rmse\":%.9g", met[k].mse, sqrt(met[k].mse));
            printf("}");
        } else if (bin) {
            printf("%-24s %-10s %10.5f %10.5f\n", name, "binary", met[k].auc, met[k].logloss);
        } else {
            printf("%-24s %-10s %10.5f %10.5f\n", name, "regression", met[k].mse, sqrt(met[k].mse));
        }
    }
    if (json)
        printf("]}\n");
    rc = EXIT_OK;
done:
    free(met);
    evalbuf_free(&ev);
    mmoe_workspace_free(ws);
    mmoe_model_free(m);
    return rc;
}
