/* Tests of libmmoe-synth: geometry of the weight vectors, label formula,
 * label correlation, determinism and error handling. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <mmoe/mmoe.h>
#include <mmoe/synth.h>

/* ------------------------------------------------------------------------ */
/* helpers                                                                   */
/* ------------------------------------------------------------------------ */

/* |a - b| <= tol in double precision (cmocka's float assertion rounds to float). */
#define assert_near(a, b, tol)                                                                     \
    assert_near_((double)(a), (double)(b), (double)(tol), __FILE__, __LINE__)

static void assert_near_(double a, double b, double tol, const char *file, int line)
{
    if (!(fabs(a - b) <= tol)) {
        print_error("%.17g != %.17g (tolerance %g)\n", a, b, tol);
        _fail(file, line);
    }
}

static mmoe_synth *make_gen(size_t d, size_t tasks, double c, double p, size_t m, double sigma,
                            uint64_t seed)
{
    mmoe_synth_config *cfg = NULL;
    mmoe_synth *gen = NULL;
    assert_int_equal(mmoe_synth_config_create(&cfg), MMOE_OK);
    assert_int_equal(mmoe_synth_config_set_dim(cfg, d), MMOE_OK);
    assert_int_equal(mmoe_synth_config_set_tasks(cfg, tasks), MMOE_OK);
    assert_int_equal(mmoe_synth_config_set_scale(cfg, c), MMOE_OK);
    assert_int_equal(mmoe_synth_config_set_correlation(cfg, p), MMOE_OK);
    assert_int_equal(mmoe_synth_config_set_sin_terms(cfg, m), MMOE_OK);
    assert_int_equal(mmoe_synth_config_set_noise(cfg, sigma), MMOE_OK);
    assert_int_equal(mmoe_synth_config_set_seed(cfg, seed), MMOE_OK);
    assert_int_equal(mmoe_synth_create(cfg, &gen), MMOE_OK);
    assert_non_null(gen);
    mmoe_synth_config_free(cfg);
    return gen;
}

static double dot(const double *a, const double *b, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

static double pearson(const float *y, size_t n, size_t stride, size_t a, size_t b)
{
    double ma = 0.0, mb = 0.0;
    for (size_t i = 0; i < n; i++) {
        ma += y[i * stride + a];
        mb += y[i * stride + b];
    }
    ma /= (double)n;
    mb /= (double)n;
    double sab = 0.0, saa = 0.0, sbb = 0.0;
    for (size_t i = 0; i < n; i++) {
        double da = y[i * stride + a] - ma, db = y[i * stride + b] - mb;
        sab += da * db;
        saa += da * da;
        sbb += db * db;
    }
    return sab / sqrt(saa * sbb);
}

/* Cosine of every pair of weight vectors must be p, every norm c. */
static void check_geometry(size_t d, size_t tasks, double c, double p, uint64_t seed)
{
    mmoe_synth *gen = make_gen(d, tasks, c, p, 10, 0.1, seed);
    assert_int_equal(mmoe_synth_dim(gen), d);
    assert_int_equal(mmoe_synth_num_tasks(gen), tasks);
    double *w = malloc(tasks * d * sizeof *w);
    assert_non_null(w);
    for (size_t i = 0; i < tasks; i++)
        assert_int_equal(mmoe_synth_weights(gen, i, w + i * d, d), MMOE_OK);
    for (size_t i = 0; i < tasks; i++) {
        double ni = sqrt(dot(w + i * d, w + i * d, d));
        assert_near(ni, c, 1e-9 * c);
        for (size_t j = i + 1; j < tasks; j++) {
            double nj = sqrt(dot(w + j * d, w + j * d, d));
            double cosij = dot(w + i * d, w + j * d, d) / (ni * nj);
            assert_near(cosij, p, 1e-9);
        }
    }
    free(w);
    mmoe_synth_free(gen);
}

/* ------------------------------------------------------------------------ */
/* geometry                                                                  */
/* ------------------------------------------------------------------------ */

static void test_cosine_two_tasks(void **state)
{
    (void)state;
    const double ps[] = {-1.0, -0.7, -0.2, 0.0, 0.3, 0.5, 0.9, 0.99, 1.0};
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++) {
        check_geometry(100, 2, 1.0, ps[i], 7);
        check_geometry(5, 2, 3.5, ps[i], 11 + i);
    }
    check_geometry(2, 2, 1.0, 0.5, 3); /* d == T */
}

