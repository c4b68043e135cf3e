/*
 * Noisy top-k gating and the load-balancing auxiliary loss (Shazeer et al.
 * 2017; keys gate.noise, gate.balance.importance, gate.balance.load) on
 * MMoE, OMoE, stacked MMoE, CGC and PLE:
 *   - finite-difference gradients of every parameter (the noise weights
 *     included) of the training loss with the auxiliary terms, the noise
 *     FIXED BY SEED: every evaluation runs on a fresh model built from the
 *     same description (so the same random stream) with the parameters
 *     under test copied in, so each probe sees the same draws;
 *   - the importance term as reported in the total loss equals
 *     w CV(importance)^2 computed here from the gate weights (MMoE; CGC,
 *     whose task gates mix their own and the shared experts only);
 *   - training noise: two training forwards of one batch differ, predict
 *     is deterministic and noise-free (the same bits as a model without
 *     gate.noise holding the same other parameters), runs are
 *     reproducible by seed;
 *   - save -> load -> predict bit for bit; errors for invalid combinations.
 *
 * CGC and PLE (2 levels) have task-specific experts (2 for task a, 1 for
 * task b, beside the E shared ones): task gates over 7 and 6 experts, PLE's
 * shared gate of level 0 over 8, all top-2. The "prior" variants add a
 * gate_bias to task a's gate and a gate_mask with -inf to task b's.
 *
 * Tolerances as in test_grad_model.c: tanh networks, eps = 1e-2,
 * normalised error < 2e-3 (stacked MMoE: eps = 1e-3, see below). Top-k is piecewise smooth in the
 * logits; a probe that moved a selection would show as a jump far above the bound (the data and the
 * draws are fixed, so a pass does not depend on the run).
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

enum { B = 9, D = 5, E = 5, T = 2 };

/* Task-specific experts of CGC / PLE: 2 for task a, 1 for task b. */
enum { EA = 2, EB = 1, TOTAL = E + EA + EB };

static mmoe_config *describe(const char *arch, const char *imp, const char *load)
{
    mmoe_config *cfg;
    assert_int_equal(mmoe_config_create(&cfg), MMOE_OK);
    assert_int_equal(mmoe_config_set(cfg, "arch", arch), MMOE_OK);
    assert_int_equal(mmoe_config_set_int(cfg, "input.dense", D), MMOE_OK);
    size_t ew[2] = {6, 4};
    assert_int_equal(mmoe_config_set_experts(cfg, E, 2, ew, MMOE_ACT_TANH), MMOE_OK);
    assert_int_equal(mmoe_config_set_int(cfg, "seed", 4), MMOE_OK);
    assert_int_equal(mmoe_config_set(cfg, "gate.kind", "topk"), MMOE_OK);
    assert_int_equal(mmoe_config_set(cfg, "gate.top_k", "2"), MMOE_OK);
    assert_int_equal(mmoe_config_set(cfg, "gate.noise", "1"), MMOE_OK);
    assert_int_equal(mmoe_config_set(cfg, "gate.balance.importance", imp), MMOE_OK);
    assert_int_equal(mmoe_config_set(cfg, "gate.balance.load", load), MMOE_OK);
    size_t tw[1] = {3};
    assert_int_equal(
        mmoe_config_add_task(cfg, "a", MMOE_TASK_REGRESSION, 1, tw, MMOE_ACT_TANH, 1.0f), MMOE_OK);
    assert_int_equal(mmoe_config_add_task(cfg, "b", MMOE_TASK_BINARY, 0, NULL, MMOE_ACT_TANH, 1.5f),
                     MMOE_OK);
    if (strcmp(arch, "cgc") == 0 || strcmp(arch, "ple") == 0) {
        assert_int_equal(mmoe_config_set_int(cfg, "task.0.experts", EA), MMOE_OK);
        assert_int_equal(mmoe_config_set_int(cfg, "task.1.experts", EB), MMOE_OK);
    }
    if (strcmp(arch, "ple") == 0)
        assert_int_equal(mmoe_config_set_int(cfg, "levels", 2), MMOE_OK);
    return cfg;
}

