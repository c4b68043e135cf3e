/*
 * Bad input through the model API: NULL handles, zero and mismatched sizes,
 * NaN inputs and labels, absurd sizes. Every case must return its documented
 * status and leave the model exactly as it was (parameters, gradients and
 * the previous forward's outputs). Leaks are caught by the sanitizer run.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <mmoe/mmoe.h>

enum { D = 6, T = 2, NB = 4 };

typedef struct fixture {
    mmoe_model *m;
    mmoe_optimizer *opt;
    float *params_before, *grads_before;
    float out_before[NB * T];
    size_t n;
} fixture;

static mmoe_config *small_cfg(void)
{
    mmoe_config *c;
    assert_int_equal(mmoe_config_create(&c), MMOE_OK);
    assert_int_equal(mmoe_config_set_int(c, "input.dense", D), MMOE_OK);
    size_t w[1] = {4};
    assert_int_equal(mmoe_config_set_experts(c, 3, 1, w, MMOE_ACT_RELU), MMOE_OK);
    assert_int_equal(mmoe_config_add_task(c, "click", MMOE_TASK_BINARY, 1, w, MMOE_ACT_RELU, 1.0f),
                     MMOE_OK);
    assert_int_equal(
        mmoe_config_add_task(c, "dwell", MMOE_TASK_REGRESSION, 1, w, MMOE_ACT_RELU, 1.0f), MMOE_OK);
    return c;
}

static const float X[NB * D] = {0.1f,  -0.2f, 0.3f,  0.4f,  -0.5f, 0.6f, 1.0f, 0.0f,
                                -1.0f, 0.5f,  0.5f,  -0.5f, 0.2f,  0.2f, 0.2f, 0.2f,
                                0.2f,  0.2f,  -0.3f, 0.9f,  -0.1f, 0.0f, 0.7f, 0.8f};
static const float Y[NB * T] = {1, 0.5f, 0, -1.0f, 1, 2.0f, 0, 0.0f};

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    mmoe_config *c = small_cfg();
    assert_int_equal(mmoe_model_create(c, &f->m), MMOE_OK);
    mmoe_config_free(c);
    assert_int_equal(mmoe_optimizer_create(f->m, MMOE_OPTIMIZER_ADAM, &f->opt), MMOE_OK);
    /* One real step so that gradients and outputs are nonzero. */
    float loss;
    assert_int_equal(mmoe_model_train_step(f->m, f->opt, NB, X, NULL, Y, NULL, NULL, &loss),
                     MMOE_OK);
    float *p, *g;
    mmoe_model_flat(f->m, &p, &g, &f->n);
    f->params_before = malloc(f->n * sizeof(float));
    f->grads_before = malloc(f->n * sizeof(float));
    memcpy(f->params_before, p, f->n * sizeof(float));
    memcpy(f->grads_before, g, f->n * sizeof(float));
    /* Reference outputs: a forward with the current parameters. */
    assert_int_equal(mmoe_model_forward(f->m, NB, X, NULL), MMOE_OK);
    assert_int_equal(mmoe_model_outputs(f->m, f->out_before, NB * T), MMOE_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    mmoe_optimizer_free(f->opt);
    mmoe_model_free(f->m);
    free(f->params_before);
    free(f->grads_before);
    free(f);
    return 0;
}

/* The model is exactly as it was after setup. */
static void assert_unchanged(fixture *f)
{
    float *p, *g;
    size_t n;
    mmoe_model_flat(f->m, &p, &g, &n);
    assert_int_equal(n, f->n);
    assert_memory_equal(p, f->params_before, n * sizeof(float));
    assert_memory_equal(g, f->grads_before, n * sizeof(float));
    float out[NB * T];
    assert_int_equal(mmoe_model_outputs(f->m, out, NB * T), MMOE_OK);
    assert_memory_equal(out, f->out_before, sizeof out);
}

