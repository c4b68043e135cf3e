/*
 * Optimizer unit tests: SGD (plain and momentum), Adam and Adagrad against
 * hand-computed updates, weight decay, global-norm clipping, refusal of
 * non-finite gradients, hyper-parameter validation and NULL handling.
 *
 * Every test drives a tiny real model (2 inputs, one expert of width 1, one
 * regression task without hidden layers) through its flat buffers: the
 * first three parameters and gradients are written by hand, every other
 * gradient is zero.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <mmoe/mmoe.h>

#define TOL 1e-6

/* |a - b| <= tol, reporting the caller's location on failure. */
#define assert_near(a, b, tol) assert_near_((double)(a), (double)(b), (tol), #a, __FILE__, __LINE__)

static void assert_near_(double a, double b, double tol, const char *expr, const char *file,
                         int line)
{
    if (!(fabs(a - b) <= tol)) {
        print_error("%s:%d: %s = %.10g, expected %.10g (tolerance %g)\n", file, line, expr, a, b,
                    tol);
        fail();
    }
}

static const float THETA0[3] = {1.0f, -2.0f, 0.5f};
static const float G1[3] = {0.1f, -0.2f, 0.3f};
static const float G2[3] = {0.3f, 0.2f, -0.1f};

typedef struct fixture {
    mmoe_model *model;
    float *params;
    float *grads;
    size_t n;
    float *saved; /* copy of params taken by save_params */
} fixture;

static void fixture_open(fixture *f)
{
    mmoe_config *cfg = NULL;
    assert_int_equal(mmoe_config_create(&cfg), MMOE_OK);
    assert_int_equal(mmoe_config_set_int(cfg, "input.dense", 2), MMOE_OK);
    assert_int_equal(mmoe_config_set_experts(cfg, 1, 1, (size_t[]){1}, MMOE_ACT_RELU), MMOE_OK);
    assert_int_equal(
        mmoe_config_add_task(cfg, "t", MMOE_TASK_REGRESSION, 0, NULL, MMOE_ACT_RELU, 1.0f),
        MMOE_OK);
    f->model = NULL;
    assert_int_equal(mmoe_model_create(cfg, &f->model), MMOE_OK);
    mmoe_config_free(cfg);
    assert_int_equal(mmoe_model_flat(f->model, &f->params, &f->grads, &f->n), MMOE_OK);
    assert_true(f->n >= 3);
    f->saved = calloc(f->n, sizeof(float));
    assert_non_null(f->saved);
    memcpy(f->params, THETA0, sizeof THETA0);
    memset(f->grads, 0, f->n * sizeof(float));
}

static void fixture_close(fixture *f)
{
    free(f->saved);
    mmoe_model_free(f->model);
}

/* First three gradients to g, all others zero. */
static void set_grads3(fixture *f, const float g[3])
{
    memset(f->grads, 0, f->n * sizeof(float));
    memcpy(f->grads, g, 3 * sizeof(float));
}

static void save_params(fixture *f)
{
    memcpy(f->saved, f->params, f->n * sizeof(float));
}

/* Parameters 3..n-1 (zero gradient) are bit-identical to the saved copy. */
static void assert_rest_unchanged(const fixture *f)
{
    assert_memory_equal(f->params + 3, f->saved + 3, (f->n - 3) * sizeof(float));
}

static void assert_params3(const fixture *f, double a, double b, double c)
{
    assert_near(f->params[0], a, TOL);
    assert_near(f->params[1], b, TOL);
    assert_near(f->params[2], c, TOL);
}

static mmoe_optimizer *make_opt(fixture *f, mmoe_optimizer_kind kind)
{
    mmoe_optimizer *opt = NULL;
    assert_int_equal(mmoe_optimizer_create(f->model, kind, &opt), MMOE_OK);
    assert_non_null(opt);
    assert_int_equal(mmoe_optimizer_steps(opt), 0);
    assert_string_equal(mmoe_optimizer_last_error(opt), "");
    return opt;
}

static void set_ok(mmoe_optimizer *opt, mmoe_optimizer_param p, double v)
{
    assert_int_equal(mmoe_optimizer_set(opt, p, v), MMOE_OK);
    double got = -1.0;
    assert_int_equal(mmoe_optimizer_get(opt, p, &got), MMOE_OK);
    assert_true(got == v);
}

static void expect_get(const mmoe_optimizer *opt, mmoe_optimizer_param p, double want)
{
    double got = -1.0;
    assert_int_equal(mmoe_optimizer_get(opt, p, &got), MMOE_OK);
    assert_true(got == want);
}

/* ------------------------------------------------------------------ */

