/* Loss functions: values, gradients, stability and bad input. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include <mmoe/mmoe.h>

static void assert_close(double got, double want, double tol)
{
    double scale = fabs(want) > 1.0 ? fabs(want) : 1.0;
    if (!(fabs(got - want) <= tol * scale))
        fail_msg("got %.12g, want %.12g (tol %g)", got, want, tol);
}

/* Reference BCE on a logit, straight from the definition (fine for moderate |z|). */
static double bce_ref(double z, double t)
{
    double p = 1.0 / (1.0 + exp(-z));
    return -(t * log(p) + (1.0 - t) * log(1.0 - p));
}

static void test_mse_values(void **state)
{
    (void)state;
    const float pred[3] = {1.0f, -2.0f, 0.5f};
    const float target[3] = {0.0f, 1.0f, 0.5f};
    double loss = -1.0;
    float grad[3];
    assert_int_equal(mmoe_loss(MMOE_TASK_REGRESSION, 3, pred, target, NULL, &loss, grad), MMOE_OK);
    /* (1 + 9 + 0) / 3 */
    assert_close(loss, 10.0 / 3.0, 1e-12);
    /* 2 (y - t) / n */
    assert_close(grad[0], 2.0 / 3.0, 1e-7);
    assert_close(grad[1], -2.0, 1e-7);
    assert_true(grad[2] == 0.0f);

    /* Weights: (2*1 + 0*9 + 1*0) / 3; grad w 2 (y-t) / n. */
    const float w[3] = {2.0f, 0.0f, 1.0f};
    assert_int_equal(mmoe_loss(MMOE_TASK_REGRESSION, 3, pred, target, w, &loss, grad), MMOE_OK);
    assert_close(loss, 2.0 / 3.0, 1e-12);
    assert_close(grad[0], 4.0 / 3.0, 1e-7);
    assert_true(grad[1] == 0.0f);
    assert_true(grad[2] == 0.0f);

    /* grad may be NULL. */
    double l2 = 0.0;
    assert_int_equal(mmoe_loss(MMOE_TASK_REGRESSION, 3, pred, target, w, &l2, NULL), MMOE_OK);
    assert_true(l2 == loss);
}

static void test_mse_double_accumulation(void **state)
{
    (void)state;
    /* One squared residual of 2^24 followed by 20000 of 1: a float running sum would stay at
       2^24 and lose every later term. */
    enum { N = 20001 };
    static float pred[N], target[N];
    for (size_t i = 0; i < N; i++) {
        pred[i] = 1.0f;
        target[i] = 0.0f;
    }
    pred[0] = 4096.0f;
    double loss = 0.0;
    assert_int_equal(mmoe_loss(MMOE_TASK_REGRESSION, N, pred, target, NULL, &loss, NULL), MMOE_OK);
    assert_close(loss, (4096.0 * 4096.0 + (N - 1)) / N, 1e-12);
}

static void test_bce_values(void **state)
{
    (void)state;
    const float z[5] = {0.0f, 2.0f, -1.5f, 0.3f, -4.0f};
    const float t[5] = {1.0f, 0.0f, 0.0f, 0.25f, 1.0f};
    double loss = 0.0, want = 0.0;
    float grad[5];
    assert_int_equal(mmoe_loss(MMOE_TASK_BINARY, 5, z, t, NULL, &loss, grad), MMOE_OK);
    for (size_t i = 0; i < 5; i++) {
        want += bce_ref(z[i], t[i]);
        double sig = 1.0 / (1.0 + exp(-(double)z[i]));
        assert_close(grad[i], (sig - t[i]) / 5.0, 1e-6);
    }
    assert_close(loss, want / 5.0, 1e-12);
    /* z = 0, t = 1: log 2 */
    double one = 0.0;
    assert_int_equal(mmoe_loss(MMOE_TASK_BINARY, 1, z, t, NULL, &one, NULL), MMOE_OK);
    assert_close(one, log(2.0), 1e-12);

    /* Weighted. */
    const float w[5] = {1.0f, 0.5f, 0.0f, 3.0f, 2.0f};
    assert_int_equal(mmoe_loss(MMOE_TASK_BINARY, 5, z, t, w, &loss, grad), MMOE_OK);
    want = 0.0;
    for (size_t i = 0; i < 5; i++) {
        want += w[i] * bce_ref(z[i], t[i]);
        double sig = 1.0 / (1.0 + exp(-(double)z[i]));
        assert_close(grad[i], w[i] * (sig - t[i]) / 5.0, 1e-6);
    }
    assert_close(loss, want / 5.0, 1e-12);
    assert_true(grad[2] == 0.0f);
}

