/*
 * mmoe inspect: what a model file holds (description, parameters per
 * part, the stored schema) and, given data, each task's mean gate weight
 * per expert (the gate analysis of the MMoE paper), as a table and
 * optionally a gnuplot PNG.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define CMD "inspect"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: mmoe inspect --model MODEL [--data FILE] [options]\n"
            "\n"
            "Print the model's description, its parameter count per part, the stored\n"
            "schema (with statistics and vocabulary sizes) and, with --data, each task's\n"
            "mean gate weight per expert over the records of FILE.\n"
            "\n"
            "  --model MODEL      model file\n"
            "  --data FILE        records for the gate analysis (needs the stored schema)\n"
            "  --rows N           at most N records of FILE [100000]\n"
            "  --plot PNG         also draw the gate weights with gnuplot into PNG\n"
            "  --full             print the whole stored transformation (every vocabulary value)\n"
            "  --help             this text\n"
            "\n"
            "Exit status: 0 success, 1 I/O or library failure (or gnuplot missing for\n"
            "--plot), 2 bad command line, 3 invalid model file or data.\n");
}

/* Parameter count per part: the name up to its first '.'. */
static void print_params(mmoe_model *m)
{
    enum { MAXP = 64 };
    char part[MAXP][48];
    size_t count[MAXP], np = 0, total = 0;
    for (size_t i = 0; i < mmoe_model_param_count(m); i++) {
        const char *name;
        mmoe_tensor *v;
        if (mmoe_model_param(m, i, &name, &v, NULL) != MMOE_OK)
            continue;
        size_t len = strcspn(name, ".");
        if (len >= sizeof part[0])
            len = sizeof part[0] - 1;
        size_t k = 0;
        while (k < np && (strlen(part[k]) != len || strncmp(part[k], name, len) != 0))
            k++;
        if (k == np && np < MAXP) {
            memcpy(part[np], name, len);
            part[np][len] = '\0';
            count[np++] = 0;
        }
        if (k < np)
            count[k] += mmoe_tensor_numel(v);
        total += mmoe_tensor_numel(v);
    }
    printf("parameters: %zu\n", total);
    for (size_t k = 0; k < np; k++)
        printf("  %-20s %12zu  (%.1f%%)\n", part[k], count[k],
               total ? 100.0 * (double)count[k] / (double)total : 0.0);
}

/* The transformation text without the vocabulary values (unless full). */
static void print_schema(const mmoe_transform *tf, int full)
{
    char *text = NULL;
    if (mmoe_transform_to_string(tf, &text) != MMOE_OK)
        return;
    printf("stored transformation (%llu training records):\n",
           (unsigned long long)mmoe_transform_rows(tf));
    size_t vocab = 0;
    for (char *line = text; *line;) {
        char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        int is_vocab = strncmp(line, "vocab ", 6) == 0;
        if (is_vocab && !full) {
            vocab++;
        } else {
            if (vocab)
                printf("    ... %zu vocabulary values (--full lists them)\n", vocab);
            vocab = 0;
            printf("  %.*s\n", (int)len, line);
        }
        line += len + (nl ? 1 : 0);
    }
    if (vocab)
        printf("    ... %zu vocabulary values (--full lists them)\n", vocab);
    mmoe_string_free(text);
}

static int plot(const char *png, mmoe_model *m, const double *mean, size_t E, size_t T)
{
    FILE *g = popen("gnuplot", "w");
    if (!g) {
        fprintf(stderr, "mmoe inspect: cannot run gnuplot\n");
        return EXIT_FAIL;
    }
    fprintf(g, "set terminal pngcairo size 900,500 noenhanced\nset output '%s'\n", png);
    fprintf(g, "set title 'mean gate weight per expert'\nset style data histograms\n"
               "set style histogram clustered gap 1\nset style fill solid 0.8 border -1\n"
               "set xlabel 'expert'\nset ylabel 'mean gate weight'\nset yrange [0:*]\n"
               "set key outside right\nplot ");
    for (size_t k = 0; k < T; k++) {
        const char *name;
        mmoe_model_task(m, k, &name, NULL);
        fprintf(g, "%s'-' using 2:xtic(1) title '%s'", k ? ", " : "", name);
    }
    fprintf(g, "\n");
    for (size_t k = 0; k < T; k++) {
        for (size_t e = 0; e < E; e++)
            fprintf(g, "%zu %.6f\n", e, mean[k * E + e]);
        fprintf(g, "e\n");
    }
    int st = pclose(g);
    if (st != 0) {
        fprintf(stderr, "mmoe inspect: gnuplot failed (status %d); is gnuplot installed?\n", st);
        return EXIT_FAIL;
    }
    fprintf(stderr, "mmoe inspect: wrote %s\n", png);
    return EXIT_OK;
}