static void test_defaults(void **state)
{
    (void)state;
    fixture f;
    fixture_open(&f);

    mmoe_optimizer *sgd = make_opt(&f, MMOE_OPTIMIZER_SGD);
    expect_get(sgd, MMOE_OPT_LEARNING_RATE, 0.01);
    expect_get(sgd, MMOE_OPT_MOMENTUM, 0.0);
    expect_get(sgd, MMOE_OPT_WEIGHT_DECAY, 0.0);
    expect_get(sgd, MMOE_OPT_CLIP_NORM, 0.0);

    mmoe_optimizer *adam = make_opt(&f, MMOE_OPTIMIZER_ADAM);
    expect_get(adam, MMOE_OPT_LEARNING_RATE, 0.001);
    expect_get(adam, MMOE_OPT_BETA1, 0.9);
    expect_get(adam, MMOE_OPT_BETA2, 0.999);
    expect_get(adam, MMOE_OPT_EPSILON, 1e-8);
    expect_get(adam, MMOE_OPT_WEIGHT_DECAY, 0.0);
    expect_get(adam, MMOE_OPT_CLIP_NORM, 0.0);

    mmoe_optimizer *ada = make_opt(&f, MMOE_OPTIMIZER_ADAGRAD);
    expect_get(ada, MMOE_OPT_LEARNING_RATE, 0.01);
    expect_get(ada, MMOE_OPT_EPSILON, 1e-10);
    expect_get(ada, MMOE_OPT_WEIGHT_DECAY, 0.0);
    expect_get(ada, MMOE_OPT_CLIP_NORM, 0.0);

    /* Parameters a kind does not use cannot be read. */
    double v = 42.0;
    assert_int_equal(mmoe_optimizer_get(sgd, MMOE_OPT_BETA1, &v), MMOE_ERR_INVALID_ARG);
    assert_int_equal(mmoe_optimizer_get(sgd, MMOE_OPT_EPSILON, &v), MMOE_ERR_INVALID_ARG);
    assert_int_equal(mmoe_optimizer_get(adam, MMOE_OPT_MOMENTUM, &v), MMOE_ERR_INVALID_ARG);
    assert_int_equal(mmoe_optimizer_get(ada, MMOE_OPT_BETA2, &v), MMOE_ERR_INVALID_ARG);
    assert_int_equal(mmoe_optimizer_get(ada, MMOE_OPT_MOMENTUM, &v), MMOE_ERR_INVALID_ARG);
    assert_int_equal(mmoe_optimizer_get(ada, (mmoe_optimizer_param)99, &v), MMOE_ERR_INVALID_ARG);
    assert_true(v == 42.0);

    mmoe_optimizer_free(sgd);
    mmoe_optimizer_free(adam);
    mmoe_optimizer_free(ada);
    fixture_close(&f);
}

/*
 * Adam, lr = 0.1, b1 = 0.9, b2 = 0.999, eps = 1e-8,
 * theta = (1, -2, 0.5), g1 = (0.1, -0.2, 0.3), g2 = (0.3, 0.2, -0.1).
 *
 * Step 1 (t = 1): m = 0.1 g1 = (0.01, -0.02, 0.03),
 *   v = 0.001 g1^2 = (1e-5, 4e-5, 9e-5); 1 - b1 = 0.1, 1 - b2 = 0.001, so
 *   mhat = g1 and vhat = g1^2; each step is lr * g / (|g| + eps):
 *     0.1 * 0.1 / (0.1 + 1e-8)  = 0.09999999
 *     0.1 * -0.2 / (0.2 + 1e-8) = -0.099999995
 *     0.1 * 0.3 / (0.3 + 1e-8)  = 0.0999999967
 *   theta = (0.90000001, -1.900000005, 0.4000000033).
 *
 * Step 2 (t = 2): 1 - b1^2 = 0.19, 1 - b2^2 = 0.001999.
 *   i=0: m = 0.9*0.01 + 0.1*0.3 = 0.039, mhat = 0.039/0.19 = 0.2052631579;
 *        v = 0.999*1e-5 + 0.001*0.09 = 9.999e-5, vhat = 0.0500200100;
 *        step = 0.1 * 0.2052631579 / (0.2236515 + 1e-8) = 0.0917781078
 *        theta = 0.90000001 - 0.0917781078 = 0.8082219022
 *   i=1: m = 0.9*-0.02 + 0.1*0.2 = 0.002, mhat = 0.0105263158;
 *        v = 0.999*4e-5 + 0.001*0.04 = 7.996e-5, vhat = 0.04;
 *        step = 0.1 * 0.0105263158 / (0.2 + 1e-8) = 0.0052631576
 *        theta = -1.900000005 - 0.0052631576 = -1.9052631626
 *   i=2: m = 0.9*0.03 + 0.1*-0.1 = 0.017, mhat = 0.0894736842;
 *        v = 0.999*9e-5 + 0.001*0.01 = 9.991e-5, vhat = 0.0499799900;
 *        step = 0.1 * 0.0894736842 / (0.2235621 + 1e-8) = 0.0400218554
 *        theta = 0.4000000033 - 0.0400218554 = 0.3599781479
 */