/* describe, with gate priors: a bias on task a's gate, a mask with -inf on task b's (CGC, PLE). */
static mmoe_config *describe_prior(const char *arch, const char *imp, const char *load)
{
    mmoe_config *cfg = describe(arch, imp, load);
    assert_int_equal(mmoe_config_set(cfg, "task.0.gate_bias", "0.5,0,-0.3,0,0,0.2,0"), MMOE_OK);
    assert_int_equal(mmoe_config_set(cfg, "task.1.gate_mask", "0,-inf,0,0.5,0,0"), MMOE_OK);
    return cfg;
}

typedef struct ctx {
    const mmoe_config *cfg;
    float *params; /* the parameters under test (perturbed by gc_check) */
    size_t n;
    float x[B * D], y[B * T], w[B];
} ctx;

/* A fresh model (fresh random stream) holding c->params. */
static mmoe_model *fresh(ctx *c)
{
    mmoe_model *m;
    assert_int_equal(mmoe_model_create(c->cfg, &m), MMOE_OK);
    float *p;
    size_t n;
    assert_int_equal(mmoe_model_flat(m, &p, NULL, &n), MMOE_OK);
    assert_int_equal(n, c->n);
    memcpy(p, c->params, n * sizeof *p);
    return m;
}

static double loss_fn(void *p)
{
    ctx *c = p;
    mmoe_model *m = fresh(c);
    gc_model_batch batch = {m, B, c->x, c->y, c->w};
    double l = gc_model_loss(&batch);
    mmoe_model_free(m);
    return l;
}

/* Parameters of a model of cfg with spread gates and nonzero noise weights. */
static float *start_params(const mmoe_config *cfg, size_t *n)
{
    mmoe_model *m;
    assert_int_equal(mmoe_model_create(cfg, &m), MMOE_OK);
    gc_model_prepare(m, 100, "gate", 4.0f); /* gates.K, CGC / PLE also shared_gate */
    for (size_t i = 0; i < mmoe_model_param_count(m); i++) {
        const char *name;
        mmoe_tensor *v;
        assert_int_equal(mmoe_model_param(m, i, &name, &v, NULL), MMOE_OK);
        if (strstr(name, ".noise_weight"))
            gc_fill_uniform(mmoe_tensor_data(v), mmoe_tensor_numel(v), 31 + (unsigned)i, -0.8f,
                            0.8f);
    }
    float *p;
    assert_int_equal(mmoe_model_flat(m, &p, NULL, n), MMOE_OK);
    float *copy = malloc(*n * sizeof *copy);
    assert_non_null(copy);
    memcpy(copy, p, *n * sizeof *copy);
    mmoe_model_free(m);
    return copy;
}

static void fill(ctx *c)
{
    gc_fill_uniform(c->x, B * D, 11, -1.5f, 1.5f);
    gc_fill_uniform(c->w, B, 12, 0.2f, 2.0f);
    gc_fill_uniform(c->y, B * T, 13, 0.0f, 1.0f);
    for (size_t r = 0; r < B; r++)
        c->y[r * T] = c->y[r * T] * 4.0f - 2.0f;
}

typedef mmoe_config *(*describer)(const char *arch, const char *imp, const char *load);

static void check_grad_of(describer desc, const char *arch, const char *imp, const char *load,
                          double eps)
{
    ctx c;
    mmoe_config *cfg = desc(arch, imp, load);
    c.cfg = cfg;
    c.params = start_params(cfg, &c.n);
    fill(&c);
    mmoe_model *m = fresh(&c);
    gc_model_batch batch = {m, B, c.x, c.y, c.w};
    gc_model_loss(&batch);
    float *grads;
    assert_int_equal(mmoe_model_zero_grad(m), MMOE_OK);
    assert_int_equal(mmoe_model_backward(m), MMOE_OK);
    assert_int_equal(mmoe_model_flat(m, NULL, &grads, NULL), MMOE_OK);
    char report[256];
    double err = gc_check(c.params, grads, c.n, loss_fn, &c, eps, 0, report, sizeof report);
    print_message("%s%s noisy top-2, importance %s, load %s, step %g (%zu params): %s\n", arch,
                  desc == describe ? "" : " with priors", imp, load, eps, c.n, report);
    assert_true(err < 2e-3);
    mmoe_model_free(m);
    free(c.params);
    mmoe_config_free(cfg);
}