static void test_cosine_many_tasks(void **state)
{
    (void)state;
    /* T = 3: -1/(T-1) = -0.5 is the semidefinite boundary (allowed). */
    const double ps[] = {-0.5, -0.3, 0.0, 0.25, 0.5, 0.8, 1.0};
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++)
        check_geometry(50, 3, 2.0, ps[i], 5 + i);
    check_geometry(40, 6, 1.0, 0.4, 9);
    check_geometry(40, 6, 1.0, -0.2, 9); /* boundary for T = 6 */
    check_geometry(10, 1, 2.0, 0.3, 1);  /* one task: only the norm matters */
}

/* For T = 2 the construction is the paper's: w2 = p w1 + sqrt(1-p^2) c u2,
 * in particular w1 does not depend on p for a fixed seed. */
static void test_first_vector_independent_of_p(void **state)
{
    (void)state;
    const size_t d = 30;
    double w_a[30], w_b[30];
    mmoe_synth *a = make_gen(d, 2, 1.0, 0.1, 10, 0.1, 42);
    mmoe_synth *b = make_gen(d, 2, 1.0, 0.9, 10, 0.1, 42);
    assert_int_equal(mmoe_synth_weights(a, 0, w_a, d), MMOE_OK);
    assert_int_equal(mmoe_synth_weights(b, 0, w_b, d), MMOE_OK);
    assert_memory_equal(w_a, w_b, sizeof w_a);
    mmoe_synth_free(a);
    mmoe_synth_free(b);
}

/* ------------------------------------------------------------------------ */
/* labels                                                                    */
/* ------------------------------------------------------------------------ */

/* With sigma = 0, y_i = z + sum_j sin(alpha_j z + beta_j), z = w_i . x. */
static void test_label_formula(void **state)
{
    (void)state;
    const size_t d = 20, t = 3, n = 200, m = 10;
    mmoe_synth *gen = make_gen(d, t, 1.5, 0.3, m, 0.0, 99);
    assert_int_equal(mmoe_synth_sin_terms(gen), m);
    double w[3 * 20], alpha[10], beta[10];
    for (size_t i = 0; i < t; i++)
        assert_int_equal(mmoe_synth_weights(gen, i, w + i * d, d), MMOE_OK);
    assert_int_equal(mmoe_synth_sin_params(gen, alpha, beta, m), MMOE_OK);
    float *x = malloc(n * d * sizeof *x);
    float *y = malloc(n * t * sizeof *y);
    assert_non_null(x);
    assert_non_null(y);
    assert_int_equal(mmoe_synth_generate(gen, n, x, y), MMOE_OK);
    for (size_t s = 0; s < n; s++) {
        for (size_t i = 0; i < t; i++) {
            double z = 0.0;
            for (size_t k = 0; k < d; k++)
                z += w[i * d + k] * (double)x[s * d + k];
            double v = z;
            for (size_t j = 0; j < m; j++)
                v += sin(alpha[j] * z + beta[j]);
            assert_near(y[s * t + i], v, 1e-6 * (1.0 + fabs(v)));
        }
    }
    free(x);
    free(y);
    mmoe_synth_free(gen);
}