static void test_adam_two_steps(void **state)
{
    (void)state;
    fixture f;
    fixture_open(&f);
    save_params(&f);
    mmoe_optimizer *opt = make_opt(&f, MMOE_OPTIMIZER_ADAM);
    set_ok(opt, MMOE_OPT_LEARNING_RATE, 0.1);

    set_grads3(&f, G1);
    assert_int_equal(mmoe_optimizer_step(opt), MMOE_OK);
    assert_int_equal(mmoe_optimizer_steps(opt), 1);
    assert_params3(&f, 0.90000001, -1.900000005, 0.4000000033);
    assert_rest_unchanged(&f);

    set_grads3(&f, G2);
    assert_int_equal(mmoe_optimizer_step(opt), MMOE_OK);
    assert_int_equal(mmoe_optimizer_steps(opt), 2);
    assert_params3(&f, 0.8082219022, -1.9052631626, 0.3599781479);
    assert_rest_unchanged(&f);

    /* The step does not reset (or otherwise touch) the gradients. */
    assert_memory_equal(f.grads, G2, sizeof G2);

    mmoe_optimizer_free(opt);
    fixture_close(&f);
}

/*
 * Plain SGD, lr = 0.1: theta -= 0.1 g.
 *   step 1: (1, -2, 0.5) - 0.1 (0.1, -0.2, 0.3) = (0.99, -1.98, 0.47)
 *   step 2: (0.99, -1.98, 0.47) - 0.1 (0.3, 0.2, -0.1) = (0.96, -2.0, 0.48)
 * Momentum mu = 0.9, lr = 0.1: v = 0.9 v + g; theta -= 0.1 v.
 *   step 1: v = g1 = (0.1, -0.2, 0.3); theta = (0.99, -1.98, 0.47)
 *   step 2: v = 0.9 g1 + g2 = (0.39, 0.02, 0.17);
 *           theta = (0.99 - 0.039, -1.98 - 0.002, 0.47 - 0.017) = (0.951, -1.982, 0.453)
 */
static void test_sgd_two_steps(void **state)
{
    (void)state;
    for (int with_momentum = 0; with_momentum <= 1; with_momentum++) {
        fixture f;
        fixture_open(&f);
        save_params(&f);
        mmoe_optimizer *opt = make_opt(&f, MMOE_OPTIMIZER_SGD);
        set_ok(opt, MMOE_OPT_LEARNING_RATE, 0.1);
        if (with_momentum)
            set_ok(opt, MMOE_OPT_MOMENTUM, 0.9);

        set_grads3(&f, G1);
        assert_int_equal(mmoe_optimizer_step(opt), MMOE_OK);
        assert_params3(&f, 0.99, -1.98, 0.47);
        set_grads3(&f, G2);
        assert_int_equal(mmoe_optimizer_step(opt), MMOE_OK);
        if (with_momentum)
            assert_params3(&f, 0.951, -1.982, 0.453);
        else
            assert_params3(&f, 0.96, -2.0, 0.48);
        assert_int_equal(mmoe_optimizer_steps(opt), 2);
        assert_rest_unchanged(&f);

        mmoe_optimizer_free(opt);
        fixture_close(&f);
    }
}

/*
 * Adagrad, lr = 0.1, eps = 1e-10: G += g^2; theta -= 0.1 g / (sqrt(G) + eps).
 *   step 1: G = (0.01, 0.04, 0.09), sqrt(G) = |g1|, so theta moves by 0.1 sign(g1):
 *           theta = (0.9, -1.9, 0.4)
 *   step 2: G = (0.1, 0.08, 0.1)
 *     i=0: 0.9 - 0.1 * 0.3 / 0.3162278 = 0.9 - 0.0948683 = 0.8051317
 *     i=1: -1.9 - 0.1 * 0.2 / 0.2828427 = -1.9 - 0.0707107 = -1.9707107
 *     i=2: 0.4 + 0.1 * 0.1 / 0.3162278 = 0.4 + 0.0316228 = 0.4316228
 */
static void test_adagrad_two_steps(void **state)
{
    (void)state;
    fixture f;
    fixture_open(&f);
    save_params(&f);
    mmoe_optimizer *opt = make_opt(&f, MMOE_OPTIMIZER_ADAGRAD);
    set_ok(opt, MMOE_OPT_LEARNING_RATE, 0.1);

    set_grads3(&f, G1);
    assert_int_equal(mmoe_optimizer_step(opt), MMOE_OK);
    assert_params3(&f, 0.9, -1.9, 0.4);
    set_grads3(&f, G2);
    assert_int_equal(mmoe_optimizer_step(opt), MMOE_OK);
    assert_params3(&f, 0.8051316703, -1.9707106781, 0.4316227766);
    assert_int_equal(mmoe_optimizer_steps(opt), 2);
    assert_rest_unchanged(&f);

    mmoe_optimizer_free(opt);
    fixture_close(&f);
}