static void test_bce_large_logits(void **state)
{
    (void)state;
    /* |z| = 50 and beyond: the naive form gives log(0) = -inf; the stable form stays finite. */
    const float z[6] = {50.0f, -50.0f, 50.0f, -50.0f, 1000.0f, -1000.0f};
    const float t[6] = {1.0f, 0.0f, 0.0f, 1.0f, 0.0f, 1.0f};
    float grad[6];
    double loss = 0.0;
    for (size_t i = 0; i < 6; i++) {
        assert_int_equal(mmoe_loss(MMOE_TASK_BINARY, 1, &z[i], &t[i], NULL, &loss, &grad[i]),
                         MMOE_OK);
        assert_true(isfinite(loss));
        assert_true(isfinite(grad[i]));
        if (i < 2) {
            /* Confident and right: loss log(1 + e^-50) ~ e^-50, gradient ~ 0. */
            assert_true(loss >= 0.0 && loss < 1e-20);
            assert_true(fabsf(grad[i]) < 1e-20f);
        } else {
            /* Confident and wrong: loss ~ |z|, gradient ~ +-1. */
            assert_close(loss, fabs(z[i]), 1e-12);
            assert_close(grad[i], z[i] > 0 ? 1.0 : -1.0, 1e-7);
        }
    }
    /* All together, weighted. */
    const float w[6] = {1, 1, 1, 1, 0.5f, 0.5f};
    assert_int_equal(mmoe_loss(MMOE_TASK_BINARY, 6, z, t, w, &loss, grad), MMOE_OK);
    assert_close(loss, (50.0 + 50.0 + 500.0 + 500.0) / 6.0, 1e-9);
}

static void test_loss_errors(void **state)
{
    (void)state;
    const float p[2] = {0.5f, 1.0f}, t[2] = {0.0f, 1.0f}, w[2] = {1.0f, 1.0f};
    double loss = 123.0;
    float grad[2] = {7.0f, 7.0f};
#define EXPECT(call, want)                                                                         \
    do {                                                                                           \
        assert_int_equal((call), (want));                                                          \
        assert_true(loss == 123.0);                                                                \
        assert_true(grad[0] == 7.0f && grad[1] == 7.0f);                                           \
        assert_true(strlen(mmoe_last_error()) > 0);                                                \
    } while (0)

    EXPECT(mmoe_loss(MMOE_TASK_BINARY, 2, NULL, t, w, &loss, grad), MMOE_ERR_NULL);
    EXPECT(mmoe_loss(MMOE_TASK_BINARY, 2, p, NULL, w, &loss, grad), MMOE_ERR_NULL);
    EXPECT(mmoe_loss(MMOE_TASK_BINARY, 2, p, t, w, NULL, grad), MMOE_ERR_NULL);
    EXPECT(mmoe_loss(MMOE_TASK_BINARY, 0, p, t, w, &loss, grad), MMOE_ERR_INVALID_ARG);
    EXPECT(mmoe_loss((mmoe_task_kind)2, 2, p, t, w, &loss, grad), MMOE_ERR_INVALID_ARG);
    EXPECT(mmoe_loss((mmoe_task_kind)-1, 2, p, t, w, &loss, grad), MMOE_ERR_INVALID_ARG);

    const float p_nan[2] = {0.5f, NAN}, p_inf[2] = {INFINITY, 0.0f};
    const float t_nan[2] = {0.0f, NAN}, w_inf[2] = {1.0f, INFINITY}, w_nan[2] = {NAN, 1.0f};
    for (int k = 0; k < 2; k++) {
        mmoe_task_kind kind = k ? MMOE_TASK_BINARY : MMOE_TASK_REGRESSION;
        EXPECT(mmoe_loss(kind, 2, p_nan, t, w, &loss, grad), MMOE_ERR_NONFINITE);
        EXPECT(mmoe_loss(kind, 2, p_inf, t, w, &loss, grad), MMOE_ERR_NONFINITE);
        EXPECT(mmoe_loss(kind, 2, p, t_nan, w, &loss, grad), MMOE_ERR_NONFINITE);
        EXPECT(mmoe_loss(kind, 2, p, t, w_inf, &loss, grad), MMOE_ERR_NONFINITE);
        EXPECT(mmoe_loss(kind, 2, p, t, w_nan, &loss, grad), MMOE_ERR_NONFINITE);
        const float w_neg[2] = {1.0f, -0.5f};
        EXPECT(mmoe_loss(kind, 2, p, t, w_neg, &loss, grad), MMOE_ERR_RANGE);
    }
    const float t_hi[2] = {0.0f, 1.5f}, t_lo[2] = {-0.01f, 1.0f};
    EXPECT(mmoe_loss(MMOE_TASK_BINARY, 2, p, t_hi, w, &loss, grad), MMOE_ERR_RANGE);
    EXPECT(mmoe_loss(MMOE_TASK_BINARY, 2, p, t_lo, NULL, &loss, grad), MMOE_ERR_RANGE);
#undef EXPECT

    /* Regression targets are unrestricted; zero weights are fine. */
    const float w0[2] = {0.0f, 0.0f};
    assert_int_equal(mmoe_loss(MMOE_TASK_REGRESSION, 2, p, t_hi, w0, &loss, grad), MMOE_OK);
    assert_true(loss == 0.0 && grad[0] == 0.0f && grad[1] == 0.0f);
    assert_int_equal(mmoe_loss(MMOE_TASK_REGRESSION, 2, p, t_lo, NULL, &loss, NULL), MMOE_OK);
    assert_true(loss > 0.0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mse_values),  cmocka_unit_test(test_mse_double_accumulation),
        cmocka_unit_test(test_bce_values),  cmocka_unit_test(test_bce_large_logits),
        cmocka_unit_test(test_loss_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
