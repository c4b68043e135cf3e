/* Status codes, version queries and tensors. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include <mmoe/mmoe.h>

/* ---- status ------------------------------------------------------------------------------- */

typedef struct status_entry {
    mmoe_status code;
    int value;
    const char *name;
    const char *msg;
} status_entry;

static const status_entry all_status[] = {
#define ENTRY_(n, v, m) {n, v, #n, m},
    MMOE_STATUS_LIST(ENTRY_)
#undef ENTRY_
};
#define N_STATUS (sizeof all_status / sizeof all_status[0])

static void test_status_strings(void **state)
{
    (void)state;
    assert_int_equal(N_STATUS, 15);
    for (size_t i = 0; i < N_STATUS; i++) {
        const status_entry *e = &all_status[i];
        /* Stable numbering: OK is 0, the rest count down from -1 in list order. */
        assert_int_equal((int)e->code, -(int)i);
        assert_int_equal((int)e->code, e->value);
        assert_string_equal(mmoe_status_name(e->code), e->name);
        assert_string_equal(mmoe_status_string(e->code), e->msg);
        assert_true(strlen(mmoe_status_string(e->code)) > 0);
        assert_string_not_equal(mmoe_status_string(e->code), "unknown status");
        for (size_t j = 0; j < i; j++) {
            assert_string_not_equal(mmoe_status_name(all_status[j].code), e->name);
            assert_string_not_equal(mmoe_status_string(all_status[j].code), e->msg);
        }
    }
    assert_string_equal(mmoe_status_name(MMOE_OK), "MMOE_OK");
    assert_string_equal(mmoe_status_name(MMOE_ERR_SHAPE), "MMOE_ERR_SHAPE");
    assert_string_equal(mmoe_status_string(MMOE_ERR_SHAPE), "shape mismatch");
}

static void test_status_unknown(void **state)
{
    (void)state;
    const int bad[] = {1, 2, -15, -100, 12345, INT32_MIN, INT32_MAX};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_string_equal(mmoe_status_string((mmoe_status)bad[i]), "unknown status");
        assert_string_equal(mmoe_status_name((mmoe_status)bad[i]), "MMOE_UNKNOWN");
    }
}

static void test_version(void **state)
{
    (void)state;
    assert_int_equal(mmoe_version(), MMOE_VERSION_HEX);
    assert_int_equal(MMOE_VERSION_HEX,
                     (MMOE_VERSION_MAJOR << 16) | (MMOE_VERSION_MINOR << 8) | MMOE_VERSION_PATCH);
    char buf[64];
    snprintf(buf, sizeof buf, "%d.%d.%d", MMOE_VERSION_MAJOR, MMOE_VERSION_MINOR,
             MMOE_VERSION_PATCH);
    assert_non_null(mmoe_version_string());
    assert_string_equal(mmoe_version_string(), buf);
    assert_ptr_equal(mmoe_version_string(), mmoe_version_string());
}

static void test_last_error_thread(void **state)
{
    (void)state;
    mmoe_tensor *t = (mmoe_tensor *)&t;
    assert_int_equal(mmoe_tensor_create(0, (const int64_t[]){1}, &t), MMOE_ERR_INVALID_ARG);
    assert_null(t);
    assert_non_null(strstr(mmoe_last_error(), "mmoe_tensor_create"));
}

/* ---- tensor creation ---------------------------------------------------------------------- */

static void test_tensor_create_shapes(void **state)
{
    (void)state;
    const int64_t shape[4] = {2, 3, 4, 5};
    for (size_t rank = 1; rank <= MMOE_TENSOR_MAX_RANK; rank++) {
        mmoe_tensor *t = NULL;
        assert_int_equal(mmoe_tensor_create(rank, shape, &t), MMOE_OK);
        assert_non_null(t);
        assert_int_equal(mmoe_tensor_rank(t), rank);
        size_t n = 1;
        for (size_t a = 0; a < rank; a++) {
            assert_int_equal(mmoe_tensor_dim(t, a), shape[a]);
            n *= (size_t)shape[a];
        }
        assert_int_equal(mmoe_tensor_dim(t, rank), -1);
        assert_int_equal(mmoe_tensor_dim(t, 100), -1);
        assert_int_equal(mmoe_tensor_numel(t), n);
        const float *d = mmoe_tensor_cdata(t);
        assert_non_null(d);
        assert_ptr_equal(d, mmoe_tensor_data(t));
        for (size_t i = 0; i < n; i++)
            assert_true(d[i] == 0.0f);
        assert_string_equal(mmoe_tensor_last_error(t), "");
        mmoe_tensor_free(t);
    }

    mmoe_tensor *m = NULL;
    assert_int_equal(mmoe_tensor_create_2d(3, 7, &m), MMOE_OK);
    assert_int_equal(mmoe_tensor_rank(m), 2);
    assert_int_equal(mmoe_tensor_dim(m, 0), 3);
    assert_int_equal(mmoe_tensor_dim(m, 1), 7);
    assert_int_equal(mmoe_tensor_numel(m), 21);
    mmoe_tensor_free(m);
}