/*
 * Weight decay lambda = 0.5 with SGD, lr = 0.1, on every parameter (biases
 * included): theta_new = theta - 0.1 (g + 0.5 theta). For the first three,
 *   (1, -2, 0.5) - 0.1 ((0.1, -0.2, 0.3) + (0.5, -1, 0.25))
 *   = (1 - 0.06, -2 + 0.12, 0.5 - 0.055) = (0.94, -1.88, 0.445);
 * parameters with zero gradient shrink by the factor 1 - 0.05 = 0.95.
 */
static void test_weight_decay(void **state)
{
    (void)state;
    fixture f;
    fixture_open(&f);
    save_params(&f);
    mmoe_optimizer *opt = make_opt(&f, MMOE_OPTIMIZER_SGD);
    set_ok(opt, MMOE_OPT_LEARNING_RATE, 0.1);
    set_ok(opt, MMOE_OPT_WEIGHT_DECAY, 0.5);

    set_grads3(&f, G1);
    assert_int_equal(mmoe_optimizer_step(opt), MMOE_OK);
    assert_params3(&f, 0.94, -1.88, 0.445);
    for (size_t i = 3; i < f.n; i++)
        assert_near(f.params[i], 0.95 * (double)f.saved[i], TOL);
    mmoe_optimizer_free(opt);

    /*
     * Adam with decay: a parameter with zero gradient but theta != 0 now
     * moves; its first step is lr * sign(theta) (up to eps). Use the first
     * parameter: theta = 0.94 (from above), g = 0, lambda = 0.5, lr = 0.01
     * -> g_eff = 0.47, step = 0.01 * 0.47 / (0.47 + 1e-8) ~ 0.01 -> 0.93.
     */
    opt = make_opt(&f, MMOE_OPTIMIZER_ADAM);
    set_ok(opt, MMOE_OPT_LEARNING_RATE, 0.01);
    set_ok(opt, MMOE_OPT_WEIGHT_DECAY, 0.5);
    memset(f.grads, 0, f.n * sizeof(float));
    assert_int_equal(mmoe_optimizer_step(opt), MMOE_OK);
    assert_near(f.params[0], 0.93, TOL);
    assert_near(f.params[1], -1.87, TOL);
    mmoe_optimizer_free(opt);

    fixture_close(&f);
}

/*
 * Global-norm clipping with SGD, lr = 1: g = (3, 4, 0, 0...) has norm 5.
 *   clip 1:  g is scaled by 1/5 to (0.6, 0.8, 0): theta = (0.4, -2.8, 0.5)
 *            and the step has norm exactly 1 (the bound);
 *   clip 5:  norm not above the bound, no scaling;
 *   clip 10: no scaling;
 * The model's gradients are never modified.
 * Clipping comes before weight decay: with clip 1, lambda = 0.5, lr = 0.1,
 *   g_eff = (0.6, 0.8, 0) + 0.5 (1, -2, 0.5) = (1.1, -0.2, 0.25)
 *   theta = (1 - 0.11, -2 + 0.02, 0.5 - 0.025) = (0.89, -1.98, 0.475).
 */
static void test_clip(void **state)
{
    (void)state;
    static const float G345[3] = {3.0f, 4.0f, 0.0f};
    const double bounds[] = {1.0, 5.0, 10.0};
    for (size_t k = 0; k < 3; k++) {
        fixture f;
        fixture_open(&f);
        save_params(&f);
        mmoe_optimizer *opt = make_opt(&f, MMOE_OPTIMIZER_SGD);
        set_ok(opt, MMOE_OPT_LEARNING_RATE, 1.0);
        set_ok(opt, MMOE_OPT_CLIP_NORM, bounds[k]);
        set_grads3(&f, G345);
        assert_int_equal(mmoe_optimizer_step(opt), MMOE_OK);
        assert_memory_equal(f.grads, G345, sizeof G345);
        for (size_t i = 3; i < f.n; i++)
            assert_true(f.grads[i] == 0.0f);
        double s = bounds[k] < 5.0 ? bounds[k] / 5.0 : 1.0;
        assert_params3(&f, 1.0 - 3.0 * s, -2.0 - 4.0 * s, 0.5);
        double d0 = (double)THETA0[0] - f.params[0], d1 = (double)THETA0[1] - f.params[1];
        assert_near(sqrt(d0 * d0 + d1 * d1), bounds[k] < 5.0 ? bounds[k] : 5.0, TOL);
        assert_rest_unchanged(&f);
        mmoe_optimizer_free(opt);
        fixture_close(&f);
    }

    fixture f;
    fixture_open(&f);
    mmoe_optimizer *opt = make_opt(&f, MMOE_OPTIMIZER_SGD);
    set_ok(opt, MMOE_OPT_LEARNING_RATE, 0.1);
    set_ok(opt, MMOE_OPT_CLIP_NORM, 1.0);
    set_ok(opt, MMOE_OPT_WEIGHT_DECAY, 0.5);
    set_grads3(&f, G345);
    assert_int_equal(mmoe_optimizer_step(opt), MMOE_OK);
    assert_params3(&f, 0.89, -1.98, 0.475);
    mmoe_optimizer_free(opt);
    fixture_close(&f);
}