/* Explicit alpha/beta are used as given; m = 0 makes labels linear. */
static void test_explicit_sin_params(void **state)
{
    (void)state;
    const size_t d = 8, n = 50;
    const double alpha[2] = {0.5, -2.0}, beta[2] = {1.0, 0.25};
    mmoe_synth_config *cfg = NULL;
    mmoe_synth *gen = NULL;
    assert_int_equal(mmoe_synth_config_create(&cfg), MMOE_OK);
    assert_int_equal(mmoe_synth_config_set_dim(cfg, d), MMOE_OK);
    assert_int_equal(mmoe_synth_config_set_noise(cfg, 0.0), MMOE_OK);
    assert_int_equal(mmoe_synth_config_set_sin_params(cfg, 2, alpha, beta), MMOE_OK);
    assert_int_equal(mmoe_synth_create(cfg, &gen), MMOE_OK);
    double a[2], b[2];
    assert_int_equal(mmoe_synth_sin_terms(gen), 2);
    assert_int_equal(mmoe_synth_sin_params(gen, a, b, 2), MMOE_OK);
    assert_memory_equal(a, alpha, sizeof a);
    assert_memory_equal(b, beta, sizeof b);
    mmoe_synth_free(gen);

    /* m = 0: y = w . x exactly (up to float rounding). */
    assert_int_equal(mmoe_synth_config_set_sin_params(cfg, 0, NULL, NULL), MMOE_OK);
    assert_int_equal(mmoe_synth_create(cfg, &gen), MMOE_OK);
    assert_int_equal(mmoe_synth_sin_terms(gen), 0);
    double w[8];
    float x[50 * 8], y[50 * 2];
    assert_int_equal(mmoe_synth_weights(gen, 1, w, d), MMOE_OK);
    assert_int_equal(mmoe_synth_generate(gen, n, x, y), MMOE_OK);
    for (size_t s = 0; s < n; s++) {
        double z = 0.0;
        for (size_t k = 0; k < d; k++)
            z += w[k] * (double)x[s * d + k];
        assert_near(y[s * 2 + 1], z, 1e-6 * (1.0 + fabs(z)));
    }
    mmoe_synth_free(gen);

    /* set_sin_terms returns to drawn parameters. */
    assert_int_equal(mmoe_synth_config_set_sin_terms(cfg, 2), MMOE_OK);
    assert_int_equal(mmoe_synth_create(cfg, &gen), MMOE_OK);
    assert_int_equal(mmoe_synth_sin_params(gen, a, NULL, 2), MMOE_OK);
    assert_true(a[0] != alpha[0] || a[1] != alpha[1]);
    mmoe_synth_free(gen);
    mmoe_synth_config_free(cfg);
}

/* Moments of x: mean 0, variance 1, independent coordinates. */
static void test_input_moments(void **state)
{
    (void)state;
    const size_t d = 10, n = 20000;
    mmoe_synth *gen = make_gen(d, 2, 1.0, 0.5, 10, 0.1, 3);
    float *x = malloc(n * d * sizeof *x);
    float *y = malloc(n * 2 * sizeof *y);
    assert_non_null(x);
    assert_non_null(y);
    assert_int_equal(mmoe_synth_generate(gen, n, x, y), MMOE_OK);
    for (size_t k = 0; k < d; k++) {
        double s = 0.0, ss = 0.0;
        for (size_t i = 0; i < n; i++) {
            s += x[i * d + k];
            ss += (double)x[i * d + k] * x[i * d + k];
        }
        double mean = s / (double)n, var = ss / (double)n - mean * mean;
        /* standard errors: mean 1/sqrt(n) = 0.007, variance sqrt(2/n) = 0.01 */
        assert_true(fabs(mean) < 0.05);
        assert_true(fabs(var - 1.0) < 0.06);
    }
    assert_true(fabs(pearson(x, n, d, 0, 1)) < 0.05);
    free(x);
    free(y);
    mmoe_synth_free(gen);
}

/*
 * Var(f(z)) for z ~ N(0, c^2), f(z) = z + sum_j sin(alpha_j z + beta_j), by
 * the trapezoidal rule on [-12c, 12c] (the Gaussian tail beyond is < 1e-30).
 */
