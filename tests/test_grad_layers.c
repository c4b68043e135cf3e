/*
 * Finite-difference gradient checks of the standalone layers and the losses.
 *
 * Layer checks use the scalar L = sum(r * y) for a fixed random r, so the
 * gradient flowing into backward is exactly r. The forward pass runs in
 * float32; L is summed in double. For a central difference with step eps the
 * numeric derivative carries two errors:
 *   rounding   ~ eps_mach * |L| / eps   (eps_mach = 6e-8 for float32; y has
 *               a few ulps of error from the dot products), and
 *   truncation ~ eps^2 * |L'''| / 6     (zero for linear maps).
 * With |L| ~ 1..10 and eps = 1e-2 the rounding term is ~1e-5..1e-4 per entry
 * against gradients of order 0.1..1, so a correct gradient gives normalised
 * errors around 1e-4; a wrong one (a missing term, a transposed matrix, a
 * dropped activation derivative) gives errors of order 0.1 or more.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include <mmoe/mmoe.h>

#include "gradcheck.h"

#define MAX_CHECKS 200

typedef struct layer_ctx {
    mmoe_layer *layer;
    mmoe_tensor *x, *y, *gy, *gx;
    size_t batch;
} layer_ctx;

static double layer_loss(void *p)
{
    layer_ctx *c = p;
    if (mmoe_layer_forward(c->layer, c->x, c->y) != MMOE_OK)
        return NAN;
    const float *y = mmoe_tensor_cdata(c->y), *r = mmoe_tensor_cdata(c->gy);
    double s = 0.0;
    for (size_t i = 0; i < mmoe_tensor_numel(c->y); i++)
        s += (double)r[i] * (double)y[i];
    return s;
}

/* Set up x (values from [lo, hi)) and r, run forward + backward with dL/dy = r. */
static void ctx_init(layer_ctx *c, mmoe_layer *l, size_t batch, unsigned seed, float lo, float hi)
{
    const size_t in = mmoe_layer_in_width(l), out = mmoe_layer_out_width(l);
    c->layer = l;
    c->batch = batch;
    assert_int_equal(mmoe_tensor_create_2d((int64_t)batch, (int64_t)in, &c->x), MMOE_OK);
    assert_int_equal(mmoe_tensor_create_2d((int64_t)batch, (int64_t)out, &c->y), MMOE_OK);
    assert_int_equal(mmoe_tensor_create_2d((int64_t)batch, (int64_t)out, &c->gy), MMOE_OK);
    assert_int_equal(mmoe_tensor_create_2d((int64_t)batch, (int64_t)in, &c->gx), MMOE_OK);
    gc_fill_uniform(mmoe_tensor_data(c->x), batch * in, seed, lo, hi);
    gc_fill_uniform(mmoe_tensor_data(c->gy), batch * out, seed + 1000u, -1.0f, 1.0f);
    assert_int_equal(mmoe_layer_zero_grad(l), MMOE_OK);
    assert_int_equal(mmoe_layer_forward(l, c->x, c->y), MMOE_OK);
    assert_int_equal(mmoe_layer_backward(l, c->gy, c->gx), MMOE_OK);
}

static void ctx_free(layer_ctx *c)
{
    mmoe_tensor_free(c->x);
    mmoe_tensor_free(c->y);
    mmoe_tensor_free(c->gy);
    mmoe_tensor_free(c->gx);
    mmoe_layer_free(c->layer);
}

static void expect_small(double err, double tol, const char *what, const char *report)
{
    if (!(err <= tol))
        fail_msg("%s: normalised error %.3e > %.1e; %s", what, err, tol, report);
}

/* Check every parameter tensor and the input gradient of the layer in c. */
static void check_layer(layer_ctx *c, double eps, double tol, const char *what)
{
    char rep[256], label[128];
    for (size_t i = 0; i < mmoe_layer_param_count(c->layer); i++) {
        const char *name = NULL;
        mmoe_tensor *v = NULL, *g = NULL;
        assert_int_equal(mmoe_layer_param(c->layer, i, &name, &v, &g), MMOE_OK);
        double err = gc_check(mmoe_tensor_data(v), mmoe_tensor_cdata(g), mmoe_tensor_numel(v),
                              layer_loss, c, eps, MAX_CHECKS, rep, sizeof rep);
        snprintf(label, sizeof label, "%s %s", what, name);
        expect_small(err, tol, label, rep);
    }
    double err =
        gc_check_input(mmoe_tensor_data(c->x), mmoe_tensor_cdata(c->gx), mmoe_tensor_numel(c->x),
                       layer_loss, c, eps, MAX_CHECKS, rep, sizeof rep);
    snprintf(label, sizeof label, "%s input", what);
    expect_small(err, tol, label, rep);
}