/*
 * A NaN or infinite gradient (anywhere, including the last one) is refused:
 * MMOE_ERR_NONFINITE, parameters bit-identical, step count unchanged, a
 * message on the optimizer. A following finite step gives exactly what a
 * twin optimizer that never saw the bad step gives.
 */
static void test_nonfinite_refused(void **state)
{
    (void)state;
    const mmoe_optimizer_kind kinds[] = {MMOE_OPTIMIZER_SGD, MMOE_OPTIMIZER_ADAM,
                                         MMOE_OPTIMIZER_ADAGRAD};
    const float bad[] = {NAN, INFINITY, -INFINITY};
    for (size_t k = 0; k < 3; k++) {
        for (size_t b = 0; b < 3; b++) {
            fixture a, t;
            fixture_open(&a);
            fixture_open(&t);
            assert_int_equal(a.n, t.n);
            memcpy(t.params, a.params, a.n * sizeof(float));

            mmoe_optimizer *oa = make_opt(&a, kinds[k]);
            mmoe_optimizer *ot = make_opt(&t, kinds[k]);
            mmoe_optimizer *both[2] = {oa, ot};
            for (int j = 0; j < 2; j++) {
                set_ok(both[j], MMOE_OPT_LEARNING_RATE, 0.05);
                set_ok(both[j], MMOE_OPT_WEIGHT_DECAY, 0.01);
                set_ok(both[j], MMOE_OPT_CLIP_NORM, 0.3);
                if (kinds[k] == MMOE_OPTIMIZER_SGD)
                    set_ok(both[j], MMOE_OPT_MOMENTUM, 0.9);
            }

            set_grads3(&a, G1);
            set_grads3(&t, G1);
            assert_int_equal(mmoe_optimizer_step(oa), MMOE_OK);
            assert_int_equal(mmoe_optimizer_step(ot), MMOE_OK);

            /* The refused step, with the bad value first in the middle, then last. */
            for (int where = 0; where < 2; where++) {
                set_grads3(&a, G2);
                a.grads[where == 0 ? 1 : a.n - 1] = bad[b];
                save_params(&a);
                assert_int_equal(mmoe_optimizer_step(oa), MMOE_ERR_NONFINITE);
                assert_memory_equal(a.params, a.saved, a.n * sizeof(float));
                assert_int_equal(mmoe_optimizer_steps(oa), 1);
                assert_true(strlen(mmoe_optimizer_last_error(oa)) > 0);
            }

            set_grads3(&a, G2);
            set_grads3(&t, G2);
            assert_int_equal(mmoe_optimizer_step(oa), MMOE_OK);
            assert_int_equal(mmoe_optimizer_step(ot), MMOE_OK);
            assert_string_equal(mmoe_optimizer_last_error(oa), "");
            assert_int_equal(mmoe_optimizer_steps(oa), 2);
            assert_memory_equal(a.params, t.params, a.n * sizeof(float));

            /* And one more, to compare the state (momentum / moments / sums) too. */
            set_grads3(&a, G1);
            set_grads3(&t, G1);
            assert_int_equal(mmoe_optimizer_step(oa), MMOE_OK);
            assert_int_equal(mmoe_optimizer_step(ot), MMOE_OK);
            assert_memory_equal(a.params, t.params, a.n * sizeof(float));

            mmoe_optimizer_free(oa);
            mmoe_optimizer_free(ot);
            fixture_close(&a);
            fixture_close(&t);
        }
    }
}

/*
 * Huge but finite gradients (+-FLT_MAX, whose squares exceed the float
 * range) are accepted, keep every parameter finite, and leave a state from
 * which the next ordinary step still gives finite parameters.
 */
