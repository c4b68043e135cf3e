/* Model construction, parameter layout, predict vs training forward, gates. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <mmoe/mmoe.h>

enum { D = 10, E = 4, T = 3 };

static mmoe_model *make_model(mmoe_arch arch, uint64_t seed)
{
    mmoe_config *c;
    assert_int_equal(mmoe_config_create(&c), MMOE_OK);
    assert_int_equal(mmoe_config_set_arch(c, arch), MMOE_OK);
    assert_int_equal(mmoe_config_set_int(c, "input.dense", D), MMOE_OK);
    assert_int_equal(mmoe_config_set_int(c, "seed", (int64_t)seed), MMOE_OK);
    size_t w[2] = {12, 6};
    assert_int_equal(mmoe_config_set_experts(c, E, 2, w, MMOE_ACT_RELU), MMOE_OK);
    size_t h[1] = {5};
    assert_int_equal(mmoe_config_add_task(c, "a", MMOE_TASK_BINARY, 1, h, MMOE_ACT_RELU, 1.0f),
                     MMOE_OK);
    assert_int_equal(
        mmoe_config_add_task(c, "b", MMOE_TASK_REGRESSION, 0, NULL, MMOE_ACT_RELU, 1.0f), MMOE_OK);
    assert_int_equal(mmoe_config_add_task(c, "c", MMOE_TASK_BINARY, 1, h, MMOE_ACT_TANH, 2.0f),
                     MMOE_OK);
    mmoe_model *m;
    assert_int_equal(mmoe_model_create(c, &m), MMOE_OK);
    mmoe_config_free(c);
    return m;
}

static void fill(float *x, size_t n, unsigned seed)
{
    uint64_t s = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        x[i] = (float)((double)(s >> 40) / (double)(1ULL << 24)) * 4.0f - 2.0f;
    }
}

static const float *param(mmoe_model *m, const char *name, size_t *numel)
{
    for (size_t i = 0; i < mmoe_model_param_count(m); i++) {
        const char *pn;
        mmoe_tensor *v;
        assert_int_equal(mmoe_model_param(m, i, &pn, &v, NULL), MMOE_OK);
        if (strcmp(pn, name) == 0) {
            *numel = mmoe_tensor_numel(v);
            return mmoe_tensor_cdata(v);
        }
    }
    fail_msg("no parameter %s", name);
    return NULL;
}

static void test_layout_and_names(void **state)
{
    (void)state;
    mmoe_model *m = make_model(MMOE_ARCH_MMOE, 1);
    assert_int_equal(mmoe_model_num_tasks(m), T);
    assert_int_equal(mmoe_model_input_dim(m), D);
    assert_int_equal(mmoe_model_num_experts(m), E);
    assert_int_equal(mmoe_model_num_gates(m), T);
    size_t total = 0;
    for (size_t i = 0; i < mmoe_model_param_count(m); i++) {
        mmoe_tensor *v, *g;
        assert_int_equal(mmoe_model_param(m, i, NULL, &v, &g), MMOE_OK);
        assert_int_equal(mmoe_tensor_numel(v), mmoe_tensor_numel(g));
        total += mmoe_tensor_numel(v);
    }
    /* experts: E*(12*10+12 + 6*12+6); gates: T*E*D; towers a,c: 5*6+5+5+1, b: 6+1 */
    size_t want = E * (12 * 10 + 12 + 6 * 12 + 6) + T * E * D + 2 * (5 * 6 + 5 + 5 + 1) + 7;
    assert_int_equal(total, want);
    assert_int_equal(mmoe_model_num_scalars(m), want);
    size_t n;
    param(m, "experts.3.layers.1.weight", &n);
    assert_int_equal(n, 6 * 12);
    param(m, "gates.2.weight", &n);
    assert_int_equal(n, E * D);
    param(m, "towers.1.layers.0.weight", &n);
    assert_int_equal(n, 6);
    param(m, "towers.0.layers.1.bias", &n);
    assert_int_equal(n, 1);
    const char *name;
    mmoe_task_kind kind;
    assert_int_equal(mmoe_model_task(m, 1, &name, &kind), MMOE_OK);
    assert_string_equal(name, "b");
    assert_int_equal(kind, MMOE_TASK_REGRESSION);
    assert_int_equal(mmoe_model_task(m, 3, &name, &kind), MMOE_ERR_RANGE);
    mmoe_model_free(m);

    m = make_model(MMOE_ARCH_OMOE, 1);
    assert_int_equal(mmoe_model_num_gates(m), 1);
    mmoe_model_free(m);
    m = make_model(MMOE_ARCH_SHARED_BOTTOM, 1);
    assert_int_equal(mmoe_model_num_gates(m), 0);
    assert_int_equal(mmoe_model_num_experts(m), 1);
    mmoe_model_free(m);
    m = make_model(MMOE_ARCH_SINGLE_TASK, 1);
    assert_int_equal(mmoe_model_num_experts(m), T);
    mmoe_model_free(m);
}

