/*
 * Finite-difference gradient checks of the Cross-Stitch and
 * Tensor-Factorization models (every parameter, 2 and 3 tasks, tanh and
 * relu, 1 and 2 hidden layers, mixed regression/binary tasks, per-task loss
 * weights and per-sample weights), plus: cross-stitch units start near the
 * identity, the tensor-factorisation parameter count matches the formula of
 * docs/models.md, and predict reproduces the training forward bit for bit.
 *
 * Tolerance (as in test_grad_model.c): the loss is float32 (relative
 * rounding ~6e-8 on a loss of order 1), so a central difference with step
 * eps = 1e-2 carries a rounding error ~6e-6 plus a truncation error
 * O(eps^2) ~ 1e-4 relative for smooth (tanh) networks; a wrong term gives
 * normalised errors of order 0.1-1, so the bound is 2e-3. The ReLU variants
 * use eps = 1e-3 (rounding ~6e-5, and no truncation error from a
 * piecewise-linear layer) with the kink rule below. The tensor factorisation multiplies four
 * factors per weight, which makes the loss a polynomial of degree 4 in them: still smooth, the same
 * bound holds.
 *
 * ReLU needs one more step here. A core entry of the factorisation or a
 * cross-stitch weight moves every pre-activation of its layer (7 rows x T
 * tasks x width units), so some probe p +- eps regularly crosses a kink
 * even at eps = 1e-3, and a smaller eps drowns in float32 rounding. Every
 * entry is therefore probed at p - eps, p and p + eps: where the two
 * one-sided differences agree (no kink within eps) the central difference
 * is used, exactly as gc_check does; where they disagree by more than
 * curvature and rounding allow (|d+ - d-| > 0.02 (|d+| + |d-|) + 2e-3; the
 * float32 loss of order 2 rounds each one-sided difference by ~2.4e-4), a
 * kink lies on one side and the one-sided slope of the other side is the
 * true derivative there, so the one closer to the analytic value is used.
 * A wrong gradient formula cannot hide behind this: it would be off on the
 * kink-free entries, and the test also requires that at most a quarter of
 * the entries needed the one-sided rule (a rank-1 core moves everything).
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

/*
 * Kink-aware normalised error (see the top comment); *kinks receives the
 * number of entries with a kink within eps.
 */
static double relu_check(float *p, const float *g, size_t n, void *c, double eps, size_t *kinks,
                         char *report, size_t cap)
{
    double diff2 = 0.0, a2 = 0.0, num2 = 0.0, worst = -1.0, worst_a = 0.0, worst_num = 0.0;
    size_t worst_i = 0;
    *kinks = 0;
    for (size_t i = 0; i < n; i++) {
        const float orig = p[i], up = (float)((double)orig + eps),
                    down = (float)((double)orig - eps);
        const double f0 = loss_fn(c);
        p[i] = up;
        const double fp = loss_fn(c);
        p[i] = down;
        const double fm = loss_fn(c);
        p[i] = orig;
        const double hp = (double)up - orig, hm = (double)orig - down, a = g[i];
        const double dp = (fp - f0) / hp, dm = (f0 - fm) / hm;
        double num = (fp - fm) / (hp + hm);
        if (fabs(dp - dm) > 0.02 * (fabs(dp) + fabs(dm)) + 2e-3) {
            (*kinks)++;
            num = fabs(a - dp) < fabs(a - dm) ? dp : dm;
        }
        const double d = a - num;
        diff2 += d * d;
        a2 += a * a;
        num2 += num * num;
        if (fabs(d) > worst || isnan(d)) {
            worst = isnan(d) ? INFINITY : fabs(d);
            worst_i = i;
            worst_a = a;
            worst_num = num;
        }
    }
    double denom = sqrt(a2) + sqrt(num2);
    const double err = sqrt(diff2) / (denom < 1e-12 ? 1e-12 : denom);
    snprintf(report, cap,
             "relu check: err %.3e over %zu entries (%zu with a kink within eps); worst [%zu] "
             "analytic %.6e numeric %.6e",
             err, n, *kinks, worst_i, worst_a, worst_num);
    return err;
}

static const size_t expert_w[2] = {6, 4};
static const size_t tower_w[2] = {3, 2};