static void test_huge_gradients(void **state)
{
    (void)state;
    const mmoe_optimizer_kind kinds[] = {MMOE_OPTIMIZER_SGD, MMOE_OPTIMIZER_ADAM,
                                         MMOE_OPTIMIZER_ADAGRAD};
    for (size_t k = 0; k < 3; k++) {
        fixture f;
        fixture_open(&f);
        mmoe_optimizer *opt = make_opt(&f, kinds[k]);
        set_ok(opt, MMOE_OPT_LEARNING_RATE, 0.1);
        if (kinds[k] == MMOE_OPTIMIZER_SGD)
            set_ok(opt, MMOE_OPT_MOMENTUM, 0.9);
        memset(f.grads, 0, f.n * sizeof(float));
        f.grads[0] = FLT_MAX;
        f.grads[1] = -FLT_MAX;
        f.grads[f.n - 1] = FLT_MAX;
        for (int s = 0; s < 3; s++) {
            assert_int_equal(mmoe_optimizer_step(opt), MMOE_OK);
            for (size_t i = 0; i < f.n; i++)
                assert_true(isfinite(f.params[i]));
            set_grads3(&f, G1);
        }
        assert_int_equal(mmoe_optimizer_steps(opt), 3);
        mmoe_optimizer_free(opt);
        fixture_close(&f);
    }
}

static void expect_set_fails(mmoe_optimizer *opt, mmoe_optimizer_param p, double v,
                             mmoe_status want)
{
    double before = -1.0;
    int readable = mmoe_optimizer_get(opt, p, &before) == MMOE_OK;
    assert_int_equal(mmoe_optimizer_set(opt, p, v), want);
    assert_true(strlen(mmoe_optimizer_last_error(opt)) > 0);
    if (readable)
        expect_get(opt, p, before);
}