static void test_tensor_null_queries(void **state)
{
    (void)state;
    assert_int_equal(mmoe_tensor_rank(NULL), 0);
    assert_int_equal(mmoe_tensor_dim(NULL, 0), -1);
    assert_int_equal(mmoe_tensor_numel(NULL), 0);
    assert_null(mmoe_tensor_data(NULL));
    assert_null(mmoe_tensor_cdata(NULL));
    assert_string_equal(mmoe_tensor_last_error(NULL), "");
    mmoe_tensor_free(NULL); /* no-op */
}

static void expect_create_fails(size_t rank, const int64_t *shape, mmoe_status want)
{
    mmoe_tensor *t = (mmoe_tensor *)&t; /* poison: must be reset to NULL */
    assert_int_equal(mmoe_tensor_create(rank, shape, &t), want);
    assert_null(t);
    assert_true(strlen(mmoe_last_error()) > 0);
}

static void test_tensor_create_errors(void **state)
{
    (void)state;
    const int64_t ok[5] = {2, 2, 2, 2, 2};
    assert_int_equal(mmoe_tensor_create(2, ok, NULL), MMOE_ERR_NULL);
    expect_create_fails(2, NULL, MMOE_ERR_NULL);
    expect_create_fails(0, ok, MMOE_ERR_INVALID_ARG);
    expect_create_fails(5, ok, MMOE_ERR_INVALID_ARG);
    expect_create_fails(2, (const int64_t[]){3, 0}, MMOE_ERR_INVALID_ARG);
    expect_create_fails(1, (const int64_t[]){0}, MMOE_ERR_INVALID_ARG);
    expect_create_fails(2, (const int64_t[]){-4, 2}, MMOE_ERR_INVALID_ARG);
    expect_create_fails(1, (const int64_t[]){INT64_MIN}, MMOE_ERR_INVALID_ARG);
    const int64_t big = (int64_t)1 << 40;
    expect_create_fails(2, (const int64_t[]){big, big}, MMOE_ERR_OVERFLOW);
    expect_create_fails(2, (const int64_t[]){big, 2}, MMOE_ERR_OVERFLOW);
    expect_create_fails(4, (const int64_t[]){INT64_MAX, INT64_MAX, INT64_MAX, INT64_MAX},
                        MMOE_ERR_OVERFLOW);
    expect_create_fails(1, (const int64_t[]){INT64_MAX}, MMOE_ERR_OVERFLOW);

    mmoe_tensor *t = (mmoe_tensor *)&t;
    assert_int_equal(mmoe_tensor_create_2d(0, 3, &t), MMOE_ERR_INVALID_ARG);
    assert_null(t);
    assert_int_equal(mmoe_tensor_create_2d(2, 3, NULL), MMOE_ERR_NULL);
}

/* ---- fill / copy -------------------------------------------------------------------------- */

static mmoe_tensor *make_2d(int64_t r, int64_t c, float start)
{
    mmoe_tensor *t = NULL;
    assert_int_equal(mmoe_tensor_create_2d(r, c, &t), MMOE_OK);
    float *d = mmoe_tensor_data(t);
    for (size_t i = 0; i < mmoe_tensor_numel(t); i++)
        d[i] = start + (float)i;
    return t;
}

static void assert_seq(const mmoe_tensor *t, float start)
{
    const float *d = mmoe_tensor_cdata(t);
    for (size_t i = 0; i < mmoe_tensor_numel(t); i++)
        assert_true(d[i] == start + (float)i);
}

static void test_tensor_fill(void **state)
{
    (void)state;
    mmoe_tensor *t = make_2d(2, 3, 0.0f);
    assert_int_equal(mmoe_tensor_fill(t, -2.5f), MMOE_OK);
    for (size_t i = 0; i < 6; i++)
        assert_true(mmoe_tensor_cdata(t)[i] == -2.5f);
    assert_int_equal(mmoe_tensor_fill(NULL, 1.0f), MMOE_ERR_NULL);
    mmoe_tensor_free(t);
}