static void check_grad(const char *arch, const char *imp, const char *load, double eps)
{
    check_grad_of(describe, arch, imp, load, eps);
}

static void test_gradients(void **state)
{
    (void)state;
    check_grad("mmoe", "0", "0", 1e-2);
    check_grad("mmoe", "0.5", "0", 1e-2);
    check_grad("mmoe", "0", "0.5", 1e-2);
    check_grad("mmoe", "0.3", "0.7", 1e-2);
    check_grad("omoe", "0.3", "0.7", 1e-2);
    /*
     * Two levels, noise and balance at each. The second level's gates read
     * the first level's outputs, whose margins are smaller: a step of 1e-2
     * on an expert moves a top-2 selection there (a jump), 1e-3 does not.
     */
    check_grad("stacked_mmoe", "0", "0", 1e-3);
    check_grad("stacked_mmoe", "0.3", "0.7", 1e-3);
}

/*
 * CGC and PLE: every gate (task gates over 7 and 6 experts, PLE's level-0
 * shared gate over 8) noisy top-2 with both balance terms; the noise
 * weights of the shared gate and of every level are among the parameters
 * checked. PLE's second level reads the first level's outputs (small
 * margins, as in stacked MMoE): step 1e-3.
 */
static void test_gradients_ple(void **state)
{
    (void)state;
    check_grad("cgc", "0", "0", 1e-2);
    check_grad("cgc", "0.3", "0.7", 1e-2);
    check_grad_of(describe_prior, "cgc", "0.3", "0.7", 1e-2);
    check_grad("ple", "0", "0", 1e-3);
    check_grad("ple", "0.3", "0.7", 1e-3);
    check_grad_of(describe_prior, "ple", "0.3", "0.7", 1e-3);
}

/* Experts in the numbering of mmoe_model_gate_weights: E (MMoE), E shared then EA, EB (CGC / PLE).
 */
static size_t n_experts(const char *arch)
{
    return strcmp(arch, "cgc") == 0 || strcmp(arch, "ple") == 0 ? TOTAL : E;
}

/* Whether task k's gate mixes expert e (that numbering): CGC / PLE, the shared and its own. */
static int in_gate(const char *arch, size_t k, size_t e)
{
    if (n_experts(arch) == E)
        return 1;
    return e < E || (k == 0 ? e < E + EA : e >= E + EA);
}

/*
 * Total loss with importance weight w minus without = w CV(I)^2 of the gate
 * weights, summed over the gates (each over the experts it mixes).
 */