/*
 * Relu kinks: a central difference is exact for a piecewise-linear function
 * only if no pre-activation changes sign under the perturbation. Perturbing
 * one scalar (weight, bias or input) by eps moves the pre-activations z_k of
 * hidden layer k by at most eps * d_k, where
 *   d_0 = max(1, max|x|, max|W_0|)
 *   d_k = max(1, max|h_{k-1}|, max row sum |W_k| * d_{k-1})
 * (relu is 1-Lipschitz; h_{k-1} is the input of layer k). This returns
 * min over k of min|z_k| / d_k, computed in double from the parameter views:
 * a value > eps means the check cannot cross a kink.
 */
static double relu_kink_margin(mmoe_layer *l, const float *x, size_t batch, size_t n_act_layers)
{
    double h[64], z[64], ratio = INFINITY, d_prev = 0.0;
    const size_t in = mmoe_layer_in_width(l);
    for (size_t k = 0; k < n_act_layers; k++) {
        mmoe_tensor *W = NULL;
        assert_int_equal(mmoe_layer_param(l, 2 * k, NULL, &W, NULL), MMOE_OK);
        const size_t out = (size_t)mmoe_tensor_dim(W, 0), w = (size_t)mmoe_tensor_dim(W, 1);
        double maxw = 0.0, maxrow = 0.0;
        for (size_t o = 0; o < out; o++) {
            double row = 0.0;
            for (size_t j = 0; j < w; j++) {
                double a = fabs((double)mmoe_tensor_cdata(W)[o * w + j]);
                row += a;
                maxw = a > maxw ? a : maxw;
            }
            maxrow = row > maxrow ? row : maxrow;
        }
        /* max |input of layer k| over the batch and the pre-activations. */
        double maxh = 1.0, minz = INFINITY;
        for (size_t r = 0; r < batch; r++) {
            size_t hw = in;
            assert_true(in <= 64);
            for (size_t j = 0; j < in; j++)
                h[j] = x[r * in + j];
            for (size_t q = 0; q <= k; q++) {
                mmoe_tensor *Wq = NULL, *bq = NULL;
                assert_int_equal(mmoe_layer_param(l, 2 * q, NULL, &Wq, NULL), MMOE_OK);
                assert_int_equal(mmoe_layer_param(l, 2 * q + 1, NULL, &bq, NULL), MMOE_OK);
                const size_t qo = (size_t)mmoe_tensor_dim(Wq, 0);
                assert_true(qo <= 64 && (size_t)mmoe_tensor_dim(Wq, 1) == hw);
                if (q == k)
                    for (size_t j = 0; j < hw; j++)
                        maxh = fabs(h[j]) > maxh ? fabs(h[j]) : maxh;
                for (size_t o = 0; o < qo; o++) {
                    double s = mmoe_tensor_cdata(bq)[o];
                    for (size_t j = 0; j < hw; j++)
                        s += (double)mmoe_tensor_cdata(Wq)[o * hw + j] * h[j];
                    z[o] = s;
                }
                for (size_t o = 0; o < qo; o++)
                    h[o] = z[o] > 0.0 ? z[o] : 0.0;
                hw = qo;
            }
            for (size_t o = 0; o < out; o++)
                minz = fabs(z[o]) < minz ? fabs(z[o]) : minz;
        }
        double d = k == 0 ? (maxh > maxw ? maxh : maxw) : maxh;
        if (k > 0 && maxrow * d_prev > d)
            d = maxrow * d_prev;
        d_prev = d;
        ratio = minz / d < ratio ? minz / d : ratio;
    }
    return ratio;
}

/* Give every bias a deterministic nonzero value so bias paths are exercised fully. */
static void randomise_biases(mmoe_layer *l, unsigned seed)
{
    for (size_t i = 0; i < mmoe_layer_param_count(l); i++) {
        mmoe_tensor *v = NULL;
        assert_int_equal(mmoe_layer_param(l, i, NULL, &v, NULL), MMOE_OK);
        if (mmoe_tensor_rank(v) == 1)
            gc_fill_uniform(mmoe_tensor_data(v), mmoe_tensor_numel(v), seed + (unsigned)i, -0.5f,
                            0.5f);
    }
}