static double var_f(double c, const double *alpha, const double *beta, size_t m)
{
    const int steps = 200000;
    const double lo = -12.0 * c, h = 24.0 * c / steps;
    double s0 = 0.0, s1 = 0.0, s2 = 0.0;
    for (int i = 0; i <= steps; i++) {
        double z = lo + h * i;
        double wgt = exp(-0.5 * z * z / (c * c)) * ((i == 0 || i == steps) ? 0.5 : 1.0);
        double f = z;
        for (size_t j = 0; j < m; j++)
            f += sin(alpha[j] * z + beta[j]);
        s0 += wgt;
        s1 += wgt * f;
        s2 += wgt * f * f;
    }
    double mean = s1 / s0;
    return s2 / s0 - mean * mean;
}

/*
 * Pearson correlation of the two tasks' labels over n = 20000 samples.
 *
 * With u_1, u_2 orthonormal and x ~ N(0, I), z_i = w_i . x are jointly
 * Gaussian with variance c^2 and correlation p, and y_i = f(z_i) + eps_i.
 * By Mehler's formula, Cov(f(z_1), f(z_2)) = sum_k a_k^2 p^k (a_k the
 * Hermite coefficients of f), which is increasing in p >= 0 and zero at
 * p = 0. So the label correlation must be ~0 at p = 0 and grow with p.
 * At p = 1, z_1 = z_2 and the only difference is the noise:
 *     corr = Var(f) / (Var(f) + sigma^2).
 * Var(f) depends on the drawn alpha/beta (the sin terms may correlate
 * negatively with z and lower it below c^2 = 1), so the test computes it
 * numerically: corr > 0.97 holds exactly when Var(f) > 0.97/0.03 * sigma^2
 * = 0.323 for sigma = 0.1, which is asserted first (for seed 2024,
 * Var(f) = 0.673, expected corr 0.985). The sample estimate's standard
 * error is (1 - r^2)/sqrt(n) ~ 2e-4 near r = 0.985 and ~1/sqrt(n) = 0.007
 * at r = 0: the tolerances below are > 5 standard errors.
 */
static void test_label_correlation_grows_with_p(void **state)
{
    (void)state;
    const size_t d = 100, n = 20000, m = 10;
    const double ps[] = {0.0, 0.5, 0.9, 1.0};
    double r[4];
    float *x = malloc(n * d * sizeof *x);
    float *y = malloc(n * 2 * sizeof *y);
    assert_non_null(x);
    assert_non_null(y);
    for (size_t i = 0; i < 4; i++) {
        mmoe_synth *gen = make_gen(d, 2, 1.0, ps[i], m, 0.1, 2024);
        assert_int_equal(mmoe_synth_generate(gen, n, x, y), MMOE_OK);
        r[i] = pearson(y, n, 2, 0, 1);
        if (ps[i] == 1.0) {
            double alpha[10], beta[10];
            assert_int_equal(mmoe_synth_sin_params(gen, alpha, beta, m), MMOE_OK);
            double vf = var_f(1.0, alpha, beta, m);
            double expected = vf / (vf + 0.01);
            print_message("p=1: Var(f)=%.4f expected corr %.5f, measured %.5f\n", vf, expected,
                          r[i]);
            assert_true(vf > 0.97 / 0.03 * 0.01); /* needed for expected > 0.97 */
            assert_near(r[i], expected, 0.002);
        }
        mmoe_synth_free(gen);
    }
    print_message("label correlation: p=0 %.4f  p=0.5 %.4f  p=0.9 %.4f  p=1 %.4f\n", r[0], r[1],
                  r[2], r[3]);
    assert_true(fabs(r[0]) < 0.04);
    assert_true(r[1] > r[0] + 0.05);
    assert_true(r[2] > r[1] + 0.05);
    assert_true(r[3] > r[2] + 0.02);
    assert_true(r[3] > 0.97);
    free(x);
    free(y);
}

/* ------------------------------------------------------------------------ */
/* determinism                                                               */
/* ------------------------------------------------------------------------ */