static void test_null_handles(void **state)
{
    fixture *f = *state;
    float buf[64];
    mmoe_model *m = (mmoe_model *)(uintptr_t)1;
    assert_int_equal(mmoe_model_create(NULL, &m), MMOE_ERR_NULL);
    assert_null(m);
    assert_int_equal(mmoe_model_forward(NULL, 1, X, NULL), MMOE_ERR_NULL);
    assert_int_equal(mmoe_model_forward(f->m, 1, NULL, NULL), MMOE_ERR_NULL);
    assert_int_equal(mmoe_model_loss(NULL, Y, NULL, NULL, NULL), MMOE_ERR_NULL);
    assert_int_equal(mmoe_model_loss(f->m, NULL, NULL, NULL, NULL), MMOE_ERR_NULL);
    assert_int_equal(mmoe_model_backward(NULL), MMOE_ERR_NULL);
    assert_int_equal(mmoe_model_zero_grad(NULL), MMOE_ERR_NULL);
    assert_int_equal(mmoe_model_outputs(NULL, buf, 64), MMOE_ERR_NULL);
    assert_int_equal(mmoe_model_outputs(f->m, NULL, 64), MMOE_ERR_NULL);
    assert_int_equal(mmoe_model_gate_weights(NULL, 0, buf, 64), MMOE_ERR_NULL);
    assert_int_equal(mmoe_model_param(NULL, 0, NULL, NULL, NULL), MMOE_ERR_NULL);
    assert_int_equal(mmoe_model_flat(NULL, NULL, NULL, NULL), MMOE_ERR_NULL);
    assert_int_equal(mmoe_model_task(NULL, 0, NULL, NULL), MMOE_ERR_NULL);
    mmoe_config *c = (mmoe_config *)(uintptr_t)1;
    assert_int_equal(mmoe_model_get_config(NULL, &c), MMOE_ERR_NULL);
    assert_int_equal(mmoe_model_num_tasks(NULL), 0);
    assert_int_equal(mmoe_model_num_scalars(NULL), 0);
    assert_int_equal(mmoe_model_param_count(NULL), 0);
    assert_string_equal(mmoe_model_last_error(NULL), "");
    mmoe_workspace *ws = (mmoe_workspace *)(uintptr_t)1;
    assert_int_equal(mmoe_workspace_create(NULL, 4, &ws), MMOE_ERR_NULL);
    assert_null(ws);
    assert_int_equal(mmoe_workspace_create(f->m, 4, NULL), MMOE_ERR_NULL);
    assert_int_equal(mmoe_model_predict(f->m, NULL, 1, X, NULL, buf), MMOE_ERR_NULL);
    assert_int_equal(mmoe_model_train_step(NULL, f->opt, 1, X, NULL, Y, NULL, NULL, NULL),
                     MMOE_ERR_NULL);
    assert_int_equal(mmoe_model_train_step(f->m, NULL, 1, X, NULL, Y, NULL, NULL, NULL),
                     MMOE_ERR_NULL);
    mmoe_model_free(NULL);
    mmoe_workspace_free(NULL);
    assert_unchanged(f);
}

static void test_bad_sizes(void **state)
{
    fixture *f = *state;
    int64_t ids[1] = {0};
    assert_int_equal(mmoe_model_forward(f->m, 0, X, NULL), MMOE_ERR_INVALID_ARG);
    assert_non_null(strstr(mmoe_model_last_error(f->m), "batch"));
    assert_int_equal(mmoe_model_forward(f->m, 1, X, ids), MMOE_ERR_INVALID_ARG);
    assert_int_equal(mmoe_model_forward(f->m, SIZE_MAX / 2, X, NULL), MMOE_ERR_OVERFLOW);
    float small[T];
    assert_int_equal(mmoe_model_outputs(f->m, small, T), MMOE_ERR_RANGE);
    mmoe_workspace *ws;
    assert_int_equal(mmoe_workspace_create(f->m, 0, &ws), MMOE_ERR_INVALID_ARG);
    assert_int_equal(mmoe_workspace_create(f->m, SIZE_MAX / 4, &ws), MMOE_ERR_OVERFLOW);
    assert_int_equal(mmoe_workspace_size(f->m, 0), 0);
    assert_int_equal(mmoe_model_param(f->m, 100000, NULL, NULL, NULL), MMOE_ERR_RANGE);
    assert_unchanged(f);
}

static void test_nan_input_changes_nothing(void **state)
{
    fixture *f = *state;
    float x[NB * D];
    memcpy(x, X, sizeof x);
    x[2 * D + 3] = NAN;
    assert_int_equal(mmoe_model_forward(f->m, NB, x, NULL), MMOE_ERR_NONFINITE);
    assert_non_null(strstr(mmoe_model_last_error(f->m), "x[2][3]"));
    x[2 * D + 3] = INFINITY;
    assert_int_equal(mmoe_model_train_step(f->m, f->opt, NB, x, NULL, Y, NULL, NULL, NULL),
                     MMOE_ERR_NONFINITE);
    mmoe_workspace *ws;
    float out[NB * T];
    assert_int_equal(mmoe_workspace_create(f->m, NB, &ws), MMOE_OK);
    assert_int_equal(mmoe_model_predict(f->m, ws, NB, x, NULL, out), MMOE_ERR_NONFINITE);
    assert_true(strlen(mmoe_workspace_last_error(ws)) > 0);
    mmoe_workspace_free(ws);
    assert_unchanged(f);
}

