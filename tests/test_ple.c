/*
 * CGC, PLE and stacked MMoE (arch cgc / ple / stacked_mmoe): finite-difference gradients of every
 * parameter (one to three levels, tasks with 0, 1 and 2 own experts, two
 * and three tasks, softmax and top-k gates), the parameter count of
 * docs/models.md, gate introspection, description text and
 * save -> load -> predict bit for bit.
 *
 * Tolerance as in test_grad_model.c: tanh networks, eps = 1e-2, normalised
 * error < 2e-3 (a wrong term gives 0.1 and more). Top-k gates are
 * piecewise smooth: a probe that changed a selection would show as a jump,
 * so their gate weights are spread (x 4) to keep the logits apart on this
 * data and the step is 3e-3 (test_gates.c asserts such a margin for MMoE
 * and OMoE).
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

enum { B = 6, D = 5, MAXT = 3 };

static const size_t ew[2] = {6, 4}; /* expert layers */

static mmoe_model *make(const char *arch, size_t T, size_t levels, size_t n_shared,
                        const size_t *own, const char *gate, size_t n_layers)
{
    mmoe_config *cfg;
    assert_int_equal(mmoe_config_create(&cfg), MMOE_OK);
    assert_int_equal(mmoe_config_set(cfg, "arch", arch), MMOE_OK);
    assert_int_equal(mmoe_config_set_int(cfg, "input.dense", D), MMOE_OK);
    assert_int_equal(
        mmoe_config_set_experts(cfg, n_shared, n_layers, ew + 2 - n_layers, MMOE_ACT_TANH),
        MMOE_OK);
    assert_int_equal(mmoe_config_set_int(cfg, "levels", (int64_t)levels), MMOE_OK);
    assert_int_equal(mmoe_config_set(cfg, "gate.kind", gate), MMOE_OK);
    assert_int_equal(mmoe_config_set_int(cfg, "seed", 9), MMOE_OK);
    for (size_t k = 0; k < T; k++) {
        char name[32], key[48];
        snprintf(name, sizeof name, "t%zu", k);
        size_t tw[1] = {3};
        assert_int_equal(mmoe_config_add_task(cfg, name,
                                              k % 2 ? MMOE_TASK_BINARY : MMOE_TASK_REGRESSION,
                                              k % 2, tw, MMOE_ACT_TANH, 0.5f + (float)k),
                         MMOE_OK);
        snprintf(key, sizeof key, "task.%zu.experts", k);
        assert_int_equal(mmoe_config_set_int(cfg, key, (int64_t)own[k]), MMOE_OK);
    }
    mmoe_model *m;
    if (mmoe_model_create(cfg, &m) != MMOE_OK)
        fail_msg("mmoe_model_create: %s", mmoe_last_error());
    mmoe_config_free(cfg);
    /* Top-k: spread the logits so that a probe does not change a selection (a jump, not a slope).
     */
    gc_model_prepare(m, 50, strcmp(gate, "topk") == 0 ? "gate" : NULL, 4.0f);
    return m;
}

/* docs/models.md: P_bottom = L (E_s + sum E_k) P_mlp(level) + gates; level l > 0 reads h. */
static size_t expected_bottom(size_t T, size_t L, size_t n_shared, const size_t *own,
                              size_t n_layers)
{
    size_t total = n_shared;
    for (size_t k = 0; k < T; k++)
        total += own[k];
    size_t P = 0;
    for (size_t l = 0; l < L; l++) {
        size_t in = l == 0 ? D : ew[1], mlp = 0, prev = in;
        for (size_t j = 2 - n_layers; j < 2; j++) {
            mlp += prev * ew[j] + ew[j];
            prev = ew[j];
        }
        P += total * mlp;
        for (size_t k = 0; k < T; k++)
            P += (own[k] + n_shared) * in; /* task gates */
        if (l + 1 < L)
            P += total * in; /* shared gate */
    }
    return P;
}