/* ---- the harness itself ------------------------------------------------------------------- */

typedef struct quad_ctx {
    float *p;
    size_t n;
} quad_ctx;

/* L = sum_i (i + 1) p_i^2 / 2 + p_i, gradient (i + 1) p_i + 1. */
static double quad_loss(void *v)
{
    quad_ctx *c = v;
    double s = 0.0;
    for (size_t i = 0; i < c->n; i++)
        s += 0.5 * (double)(i + 1) * (double)c->p[i] * (double)c->p[i] + (double)c->p[i];
    return s;
}

static void test_harness(void **state)
{
    (void)state;
    enum { N = 50 };
    float p[N], keep[N], g[N], bad[N];
    gc_fill_uniform(p, N, 7, -1.0f, 1.0f);
    for (size_t i = 0; i < N; i++) {
        assert_true(p[i] >= -1.0f && p[i] < 1.0f);
        g[i] = (float)((double)(i + 1) * p[i] + 1.0);
        bad[i] = g[i];
    }
    memcpy(keep, p, sizeof p);
    quad_ctx c = {p, N};
    char rep[200];
    /* Quadratic: central differences are exact up to rounding (|L| ~ 10, eps 1e-2: ~1e-5). */
    double err = gc_check(p, g, N, quad_loss, &c, 1e-2, 0, rep, sizeof rep);
    expect_small(err, 1e-4, "quadratic", rep);
    assert_memory_equal(p, keep, sizeof p); /* restored bit for bit */
    err = gc_check(p, g, N, quad_loss, &c, 1e-2, 7, rep, sizeof rep);
    expect_small(err, 1e-4, "quadratic strided", rep);
    assert_non_null(strstr(rep, "7 of 50"));

    /* A wrong entry is caught, including when it is the last one and only 2 are checked. */
    bad[N - 1] *= 1.1f;
    err = gc_check(p, bad, N, quad_loss, &c, 1e-2, 2, rep, sizeof rep);
    assert_true(err > 1e-2);
    assert_non_null(strstr(rep, "[49]"));
    bad[N - 1] = g[N - 1];
    bad[0] = -bad[0];
    err = gc_check(p, bad, N, quad_loss, &c, 1e-2, 2, rep, sizeof rep);
    assert_true(err > 1e-2);
    assert_memory_equal(p, keep, sizeof p);

    /* Fill is deterministic and seed dependent. */
    float a[8], b[8];
    gc_fill_uniform(a, 8, 3, 0.0f, 1.0f);
    gc_fill_uniform(b, 8, 3, 0.0f, 1.0f);
    assert_memory_equal(a, b, sizeof a);
    gc_fill_uniform(b, 8, 4, 0.0f, 1.0f);
    assert_memory_not_equal(a, b, sizeof a);
}

/* ---- layers ------------------------------------------------------------------------------- */

static void test_grad_dense(void **state)
{
    (void)state;
    const size_t batches[2] = {1, 5}; /* 1: matrix-vector path; 5: matrix-matrix path */
    for (size_t k = 0; k < 2; k++) {
        layer_ctx c;
        mmoe_layer *l = NULL;
        assert_int_equal(mmoe_layer_dense_create(7, 4, MMOE_ACT_IDENTITY, 3, &l), MMOE_OK);
        randomise_biases(l, 40);
        ctx_init(&c, l, batches[k], 11, -1.0f, 1.0f);
        /* Linear in every parameter and input: no truncation error, only float rounding
           (~eps_mach * |L| / eps ~ 1e-5 relative at eps 1e-2). 1e-3 leaves a wide margin. */
        check_layer(&c, 1e-2, 1e-3, batches[k] == 1 ? "dense batch 1" : "dense");
        ctx_free(&c);
    }
}