/* Model with T tasks; n_layers hidden layers (widths {6,4} or {4}); rank 0 keeps the default. */
static mmoe_config *make_config(mmoe_arch arch, size_t T, mmoe_activation act, size_t n_layers,
                                int64_t rank)
{
    mmoe_config *cfg;
    assert_int_equal(mmoe_config_create(&cfg), MMOE_OK);
    assert_int_equal(mmoe_config_set_arch(cfg, arch), MMOE_OK);
    assert_int_equal(mmoe_config_set_int(cfg, "input.dense", D), MMOE_OK);
    assert_int_equal(mmoe_config_set_experts(cfg, 3, n_layers, expert_w + (2 - n_layers), act),
                     MMOE_OK);
    assert_int_equal(mmoe_config_set_int(cfg, "seed", 7), MMOE_OK);
    if (rank > 0)
        assert_int_equal(mmoe_config_set_int(cfg, "tf.rank", rank), MMOE_OK);
    for (size_t k = 0; k < T; k++) {
        char name[32];
        snprintf(name, sizeof name, "t%zu", k);
        mmoe_task_kind kind = k % 2 ? MMOE_TASK_BINARY : MMOE_TASK_REGRESSION;
        assert_int_equal(
            mmoe_config_add_task(cfg, name, kind, k % 3, tower_w, act, 0.5f + (float)k), MMOE_OK);
    }
    return cfg;
}

static void fill_data(ctx *c)
{
    gc_fill_uniform(c->x, B * D, 11, -1.5f, 1.5f);
    gc_fill_uniform(c->w, B, 12, 0.2f, 2.0f);
    gc_fill_uniform(c->y, B * c->T, 13, 0.0f, 1.0f);
    for (size_t i = 0; i < B * c->T; i++)
        if ((i % c->T) % 2 == 0)
            c->y[i] = c->y[i] * 4.0f - 2.0f; /* regression targets in [-2, 2] */
}

/* Index of the parameter called name, or the count when absent. */
static size_t find_param(mmoe_model *m, const char *name)
{
    size_t n = mmoe_model_param_count(m);
    for (size_t i = 0; i < n; i++) {
        const char *pname;
        assert_int_equal(mmoe_model_param(m, i, &pname, NULL, NULL), MMOE_OK);
        if (strcmp(pname, name) == 0)
            return i;
    }
    return n;
}