static void test_init_seeded_and_experts_differ(void **state)
{
    (void)state;
    mmoe_model *a = make_model(MMOE_ARCH_MMOE, 5), *b = make_model(MMOE_ARCH_MMOE, 5),
               *c = make_model(MMOE_ARCH_MMOE, 6);
    float *pa, *pb, *pc;
    size_t na, nb, nc;
    mmoe_model_flat(a, &pa, NULL, &na);
    mmoe_model_flat(b, &pb, NULL, &nb);
    mmoe_model_flat(c, &pc, NULL, &nc);
    assert_int_equal(na, nb);
    assert_memory_equal(pa, pb, na * sizeof(float));
    assert_memory_not_equal(pa, pc, na * sizeof(float));
    /* No two experts (and no two gates) start equal; weights are not constant. */
    for (size_t i = 0; i < E; i++)
        for (size_t j = i + 1; j < E; j++) {
            char ni[64], nj[64];
            size_t n1, n2;
            snprintf(ni, sizeof ni, "experts.%zu.layers.0.weight", i);
            snprintf(nj, sizeof nj, "experts.%zu.layers.0.weight", j);
            const float *wi = param(a, ni, &n1), *wj = param(a, nj, &n2);
            assert_memory_not_equal(wi, wj, n1 * sizeof(float));
        }
    size_t n;
    const float *w = param(a, "experts.0.layers.0.weight", &n);
    double mean = 0, var = 0;
    for (size_t i = 0; i < n; i++)
        mean += w[i] / (double)n;
    for (size_t i = 0; i < n; i++)
        var += (w[i] - mean) * (w[i] - mean) / (double)n;
    /* He-normal for relu: variance 2 / fan_in = 0.2 (loose bound for 120 draws). */
    assert_true(var > 0.1 && var < 0.35);
    mmoe_model_free(a);
    mmoe_model_free(b);
    mmoe_model_free(c);
}

static void check_predict_matches_forward(mmoe_arch arch)
{
    mmoe_model *m = make_model(arch, 3);
    enum { NB = 37 };
    float x[NB * D], train_out[NB * T], pred[NB * T], one[T];
    fill(x, NB * D, 9);
    assert_int_equal(mmoe_model_forward(m, NB, x, NULL), MMOE_OK);
    assert_int_equal(mmoe_model_outputs(m, train_out, NB * T), MMOE_OK);

    mmoe_workspace *ws;
    assert_int_equal(mmoe_workspace_create(m, NB, &ws), MMOE_OK);
    assert_true(mmoe_workspace_size(m, NB) > 0);
    assert_int_equal(mmoe_model_predict(m, ws, NB, x, NULL, pred), MMOE_OK);
    /* Same batch, same code path: bit-identical. */
    assert_memory_equal(pred, train_out, sizeof pred);
    mmoe_workspace_free(ws);

    /* Chunked (workspace smaller than the batch) and batch-1 (gemv path) agree closely. */
    assert_int_equal(mmoe_workspace_create(m, 8, &ws), MMOE_OK);
    assert_int_equal(mmoe_model_predict(m, ws, NB, x, NULL, pred), MMOE_OK);
    for (size_t i = 0; i < NB * T; i++)
        assert_true(fabsf(pred[i] - train_out[i]) <= 1e-5f * (1.0f + fabsf(train_out[i])));
    for (size_t r = 0; r < NB; r++) {
        assert_int_equal(mmoe_model_predict(m, ws, 1, x + r * D, NULL, one), MMOE_OK);
        for (size_t k = 0; k < T; k++)
            assert_true(fabsf(one[k] - train_out[r * T + k]) <=
                        1e-5f * (1.0f + fabsf(train_out[r * T + k])));
    }
    /* Training forward at batch 1 equals predict at batch 1 bit for bit. */
    assert_int_equal(mmoe_model_forward(m, 1, x, NULL), MMOE_OK);
    float tf1[T];
    assert_int_equal(mmoe_model_outputs(m, tf1, T), MMOE_OK);
    assert_int_equal(mmoe_model_predict(m, ws, 1, x, NULL, one), MMOE_OK);
    assert_memory_equal(one, tf1, sizeof one);
    /* Binary outputs are probabilities. */
    for (size_t r = 0; r < NB; r++) {
        assert_true(train_out[r * T] > 0.0f && train_out[r * T] < 1.0f);
        assert_true(train_out[r * T + 2] > 0.0f && train_out[r * T + 2] < 1.0f);
    }
    mmoe_workspace_free(ws);
    mmoe_model_free(m);
}