static void test_tensor_copy(void **state)
{
    (void)state;
    mmoe_tensor *a = make_2d(2, 3, 1.0f);
    mmoe_tensor *b = make_2d(2, 3, 100.0f);
    mmoe_tensor *c = make_2d(3, 2, 50.0f);
    mmoe_tensor *d1 = NULL;
    assert_int_equal(mmoe_tensor_create(1, (const int64_t[]){6}, &d1), MMOE_OK);

    assert_int_equal(mmoe_tensor_copy(b, a), MMOE_OK);
    assert_seq(b, 1.0f);
    assert_seq(a, 1.0f);
    assert_int_equal(mmoe_tensor_copy(a, a), MMOE_OK); /* self copy is harmless */
    assert_seq(a, 1.0f);

    /* Same element count but different shape or rank: SHAPE, destination unchanged. */
    assert_int_equal(mmoe_tensor_copy(c, a), MMOE_ERR_SHAPE);
    assert_seq(c, 50.0f);
    assert_true(strlen(mmoe_tensor_last_error(c)) > 0);
    assert_int_equal(mmoe_tensor_copy(d1, a), MMOE_ERR_SHAPE);
    for (size_t i = 0; i < 6; i++)
        assert_true(mmoe_tensor_cdata(d1)[i] == 0.0f);
    /* A later success clears the message. */
    assert_int_equal(mmoe_tensor_fill(c, 0.0f), MMOE_OK);
    assert_string_equal(mmoe_tensor_last_error(c), "");

    assert_int_equal(mmoe_tensor_copy(NULL, a), MMOE_ERR_NULL);
    assert_int_equal(mmoe_tensor_copy(b, NULL), MMOE_ERR_NULL);
    assert_seq(b, 1.0f);

    mmoe_tensor_free(a);
    mmoe_tensor_free(b);
    mmoe_tensor_free(c);
    mmoe_tensor_free(d1);
}

static void test_tensor_copy_from_to(void **state)
{
    (void)state;
    mmoe_tensor *t = make_2d(2, 2, 10.0f);
    const float src[4] = {1.0f, 2.0f, 3.0f, 4.0f};
    float dst[5] = {-1.0f, -1.0f, -1.0f, -1.0f, -1.0f};

    assert_int_equal(mmoe_tensor_copy_from(t, src, 4), MMOE_OK);
    assert_seq(t, 1.0f);
    assert_int_equal(mmoe_tensor_copy_to(t, dst, 4), MMOE_OK);
    for (size_t i = 0; i < 4; i++)
        assert_true(dst[i] == src[i]);
    assert_true(dst[4] == -1.0f);

    const float other[5] = {9, 9, 9, 9, 9};
    assert_int_equal(mmoe_tensor_copy_from(t, other, 3), MMOE_ERR_SHAPE);
    assert_int_equal(mmoe_tensor_copy_from(t, other, 5), MMOE_ERR_SHAPE);
    assert_seq(t, 1.0f);
    assert_true(strlen(mmoe_tensor_last_error(t)) > 0);
    assert_int_equal(mmoe_tensor_copy_from(t, NULL, 4), MMOE_ERR_NULL);
    assert_int_equal(mmoe_tensor_copy_from(NULL, src, 4), MMOE_ERR_NULL);
    assert_seq(t, 1.0f);

    float dst2[5] = {7, 7, 7, 7, 7};
    assert_int_equal(mmoe_tensor_copy_to(t, dst2, 5), MMOE_ERR_SHAPE);
    assert_int_equal(mmoe_tensor_copy_to(t, dst2, 3), MMOE_ERR_SHAPE);
    for (size_t i = 0; i < 5; i++)
        assert_true(dst2[i] == 7.0f);
    assert_int_equal(mmoe_tensor_copy_to(t, NULL, 4), MMOE_ERR_NULL);
    assert_int_equal(mmoe_tensor_copy_to(NULL, dst2, 4), MMOE_ERR_NULL);
    mmoe_tensor_free(t);
}

/* ---- reshape ------------------------------------------------------------------------------ */

static void assert_shape(const mmoe_tensor *t, size_t rank, const int64_t *shape)
{
    assert_int_equal(mmoe_tensor_rank(t), rank);
    for (size_t a = 0; a < rank; a++)
        assert_int_equal(mmoe_tensor_dim(t, a), shape[a]);
}