static int gates(mmoe_model *m, const char *data, size_t max_rows, const char *png)
{
    const mmoe_transform *tf = mmoe_model_get_transform(m);
    if (!tf) {
        fprintf(stderr, "mmoe inspect: --data needs a model file with a stored transformation\n");
        return EXIT_INPUT;
    }
    const size_t E = mmoe_model_num_experts(m), T = mmoe_model_num_tasks(m);
    const size_t B = 512;
    mmoe_batcher *b = NULL;
    mmoe_status st = mmoe_batcher_create(tf, data, B, 0, 0, MMOE_MALFORMED_SKIP, 0, &b);
    if (st != MMOE_OK)
        return report(CMD, data, st, mmoe_last_error());
    double *sum = calloc(T * E, sizeof *sum);
    float *g = malloc(B * E * sizeof *g), *y = malloc(B * T * sizeof *y);
    mmoe_workspace *ws = NULL;
    int rc = EXIT_OK;
    size_t rows = 0;
    if (!sum || !g || !y) {
        rc = report(CMD, "gates", MMOE_ERR_NOMEM, "out of memory");
        goto done;
    }
    if ((st = mmoe_workspace_create(m, B, &ws)) != MMOE_OK) {
        rc = report(CMD, "mmoe_workspace_create", st, mmoe_last_error());
        goto done;
    }
    while (rows < max_rows) {
        size_t n;
        const float *x;
        const int64_t *ids;
        if ((st = mmoe_batcher_next(b, &n, &x, &ids, NULL, NULL)) != MMOE_OK) {
            rc = report(CMD, data, st, mmoe_batcher_last_error(b));
            goto done;
        }
        if (n == 0)
            break;
        if (n > max_rows - rows)
            n = max_rows - rows;
        /* inference mode, as predict: batch-norm from the running statistics, no dropout */
        if ((st = mmoe_model_predict(m, ws, n, x, ids, y)) != MMOE_OK) {
            rc = report(CMD, "mmoe_model_predict", st, mmoe_workspace_last_error(ws));
            goto done;
        }
        for (size_t k = 0; k < T; k++) {
            if ((st = mmoe_model_predict_gate_weights(m, ws, k, g, B * E)) != MMOE_OK) {
                rc = report(CMD, "mmoe_model_predict_gate_weights", st,
                            mmoe_workspace_last_error(ws));
                goto done;
            }
            for (size_t i = 0; i < n; i++)
                for (size_t e = 0; e < E; e++)
                    sum[k * E + e] += g[i * E + e];
        }
        rows += n;
    }
    if (rows == 0) {
        fprintf(stderr, "mmoe inspect: %s has no usable record\n", data);
        rc = EXIT_INPUT;
        goto done;
    }
    for (size_t i = 0; i < T * E; i++)
        sum[i] /= (double)rows;
    printf("mean gate weight per expert over %zu records of %s%s:\n", rows, data,
           mmoe_model_num_gates(m) ? "" : " (no gate: the fixed routing)");
    printf("  %-20s", "task \\ expert");
    for (size_t e = 0; e < E; e++)
        printf(" %7zu", e);
    printf("\n");
    for (size_t k = 0; k < T; k++) {
        const char *name;
        mmoe_model_task(m, k, &name, NULL);
        printf("  %-20s", name);
        for (size_t e = 0; e < E; e++)
            printf(" %7.4f", sum[k * E + e]);
        printf("\n");
    }
    if (mmoe_batcher_skipped(b))
        fprintf(stderr, "mmoe inspect: skipped %llu malformed records\n",
                (unsigned long long)mmoe_batcher_skipped(b));
    if (png)
        rc = plot(png, m, sum, E, T);
done:
    free(sum);
    free(g);
    free(y);
    mmoe_workspace_free(ws);
    mmoe_batcher_free(b);
    return rc;
}

int cmd_inspect(int argc, char **argv)
{
    const char *model_path = NULL, *data = NULL, *png = NULL;
    size_t rows = 100000;
    int full = 0;
    const cli_opt opts[] = {
        {"--model", OPT_STR, &model_path, 0, 0}, {"--data", OPT_STR, &data, 0, 0},
        {"--plot", OPT_STR, &png, 0, 0},         {"--rows", OPT_SIZE, &rows, 1, 1e12},
        {"--full", OPT_FLAG, &full, 0, 0},
    };
    int rc = parse_opts(CMD, argc, argv, opts, sizeof opts / sizeof opts[0], usage);
    if (rc)
        return rc == OPTS_HELP ? EXIT_OK : rc;
    if (!model_path) {
        fprintf(stderr, "mmoe inspect: --model is required (see mmoe inspect --help)\n");
        return EXIT_USAGE;
    }
    if (png && !data) {
        fprintf(stderr, "mmoe inspect: --plot needs --data\n");
        return EXIT_USAGE;
    }
    mmoe_model *m = NULL;
    mmoe_status st = mmoe_model_load(model_path, &m);
    if (st != MMOE_OK)
        return report(CMD, model_path, st, mmoe_last_error());
    mmoe_config *cfg = NULL;
    char *text = NULL;
    if (mmoe_model_get_config(m, &cfg) == MMOE_OK && mmoe_config_to_string(cfg, &text) == MMOE_OK)
        printf("model %s: %zu tasks, %zu experts, %zu gates, dense input %zu, %zu ids\n"
               "description:\n%s",
               model_path, mmoe_model_num_tasks(m), mmoe_model_num_experts(m),
               mmoe_model_num_gates(m), mmoe_model_input_dim(m), mmoe_model_num_ids(m), text);
    mmoe_string_free(text);
    mmoe_config_free(cfg);
    print_params(m);
    const mmoe_transform *tf = mmoe_model_get_transform(m);
    if (tf)
        print_schema(tf, full);
    else
        printf("no stored transformation\n");
    rc = EXIT_OK;
    if (data)
        rc = gates(m, data, rows, png);
    mmoe_model_free(m);
    return rc;
}