static void test_predict_matches_forward(void **state)
{
    (void)state;
    check_predict_matches_forward(MMOE_ARCH_MMOE);
    check_predict_matches_forward(MMOE_ARCH_OMOE);
    check_predict_matches_forward(MMOE_ARCH_SHARED_BOTTOM);
    check_predict_matches_forward(MMOE_ARCH_SINGLE_TASK);
}

static void test_gate_weights(void **state)
{
    (void)state;
    enum { NB = 5 };
    float x[NB * D], g[NB * E];
    fill(x, NB * D, 4);
    mmoe_model *m = make_model(MMOE_ARCH_MMOE, 2);
    assert_int_equal(mmoe_model_gate_weights(m, 0, g, NB * E), MMOE_ERR_STATE);
    assert_int_equal(mmoe_model_forward(m, NB, x, NULL), MMOE_OK);
    float g0[NB * E];
    assert_int_equal(mmoe_model_gate_weights(m, 0, g0, NB * E), MMOE_OK);
    for (size_t k = 0; k < T; k++) {
        assert_int_equal(mmoe_model_gate_weights(m, k, g, NB * E), MMOE_OK);
        for (size_t r = 0; r < NB; r++) {
            double s = 0;
            for (size_t e = 0; e < E; e++) {
                assert_true(g[r * E + e] > 0.0f);
                s += g[r * E + e];
            }
            assert_true(fabs(s - 1.0) < 1e-5);
        }
        if (k > 0) /* MMoE: each task has its own gate */
            assert_memory_not_equal(g, g0, sizeof g);
    }
    assert_int_equal(mmoe_model_gate_weights(m, T, g, NB * E), MMOE_ERR_RANGE);
    assert_int_equal(mmoe_model_gate_weights(m, 0, g, NB * E - 1), MMOE_ERR_RANGE);
    mmoe_model_free(m);

    /* OMoE: every task reads the same gate. */
    m = make_model(MMOE_ARCH_OMOE, 2);
    assert_int_equal(mmoe_model_forward(m, NB, x, NULL), MMOE_OK);
    assert_int_equal(mmoe_model_gate_weights(m, 0, g0, NB * E), MMOE_OK);
    assert_int_equal(mmoe_model_gate_weights(m, 2, g, NB * E), MMOE_OK);
    assert_memory_equal(g, g0, sizeof g);
    mmoe_model_free(m);

    /* Single-task: fixed one-hot routing, task k on expert k. */
    m = make_model(MMOE_ARCH_SINGLE_TASK, 2);
    assert_int_equal(mmoe_model_forward(m, NB, x, NULL), MMOE_OK);
    float gs[NB * T];
    assert_int_equal(mmoe_model_gate_weights(m, 1, gs, NB * T), MMOE_OK);
    for (size_t r = 0; r < NB; r++)
        for (size_t e = 0; e < T; e++)
            assert_true(gs[r * T + e] == (e == 1 ? 1.0f : 0.0f));
    mmoe_model_free(m);
}

