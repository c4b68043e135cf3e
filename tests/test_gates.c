/*
 * Gate kinds of the gated models (gate.kind softmax / topk / hard,
 * gate.temperature, gate.top_k) on MMoE and OMoE:
 *   - finite-difference gradients of every parameter (softmax with a
 *     temperature, top-k); for hard gates every parameter but the gates'
 *     (whose gradient is the documented straight-through one, not the true
 *     derivative, which is zero almost everywhere);
 *   - the weights: top-k rows have exactly k nonzero entries summing to 1,
 *     hard rows are one-hot on the largest softmax weight;
 *   - batch-1 predict of a sparse gate skips the unselected experts (MMoE,
 *     stacked MMoE): an
 *     unselected expert filled with NaN changes nothing, and batch 1
 *     agrees with the batch path;
 *   - description text (keys written only when not at their default) and
 *     save -> load -> predict bit for bit.
 *
 * Tolerances as in test_grad_model.c: normalised error < 2e-3 with
 * eps = 1e-2 (tanh). The top-k selection is piecewise constant in the
 * logits; with the fixed data the smallest gap between a kept and a
 * dropped logit is checked to exceed what a probe can move it (asserted
 * below), so no probe changes the selection.
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

enum { B = 7, D = 5, E = 5, T = 2 };

typedef struct ctx {
    mmoe_model *m;
    float x[B * D];
    float y[B * T];
    float w[B];
    gc_model_batch batch; /* the loss of m on (x, y, w) */
} ctx;

static double loss_fn(void *p)
{
    ctx *c = p;
    c->batch = (gc_model_batch){c->m, B, c->x, c->y, c->w};
    return gc_model_loss(&c->batch);
}

static mmoe_model *make(const char *arch, const char *kind, const char *temp, const char *k)
{
    mmoe_config *cfg;
    assert_int_equal(mmoe_config_create(&cfg), MMOE_OK);
    assert_int_equal(mmoe_config_set(cfg, "arch", arch), MMOE_OK);
    assert_int_equal(mmoe_config_set_int(cfg, "input.dense", D), MMOE_OK);
    size_t ew[2] = {6, 4};
    assert_int_equal(mmoe_config_set_experts(cfg, E, 2, ew, MMOE_ACT_TANH), MMOE_OK);
    assert_int_equal(mmoe_config_set_int(cfg, "seed", 3), MMOE_OK);
    assert_int_equal(mmoe_config_set(cfg, "gate.kind", kind), MMOE_OK);
    assert_int_equal(mmoe_config_set(cfg, "gate.temperature", temp), MMOE_OK);
    assert_int_equal(mmoe_config_set(cfg, "gate.top_k", k), MMOE_OK);
    size_t tw[1] = {3};
    assert_int_equal(
        mmoe_config_add_task(cfg, "a", MMOE_TASK_REGRESSION, 1, tw, MMOE_ACT_TANH, 1.0f), MMOE_OK);
    assert_int_equal(mmoe_config_add_task(cfg, "b", MMOE_TASK_BINARY, 0, NULL, MMOE_ACT_TANH, 1.5f),
                     MMOE_OK);
    mmoe_model *m;
    if (mmoe_model_create(cfg, &m) != MMOE_OK)
        fail_msg("mmoe_model_create: %s", mmoe_last_error());
    mmoe_config_free(cfg);
    /* Non-zero biases; larger gate weights so that the gates are far from uniform. */
    gc_model_prepare(m, 100, "gates.", 4.0f);
    return m;
}

static void fill_data(ctx *c)
{
    gc_fill_uniform(c->x, B * D, 11, -1.5f, 1.5f);
    gc_fill_uniform(c->w, B, 12, 0.2f, 2.0f);
    gc_fill_uniform(c->y, B * T, 13, 0.0f, 1.0f);
    for (size_t r = 0; r < B; r++)
        c->y[r * T] = c->y[r * T] * 4.0f - 2.0f;
}

/* Analytic gradient of the last forward (fresh), copied out. */
static float *analytic(ctx *c, size_t *n)
{
    float *grads;
    loss_fn(c);
    assert_int_equal(mmoe_model_zero_grad(c->m), MMOE_OK);
    assert_int_equal(mmoe_model_backward(c->m), MMOE_OK);
    assert_int_equal(mmoe_model_flat(c->m, NULL, &grads, n), MMOE_OK);
    float *g = malloc(*n * sizeof *g);
    assert_non_null(g);
    memcpy(g, grads, *n * sizeof *g);
    return g;
}