static void test_grad_activations(void **state)
{
    (void)state;
    const mmoe_activation acts[4] = {MMOE_ACT_IDENTITY, MMOE_ACT_RELU, MMOE_ACT_SIGMOID,
                                     MMOE_ACT_TANH};
    const char *names[4] = {"identity", "relu", "sigmoid", "tanh"};
    for (size_t k = 0; k < 4; k++) {
        layer_ctx c;
        mmoe_layer *l = NULL;
        assert_int_equal(mmoe_layer_activation_create(acts[k], 6, &l), MMOE_OK);
        ctx_init(&c, l, 4, 20 + (unsigned)k, 0.05f, 2.0f);
        if (acts[k] == MMOE_ACT_RELU) {
            /* Keep inputs at least 0.05 from the kink at 0 (eps 1e-2 never crosses it),
               half of them negative. */
            float *x = mmoe_tensor_data(c.x);
            for (size_t i = 0; i < mmoe_tensor_numel(c.x); i += 2)
                x[i] = -x[i];
            assert_int_equal(mmoe_layer_forward(l, c.x, c.y), MMOE_OK);
            assert_int_equal(mmoe_layer_backward(l, c.gy, c.gx), MMOE_OK);
        } else {
            /* Smooth activations: use both signs over [-2, 2). */
            gc_fill_uniform(mmoe_tensor_data(c.x), mmoe_tensor_numel(c.x), 30 + (unsigned)k, -2.0f,
                            2.0f);
            assert_int_equal(mmoe_layer_forward(l, c.x, c.y), MMOE_OK);
            assert_int_equal(mmoe_layer_backward(l, c.gy, c.gx), MMOE_OK);
        }
        /* Elementwise: each entry is a 1-D central difference. Truncation eps^2 |f'''| / 6 is
           < 2e-5 for sigmoid/tanh at eps 1e-2 (|f'''| <= 2 for tanh), rounding ~1e-5 relative. */
        check_layer(&c, 1e-2, 1e-3, names[k]);
        ctx_free(&c);
    }
}

static void test_grad_expert(void **state)
{
    (void)state;
    /* Two layers, smooth activations: the whole chain rule incl. activation derivatives. */
    const mmoe_activation acts[2] = {MMOE_ACT_TANH, MMOE_ACT_SIGMOID};
    for (size_t k = 0; k < 2; k++) {
        const size_t batches[2] = {1, 6};
        for (size_t b = 0; b < 2; b++) {
            layer_ctx c;
            mmoe_layer *l = NULL;
            assert_int_equal(
                mmoe_layer_expert_create(5, 2, (const size_t[]){8, 3}, acts[k], 100 + k, &l),
                MMOE_OK);
            randomise_biases(l, 50);
            ctx_init(&c, l, batches[b], 12, -1.5f, 1.5f);
            /* Curvature of two stacked tanh/sigmoid layers keeps truncation ~1e-5 at eps 1e-2;
               rounding ~1e-4. A missing derivative term would give O(1e-1). */
            check_layer(&c, 1e-2, 1e-2,
                        acts[k] == MMOE_ACT_TANH ? "expert tanh" : "expert sigmoid");
            ctx_free(&c);
        }
    }
}

static void test_grad_expert_relu(void **state)
{
    (void)state;
    layer_ctx c;
    mmoe_layer *l = NULL;
    assert_int_equal(mmoe_layer_expert_create(5, 2, (const size_t[]){8, 3}, MMOE_ACT_RELU, 7, &l),
                     MMOE_OK);
    randomise_biases(l, 60);
    ctx_init(&c, l, 4, 13, -1.0f, 1.0f);
    /* Piecewise linear: central differences are exact as long as no pre-activation crosses
       0; check that premise (with a 2x margin) rather than hope for it. */
    const double eps = 1e-3;
    double m = relu_kink_margin(l, mmoe_tensor_cdata(c.x), c.batch, 2);
    if (!(m > 2.0 * eps))
        fail_msg("test premise: relu kink margin %.3g <= 2 eps", m);
    /* Then only float rounding remains: ~eps_mach * |L| / eps ~ 1e-4 relative. */
    check_layer(&c, eps, 1e-2, "expert relu");
    ctx_free(&c);
}

static void test_grad_gate(void **state)
{
    (void)state;
    const size_t batches[2] = {1, 5};
    for (size_t b = 0; b < 2; b++) {
        layer_ctx c;
        mmoe_layer *l = NULL;
        assert_int_equal(mmoe_layer_gate_create(6, 4, 5, &l), MMOE_OK);
        ctx_init(&c, l, batches[b], 14, -2.0f, 2.0f);
        /* Softmax is smooth with bounded third derivatives (|.| < 1): truncation ~1e-5 at
           eps 1e-2. Outputs sum to 1 per row, so |L| ~ batch and rounding ~1e-5. The softmax
           Jacobian term sum_j p_j dp_j, if dropped, changes gradients by O(1). */
        check_layer(&c, 1e-2, 1e-3, b ? "gate" : "gate batch 1");
        ctx_free(&c);
    }
}

