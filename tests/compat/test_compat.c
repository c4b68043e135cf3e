/*
 * Files saved before the model kinds became a table of operations still
 * load and give the same numbers.
 *
 * tests/compat/files/ holds, for every model kind of libmmoe 0.1 (and one
 * MMoE with sparse features, CrossNet and a DNN), a model file and the
 * numbers the library that wrote it computed (make_compat.c wrote both);
 * cgc.* and ple.* were written by the library before CGC and PLE took
 * noisy gates (commit e372839), so they check that a model without
 * gate.noise is unchanged.
 * For each:
 *   - the file loads, and saving the loaded model gives the file's bytes;
 *   - a model built in-process from the same description, given the
 *     loaded weights, predicts bit for bit what the loaded model predicts
 *     (batch 5 through a 4-row workspace, and batch 1) and has the same
 *     loss and gradients bit for bit;
 *   - those predictions, the loss and the gradients equal the stored ones
 *     to a relative 1e-5. Not bit for bit: the stored numbers come from
 *     another build on one machine, and the BLAS kernels (chosen per CPU)
 *     and the library's dense kernels may round differently elsewhere or
 *     after a change of evaluation order; a change of the model's maths
 *     moves them by far more (order 1e-2 and up). With the environment
 *     variable MMOE_COMPAT_EXACT=1 the comparison is exact (for checking a
 *     refactoring on the machine and build that wrote the files).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "compat_cases.h"

#ifndef COMPAT_DIR
#    error "COMPAT_DIR must name tests/compat/files"
#endif

typedef struct expect {
    float pred[COMPAT_B * COMPAT_MAX_T];
    float pred1[COMPAT_MAX_T];
    float loss;
    float *grad;
    size_t n_grad;
} expect;

static int exact_mode(void)
{
    const char *e = getenv("MMOE_COMPAT_EXACT");
    return e && strcmp(e, "1") == 0;
}

/* Read "<tag> N" then N hex floats; returns N (checked against cap unless out is NULL). */
static size_t read_block(FILE *f, const char *tag, float *out, size_t cap, float **alloc)
{
    char got[32];
    size_t n = 0;
    assert_int_equal(fscanf(f, "%31s %zu", got, &n), 2);
    assert_string_equal(got, tag);
    if (alloc) {
        *alloc = malloc((n ? n : 1) * sizeof(float));
        assert_non_null(*alloc);
        out = *alloc;
    } else {
        assert_true(n <= cap);
    }
    for (size_t i = 0; i < n; i++) {
        double v;
        assert_int_equal(fscanf(f, "%la", &v), 1);
        out[i] = (float)v;
    }
    return n;
}

static void read_expect(const char *name, size_t T, expect *e)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.expect", COMPAT_DIR, name);
    FILE *f = fopen(path, "r");
    if (!f)
        fail_msg("cannot open %s", path);
    assert_int_equal(read_block(f, "predict", e->pred, COMPAT_B * COMPAT_MAX_T, NULL),
                     COMPAT_B * T);
    assert_int_equal(read_block(f, "predict1", e->pred1, COMPAT_MAX_T, NULL), T);
    assert_int_equal(read_block(f, "loss", &e->loss, 1, NULL), 1);
    e->n_grad = read_block(f, "grad", NULL, 0, &e->grad);
    fclose(f);
}

static unsigned char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s", path);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    assert_true(n > 0);
    rewind(f);
    unsigned char *b = malloc((size_t)n);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return b;
}

/* a equals b to a relative 1e-5 of the block's scale (exactly in exact mode). */
static void near(const char *what, const char *name, const float *a, const float *b, size_t n)
{
    double scale = 0.0;
    for (size_t i = 0; i < n; i++)
        scale = fmax(scale, fabs((double)b[i]));
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        int ok = exact_mode() ? memcmp(&a[i], &b[i], sizeof(float)) == 0
                              : d <= 1e-5 * (fabs((double)b[i]) + 1e-2 * scale) && isfinite(a[i]);
        if (!ok)
            fail_msg("%s: %s[%zu] = %.9g, the file's library computed %.9g", name, what, i,
                     (double)a[i], (double)b[i]);
    }
}