/* A tensor of the model file by name: parameters and running statistics. */
static const float *file_tensor(mmoe_model *m, const char *name)
{
    for (size_t i = 0; i < mmoe_model_file_tensor_count(m); i++) {
        const char *tn;
        mmoe_tensor *v;
        assert_int_equal(mmoe_model_file_tensor(m, i, &tn, &v, NULL), MMOE_OK);
        if (strcmp(tn, name) == 0)
            return mmoe_tensor_cdata(v);
    }
    fail_msg("no tensor %s", name);
    return NULL;
}

/*
 * Gate weights in inference mode (mmoe_model_predict_gate_weights): an
 * MMoE with a DNN input stage (batch-norm, dropout), trained a few steps so
 * that running and batch statistics differ. Each row's weights equal
 * softmax(W_k relu(bn(W0 x + b0))) computed here from the stored tensors
 * with the running statistics; they do not depend on the batch (batch 1,
 * other rows) and differ from the training forward's.
 */
static void test_predict_gate_weights(void **state)
{
    (void)state;
    enum { NB = 6, H = 7 };
    mmoe_config *c;
    assert_int_equal(mmoe_config_create(&c), MMOE_OK);
    assert_int_equal(mmoe_config_set_int(c, "input.dense", D), MMOE_OK);
    assert_int_equal(mmoe_config_set(c, "dnn.layers", "7"), MMOE_OK);
    assert_int_equal(mmoe_config_set(c, "dnn.batchnorm", "1"), MMOE_OK);
    assert_int_equal(mmoe_config_set(c, "dnn.dropout", "0.2"), MMOE_OK);
    size_t w[1] = {5};
    assert_int_equal(mmoe_config_set_experts(c, E, 1, w, MMOE_ACT_RELU), MMOE_OK);
    for (size_t k = 0; k < T; k++)
        assert_int_equal(mmoe_config_add_task(c,
                                              k == 1 ? "b"
                                              : k    ? "c"
                                                     : "a",
                                              MMOE_TASK_BINARY, 0, NULL, MMOE_ACT_RELU, 1.0f),
                         MMOE_OK);
    mmoe_model *m;
    assert_int_equal(mmoe_model_create(c, &m), MMOE_OK);
    mmoe_config_free(c);
    mmoe_optimizer *opt;
    assert_int_equal(mmoe_optimizer_create(m, MMOE_OPTIMIZER_SGD, &opt), MMOE_OK);
    float x[NB * D], y[NB * T], out[NB * T];
    for (unsigned s = 0; s < 5; s++) {
        fill(x, NB * D, 20 + s);
        for (size_t i = 0; i < NB * T; i++)
            y[i] = (float)((i * 7 + s) % 3 == 0);
        assert_int_equal(mmoe_model_train_step(m, opt, NB, x, NULL, y, NULL, NULL, NULL), MMOE_OK);
    }
    mmoe_optimizer_free(opt);

    mmoe_workspace *ws, *ws1;
    assert_int_equal(mmoe_workspace_create(m, 8, &ws), MMOE_OK);
    assert_int_equal(mmoe_workspace_create(m, 1, &ws1), MMOE_OK);
    float g[NB * E], g1[E], gt[NB * E];
    double want[T][NB * E];
    assert_int_equal(mmoe_model_predict_gate_weights(m, ws, 0, g, NB * E), MMOE_ERR_STATE);
    fill(x, NB * D, 99);
    assert_int_equal(mmoe_model_predict(m, ws, NB, x, NULL, out), MMOE_OK);
    const float *W0 = file_tensor(m, "input.dnn.0.weight"),
                *b0 = file_tensor(m, "input.dnn.0.bias");
    const float *gamma = file_tensor(m, "input.dnn.0.bn.gamma");
    const float *beta = file_tensor(m, "input.dnn.0.bn.beta");
    const float *rm = file_tensor(m, "input.dnn.0.bn.running_mean");
    const float *rv = file_tensor(m, "input.dnn.0.bn.running_var");
    double train_gap = 0.0;
    for (size_t k = 0; k < T; k++) {
        char name[32];
        snprintf(name, sizeof name, "gates.%zu.weight", k);
        const float *Wg = file_tensor(m, name);
        assert_int_equal(mmoe_model_predict_gate_weights(m, ws, k, g, NB * E), MMOE_OK);
        for (size_t r = 0; r < NB; r++) {
            double h[H], z[E], zmax = -INFINITY, zsum = 0.0;
            for (size_t j = 0; j < H; j++) {
                double a = b0[j];
                for (size_t i = 0; i < D; i++)
                    a += (double)W0[j * D + i] * x[r * D + i];
                a = gamma[j] * (a - rm[j]) / sqrt((double)rv[j] + 1e-5) + beta[j];
                h[j] = a > 0.0 ? a : 0.0;
            }
            for (size_t e = 0; e < E; e++) {
                z[e] = 0.0;
                for (size_t j = 0; j < H; j++)
                    z[e] += (double)Wg[e * H + j] * h[j];
                zmax = z[e] > zmax ? z[e] : zmax;
            }
            for (size_t e = 0; e < E; e++)
                zsum += exp(z[e] - zmax);
            /* batch 1 through another workspace: the same row's weights */
            assert_int_equal(mmoe_model_predict(m, ws1, 1, x + r * D, NULL, out), MMOE_OK);
            assert_int_equal(mmoe_model_predict_gate_weights(m, ws1, k, g1, E), MMOE_OK);
            for (size_t e = 0; e < E; e++) {
                want[k][r * E + e] = exp(z[e] - zmax) / zsum;
                assert_true(fabs(g[r * E + e] - want[k][r * E + e]) < 1e-5);
                assert_true(fabs(g1[e] - g[r * E + e]) < 1e-6);
            }
        }
    }
    /* the training forward (which also moves the running statistics) */
    assert_int_equal(mmoe_model_forward(m, NB, x, NULL), MMOE_OK);
    for (size_t k = 0; k < T; k++) {
        assert_int_equal(mmoe_model_gate_weights(m, k, gt, NB * E), MMOE_OK);
        for (size_t i = 0; i < NB * E; i++)
            train_gap = fmax(train_gap, fabs(gt[i] - want[k][i]));
    }
    assert_true(train_gap > 1e-3); /* the training forward uses batch statistics and dropout */

    /* errors: cap, task, workspace of another model, a chunked predict, NULLs */
    assert_int_equal(mmoe_model_predict_gate_weights(m, ws, 0, g, NB * E - 1), MMOE_ERR_RANGE);
    assert_int_equal(mmoe_model_predict_gate_weights(m, ws, T, g, NB * E), MMOE_ERR_RANGE);
    assert_int_equal(mmoe_model_predict_gate_weights(m, NULL, 0, g, NB * E), MMOE_ERR_NULL);
    assert_int_equal(mmoe_model_predict_gate_weights(NULL, ws, 0, g, NB * E), MMOE_ERR_NULL);
    assert_int_equal(mmoe_model_predict_gate_weights(m, ws, 0, NULL, NB * E), MMOE_ERR_NULL);
    mmoe_model *other = make_model(MMOE_ARCH_MMOE, 1);
    assert_int_equal(mmoe_model_predict_gate_weights(other, ws, 0, g, NB * E),
                     MMOE_ERR_INVALID_ARG);
    mmoe_model_free(other);
    assert_int_equal(mmoe_model_predict(m, ws1, 2, x, NULL, out), MMOE_OK); /* two chunks of 1 */
    assert_int_equal(mmoe_model_predict_gate_weights(m, ws1, 0, g, NB * E), MMOE_ERR_STATE);
    assert_non_null(strstr(mmoe_workspace_last_error(ws1), "max_batch"));
    mmoe_workspace_free(ws1);
    mmoe_workspace_free(ws);
    mmoe_model_free(m);
}