/* Offset and size of the gate block in the flat buffer (gates.K.weight are adjacent). */
static void gate_block(mmoe_model *m, size_t *off, size_t *len)
{
    float *base;
    assert_int_equal(mmoe_model_flat(m, &base, NULL, NULL), MMOE_OK);
    *off = SIZE_MAX;
    *len = 0;
    for (size_t i = 0; i < mmoe_model_param_count(m); i++) {
        const char *name;
        mmoe_tensor *v;
        assert_int_equal(mmoe_model_param(m, i, &name, &v, NULL), MMOE_OK);
        if (strncmp(name, "gates.", 6) == 0) {
            size_t o = (size_t)(mmoe_tensor_data(v) - base);
            if (o < *off)
                *off = o;
            *len += mmoe_tensor_numel(v);
        }
    }
    assert_true(*len > 0);
}

/* Smallest gap between the k-th and (k+1)-th largest gate logit over rows and gates. */
static double selection_margin(mmoe_model *m, const float *x, size_t k)
{
    size_t off, len;
    gate_block(m, &off, &len);
    float *p;
    assert_int_equal(mmoe_model_flat(m, &p, NULL, NULL), MMOE_OK);
    const float *W = p + off;
    double margin = INFINITY;
    for (size_t g = 0; g < len / (E * D); g++)
        for (size_t r = 0; r < B; r++) {
            double z[E];
            for (size_t e = 0; e < E; e++) {
                z[e] = 0.0;
                for (size_t j = 0; j < D; j++)
                    z[e] += (double)W[(g * E + e) * D + j] * x[r * D + j];
            }
            for (size_t i = 0; i < E; i++) /* sort descending */
                for (size_t j = i + 1; j < E; j++)
                    if (z[j] > z[i]) {
                        double t = z[i];
                        z[i] = z[j];
                        z[j] = t;
                    }
            margin = fmin(margin, z[k - 1] - z[k]);
        }
    return margin;
}

static void check_grad(const char *arch, const char *kind, const char *temp, const char *k)
{
    ctx c;
    c.m = make(arch, kind, temp, k);
    fill_data(&c);
    if (strcmp(kind, "topk") == 0) {
        /* A probe of 1e-2 on one gate weight moves a logit by at most 1e-2 * max|x| = 1.5e-2. */
        double margin = selection_margin(c.m, c.x, (size_t)atoi(k));
        print_message("%s top-%s: smallest selection margin %.3g\n", arch, k, margin);
        assert_true(margin > 2 * 1.5e-2);
    }
    size_t n;
    float *g = analytic(&c, &n);
    float *params;
    assert_int_equal(mmoe_model_flat(c.m, &params, NULL, NULL), MMOE_OK);
    char report[256];
    double err = gc_check(params, g, n, loss_fn, &c, 1e-2, 0, report, sizeof report);
    print_message("%s gate %s tau %s k %s (%zu params): %s\n", arch, kind, temp, k, n, report);
    assert_true(err < 2e-3);
    free(g);
    mmoe_model_free(c.m);
}

static void test_softmax_temperature(void **state)
{
    (void)state;
    check_grad("mmoe", "softmax", "0.5", "2");
    check_grad("omoe", "softmax", "2", "2");
}

static void test_topk(void **state)
{
    (void)state;
    check_grad("mmoe", "topk", "1", "2");
    check_grad("mmoe", "topk", "0.7", "3");
    check_grad("omoe", "topk", "1", "2");
}

/*
 * Hard gates: every non-gate parameter by finite differences; the loss is
 * locally constant in the gate weights (the argmax does not move), and the
 * straight-through gradient they get instead is finite and nonzero; the
 * weights are one-hot on the largest weight of the softmax model with the
 * same parameters.
 */
