/*
 * Gate priors (task.K.gate_bias, task.K.gate_mask) on every gated kind
 * (mmoe, omoe, cgc, ple, stacked_mmoe) and with every gate kind:
 *   - finite-difference gradients of every parameter, the gate biases
 *     included, with finite and -inf mask entries (softmax with a
 *     temperature, top-k);
 *   - the biases start at the prior; a -inf entry gives the expert a weight
 *     of exactly 0 (softmax, top-k, hard); a finite mask shifts the logits
 *     exactly as the same bias would;
 *   - batch-1 predict skips the experts every gate forbids (an expert
 *     filled with NaN changes nothing) and agrees with the batch path;
 *   - batch-1 predict of CGC/PLE with a sparse gate skips the unselected
 *     experts (the same NaN check) and agrees with the batch path;
 *   - description text round trip and save -> load -> predict bit for bit;
 *   - clear errors: wrong count, NaN, a row that forbids every expert, a
 *     prior on a gateless kind, on a product task, on omoe's task 1.
 *
 * Tolerances as in test_grad_model.c: tanh networks, eps = 1e-2,
 * normalised error < 2e-3 (a missing term gives 0.1 and more). Top-k is
 * piecewise smooth; the gate weights are spread (x 4) and a probe that
 * moved a selection would show as a jump far above the bound (the data are
 * fixed, so a pass is not luck that can change from run to run).
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

enum { B = 7, D = 5, T = 2, MAXE = 8 };

/*
 * Experts each task's gate mixes: mmoe, omoe, stacked_mmoe 4 (experts.count);
 * cgc, ple: task 0 has 2 own + 2 shared, task 1 1 own + 2 shared.
 */
static int is_ple(const char *arch)
{
    return strcmp(arch, "cgc") == 0 || strcmp(arch, "ple") == 0;
}

static size_t gate_n(const char *arch, size_t k)
{
    return is_ple(arch) ? (k == 0 ? 4 : 3) : 4;
}

/* The description: arch, gate kind, then `extra` key/value pairs (NULL-terminated). */
static mmoe_config *describe(const char *arch, const char *kind, const char *const *extra)
{
    mmoe_config *cfg;
    assert_int_equal(mmoe_config_create(&cfg), MMOE_OK);
    assert_int_equal(mmoe_config_set(cfg, "arch", arch), MMOE_OK);
    assert_int_equal(mmoe_config_set_int(cfg, "input.dense", D), MMOE_OK);
    size_t ew[2] = {6, 4};
    assert_int_equal(mmoe_config_set_experts(cfg, is_ple(arch) ? 2 : 4, 2, ew, MMOE_ACT_TANH),
                     MMOE_OK);
    assert_int_equal(mmoe_config_set_int(cfg, "seed", 5), MMOE_OK);
    assert_int_equal(mmoe_config_set(cfg, "gate.kind", kind), MMOE_OK);
    assert_int_equal(mmoe_config_set(cfg, "gate.temperature", "0.7"), MMOE_OK);
    size_t tw[1] = {3};
    assert_int_equal(
        mmoe_config_add_task(cfg, "a", MMOE_TASK_REGRESSION, 1, tw, MMOE_ACT_TANH, 1.0f), MMOE_OK);
    assert_int_equal(mmoe_config_add_task(cfg, "b", MMOE_TASK_BINARY, 0, NULL, MMOE_ACT_TANH, 1.5f),
                     MMOE_OK);
    if (is_ple(arch)) {
        assert_int_equal(mmoe_config_set(cfg, "task.0.experts", "2"), MMOE_OK);
        assert_int_equal(mmoe_config_set(cfg, "task.1.experts", "1"), MMOE_OK);
    }
    for (size_t i = 0; extra && extra[i]; i += 2)
        if (mmoe_config_set(cfg, extra[i], extra[i + 1]) != MMOE_OK)
            fail_msg("%s = %s: %s", extra[i], extra[i + 1], mmoe_config_last_error(cfg));
    return cfg;
}