static void check_importance_value(const char *arch)
{
    ctx c;
    const size_t NX = n_experts(arch);
    mmoe_config *with = describe(arch, "0.5", "0"), *without = describe(arch, "0", "0");
    c.cfg = with;
    c.params = start_params(with, &c.n);
    fill(&c);
    mmoe_model *m1 = fresh(&c);
    c.cfg = without;
    mmoe_model *m0 = fresh(&c);
    float l1, l0;
    assert_int_equal(mmoe_model_forward(m1, B, c.x, NULL), MMOE_OK);
    assert_int_equal(mmoe_model_loss(m1, c.y, c.w, NULL, &l1), MMOE_OK);
    assert_int_equal(mmoe_model_forward(m0, B, c.x, NULL), MMOE_OK);
    assert_int_equal(mmoe_model_loss(m0, c.y, c.w, NULL, &l0), MMOE_OK);
    double aux = 0.0;
    for (size_t k = 0; k < T; k++) {
        float g[B * TOTAL], g0[B * TOTAL];
        assert_int_equal(mmoe_model_gate_weights(m1, k, g, B * NX), MMOE_OK);
        assert_int_equal(mmoe_model_gate_weights(m0, k, g0, B * NX), MMOE_OK);
        assert_memory_equal(g, g0, B * NX * sizeof *g); /* the same draws */
        double imp[TOTAL], mean = 0.0, var = 0.0;
        size_t n = 0;
        for (size_t e = 0; e < NX; e++) {
            if (!in_gate(arch, k, e))
                continue;
            imp[n] = 0.0;
            for (size_t r = 0; r < B; r++)
                imp[n] += g[r * NX + e];
            n++;
        }
        for (size_t e = 0; e < n; e++)
            mean += imp[e] / (double)n;
        for (size_t e = 0; e < n; e++)
            var += (imp[e] - mean) * (imp[e] - mean) / (double)n;
        aux += 0.5 * var / (mean * mean + 1e-10);
    }
    /* The load term is there too (same draws). */
    mmoe_config *load = describe(arch, "0", "0.5");
    c.cfg = load;
    mmoe_model *m2 = fresh(&c);
    float l2;
    assert_int_equal(mmoe_model_forward(m2, B, c.x, NULL), MMOE_OK);
    assert_int_equal(mmoe_model_loss(m2, c.y, c.w, NULL, &l2), MMOE_OK);
    print_message("%s: load term %.6f\n", arch, (double)(l2 - l0));
    assert_true(l2 - l0 > 1e-4f);
    mmoe_model_free(m2);
    mmoe_config_free(load);
    print_message("%s: importance term %.6f, loss difference %.6f\n", arch, aux, (double)(l1 - l0));
    assert_true(aux > 1e-3);
    assert_true(fabs((double)(l1 - l0) - aux) < 1e-5 * (1.0 + aux) + 1e-6 * fabs((double)l0));
    mmoe_model_free(m0);
    mmoe_model_free(m1);
    free(c.params);
    mmoe_config_free(with);
    mmoe_config_free(without);
}

static void test_importance_value(void **state)
{
    (void)state;
    check_importance_value("mmoe");
    check_importance_value("cgc"); /* one level: its task gates are all the gates */
}

/* Model m's parameter tensor called name, NULL when there is none. */
static mmoe_tensor *param_named(mmoe_model *m, const char *name)
{
    for (size_t i = 0; i < mmoe_model_param_count(m); i++) {
        const char *n;
        mmoe_tensor *v;
        assert_int_equal(mmoe_model_param(m, i, &n, &v, NULL), MMOE_OK);
        if (strcmp(n, name) == 0)
            return v;
    }
    return NULL;
}

/*
 * Predict of a noisy model gives the same bits as predict of a model of the
 * same description without gate.noise and gate.balance.* holding the same
 * other parameters (matched by name): the noise weights play no part.
 */
static void check_predict_clean(mmoe_model *noisy, const char *arch, const float *x)
{
    mmoe_config *cfg = describe(arch, "0", "0");
    assert_int_equal(mmoe_config_set(cfg, "gate.noise", "0"), MMOE_OK);
    mmoe_model *clean;
    assert_int_equal(mmoe_model_create(cfg, &clean), MMOE_OK);
    size_t copied = 0, noise = 0;
    for (size_t i = 0; i < mmoe_model_param_count(noisy); i++) {
        const char *name;
        mmoe_tensor *v;
        assert_int_equal(mmoe_model_param(noisy, i, &name, &v, NULL), MMOE_OK);
        if (strstr(name, ".noise_weight")) {
            noise++;
            continue;
        }
        mmoe_tensor *cv = param_named(clean, name);
        assert_non_null(cv);
        assert_int_equal(mmoe_tensor_numel(cv), mmoe_tensor_numel(v));
        memcpy(mmoe_tensor_data(cv), mmoe_tensor_data(v), mmoe_tensor_numel(v) * sizeof(float));
        copied++;
    }
    assert_int_equal(copied, mmoe_model_param_count(clean));
    assert_int_equal(copied + noise, mmoe_model_param_count(noisy));
    assert_true(noise > 0);
    mmoe_workspace *wn, *wc;
    float on[B * T], oc[B * T], o1[T], c1[T];
    assert_int_equal(mmoe_workspace_create(noisy, B, &wn), MMOE_OK);
    assert_int_equal(mmoe_workspace_create(clean, B, &wc), MMOE_OK);
    assert_int_equal(mmoe_model_predict(noisy, wn, B, x, NULL, on), MMOE_OK);
    assert_int_equal(mmoe_model_predict(clean, wc, B, x, NULL, oc), MMOE_OK);
    assert_memory_equal(on, oc, sizeof on);
    assert_int_equal(mmoe_model_predict(noisy, wn, 1, x, NULL, o1), MMOE_OK); /* sparse path */
    assert_int_equal(mmoe_model_predict(clean, wc, 1, x, NULL, c1), MMOE_OK);
    assert_memory_equal(o1, c1, sizeof o1);
    mmoe_workspace_free(wn);
    mmoe_workspace_free(wc);
    mmoe_model_free(clean);
    mmoe_config_free(cfg);
}

