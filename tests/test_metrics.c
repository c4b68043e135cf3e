/*
 * Metrics against hand-computed values: exact AUC (with ties, weights and
 * several tasks), log loss (with clipping), accuracy, MSE/RMSE, and every
 * documented error.
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

#define TOL 1e-9

static void test_auc_basic(void **state)
{
    (void)state;
    /* Pairs (pos, neg): 0.35>0.1, 0.35<0.4, 0.8>0.1, 0.8>0.4 -> 3/4. */
    const float s[] = {0.1f, 0.4f, 0.35f, 0.8f}, y[] = {0, 0, 1, 1};
    double auc = -1;
    assert_int_equal(mmoe_metric_auc(4, s, y, NULL, &auc), MMOE_OK);
    assert_true(fabs(auc - 0.75) < TOL);

    const float perfect[] = {0.1f, 0.2f, 0.3f, 0.4f};
    assert_int_equal(mmoe_metric_auc(4, perfect, y, NULL, &auc), MMOE_OK);
    assert_true(fabs(auc - 1.0) < TOL);
    const float reversed[] = {0.4f, 0.3f, 0.2f, 0.1f};
    assert_int_equal(mmoe_metric_auc(4, reversed, y, NULL, &auc), MMOE_OK);
    assert_true(fabs(auc - 0.0) < TOL);
}

static void test_auc_ties(void **state)
{
    (void)state;
    double auc;
    /* All scores equal: every pair is a tie -> 1/2. */
    const float same[] = {0.5f, 0.5f, 0.5f, 0.5f}, y1[] = {0, 1, 0, 1};
    assert_int_equal(mmoe_metric_auc(4, same, y1, NULL, &auc), MMOE_OK);
    assert_true(fabs(auc - 0.5) < TOL);
    /* pos {0.5, 0.9} vs neg {0.1, 0.5}: 1 + 0.5 + 1 + 1 = 3.5 of 4. */
    const float s2[] = {0.1f, 0.5f, 0.5f, 0.9f}, y2[] = {0, 0, 1, 1};
    assert_int_equal(mmoe_metric_auc(4, s2, y2, NULL, &auc), MMOE_OK);
    assert_true(fabs(auc - 0.875) < TOL);
    /* Average ranks: scores 1,2,2,2,3 (ranks 1, 3, 3, 3, 5), positives at
     * the 2 (rank 3) and the 3 (rank 5): U = 3 + 5 - 3 = 5 of 2 * 3 = 6 ->
     * 5/6. Shuffled order. */
    const float s3[] = {2, 3, 1, 2, 2}, y3[] = {1, 1, 0, 0, 0};
    assert_int_equal(mmoe_metric_auc(5, s3, y3, NULL, &auc), MMOE_OK);
    assert_true(fabs(auc - 5.0 / 6.0) < TOL);
    /* -0 and +0 tie. */
    const float s4[] = {-0.0f, 0.0f}, y4[] = {1, 0};
    assert_int_equal(mmoe_metric_auc(2, s4, y4, NULL, &auc), MMOE_OK);
    assert_true(fabs(auc - 0.5) < TOL);
}

static void test_auc_weighted(void **state)
{
    (void)state;
    /* Negative 0.4 counts twice: pos 0.35 beats 1 of 3, pos 0.8 beats 3 of 3 -> 4/6. */
    const float s[] = {0.1f, 0.4f, 0.35f, 0.8f}, y[] = {0, 0, 1, 1}, w[] = {1, 2, 1, 1};
    double auc;
    assert_int_equal(mmoe_metric_auc(4, s, y, w, &auc), MMOE_OK);
    assert_true(fabs(auc - 4.0 / 6.0) < TOL);
    /* A zero weight removes a sample. */
    const float w0[] = {1, 0, 1, 1};
    assert_int_equal(mmoe_metric_auc(4, s, y, w0, &auc), MMOE_OK);
    assert_true(fabs(auc - 1.0) < TOL);
}

/* Brute-force pairwise AUC, ties counting 1/2, weights as multiplicities. */
static double brute_auc(size_t n, const float *s, const float *y, const float *w)
{
    double num = 0, P = 0, N = 0;
    for (size_t i = 0; i < n; i++) {
        double wi = w ? w[i] : 1;
        if (y[i] == 1)
            P += wi;
        else
            N += wi;
        if (y[i] != 1)
            continue;
        for (size_t j = 0; j < n; j++) {
            if (y[j] == 1)
                continue;
            double wj = w ? w[j] : 1;
            num += wi * wj * (s[i] > s[j] ? 1.0 : s[i] == s[j] ? 0.5 : 0.0);
        }
    }
    return num / (P * N);
}