/* Biases and masks of both tasks' gates for arch (omoe: task 0 only). */
static const char *const *priors(const char *arch)
{
    static const char *const four[] = {"task.0.gate_bias", "0.5,-0.25,0,1",    "task.0.gate_mask",
                                       "0,-inf,0.3,0",     "task.1.gate_bias", "-0.5,0.125,0.75,0",
                                       "task.1.gate_mask", "-inf,0,0,-0.5",    NULL};
    static const char *const omoe[] = {"task.0.gate_bias", "0.5,-0.25,0,1", "task.0.gate_mask",
                                       "0,-inf,0.3,0", NULL};
    static const char *const ple[] = {"task.0.gate_bias", "0.5,-0.25,0,1",    "task.0.gate_mask",
                                      "-inf,0,0.3,0",     "task.1.gate_bias", "-0.5,0.125,0.75",
                                      "task.1.gate_mask", "0,0,-inf",         NULL};
    return strcmp(arch, "omoe") == 0 ? omoe : is_ple(arch) ? ple : four;
}

static mmoe_model *make(const char *arch, const char *kind, const char *const *extra)
{
    mmoe_config *cfg = describe(arch, kind, extra);
    mmoe_model *m;
    if (mmoe_model_create(cfg, &m) != MMOE_OK)
        fail_msg("mmoe_model_create %s: %s", arch, mmoe_last_error());
    mmoe_config_free(cfg);
    return m;
}

/* The parameter called name (its data and size); NULL when there is none. */
static float *param(mmoe_model *m, const char *name, size_t *n)
{
    *n = 0;
    for (size_t i = 0; i < mmoe_model_param_count(m); i++) {
        const char *nm;
        mmoe_tensor *v;
        assert_int_equal(mmoe_model_param(m, i, &nm, &v, NULL), MMOE_OK);
        if (strcmp(nm, name) == 0) {
            *n = mmoe_tensor_numel(v);
            return mmoe_tensor_data(v);
        }
    }
    return NULL;
}

typedef struct ctx {
    mmoe_model *m;
    float x[B * D], y[B * T], w[B];
    gc_model_batch batch;
} ctx;

static double loss_fn(void *p)
{
    ctx *c = p;
    c->batch = (gc_model_batch){c->m, B, c->x, c->y, c->w};
    return gc_model_loss(&c->batch);
}

static void fill_data(ctx *c)
{
    gc_fill_uniform(c->x, B * D, 11, -1.5f, 1.5f);
    gc_fill_uniform(c->w, B, 12, 0.2f, 2.0f);
    gc_fill_uniform(c->y, B * T, 13, 0.0f, 1.0f);
    for (size_t r = 0; r < B; r++)
        c->y[r * T] = c->y[r * T] * 4.0f - 2.0f;
}

static void check_grad(const char *arch, const char *kind)
{
    ctx c;
    c.m = make(arch, kind, priors(arch));
    gc_model_prepare(c.m, 100, "gates.", 4.0f);
    fill_data(&c);
    float *params, *grads;
    size_t n;
    loss_fn(&c);
    assert_int_equal(mmoe_model_zero_grad(c.m), MMOE_OK);
    assert_int_equal(mmoe_model_backward(c.m), MMOE_OK);
    assert_int_equal(mmoe_model_flat(c.m, &params, &grads, &n), MMOE_OK);
    float *g = malloc(n * sizeof *g);
    assert_non_null(g);
    memcpy(g, grads, n * sizeof *g);
    char report[256];
    double err = gc_check(params, g, n, loss_fn, &c, 1e-2, 0, report, sizeof report);
    print_message("%s gate %s with priors (%zu params): %s\n", arch, kind, n, report);
    assert_true(err < 2e-3);
    /* The gate biases are parameters with a gradient. */
    char bias[48];
    snprintf(bias, sizeof bias,
             strcmp(arch, "ple") == 0            ? "ple.1.gates.0.bias"
             : strcmp(arch, "cgc") == 0          ? "ple.0.gates.0.bias"
             : strcmp(arch, "stacked_mmoe") == 0 ? "stack.1.gates.0.bias"
                                                 : "gates.0.bias");
    size_t nb;
    const float *b = param(c.m, bias, &nb);
    assert_non_null(b);
    assert_int_equal(nb, gate_n(arch, 0));
    double norm = 0.0;
    for (size_t i = 0; i < nb; i++)
        norm += (double)g[(size_t)(b - params) + i] * g[(size_t)(b - params) + i];
    assert_true(norm > 1e-10);
    free(g);
    mmoe_model_free(c.m);
}

static const char *const archs[] = {"mmoe", "omoe", "cgc", "ple", "stacked_mmoe"};
#define N_ARCHS (sizeof archs / sizeof *archs)

static void test_gradients(void **state)
{
    (void)state;
    for (size_t a = 0; a < N_ARCHS; a++)
        check_grad(archs[a], "softmax");
    check_grad("mmoe", "topk");
    check_grad("cgc", "topk");
    check_grad("stacked_mmoe", "topk");
}

