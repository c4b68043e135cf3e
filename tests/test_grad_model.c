/*
 * Finite-difference gradient checks of whole models: every parameter of
 * MMoE (2 and 3 tasks), OMoE, Shared-Bottom and Single-Task, with mixed
 * regression/binary tasks, per-task loss weights and per-sample weights.
 * (Input gradients of the bottom are covered by the layer tests; the model
 * takes no gradient with respect to its raw input.)
 *
 * Tolerance: the loss is computed in float32 (relative rounding ~6e-8 on a
 * loss of order 1), so a central difference with step eps = 1e-2 carries a
 * rounding error ~6e-8/1e-2 = 6e-6 plus a truncation error O(eps^2 f''') ~
 * 1e-4 relative for these smooth (tanh) networks. A normalised error below
 * 2e-3 therefore means the analytic gradient is right; a wrong term
 * (missing factor, wrong index) gives errors of order 0.1-1. The ReLU
 * variants use eps = 1e-3 (rounding error ~6e-5, no truncation error for a
 * piecewise-linear net) so that no probe crosses a kink on this fixed data;
 * the bound stays 2e-3.
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

enum { B = 7, D = 5 };

typedef struct ctx {
    mmoe_model *m;
    size_t T;
    float x[B * D];
    float y[B * 8];
    float w[B];
} ctx;

static double loss_fn(void *p)
{
    ctx *c = p;
    float total = 0.0f;
    assert_int_equal(mmoe_model_forward(c->m, B, c->x, NULL), MMOE_OK);
    assert_int_equal(mmoe_model_loss(c->m, c->y, c->w, NULL, &total), MMOE_OK);
    return total;
}

static void check_model(mmoe_arch arch, size_t T, mmoe_activation act, size_t n_layers)
{
    mmoe_config *cfg;
    assert_int_equal(mmoe_config_create(&cfg), MMOE_OK);
    assert_int_equal(mmoe_config_set_arch(cfg, arch), MMOE_OK);
    assert_int_equal(mmoe_config_set_int(cfg, "input.dense", D), MMOE_OK);
    size_t ew[2] = {6, 4};
    assert_int_equal(mmoe_config_set_experts(cfg, 3, n_layers, ew + (2 - n_layers), act), MMOE_OK);
    assert_int_equal(mmoe_config_set_int(cfg, "seed", 7), MMOE_OK);
    /* A penalty large enough to matter next to the data loss. */
    assert_int_equal(mmoe_config_set_real(cfg, "l2.lambda", 0.05), MMOE_OK);
    for (size_t k = 0; k < T; k++) {
        char name[32];
        snprintf(name, sizeof name, "t%zu", k);
        size_t tw[2] = {3, 2};
        mmoe_task_kind kind = k % 2 ? MMOE_TASK_BINARY : MMOE_TASK_REGRESSION;
        assert_int_equal(mmoe_config_add_task(cfg, name, kind, k % 3, tw, act, 0.5f + (float)k),
                         MMOE_OK);
    }
    ctx c;
    c.T = T;
    assert_int_equal(mmoe_model_create(cfg, &c.m), MMOE_OK);
    gc_fill_uniform(c.x, B * D, 11, -1.5f, 1.5f);
    gc_fill_uniform(c.w, B, 12, 0.2f, 2.0f);
    gc_fill_uniform(c.y, B * T, 13, 0.0f, 1.0f);
    for (size_t i = 0; i < B * T; i++)
        if ((i % T) % 2 == 0)
            c.y[i] = c.y[i] * 4.0f - 2.0f; /* regression targets in [-2, 2] */

    /*
     * Biases start at zero; give them random values so that no ReLU sits
     * exactly at its kink (a unit whose inputs are all zero would otherwise
     * have pre-activation exactly 0, where only a one-sided derivative exists).
     */
    for (size_t i = 0; i < mmoe_model_param_count(c.m); i++) {
        const char *pname;
        mmoe_tensor *v;
        assert_int_equal(mmoe_model_param(c.m, i, &pname, &v, NULL), MMOE_OK);
        if (strstr(pname, ".bias"))
            gc_fill_uniform(mmoe_tensor_data(v), mmoe_tensor_numel(v), 100 + (unsigned)i, 0.05f,
                            0.3f);
    }
    float *params, *grads;
    size_t n;
    assert_int_equal(mmoe_model_flat(c.m, &params, &grads, &n), MMOE_OK);
    assert_true(n > 0);
    loss_fn(&c);
    assert_int_equal(mmoe_model_zero_grad(c.m), MMOE_OK);
    assert_int_equal(mmoe_model_backward(c.m), MMOE_OK);
    float *g = malloc(n * sizeof *g);
    assert_non_null(g);
    for (size_t i = 0; i < n; i++)
        g[i] = grads[i];
    char report[256];
    /* ReLU: a smaller step makes crossing a kink (|pre-activation| < eps) unlikely. */
    double eps = act == MMOE_ACT_RELU ? 1e-3 : 1e-2;
    double err = gc_check(params, g, n, loss_fn, &c, eps, 0, report, sizeof report);
    print_message("arch %d T %zu act %d layers %zu (%zu params): %s\n", (int)arch, T, (int)act,
                  n_layers, n, report);
    assert_true(err < 2e-3);

    /* Backward accumulates: a second backward doubles the gradient. */
    loss_fn(&c);
    assert_int_equal(mmoe_model_backward(c.m), MMOE_OK);
    for (size_t i = 0; i < n; i++)
        assert_true(fabsf(grads[i] - 2.0f * g[i]) <= 1e-5f * (1.0f + fabsf(g[i])));
    free(g);
    mmoe_model_free(c.m);
    mmoe_config_free(cfg);
}

static void test_mmoe_2_tasks(void **state)
{
    (void)state;
    check_model(MMOE_ARCH_MMOE, 2, MMOE_ACT_TANH, 2);
    check_model(MMOE_ARCH_MMOE, 2, MMOE_ACT_RELU, 1);
    check_model(MMOE_ARCH_MMOE, 2, MMOE_ACT_SIGMOID, 2);
}

static void test_mmoe_3_tasks(void **state)
{
    (void)state;
    check_model(MMOE_ARCH_MMOE, 3, MMOE_ACT_TANH, 2);
    check_model(MMOE_ARCH_MMOE, 3, MMOE_ACT_RELU, 2);
}

static void test_omoe(void **state)
{
    (void)state;
    check_model(MMOE_ARCH_OMOE, 3, MMOE_ACT_TANH, 2);
}

static void test_shared_bottom(void **state)
{
    (void)state;
    check_model(MMOE_ARCH_SHARED_BOTTOM, 3, MMOE_ACT_TANH, 2);
}

static void test_single_task(void **state)
{
    (void)state;
    check_model(MMOE_ARCH_SINGLE_TASK, 2, MMOE_ACT_TANH, 2);
}

static void test_l2_constrained(void **state)
{
    (void)state;
    check_model(MMOE_ARCH_L2_CONSTRAINED, 2, MMOE_ACT_TANH, 2);
    check_model(MMOE_ARCH_L2_CONSTRAINED, 3, MMOE_ACT_TANH, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mmoe_2_tasks), cmocka_unit_test(test_mmoe_3_tasks),
        cmocka_unit_test(test_omoe),         cmocka_unit_test(test_shared_bottom),
        cmocka_unit_test(test_single_task),  cmocka_unit_test(test_l2_constrained),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
