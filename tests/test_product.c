/*
 * ESMM-style product tasks (task.K.product): pCTCVR = pCTR x pCVR.
 *   - the product's output is the product of its factors' probabilities;
 *   - finite-difference gradients of every parameter with the product
 *     task's loss flowing into both factors (the CVR factor has loss
 *     weight 0: it learns only through the product), on MMoE and CGC;
 *   - no tower and no gate for the product: the parameter count is that
 *     of the model without it, gate introspection refuses it;
 *   - description errors; save -> load -> predict bit for bit.
 * Tolerance as in test_grad_model.c (tanh, eps = 1e-2, error < 2e-3).
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

#include "gradcheck.h"
#include <mmoe/mmoe.h>

enum { B = 6, D = 4, T = 3 };

static mmoe_config *make_config(const char *arch, int with_product)
{
    mmoe_config *c;
    assert_int_equal(mmoe_config_create(&c), MMOE_OK);
    assert_int_equal(mmoe_config_set(c, "arch", arch), MMOE_OK);
    assert_int_equal(mmoe_config_set_int(c, "input.dense", D), MMOE_OK);
    assert_int_equal(mmoe_config_set_int(c, "seed", 4), MMOE_OK);
    size_t ew[1] = {5}, tw[1] = {3};
    assert_int_equal(mmoe_config_set_experts(c, 3, 1, ew, MMOE_ACT_TANH), MMOE_OK);
    assert_int_equal(mmoe_config_add_task(c, "ctr", MMOE_TASK_BINARY, 1, tw, MMOE_ACT_TANH, 1.0f),
                     MMOE_OK);
    /* CVR has labels only on clicks: it learns through the product (weight 0). */
    assert_int_equal(mmoe_config_add_task(c, "cvr", MMOE_TASK_BINARY, 1, tw, MMOE_ACT_TANH, 0.0f),
                     MMOE_OK);
    if (with_product) {
        assert_int_equal(
            mmoe_config_add_task(c, "ctcvr", MMOE_TASK_BINARY, 0, NULL, MMOE_ACT_RELU, 1.5f),
            MMOE_OK);
        assert_int_equal(mmoe_config_set(c, "task.2.product", "0,1"), MMOE_OK);
    }
    return c;
}

static mmoe_model *make(const char *arch)
{
    mmoe_config *c = make_config(arch, 1);
    mmoe_model *m;
    if (mmoe_model_create(c, &m) != MMOE_OK)
        fail_msg("create: %s", mmoe_last_error());
    mmoe_config_free(c);
    gc_model_prepare(m, 30, NULL, 1.0f);
    return m;
}

static void fill(float *x, float *y, float *w)
{
    gc_fill_uniform(x, B * D, 41, -1.5f, 1.5f);
    gc_fill_uniform(w, B, 42, 0.5f, 1.5f);
    for (size_t r = 0; r < B; r++) { /* click, conversion given click, click and conversion */
        y[r * T] = (float)(r % 2);
        y[r * T + 1] = (float)(r % 3 == 0);
        y[r * T + 2] = y[r * T] * y[r * T + 1];
    }
    y[1 * T + 2] = 1.0f; /* one row whose product label is 1 */
    y[1 * T] = y[1 * T + 1] = 1.0f;
}

static void check_arch(const char *arch)
{
    mmoe_model *m = make(arch);
    /* No tower, no gate for the product: the same size as the model without it. */
    mmoe_config *c2 = make_config(arch, 0);
    mmoe_model *plain;
    assert_int_equal(mmoe_model_create(c2, &plain), MMOE_OK);
    assert_int_equal(mmoe_model_num_scalars(m), mmoe_model_num_scalars(plain));
    assert_int_equal(mmoe_model_num_gates(m), mmoe_model_num_gates(plain));
    mmoe_model_free(plain);
    mmoe_config_free(c2);

    float x[B * D], y[B * T], w[B];
    fill(x, y, w);
    gc_model_batch batch = {m, B, x, y, w};
    float out[B * T];
    gc_model_loss(&batch);
    assert_int_equal(mmoe_model_outputs(m, out, B * T), MMOE_OK);
    for (size_t r = 0; r < B; r++)
        assert_true(fabsf(out[r * T + 2] - out[r * T] * out[r * T + 1]) <=
                    1e-6f * out[r * T + 2] + 1e-9f);
    float gw[B * 16];
    assert_int_equal(mmoe_model_gate_weights(m, 2, gw, sizeof gw / sizeof *gw),
                     MMOE_ERR_INVALID_ARG);

    float *params, *grads;
    size_t n;
    assert_int_equal(mmoe_model_flat(m, &params, &grads, &n), MMOE_OK);
    assert_int_equal(mmoe_model_zero_grad(m), MMOE_OK);
    gc_model_loss(&batch);
    assert_int_equal(mmoe_model_backward(m), MMOE_OK);
    float *g = malloc(n * sizeof *g);
    assert_non_null(g);
    memcpy(g, grads, n * sizeof *g);
    char report[256];
    double err = gc_check(params, g, n, gc_model_loss, &batch, 1e-2, 0, report, sizeof report);
    print_message("%s with ctcvr = ctr x cvr (%zu params): %s\n", arch, n, report);
    assert_true(err < 2e-3);
    /* The CVR tower (loss weight 0) learns through the product alone. */
    double cvr = 0.0;
    for (size_t i = 0; i < mmoe_model_param_count(m); i++) {
        const char *name;
        mmoe_tensor *gt;
        assert_int_equal(mmoe_model_param(m, i, &name, NULL, &gt), MMOE_OK);
        if (strncmp(name, "towers.1.", 9) == 0)
            for (size_t j = 0; j < mmoe_tensor_numel(gt); j++)
                cvr += fabs((double)mmoe_tensor_data(gt)[j]);
    }
    assert_true(cvr > 0.0);
    free(g);

    void *buf;
    size_t len;
    assert_int_equal(mmoe_model_save_buffer(m, &buf, &len), MMOE_OK);
    mmoe_model *l;
    if (mmoe_model_load_buffer(buf, len, &l) != MMOE_OK)
        fail_msg("load: %s", mmoe_last_error());
    mmoe_workspace *w1, *w2;
    float o1[B * T], o2[B * T];
    assert_int_equal(mmoe_workspace_create(m, 4, &w1), MMOE_OK);
    assert_int_equal(mmoe_workspace_create(l, 4, &w2), MMOE_OK);
    assert_int_equal(mmoe_model_predict(m, w1, B, x, NULL, o1), MMOE_OK);
    assert_int_equal(mmoe_model_predict(l, w2, B, x, NULL, o2), MMOE_OK);
    assert_memory_equal(o1, o2, sizeof o1);
    for (size_t i = 0; i < B * T; i++)
        assert_true(fabsf(o1[i] - out[i]) <= 1e-5f * (1.0f + fabsf(out[i])));
    mmoe_workspace_free(w1);
    mmoe_workspace_free(w2);
    mmoe_buffer_free(buf);
    mmoe_model_free(l);
    mmoe_model_free(m);
}

