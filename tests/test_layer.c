/* Standalone layers: construction, forward values, backward bookkeeping, bad input. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include <mmoe/mmoe.h>

/* ---- helpers ------------------------------------------------------------------------------ */

static mmoe_tensor *mat(int64_t r, int64_t c, const float *vals)
{
    mmoe_tensor *t = NULL;
    assert_int_equal(mmoe_tensor_create_2d(r, c, &t), MMOE_OK);
    if (vals)
        assert_int_equal(mmoe_tensor_copy_from(t, vals, (size_t)(r * c)), MMOE_OK);
    return t;
}

static void set_param(mmoe_layer *l, size_t i, const char *want_name, const float *vals, size_t n)
{
    const char *name = NULL;
    mmoe_tensor *v = NULL;
    assert_int_equal(mmoe_layer_param(l, i, &name, &v, NULL), MMOE_OK);
    assert_string_equal(name, want_name);
    assert_int_equal(mmoe_tensor_copy_from(v, vals, n), MMOE_OK);
}

/* Deterministic values in [lo, hi). */
static void fill(float *x, size_t n, unsigned seed, float lo, float hi)
{
    uint32_t s = seed * 2654435761u + 12345u;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        x[i] = lo + (hi - lo) * (float)(s >> 8) * (1.0f / 16777216.0f);
    }
}

static void assert_close(double got, double want, double tol)
{
    double scale = fabs(want) > 1.0 ? fabs(want) : 1.0;
    if (!(fabs(got - want) <= tol * scale))
        fail_msg("got %.9g, want %.9g (tol %g)", got, want, tol);
}

/* Copy all parameter gradients (in param order) into out; returns the count. */
static size_t grads_of(mmoe_layer *l, float *out, size_t cap)
{
    size_t k = 0;
    for (size_t i = 0; i < mmoe_layer_param_count(l); i++) {
        mmoe_tensor *g = NULL;
        assert_int_equal(mmoe_layer_param(l, i, NULL, NULL, &g), MMOE_OK);
        size_t n = mmoe_tensor_numel(g);
        assert_true(k + n <= cap);
        memcpy(out + k, mmoe_tensor_cdata(g), n * sizeof(float));
        k += n;
    }
    return k;
}

static size_t params_of(mmoe_layer *l, float *out, size_t cap)
{
    size_t k = 0;
    for (size_t i = 0; i < mmoe_layer_param_count(l); i++) {
        mmoe_tensor *v = NULL;
        assert_int_equal(mmoe_layer_param(l, i, NULL, &v, NULL), MMOE_OK);
        size_t n = mmoe_tensor_numel(v);
        assert_true(k + n <= cap);
        memcpy(out + k, mmoe_tensor_cdata(v), n * sizeof(float));
        k += n;
    }
    return k;
}

/* ---- construction ------------------------------------------------------------------------- */

static void check_param(mmoe_layer *l, size_t i, const char *name, size_t rank, int64_t d0,
                        int64_t d1)
{
    const char *n = NULL;
    mmoe_tensor *v = NULL, *g = NULL;
    assert_int_equal(mmoe_layer_param(l, i, &n, &v, &g), MMOE_OK);
    assert_string_equal(n, name);
    assert_int_equal(mmoe_tensor_rank(v), rank);
    assert_int_equal(mmoe_tensor_rank(g), rank);
    assert_int_equal(mmoe_tensor_dim(v, 0), d0);
    assert_int_equal(mmoe_tensor_dim(g, 0), d0);
    if (rank == 2) {
        assert_int_equal(mmoe_tensor_dim(v, 1), d1);
        assert_int_equal(mmoe_tensor_dim(g, 1), d1);
    }
    assert_ptr_not_equal(mmoe_tensor_cdata(v), mmoe_tensor_cdata(g));
    /* Fresh gradients are zero; biases start at zero. */
    for (size_t j = 0; j < mmoe_tensor_numel(g); j++)
        assert_true(mmoe_tensor_cdata(g)[j] == 0.0f);
    if (rank == 1)
        for (size_t j = 0; j < mmoe_tensor_numel(v); j++)
            assert_true(mmoe_tensor_cdata(v)[j] == 0.0f);
}

static void test_create_and_params(void **state)
{
    (void)state;
    mmoe_layer *l = NULL;

    assert_int_equal(mmoe_layer_dense_create(3, 2, MMOE_ACT_RELU, 7, &l), MMOE_OK);
    assert_int_equal(mmoe_layer_get_kind(l), MMOE_LAYER_DENSE);
    assert_int_equal(mmoe_layer_in_width(l), 3);
    assert_int_equal(mmoe_layer_out_width(l), 2);
    assert_int_equal(mmoe_layer_param_count(l), 2);
    check_param(l, 0, "weight", 2, 2, 3);
    check_param(l, 1, "bias", 1, 2, 0);
    assert_string_equal(mmoe_layer_last_error(l), "");
    mmoe_layer_free(l);

    assert_int_equal(mmoe_layer_activation_create(MMOE_ACT_TANH, 5, &l), MMOE_OK);
    assert_int_equal(mmoe_layer_get_kind(l), MMOE_LAYER_ACTIVATION);
    assert_int_equal(mmoe_layer_in_width(l), 5);
    assert_int_equal(mmoe_layer_out_width(l), 5);
    assert_int_equal(mmoe_layer_param_count(l), 0);
    assert_int_equal(mmoe_layer_param(l, 0, NULL, NULL, NULL), MMOE_ERR_RANGE);
    assert_true(strlen(mmoe_layer_last_error(l)) > 0);
    assert_int_equal(mmoe_layer_zero_grad(l), MMOE_OK);
    assert_string_equal(mmoe_layer_last_error(l), "");
    mmoe_layer_free(l);

    assert_int_equal(mmoe_layer_expert_create(4, 2, (const size_t[]){6, 3}, MMOE_ACT_RELU, 1, &l),
                     MMOE_OK);
    assert_int_equal(mmoe_layer_get_kind(l), MMOE_LAYER_EXPERT);
    assert_int_equal(mmoe_layer_in_width(l), 4);
    assert_int_equal(mmoe_layer_out_width(l), 3);
    assert_int_equal(mmoe_layer_param_count(l), 4);
    check_param(l, 0, "layers.0.weight", 2, 6, 4);
    check_param(l, 1, "layers.0.bias", 1, 6, 0);
    check_param(l, 2, "layers.1.weight", 2, 3, 6);
    check_param(l, 3, "layers.1.bias", 1, 3, 0);
    assert_int_equal(mmoe_layer_param(l, 4, NULL, NULL, NULL), MMOE_ERR_RANGE);
    mmoe_layer_free(l);

    assert_int_equal(mmoe_layer_gate_create(5, 3, 1, &l), MMOE_OK);
    assert_int_equal(mmoe_layer_get_kind(l), MMOE_LAYER_GATE);
    assert_int_equal(mmoe_layer_in_width(l), 5);
    assert_int_equal(mmoe_layer_out_width(l), 3);
    assert_int_equal(mmoe_layer_param_count(l), 1);
    check_param(l, 0, "weight", 2, 3, 5);
    mmoe_layer_free(l);

    assert_int_equal(mmoe_layer_tower_create(4, 2, (const size_t[]){5, 3}, MMOE_ACT_TANH, 1, &l),
                     MMOE_OK);
    assert_int_equal(mmoe_layer_get_kind(l), MMOE_LAYER_TOWER);
    assert_int_equal(mmoe_layer_out_width(l), 1);
    assert_int_equal(mmoe_layer_param_count(l), 6);
    check_param(l, 0, "layers.0.weight", 2, 5, 4);
    check_param(l, 1, "layers.0.bias", 1, 5, 0);
    check_param(l, 2, "layers.1.weight", 2, 3, 5);
    check_param(l, 3, "layers.1.bias", 1, 3, 0);
    check_param(l, 4, "layers.2.weight", 2, 1, 3);
    check_param(l, 5, "layers.2.bias", 1, 1, 0);
    mmoe_layer_free(l);

    /* A tower with no hidden layer is a linear map to one output. */
    assert_int_equal(mmoe_layer_tower_create(4, 0, NULL, MMOE_ACT_RELU, 1, &l), MMOE_OK);
    assert_int_equal(mmoe_layer_param_count(l), 2);
    check_param(l, 0, "layers.0.weight", 2, 1, 4);
    check_param(l, 1, "layers.0.bias", 1, 1, 0);
    mmoe_layer_free(l);

    mmoe_layer_free(NULL); /* no-op */
}