static void test_hard(void **state)
{
    (void)state;
    const char *archs[2] = {"mmoe", "omoe"};
    for (int a = 0; a < 2; a++) {
        ctx c;
        c.m = make(archs[a], "hard", "0.8", "2");
        fill_data(&c);
        size_t n, off, len;
        float *g = analytic(&c, &n);
        gate_block(c.m, &off, &len);
        float *params;
        assert_int_equal(mmoe_model_flat(c.m, &params, NULL, NULL), MMOE_OK);
        char report[256];
        /* Parameters before and after the gate block: true gradients. */
        double e1 = gc_check(params, g, off, loss_fn, &c, 1e-2, 0, report, sizeof report);
        print_message("%s hard, before gates: %s\n", archs[a], report);
        assert_true(e1 < 2e-3);
        double e2 = gc_check(params + off + len, g + off + len, n - off - len, loss_fn, &c, 1e-2, 0,
                             report, sizeof report);
        print_message("%s hard, after gates: %s\n", archs[a], report);
        assert_true(e2 < 2e-3);
        /* The loss does not move with a small gate change (piecewise constant)... */
        double f0 = loss_fn(&c);
        float keep = params[off];
        params[off] = keep + 1e-3f;
        double f1 = loss_fn(&c);
        params[off] = keep;
        assert_true(f0 == f1);
        /* ...but the straight-through gradient is there and finite. */
        double norm = 0.0;
        for (size_t i = off; i < off + len; i++) {
            assert_true(isfinite(g[i]));
            norm += (double)g[i] * g[i];
        }
        assert_true(norm > 1e-8);
        /* Weights are one-hot on the largest softmax weight. */
        float hw[B * E], sw[B * E];
        assert_int_equal(mmoe_model_gate_weights(c.m, 0, hw, B * E), MMOE_OK);
        mmoe_model *s = make(archs[a], "softmax", "0.8", "2");
        float *ps;
        size_t ns;
        assert_int_equal(mmoe_model_flat(s, &ps, NULL, &ns), MMOE_OK);
        assert_int_equal(ns, n);
        memcpy(ps, params, n * sizeof *ps);
        assert_int_equal(mmoe_model_forward(s, B, c.x, NULL), MMOE_OK);
        assert_int_equal(mmoe_model_gate_weights(s, 0, sw, B * E), MMOE_OK);
        for (size_t r = 0; r < B; r++) {
            size_t best = 0;
            for (size_t e = 1; e < E; e++)
                if (sw[r * E + e] > sw[r * E + best])
                    best = e;
            for (size_t e = 0; e < E; e++)
                assert_true(hw[r * E + e] == (e == best ? 1.0f : 0.0f));
        }
        free(g);
        mmoe_model_free(s);
        mmoe_model_free(c.m);
    }
}

static void test_topk_weights(void **state)
{
    (void)state;
    ctx c;
    c.m = make("mmoe", "topk", "1", "2");
    fill_data(&c);
    assert_int_equal(mmoe_model_forward(c.m, B, c.x, NULL), MMOE_OK);
    for (size_t k = 0; k < T; k++) {
        float w[B * E];
        assert_int_equal(mmoe_model_gate_weights(c.m, k, w, B * E), MMOE_OK);
        for (size_t r = 0; r < B; r++) {
            size_t nz = 0;
            float s = 0.0f;
            for (size_t e = 0; e < E; e++) {
                nz += w[r * E + e] != 0.0f;
                s += w[r * E + e];
            }
            assert_int_equal(nz, 2);
            assert_true(fabsf(s - 1.0f) < 1e-6f);
        }
    }
    mmoe_model_free(c.m);
    /* k >= experts: the plain softmax. */
    mmoe_model *all = make("mmoe", "topk", "1", "9"), *soft = make("mmoe", "softmax", "1", "2");
    float o1[B * T], o2[B * T];
    mmoe_workspace *w1, *w2;
    assert_int_equal(mmoe_workspace_create(all, B, &w1), MMOE_OK);
    assert_int_equal(mmoe_workspace_create(soft, B, &w2), MMOE_OK);
    assert_int_equal(mmoe_model_predict(all, w1, B, c.x, NULL, o1), MMOE_OK);
    assert_int_equal(mmoe_model_predict(soft, w2, B, c.x, NULL, o2), MMOE_OK);
    assert_memory_equal(o1, o2, sizeof o1);
    mmoe_workspace_free(w1);
    mmoe_workspace_free(w2);
    mmoe_model_free(all);
    mmoe_model_free(soft);
}

