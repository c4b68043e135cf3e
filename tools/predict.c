/*
 * mmoe predict: raw records in, one line of per-task outputs per record
 * out, through the model's stored transformation (sparse features
 * included): the path a serving process takes, from the command line.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define CMD "predict"

static void usage(FILE *f)
{
    fprintf(f, "usage: mmoe predict --model MODEL [--data FILE] [--out FILE] [options]\n"
               "\n"
               "For every record of FILE (standard input by default; CSV/TSV in the layout of\n"
               "the model's schema, plain or gzip; label columns are not needed), write one\n"
               "line with the model's outputs, comma-separated in task order: the probability\n"
               "of each binary task, the value of each regression task (9 significant digits,\n"
               "exact for float32). A schema with a header expects one in FILE too.\n"
               "\n"
               "  --model MODEL      model file written by mmoe train\n"
               "  --data FILE        records to predict (- = standard input) [-]\n"
               "  --out FILE         output (- = standard output) [-]\n"
               "  --header           first write a line with the task names\n"
               "  --check            only transform the records (no prediction, no output):\n"
               "                     checks a file against the model's schema, reports the\n"
               "                     count of records and malformed ones and the rate\n"
               "  --batch B          records per prediction call [1024]\n"
               "  --on-error E       malformed records: fail (exit 3) | skip (write NA for each\n"
               "                     task, report the count on stderr) [fail]\n"
               "  --threads T        BLAS threads (0: the BLAS default) [1]\n"
               "  --help             this text\n"
               "\n"
               "Exit status: 0 success, 1 I/O or library failure, 2 bad command line,\n"
               "3 invalid model file or a malformed record with --on-error fail.\n");
}

int cmd_predict(int argc, char **argv)
{
    const char *model_path = NULL, *data = "-", *out_path = "-", *on_error = "fail";
    size_t batch = 1024, threads = 1;
    int header = 0, check_only = 0;
    const cli_opt opts[] = {
        {"--model", OPT_STR, &model_path, 0, 0},    {"--data", OPT_STR, &data, 0, 0},
        {"--out", OPT_STR, &out_path, 0, 0},        {"--header", OPT_FLAG, &header, 0, 0},
        {"--batch", OPT_SIZE, &batch, 1, 1 << 20},  {"--on-error", OPT_STR, &on_error, 0, 0},
        {"--threads", OPT_SIZE, &threads, 0, 1024}, {"--check", OPT_FLAG, &check_only, 0, 0},
    };
    int rc = parse_opts(CMD, argc, argv, opts, sizeof opts / sizeof opts[0], usage);
    if (rc)
        return rc == OPTS_HELP ? EXIT_OK : rc;
    mmoe_malformed policy;
    if (!model_path) {
        fprintf(stderr, "mmoe predict: --model is required (see mmoe predict --help)\n");
        return EXIT_USAGE;
    }
    if ((rc = run_options(CMD, on_error, &policy, threads)) != 0)
        return rc;
    mmoe_model *m = NULL;
    mmoe_workspace *ws = NULL;
    mmoe_transform_workspace *tws = NULL;
    mmoe_reader *r = NULL;
    FILE *out = NULL;
    float *x = NULL, *pred = NULL;
    int64_t *ids = NULL;
    size_t *kept = NULL, *lens = NULL;
    const char **recs = NULL;
    uint64_t *lines = NULL, skipped = 0;
    char last_bad[512] = "";
    if ((rc = load_served_model(CMD, model_path, &m)) != 0)
        return rc;
    mmoe_status st;
    const mmoe_transform *tf = mmoe_model_get_transform(m);
    const size_t D = mmoe_transform_dense_dim(tf), I = mmoe_transform_num_ids(tf);
    const size_t T = mmoe_model_num_tasks(m);
    x = malloc(batch * D * sizeof *x);
    ids = malloc(batch * (I ? I : 1) * sizeof *ids);
    pred = malloc(batch * T * sizeof *pred);
    kept = malloc(batch * sizeof *kept);
    lens = malloc(batch * sizeof *lens);
    recs = malloc(batch * sizeof *recs);
    lines = malloc(batch * sizeof *lines);
    if (!x || !ids || !pred || !kept || !lens || !recs || !lines) {
        rc = report(CMD, "setup", MMOE_ERR_NOMEM, "out of memory");
        goto done;
    }
    if ((st = mmoe_workspace_create(m, batch, &ws)) != MMOE_OK ||
        (st = mmoe_transform_workspace_create(tf, 0, &tws)) != MMOE_OK ||
        (st = mmoe_reader_open(data, mmoe_transform_schema(tf), 0, &r)) != MMOE_OK) {
        rc = report(CMD, data, st, mmoe_last_error());
        goto done;
    }
    const char *h;
    size_t hl;
    if (mmoe_reader_header(r, &h, &hl) == MMOE_OK &&
        (st = mmoe_transform_check_header(tf, h, hl)) != MMOE_OK) {
        rc = report(CMD, data, st, mmoe_last_error());
        goto done;
    }
    out = strcmp(out_path, "-") == 0 ? stdout : fopen(out_path, "w");
    if (!out) {
        fprintf(stderr, "mmoe predict: cannot write %s: %s\n", out_path, strerror(errno));
        rc = EXIT_FAIL;
        goto done;
    }
    uint64_t records = 0;
    const double t0 = now_seconds();
    if (header && !check_only)
        for (size_t k = 0; k < T; k++) {
            const char *name;
            mmoe_model_task(m, k, &name, NULL);
            fprintf(out, "%s%s", name, k + 1 < T ? "," : "\n");
        }
    for (;;) {
        size_t n, n_out, n_skip;
        if ((st = mmoe_reader_next(r, batch, recs, lens, lines, &n)) != MMOE_OK) {
            rc = report(CMD, data, st, mmoe_reader_last_error(r));
            goto done;
        }
        if (n == 0)
            break;
        st = mmoe_transform_lines(tf, tws, n, recs, lens, lines, policy, x, I ? ids : NULL, NULL,
                                  NULL, kept, &n_out, &n_skip);
        if (st != MMOE_OK) {
            rc = report(CMD, data, st, mmoe_transform_workspace_last_error(tws));
            goto done;
        }
        if (n_skip) {
            skipped += n_skip;
            snprintf(last_bad, sizeof last_bad, "%s", mmoe_transform_workspace_last_error(tws));
        }
        records += n;
        if (check_only)
            continue;
        if (n_out && (st = mmoe_model_predict(m, ws, n_out, x, I ? ids : NULL, pred)) != MMOE_OK) {
            rc = report(CMD, "mmoe_model_predict", st, mmoe_workspace_last_error(ws));
            goto done;
        }
        size_t j = 0;
        for (size_t i = 0; i < n; i++) {
            if (j < n_out && kept[j] == i) {
                for (size_t k = 0; k < T; k++)
                    fprintf(out, "%.9g%c", pred[j * T + k], k + 1 < T ? ',' : '\n');
                j++;
            } else {
                for (size_t k = 0; k < T; k++)
                    fprintf(out, "NA%c", k + 1 < T ? ',' : '\n');
            }
        }
    }
    if (fflush(out) != 0 || ferror(out)) {
        fprintf(stderr, "mmoe predict: writing %s failed\n", out_path);
        rc = EXIT_FAIL;
        goto done;
    }
    if (check_only)
        fprintf(stderr, "mmoe predict: %llu records, %llu malformed%s%s%s, %.0f records/s\n",
                (unsigned long long)records, (unsigned long long)skipped, skipped ? " (last: " : "",
                last_bad, skipped ? ")" : "", (double)records / (now_seconds() - t0 + 1e-9));
    else if (skipped)
        fprintf(stderr, "mmoe predict: %llu malformed records written as NA (last: %s)\n",
                (unsigned long long)skipped, last_bad);
    rc = EXIT_OK;
done:
    if (out && out != stdout)
        if (fclose(out) != 0 && rc == EXIT_OK)
            rc = EXIT_FAIL;
    free(x);
    free(ids);
    free(pred);
    free(kept);
    free(lens);
    free(recs);
    free(lines);
    mmoe_reader_close(r);
    mmoe_transform_workspace_free(tws);
    mmoe_workspace_free(ws);
    mmoe_model_free(m);
    return rc;
}