/* Biases start at the prior (0 where a task gives none; omoe's one gate is task 0's). */
static void test_bias_init(void **state)
{
    (void)state;
    const char *const only0[] = {"task.0.gate_bias", "1,2,3,4", NULL};
    mmoe_model *m = make("mmoe", "softmax", only0);
    size_t n;
    const float *b0 = param(m, "gates.0.bias", &n), *b1 = param(m, "gates.1.bias", &n);
    assert_non_null(b0);
    assert_non_null(b1);
    for (size_t e = 0; e < 4; e++) {
        assert_true(b0[e] == (float)(e + 1));
        assert_true(b1[e] == 0.0f);
    }
    mmoe_model_free(m);
    /* PLE: the prior at every level, the shared gate at 0. */
    m = make("ple", "softmax", priors("ple"));
    const float want[4] = {0.5f, -0.25f, 0.0f, 1.0f};
    for (int l = 0; l < 2; l++) {
        char name[48];
        snprintf(name, sizeof name, "ple.%d.gates.0.bias", l);
        const float *b = param(m, name, &n);
        assert_non_null(b);
        assert_int_equal(n, 4);
        assert_memory_equal(b, want, sizeof want);
    }
    const float *s = param(m, "ple.0.shared_gate.bias", &n);
    assert_non_null(s);
    assert_int_equal(n, 2 + 2 + 1);
    for (size_t i = 0; i < n; i++)
        assert_true(s[i] == 0.0f);
    assert_null(param(m, "ple.1.shared_gate.bias", &n)); /* no shared gate at the top */
    mmoe_model_free(m);
    /* A mask alone adds no parameter; no prior, no bias. */
    const char *const mask_only[] = {"task.1.gate_mask", "0,0,-inf,0", NULL};
    mmoe_model *a = make("mmoe", "softmax", mask_only), *plain = make("mmoe", "softmax", NULL);
    assert_null(param(a, "gates.0.bias", &n));
    assert_int_equal(mmoe_model_num_scalars(a), mmoe_model_num_scalars(plain));
    mmoe_model_free(a);
    mmoe_model_free(plain);
}

/* -inf: weight exactly 0 for every gate kind; the other experts share the whole weight. */
static void test_mask_forbids(void **state)
{
    (void)state;
    const char *kinds[3] = {"softmax", "topk", "hard"};
    float x[B * D];
    gc_fill_uniform(x, B * D, 21, -2.0f, 2.0f);
    for (size_t a = 0; a < N_ARCHS; a++)
        for (int i = 0; i < 3; i++) {
            mmoe_model *m = make(archs[a], kinds[i], priors(archs[a]));
            gc_model_prepare(m, 7, "gates.", 4.0f);
            assert_int_equal(mmoe_model_forward(m, B, x, NULL), MMOE_OK);
            const size_t E = mmoe_model_num_experts(m);
            for (size_t k = 0; k < T; k++) {
                /* The forbidden expert, in mmoe_model_gate_weights' numbering. */
                size_t forbidden;
                if (strcmp(archs[a], "omoe") == 0)
                    forbidden = 1; /* task 0's mask, for the one gate */
                else if (is_ple(archs[a]))
                    forbidden = k == 0 ? 2 : 1; /* task 0's own first (after 2 shared); shared 1 */
                else
                    forbidden = k == 0 ? 1 : 0;
                float w[B * MAXE];
                assert_true(E <= MAXE);
                assert_int_equal(mmoe_model_gate_weights(m, k, w, B * MAXE), MMOE_OK);
                for (size_t r = 0; r < B; r++) {
                    float s = 0.0f;
                    for (size_t e = 0; e < E; e++)
                        s += w[r * E + e];
                    assert_true(w[r * E + forbidden] == 0.0f);
                    assert_true(fabsf(s - 1.0f) < 1e-5f);
                }
            }
            mmoe_model_free(m);
        }
}

