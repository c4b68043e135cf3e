/*
 * Kernel tests: every optimised kernel against its plain C reference on
 * random shapes and values (the way checkasm tests assembly against C), so
 * that speed work cannot silently change results.
 *
 * Exactness: element-wise kernels that perform the same float operations
 * in the same order as their reference (bias + activation, activation
 * derivative + bias gradient, the max of a reduction) must match bit for
 * bit. Kernels whose reference works in double (GEMMs through the BLAS,
 * sums of squares, optimizer updates) are compared with bounds derived
 * from the float rounding error of the fast path, stated at each check.
 */
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "activation.h"
#include "dense.h"
#include "mix.h"
#include "optimizer_impl.h"
#include "reduce.h"
#include "mmoe/runtime.h"

#define TRIALS 40

static uint64_t rng_state = 0x1234abcd5678ef01ULL;

static uint64_t next_u64(void)
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* Uniform in [-1, 1). */
static float uni(void)
{
    return (float)((double)(next_u64() >> 40) / (double)(1u << 24) * 2.0 - 1.0);
}

/* Random size in [lo, hi]. */
static size_t rsize(size_t lo, size_t hi)
{
    return lo + (size_t)(next_u64() % (hi - lo + 1));
}

static float *rand_buf(size_t n, float scale)
{
    float *p = malloc((n ? n : 1) * sizeof *p);
    assert_non_null(p);
    for (size_t i = 0; i < n; i++)
        p[i] = scale * uni();
    return p;
}

static float *copy_buf(const float *src, size_t n)
{
    float *p = malloc((n ? n : 1) * sizeof *p);
    assert_non_null(p);
    memcpy(p, src, n * sizeof *p);
    return p;
}

static void assert_same_bits(const float *a, const float *b, size_t n, const char *what)
{
    for (size_t i = 0; i < n; i++)
        if (memcmp(&a[i], &b[i], sizeof(float)) != 0)
            fail_msg("%s: element %zu differs: %.9g vs %.9g", what, i, (double)a[i], (double)b[i]);
}

static const mmoe_activation acts[] = {MMOE_ACT_IDENTITY, MMOE_ACT_RELU, MMOE_ACT_SIGMOID,
                                       MMOE_ACT_TANH};

static void test_act_bias_backward(void **state)
{
    (void)state;
    for (int t = 0; t < TRIALS; t++) {
        size_t rows = rsize(1, 9), cols = rsize(1, 300), lda = cols + rsize(0, 3);
        size_t ldd = cols + rsize(0, 3);
        mmoe_activation act = acts[t % 4];
        float *A = rand_buf(rows * lda, 1.0f);
        if (act == MMOE_ACT_SIGMOID)
            for (size_t i = 0; i < rows * lda; i++)
                A[i] = 0.5f + 0.5f * A[i];
        float *D = rand_buf(rows * ldd, 2.0f), *DR = copy_buf(D, rows * ldd);
        float *db = t % 5 == 4 ? NULL : rand_buf(cols, 1.0f);
        float *dbr = db ? copy_buf(db, cols) : NULL;
        mmoe__act_bias_backward(act, rows, cols, A, lda, D, ldd, db);
        mmoe__act_bias_backward_ref(act, rows, cols, A, lda, DR, ldd, dbr);
        assert_same_bits(D, DR, rows * ldd, "act_bias_backward dA");
        if (db)
            assert_same_bits(db, dbr, cols, "act_bias_backward db");
        free(A);
        free(D);
        free(DR);
        free(db);
        free(dbr);
    }
}

/*
 * |fast - ref| for a dot product of length k of values bounded by |x| and
 * |w|: the float result carries at most about k * eps32 * sum |x_i w_i|
 * (any summation order); the bound uses 2 k eps32 sum|x w| + a few ulps.
 */
static double dot_bound(double sum_abs, size_t k)
{
    return 2.0 * (double)k * FLT_EPSILON * sum_abs + 4.0 * FLT_MIN;
}