/*
 * Batch-1 predict with a sparse gate computes only the selected experts
 * (experts named <pre>I.layers...; for stacked MMoE those of the top level,
 * whose gates mmoe_model_gate_weights reports).
 */
static void check_skip(const char *arch, const char *kind, const char *pre)
{
    ctx c;
    c.m = make(arch, kind, "1", "2");
    fill_data(&c);
    /* Row 0: find an expert no gate selects; its weights are filled with NaN. */
    assert_int_equal(mmoe_model_forward(c.m, 1, c.x, NULL), MMOE_OK);
    float w[T][E];
    for (size_t k = 0; k < T; k++)
        assert_int_equal(mmoe_model_gate_weights(c.m, k, w[k], E), MMOE_OK);
    size_t unused = E;
    for (size_t e = 0; e < E && unused == E; e++) {
        int sel = 0;
        for (size_t k = 0; k < T; k++)
            sel |= w[k][e] != 0.0f;
        if (!sel)
            unused = e;
    }
    assert_true(unused < E);
    char prefix[64];
    snprintf(prefix, sizeof prefix, "%s%zu.", pre, unused);
    gc_check_skip(c.m, prefix, 4, B, c.x); /* two layers, weight and bias */
    mmoe_model_free(c.m);
}

static void test_batch1_skips_unselected_experts(void **state)
{
    (void)state;
    check_skip("mmoe", "topk", "experts.");
    check_skip("mmoe", "hard", "experts.");
    check_skip("stacked_mmoe", "topk", "stack.1.experts."); /* two levels, the default */
}

static void test_description_and_files(void **state)
{
    (void)state;
    const char *kinds[3][3] = {{"softmax", "0.25", "2"}, {"topk", "1", "3"}, {"hard", "2", "2"}};
    for (int i = 0; i < 3; i++) {
        mmoe_model *m = make("mmoe", kinds[i][0], kinds[i][1], kinds[i][2]);
        char *text;
        mmoe_config *back = gc_check_text(m, &text);
        char line[64];
        snprintf(line, sizeof line, "\ngate.kind %s\n", kinds[i][0]);
        assert_true((strstr(text, line) != NULL) == (i != 0)); /* default: not written */
        snprintf(line, sizeof line, "\ngate.temperature %s\n", kinds[i][1]);
        assert_true((strstr(text, line) != NULL) == (i != 1)); /* 1: the default */
        char buf[32];
        assert_int_equal(mmoe_config_get(back, "gate.top_k", buf, sizeof buf), MMOE_OK);
        assert_string_equal(buf, kinds[i][2]);
        mmoe_string_free(text);
        mmoe_config_free(back);

        float x[B * D];
        gc_fill_uniform(x, B * D, 5, -2.0f, 2.0f);
        gc_check_reload(m, B, x);
        mmoe_model_free(m);
    }
    /* Bad values are refused with the key named. */
    mmoe_config *c;
    assert_int_equal(mmoe_config_create(&c), MMOE_OK);
    assert_int_equal(mmoe_config_set(c, "gate.kind", "max"), MMOE_ERR_CONFIG);
    assert_non_null(strstr(mmoe_config_last_error(c), "gate.kind"));
    assert_int_equal(mmoe_config_set(c, "gate.temperature", "0"), MMOE_ERR_CONFIG);
    assert_int_equal(mmoe_config_set(c, "gate.temperature", "nan"), MMOE_ERR_CONFIG);
    assert_int_equal(mmoe_config_set(c, "gate.top_k", "0"), MMOE_ERR_CONFIG);
    assert_int_equal(mmoe_config_set(c, "gate.top_k", "2x"), MMOE_ERR_CONFIG);
    assert_int_equal(mmoe_config_set(c, "gate.top_k", "-1"), MMOE_ERR_CONFIG);
    assert_int_equal(mmoe_config_set(c, "gate.top_k", "99999999999999999999999"), MMOE_ERR_CONFIG);
    mmoe_config_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_softmax_temperature),
        cmocka_unit_test(test_topk),
        cmocka_unit_test(test_hard),
        cmocka_unit_test(test_topk_weights),
        cmocka_unit_test(test_batch1_skips_unselected_experts),
        cmocka_unit_test(test_description_and_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
