/*
 * End-to-end training on the paper's synthetic data: every architecture
 * (MMoE at p = 0.5; all seven kinds at p = 0.9) must bring the test MSE of
 * both tasks below 50 % of the label variance within a few seconds, and the
 * training loss must go down. This is the functional proof that forward,
 * backward and the optimizer fit together for each model.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include <mmoe/mmoe.h>
#include <mmoe/synth.h>

enum { D = 100, T = 2, NTRAIN = 8000, NTEST = 2000, BATCH = 64, EPOCHS = 12 };

static void make_data(float *x, float *y, size_t n, uint64_t seed, double corr)
{
    mmoe_synth_config *sc;
    mmoe_synth *gen;
    assert_int_equal(mmoe_synth_config_create(&sc), MMOE_OK);
    assert_int_equal(mmoe_synth_config_set_dim(sc, D), MMOE_OK);
    assert_int_equal(mmoe_synth_config_set_correlation(sc, corr), MMOE_OK);
    assert_int_equal(mmoe_synth_config_set_seed(sc, seed), MMOE_OK);
    assert_int_equal(mmoe_synth_create(sc, &gen), MMOE_OK);
    assert_int_equal(mmoe_synth_generate(gen, n, x, y), MMOE_OK);
    mmoe_synth_free(gen);
    mmoe_synth_config_free(sc);
}

static void train_and_check(mmoe_arch arch, double corr)
{
    /* One generator stream: the first NTRAIN rows train, the rest test. */
    size_t n = NTRAIN + NTEST;
    float *x = malloc(n * D * sizeof *x), *y = malloc(n * T * sizeof *y);
    assert_non_null(x);
    assert_non_null(y);
    make_data(x, y, n, 2024, corr);
    const float *xt = x + (size_t)NTRAIN * D, *yt = y + (size_t)NTRAIN * T;

    mmoe_config *c;
    assert_int_equal(mmoe_config_create(&c), MMOE_OK);
    assert_int_equal(mmoe_config_set_arch(c, arch), MMOE_OK);
    assert_int_equal(mmoe_config_set_int(c, "input.dense", D), MMOE_OK);
    size_t ew[1] = {16}, tw[1] = {8};
    assert_int_equal(mmoe_config_set_experts(c, 8, 1, ew, MMOE_ACT_RELU), MMOE_OK);
    assert_int_equal(
        mmoe_config_add_task(c, "y1", MMOE_TASK_REGRESSION, 1, tw, MMOE_ACT_RELU, 1.0f), MMOE_OK);
    assert_int_equal(
        mmoe_config_add_task(c, "y2", MMOE_TASK_REGRESSION, 1, tw, MMOE_ACT_RELU, 1.0f), MMOE_OK);
    mmoe_model *m;
    mmoe_optimizer *opt;
    assert_int_equal(mmoe_model_create(c, &m), MMOE_OK);
    assert_int_equal(mmoe_optimizer_create(m, MMOE_OPTIMIZER_ADAM, &opt), MMOE_OK);
    assert_int_equal(mmoe_optimizer_set(opt, MMOE_OPT_LEARNING_RATE, 3e-3), MMOE_OK);

    double first_epoch = 0, last_epoch = 0;
    for (int ep = 0; ep < EPOCHS; ep++) {
        double sum = 0;
        size_t steps = 0;
        for (size_t r = 0; r + BATCH <= NTRAIN; r += BATCH) {
            float loss;
            assert_int_equal(
                mmoe_model_train_step(m, opt, BATCH, x + r * D, NULL, y + r * T, NULL, NULL, &loss),
                MMOE_OK);
            sum += loss;
            steps++;
        }
        if (ep == 0)
            first_epoch = sum / (double)steps;
        last_epoch = sum / (double)steps;
    }
    assert_true(last_epoch < 0.5 * first_epoch);

    mmoe_workspace *ws;
    float *pred = malloc((size_t)NTEST * T * sizeof *pred);
    assert_int_equal(mmoe_workspace_create(m, 256, &ws), MMOE_OK);
    assert_int_equal(mmoe_model_predict(m, ws, NTEST, xt, NULL, pred), MMOE_OK);
    for (size_t k = 0; k < T; k++) {
        double mean = 0, var = 0, mse = 0;
        for (size_t i = 0; i < NTEST; i++)
            mean += yt[i * T + k] / (double)NTEST;
        for (size_t i = 0; i < NTEST; i++) {
            double d = yt[i * T + k] - mean, e = pred[i * T + k] - yt[i * T + k];
            var += d * d / NTEST;
            mse += e * e / NTEST;
        }
        print_message("arch %d p %.1f task %zu: test MSE %.4f, label variance %.4f, ratio %.3f\n",
                      (int)arch, corr, k, mse, var, mse / var);
        assert_true(mse < 0.5 * var);
    }
    free(pred);
    free(x);
    free(y);
    mmoe_workspace_free(ws);
    mmoe_optimizer_free(opt);
    mmoe_model_free(m);
    mmoe_config_free(c);
}

static void test_mmoe_learns_synthetic_tasks(void **state)
{
    (void)state;
    train_and_check(MMOE_ARCH_MMOE, 0.5);
}

static void test_every_model_learns_at_p09(void **state)
{
    (void)state;
    static const mmoe_arch archs[] = {
        MMOE_ARCH_MMOE,
        MMOE_ARCH_OMOE,
        MMOE_ARCH_SHARED_BOTTOM,
        MMOE_ARCH_SINGLE_TASK,
        MMOE_ARCH_L2_CONSTRAINED,
        MMOE_ARCH_CROSS_STITCH,
        MMOE_ARCH_TENSOR_FACTORIZATION,
    };
    for (size_t i = 0; i < sizeof archs / sizeof archs[0]; i++)
        train_and_check(archs[i], 0.9);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mmoe_learns_synthetic_tasks),
        cmocka_unit_test(test_every_model_learns_at_p09),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