static void test_auc_random_vs_bruteforce(void **state)
{
    (void)state;
    enum { N = 777 };
    static float s[N], y[N], w[N];
    unsigned x = 12345;
    for (size_t i = 0; i < N; i++) {
        x = x * 1103515245u + 12345u;
        s[i] = (float)((x >> 16) % 50) / 10.0f; /* many ties */
        x = x * 1103515245u + 12345u;
        y[i] = (float)((x >> 16) % 3 == 0);
        x = x * 1103515245u + 12345u;
        w[i] = (float)((x >> 16) % 4);
    }
    double auc;
    assert_int_equal(mmoe_metric_auc(N, s, y, NULL, &auc), MMOE_OK);
    assert_true(fabs(auc - brute_auc(N, s, y, NULL)) < 1e-9);
    assert_int_equal(mmoe_metric_auc(N, s, y, w, &auc), MMOE_OK);
    assert_true(fabs(auc - brute_auc(N, s, y, w)) < 1e-9);
}

static void test_per_task(void **state)
{
    (void)state;
    /* [4, 2]: task 0 = the 0.75 example, task 1 = perfect. */
    const float p[] = {0.1f, 0.9f, 0.4f, 0.8f, 0.35f, 0.2f, 0.8f, 0.1f};
    const float y[] = {0, 1, 0, 1, 1, 0, 1, 0};
    double out[2];
    assert_int_equal(mmoe_metric_compute(MMOE_METRIC_AUC, 4, 2, p, y, NULL, out), MMOE_OK);
    assert_true(fabs(out[0] - 0.75) < TOL);
    assert_true(fabs(out[1] - 1.0) < TOL);
    /* Accuracy: task 0 -> 0.1:0 ok, 0.4:0 ok, 0.35:1 wrong, 0.8:1 ok -> 3/4; task 1 all ok. */
    assert_int_equal(mmoe_metric_compute(MMOE_METRIC_ACCURACY, 4, 2, p, y, NULL, out), MMOE_OK);
    assert_true(fabs(out[0] - 0.75) < TOL);
    assert_true(fabs(out[1] - 1.0) < TOL);
}

static void test_log_loss(void **state)
{
    (void)state;
    const float p[] = {0.9f, 0.2f}, y[] = {1, 0};
    double ll;
    assert_int_equal(mmoe_metric_compute(MMOE_METRIC_LOG_LOSS, 2, 1, p, y, NULL, &ll), MMOE_OK);
    double want = -(log((double)0.9f) + log(1.0 - (double)0.2f)) / 2.0;
    assert_true(fabs(ll - want) < 1e-12);
    /* Weighted: (3 * -ln 0.9 + 1 * -ln 0.8) / 4. */
    const float w[] = {3, 1};
    assert_int_equal(mmoe_metric_compute(MMOE_METRIC_LOG_LOSS, 2, 1, p, y, w, &ll), MMOE_OK);
    want = -(3 * log((double)0.9f) + log(1.0 - (double)0.2f)) / 4.0;
    assert_true(fabs(ll - want) < 1e-12);
    /* Clipping: p = 0 for a positive costs -ln(1e-7); p = 1 for a negative too. */
    const float p0[] = {0.0f, 1.0f}, y0[] = {1, 0};
    assert_int_equal(mmoe_metric_compute(MMOE_METRIC_LOG_LOSS, 2, 1, p0, y0, NULL, &ll), MMOE_OK);
    assert_true(fabs(ll - (-log(1e-7))) < 1e-6);
    /* Soft labels are allowed. */
    const float ps[] = {0.5f}, ys[] = {0.25f};
    assert_int_equal(mmoe_metric_compute(MMOE_METRIC_LOG_LOSS, 1, 1, ps, ys, NULL, &ll), MMOE_OK);
    assert_true(fabs(ll - log(2.0)) < 1e-12);
}

static void test_accuracy_threshold(void **state)
{
    (void)state;
    /* 0.5 -> 1 (correct), 0.49 -> 0 (wrong), 0.7 -> 1 (wrong), 0.1 -> 0 (correct). */
    const float p[] = {0.5f, 0.49f, 0.7f, 0.1f}, y[] = {1, 1, 0, 0};
    double acc;
    assert_int_equal(mmoe_metric_compute(MMOE_METRIC_ACCURACY, 4, 1, p, y, NULL, &acc), MMOE_OK);
    assert_true(fabs(acc - 0.5) < TOL);
    const float w[] = {3, 1, 1, 1};
    assert_int_equal(mmoe_metric_compute(MMOE_METRIC_ACCURACY, 4, 1, p, y, w, &acc), MMOE_OK);
    assert_true(fabs(acc - 4.0 / 6.0) < TOL);
}