static void test_determinism(void **state)
{
    (void)state;
    const size_t d = 16, t = 3, n = 300;
    float x1[300 * 16], y1[300 * 3], x2[300 * 16], y2[300 * 3];
    mmoe_synth *a = make_gen(d, t, 1.0, 0.4, 10, 0.1, 123);
    mmoe_synth *b = make_gen(d, t, 1.0, 0.4, 10, 0.1, 123);
    assert_int_equal(mmoe_synth_generate(a, n, x1, y1), MMOE_OK);
    assert_int_equal(mmoe_synth_generate(b, n, x2, y2), MMOE_OK);
    assert_memory_equal(x1, x2, sizeof x1);
    assert_memory_equal(y1, y2, sizeof y1);

    /* Chunked generation continues the same stream (odd sizes split the
     * Gaussian pairs differently). */
    assert_int_equal(mmoe_synth_reset(b), MMOE_OK);
    assert_int_equal(mmoe_synth_generate(b, 7, x2, y2), MMOE_OK);
    assert_int_equal(mmoe_synth_generate(b, 0, NULL, NULL), MMOE_OK);
    assert_int_equal(mmoe_synth_generate(b, n - 7, x2 + 7 * d, y2 + 7 * t), MMOE_OK);
    assert_memory_equal(x1, x2, sizeof x1);
    assert_memory_equal(y1, y2, sizeof y1);

    /* The stream continues: the next batch differs from the first. */
    assert_int_equal(mmoe_synth_generate(a, n, x2, y2), MMOE_OK);
    assert_memory_not_equal(x1, x2, sizeof x1);

    /* Reset rewinds. */
    assert_int_equal(mmoe_synth_reset(a), MMOE_OK);
    assert_int_equal(mmoe_synth_generate(a, n, x2, y2), MMOE_OK);
    assert_memory_equal(x1, x2, sizeof x1);
    assert_memory_equal(y1, y2, sizeof y1);
    mmoe_synth_free(a);
    mmoe_synth_free(b);
}

static void test_seeds_differ(void **state)
{
    (void)state;
    const size_t d = 16, n = 100;
    float x1[100 * 16], y1[100 * 2], x2[100 * 16], y2[100 * 2];
    double w1[16], w2[16];
    mmoe_synth *a = make_gen(d, 2, 1.0, 0.5, 10, 0.1, 1);
    mmoe_synth *b = make_gen(d, 2, 1.0, 0.5, 10, 0.1, 2);
    assert_int_equal(mmoe_synth_generate(a, n, x1, y1), MMOE_OK);
    assert_int_equal(mmoe_synth_generate(b, n, x2, y2), MMOE_OK);
    assert_memory_not_equal(x1, x2, sizeof x1);
    assert_memory_not_equal(y1, y2, sizeof y1);
    assert_int_equal(mmoe_synth_weights(a, 0, w1, d), MMOE_OK);
    assert_int_equal(mmoe_synth_weights(b, 0, w2, d), MMOE_OK);
    assert_memory_not_equal(w1, w2, sizeof w1);
    /* Independent seeds give (nearly) orthogonal directions in d = 16. */
    assert_true(fabs(dot(w1, w2, d)) < 0.99);
    mmoe_synth_free(a);
    mmoe_synth_free(b);
}

/* The inputs depend only on the seed: same x at every correlation. */
static void test_inputs_shared_across_p(void **state)
{
    (void)state;
    const size_t d = 12, n = 64;
    float x1[64 * 12], y1[64 * 2], x2[64 * 12], y2[64 * 2];
    mmoe_synth *a = make_gen(d, 2, 1.0, 0.0, 10, 0.1, 77);
    mmoe_synth *b = make_gen(d, 2, 2.0, 0.8, 10, 0.5, 77);
    assert_int_equal(mmoe_synth_generate(a, n, x1, y1), MMOE_OK);
    assert_int_equal(mmoe_synth_generate(b, n, x2, y2), MMOE_OK);
    assert_memory_equal(x1, x2, sizeof x1);
    assert_memory_not_equal(y1, y2, sizeof y1);
    mmoe_synth_free(a);
    mmoe_synth_free(b);
}