static void test_dense(void **state)
{
    (void)state;
    for (int t = 0; t < TRIALS; t++) {
        size_t B = t % 7 == 0 ? 1 : rsize(2, 40), in = rsize(1, 70), out = rsize(1, 90);
        if (t % 7 == 3) { /* batch 1, large enough for the blocked matrix-vector path */
            B = 1;
            in = rsize(100, 180);
            out = rsize(100, 200);
        }
        size_t ldx = in + rsize(0, 4), ldy = out + rsize(0, 4), lddx = in + rsize(0, 4);
        mmoe_activation act = acts[t % 4];
        float *W = rand_buf(out * in, 1.0f), *b = rand_buf(out, 1.0f);
        float *X = rand_buf(B * ldx, 1.0f);
        float *Y = rand_buf(B * ldy, 1.0f), *YR = copy_buf(Y, B * ldy);
        Y[0] = NAN; /* previous contents must be ignored */
        mmoe__dense_forward_act(W, b, act, in, out, B, X, ldx, Y, ldy);
        mmoe__dense_forward_act_ref(W, b, act, in, out, B, X, ldx, YR, ldy);
        for (size_t r = 0; r < B; r++)
            for (size_t o = 0; o < out; o++) {
                double s = fabs(b[o]);
                for (size_t i = 0; i < in; i++)
                    s += fabs((double)X[r * ldx + i] * W[o * in + i]);
                /* activations here are 1-Lipschitz (sigmoid 1/4) */
                double tol = dot_bound(s, in + 1);
                if (!(fabs((double)Y[r * ldy + o] - YR[r * ldy + o]) <= tol))
                    fail_msg("dense forward [%zu,%zu] B=%zu in=%zu out=%zu act=%d: %.9g vs %.9g "
                             "(bound %.3g)",
                             r, o, B, in, out, (int)act, (double)Y[r * ldy + o],
                             (double)YR[r * ldy + o], tol);
            }

        float *dY = rand_buf(B * ldy, 1.0f);
        float *dW = rand_buf(out * in, 1.0f), *dWR = copy_buf(dW, out * in);
        float *db = rand_buf(out, 1.0f), *dbR = copy_buf(db, out);
        float *dX = rand_buf(B * lddx, 1.0f), *dXR = copy_buf(dX, B * lddx);
        float beta = t % 2 ? 1.0f : 0.0f;
        mmoe__dense_backward(W, in, out, B, X, ldx, dY, ldy, dW, db, dX, lddx, beta);
        mmoe__dense_backward_ref(W, in, out, B, X, ldx, dY, ldy, dWR, dbR, dXR, lddx, beta);
        for (size_t o = 0; o < out; o++)
            for (size_t i = 0; i < in; i++) {
                double s = 1.0;
                for (size_t r = 0; r < B; r++)
                    s += fabs((double)dY[r * ldy + o] * X[r * ldx + i]);
                assert_true(fabs((double)dW[o * in + i] - dWR[o * in + i]) <= dot_bound(s, B + 1));
            }
        for (size_t o = 0; o < out; o++)
            assert_true(fabs((double)db[o] - dbR[o]) <= dot_bound(1.0 + (double)B, B + 1));
        for (size_t r = 0; r < B; r++)
            for (size_t i = 0; i < in; i++) {
                double s = 1.0;
                for (size_t o = 0; o < out; o++)
                    s += fabs((double)dY[r * ldy + o] * W[o * in + i]);
                assert_true(fabs((double)dX[r * lddx + i] - dXR[r * lddx + i]) <=
                            dot_bound(s, out + 1));
            }
        free(W);
        free(b);
        free(X);
        free(Y);
        free(YR);
        free(dY);
        free(dW);
        free(dWR);
        free(db);
        free(dbR);
        free(dX);
        free(dXR);
    }
}

static void test_sumsq_absmax(void **state)
{
    (void)state;
    for (int t = 0; t < TRIALS; t++) {
        size_t n = t == 0 ? 0 : rsize(1, 5000);
        float *x = rand_buf(n, t % 3 == 0 ? 1e18f : 1.0f);
        double s, sr;
        float m, mr;
        mmoe__sumsq_absmax(x, n, &s, &m);
        mmoe__sumsq_absmax_ref(x, n, &sr, &mr);
        /* both sum exact double products; only the order of n additions differs */
        assert_true(fabs(s - sr) <= 2.0 * (double)n * DBL_EPSILON * sr);
        assert_true(m == mr);
        if (n > 0) {
            float *y = rand_buf(n, 1.0f);
            double exact = 0.0, mag = 0.0;
            for (size_t i = 0; i < n; i++) {
                exact += (double)x[i] * y[i];
                mag += fabs((double)x[i] * y[i]);
            }
            /* any summation order: within 2 n eps32 sum|x y| of the exact value */
            assert_true(fabs(mmoe__dotf(x, y, n) - exact) <= dot_bound(mag, n));
            assert_true(fabs(mmoe__dotf_ref(x, y, n) - exact) <= dot_bound(mag, n));
            free(y);
        }
        float m2, m2r;
        int f2 = mmoe__absmax_finite(x, n, &m2), f2r = mmoe__absmax_finite_ref(x, n, &m2r);
        assert_true(f2 && f2r && m2 == mr && m2r == mr);
        if (n > 2) {
            x[n / 2] = NAN;
            mmoe__sumsq_absmax(x, n, &s, &m);
            assert_false(isfinite(s));
            assert_false(mmoe__absmax_finite(x, n, &m2));
            x[n / 2] = INFINITY;
            mmoe__sumsq_absmax(x, n, &s, &m);
            assert_false(isfinite(s));
            assert_false(mmoe__absmax_finite(x, n, &m2));
            x[n - 1] = NAN; /* in the scalar tail */
            x[n / 2] = 0.0f;
            assert_false(mmoe__absmax_finite(x, n, &m2));
        }
        free(x);
    }
}