static void test_mse_rmse(void **state)
{
    (void)state;
    const float p[] = {1, 2, 3}, y[] = {1, 0, 0};
    double v;
    assert_int_equal(mmoe_metric_compute(MMOE_METRIC_MSE, 3, 1, p, y, NULL, &v), MMOE_OK);
    assert_true(fabs(v - 13.0 / 3.0) < TOL);
    assert_int_equal(mmoe_metric_compute(MMOE_METRIC_RMSE, 3, 1, p, y, NULL, &v), MMOE_OK);
    assert_true(fabs(v - sqrt(13.0 / 3.0)) < TOL);
    const float w[] = {1, 0, 3};
    assert_int_equal(mmoe_metric_compute(MMOE_METRIC_MSE, 3, 1, p, y, w, &v), MMOE_OK);
    assert_true(fabs(v - 27.0 / 4.0) < TOL);
    assert_string_equal(mmoe_metric_name(MMOE_METRIC_RMSE), "rmse");
    assert_string_equal(mmoe_metric_name((mmoe_metric)99), "?");
}

static void test_errors(void **state)
{
    (void)state;
    const float p[] = {0.2f, 0.6f}, y[] = {0, 1};
    double out = 42.0;
    assert_int_equal(mmoe_metric_auc(2, NULL, y, NULL, &out), MMOE_ERR_NULL);
    assert_int_equal(mmoe_metric_auc(2, p, NULL, NULL, &out), MMOE_ERR_NULL);
    assert_int_equal(mmoe_metric_auc(2, p, y, NULL, NULL), MMOE_ERR_NULL);
    assert_int_equal(mmoe_metric_auc(0, p, y, NULL, &out), MMOE_ERR_INVALID_ARG);
    assert_int_equal(mmoe_metric_compute(MMOE_METRIC_MSE, 2, 0, p, y, NULL, &out),
                     MMOE_ERR_INVALID_ARG);
    assert_int_equal(mmoe_metric_compute((mmoe_metric)99, 2, 1, p, y, NULL, &out),
                     MMOE_ERR_INVALID_ARG);
    const float pn[] = {NAN, 0.5f};
    assert_int_equal(mmoe_metric_auc(2, pn, y, NULL, &out), MMOE_ERR_NONFINITE);
    const float yn[] = {0, INFINITY};
    assert_int_equal(mmoe_metric_compute(MMOE_METRIC_MSE, 2, 1, p, yn, NULL, &out),
                     MMOE_ERR_NONFINITE);
    const float wn[] = {1, NAN};
    assert_int_equal(mmoe_metric_auc(2, p, y, wn, &out), MMOE_ERR_NONFINITE);
    const float wneg[] = {1, -1};
    assert_int_equal(mmoe_metric_auc(2, p, y, wneg, &out), MMOE_ERR_RANGE);
    const float wz[] = {0, 0};
    assert_int_equal(mmoe_metric_compute(MMOE_METRIC_MSE, 2, 1, p, y, wz, &out), MMOE_ERR_RANGE);
    /* Single class: AUC undefined. */
    const float ones[] = {1, 1};
    assert_int_equal(mmoe_metric_auc(2, p, ones, NULL, &out), MMOE_ERR_RANGE);
    assert_non_null(strstr(mmoe_last_error(), "undefined"));
    /* ... also when the other class only has zero weight. */
    const float w01[] = {0, 1};
    assert_int_equal(mmoe_metric_auc(2, p, y, w01, &out), MMOE_ERR_RANGE);
    /* Labels not 0/1 for AUC and accuracy; out of [0, 1] for log loss. */
    const float yh[] = {0, 0.5f};
    assert_int_equal(mmoe_metric_auc(2, p, yh, NULL, &out), MMOE_ERR_RANGE);
    assert_int_equal(mmoe_metric_compute(MMOE_METRIC_ACCURACY, 2, 1, p, yh, NULL, &out),
                     MMOE_ERR_RANGE);
    const float y2[] = {0, 2};
    assert_int_equal(mmoe_metric_compute(MMOE_METRIC_LOG_LOSS, 2, 1, p, y2, NULL, &out),
                     MMOE_ERR_RANGE);
    const float pbig[] = {0.5f, 1.5f};
    assert_int_equal(mmoe_metric_compute(MMOE_METRIC_LOG_LOSS, 2, 1, pbig, y, NULL, &out),
                     MMOE_ERR_RANGE);
    /* Failures never write the output; task 1 failing leaves task 0's slot alone too. */
    assert_true(out == 42.0);
    const float p2[] = {0.1f, 0.2f, 0.9f, 0.3f}, ybad[] = {0, 1, 1, 1};
    double two[2] = {7, 7};
    assert_int_equal(mmoe_metric_compute(MMOE_METRIC_AUC, 2, 2, p2, ybad, NULL, two),
                     MMOE_ERR_RANGE);
    assert_non_null(strstr(mmoe_last_error(), "task 1"));
    assert_true(two[0] == 7 && two[1] == 7);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_auc_basic),
        cmocka_unit_test(test_auc_ties),
        cmocka_unit_test(test_auc_weighted),
        cmocka_unit_test(test_auc_random_vs_bruteforce),
        cmocka_unit_test(test_per_task),
        cmocka_unit_test(test_log_loss),
        cmocka_unit_test(test_accuracy_threshold),
        cmocka_unit_test(test_mse_rmse),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
