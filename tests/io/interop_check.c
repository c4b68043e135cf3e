/*
 * Check a model file written outside libmmoe (tests/io/interop.py) against
 * the predictions computed by its writer.
 *
 *     interop_check MODEL EXPECTED
 *
 * EXPECTED: a line "ROWS INPUTS TASKS", then per row the inputs, "|", and
 * the expected outputs. Exit 0 when every prediction is within 1e-5
 * (relative, absolute for values below 1).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <mmoe/mmoe.h>

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s MODEL EXPECTED\n", argv[0]);
        return 2;
    }
    mmoe_model *m;
    mmoe_status st = mmoe_model_load(argv[1], &m);
    if (st != MMOE_OK) {
        fprintf(stderr, "load failed: %s: %s\n", mmoe_status_name(st), mmoe_last_error());
        return 1;
    }
    FILE *f = fopen(argv[2], "r");
    if (!f) {
        perror(argv[2]);
        return 1;
    }
    int rows, d, t;
    if (fscanf(f, "%d %d %d", &rows, &d, &t) != 3 || rows < 1 || d < 1 || t < 1 || d > 64 ||
        t > 64 || (size_t)d != mmoe_model_input_dim(m) || (size_t)t != mmoe_model_num_tasks(m)) {
        fprintf(stderr, "bad expected file or model shape mismatch\n");
        return 1;
    }
    mmoe_workspace *ws;
    if (mmoe_workspace_create(m, 1, &ws) != MMOE_OK) {
        fprintf(stderr, "workspace: %s\n", mmoe_last_error());
        return 1;
    }
    float x[64], out[64];
    double want[64];
    int bad = 0;
    for (int r = 0; r < rows; r++) {
        for (int i = 0; i < d; i++) {
            double v;
            if (fscanf(f, "%lf", &v) != 1) {
                fprintf(stderr, "row %d: bad input\n", r);
                return 1;
            }
            x[i] = (float)v;
        }
        char bar[2];
        if (fscanf(f, "%1s", bar) != 1 || bar[0] != '|') {
            fprintf(stderr, "row %d: missing '|'\n", r);
            return 1;
        }
        for (int k = 0; k < t; k++)
            if (fscanf(f, "%lf", &want[k]) != 1) {
                fprintf(stderr, "row %d: bad output\n", r);
                return 1;
            }
        if (mmoe_model_predict(m, ws, 1, x, NULL, out) != MMOE_OK) {
            fprintf(stderr, "predict: %s\n", mmoe_workspace_last_error(ws));
            return 1;
        }
        for (int k = 0; k < t; k++) {
            double err = fabs((double)out[k] - want[k]) / fmax(1.0, fabs(want[k]));
            const char *name;
            mmoe_model_task(m, (size_t)k, &name, NULL);
            printf("row %d %-10s libmmoe %.9g  python %.9g  rel.err %.2e\n", r, name,
                   (double)out[k], want[k], err);
            if (!(err <= 1e-5))
                bad++;
        }
    }
    fclose(f);
    mmoe_workspace_free(ws);
    mmoe_model_free(m);
    if (bad) {
        fprintf(stderr, "%d predictions differ by more than 1e-5\n", bad);
        return 1;
    }
    printf("all %d x %d predictions agree within 1e-5\n", rows, t);
    return 0;
}