/* Predictions, loss and gradients of m on the case's data. */
static void evaluate(mmoe_model *m, const compat_data *d, float *pred, float *pred1, float *loss,
                     float **grads, size_t *n)
{
    mmoe_workspace *ws;
    assert_int_equal(mmoe_workspace_create(m, COMPAT_B - 1, &ws), MMOE_OK);
    const int64_t *ids = d->n_ids ? d->ids : NULL;
    assert_int_equal(mmoe_model_predict(m, ws, COMPAT_B, d->x, ids, pred), MMOE_OK);
    assert_int_equal(
        mmoe_model_predict(m, ws, 1, d->x + 2 * d->in, ids ? ids + 2 * d->n_ids : NULL, pred1),
        MMOE_OK);
    mmoe_workspace_free(ws);
    assert_int_equal(mmoe_model_zero_grad(m), MMOE_OK);
    assert_int_equal(mmoe_model_forward(m, COMPAT_B, d->x, ids), MMOE_OK);
    assert_int_equal(mmoe_model_loss(m, d->y, d->w, NULL, loss), MMOE_OK);
    assert_int_equal(mmoe_model_backward(m), MMOE_OK);
    assert_int_equal(mmoe_model_flat(m, NULL, grads, n), MMOE_OK);
}

static void check_case(const compat_case *cc)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.safetensors", COMPAT_DIR, cc->name);
    size_t flen;
    unsigned char *file = read_file(path, &flen);

    mmoe_model *loaded = NULL;
    if (mmoe_model_load(path, &loaded) != MMOE_OK)
        fail_msg("%s: %s", cc->name, mmoe_last_error());
    void *buf;
    size_t len;
    assert_int_equal(mmoe_model_save_buffer(loaded, &buf, &len), MMOE_OK);
    assert_int_equal(len, flen);
    assert_memory_equal(buf, file, len);
    mmoe_buffer_free(buf);
    free(file);

    /* The same description built in-process, given the loaded weights. */
    mmoe_config *cfg;
    assert_int_equal(compat_config(cc, &cfg), MMOE_OK);
    mmoe_model *built;
    assert_int_equal(mmoe_model_create(cfg, &built), MMOE_OK);
    mmoe_config_free(cfg);
    assert_int_equal(mmoe_model_param_count(built), mmoe_model_param_count(loaded));
    for (size_t i = 0; i < mmoe_model_param_count(built); i++) {
        const char *n1, *n2;
        assert_int_equal(mmoe_model_param(built, i, &n1, NULL, NULL), MMOE_OK);
        assert_int_equal(mmoe_model_param(loaded, i, &n2, NULL, NULL), MMOE_OK);
        assert_string_equal(n1, n2);
    }
    float *pl, *pb;
    size_t nl, nb;
    assert_int_equal(mmoe_model_flat(loaded, &pl, NULL, &nl), MMOE_OK);
    assert_int_equal(mmoe_model_flat(built, &pb, NULL, &nb), MMOE_OK);
    assert_int_equal(nl, nb);
    memcpy(pb, pl, nl * sizeof *pb);

    compat_data d;
    compat_fill(loaded, &d);
    const size_t T = d.T;
    float p_l[COMPAT_B * COMPAT_MAX_T], p1_l[COMPAT_MAX_T], loss_l, *g_l;
    float p_b[COMPAT_B * COMPAT_MAX_T], p1_b[COMPAT_MAX_T], loss_b, *g_b;
    size_t ng_l, ng_b;
    evaluate(loaded, &d, p_l, p1_l, &loss_l, &g_l, &ng_l);
    evaluate(built, &d, p_b, p1_b, &loss_b, &g_b, &ng_b);
    assert_memory_equal(p_l, p_b, COMPAT_B * T * sizeof(float));
    assert_memory_equal(p1_l, p1_b, T * sizeof(float));
    assert_memory_equal(&loss_l, &loss_b, sizeof(float));
    assert_int_equal(ng_l, ng_b);
    assert_memory_equal(g_l, g_b, ng_l * sizeof(float));

    expect e;
    read_expect(cc->name, T, &e);
    assert_int_equal(e.n_grad, ng_l);
    near("predict (batch 5)", cc->name, p_l, e.pred, COMPAT_B * T);
    near("predict (batch 1)", cc->name, p1_l, e.pred1, T);
    near("loss", cc->name, &loss_l, &e.loss, 1);
    near("gradient", cc->name, g_l, e.grad, ng_l);
    free(e.grad);
    mmoe_model_free(built);
    mmoe_model_free(loaded);
}

static void test_compat(void **state)
{
    (void)state;
    for (size_t i = 0; i < COMPAT_N_CASES; i++) {
        check_case(&compat_cases[i]);
        print_message("%s: loads, saves the same bytes, predicts and trains as before%s\n",
                      compat_cases[i].name, exact_mode() ? " (bit for bit)" : "");
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_compat),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