/* Stacked MMoE: level 0 reads d, later levels the T task outputs (T h); T gates per level. */
static size_t expected_stacked(size_t T, size_t L, size_t E, size_t n_layers)
{
    size_t P = 0;
    for (size_t l = 0; l < L; l++) {
        size_t in = l == 0 ? D : T * ew[1], mlp = 0, prev = in;
        for (size_t j = 2 - n_layers; j < 2; j++) {
            mlp += prev * ew[j] + ew[j];
            prev = ew[j];
        }
        P += E * mlp + T * E * in;
    }
    return P;
}

static size_t tower_params(size_t T)
{
    size_t P = 0;
    for (size_t k = 0; k < T; k++)
        P += k % 2 ? 4 * 3 + 3 + 3 + 1 : 4 + 1;
    return P;
}

static void check(const char *arch, size_t T, size_t levels, size_t n_shared, const size_t *own,
                  const char *gate, size_t n_layers)
{
    mmoe_model *m = make(arch, T, levels, n_shared, own, gate, n_layers);
    const int stacked = strcmp(arch, "stacked_mmoe") == 0;
    size_t L = strcmp(arch, "cgc") == 0 ? 1 : levels;
    assert_int_equal(mmoe_model_num_scalars(m),
                     (stacked ? expected_stacked(T, L, n_shared, n_layers)
                              : expected_bottom(T, L, n_shared, own, n_layers)) +
                         tower_params(T));
    float x[B * D], y[B * MAXT], w[B];
    gc_fill_uniform(x, B * D, 21, -1.5f, 1.5f);
    gc_fill_uniform(y, B * T, 22, 0.0f, 1.0f);
    gc_fill_uniform(w, B, 23, 0.3f, 1.7f);
    gc_model_batch batch = {m, B, x, y, w};
    float *params, *grads;
    size_t n;
    assert_int_equal(mmoe_model_flat(m, &params, &grads, &n), MMOE_OK);
    gc_model_loss(&batch);
    assert_int_equal(mmoe_model_zero_grad(m), MMOE_OK);
    assert_int_equal(mmoe_model_backward(m), MMOE_OK);
    float *g = malloc(n * sizeof *g);
    assert_non_null(g);
    memcpy(g, grads, n * sizeof *g);
    char report[256];
    /* Top-k: a smaller step too (a kink within 1e-2 was seen on this data: one stacked case). */
    const double eps = strcmp(gate, "topk") == 0 ? 3e-3 : 1e-2;
    double err = gc_check(params, g, n, gc_model_loss, &batch, eps, 0, report, sizeof report);
    print_message("%s T %zu levels %zu shared %zu gate %s (%zu params): %s\n", arch, T, L, n_shared,
                  gate, n, report);
    assert_true(err < 2e-3);
    free(g);

    /* Gates: T of them; each row sums to 1 over all experts of a level. */
    assert_int_equal(mmoe_model_num_gates(m), T);
    size_t E = mmoe_model_num_experts(m), total = n_shared;
    for (size_t k = 0; k < T && !stacked; k++)
        total += own[k];
    assert_int_equal(E, total);
    assert_int_equal(mmoe_model_forward(m, B, x, NULL), MMOE_OK);
    float *gw = malloc(B * E * sizeof *gw);
    assert_non_null(gw);
    for (size_t k = 0; k < T; k++) {
        assert_int_equal(mmoe_model_gate_weights(m, k, gw, B * E), MMOE_OK);
        size_t first = n_shared; /* task k's own experts */
        for (size_t j = 0; j < k; j++)
            first += own[j];
        for (size_t r = 0; r < B; r++) {
            float s = 0.0f;
            for (size_t e = 0; e < E; e++) {
                int mixed = stacked || e < n_shared || (e >= first && e < first + own[k]);
                if (!mixed)
                    assert_true(gw[r * E + e] == 0.0f);
                s += gw[r * E + e];
            }
            assert_true(fabsf(s - 1.0f) < 1e-5f);
        }
    }
    free(gw);

    /* Save -> load -> predict bit for bit. */
    void *buf;
    size_t len;
    assert_int_equal(mmoe_model_save_buffer(m, &buf, &len), MMOE_OK);
    mmoe_model *l;
    if (mmoe_model_load_buffer(buf, len, &l) != MMOE_OK)
        fail_msg("load: %s", mmoe_last_error());
    float o1[B * MAXT], o2[B * MAXT];
    mmoe_workspace *w1, *w2;
    assert_int_equal(mmoe_workspace_create(m, 4, &w1), MMOE_OK);
    assert_int_equal(mmoe_workspace_create(l, 4, &w2), MMOE_OK);
    assert_int_equal(mmoe_model_predict(m, w1, B, x, NULL, o1), MMOE_OK);
    assert_int_equal(mmoe_model_predict(l, w2, B, x, NULL, o2), MMOE_OK);
    assert_memory_equal(o1, o2, B * T * sizeof(float));
    assert_int_equal(mmoe_model_predict(m, w1, 1, x, NULL, o1), MMOE_OK);
    assert_int_equal(mmoe_model_predict(l, w2, 1, x, NULL, o2), MMOE_OK);
    assert_memory_equal(o1, o2, T * sizeof(float));
    /* Predict equals the training forward (batch 5 in one chunk vs the forward of 6 rows). */
    float tr[B * MAXT];
    assert_int_equal(mmoe_model_forward(m, B, x, NULL), MMOE_OK);
    assert_int_equal(mmoe_model_outputs(m, tr, sizeof tr / sizeof *tr), MMOE_OK);
    assert_int_equal(mmoe_model_predict(m, w1, B, x, NULL, o1), MMOE_OK);
    for (size_t i = 0; i < B * T; i++)
        assert_true(fabsf(tr[i] - o1[i]) <= 1e-5f * (1.0f + fabsf(tr[i])));
    mmoe_workspace_free(w1);
    mmoe_workspace_free(w2);
    mmoe_buffer_free(buf);
    mmoe_model_free(l);
    mmoe_model_free(m);
}