/* A finite mask shifts the logits as a bias of the same value does. */
static void test_mask_is_an_offset(void **state)
{
    (void)state;
    const char *const mask[] = {"task.0.gate_mask", "0.5,-1,0,2", "task.1.gate_mask",
                                "0,0.25,-0.75,0", NULL};
    const char *const bias[] = {"task.0.gate_bias", "0.5,-1,0,2", "task.1.gate_bias",
                                "0,0.25,-0.75,0", NULL};
    mmoe_model *m1 = make("mmoe", "softmax", mask), *m2 = make("mmoe", "softmax", bias);
    float x[B * D], w1[B * 4], w2[B * 4];
    gc_fill_uniform(x, B * D, 22, -2.0f, 2.0f);
    assert_int_equal(mmoe_model_forward(m1, B, x, NULL), MMOE_OK);
    assert_int_equal(mmoe_model_forward(m2, B, x, NULL), MMOE_OK);
    for (size_t k = 0; k < T; k++) {
        assert_int_equal(mmoe_model_gate_weights(m1, k, w1, B * 4), MMOE_OK);
        assert_int_equal(mmoe_model_gate_weights(m2, k, w2, B * 4), MMOE_OK);
        for (size_t i = 0; i < B * 4; i++)
            assert_true(fabsf(w1[i] - w2[i]) <= 1e-6f);
    }
    mmoe_model_free(m1);
    mmoe_model_free(m2);
}

/* Batch 1 runs only the experts some gate may use: expert e named <pre>e.* (gradcheck.h). */
static void check_skip(mmoe_model *m, const char *pre, size_t e, const float *x)
{
    char prefix[96];
    snprintf(prefix, sizeof prefix, "%.60s%zu.", pre, e);
    gc_check_skip(m, prefix, 4, B, x); /* two layers, weight and bias */
}

/* A softmax gate whose masks forbid an expert for every task never runs it at batch 1. */
static void test_masked_expert_skipped(void **state)
{
    (void)state;
    const char *const both[] = {"task.0.gate_mask", "0,0,-inf,0", "task.1.gate_mask",
                                "-inf,0,-inf,0.5", NULL};
    mmoe_model *m = make("mmoe", "softmax", both);
    float x[B * D];
    gc_fill_uniform(x, B * D, 23, -2.0f, 2.0f);
    check_skip(m, "experts.", 2, x);
    mmoe_model_free(m);
    m = make("stacked_mmoe", "softmax", both);
    check_skip(m, "stack.0.experts.", 2, x);
    mmoe_model_free(m);
}

/*
 * CGC / PLE at batch 1 with a sparse gate (top-1, hard): the experts no
 * gate of the top level selected for row 0 are not run.
 */
static void test_ple_batch1_skips(void **state)
{
    (void)state;
    const char *kinds[2] = {"topk", "hard"};
    const char *const top1[] = {"gate.top_k", "1", NULL};
    float x[B * D];
    gc_fill_uniform(x, B * D, 24, -2.0f, 2.0f);
    for (int a = 0; a < 2; a++)
        for (int i = 0; i < 2; i++) {
            const char *arch = a ? "ple" : "cgc";
            mmoe_model *m = make(arch, kinds[i], top1);
            gc_model_prepare(m, 8, "gates.", 4.0f);
            /* Top-level weights of row 0 (numbering: shared 0-1, task 0's 2-3, task 1's 4). */
            assert_int_equal(mmoe_model_forward(m, 1, x, NULL), MMOE_OK);
            const size_t E = mmoe_model_num_experts(m);
            assert_int_equal(E, 5);
            float w[T][5];
            for (size_t k = 0; k < T; k++)
                assert_int_equal(mmoe_model_gate_weights(m, k, w[k], E), MMOE_OK);
            size_t unused = E;
            for (size_t e = 0; e < E && unused == E; e++)
                if (w[0][e] == 0.0f && w[1][e] == 0.0f)
                    unused = e;
            assert_true(unused < E); /* two gates keep one expert each out of five */
            char pre[48];
            size_t idx = unused;
            if (unused < 2)
                snprintf(pre, sizeof pre, "ple.%d.shared.", a);
            else if (unused < 4)
                snprintf(pre, sizeof pre, "ple.%d.task.0.", a), idx = unused - 2;
            else
                snprintf(pre, sizeof pre, "ple.%d.task.1.", a), idx = unused - 4;
            print_message("%s %s: row 0 leaves expert %zu (%s%zu) unused\n", arch, kinds[i], unused,
                          pre, idx);
            check_skip(m, pre, idx, x);
            mmoe_model_free(m);
        }
}