static void check_model(mmoe_arch arch, size_t T, mmoe_activation act, size_t n_layers,
                        int64_t rank)
{
    mmoe_config *cfg = make_config(arch, T, act, n_layers, rank);
    ctx c;
    c.T = T;
    assert_int_equal(mmoe_model_create(cfg, &c.m), MMOE_OK);
    fill_data(&c);

    /* Random biases: no ReLU sits exactly at its kink (see test_grad_model.c). */
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
    double err;
    if (act == MMOE_ACT_RELU) {
        size_t kinks;
        err = relu_check(params, g, n, &c, 1e-3, &kinks, report, sizeof report);
        assert_true(kinks <= n / 4);
    } else {
        err = gc_check(params, g, n, loss_fn, &c, 1e-2, 0, report, sizeof report);
    }
    print_message("%s T %zu act %d layers %zu rank %d (%zu params): %s\n",
                  arch == MMOE_ARCH_CROSS_STITCH ? "cross_stitch" : "tensor_factorization", T,
                  (int)act, n_layers, (int)rank, n, report);
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

static void test_cross_stitch_2_tasks(void **state)
{
    (void)state;
    check_model(MMOE_ARCH_CROSS_STITCH, 2, MMOE_ACT_TANH, 2, 0);
    check_model(MMOE_ARCH_CROSS_STITCH, 2, MMOE_ACT_RELU, 1, 0);
    check_model(MMOE_ARCH_CROSS_STITCH, 2, MMOE_ACT_RELU, 2, 0);
}

static void test_cross_stitch_3_tasks(void **state)
{
    (void)state;
    check_model(MMOE_ARCH_CROSS_STITCH, 3, MMOE_ACT_TANH, 2, 0);
    check_model(MMOE_ARCH_CROSS_STITCH, 3, MMOE_ACT_TANH, 1, 0);
    check_model(MMOE_ARCH_CROSS_STITCH, 3, MMOE_ACT_RELU, 2, 0);
}

static void test_tensor_factorization_2_tasks(void **state)
{
    (void)state;
    check_model(MMOE_ARCH_TENSOR_FACTORIZATION, 2, MMOE_ACT_TANH, 2, 3);
    check_model(MMOE_ARCH_TENSOR_FACTORIZATION, 2, MMOE_ACT_TANH, 1, 0);
    check_model(MMOE_ARCH_TENSOR_FACTORIZATION, 2, MMOE_ACT_RELU, 2, 0);
    check_model(MMOE_ARCH_TENSOR_FACTORIZATION, 2, MMOE_ACT_RELU, 1, 1);
}

static void test_tensor_factorization_3_tasks(void **state)
{
    (void)state;
    check_model(MMOE_ARCH_TENSOR_FACTORIZATION, 3, MMOE_ACT_TANH, 2, 2);
    check_model(MMOE_ARCH_TENSOR_FACTORIZATION, 3, MMOE_ACT_TANH, 1, 8);
    check_model(MMOE_ARCH_TENSOR_FACTORIZATION, 3, MMOE_ACT_RELU, 2, 4);
}

static void test_cross_stitch_init_identity(void **state)
{
    (void)state;
    for (size_t T = 1; T <= 3; T++) {
        mmoe_config *cfg = make_config(MMOE_ARCH_CROSS_STITCH, T, MMOE_ACT_RELU, 2, 0);
        mmoe_model *m;
        assert_int_equal(mmoe_model_create(cfg, &m), MMOE_OK);
        assert_int_equal(mmoe_model_num_experts(m), T);
        assert_int_equal(mmoe_model_num_gates(m), 0);
        for (size_t l = 0; l < 2; l++) {
            char name[64];
            snprintf(name, sizeof name, "cross_stitch.units.%zu", l);
            size_t i = find_param(m, name);
            assert_true(i < mmoe_model_param_count(m));
            mmoe_tensor *v;
            assert_int_equal(mmoe_model_param(m, i, NULL, &v, NULL), MMOE_OK);
            assert_int_equal(mmoe_tensor_rank(v), 2);
            assert_int_equal(mmoe_tensor_dim(v, 0), (int64_t)T);
            assert_int_equal(mmoe_tensor_dim(v, 1), (int64_t)T);
            const float *u = mmoe_tensor_cdata(v);
            for (size_t k = 0; k < T; k++) {
                float row = 0.0f;
                for (size_t j = 0; j < T; j++) {
                    float a = u[k * T + j];
                    row += a;
                    if (j == k)
                        assert_true(a >= 0.85f && a <= 1.0f);
                    else
                        assert_true(a >= 0.0f && a <= 0.1f + 1e-6f);
                }
                assert_true(fabsf(row - 1.0f) < 1e-6f); /* a convex mix: scale preserved */
            }
        }
        /* Per-task layers exist under their documented names. */
        for (size_t k = 0; k < T; k++) {
            char name[64];
            snprintf(name, sizeof name, "cross_stitch.%zu.layers.1.weight", k);
            assert_true(find_param(m, name) < mmoe_model_param_count(m));
        }
        /* Count: sum_l T (w_{l-1} w_l + w_l) + L T^2, plus the towers. */
        size_t towers = 0;
        for (size_t k = 0; k < T; k++) {
            size_t in = expert_w[1], nl = k % 3;
            for (size_t l = 0; l < nl; l++) {
                towers += in * tower_w[l] + tower_w[l];
                in = tower_w[l];
            }
            towers += in + 1;
        }
        size_t expect = T * (D * 6 + 6) + T * (6 * 4 + 4) + 2 * T * T + towers;
        assert_int_equal(mmoe_model_num_scalars(m), expect);
        mmoe_model_free(m);
        mmoe_config_free(cfg);
    }
}

static size_t min_sz(size_t a, size_t b)
{
    return a < b ? a : b;
}

static void test_tensor_factorization_param_count(void **state)
{
    (void)state;
    const int64_t ranks[] = {1, 2, 3, 4, 5, 6, 100};
    for (size_t T = 1; T <= 3; T++) {
        for (size_t ri = 0; ri < sizeof ranks / sizeof *ranks; ri++) {
            const size_t r = (size_t)ranks[ri];
            mmoe_config *cfg =
                make_config(MMOE_ARCH_TENSOR_FACTORIZATION, T, MMOE_ACT_TANH, 2, ranks[ri]);
            mmoe_model *m;
            assert_int_equal(mmoe_model_create(cfg, &m), MMOE_OK);
            assert_int_equal(mmoe_model_num_experts(m), T);
            assert_int_equal(mmoe_model_num_gates(m), 0);
            /* docs/models.md: per layer n r1 + m r2 + T r3 + r1 r2 r3 + T m. */
            size_t expect = 0, n_in = D;
            for (size_t l = 0; l < 2; l++) {
                size_t w = expert_w[l];
                size_t r1 = min_sz(n_in, r), r2 = min_sz(w, r), r3 = min_sz(T, r);
                expect += n_in * r1 + w * r2 + T * r3 + r1 * r2 * r3 + T * w;
                char name[64];
                snprintf(name, sizeof name, "tensor_factor.layers.%zu.core", l);
                size_t i = find_param(m, name);
                assert_true(i < mmoe_model_param_count(m));
                mmoe_tensor *v;
                assert_int_equal(mmoe_model_param(m, i, NULL, &v, NULL), MMOE_OK);
                assert_int_equal(mmoe_tensor_dim(v, 0), (int64_t)r1);
                assert_int_equal(mmoe_tensor_dim(v, 1), (int64_t)(r2 * r3));
                snprintf(name, sizeof name, "tensor_factor.layers.%zu.u_task", l);
                i = find_param(m, name);
                assert_true(i < mmoe_model_param_count(m));
                assert_int_equal(mmoe_model_param(m, i, NULL, &v, NULL), MMOE_OK);
                assert_int_equal(mmoe_tensor_dim(v, 0), (int64_t)T);
                assert_int_equal(mmoe_tensor_dim(v, 1), (int64_t)r3);
                snprintf(name, sizeof name, "tensor_factor.%zu.layers.%zu.bias", T - 1, l);
                assert_true(find_param(m, name) < mmoe_model_param_count(m));
                n_in = w;
            }
            for (size_t k = 0; k < T; k++) {
                size_t in = expert_w[1], nl = k % 3;
                for (size_t l = 0; l < nl; l++) {
                    expect += in * tower_w[l] + tower_w[l];
                    in = tower_w[l];
                }
                expect += in + 1;
            }
            assert_int_equal(mmoe_model_num_scalars(m), expect);
            mmoe_model_free(m);
            mmoe_config_free(cfg);
        }
    }
}

/* The generated weights have roughly the dense layers' initial scale. */
static void test_tensor_factorization_init_scale(void **state)
{
    (void)state;
    enum { N = 64 };
    mmoe_config *cfg;
    assert_int_equal(mmoe_config_create(&cfg), MMOE_OK);
    assert_int_equal(mmoe_config_set_arch(cfg, MMOE_ARCH_TENSOR_FACTORIZATION), MMOE_OK);
    assert_int_equal(mmoe_config_set_int(cfg, "input.dense", N), MMOE_OK);
    size_t w = 32;
    assert_int_equal(mmoe_config_set_experts(cfg, 1, 1, &w, MMOE_ACT_RELU), MMOE_OK);
    assert_int_equal(mmoe_config_set_int(cfg, "tf.rank", 8), MMOE_OK);
    assert_int_equal(
        mmoe_config_add_task(cfg, "a", MMOE_TASK_REGRESSION, 0, NULL, MMOE_ACT_RELU, 1.0f),
        MMOE_OK);
    assert_int_equal(
        mmoe_config_add_task(cfg, "b", MMOE_TASK_REGRESSION, 0, NULL, MMOE_ACT_RELU, 1.0f),
        MMOE_OK);
    mmoe_model *m;
    assert_int_equal(mmoe_model_create(cfg, &m), MMOE_OK);
    const char *names[4] = {"tensor_factor.layers.0.core", "tensor_factor.layers.0.u_in",
                            "tensor_factor.layers.0.u_out", "tensor_factor.layers.0.u_task"};
    const float *f[4];
    for (int i = 0; i < 4; i++) {
        size_t j = find_param(m, names[i]);
        assert_true(j < mmoe_model_param_count(m));
        mmoe_tensor *v;
        assert_int_equal(mmoe_model_param(m, j, NULL, &v, NULL), MMOE_OK);
        f[i] = mmoe_tensor_cdata(v);
    }
    /* Materialise W[i][o][k] = sum G[a][b][c] U1[i][a] U2[o][b] U3[k][c] (r1 = r2 = 8, r3 = 2). */
    const size_t r1 = 8, r2 = 8, r3 = 2;
    double s2[2] = {0.0, 0.0};
    for (size_t i = 0; i < N; i++)
        for (size_t o = 0; o < w; o++)
            for (size_t k = 0; k < 2; k++) {
                double acc = 0.0;
                for (size_t a = 0; a < r1; a++)
                    for (size_t b = 0; b < r2; b++)
                        for (size_t c = 0; c < r3; c++)
                            acc += (double)f[0][a * r2 * r3 + b * r3 + c] * f[1][i * r1 + a] *
                                   f[2][o * r2 + b] * f[3][k * r3 + c];
                s2[k] += acc * acc;
            }
    double var = (s2[0] + s2[1]) / (double)(N * w * 2), he = 2.0 / N;
    print_message(
        "tensor_factorization init: weight mean square %.4g (He %.4g), per task %.4g %.4g\n", var,
        he, s2[0] / (double)(N * w), s2[1] / (double)(N * w));
    /* Orthonormal factors and a core of fixed norm: exactly He on average. */
    assert_true(fabs(var - he) < 1e-3 * he);
    for (int k = 0; k < 2; k++) {
        double vk = s2[k] / (double)(N * w);
        assert_true(vk > he / 3.0 && vk < he * 3.0);
    }
    mmoe_model_free(m);
    mmoe_config_free(cfg);
}

static void check_predict(mmoe_arch arch, size_t T, size_t batch)
{
    mmoe_config *cfg = make_config(arch, T, MMOE_ACT_RELU, 2, 3);
    ctx c;
    c.T = T;
    assert_int_equal(mmoe_model_create(cfg, &c.m), MMOE_OK);
    fill_data(&c);
    float out_train[B * 8], out_pred[B * 8];
    assert_int_equal(mmoe_model_forward(c.m, batch, c.x, NULL), MMOE_OK);
    assert_int_equal(mmoe_model_outputs(c.m, out_train, batch * T), MMOE_OK);
    mmoe_workspace *ws;
    assert_int_equal(mmoe_workspace_create(c.m, batch, &ws), MMOE_OK);
    assert_int_equal(mmoe_model_predict(c.m, ws, batch, c.x, NULL, out_pred), MMOE_OK);
    assert_memory_equal(out_train, out_pred, batch * T * sizeof(float));
    /* Gate weights: one-hot on the task's own network. */
    float gw[B * 8];
    for (size_t k = 0; k < T; k++) {
        assert_int_equal(mmoe_model_gate_weights(c.m, k, gw, batch * T), MMOE_OK);
        for (size_t r = 0; r < batch; r++)
            for (size_t j = 0; j < T; j++)
                assert_true(gw[r * T + j] == (j == k ? 1.0f : 0.0f));
    }
    mmoe_workspace_free(ws);
    mmoe_model_free(c.m);
    mmoe_config_free(cfg);
}

static void test_predict_matches_forward(void **state)
{
    (void)state;
    for (size_t T = 2; T <= 3; T++) {
        check_predict(MMOE_ARCH_CROSS_STITCH, T, B);
        check_predict(MMOE_ARCH_CROSS_STITCH, T, 1);
        check_predict(MMOE_ARCH_TENSOR_FACTORIZATION, T, B);
        check_predict(MMOE_ARCH_TENSOR_FACTORIZATION, T, 1);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cross_stitch_2_tasks),
        cmocka_unit_test(test_cross_stitch_3_tasks),
        cmocka_unit_test(test_tensor_factorization_2_tasks),
        cmocka_unit_test(test_tensor_factorization_3_tasks),
        cmocka_unit_test(test_cross_stitch_init_identity),
        cmocka_unit_test(test_tensor_factorization_param_count),
        cmocka_unit_test(test_tensor_factorization_init_scale),
        cmocka_unit_test(test_predict_matches_forward),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