static void test_cgc(void **state)
{
    (void)state;
    const size_t own[3] = {1, 2, 0};
    check("cgc", 2, 2, 2, own, "softmax", 2);
    check("cgc", 3, 1, 2, own, "softmax", 1);
    check("cgc", 3, 1, 1, own, "topk", 2);
}

static void test_ple(void **state)
{
    (void)state;
    const size_t own[3] = {2, 1, 1};
    check("ple", 2, 2, 2, own, "softmax", 2);
    check("ple", 3, 3, 1, own, "softmax", 1);
    check("ple", 2, 2, 3, own, "topk", 1);
}

static void test_stacked_mmoe(void **state)
{
    (void)state;
    const size_t own[3] = {1, 1, 1}; /* ignored by stacked_mmoe */
    check("stacked_mmoe", 2, 2, 3, own, "softmax", 2);
    check("stacked_mmoe", 3, 3, 2, own, "softmax", 1);
    check("stacked_mmoe", 2, 1, 3, own, "topk", 1);
    check("stacked_mmoe", 2, 2, 4, own, "topk", 2);
}

static void test_description(void **state)
{
    (void)state;
    const size_t own[2] = {1, 3};
    mmoe_model *m = make("ple", 2, 3, 2, own, "softmax", 1);
    mmoe_config *c;
    char *text;
    assert_int_equal(mmoe_model_get_config(m, &c), MMOE_OK);
    assert_int_equal(mmoe_config_to_string(c, &text), MMOE_OK);
    assert_non_null(strstr(text, "\nlevels 3\n"));
    assert_non_null(strstr(text, "\ntask.1.experts 3\n"));
    assert_null(strstr(text, "task.0.experts")); /* the default, 1, is not written */
    mmoe_string_free(text);
    /* A gate with nothing to mix is refused. */
    assert_int_equal(mmoe_config_set(c, "experts.count", "0"), MMOE_ERR_CONFIG);
    assert_int_equal(mmoe_config_set(c, "task.0.experts", "0"), MMOE_OK);
    assert_int_equal(mmoe_config_set(c, "levels", "17"), MMOE_ERR_CONFIG);
    mmoe_config_free(c);
    mmoe_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cgc),
        cmocka_unit_test(test_ple),
        cmocka_unit_test(test_stacked_mmoe),
        cmocka_unit_test(test_description),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