static void test_bad_hyperparameters(void **state)
{
    (void)state;
    fixture f;
    fixture_open(&f);
    mmoe_optimizer *sgd = make_opt(&f, MMOE_OPTIMIZER_SGD);
    mmoe_optimizer *adam = make_opt(&f, MMOE_OPTIMIZER_ADAM);
    mmoe_optimizer *ada = make_opt(&f, MMOE_OPTIMIZER_ADAGRAD);
    mmoe_optimizer *all[3] = {sgd, adam, ada};

    for (int k = 0; k < 3; k++) {
        mmoe_optimizer *o = all[k];
        set_ok(o, MMOE_OPT_LEARNING_RATE, 0.5);
        expect_set_fails(o, MMOE_OPT_LEARNING_RATE, 0.0, MMOE_ERR_RANGE);
        expect_set_fails(o, MMOE_OPT_LEARNING_RATE, -0.1, MMOE_ERR_RANGE);
        expect_set_fails(o, MMOE_OPT_LEARNING_RATE, NAN, MMOE_ERR_RANGE);
        expect_set_fails(o, MMOE_OPT_LEARNING_RATE, INFINITY, MMOE_ERR_RANGE);
        expect_set_fails(o, MMOE_OPT_WEIGHT_DECAY, -1e-9, MMOE_ERR_RANGE);
        expect_set_fails(o, MMOE_OPT_WEIGHT_DECAY, NAN, MMOE_ERR_RANGE);
        expect_set_fails(o, MMOE_OPT_CLIP_NORM, -1.0, MMOE_ERR_RANGE);
        expect_set_fails(o, MMOE_OPT_CLIP_NORM, INFINITY, MMOE_ERR_RANGE);
        expect_set_fails(o, (mmoe_optimizer_param)99, 0.5, MMOE_ERR_INVALID_ARG);
        expect_set_fails(o, (mmoe_optimizer_param)-1, 0.5, MMOE_ERR_INVALID_ARG);
        expect_get(o, MMOE_OPT_LEARNING_RATE, 0.5);
        /* Zero is valid for weight decay and clipping; a success clears the message. */
        set_ok(o, MMOE_OPT_WEIGHT_DECAY, 0.0);
        set_ok(o, MMOE_OPT_CLIP_NORM, 0.0);
        assert_string_equal(mmoe_optimizer_last_error(o), "");
    }

    /* SGD momentum in [0, 1). */
    set_ok(sgd, MMOE_OPT_MOMENTUM, 0.0);
    set_ok(sgd, MMOE_OPT_MOMENTUM, 0.5);
    expect_set_fails(sgd, MMOE_OPT_MOMENTUM, 1.0, MMOE_ERR_RANGE);
    expect_set_fails(sgd, MMOE_OPT_MOMENTUM, -0.1, MMOE_ERR_RANGE);
    expect_set_fails(sgd, MMOE_OPT_MOMENTUM, NAN, MMOE_ERR_RANGE);
    expect_get(sgd, MMOE_OPT_MOMENTUM, 0.5);
    /* Parameters SGD does not use. */
    expect_set_fails(sgd, MMOE_OPT_BETA1, 0.5, MMOE_ERR_INVALID_ARG);
    expect_set_fails(sgd, MMOE_OPT_BETA2, 0.5, MMOE_ERR_INVALID_ARG);
    expect_set_fails(sgd, MMOE_OPT_EPSILON, 1e-6, MMOE_ERR_INVALID_ARG);

    /* Adam betas in [0, 1), epsilon > 0. */
    set_ok(adam, MMOE_OPT_BETA1, 0.0);
    set_ok(adam, MMOE_OPT_BETA1, 0.8);
    set_ok(adam, MMOE_OPT_BETA2, 0.99);
    set_ok(adam, MMOE_OPT_EPSILON, 1e-6);
    expect_set_fails(adam, MMOE_OPT_BETA1, 1.0, MMOE_ERR_RANGE);
    expect_set_fails(adam, MMOE_OPT_BETA1, -0.5, MMOE_ERR_RANGE);
    expect_set_fails(adam, MMOE_OPT_BETA2, 1.0, MMOE_ERR_RANGE);
    expect_set_fails(adam, MMOE_OPT_BETA2, NAN, MMOE_ERR_RANGE);
    expect_set_fails(adam, MMOE_OPT_EPSILON, 0.0, MMOE_ERR_RANGE);
    expect_set_fails(adam, MMOE_OPT_EPSILON, -1e-8, MMOE_ERR_RANGE);
    expect_set_fails(adam, MMOE_OPT_EPSILON, INFINITY, MMOE_ERR_RANGE);
    expect_set_fails(adam, MMOE_OPT_MOMENTUM, 0.5, MMOE_ERR_INVALID_ARG);
    expect_get(adam, MMOE_OPT_BETA1, 0.8);
    expect_get(adam, MMOE_OPT_BETA2, 0.99);
    expect_get(adam, MMOE_OPT_EPSILON, 1e-6);

    /* Adagrad: epsilon > 0; no momentum or betas. */
    set_ok(ada, MMOE_OPT_EPSILON, 1e-7);
    expect_set_fails(ada, MMOE_OPT_EPSILON, 0.0, MMOE_ERR_RANGE);
    expect_set_fails(ada, MMOE_OPT_EPSILON, NAN, MMOE_ERR_RANGE);
    expect_set_fails(ada, MMOE_OPT_MOMENTUM, 0.5, MMOE_ERR_INVALID_ARG);
    expect_set_fails(ada, MMOE_OPT_BETA1, 0.5, MMOE_ERR_INVALID_ARG);
    expect_set_fails(ada, MMOE_OPT_BETA2, 0.5, MMOE_ERR_INVALID_ARG);
    expect_get(ada, MMOE_OPT_EPSILON, 1e-7);

    /* Failed sets change nothing observable in a step either: SGD lr 0.5, momentum 0.5. */
    memcpy(f.params, THETA0, sizeof THETA0);
    set_grads3(&f, G1);
    assert_int_equal(mmoe_optimizer_step(sgd), MMOE_OK);
    assert_params3(&f, 0.95, -1.9, 0.35);

    mmoe_optimizer_free(sgd);
    mmoe_optimizer_free(adam);
    mmoe_optimizer_free(ada);
    fixture_close(&f);
}

static void test_null_and_create_errors(void **state)
{
    (void)state;
    fixture f;
    fixture_open(&f);

    mmoe_optimizer *opt = (mmoe_optimizer *)&f; /* any non-NULL value, to see it reset */
    assert_int_equal(mmoe_optimizer_create(NULL, MMOE_OPTIMIZER_SGD, &opt), MMOE_ERR_NULL);
    assert_null(opt);
    assert_true(strlen(mmoe_last_error()) > 0);
    assert_int_equal(mmoe_optimizer_create(f.model, MMOE_OPTIMIZER_SGD, NULL), MMOE_ERR_NULL);
    opt = (mmoe_optimizer *)&f;
    assert_int_equal(mmoe_optimizer_create(f.model, (mmoe_optimizer_kind)3, &opt),
                     MMOE_ERR_INVALID_ARG);
    assert_null(opt);
    opt = (mmoe_optimizer *)&f;
    assert_int_equal(mmoe_optimizer_create(f.model, (mmoe_optimizer_kind)-1, &opt),
                     MMOE_ERR_INVALID_ARG);
    assert_null(opt);

    double v = 7.0;
    assert_int_equal(mmoe_optimizer_set(NULL, MMOE_OPT_LEARNING_RATE, 0.1), MMOE_ERR_NULL);
    assert_int_equal(mmoe_optimizer_get(NULL, MMOE_OPT_LEARNING_RATE, &v), MMOE_ERR_NULL);
    assert_true(v == 7.0);
    assert_int_equal(mmoe_optimizer_step(NULL), MMOE_ERR_NULL);
    assert_int_equal(mmoe_optimizer_reset(NULL), MMOE_ERR_NULL);
    assert_int_equal(mmoe_optimizer_steps(NULL), 0);
    assert_string_equal(mmoe_optimizer_last_error(NULL), "");

    opt = make_opt(&f, MMOE_OPTIMIZER_ADAM);
    assert_int_equal(mmoe_optimizer_get(opt, MMOE_OPT_LEARNING_RATE, NULL), MMOE_ERR_NULL);
    mmoe_optimizer_free(opt);

    mmoe_optimizer_free(NULL);
    fixture_close(&f);
}

