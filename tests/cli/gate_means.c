/*
 * The reference for `mmoe inspect --data`: each task's mean gate weight
 * per expert over the records of a file, computed another way through the
 * public API: each record transformed alone (mmoe_transform_line),
 * predicted alone (batch 1, the matrix-vector path) and its inference-mode
 * gate weights read with mmoe_model_predict_gate_weights.
 *
 *     gate_means MODEL DATA   ->  one line per task: name, then E means (%.9g)
 */
#include <stdio.h>
#include <stdlib.h>

#include <mmoe/mmoe.h>

static int fail(const char *what, const char *msg)
{
    fprintf(stderr, "gate_means: %s: %s\n", what, msg);
    return 1;
}

int main(int argc, char **argv)
{
    if (argc != 3)
        return fail("usage", "gate_means MODEL DATA");
    mmoe_model *m = NULL;
    if (mmoe_model_load(argv[1], &m) != MMOE_OK)
        return fail(argv[1], mmoe_last_error());
    const mmoe_transform *tf = mmoe_model_get_transform(m);
    const size_t E = mmoe_model_num_experts(m), T = mmoe_model_num_tasks(m);
    const size_t D = mmoe_model_input_dim(m), I = mmoe_model_num_ids(m);
    mmoe_reader *r = NULL;
    mmoe_transform_workspace *tw = NULL;
    mmoe_workspace *ws = NULL;
    float *x = malloc(D * sizeof *x), *y = malloc(T * sizeof *y), *g = malloc(E * sizeof *g);
    int64_t *ids = malloc((I ? I : 1) * sizeof *ids);
    double *sum = calloc(T * E, sizeof *sum);
    int rc = 1;
    size_t rows = 0;
    if (!tf || !x || !y || !g || !ids || !sum) {
        fail(argv[1], "no transformation, or out of memory");
        goto done;
    }
    if (mmoe_reader_open(argv[2], mmoe_transform_schema(tf), 0, &r) != MMOE_OK ||
        mmoe_transform_workspace_create(tf, 0, &tw) != MMOE_OK ||
        mmoe_workspace_create(m, 1, &ws) != MMOE_OK) {
        fail(argv[2], mmoe_last_error());
        goto done;
    }
    for (;;) {
        const char *rec;
        size_t len, n;
        uint64_t line;
        if (mmoe_reader_next(r, 1, &rec, &len, &line, &n) != MMOE_OK) {
            fail(argv[2], mmoe_reader_last_error(r));
            goto done;
        }
        if (n == 0)
            break;
        if (mmoe_transform_line(tf, tw, rec, len, line, x, I ? ids : NULL, NULL, NULL) != MMOE_OK) {
            fail(argv[2], mmoe_transform_workspace_last_error(tw));
            goto done;
        }
        if (mmoe_model_predict(m, ws, 1, x, I ? ids : NULL, y) != MMOE_OK) {
            fail("predict", mmoe_workspace_last_error(ws));
            goto done;
        }
        for (size_t k = 0; k < T; k++) {
            if (mmoe_model_predict_gate_weights(m, ws, k, g, E) != MMOE_OK) {
                fail("gates", mmoe_workspace_last_error(ws));
                goto done;
            }
            for (size_t e = 0; e < E; e++)
                sum[k * E + e] += g[e];
        }
        rows++;
    }
    for (size_t k = 0; k < T; k++) {
        const char *name;
        mmoe_model_task(m, k, &name, NULL);
        printf("%s", name);
        for (size_t e = 0; e < E; e++)
            printf(" %.9g", rows ? sum[k * E + e] / (double)rows : 0.0);
        printf("\n");
    }
    rc = 0;
done:
    free(x);
    free(y);
    free(g);
    free(ids);
    free(sum);
    mmoe_workspace_free(ws);
    mmoe_transform_workspace_free(tw);
    mmoe_reader_close(r);
    mmoe_model_free(m);
    return rc;
}