/* ------------------------------------------------------------------------ */
/* errors                                                                    */
/* ------------------------------------------------------------------------ */

static void test_config_errors(void **state)
{
    (void)state;
    mmoe_synth_config *cfg = NULL;
    assert_int_equal(mmoe_synth_config_create(NULL), MMOE_ERR_NULL);
    assert_true(strlen(mmoe_synth_thread_last_error()) > 0);
    assert_int_equal(mmoe_synth_config_create(&cfg), MMOE_OK);
    assert_string_equal(mmoe_synth_config_last_error(cfg), "");
    assert_string_equal(mmoe_synth_config_last_error(NULL), "");

    /* NULL handle */
    assert_int_equal(mmoe_synth_config_set_dim(NULL, 10), MMOE_ERR_NULL);
    assert_int_equal(mmoe_synth_config_set_tasks(NULL, 2), MMOE_ERR_NULL);
    assert_int_equal(mmoe_synth_config_set_scale(NULL, 1.0), MMOE_ERR_NULL);
    assert_int_equal(mmoe_synth_config_set_correlation(NULL, 0.5), MMOE_ERR_NULL);
    assert_int_equal(mmoe_synth_config_set_sin_terms(NULL, 3), MMOE_ERR_NULL);
    assert_int_equal(mmoe_synth_config_set_sin_params(NULL, 0, NULL, NULL), MMOE_ERR_NULL);
    assert_int_equal(mmoe_synth_config_set_noise(NULL, 0.1), MMOE_ERR_NULL);
    assert_int_equal(mmoe_synth_config_set_seed(NULL, 1), MMOE_ERR_NULL);

    /* out-of-range values */
    assert_int_equal(mmoe_synth_config_set_dim(cfg, 0), MMOE_ERR_RANGE);
    assert_true(strlen(mmoe_synth_config_last_error(cfg)) > 0);
    assert_int_equal(mmoe_synth_config_set_dim(cfg, MMOE_SYNTH_MAX_DIM + 1), MMOE_ERR_RANGE);
    assert_int_equal(mmoe_synth_config_set_dim(cfg, SIZE_MAX), MMOE_ERR_RANGE);
    assert_int_equal(mmoe_synth_config_set_tasks(cfg, 0), MMOE_ERR_RANGE);
    assert_int_equal(mmoe_synth_config_set_tasks(cfg, MMOE_SYNTH_MAX_TASKS + 1), MMOE_ERR_RANGE);
    assert_int_equal(mmoe_synth_config_set_scale(cfg, NAN), MMOE_ERR_NONFINITE);
    assert_int_equal(mmoe_synth_config_set_scale(cfg, INFINITY), MMOE_ERR_NONFINITE);
    assert_int_equal(mmoe_synth_config_set_scale(cfg, 0.0), MMOE_ERR_RANGE);
    assert_int_equal(mmoe_synth_config_set_scale(cfg, -1.0), MMOE_ERR_RANGE);
    assert_int_equal(mmoe_synth_config_set_scale(cfg, 1e7), MMOE_ERR_RANGE);
    assert_int_equal(mmoe_synth_config_set_correlation(cfg, NAN), MMOE_ERR_NONFINITE);
    assert_int_equal(mmoe_synth_config_set_correlation(cfg, -INFINITY), MMOE_ERR_NONFINITE);
    assert_int_equal(mmoe_synth_config_set_correlation(cfg, 1.0001), MMOE_ERR_RANGE);
    assert_int_equal(mmoe_synth_config_set_correlation(cfg, -1.0001), MMOE_ERR_RANGE);
    assert_int_equal(mmoe_synth_config_set_sin_terms(cfg, MMOE_SYNTH_MAX_SIN_TERMS + 1),
                     MMOE_ERR_RANGE);
    assert_int_equal(mmoe_synth_config_set_noise(cfg, NAN), MMOE_ERR_NONFINITE);
    assert_int_equal(mmoe_synth_config_set_noise(cfg, -0.1), MMOE_ERR_RANGE);
    assert_int_equal(mmoe_synth_config_set_noise(cfg, 1e7), MMOE_ERR_RANGE);
    const double ok[2] = {1.0, 2.0}, bad_nan[2] = {1.0, NAN}, big[2] = {1.0, 1e9};
    assert_int_equal(mmoe_synth_config_set_sin_params(cfg, 2, NULL, ok), MMOE_ERR_NULL);
    assert_int_equal(mmoe_synth_config_set_sin_params(cfg, 2, ok, NULL), MMOE_ERR_NULL);
    assert_int_equal(mmoe_synth_config_set_sin_params(cfg, 2, ok, bad_nan), MMOE_ERR_NONFINITE);
    assert_int_equal(mmoe_synth_config_set_sin_params(cfg, 2, big, ok), MMOE_ERR_RANGE);
    assert_int_equal(mmoe_synth_config_set_sin_params(cfg, MMOE_SYNTH_MAX_SIN_TERMS + 1, ok, ok),
                     MMOE_ERR_RANGE);

    /* Nothing changed: the config still builds exactly the default generator. */
    mmoe_synth *g1 = NULL, *g2 = NULL;
    mmoe_synth_config *fresh = NULL;
    assert_int_equal(mmoe_synth_config_create(&fresh), MMOE_OK);
    assert_int_equal(mmoe_synth_create(cfg, &g1), MMOE_OK);
    assert_int_equal(mmoe_synth_create(fresh, &g2), MMOE_OK);
    assert_int_equal(mmoe_synth_dim(g1), 100);
    assert_int_equal(mmoe_synth_num_tasks(g1), 2);
    assert_int_equal(mmoe_synth_sin_terms(g1), 10);
    float x1[3 * 100], y1[3 * 2], x2[3 * 100], y2[3 * 2];
    assert_int_equal(mmoe_synth_generate(g1, 3, x1, y1), MMOE_OK);
    assert_int_equal(mmoe_synth_generate(g2, 3, x2, y2), MMOE_OK);
    assert_memory_equal(x1, x2, sizeof x1);
    assert_memory_equal(y1, y2, sizeof y1);
    mmoe_synth_free(g1);
    mmoe_synth_free(g2);
    mmoe_synth_config_free(fresh);

    /* A success clears the message. */
    assert_int_equal(mmoe_synth_config_set_seed(cfg, 5), MMOE_OK);
    assert_string_equal(mmoe_synth_config_last_error(cfg), "");
    mmoe_synth_config_free(cfg);
    mmoe_synth_config_free(NULL); /* no-op */
}