static void test_bad_labels_change_nothing(void **state)
{
    fixture *f = *state;
    float y[NB * T], w[NB] = {1, 1, 1, 1};
    memcpy(y, Y, sizeof y);
    y[3] = NAN;
    assert_int_equal(mmoe_model_train_step(f->m, f->opt, NB, X, NULL, y, NULL, NULL, NULL),
                     MMOE_ERR_NONFINITE);
    memcpy(y, Y, sizeof y);
    y[2] = 2.0f; /* binary task 0, row 1 */
    assert_int_equal(mmoe_model_train_step(f->m, f->opt, NB, X, NULL, y, NULL, NULL, NULL),
                     MMOE_ERR_RANGE);
    assert_non_null(strstr(mmoe_model_last_error(f->m), "click"));
    w[1] = -1.0f;
    assert_int_equal(mmoe_model_train_step(f->m, f->opt, NB, X, NULL, Y, w, NULL, NULL),
                     MMOE_ERR_RANGE);
    w[1] = NAN;
    assert_int_equal(mmoe_model_train_step(f->m, f->opt, NB, X, NULL, Y, w, NULL, NULL),
                     MMOE_ERR_NONFINITE);
    assert_int_equal(mmoe_optimizer_steps(f->opt), 1);
    /* The refused steps ran their forward on X with unchanged parameters: same outputs. */
    assert_unchanged(f);
}

static void test_call_order(void **state)
{
    fixture *f = *state;
    mmoe_config *c = small_cfg();
    mmoe_model *m;
    assert_int_equal(mmoe_model_create(c, &m), MMOE_OK);
    mmoe_config_free(c);
    assert_int_equal(mmoe_model_loss(m, Y, NULL, NULL, NULL), MMOE_ERR_STATE);
    assert_int_equal(mmoe_model_backward(m), MMOE_ERR_STATE);
    float out[NB * T];
    assert_int_equal(mmoe_model_outputs(m, out, NB * T), MMOE_ERR_STATE);
    assert_int_equal(mmoe_model_forward(m, NB, X, NULL), MMOE_OK);
    assert_int_equal(mmoe_model_backward(m), MMOE_ERR_STATE);
    assert_int_equal(mmoe_model_loss(m, Y, NULL, NULL, NULL), MMOE_OK);
    assert_int_equal(mmoe_model_backward(m), MMOE_OK);
    assert_int_equal(mmoe_model_backward(m), MMOE_ERR_STATE); /* one backward per loss */

    /* An optimizer of one model refuses to step another. */
    assert_int_equal(mmoe_model_train_step(m, f->opt, NB, X, NULL, Y, NULL, NULL, NULL),
                     MMOE_ERR_INVALID_ARG);
    assert_non_null(strstr(mmoe_model_last_error(m), "another model"));

    /* A workspace of one model refuses another model. */
    mmoe_workspace *ws;
    assert_int_equal(mmoe_workspace_create(m, 2, &ws), MMOE_OK);
    assert_int_equal(mmoe_model_predict(f->m, ws, 1, X, NULL, out), MMOE_ERR_INVALID_ARG);
    mmoe_workspace_free(ws);
    mmoe_model_free(m);
    assert_unchanged(f);
}

static void test_absurd_sizes(void **state)
{
    (void)state;
    mmoe_config *c;
    assert_int_equal(mmoe_config_create(&c), MMOE_OK);
    assert_int_equal(mmoe_config_set_int(c, "input.dense", 1 << 24), MMOE_OK);
    size_t w[8] = {1 << 20, 1 << 20, 1 << 20, 1 << 20, 1 << 20, 1 << 20, 1 << 20, 1 << 20};
    assert_int_equal(mmoe_config_set_experts(c, 1024, 8, w, MMOE_ACT_RELU), MMOE_OK);
    assert_int_equal(mmoe_config_add_task(c, "t", MMOE_TASK_BINARY, 8, w, MMOE_ACT_RELU, 1.0f),
                     MMOE_OK);
    mmoe_model *m = (mmoe_model *)(uintptr_t)1;
    assert_int_equal(mmoe_model_create(c, &m), MMOE_ERR_OVERFLOW);
    assert_null(m);
    assert_true(strlen(mmoe_last_error()) > 0);
    /* Limits of individual keys. */
    assert_int_equal(mmoe_config_set_int(c, "input.dense", (1 << 24) + 1), MMOE_ERR_CONFIG);
    assert_int_equal(mmoe_config_set_int(c, "experts.count", 1025), MMOE_ERR_CONFIG);
    assert_int_equal(mmoe_config_set(c, "experts.layers", "1048577"), MMOE_ERR_CONFIG);
    mmoe_config_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_null_handles, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_sizes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nan_input_changes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_labels_change_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_call_order, setup, teardown),
        cmocka_unit_test(test_absurd_sizes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