static void check_optimizer(const mmoe__opt_kind *k)
{
    for (int t = 0; t < TRIALS; t++) {
        size_t n = rsize(1, 3000);
        mmoe__step c = {0};
        c.t = 1 + next_u64() % 1000;
        c.gscale = t % 3 ? 1.0 : 0.25;
        c.lambda = t % 2 ? 0.0 : 1e-3;
        c.lr = 1e-3;
        c.mu = 0.9;
        c.beta1 = 0.9;
        c.beta2 = 0.999;
        c.eps = 1e-8;
        c.c1 = 1.0 / (1.0 - pow(c.beta1, (double)c.t));
        c.c2 = 1.0 / (1.0 - pow(c.beta2, (double)c.t));
        float *p = rand_buf(n, 1.0f), *g = rand_buf(n, 0.1f);
        float *s0 = rand_buf(n, 0.01f), *s1 = rand_buf(n, 1e-3f);
        for (size_t i = 0; i < n; i++)
            s1[i] = s1[i] * s1[i] + 1e-12f; /* second moments / sums are >= 0 */
        if (k == &mmoe__opt_adagrad)
            for (size_t i = 0; i < n; i++)
                s0[i] = fabsf(s0[i]);
        if (t % 4 == 0)
            for (size_t i = 0; i < n; i += 7)
                g[i] = 0.0f;
        float *pr = copy_buf(p, n), *s0r = copy_buf(s0, n), *s1r = copy_buf(s1, n);
        float *p0 = copy_buf(p, n), *s00 = copy_buf(s0, n), *s10 = copy_buf(s1, n);
        k->update(n, p, g, s0, k->state_arrays > 1 ? s1 : NULL, &c);
        k->update_ref(n, pr, g, s0r, k->state_arrays > 1 ? s1r : NULL, &c);
        for (size_t i = 0; i < n; i++) {
            /*
             * The fast kernel rounds each of its ~10 float operations; the
             * parameter change carries a relative error of about 1e-6,
             * the state a few float ulps.
             */
            double step = fabs((double)pr[i] - p0[i]);
            double tolp = 4e-6 * step + 2.0 * FLT_EPSILON * fabs(pr[i]) + 1e-12;
            if (!(fabs((double)p[i] - pr[i]) <= tolp))
                fail_msg("%s param %zu: %.9g vs %.9g (step %.3g)", k->name, i, (double)p[i],
                         (double)pr[i], step);
            /* state: a few ulps of its terms (old value and effective gradient) */
            double geff = c.gscale * fabs(g[i]) + c.lambda * fabs(p0[i]);
            double tol0 = 4.0 * FLT_EPSILON * (fabs(s00[i]) + geff + geff * geff) + 1e-37;
            assert_true(fabs((double)s0[i] - s0r[i]) <= tol0);
            if (k->state_arrays > 1)
                assert_true(fabs((double)s1[i] - s1r[i]) <=
                            4.0 * FLT_EPSILON * (fabs(s10[i]) + geff * geff) + 1e-37);
        }
        free(p);
        free(g);
        free(s0);
        free(s1);
        free(pr);
        free(s0r);
        free(s1r);
        free(p0);
        free(s00);
        free(s10);
    }
}

static void test_optimizer_sgd(void **state)
{
    (void)state;
    check_optimizer(&mmoe__opt_sgd);
}

static void test_optimizer_adam(void **state)
{
    (void)state;
    check_optimizer(&mmoe__opt_adam);
}