static void test_grad_tower(void **state)
{
    (void)state;
    const size_t hidden[2] = {6, 4};
    layer_ctx c;
    mmoe_layer *l = NULL;
    assert_int_equal(mmoe_layer_tower_create(5, 2, hidden, MMOE_ACT_TANH, 9, &l), MMOE_OK);
    randomise_biases(l, 70);
    ctx_init(&c, l, 6, 15, -1.5f, 1.5f);
    /* Two tanh layers then a linear output: as for the smooth expert. */
    check_layer(&c, 1e-2, 1e-2, "tower tanh");
    ctx_free(&c);

    assert_int_equal(mmoe_layer_tower_create(5, 2, hidden, MMOE_ACT_RELU, 8, &l), MMOE_OK);
    randomise_biases(l, 80);
    ctx_init(&c, l, 3, 16, -1.0f, 1.0f);
    /* Relu hidden layers: same premise and reasoning as the relu expert. */
    double m = relu_kink_margin(l, mmoe_tensor_cdata(c.x), c.batch, 2);
    if (!(m > 2.0 * 1e-3))
        fail_msg("test premise: relu kink margin %.3g <= 2 eps", m);
    check_layer(&c, 1e-3, 1e-2, "tower relu");
    ctx_free(&c);

    /* No hidden layer: a single linear map (exact differences up to rounding). */
    assert_int_equal(mmoe_layer_tower_create(5, 0, NULL, MMOE_ACT_RELU, 8, &l), MMOE_OK);
    randomise_biases(l, 90);
    ctx_init(&c, l, 3, 17, -1.0f, 1.0f);
    check_layer(&c, 1e-2, 1e-3, "tower linear");
    ctx_free(&c);
}

/* ---- losses w.r.t. the predictions -------------------------------------------------------- */

typedef struct loss_ctx {
    mmoe_task_kind kind;
    size_t n;
    float *pred;
    const float *target, *weights;
} loss_ctx;

static double loss_value(void *v)
{
    loss_ctx *c = v;
    double l = NAN;
    if (mmoe_loss(c->kind, c->n, c->pred, c->target, c->weights, &l, NULL) != MMOE_OK)
        return NAN;
    return l;
}

static void check_loss(mmoe_task_kind kind, const float *weights, const char *what)
{
    enum { N = 12 };
    float pred[N], target[N], grad[N];
    gc_fill_uniform(pred, N, 1, kind == MMOE_TASK_BINARY ? -4.0f : -2.0f, 4.0f);
    gc_fill_uniform(target, N, 2, kind == MMOE_TASK_BINARY ? 0.0f : -2.0f, 1.0f);
    if (kind == MMOE_TASK_BINARY) {
        target[0] = 0.0f;
        target[1] = 1.0f;
    }
    double l = 0.0;
    assert_int_equal(mmoe_loss(kind, N, pred, target, weights, &l, grad), MMOE_OK);
    loss_ctx c = {kind, N, pred, target, weights};
    char rep[256];
    /* The loss is evaluated in double from the float predictions, so rounding is ~1e-16 / eps;
       MSE is quadratic (central differences exact), BCE has |l'''| < 0.1, so truncation at
       eps 1e-3 is ~1e-8. What remains is the float32 storage of the analytic gradient
       (~6e-8 relative). */
    double err = gc_check(pred, grad, N, loss_value, &c, 1e-3, 0, rep, sizeof rep);
    expect_small(err, 1e-5, what, rep);
}

static void test_grad_losses(void **state)
{
    (void)state;
    const float w[12] = {1, 0.5f, 2, 0, 1, 1, 3, 0.25f, 1, 1, 0.1f, 1};
    check_loss(MMOE_TASK_REGRESSION, NULL, "mse");
    check_loss(MMOE_TASK_REGRESSION, w, "mse weighted");
    check_loss(MMOE_TASK_BINARY, NULL, "bce");
    check_loss(MMOE_TASK_BINARY, w, "bce weighted");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_harness),          cmocka_unit_test(test_grad_dense),
        cmocka_unit_test(test_grad_activations), cmocka_unit_test(test_grad_expert),
        cmocka_unit_test(test_grad_expert_relu), cmocka_unit_test(test_grad_gate),
        cmocka_unit_test(test_grad_tower),       cmocka_unit_test(test_grad_losses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