static void test_null_queries(void **state)
{
    (void)state;
    assert_int_equal(mmoe_layer_get_kind(NULL), MMOE_LAYER_DENSE);
    assert_int_equal(mmoe_layer_in_width(NULL), 0);
    assert_int_equal(mmoe_layer_out_width(NULL), 0);
    assert_int_equal(mmoe_layer_param_count(NULL), 0);
    assert_string_equal(mmoe_layer_last_error(NULL), "");
    assert_int_equal(mmoe_layer_param(NULL, 0, NULL, NULL, NULL), MMOE_ERR_NULL);
    assert_int_equal(mmoe_layer_zero_grad(NULL), MMOE_ERR_NULL);
    assert_int_equal(mmoe_layer_forward(NULL, NULL, NULL), MMOE_ERR_NULL);
    assert_int_equal(mmoe_layer_backward(NULL, NULL, NULL), MMOE_ERR_NULL);
}

#define EXPECT_CREATE_FAIL(call, want)                                                             \
    do {                                                                                           \
        mmoe_layer *l_ = (mmoe_layer *)&l_;                                                        \
        mmoe_layer **out_ = &l_;                                                                   \
        (void)out_;                                                                                \
        assert_int_equal((call), (want));                                                          \
        assert_null(l_);                                                                           \
        assert_true(strlen(mmoe_last_error()) > 0);                                                \
    } while (0)