static void test_optimizer_adagrad(void **state)
{
    (void)state;
    check_optimizer(&mmoe__opt_adagrad);
}

/* Moments that decay below FLT_MIN are stored as zero, never as subnormals. */
static void test_optimizer_flushes_tiny_state(void **state)
{
    (void)state;
    const mmoe__opt_kind *kinds[] = {&mmoe__opt_sgd, &mmoe__opt_adam, &mmoe__opt_adagrad};
    for (size_t k = 0; k < 3; k++) {
        float p[4] = {1, 1, 1, 1}, g[4] = {0, 0, 0, 0};
        float s0[4] = {FLT_MIN, -FLT_MIN, 1e-30f, 0}, s1[4] = {FLT_MIN, FLT_MIN, 1e-30f, 0};
        mmoe__step c = {1, 1.0, 0.0, 1e-3, 0.5, 0.5, 0.5, 1e-8, 2.0, 2.0};
        kinds[k]->update(4, p, g, s0, kinds[k]->state_arrays > 1 ? s1 : NULL, &c);
        for (size_t i = 0; i < 4; i++) {
            assert_true(s0[i] == 0.0f || fabsf(s0[i]) >= FLT_MIN);
            assert_true(s1[i] == 0.0f || fabsf(s1[i]) >= FLT_MIN);
        }
        assert_true(s0[0] == 0.0f || kinds[k] == &mmoe__opt_adagrad);
    }
}

/*
 * The pool's versions (mmoe_set_num_threads(2)) of the kernels it splits:
 * bit-identical to one thread, and absmax_finite still finds a NaN or an
 * infinity in any chunk.
 */
static void test_pool_splits(void **state)
{
    (void)state;
    const size_t B = 64, in = 256, out = 520, n = 300001;
    float *W = rand_buf(out * in, 1.0f), *b = rand_buf(out, 1.0f), *X = rand_buf(B * in, 1.0f);
    float *Y1 = malloc(B * out * sizeof *Y1), *Y2 = malloc(B * out * sizeof *Y2);
    float *x = rand_buf(n, 3.0f);
    assert_true(W && b && X && Y1 && Y2 && x);
    float m1, m2;
    assert_int_equal(mmoe_set_num_threads(1), MMOE_OK);
    mmoe__dense_forward_act(W, b, MMOE_ACT_RELU, in, out, B, X, in, Y1, out);
    assert_true(mmoe__absmax_finite(x, n, &m1));
    assert_int_equal(mmoe_set_num_threads(2), MMOE_OK);
    mmoe__dense_forward_act(W, b, MMOE_ACT_RELU, in, out, B, X, in, Y2, out);
    assert_memory_equal(Y1, Y2, B * out * sizeof *Y1);
    assert_true(mmoe__absmax_finite(x, n, &m2));
    assert_true(m1 == m2);
    const size_t at[] = {0, n / 3, n / 2, n - 1};
    for (size_t i = 0; i < sizeof at / sizeof at[0]; i++) {
        float keep = x[at[i]];
        x[at[i]] = NAN;
        assert_false(mmoe__absmax_finite(x, n, &m2));
        x[at[i]] = -INFINITY;
        assert_false(mmoe__absmax_finite(x, n, &m2));
        x[at[i]] = 1e30f; /* the new maximum, found in whichever chunk holds it */
        assert_true(mmoe__absmax_finite(x, n, &m2));
        assert_true(m2 == 1e30f);
        x[at[i]] = keep;
    }
    assert_int_equal(mmoe_set_num_threads(1), MMOE_OK);
    free(W);
    free(b);
    free(X);
    free(Y1);
    free(Y2);
    free(x);
}