static void test_text_and_files(void **state)
{
    (void)state;
    for (size_t a = 0; a < N_ARCHS; a++) {
        mmoe_model *m = make(archs[a], a % 2 ? "topk" : "softmax", priors(archs[a]));
        gc_model_prepare(m, 9, "gates.", 2.0f);
        char *text;
        mmoe_config *back = gc_check_text(m, &text);
        assert_non_null(strstr(text, "\ntask.0.gate_mask "));
        assert_non_null(strstr(text, "-inf"));
        char buf[128];
        assert_int_equal(mmoe_config_get(back, "task.0.gate_bias", buf, sizeof buf), MMOE_OK);
        assert_string_equal(buf, "0.5,-0.25,0,1");
        mmoe_string_free(text);
        mmoe_config_free(back);

        float x[B * D];
        gc_fill_uniform(x, B * D, 5, -2.0f, 2.0f);
        gc_check_reload(m, B, x);
        mmoe_model_free(m);
    }
}

/* Model creation fails with msg in the message. */
static void refused(const char *arch, const char *const *extra, const char *msg)
{
    mmoe_config *cfg = describe(arch, "softmax", extra);
    mmoe_model *m;
    assert_int_equal(mmoe_model_create(cfg, &m), MMOE_ERR_CONFIG);
    assert_null(m);
    print_message("%s: %s\n", arch, mmoe_last_error());
    assert_non_null(strstr(mmoe_last_error(), msg));
    mmoe_config_free(cfg);
}

static void test_errors(void **state)
{
    (void)state;
    const char *const three[] = {"task.1.gate_bias", "1,2,3", NULL};
    refused("mmoe", three, "task.1.gate_bias has 3 values; task 1's gate mixes 4 experts");
    const char *const five[] = {"task.0.gate_mask", "0,0,0,0,0", NULL};
    refused("cgc", five, "task.0.gate_mask has 5 values; task 0's gate mixes 4 experts");
    const char *const all[] = {"task.1.gate_mask", "-inf,-inf,-inf", NULL};
    refused("ple", all, "forbids every expert");
    const char *const all4[] = {"task.0.gate_mask", "-inf,-inf,-inf,-inf", NULL};
    refused("stacked_mmoe", all4, "forbids every expert");
    const char *const omoe1[] = {"task.1.gate_bias", "0,0,0,1", NULL};
    refused("omoe", omoe1, "omoe has one gate shared by every task");
    const char *const sb[] = {"task.0.gate_bias", "0", NULL};
    refused("shared_bottom", sb, "has no gate (Shared-Bottom)");
    const char *const product[] = {"tasks",
                                   "3",
                                   "task.2.kind",
                                   "binary",
                                   "task.2.product",
                                   "1",
                                   "task.2.layers",
                                   "",
                                   "task.2.gate_mask",
                                   "0,0,0,0",
                                   NULL};
    refused("mmoe", product, "a product task");
    /* Values: NaN, +inf, a bias of -inf, garbage, too many. */
    mmoe_config *c;
    assert_int_equal(mmoe_config_create(&c), MMOE_OK);
    assert_int_equal(mmoe_config_set(c, "tasks", "1"), MMOE_OK);
    assert_int_equal(mmoe_config_set(c, "task.0.gate_mask", "0,nan"), MMOE_ERR_CONFIG);
    assert_non_null(strstr(mmoe_config_last_error(c), "task.0.gate_mask"));
    assert_int_equal(mmoe_config_set(c, "task.0.gate_mask", "inf,0"), MMOE_ERR_CONFIG);
    assert_int_equal(mmoe_config_set(c, "task.0.gate_bias", "-inf,0"), MMOE_ERR_CONFIG);
    assert_int_equal(mmoe_config_set(c, "task.0.gate_bias", "1 2"), MMOE_ERR_CONFIG);
    assert_int_equal(mmoe_config_set(c, "task.0.gate_bias", "1;2"), MMOE_ERR_CONFIG);
    char many[129 * 2 + 1];
    for (size_t i = 0; i < 129; i++)
        memcpy(many + 2 * i, "0,", 2);
    many[129 * 2 - 1] = '\0';
    assert_int_equal(mmoe_config_set(c, "task.0.gate_bias", many), MMOE_ERR_CONFIG);
    many[128 * 2 - 1] = '\0'; /* 128 values: the limit */
    assert_int_equal(mmoe_config_set(c, "task.0.gate_bias", many), MMOE_OK);
    mmoe_config_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gradients),
        cmocka_unit_test(test_bias_init),
        cmocka_unit_test(test_mask_forbids),
        cmocka_unit_test(test_mask_is_an_offset),
        cmocka_unit_test(test_masked_expert_skipped),
        cmocka_unit_test(test_ple_batch1_skips),
        cmocka_unit_test(test_text_and_files),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