static void test_create_errors(void **state)
{
    (void)state;
    mmoe_synth_config *cfg = NULL;
    static int sentinel;
    mmoe_synth *gen = (mmoe_synth *)(void *)&sentinel; /* non-NULL: must be reset to NULL */
    assert_int_equal(mmoe_synth_config_create(&cfg), MMOE_OK);
    assert_int_equal(mmoe_synth_create(cfg, NULL), MMOE_ERR_NULL);
    assert_int_equal(mmoe_synth_create(NULL, &gen), MMOE_ERR_NULL);
    assert_null(gen);

    /* d < T */
    assert_int_equal(mmoe_synth_config_set_dim(cfg, 3), MMOE_OK);
    assert_int_equal(mmoe_synth_config_set_tasks(cfg, 4), MMOE_OK);
    assert_int_equal(mmoe_synth_create(cfg, &gen), MMOE_ERR_INVALID_ARG);
    assert_null(gen);
    assert_non_null(strstr(mmoe_synth_thread_last_error(), "mmoe_synth_create"));

    /* p below -1/(T-1): not positive semidefinite */
    assert_int_equal(mmoe_synth_config_set_dim(cfg, 10), MMOE_OK);
    assert_int_equal(mmoe_synth_config_set_tasks(cfg, 3), MMOE_OK);
    assert_int_equal(mmoe_synth_config_set_correlation(cfg, -0.6), MMOE_OK);
    assert_int_equal(mmoe_synth_create(cfg, &gen), MMOE_ERR_RANGE);
    assert_null(gen);
    assert_int_equal(mmoe_synth_config_set_tasks(cfg, 2), MMOE_OK); /* fine for T = 2 */
    assert_int_equal(mmoe_synth_create(cfg, &gen), MMOE_OK);
    mmoe_synth_free(gen);
    mmoe_synth_free(NULL); /* no-op */
    mmoe_synth_config_free(cfg);
}