/* The softmax's vector exponential against expf, then whole rows against the reference. */
static void test_softmax(void **state)
{
    (void)state;
    double worst = 0.0;
    for (int i = 0; i <= 200000; i++) {
        float x = -90.0f + 90.0f * (float)i / 200000.0f, row[2] = {x, 0.0f}, ref[2] = {x, 0.0f};
        mmoe__softmax_rows(1, 2, row, 2);
        mmoe__softmax_rows_ref(1, 2, ref, 2);
        /* row[0] = e^x / (1 + e^x): relative error within a few float ulps where normal */
        if (ref[0] >= FLT_MIN) {
            double rel = fabs((double)row[0] - ref[0]) / ref[0];
            worst = rel > worst ? rel : worst;
        } else {
            assert_true(row[0] <= FLT_MIN);
        }
        assert_true(row[1] == ref[1] || fabs((double)row[1] - ref[1]) <= 2.5e-7);
    }
    assert_true(worst <= 4.0 * FLT_EPSILON);
    for (int t = 0; t < TRIALS; t++) {
        size_t rows = rsize(1, 9), n = rsize(1, 40), ld = n + rsize(0, 3);
        float *P = rand_buf(rows * ld, t % 2 ? 30.0f : 3.0f), *R = malloc(rows * ld * sizeof *R);
        assert_non_null(R);
        memcpy(R, P, rows * ld * sizeof *R);
        mmoe__softmax_rows(rows, n, P, ld);
        mmoe__softmax_rows_ref(rows, n, R, ld);
        for (size_t r = 0; r < rows; r++)
            for (size_t e = 0; e < n; e++)
                assert_true(fabs((double)P[r * ld + e] - R[r * ld + e]) <=
                            4.0 * FLT_EPSILON * R[r * ld + e] + 1e-37);
        free(P);
        free(R);
    }
    /* -inf logits (masked experts) give exactly 0; a NaN logit stays NaN */
    float m[4] = {-INFINITY, 1.0f, -INFINITY, 2.0f};
    mmoe__softmax_rows(1, 4, m, 4);
    assert_true(m[0] == 0.0f && m[2] == 0.0f && m[1] > 0.0f && m[3] > m[1]);
    float q[3] = {0.0f, NAN, 1.0f};
    mmoe__softmax_rows(1, 3, q, 3);
    assert_true(isnan(q[1]));
}

/* The mixing of many rows in one call equals the one-row mixing on cleared rows, bit for bit. */
static void test_mix_rows(void **state)
{
    (void)state;
    for (int t = 0; t < TRIALS; t++) {
        size_t rows = rsize(1, 9), T = rsize(1, 4), n = rsize(1, 17), h = rsize(1, 40);
        size_t pk = t % 2 ? n : 0, ldp = (pk ? T : 1) * n + rsize(0, 2), ldh = n * h;
        float *P = rand_buf(rows * ldp, 1.0f), *H = rand_buf(rows * ldh, 1.0f);
        float *F = rand_buf(rows * T * h, 5.0f), *R = calloc(rows * T * h, sizeof *R);
        assert_non_null(R);
        mmoe__mix_forward_rows(rows, T, n, h, P, ldp, pk, H, ldh, F, T * h);
        for (size_t r = 0; r < rows; r++)
            for (size_t k = 0; k < T; k++)
                mmoe__mix_forward(n, h, P + r * ldp + k * pk, H + r * ldh, R + r * T * h + k * h);
        assert_memory_equal(F, R, rows * T * h * sizeof *F);
        /* backward: the rows at once against the one-row loop over tasks on cleared rows */
        float *dH = rand_buf(rows * ldh, 5.0f), *dHR = calloc(rows * ldh, sizeof *dHR);
        float *dP = rand_buf(rows * ldp, 5.0f), *dPR = calloc(rows * ldp, sizeof *dPR);
        assert_true(dHR && dPR);
        mmoe__mix_backward_rows(rows, T, n, h, P, ldp, pk, H, ldh, F, T * h, dH, dP);
        for (size_t r = 0; r < rows; r++)
            for (size_t k = 0; k < T; k++)
                mmoe__mix_backward(n, h, P + r * ldp + k * pk, H + r * ldh, F + r * T * h + k * h,
                                   dHR + r * ldh, dPR + r * ldp + k * pk);
        assert_memory_equal(dH, dHR, rows * ldh * sizeof *dH);
        for (size_t r = 0; r < rows; r++) /* the gate rows' columns (padding untouched) */
            assert_memory_equal(dP + r * ldp, dPR + r * ldp, (pk ? T : 1) * n * sizeof *dP);
        free(dH);
        free(dHR);
        free(dP);
        free(dPR);
        free(P);
        free(H);
        free(F);
        free(R);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mix_rows),
        cmocka_unit_test(test_softmax),
        cmocka_unit_test(test_pool_splits),
        cmocka_unit_test(test_act_bias_backward),
        cmocka_unit_test(test_dense),
        cmocka_unit_test(test_sumsq_absmax),
        cmocka_unit_test(test_optimizer_sgd),
        cmocka_unit_test(test_optimizer_adam),
        cmocka_unit_test(test_optimizer_adagrad),
        cmocka_unit_test(test_optimizer_flushes_tiny_state),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