/* Noise in training only, from the model's stream: reproducible by seed. */
static void check_training_only(const char *arch)
{
    ctx c;
    const size_t NX = n_experts(arch);
    mmoe_config *cfg = describe(arch, "0.1", "0.1");
    c.cfg = cfg;
    c.params = start_params(cfg, &c.n);
    fill(&c);
    mmoe_model *a = fresh(&c), *b = fresh(&c);
    float g1[B * TOTAL], g2[B * TOTAL], h1[B * TOTAL];
    const size_t bytes = B * NX * sizeof *g1;
    assert_int_equal(mmoe_model_forward(a, B, c.x, NULL), MMOE_OK);
    assert_int_equal(mmoe_model_gate_weights(a, 0, g1, B * NX), MMOE_OK);
    assert_int_equal(mmoe_model_forward(a, B, c.x, NULL), MMOE_OK);
    assert_int_equal(mmoe_model_gate_weights(a, 0, g2, B * NX), MMOE_OK);
    assert_memory_not_equal(g1, g2, bytes); /* fresh draws each training forward */
    assert_int_equal(mmoe_model_forward(b, B, c.x, NULL), MMOE_OK);
    assert_int_equal(mmoe_model_gate_weights(b, 0, h1, B * NX), MMOE_OK);
    assert_memory_equal(g1, h1, bytes); /* same seed, same draws */
    /* Training steps from the same seed end with the same parameters. */
    mmoe_optimizer *oa, *ob;
    assert_int_equal(mmoe_optimizer_create(a, MMOE_OPTIMIZER_ADAM, &oa), MMOE_OK);
    assert_int_equal(mmoe_optimizer_create(b, MMOE_OPTIMIZER_ADAM, &ob), MMOE_OK);
    assert_int_equal(mmoe_model_forward(b, B, c.x, NULL), MMOE_OK); /* b's stream catches up */
    for (int s = 0; s < 3; s++) {
        float la, lb;
        assert_int_equal(mmoe_model_train_step(a, oa, B, c.x, NULL, c.y, c.w, NULL, &la), MMOE_OK);
        assert_int_equal(mmoe_model_train_step(b, ob, B, c.x, NULL, c.y, c.w, NULL, &lb), MMOE_OK);
        assert_true(la == lb);
    }
    float *pa, *pb;
    assert_int_equal(mmoe_model_flat(a, &pa, NULL, NULL), MMOE_OK);
    assert_int_equal(mmoe_model_flat(b, &pb, NULL, NULL), MMOE_OK);
    assert_memory_equal(pa, pb, c.n * sizeof *pa);
    /* Predict: no noise, the same answer every time, and the same as a loaded copy. */
    mmoe_workspace *ws;
    float o1[B * T], o2[B * T];
    assert_int_equal(mmoe_workspace_create(a, B, &ws), MMOE_OK);
    assert_int_equal(mmoe_model_predict(a, ws, B, c.x, NULL, o1), MMOE_OK);
    assert_int_equal(mmoe_model_predict(a, ws, B, c.x, NULL, o2), MMOE_OK);
    assert_memory_equal(o1, o2, sizeof o1);
    mmoe_workspace_free(ws);
    check_predict_clean(a, arch, c.x);
    gc_check_reload(a, B, c.x);
    mmoe_optimizer_free(oa);
    mmoe_optimizer_free(ob);
    mmoe_model_free(a);
    mmoe_model_free(b);
    free(c.params);
    mmoe_config_free(cfg);
}

static void test_noise_training_only(void **state)
{
    (void)state;
    check_training_only("mmoe");
    check_training_only("cgc");
    check_training_only("ple");
}

