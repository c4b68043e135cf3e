/*
 * make_compat: write the model files and expected numbers of tests/compat.
 *
 *     make_compat DIR
 *
 * For every model kind of libmmoe 0.1 (and one MMoE with the whole input
 * stage) it builds a small model, moves its weights off their initial
 * values by a few Adam steps, and writes
 *
 *     DIR/<name>.safetensors   the model file
 *     DIR/<name>.expect        predictions for a fixed input (batch 5 through
 *                              a workspace of 4 rows, and batch 1), then the
 *                              loss and every parameter gradient of one
 *                              training forward/loss/backward on a fixed
 *                              batch, all as C99 hex floats (exact)
 *
 * The committed files were written by the library as it was before the
 * model kinds became rows of an operations table; test_compat checks that
 * the current library loads them and gives the same numbers. Public API only.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mmoe/mmoe.h>

#include "compat_cases.h"

static int fail(const char *what, mmoe_status st)
{
    fprintf(stderr, "make_compat: %s: %s: %s\n", what, mmoe_status_name(st), mmoe_last_error());
    return 1;
}

static int write_floats(FILE *f, const char *tag, const float *v, size_t n)
{
    fprintf(f, "%s %zu\n", tag, n);
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%a\n", (double)v[i]);
    return ferror(f) ? -1 : 0;
}

static int one_case(const char *dir, const compat_case *cc)
{
    mmoe_config *cfg = NULL;
    mmoe_model *m = NULL;
    mmoe_optimizer *opt = NULL;
    mmoe_workspace *ws = NULL;
    mmoe_status st;
    int rc = 1;
    if ((st = compat_config(cc, &cfg)) != MMOE_OK) {
        rc = fail("config", st);
        goto out;
    }
    if ((st = mmoe_model_create(cfg, &m)) != MMOE_OK) {
        rc = fail("mmoe_model_create", st);
        goto out;
    }
    compat_data d;
    compat_fill(m, &d);
    if ((st = mmoe_optimizer_create(m, MMOE_OPTIMIZER_ADAM, &opt)) != MMOE_OK) {
        rc = fail("mmoe_optimizer_create", st);
        goto out;
    }
    for (int s = 0; s < COMPAT_STEPS; s++)
        if ((st = mmoe_model_train_step(m, opt, COMPAT_B, d.x, d.n_ids ? d.ids : NULL, d.y, d.w,
                                        NULL, NULL)) != MMOE_OK) {
            rc = fail("mmoe_model_train_step", st);
            goto out;
        }
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.safetensors", dir, cc->name);
    if ((st = mmoe_model_save(m, path)) != MMOE_OK) {
        rc = fail("mmoe_model_save", st);
        goto out;
    }
    float pred[COMPAT_B * COMPAT_MAX_T], pred1[COMPAT_MAX_T], loss = 0.0f;
    if ((st = mmoe_workspace_create(m, COMPAT_B - 1, &ws)) != MMOE_OK ||
        (st = mmoe_model_predict(m, ws, COMPAT_B, d.x, d.n_ids ? d.ids : NULL, pred)) != MMOE_OK ||
        (st = mmoe_model_predict(m, ws, 1, d.x + 2 * d.in, d.n_ids ? d.ids + 2 * d.n_ids : NULL,
                                 pred1)) != MMOE_OK) {
        rc = fail("predict", st);
        goto out;
    }
    float *grads;
    size_t n;
    if ((st = mmoe_model_zero_grad(m)) != MMOE_OK ||
        (st = mmoe_model_forward(m, COMPAT_B, d.x, d.n_ids ? d.ids : NULL)) != MMOE_OK ||
        (st = mmoe_model_loss(m, d.y, d.w, NULL, &loss)) != MMOE_OK ||
        (st = mmoe_model_backward(m)) != MMOE_OK ||
        (st = mmoe_model_flat(m, NULL, &grads, &n)) != MMOE_OK) {
        rc = fail("training pass", st);
        goto out;
    }
    const size_t T = mmoe_model_num_tasks(m);
    snprintf(path, sizeof path, "%s/%s.expect", dir, cc->name);
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        goto out;
    }
    int bad = write_floats(f, "predict", pred, COMPAT_B * T) ||
              write_floats(f, "predict1", pred1, T) || write_floats(f, "loss", &loss, 1) ||
              write_floats(f, "grad", grads, n);
    if (fclose(f) != 0 || bad) {
        fprintf(stderr, "make_compat: writing %s failed\n", path);
        goto out;
    }
    rc = 0;
out:
    mmoe_workspace_free(ws);
    mmoe_optimizer_free(opt);
    mmoe_model_free(m);
    mmoe_config_free(cfg);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: make_compat DIR\n");
        return 2;
    }
    (void)mmoe_set_num_threads(1);
    for (size_t i = 0; i < COMPAT_N_CASES; i++)
        if (one_case(argv[1], &compat_cases[i]))
            return 1;
    return 0;
}