static void test_create_errors(void **state)
{
    (void)state;
    const size_t big = ((size_t)1 << 24) + 1;
    const size_t w2[2] = {4, 4};
    const mmoe_activation bad_act = (mmoe_activation)17;

    assert_int_equal(mmoe_layer_dense_create(2, 2, MMOE_ACT_RELU, 1, NULL), MMOE_ERR_NULL);
    assert_int_equal(mmoe_layer_activation_create(MMOE_ACT_RELU, 2, NULL), MMOE_ERR_NULL);
    assert_int_equal(mmoe_layer_expert_create(2, 2, w2, MMOE_ACT_RELU, 1, NULL), MMOE_ERR_NULL);
    assert_int_equal(mmoe_layer_gate_create(2, 2, 1, NULL), MMOE_ERR_NULL);
    assert_int_equal(mmoe_layer_tower_create(2, 2, w2, MMOE_ACT_RELU, 1, NULL), MMOE_ERR_NULL);

    EXPECT_CREATE_FAIL(mmoe_layer_dense_create(0, 2, MMOE_ACT_RELU, 1, out_), MMOE_ERR_INVALID_ARG);
    EXPECT_CREATE_FAIL(mmoe_layer_dense_create(2, 0, MMOE_ACT_RELU, 1, out_), MMOE_ERR_INVALID_ARG);
    EXPECT_CREATE_FAIL(mmoe_layer_dense_create(big, 2, MMOE_ACT_RELU, 1, out_),
                       MMOE_ERR_INVALID_ARG);
    EXPECT_CREATE_FAIL(mmoe_layer_dense_create(2, big, MMOE_ACT_RELU, 1, out_),
                       MMOE_ERR_INVALID_ARG);
    EXPECT_CREATE_FAIL(mmoe_layer_dense_create(2, 2, bad_act, 1, out_), MMOE_ERR_INVALID_ARG);

    EXPECT_CREATE_FAIL(mmoe_layer_activation_create(MMOE_ACT_RELU, 0, out_), MMOE_ERR_INVALID_ARG);
    EXPECT_CREATE_FAIL(mmoe_layer_activation_create(MMOE_ACT_RELU, big, out_),
                       MMOE_ERR_INVALID_ARG);
    EXPECT_CREATE_FAIL(mmoe_layer_activation_create(bad_act, 3, out_), MMOE_ERR_INVALID_ARG);

    EXPECT_CREATE_FAIL(mmoe_layer_expert_create(2, 2, NULL, MMOE_ACT_RELU, 1, out_), MMOE_ERR_NULL);
    EXPECT_CREATE_FAIL(mmoe_layer_expert_create(2, 0, w2, MMOE_ACT_RELU, 1, out_),
                       MMOE_ERR_INVALID_ARG);
    const size_t w9[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    EXPECT_CREATE_FAIL(mmoe_layer_expert_create(2, MMOE_MAX_LAYERS + 1, w9, MMOE_ACT_RELU, 1, out_),
                       MMOE_ERR_INVALID_ARG);
    EXPECT_CREATE_FAIL(
        mmoe_layer_expert_create(2, 2, (const size_t[]){4, 0}, MMOE_ACT_RELU, 1, out_),
        MMOE_ERR_INVALID_ARG);
    EXPECT_CREATE_FAIL(mmoe_layer_expert_create(0, 2, w2, MMOE_ACT_RELU, 1, out_),
                       MMOE_ERR_INVALID_ARG);
    EXPECT_CREATE_FAIL(
        mmoe_layer_expert_create(2, 2, (const size_t[]){big, 2}, MMOE_ACT_RELU, 1, out_),
        MMOE_ERR_INVALID_ARG);
    EXPECT_CREATE_FAIL(mmoe_layer_expert_create(2, 2, w2, bad_act, 1, out_), MMOE_ERR_INVALID_ARG);

    EXPECT_CREATE_FAIL(mmoe_layer_gate_create(0, 2, 1, out_), MMOE_ERR_INVALID_ARG);
    EXPECT_CREATE_FAIL(mmoe_layer_gate_create(2, 0, 1, out_), MMOE_ERR_INVALID_ARG);
    EXPECT_CREATE_FAIL(mmoe_layer_gate_create(2, big, 1, out_), MMOE_ERR_INVALID_ARG);

    EXPECT_CREATE_FAIL(mmoe_layer_tower_create(2, 2, NULL, MMOE_ACT_RELU, 1, out_), MMOE_ERR_NULL);
    EXPECT_CREATE_FAIL(mmoe_layer_tower_create(2, MMOE_MAX_LAYERS + 1, w9, MMOE_ACT_RELU, 1, out_),
                       MMOE_ERR_INVALID_ARG);
    EXPECT_CREATE_FAIL(mmoe_layer_tower_create(2, 1, (const size_t[]){0}, MMOE_ACT_RELU, 1, out_),
                       MMOE_ERR_INVALID_ARG);
    EXPECT_CREATE_FAIL(mmoe_layer_tower_create(0, 0, NULL, MMOE_ACT_RELU, 1, out_),
                       MMOE_ERR_INVALID_ARG);
    EXPECT_CREATE_FAIL(mmoe_layer_tower_create(2, 1, w2, bad_act, 1, out_), MMOE_ERR_INVALID_ARG);

    /* The limits themselves are accepted. */
    mmoe_layer *l = NULL;
    assert_int_equal(mmoe_layer_expert_create(2, MMOE_MAX_LAYERS, w9, MMOE_ACT_RELU, 1, &l),
                     MMOE_OK);
    assert_int_equal(mmoe_layer_param_count(l), 2 * MMOE_MAX_LAYERS);
    mmoe_layer_free(l);
    assert_int_equal(mmoe_layer_tower_create(2, MMOE_MAX_LAYERS, w9, MMOE_ACT_RELU, 1, &l),
                     MMOE_OK);
    assert_int_equal(mmoe_layer_param_count(l), 2 * (MMOE_MAX_LAYERS + 1));
    mmoe_layer_free(l);
    assert_int_equal(mmoe_layer_activation_create(MMOE_ACT_IDENTITY, (size_t)1 << 24, &l), MMOE_OK);
    mmoe_layer_free(l);
}

/* ---- initialisation ----------------------------------------------------------------------- */

static void test_init(void **state)
{
    (void)state;
    enum { IN = 400, OUT = 50, N = IN * OUT };
    static float a[N + OUT], b[N + OUT];
    mmoe_layer *l1 = NULL, *l2 = NULL, *l3 = NULL;

    /* He-normal for relu: mean ~0, std ~sqrt(2/in). */
    assert_int_equal(mmoe_layer_dense_create(IN, OUT, MMOE_ACT_RELU, 11, &l1), MMOE_OK);
    assert_int_equal(params_of(l1, a, N + OUT), N + OUT);
    double s = 0.0, s2 = 0.0;
    for (size_t i = 0; i < N; i++) {
        s += a[i];
        s2 += (double)a[i] * a[i];
    }
    double mean = s / N, sd = sqrt(s2 / N - mean * mean), want = sqrt(2.0 / IN);
    assert_true(fabs(mean) < 0.05 * want);
    assert_true(fabs(sd - want) < 0.05 * want);

    /* Same seed: identical; other seed: different. */
    assert_int_equal(mmoe_layer_dense_create(IN, OUT, MMOE_ACT_RELU, 11, &l2), MMOE_OK);
    params_of(l2, b, N + OUT);
    assert_memory_equal(a, b, sizeof a);
    assert_int_equal(mmoe_layer_dense_create(IN, OUT, MMOE_ACT_RELU, 12, &l3), MMOE_OK);
    params_of(l3, b, N + OUT);
    size_t same = 0;
    for (size_t i = 0; i < N; i++)
        same += a[i] == b[i];
    assert_true(same < N / 100);
    mmoe_layer_free(l1);
    mmoe_layer_free(l2);
    mmoe_layer_free(l3);

    /* Glorot-uniform otherwise: |w| <= sqrt(6/(in+out)) and the range is used. */
    const mmoe_activation others[3] = {MMOE_ACT_IDENTITY, MMOE_ACT_SIGMOID, MMOE_ACT_TANH};
    for (size_t k = 0; k < 3; k++) {
        assert_int_equal(mmoe_layer_dense_create(IN, OUT, others[k], 3, &l1), MMOE_OK);
        params_of(l1, a, N + OUT);
        double lim = sqrt(6.0 / (IN + OUT)), mx = 0.0;
        for (size_t i = 0; i < N; i++) {
            assert_true(fabs(a[i]) <= lim * (1.0 + 1e-6));
            if (fabs(a[i]) > mx)
                mx = fabs(a[i]);
        }
        assert_true(mx > 0.99 * lim);
        mmoe_layer_free(l1);
    }
}

static void test_sublayers_differ(void **state)
{
    (void)state;
    /* Square sub-layers inside one MLP must not share weights. */
    mmoe_layer *e = NULL, *t = NULL, *g1 = NULL, *g2 = NULL;
    assert_int_equal(
        mmoe_layer_expert_create(4, 3, (const size_t[]){4, 4, 4}, MMOE_ACT_RELU, 5, &e), MMOE_OK);
    mmoe_tensor *w[3];
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(mmoe_layer_param(e, 2 * i, NULL, &w[i], NULL), MMOE_OK);
    for (size_t i = 0; i < 3; i++)
        for (size_t j = 0; j < i; j++)
            assert_memory_not_equal(mmoe_tensor_cdata(w[i]), mmoe_tensor_cdata(w[j]),
                                    16 * sizeof(float));

    /* Two experts from different seeds differ in every layer. */
    mmoe_layer *e2 = NULL;
    assert_int_equal(
        mmoe_layer_expert_create(4, 3, (const size_t[]){4, 4, 4}, MMOE_ACT_RELU, 6, &e2), MMOE_OK);
    for (size_t i = 0; i < 3; i++) {
        mmoe_tensor *w2 = NULL;
        assert_int_equal(mmoe_layer_param(e2, 2 * i, NULL, &w2, NULL), MMOE_OK);
        assert_memory_not_equal(mmoe_tensor_cdata(w[i]), mmoe_tensor_cdata(w2), 16 * sizeof(float));
    }

    assert_int_equal(mmoe_layer_tower_create(3, 2, (const size_t[]){3, 3}, MMOE_ACT_TANH, 5, &t),
                     MMOE_OK);
    mmoe_tensor *t0 = NULL, *t1 = NULL;
    assert_int_equal(mmoe_layer_param(t, 0, NULL, &t0, NULL), MMOE_OK);
    assert_int_equal(mmoe_layer_param(t, 2, NULL, &t1, NULL), MMOE_OK);
    assert_memory_not_equal(mmoe_tensor_cdata(t0), mmoe_tensor_cdata(t1), 9 * sizeof(float));

    assert_int_equal(mmoe_layer_gate_create(4, 3, 1, &g1), MMOE_OK);
    assert_int_equal(mmoe_layer_gate_create(4, 3, 2, &g2), MMOE_OK);
    mmoe_tensor *a = NULL, *b = NULL;
    assert_int_equal(mmoe_layer_param(g1, 0, NULL, &a, NULL), MMOE_OK);
    assert_int_equal(mmoe_layer_param(g2, 0, NULL, &b, NULL), MMOE_OK);
    assert_memory_not_equal(mmoe_tensor_cdata(a), mmoe_tensor_cdata(b), 12 * sizeof(float));

    mmoe_layer_free(e);
    mmoe_layer_free(e2);
    mmoe_layer_free(t);
    mmoe_layer_free(g1);
    mmoe_layer_free(g2);
}

/* ---- forward values ----------------------------------------------------------------------- */

static void test_dense_forward(void **state)
{
    (void)state;
    mmoe_layer *l = NULL;
    assert_int_equal(mmoe_layer_dense_create(3, 2, MMOE_ACT_IDENTITY, 1, &l), MMOE_OK);
    set_param(l, 0, "weight", (const float[]){1, 2, 3, -1, 0, 0.5f}, 6);
    set_param(l, 1, "bias", (const float[]){0.5f, -1}, 2);
    mmoe_tensor *x = mat(2, 3, (const float[]){1, 1, 1, 2, -1, 0.5f});
    mmoe_tensor *y = mat(2, 2, NULL);
    assert_int_equal(mmoe_layer_forward(l, x, y), MMOE_OK);
    const float *o = mmoe_tensor_cdata(y);
    assert_close(o[0], 6.5, 1e-6);   /* 1+2+3+0.5 */
    assert_close(o[1], -1.5, 1e-6);  /* -1+0.5-1 */
    assert_close(o[2], 2.0, 1e-6);   /* 2-2+1.5+0.5 */
    assert_close(o[3], -2.75, 1e-6); /* -2+0.25-1 */
    assert_string_equal(mmoe_layer_last_error(l), "");

    /* Batch 1 (the matrix-vector path) gives the same numbers. */
    mmoe_tensor *x1 = mat(1, 3, (const float[]){2, -1, 0.5f});
    mmoe_tensor *y1 = mat(1, 2, NULL);
    assert_int_equal(mmoe_layer_forward(l, x1, y1), MMOE_OK);
    assert_close(mmoe_tensor_cdata(y1)[0], 2.0, 1e-6);
    assert_close(mmoe_tensor_cdata(y1)[1], -2.75, 1e-6);
    mmoe_tensor_free(x);
    mmoe_tensor_free(y);
    mmoe_tensor_free(x1);
    mmoe_tensor_free(y1);
    mmoe_layer_free(l);
}

static void test_activation_forward(void **state)
{
    (void)state;
    const float in[6] = {-2.0f, -0.5f, 0.0f, 0.25f, 1.5f, 30.0f};
    const mmoe_activation acts[4] = {MMOE_ACT_IDENTITY, MMOE_ACT_RELU, MMOE_ACT_SIGMOID,
                                     MMOE_ACT_TANH};
    for (size_t k = 0; k < 4; k++) {
        mmoe_layer *l = NULL;
        assert_int_equal(mmoe_layer_activation_create(acts[k], 3, &l), MMOE_OK);
        mmoe_tensor *x = mat(2, 3, in);
        mmoe_tensor *y = mat(2, 3, NULL);
        assert_int_equal(mmoe_layer_forward(l, x, y), MMOE_OK);
        for (size_t i = 0; i < 6; i++) {
            double v = in[i], want;
            switch (acts[k]) {
            case MMOE_ACT_RELU:
                want = v > 0 ? v : 0;
                break;
            case MMOE_ACT_SIGMOID:
                want = 1.0 / (1.0 + exp(-v));
                break;
            case MMOE_ACT_TANH:
                want = tanh(v);
                break;
            default:
                want = v;
                break;
            }
            assert_close(mmoe_tensor_cdata(y)[i], want, 1e-6);
        }
        /* The input is not modified. */
        assert_memory_equal(mmoe_tensor_cdata(x), in, sizeof in);
        mmoe_tensor_free(x);
        mmoe_tensor_free(y);
        mmoe_layer_free(l);
    }
    /* Exact values at a few points. */
    mmoe_layer *s = NULL;
    assert_int_equal(mmoe_layer_activation_create(MMOE_ACT_SIGMOID, 2, &s), MMOE_OK);
    mmoe_tensor *x = mat(1, 2, (const float[]){0.0f, -200.0f});
    mmoe_tensor *y = mat(1, 2, NULL);
    assert_int_equal(mmoe_layer_forward(s, x, y), MMOE_OK);
    assert_true(mmoe_tensor_cdata(y)[0] == 0.5f);
    assert_true(mmoe_tensor_cdata(y)[1] >= 0.0f && mmoe_tensor_cdata(y)[1] < 1e-30f);
    mmoe_tensor_free(x);
    mmoe_tensor_free(y);
    mmoe_layer_free(s);
}

static void test_expert_forward(void **state)
{
    (void)state;
    mmoe_layer *l = NULL;
    assert_int_equal(mmoe_layer_expert_create(2, 2, (const size_t[]){2, 1}, MMOE_ACT_RELU, 1, &l),
                     MMOE_OK);
    set_param(l, 0, "layers.0.weight", (const float[]){1, -1, 0.5f, 0.5f}, 4);
    set_param(l, 1, "layers.0.bias", (const float[]){0, -1}, 2);
    set_param(l, 2, "layers.1.weight", (const float[]){2, -3}, 2);
    set_param(l, 3, "layers.1.bias", (const float[]){0.25f}, 1);
    mmoe_tensor *x = mat(3, 2, (const float[]){3, 1, 1, 3, 0, 4});
    mmoe_tensor *y = mat(3, 1, NULL);
    assert_int_equal(mmoe_layer_forward(l, x, y), MMOE_OK);
    /* [3,1]: h = relu(2, 1) = (2, 1); y = relu(4 - 3 + 0.25) = 1.25 */
    assert_close(mmoe_tensor_cdata(y)[0], 1.25, 1e-6);
    /* [1,3]: h = relu(-2, 1) = (0, 1); y = relu(-3 + 0.25) = 0 */
    assert_true(mmoe_tensor_cdata(y)[1] == 0.0f);
    /* [0,4]: h = relu(-4, 1) = (0, 1); y = 0 */
    assert_true(mmoe_tensor_cdata(y)[2] == 0.0f);
    mmoe_tensor_free(x);
    mmoe_tensor_free(y);
    mmoe_layer_free(l);

    /* Tanh expert, one layer: y = tanh(W x + b). */
    assert_int_equal(mmoe_layer_expert_create(2, 1, (const size_t[]){2}, MMOE_ACT_TANH, 1, &l),
                     MMOE_OK);
    set_param(l, 0, "layers.0.weight", (const float[]){0.5f, 0, 0, -1}, 4);
    set_param(l, 1, "layers.0.bias", (const float[]){0.1f, 0.2f}, 2);
    x = mat(1, 2, (const float[]){1, 1});
    y = mat(1, 2, NULL);
    assert_int_equal(mmoe_layer_forward(l, x, y), MMOE_OK);
    assert_close(mmoe_tensor_cdata(y)[0], tanh(0.6), 1e-6);
    assert_close(mmoe_tensor_cdata(y)[1], tanh(-0.8), 1e-6);
    mmoe_tensor_free(x);
    mmoe_tensor_free(y);
    mmoe_layer_free(l);
}

static void test_gate_forward(void **state)
{
    (void)state;
    mmoe_layer *l = NULL;
    assert_int_equal(mmoe_layer_gate_create(2, 3, 1, &l), MMOE_OK);
    set_param(l, 0, "weight", (const float[]){1, 0, 0, 1, 1, 1}, 6);
    mmoe_tensor *x = mat(2, 2, (const float[]){1, 2, 1000, 0});
    mmoe_tensor *y = mat(2, 3, NULL);
    assert_int_equal(mmoe_layer_forward(l, x, y), MMOE_OK);
    const float *p = mmoe_tensor_cdata(y);
    /* logits (1, 2, 3) */
    double z = exp(-2.0) + exp(-1.0) + 1.0;
    assert_close(p[0], exp(-2.0) / z, 1e-6);
    assert_close(p[1], exp(-1.0) / z, 1e-6);
    assert_close(p[2], 1.0 / z, 1e-6);
    /* logits (1000, 0, 1000): a naive softmax overflows; stable one gives (0.5, 0, 0.5). */
    assert_close(p[3], 0.5, 1e-6);
    assert_true(p[4] == 0.0f);
    assert_close(p[5], 0.5, 1e-6);
    mmoe_tensor_free(x);
    mmoe_tensor_free(y);
    mmoe_layer_free(l);

    /* Random gate: rows are distributions. */
    enum { B = 17, IN = 6, E = 5 };
    float xv[B * IN];
    fill(xv, B * IN, 3, -3.0f, 3.0f);
    assert_int_equal(mmoe_layer_gate_create(IN, E, 9, &l), MMOE_OK);
    x = mat(B, IN, xv);
    y = mat(B, E, NULL);
    assert_int_equal(mmoe_layer_forward(l, x, y), MMOE_OK);
    for (size_t r = 0; r < B; r++) {
        double s = 0.0;
        for (size_t j = 0; j < E; j++) {
            float v = mmoe_tensor_cdata(y)[r * E + j];
            assert_true(v >= 0.0f && v <= 1.0f);
            s += v;
        }
        assert_close(s, 1.0, 1e-6);
    }
    mmoe_tensor_free(x);
    mmoe_tensor_free(y);
    mmoe_layer_free(l);

    /* One expert: the gate is constant 1. */
    assert_int_equal(mmoe_layer_gate_create(3, 1, 9, &l), MMOE_OK);
    x = mat(2, 3, (const float[]){1, 2, 3, -4, 5, -6});
    y = mat(2, 1, NULL);
    assert_int_equal(mmoe_layer_forward(l, x, y), MMOE_OK);
    assert_true(mmoe_tensor_cdata(y)[0] == 1.0f && mmoe_tensor_cdata(y)[1] == 1.0f);
    mmoe_tensor_free(x);
    mmoe_tensor_free(y);
    mmoe_layer_free(l);
}

static void test_tower_forward(void **state)
{
    (void)state;
    mmoe_layer *l = NULL;
    assert_int_equal(mmoe_layer_tower_create(2, 1, (const size_t[]){2}, MMOE_ACT_TANH, 1, &l),
                     MMOE_OK);
    set_param(l, 0, "layers.0.weight", (const float[]){1, 0, 0, 1}, 4);
    set_param(l, 1, "layers.0.bias", (const float[]){0, 0.5f}, 2);
    set_param(l, 2, "layers.1.weight", (const float[]){1, -2}, 2);
    set_param(l, 3, "layers.1.bias", (const float[]){0.5f}, 1);
    mmoe_tensor *x = mat(2, 2, (const float[]){0.5f, -1, -3, 2});
    mmoe_tensor *y = mat(2, 1, NULL);
    assert_int_equal(mmoe_layer_forward(l, x, y), MMOE_OK);
    /* The output layer is linear: it may be negative. */
    assert_close(mmoe_tensor_cdata(y)[0], tanh(0.5) - 2.0 * tanh(-0.5) + 0.5, 1e-6);
    assert_close(mmoe_tensor_cdata(y)[1], tanh(-3.0) - 2.0 * tanh(2.5) + 0.5, 1e-6);
    mmoe_tensor_free(x);
    mmoe_tensor_free(y);
    mmoe_layer_free(l);

    assert_int_equal(mmoe_layer_tower_create(3, 0, NULL, MMOE_ACT_RELU, 1, &l), MMOE_OK);
    set_param(l, 0, "layers.0.weight", (const float[]){1, -2, 3}, 3);
    set_param(l, 1, "layers.0.bias", (const float[]){-10}, 1);
    x = mat(1, 3, (const float[]){1, 1, 1});
    y = mat(1, 1, NULL);
    assert_int_equal(mmoe_layer_forward(l, x, y), MMOE_OK);
    assert_close(mmoe_tensor_cdata(y)[0], -8.0, 1e-6);
    mmoe_tensor_free(x);
    mmoe_tensor_free(y);
    mmoe_layer_free(l);
}

/* Batch-1 forward (and backward) of row r equals row r of a batched pass. */
static void check_batch1_matches(mmoe_layer *l)
{
    enum { B = 7 };
    const size_t in = mmoe_layer_in_width(l), out = mmoe_layer_out_width(l);
    float xv[B * 16], gv[B * 16];
    assert_true(in <= 16 && out <= 16);
    fill(xv, B * in, 21, -1.0f, 1.0f);
    fill(gv, B * out, 22, -1.0f, 1.0f);
    mmoe_tensor *x = mat(B, in, xv), *y = mat(B, out, NULL);
    mmoe_tensor *gy = mat(B, out, gv), *gx = mat(B, in, NULL);
    assert_int_equal(mmoe_layer_forward(l, x, y), MMOE_OK);
    assert_int_equal(mmoe_layer_backward(l, gy, gx), MMOE_OK);
    for (size_t r = 0; r < B; r++) {
        mmoe_tensor *x1 = mat(1, in, xv + r * in), *y1 = mat(1, out, NULL);
        mmoe_tensor *gy1 = mat(1, out, gv + r * out), *gx1 = mat(1, in, NULL);
        assert_int_equal(mmoe_layer_forward(l, x1, y1), MMOE_OK);
        assert_int_equal(mmoe_layer_backward(l, gy1, gx1), MMOE_OK);
        for (size_t j = 0; j < out; j++)
            assert_close(mmoe_tensor_cdata(y1)[j], mmoe_tensor_cdata(y)[r * out + j], 1e-6);
        for (size_t j = 0; j < in; j++)
            assert_close(mmoe_tensor_cdata(gx1)[j], mmoe_tensor_cdata(gx)[r * in + j], 1e-6);
        mmoe_tensor_free(x1);
        mmoe_tensor_free(y1);
        mmoe_tensor_free(gy1);
        mmoe_tensor_free(gx1);
    }
    mmoe_tensor_free(x);
    mmoe_tensor_free(y);
    mmoe_tensor_free(gy);
    mmoe_tensor_free(gx);
}

static void test_batch1_matches_batch(void **state)
{
    (void)state;
    mmoe_layer *l = NULL;
    assert_int_equal(mmoe_layer_dense_create(5, 4, MMOE_ACT_TANH, 2, &l), MMOE_OK);
    check_batch1_matches(l);
    mmoe_layer_free(l);
    assert_int_equal(
        mmoe_layer_expert_create(6, 2, (const size_t[]){8, 5}, MMOE_ACT_SIGMOID, 2, &l), MMOE_OK);
    check_batch1_matches(l);
    mmoe_layer_free(l);
    assert_int_equal(mmoe_layer_gate_create(6, 4, 2, &l), MMOE_OK);
    check_batch1_matches(l);
    mmoe_layer_free(l);
    assert_int_equal(mmoe_layer_tower_create(6, 2, (const size_t[]){7, 3}, MMOE_ACT_TANH, 2, &l),
                     MMOE_OK);
    check_batch1_matches(l);
    mmoe_layer_free(l);
}

/* ---- backward bookkeeping ----------------------------------------------------------------- */

static void check_accumulates(mmoe_layer *l)
{
    enum { B = 4, CAP = 512 };
    const size_t in = mmoe_layer_in_width(l), out = mmoe_layer_out_width(l);
    float xv[B * 16], gv[B * 16], g1[CAP], g2[CAP], dx1[B * 16];
    fill(xv, B * in, 5, -1.0f, 1.0f);
    fill(gv, B * out, 6, -1.0f, 1.0f);
    mmoe_tensor *x = mat(B, in, xv), *y = mat(B, out, NULL);
    mmoe_tensor *gy = mat(B, out, gv), *gx = mat(B, in, NULL);
    assert_int_equal(mmoe_layer_forward(l, x, y), MMOE_OK);
    assert_int_equal(mmoe_layer_backward(l, gy, gx), MMOE_OK);
    size_t n = grads_of(l, g1, CAP);
    memcpy(dx1, mmoe_tensor_cdata(gx), B * in * sizeof(float));
    float nrm = 0.0f;
    for (size_t i = 0; i < n; i++)
        nrm += fabsf(g1[i]);
    assert_true(nrm > 0.0f);

    /* A second backward adds the same again; the input gradient is overwritten. */
    assert_int_equal(mmoe_layer_backward(l, gy, gx), MMOE_OK);
    grads_of(l, g2, CAP);
    for (size_t i = 0; i < n; i++)
        assert_close(g2[i], 2.0 * g1[i], 1e-6);
    for (size_t i = 0; i < B * in; i++)
        assert_close(mmoe_tensor_cdata(gx)[i], dx1[i], 1e-6);

    /* grad_input may be NULL. */
    assert_int_equal(mmoe_layer_backward(l, gy, NULL), MMOE_OK);
    grads_of(l, g2, CAP);
    for (size_t i = 0; i < n; i++)
        assert_close(g2[i], 3.0 * g1[i], 1e-6);

    assert_int_equal(mmoe_layer_zero_grad(l), MMOE_OK);
    grads_of(l, g2, CAP);
    for (size_t i = 0; i < n; i++)
        assert_true(g2[i] == 0.0f);
    /* After zero_grad, one backward gives the first result again. */
    assert_int_equal(mmoe_layer_backward(l, gy, gx), MMOE_OK);
    grads_of(l, g2, CAP);
    for (size_t i = 0; i < n; i++)
        assert_close(g2[i], g1[i], 1e-6);
    mmoe_tensor_free(x);
    mmoe_tensor_free(y);
    mmoe_tensor_free(gy);
    mmoe_tensor_free(gx);
}

static void test_backward_accumulates(void **state)
{
    (void)state;
    mmoe_layer *l = NULL;
    assert_int_equal(mmoe_layer_dense_create(3, 2, MMOE_ACT_IDENTITY, 2, &l), MMOE_OK);
    check_accumulates(l);
    mmoe_layer_free(l);
    assert_int_equal(mmoe_layer_expert_create(3, 2, (const size_t[]){4, 2}, MMOE_ACT_TANH, 2, &l),
                     MMOE_OK);
    check_accumulates(l);
    mmoe_layer_free(l);
    assert_int_equal(mmoe_layer_gate_create(3, 4, 2, &l), MMOE_OK);
    check_accumulates(l);
    mmoe_layer_free(l);
    assert_int_equal(mmoe_layer_tower_create(3, 1, (const size_t[]){4}, MMOE_ACT_SIGMOID, 2, &l),
                     MMOE_OK);
    check_accumulates(l);
    mmoe_layer_free(l);
}

static void test_dense_backward_values(void **state)
{
    (void)state;
    /* y = x W^T + b; dW = dY^T X, db = sum dY, dX = dY W. */
    mmoe_layer *l = NULL;
    assert_int_equal(mmoe_layer_dense_create(2, 2, MMOE_ACT_IDENTITY, 1, &l), MMOE_OK);
    set_param(l, 0, "weight", (const float[]){1, 2, 3, 4}, 4);
    mmoe_tensor *x = mat(2, 2, (const float[]){1, 0, 2, -1});
    mmoe_tensor *y = mat(2, 2, NULL);
    mmoe_tensor *gy = mat(2, 2, (const float[]){1, 2, -1, 0.5f});
    mmoe_tensor *gx = mat(2, 2, NULL);
    assert_int_equal(mmoe_tensor_fill(gx, NAN), MMOE_OK); /* stale NaNs must be overwritten */
    assert_int_equal(mmoe_layer_forward(l, x, y), MMOE_OK);
    assert_int_equal(mmoe_layer_backward(l, gy, gx), MMOE_OK);
    mmoe_tensor *dw = NULL, *db = NULL;
    assert_int_equal(mmoe_layer_param(l, 0, NULL, NULL, &dw), MMOE_OK);
    assert_int_equal(mmoe_layer_param(l, 1, NULL, NULL, &db), MMOE_OK);
    const float want_dw[4] = {1 * 1 + -1 * 2, 1 * 0 + -1 * -1, 2 * 1 + 0.5f * 2, 2 * 0 + 0.5f * -1};
    const float want_db[2] = {0, 2.5f};
    const float want_dx[4] = {1 * 1 + 2 * 3, 1 * 2 + 2 * 4, -1 * 1 + 0.5f * 3, -1 * 2 + 0.5f * 4};
    for (size_t i = 0; i < 4; i++) {
        assert_close(mmoe_tensor_cdata(dw)[i], want_dw[i], 1e-6);
        assert_close(mmoe_tensor_cdata(gx)[i], want_dx[i], 1e-6);
    }
    for (size_t i = 0; i < 2; i++)
        assert_close(mmoe_tensor_cdata(db)[i], want_db[i], 1e-6);
    mmoe_tensor_free(x);
    mmoe_tensor_free(y);
    mmoe_tensor_free(gy);
    mmoe_tensor_free(gx);
    mmoe_layer_free(l);
}

/* ---- bad input ---------------------------------------------------------------------------- */

static int all_equal(const mmoe_tensor *t, float v)
{
    for (size_t i = 0; i < mmoe_tensor_numel(t); i++)
        if (!(mmoe_tensor_cdata(t)[i] == v))
            return 0;
    return 1;
}

static void test_forward_bad_input(void **state)
{
    (void)state;
    mmoe_layer *l = NULL;
    assert_int_equal(mmoe_layer_expert_create(3, 1, (const size_t[]){2}, MMOE_ACT_RELU, 4, &l),
                     MMOE_OK);
    mmoe_tensor *x = mat(2, 3, (const float[]){1, 2, 3, 4, 5, 6});
    mmoe_tensor *y = mat(2, 2, NULL);
    mmoe_tensor *x_wide = mat(2, 4, NULL), *y_wide = mat(2, 3, NULL);
    mmoe_tensor *y_batch = mat(3, 2, NULL);
    mmoe_tensor *x1 = NULL, *x3 = NULL, *y1 = NULL;
    assert_int_equal(mmoe_tensor_create(1, (const int64_t[]){3}, &x1), MMOE_OK);
    assert_int_equal(mmoe_tensor_create(3, (const int64_t[]){2, 3, 1}, &x3), MMOE_OK);
    assert_int_equal(mmoe_tensor_create(1, (const int64_t[]){2}, &y1), MMOE_OK);

    assert_int_equal(mmoe_tensor_fill(y, 42.0f), MMOE_OK);
    assert_int_equal(mmoe_layer_forward(l, NULL, y), MMOE_ERR_NULL);
    assert_true(strlen(mmoe_layer_last_error(l)) > 0);
    assert_int_equal(mmoe_layer_forward(l, x, NULL), MMOE_ERR_NULL);
    assert_int_equal(mmoe_layer_forward(l, x_wide, y), MMOE_ERR_SHAPE);
    assert_int_equal(mmoe_layer_forward(l, x1, y), MMOE_ERR_SHAPE);
    assert_int_equal(mmoe_layer_forward(l, x3, y), MMOE_ERR_SHAPE);
    assert_int_equal(mmoe_layer_forward(l, x, y_wide), MMOE_ERR_SHAPE);
    assert_int_equal(mmoe_layer_forward(l, x, y_batch), MMOE_ERR_SHAPE);
    assert_int_equal(mmoe_layer_forward(l, x, y1), MMOE_ERR_SHAPE);
    assert_true(all_equal(y, 42.0f));
    assert_true(all_equal(y_wide, 0.0f) && all_equal(y_batch, 0.0f) && all_equal(y1, 0.0f));

    /* Non-finite input: NONFINITE, output untouched. */
    const float bad[3] = {NAN, INFINITY, -INFINITY};
    for (size_t k = 0; k < 3; k++) {
        float *xd = mmoe_tensor_data(x);
        float keep = xd[4];
        xd[4] = bad[k];
        assert_int_equal(mmoe_layer_forward(l, x, y), MMOE_ERR_NONFINITE);
        assert_non_null(strstr(mmoe_layer_last_error(l), "mmoe_layer_forward"));
        assert_true(all_equal(y, 42.0f));
        xd[4] = keep;
    }

    /* Backward before any successful forward. */
    mmoe_tensor *gy = mat(2, 2, (const float[]){1, 1, 1, 1});
    assert_int_equal(mmoe_layer_backward(l, gy, NULL), MMOE_ERR_STATE);
    float g[16];
    size_t n = grads_of(l, g, 16);
    for (size_t i = 0; i < n; i++)
        assert_true(g[i] == 0.0f);

    /* A success clears the message. */
    assert_int_equal(mmoe_layer_forward(l, x, y), MMOE_OK);
    assert_string_equal(mmoe_layer_last_error(l), "");
    assert_false(all_equal(y, 42.0f));

    mmoe_tensor_free(x);
    mmoe_tensor_free(y);
    mmoe_tensor_free(x_wide);
    mmoe_tensor_free(y_wide);
    mmoe_tensor_free(y_batch);
    mmoe_tensor_free(x1);
    mmoe_tensor_free(x3);
    mmoe_tensor_free(y1);
    mmoe_tensor_free(gy);
    mmoe_layer_free(l);
}

static void test_backward_bad_input(void **state)
{
    (void)state;
    enum { CAP = 64 };
    mmoe_layer *l = NULL;
    assert_int_equal(mmoe_layer_expert_create(3, 2, (const size_t[]){4, 2}, MMOE_ACT_TANH, 4, &l),
                     MMOE_OK);
    float xv[6], gv[4];
    fill(xv, 6, 1, -1.0f, 1.0f);
    fill(gv, 4, 2, -1.0f, 1.0f);
    mmoe_tensor *x = mat(2, 3, xv), *y = mat(2, 2, NULL);
    mmoe_tensor *gy = mat(2, 2, gv), *gx = mat(2, 3, NULL);
    assert_int_equal(mmoe_layer_forward(l, x, y), MMOE_OK);
    assert_int_equal(mmoe_layer_backward(l, gy, gx), MMOE_OK);
    float ref[CAP], now[CAP], dx_ref[6];
    size_t n = grads_of(l, ref, CAP);
    memcpy(dx_ref, mmoe_tensor_cdata(gx), sizeof dx_ref);

    mmoe_tensor *gy_batch = mat(3, 2, NULL), *gy_wide = mat(2, 3, NULL);
    mmoe_tensor *gx_batch = mat(3, 3, NULL), *gx_wide = mat(2, 4, NULL);
    mmoe_tensor *gy1 = NULL;
    assert_int_equal(mmoe_tensor_create(1, (const int64_t[]){4}, &gy1), MMOE_OK);
    assert_int_equal(mmoe_tensor_fill(gx, 9.0f), MMOE_OK);

    assert_int_equal(mmoe_layer_backward(l, NULL, gx), MMOE_ERR_NULL);
    assert_int_equal(mmoe_layer_backward(l, gy_batch, gx), MMOE_ERR_SHAPE);
    assert_int_equal(mmoe_layer_backward(l, gy_wide, gx), MMOE_ERR_SHAPE);
    assert_int_equal(mmoe_layer_backward(l, gy1, gx), MMOE_ERR_SHAPE);
    assert_int_equal(mmoe_layer_backward(l, gy, gx_batch), MMOE_ERR_SHAPE);
    assert_int_equal(mmoe_layer_backward(l, gy, gx_wide), MMOE_ERR_SHAPE);
    mmoe_tensor_data(gy)[1] = NAN;
    assert_int_equal(mmoe_layer_backward(l, gy, gx), MMOE_ERR_NONFINITE);
    mmoe_tensor_data(gy)[1] = INFINITY;
    assert_int_equal(mmoe_layer_backward(l, gy, gx), MMOE_ERR_NONFINITE);
    assert_true(strlen(mmoe_layer_last_error(l)) > 0);
    mmoe_tensor_data(gy)[1] = gv[1];
    /* Nothing changed: parameter gradients, the input gradient, the other outputs. */
    grads_of(l, now, CAP);
    assert_memory_equal(now, ref, n * sizeof(float));
    assert_true(all_equal(gx, 9.0f));
    assert_true(all_equal(gx_batch, 0.0f) && all_equal(gx_wide, 0.0f));

    /* A failed forward (other batch, NaN) keeps the cache of the last good forward. */
    float big[5 * 3];
    fill(big, 15, 3, -1.0f, 1.0f);
    big[7] = NAN;
    mmoe_tensor *xb = mat(5, 3, big), *yb = mat(5, 2, NULL);
    assert_int_equal(mmoe_layer_forward(l, xb, yb), MMOE_ERR_NONFINITE);
    assert_int_equal(mmoe_layer_zero_grad(l), MMOE_OK);
    assert_int_equal(mmoe_layer_backward(l, gy, gx), MMOE_OK);
    grads_of(l, now, CAP);
    for (size_t i = 0; i < n; i++)
        assert_close(now[i], ref[i], 1e-6);
    for (size_t i = 0; i < 6; i++)
        assert_close(mmoe_tensor_cdata(gx)[i], dx_ref[i], 1e-6);

    /* Backward matches the batch of the LAST forward: a new batch size makes the old one wrong. */
    big[7] = 0.5f;
    assert_int_equal(mmoe_tensor_copy_from(xb, big, 15), MMOE_OK);
    assert_int_equal(mmoe_layer_forward(l, xb, yb), MMOE_OK);
    assert_int_equal(mmoe_layer_backward(l, gy, gx), MMOE_ERR_SHAPE);
    mmoe_tensor *gyb = mat(5, 2, NULL);
    assert_int_equal(mmoe_layer_backward(l, gyb, NULL), MMOE_OK);
    /* Shrinking back reuses the cache. */
    assert_int_equal(mmoe_layer_forward(l, x, y), MMOE_OK);
    assert_int_equal(mmoe_layer_zero_grad(l), MMOE_OK);
    assert_int_equal(mmoe_layer_backward(l, gy, gx), MMOE_OK);
    grads_of(l, now, CAP);
    for (size_t i = 0; i < n; i++)
        assert_close(now[i], ref[i], 1e-6);

    mmoe_tensor_free(x);
    mmoe_tensor_free(y);
    mmoe_tensor_free(gy);
    mmoe_tensor_free(gx);
    mmoe_tensor_free(gy_batch);
    mmoe_tensor_free(gy_wide);
    mmoe_tensor_free(gx_batch);
    mmoe_tensor_free(gx_wide);
    mmoe_tensor_free(gy1);
    mmoe_tensor_free(xb);
    mmoe_tensor_free(yb);
    mmoe_tensor_free(gyb);
    mmoe_layer_free(l);
}

static void test_activation_backward_state(void **state)
{
    (void)state;
    /* Parameter-free layers still need a forward before backward. */
    mmoe_layer *l = NULL;
    assert_int_equal(mmoe_layer_activation_create(MMOE_ACT_RELU, 3, &l), MMOE_OK);
    mmoe_tensor *x = mat(1, 3, (const float[]){-1, 0.5f, 2});
    mmoe_tensor *y = mat(1, 3, NULL);
    mmoe_tensor *gy = mat(1, 3, (const float[]){3, 4, 5});
    mmoe_tensor *gx = mat(1, 3, NULL);
    assert_int_equal(mmoe_layer_backward(l, gy, gx), MMOE_ERR_STATE);
    assert_true(all_equal(gx, 0.0f));
    assert_int_equal(mmoe_layer_forward(l, x, y), MMOE_OK);
    assert_int_equal(mmoe_layer_backward(l, gy, gx), MMOE_OK);
    assert_true(mmoe_tensor_cdata(gx)[0] == 0.0f);
    assert_true(mmoe_tensor_cdata(gx)[1] == 4.0f);
    assert_true(mmoe_tensor_cdata(gx)[2] == 5.0f);
    /* In place: the same tensor as input and output. */
    assert_int_equal(mmoe_layer_forward(l, x, x), MMOE_OK);
    assert_true(mmoe_tensor_cdata(x)[0] == 0.0f && mmoe_tensor_cdata(x)[2] == 2.0f);
    mmoe_tensor_free(x);
    mmoe_tensor_free(y);
    mmoe_tensor_free(gy);
    mmoe_tensor_free(gx);
    mmoe_layer_free(l);
}

/* Sizes that overflow are MMOE_ERR_OVERFLOW, not MMOE_ERR_NOMEM (issue 9). */
static void test_overflow_status(void **state)
{
    (void)state;
    mmoe_layer *l = (mmoe_layer *)&l;
    const size_t big = (size_t)1 << 24;
    assert_int_equal(mmoe_layer_dense_create(big, big, MMOE_ACT_RELU, 1, &l), MMOE_ERR_OVERFLOW);
    assert_null(l);
    size_t w[2] = {big, big};
    assert_int_equal(mmoe_layer_expert_create(4, 2, w, MMOE_ACT_RELU, 1, &l), MMOE_ERR_OVERFLOW);
    assert_int_equal(mmoe_layer_dnn_create(big, 1, w, MMOE_ACT_RELU, 0, 0.0, 1, &l),
                     MMOE_ERR_OVERFLOW);
    assert_int_equal(mmoe_layer_crossnet_create(big, 2, MMOE_CROSS_MATRIX, 1, &l),
                     MMOE_ERR_OVERFLOW);
    assert_null(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_and_params),
        cmocka_unit_test(test_null_queries),
        cmocka_unit_test(test_create_errors),
        cmocka_unit_test(test_overflow_status),
        cmocka_unit_test(test_init),
        cmocka_unit_test(test_sublayers_differ),
        cmocka_unit_test(test_dense_forward),
        cmocka_unit_test(test_activation_forward),
        cmocka_unit_test(test_expert_forward),
        cmocka_unit_test(test_gate_forward),
        cmocka_unit_test(test_tower_forward),
        cmocka_unit_test(test_batch1_matches_batch),
        cmocka_unit_test(test_backward_accumulates),
        cmocka_unit_test(test_dense_backward_values),
        cmocka_unit_test(test_forward_bad_input),
        cmocka_unit_test(test_backward_bad_input),
        cmocka_unit_test(test_activation_backward_state),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