static void test_tensor_reshape(void **state)
{
    (void)state;
    mmoe_tensor *t = make_2d(2, 6, 0.0f);
    const float *before = mmoe_tensor_cdata(t);
    assert_int_equal(mmoe_tensor_reshape(t, 2, (const int64_t[]){3, 4}), MMOE_OK);
    assert_shape(t, 2, (const int64_t[]){3, 4});
    assert_int_equal(mmoe_tensor_reshape(t, 4, (const int64_t[]){1, 2, 3, 2}), MMOE_OK);
    assert_shape(t, 4, (const int64_t[]){1, 2, 3, 2});
    assert_int_equal(mmoe_tensor_reshape(t, 1, (const int64_t[]){12}), MMOE_OK);
    assert_shape(t, 1, (const int64_t[]){12});
    assert_int_equal(mmoe_tensor_dim(t, 1), -1);
    assert_ptr_equal(mmoe_tensor_cdata(t), before);
    assert_int_equal(mmoe_tensor_numel(t), 12);
    assert_seq(t, 0.0f);

    assert_int_equal(mmoe_tensor_reshape(t, 2, (const int64_t[]){3, 4}), MMOE_OK);
    /* Every failure leaves the shape [3, 4]. */
    const int64_t want[2] = {3, 4};
    assert_int_equal(mmoe_tensor_reshape(t, 2, (const int64_t[]){5, 4}), MMOE_ERR_SHAPE);
    assert_shape(t, 2, want);
    assert_true(strlen(mmoe_tensor_last_error(t)) > 0);
    assert_int_equal(mmoe_tensor_reshape(t, 0, (const int64_t[]){12}), MMOE_ERR_INVALID_ARG);
    assert_shape(t, 2, want);
    assert_int_equal(mmoe_tensor_reshape(t, 5, (const int64_t[]){12, 1, 1, 1, 1}),
                     MMOE_ERR_INVALID_ARG);
    assert_shape(t, 2, want);
    assert_int_equal(mmoe_tensor_reshape(t, 2, (const int64_t[]){12, 0}), MMOE_ERR_INVALID_ARG);
    assert_shape(t, 2, want);
    assert_int_equal(mmoe_tensor_reshape(t, 2, (const int64_t[]){-3, -4}), MMOE_ERR_INVALID_ARG);
    assert_shape(t, 2, want);
    assert_int_equal(mmoe_tensor_reshape(t, 2, NULL), MMOE_ERR_NULL);
    assert_shape(t, 2, want);
    assert_int_equal(mmoe_tensor_reshape(NULL, 1, (const int64_t[]){12}), MMOE_ERR_NULL);
    assert_int_equal(mmoe_tensor_numel(t), 12);
    assert_seq(t, 0.0f);
    mmoe_tensor_free(t);
}

static void test_tensor_views(void **state)
{
    (void)state;
    /* Parameter tensors of a layer are views: not reshapeable, free is a no-op. */
    mmoe_layer *l = NULL;
    assert_int_equal(mmoe_layer_dense_create(3, 2, MMOE_ACT_IDENTITY, 1, &l), MMOE_OK);
    mmoe_tensor *w = NULL, *g = NULL;
    assert_int_equal(mmoe_layer_param(l, 0, NULL, &w, &g), MMOE_OK);
    assert_shape(w, 2, (const int64_t[]){2, 3});
    assert_int_equal(mmoe_tensor_reshape(w, 2, (const int64_t[]){3, 2}), MMOE_ERR_INVALID_ARG);
    assert_shape(w, 2, (const int64_t[]){2, 3});
    assert_int_equal(mmoe_tensor_reshape(w, 1, (const int64_t[]){6}), MMOE_ERR_INVALID_ARG);
    assert_shape(w, 2, (const int64_t[]){2, 3});
    assert_true(strlen(mmoe_tensor_last_error(w)) > 0);
    mmoe_tensor_free(w); /* view: no-op */
    mmoe_tensor_free(g);
    assert_int_equal(mmoe_tensor_fill(w, 0.5f), MMOE_OK);
    assert_true(mmoe_tensor_cdata(w)[5] == 0.5f);
    mmoe_layer_free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_strings),
        cmocka_unit_test(test_status_unknown),
        cmocka_unit_test(test_version),
        cmocka_unit_test(test_last_error_thread),
        cmocka_unit_test(test_tensor_create_shapes),
        cmocka_unit_test(test_tensor_null_queries),
        cmocka_unit_test(test_tensor_create_errors),
        cmocka_unit_test(test_tensor_fill),
        cmocka_unit_test(test_tensor_copy),
        cmocka_unit_test(test_tensor_copy_from_to),
        cmocka_unit_test(test_tensor_reshape),
        cmocka_unit_test(test_tensor_views),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