static void test_config_round_trip_through_model(void **state)
{
    (void)state;
    mmoe_model *m = make_model(MMOE_ARCH_OMOE, 77);
    mmoe_config *c;
    assert_int_equal(mmoe_model_get_config(m, &c), MMOE_OK);
    char *text;
    assert_int_equal(mmoe_config_to_string(c, &text), MMOE_OK);
    assert_non_null(strstr(text, "arch omoe\n"));
    assert_non_null(strstr(text, "seed 77\n"));
    /* A model rebuilt from the description has the same initial parameters. */
    mmoe_model *m2;
    assert_int_equal(mmoe_model_create(c, &m2), MMOE_OK);
    float *p1, *p2;
    size_t n1, n2;
    mmoe_model_flat(m, &p1, NULL, &n1);
    mmoe_model_flat(m2, &p2, NULL, &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(p1, p2, n1 * sizeof(float));
    mmoe_string_free(text);
    mmoe_config_free(c);
    mmoe_model_free(m2);
    mmoe_model_free(m);
}

/*
 * A workspace or optimizer kept after its model was freed is refused by a
 * new model, even one that the allocator places at the same address (the
 * check compares a unique model id, not only the pointer).
 */
static void test_stale_workspace_and_optimizer_refused(void **state)
{
    (void)state;
    int reused = 0;
    for (int round = 0; round < 4; round++) {
        mmoe_model *a = make_model(MMOE_ARCH_MMOE, 1);
        mmoe_workspace *ws;
        mmoe_optimizer *opt;
        mmoe_config *cfg;
        assert_int_equal(mmoe_workspace_create(a, 4, &ws), MMOE_OK);
        assert_int_equal(mmoe_optimizer_create(a, MMOE_OPTIMIZER_SGD, &opt), MMOE_OK);
        assert_int_equal(mmoe_model_get_config(a, &cfg), MMOE_OK);
        uintptr_t old = (uintptr_t)a;
        mmoe_model_free(a);
        /* The same description right away: allocators tend to hand back a's block. */
        mmoe_model *b;
        assert_int_equal(mmoe_model_create(cfg, &b), MMOE_OK);
        mmoe_config_free(cfg);
        reused += (uintptr_t)b == old;
        float x[4 * D], y[4 * T], out[4 * T], loss;
        fill(x, 4 * D, 5);
        for (size_t i = 0; i < 4 * T; i++)
            y[i] = (float)(i % 2);
        assert_int_equal(mmoe_model_predict(b, ws, 4, x, NULL, out), MMOE_ERR_INVALID_ARG);
        assert_non_null(strstr(mmoe_workspace_last_error(ws), "another model"));
        assert_int_equal(mmoe_model_train_step(b, opt, 4, x, NULL, y, NULL, NULL, &loss),
                         MMOE_ERR_INVALID_ARG);
        mmoe_optimizer_free(opt);
        mmoe_workspace_free(ws);
        mmoe_model_free(b);
    }
    print_message("stale handles: the new model reused the old address in %d of 4 rounds\n",
                  reused);
}

/*
 * Finite inputs so large that the outputs overflow: predict reports
 * MMOE_ERR_NONFINITE instead of returning NaN with MMOE_OK.
 */
static void test_predict_reports_nonfinite_outputs(void **state)
{
    (void)state;
    mmoe_model *m = make_model(MMOE_ARCH_MMOE, 2);
    mmoe_workspace *ws;
    assert_int_equal(mmoe_workspace_create(m, 3, &ws), MMOE_OK);
    float x[3 * D], out[3 * T];
    for (size_t b = 1; b <= 3; b++) {
        fill(x, 3 * D, 7);
        for (size_t i = 0; i < b * D; i++)
            x[i] = x[i] < 0.0f ? -3.4e38f : 3.4e38f;
        assert_int_equal(mmoe_model_predict(m, ws, b, x, NULL, out), MMOE_ERR_NONFINITE);
        assert_non_null(strstr(mmoe_workspace_last_error(ws), "not finite"));
        /* The model and workspace stay usable. */
        fill(x, 3 * D, 7);
        assert_int_equal(mmoe_model_predict(m, ws, b, x, NULL, out), MMOE_OK);
        for (size_t i = 0; i < b * T; i++)
            assert_true(isfinite(out[i]));
    }
    mmoe_workspace_free(ws);
    mmoe_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layout_and_names),
        cmocka_unit_test(test_init_seeded_and_experts_differ),
        cmocka_unit_test(test_predict_matches_forward),
        cmocka_unit_test(test_gate_weights),
        cmocka_unit_test(test_predict_gate_weights),
        cmocka_unit_test(test_config_round_trip_through_model),
        cmocka_unit_test(test_stale_workspace_and_optimizer_refused),
        cmocka_unit_test(test_predict_reports_nonfinite_outputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