static void test_generator_errors(void **state)
{
    (void)state;
    const size_t d = 4;
    mmoe_synth *gen = make_gen(d, 2, 1.0, 0.5, 3, 0.1, 8);
    float x[10 * 4], y[10 * 2], xr[10 * 4], yr[10 * 2];
    double w[4], a[3];

    assert_int_equal(mmoe_synth_generate(NULL, 1, x, y), MMOE_ERR_NULL);
    assert_int_equal(mmoe_synth_generate(gen, 1, NULL, y), MMOE_ERR_NULL);
    assert_true(strlen(mmoe_synth_last_error(gen)) > 0);
    assert_int_equal(mmoe_synth_generate(gen, 1, x, NULL), MMOE_ERR_NULL);
    assert_int_equal(mmoe_synth_generate(gen, SIZE_MAX, x, y), MMOE_ERR_OVERFLOW);
    assert_int_equal(mmoe_synth_generate(gen, MMOE_SYNTH_MAX_ELEMS / d + 1, x, y),
                     MMOE_ERR_OVERFLOW);

    /* The failures did not move the stream: output equals a fresh generator's. */
    memset(x, 0, sizeof x);
    assert_int_equal(mmoe_synth_generate(gen, 10, x, y), MMOE_OK);
    assert_string_equal(mmoe_synth_last_error(gen), "");
    mmoe_synth *ref = make_gen(d, 2, 1.0, 0.5, 3, 0.1, 8);
    assert_int_equal(mmoe_synth_generate(ref, 10, xr, yr), MMOE_OK);
    assert_memory_equal(x, xr, sizeof x);
    assert_memory_equal(y, yr, sizeof y);
    mmoe_synth_free(ref);

    assert_int_equal(mmoe_synth_reset(NULL), MMOE_ERR_NULL);
    assert_int_equal(mmoe_synth_weights(NULL, 0, w, d), MMOE_ERR_NULL);
    assert_int_equal(mmoe_synth_weights(gen, 0, NULL, d), MMOE_ERR_NULL);
    assert_int_equal(mmoe_synth_weights(gen, 2, w, d), MMOE_ERR_RANGE);
    assert_int_equal(mmoe_synth_weights(gen, 0, w, d - 1), MMOE_ERR_RANGE);
    assert_int_equal(mmoe_synth_sin_params(NULL, a, a, 3), MMOE_ERR_NULL);
    assert_int_equal(mmoe_synth_sin_params(gen, a, NULL, 2), MMOE_ERR_RANGE);
    assert_int_equal(mmoe_synth_sin_params(gen, NULL, NULL, 0), MMOE_OK);

    assert_int_equal(mmoe_synth_dim(NULL), 0);
    assert_int_equal(mmoe_synth_num_tasks(NULL), 0);
    assert_int_equal(mmoe_synth_sin_terms(NULL), 0);
    assert_string_equal(mmoe_synth_last_error(NULL), "");
    mmoe_synth_free(gen);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cosine_two_tasks),
        cmocka_unit_test(test_cosine_many_tasks),
        cmocka_unit_test(test_first_vector_independent_of_p),
        cmocka_unit_test(test_label_formula),
        cmocka_unit_test(test_explicit_sin_params),
        cmocka_unit_test(test_input_moments),
        cmocka_unit_test(test_label_correlation_grows_with_p),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_seeds_differ),
        cmocka_unit_test(test_inputs_shared_across_p),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_create_errors),
        cmocka_unit_test(test_generator_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