/*
 * reset forgets the moments and the step count: after reset, Adam's next
 * step is again a first step (lr * g / (|g| + eps) ~ lr * sign(g)).
 */
static void test_reset(void **state)
{
    (void)state;
    fixture f;
    fixture_open(&f);
    mmoe_optimizer *opt = make_opt(&f, MMOE_OPTIMIZER_ADAM);
    set_ok(opt, MMOE_OPT_LEARNING_RATE, 0.1);
    set_grads3(&f, G1);
    assert_int_equal(mmoe_optimizer_step(opt), MMOE_OK);
    set_grads3(&f, G2);
    assert_int_equal(mmoe_optimizer_step(opt), MMOE_OK);
    assert_int_equal(mmoe_optimizer_steps(opt), 2);

    assert_int_equal(mmoe_optimizer_reset(opt), MMOE_OK);
    assert_int_equal(mmoe_optimizer_steps(opt), 0);
    expect_get(opt, MMOE_OPT_LEARNING_RATE, 0.1); /* hyper-parameters are kept */

    memcpy(f.params, THETA0, sizeof THETA0);
    set_grads3(&f, G2);
    assert_int_equal(mmoe_optimizer_step(opt), MMOE_OK);
    assert_int_equal(mmoe_optimizer_steps(opt), 1);
    /* 0.1 * g / (|g| + 1e-8) for g = (0.3, 0.2, -0.1). */
    assert_params3(&f, 0.9, -2.1, 0.6);

    mmoe_optimizer_free(opt);
    fixture_close(&f);
}

/*
 * No step makes a parameter non-finite: a step whose update would leave
 * the float range is refused and changes nothing (parameters, state, step
 * count); after a refused step a sane one still works.
 */
static void test_step_never_writes_nonfinite(void **state)
{
    (void)state;
    const mmoe_optimizer_kind kinds[] = {MMOE_OPTIMIZER_SGD, MMOE_OPTIMIZER_ADAM,
                                         MMOE_OPTIMIZER_ADAGRAD};
    for (size_t k = 0; k < 3; k++) {
        fixture f;
        fixture_open(&f);
        mmoe_optimizer *opt = NULL;
        assert_int_equal(mmoe_optimizer_create(f.model, kinds[k], &opt), MMOE_OK);
        /* Near the top of the float range, any step of about lr moves past FLT_MAX. */
        f.params[0] = -3.0e38f;
        set_grads3(&f, (const float[3]){1e3f, 0.0f, 0.0f});
        assert_int_equal(mmoe_optimizer_set(opt, MMOE_OPT_LEARNING_RATE, 1e38), MMOE_OK);
        save_params(&f);
        assert_int_equal(mmoe_optimizer_step(opt), MMOE_ERR_NONFINITE);
        assert_non_null(strstr(mmoe_optimizer_last_error(opt), "non-finite"));
        assert_memory_equal(f.params, f.saved, f.n * sizeof(float));
        assert_int_equal(mmoe_optimizer_steps(opt), 0);
        for (size_t i = 0; i < f.n; i++)
            assert_true(isfinite(f.params[i]));
        /* A sane learning rate afterwards: the step goes through. */
        assert_int_equal(mmoe_optimizer_set(opt, MMOE_OPT_LEARNING_RATE, 0.01), MMOE_OK);
        assert_int_equal(mmoe_optimizer_step(opt), MMOE_OK);
        assert_int_equal(mmoe_optimizer_steps(opt), 1);
        assert_true(isfinite(f.params[0]));
        mmoe_optimizer_free(opt);
        fixture_close(&f);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_adam_two_steps),
        cmocka_unit_test(test_sgd_two_steps),
        cmocka_unit_test(test_adagrad_two_steps),
        cmocka_unit_test(test_weight_decay),
        cmocka_unit_test(test_clip),
        cmocka_unit_test(test_nonfinite_refused),
        cmocka_unit_test(test_huge_gradients),
        cmocka_unit_test(test_bad_hyperparameters),
        cmocka_unit_test(test_null_and_create_errors),
        cmocka_unit_test(test_reset),
        cmocka_unit_test(test_step_never_writes_nonfinite),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