/*
 * CGC / PLE: every gate has its noise weights, named after its weight and
 * of its shape; save -> load -> predict bit for bit (with priors).
 */
static void check_ple_names_reload(const char *arch)
{
    mmoe_config *cfg = describe_prior(arch, "0.2", "0.2");
    mmoe_model *m;
    assert_int_equal(mmoe_model_create(cfg, &m), MMOE_OK);
    size_t weights = 0, noise = 0;
    for (size_t i = 0; i < mmoe_model_param_count(m); i++) {
        const char *name;
        mmoe_tensor *v;
        assert_int_equal(mmoe_model_param(m, i, &name, &v, NULL), MMOE_OK);
        const char *dot = strrchr(name, '.');
        if (!strstr(name, "gate") || strcmp(dot, ".weight") != 0)
            continue;
        weights++;
        char sibling[128];
        snprintf(sibling, sizeof sibling, "%.*s.noise_weight", (int)(dot - name), name);
        mmoe_tensor *u = param_named(m, sibling);
        if (!u)
            continue;
        noise++;
        assert_int_equal(mmoe_tensor_numel(u), mmoe_tensor_numel(v));
        for (size_t e = 0; e < mmoe_tensor_numel(u); e++)
            assert_true(mmoe_tensor_data(u)[e] == 0.0f); /* starts at zero */
    }
    /* CGC: 2 task gates; PLE: 2 task gates at each level and the level-0 shared gate */
    assert_int_equal(weights, strcmp(arch, "ple") == 0 ? 5 : 2);
    assert_int_equal(noise, weights);
    float x[B * D], y[B * T];
    gc_fill_uniform(x, B * D, 21, -1.0f, 1.0f);
    gc_fill_uniform(y, B * T, 22, 0.0f, 1.0f);
    mmoe_optimizer *o;
    assert_int_equal(mmoe_optimizer_create(m, MMOE_OPTIMIZER_ADAM, &o), MMOE_OK);
    for (int s = 0; s < 5; s++)
        assert_int_equal(mmoe_model_train_step(m, o, B, x, NULL, y, NULL, NULL, NULL), MMOE_OK);
    gc_check_reload(m, B, x);
    mmoe_optimizer_free(o);
    mmoe_model_free(m);
    mmoe_config_free(cfg);
}

static void test_ple_names_reload(void **state)
{
    (void)state;
    check_ple_names_reload("cgc");
    check_ple_names_reload("ple");
}

static void refused(const char *key, const char *value, const char *arch, const char *msg)
{
    mmoe_config *cfg = describe(arch, "0", "0.5");
    assert_int_equal(mmoe_config_set(cfg, key, value), MMOE_OK);
    mmoe_model *m;
    assert_int_equal(mmoe_model_create(cfg, &m), MMOE_ERR_CONFIG);
    print_message("%s %s on %s: %s\n", key, value, arch, mmoe_last_error());
    assert_non_null(strstr(mmoe_last_error(), msg));
    mmoe_config_free(cfg);
}

static void test_errors(void **state)
{
    (void)state;
    refused("gate.kind", "softmax", "mmoe", "gate.noise 1 needs gate.kind topk");
    refused("gate.noise", "0", "mmoe", "gate.balance.load needs gate.noise 1");
    refused("gate.kind", "softmax", "ple", "gate.noise 1 needs gate.kind topk");
    refused("gate.noise", "0", "cgc", "gate.balance.load needs gate.noise 1");
    mmoe_config *c;
    assert_int_equal(mmoe_config_create(&c), MMOE_OK);
    assert_int_equal(mmoe_config_set(c, "gate.balance.importance", "-1"), MMOE_ERR_CONFIG);
    assert_int_equal(mmoe_config_set(c, "gate.balance.load", "nan"), MMOE_ERR_CONFIG);
    assert_int_equal(mmoe_config_set(c, "gate.noise", "2"), MMOE_ERR_CONFIG);
    mmoe_config_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gradients),        cmocka_unit_test(test_gradients_ple),
        cmocka_unit_test(test_importance_value), cmocka_unit_test(test_noise_training_only),
        cmocka_unit_test(test_ple_names_reload), cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