static void test_mmoe(void **state)
{
    (void)state;
    check_arch("mmoe");
}

static void test_cgc(void **state)
{
    (void)state;
    check_arch("cgc");
}

/* A product of extreme probabilities: finite loss and gradients. */
static void test_extremes(void **state)
{
    (void)state;
    mmoe_model *m = make("mmoe");
    float *p;
    size_t n;
    assert_int_equal(mmoe_model_flat(m, &p, NULL, &n), MMOE_OK);
    for (size_t i = 0; i < n; i++)
        p[i] *= 40.0f; /* saturate the sigmoids */
    float x[B * D], y[B * T], w[B], loss;
    fill(x, y, w);
    assert_int_equal(mmoe_model_forward(m, B, x, NULL), MMOE_OK);
    assert_int_equal(mmoe_model_loss(m, y, w, NULL, &loss), MMOE_OK);
    assert_true(isfinite(loss));
    float *g;
    assert_int_equal(mmoe_model_zero_grad(m), MMOE_OK);
    assert_int_equal(mmoe_model_backward(m), MMOE_OK);
    assert_int_equal(mmoe_model_flat(m, NULL, &g, &n), MMOE_OK);
    for (size_t i = 0; i < n; i++)
        assert_true(isfinite(g[i]));
    mmoe_model_free(m);
}

static void test_description(void **state)
{
    (void)state;
    mmoe_config *c = make_config("mmoe", 1);
    char *text;
    assert_int_equal(mmoe_config_to_string(c, &text), MMOE_OK);
    assert_non_null(strstr(text, "\ntask.2.product 0,1\n"));
    assert_null(strstr(text, "task.0.product"));
    mmoe_string_free(text);
    mmoe_model *m;
    /* The product must be binary ... */
    assert_int_equal(mmoe_config_set(c, "task.2.kind", "regression"), MMOE_OK);
    assert_int_equal(mmoe_model_create(c, &m), MMOE_ERR_CONFIG);
    assert_non_null(strstr(mmoe_last_error(), "binary"));
    assert_int_equal(mmoe_config_set(c, "task.2.kind", "binary"), MMOE_OK);
    /* ... of binary tower tasks ... */
    assert_int_equal(mmoe_config_set(c, "task.1.kind", "regression"), MMOE_OK);
    assert_int_equal(mmoe_model_create(c, &m), MMOE_ERR_CONFIG);
    assert_int_equal(mmoe_config_set(c, "task.1.kind", "binary"), MMOE_OK);
    assert_int_equal(mmoe_config_set(c, "task.2.product", "0,2"), MMOE_OK);
    assert_int_equal(mmoe_model_create(c, &m), MMOE_ERR_CONFIG);
    assert_int_equal(mmoe_config_set(c, "task.2.product", "0,64"), MMOE_ERR_CONFIG);
    /* ... and come after every tower task. */
    assert_int_equal(mmoe_config_set(c, "task.2.product", ""), MMOE_OK);
    assert_int_equal(mmoe_config_set(c, "task.1.product", "0"), MMOE_OK);
    assert_int_equal(mmoe_model_create(c, &m), MMOE_ERR_CONFIG);
    assert_non_null(strstr(mmoe_last_error(), "come last"));
    mmoe_config_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mmoe),
        cmocka_unit_test(test_cgc),
        cmocka_unit_test(test_extremes),
        cmocka_unit_test(test_description),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
