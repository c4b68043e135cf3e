/*
 * Allocation-failure sweep: every call that allocates is run with its
 * k-th allocation failing, for k = 0, 1, 2, ... until it succeeds. Each
 * failure must return MMOE_ERR_NOMEM, hand out no object and change
 * nothing; the sanitizer run proves nothing leaks on those paths.
 *
 * Linked against the internal test build of the library, whose allocator
 * has a failure-injection hook (the shipped library has none).
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

void mmoe__alloc_fail_after(long n);

enum { D = 5, NB = 3, MAX_TRIES = 100000 };

static mmoe_config *make_cfg(const char *extra)
{
    mmoe_config *c;
    assert_int_equal(mmoe_config_create(&c), MMOE_OK);
    char *text;
    const char *base = "mmoe-config 1\ninput.dense 5\nexperts.count 3\nexperts.layers 4,3\n"
                       "tasks 2\ntask.1.kind binary\n";
    size_t n = strlen(base) + strlen(extra) + 1;
    text = malloc(n);
    assert_non_null(text);
    strcpy(text, base);
    strcat(text, extra);
    assert_int_equal(mmoe_config_parse(c, text), MMOE_OK);
    free(text);
    return c;
}

/* Run op with failures injected at k = 0, 1, ... until it succeeds; on_fail runs after each
 * failure. */
#define SWEEP(op_status_expr, on_fail)                                                             \
    do {                                                                                           \
        long k_;                                                                                   \
        for (k_ = 0; k_ < MAX_TRIES; k_++) {                                                       \
            mmoe__alloc_fail_after(k_);                                                            \
            mmoe_status st_ = (op_status_expr);                                                    \
            mmoe__alloc_fail_after(-1);                                                            \
            if (st_ == MMOE_OK)                                                                    \
                break;                                                                             \
            if (st_ != MMOE_ERR_NOMEM)                                                             \
                fail_msg("failure %ld gave %s: %s", k_, mmoe_status_name(st_), mmoe_last_error()); \
            on_fail;                                                                               \
        }                                                                                          \
        assert_true(k_ < MAX_TRIES);                                                               \
        assert_true(k_ > 0); /* the call allocates: at least one failure was injected */           \
    } while (0)

static void test_config_and_model_create(void **state)
{
    (void)state;
    static const char *const variants[] = {
        "",
        "arch omoe\n",
        "arch cross_stitch\n",
        "arch tensor_factorization\n",
        "arch l2_constrained\n",
        "input.sparse 2\nsparse.1.slots 3\ncross.layers 2\ndnn.layers 6\ndnn.batchnorm 1\n",
    };
    for (size_t v = 0; v < sizeof variants / sizeof *variants; v++) {
        mmoe_config *c = NULL;
        SWEEP(mmoe_config_create(&c), assert_null(c));
        mmoe_config_free(c);
        c = make_cfg(variants[v]);
        mmoe_model *m = NULL;
        SWEEP(mmoe_model_create(c, &m), assert_null(m));
        mmoe_workspace *ws = NULL;
        SWEEP(mmoe_workspace_create(m, 4, &ws), assert_null(ws));
        mmoe_optimizer *opt = NULL;
        SWEEP(mmoe_optimizer_create(m, MMOE_OPTIMIZER_ADAM, &opt), assert_null(opt));
        char *text = NULL;
        SWEEP(mmoe_config_to_string(c, &text), assert_null(text));
        mmoe_config *d = NULL;
        assert_int_equal(mmoe_config_create(&d), MMOE_OK);
        SWEEP(mmoe_config_parse(d, text), (void)0);
        char *text2;
        assert_int_equal(mmoe_config_to_string(d, &text2), MMOE_OK);
        assert_string_equal(text, text2);
        mmoe_string_free(text2);
        mmoe_string_free(text);
        mmoe_config_free(d);
        mmoe_optimizer_free(opt);
        mmoe_workspace_free(ws);
        mmoe_model_free(m);
        mmoe_config_free(c);
    }
}

static void test_forward_growth_keeps_previous_results(void **state)
{
    (void)state;
    mmoe_config *c = make_cfg("");
    mmoe_model *m;
    assert_int_equal(mmoe_model_create(c, &m), MMOE_OK);
    float x[64 * D], out_before[NB * 2], out[NB * 2];
    for (size_t i = 0; i < 64 * D; i++)
        x[i] = (float)((i * 37) % 11) / 11.0f - 0.5f;
    assert_int_equal(mmoe_model_forward(m, NB, x, NULL), MMOE_OK);
    assert_int_equal(mmoe_model_outputs(m, out_before, NB * 2), MMOE_OK);
    /* A larger batch grows the training buffers: failures leave the last forward intact. */
    SWEEP(mmoe_model_forward(m, 64, x, NULL), {
        assert_int_equal(mmoe_model_outputs(m, out, NB * 2), MMOE_OK);
        assert_memory_equal(out, out_before, sizeof out);
    });
    mmoe_model_free(m);
    mmoe_config_free(c);
}

static void test_save_load_buffer(void **state)
{
    (void)state;
    mmoe_config *c = make_cfg("input.sparse 1\ndnn.layers 4\ndnn.batchnorm 1\n");
    mmoe_model *m;
    assert_int_equal(mmoe_model_create(c, &m), MMOE_OK);
    void *buf = NULL;
    size_t len = 0;
    SWEEP(mmoe_model_save_buffer(m, &buf, &len), assert_null(buf));
    mmoe_model *m2 = NULL;
    SWEEP(mmoe_model_load_buffer(buf, len, &m2), assert_null(m2));
    float *p1, *p2;
    size_t n1, n2;
    mmoe_model_flat(m, &p1, NULL, &n1);
    mmoe_model_flat(m2, &p2, NULL, &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(p1, p2, n1 * sizeof(float));
    mmoe_buffer_free(buf);
    mmoe_model_free(m2);
    mmoe_model_free(m);
    mmoe_config_free(c);
}

static void test_tensors_and_layers(void **state)
{
    (void)state;
    int64_t shape[2] = {3, 4};
    mmoe_tensor *t = NULL;
    SWEEP(mmoe_tensor_create(2, shape, &t), assert_null(t));
    mmoe_layer *l = NULL;
    size_t w[2] = {6, 4};
    SWEEP(mmoe_layer_expert_create(4, 2, w, MMOE_ACT_RELU, 1, &l), assert_null(l));
    mmoe_tensor *y;
    int64_t yshape[2] = {3, 4};
    assert_int_equal(mmoe_tensor_create(2, yshape, &y), MMOE_OK);
    mmoe_tensor_fill(t, 0.25f);
    SWEEP(mmoe_layer_forward(l, t, y), (void)0);
    mmoe_layer_free(l);
    mmoe_tensor_free(y);
    mmoe_tensor_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_and_model_create),
        cmocka_unit_test(test_forward_growth_keeps_previous_results),
        cmocka_unit_test(test_save_load_buffer),
        cmocka_unit_test(test_tensors_and_layers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
