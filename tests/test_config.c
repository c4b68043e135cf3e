/* Model descriptions: keys, typed helpers, text round trip, errors. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <mmoe/mmoe.h>

static mmoe_config *make_cfg(void)
{
    mmoe_config *c;
    assert_int_equal(mmoe_config_create(&c), MMOE_OK);
    assert_int_equal(mmoe_config_set_int(c, "input.dense", 100), MMOE_OK);
    size_t w[2] = {32, 16};
    assert_int_equal(mmoe_config_set_experts(c, 4, 2, w, MMOE_ACT_TANH), MMOE_OK);
    size_t h[1] = {8};
    assert_int_equal(mmoe_config_add_task(c, "ctr", MMOE_TASK_BINARY, 1, h, MMOE_ACT_RELU, 1.0f),
                     MMOE_OK);
    assert_int_equal(
        mmoe_config_add_task(c, "watch_time", MMOE_TASK_REGRESSION, 0, NULL, MMOE_ACT_RELU, 0.25f),
        MMOE_OK);
    return c;
}

static void expect_key(const mmoe_config *c, const char *key, const char *want)
{
    char buf[128];
    assert_int_equal(mmoe_config_get(c, key, buf, sizeof buf), MMOE_OK);
    assert_string_equal(buf, want);
}

static void test_defaults_and_get(void **state)
{
    (void)state;
    mmoe_config *c;
    assert_int_equal(mmoe_config_create(&c), MMOE_OK);
    expect_key(c, "arch", "mmoe");
    expect_key(c, "experts.count", "8");
    expect_key(c, "experts.layers", "16");
    expect_key(c, "experts.activation", "relu");
    expect_key(c, "tasks", "0");
    /* Not buildable until an input width and a task exist. */
    assert_int_equal(mmoe_config_validate(c), MMOE_ERR_CONFIG);
    assert_non_null(strstr(mmoe_last_error(), "input.dense"));
    mmoe_config_free(c);

    c = make_cfg();
    assert_int_equal(mmoe_config_validate(c), MMOE_OK);
    expect_key(c, "experts.layers", "32,16");
    expect_key(c, "experts.activation", "tanh");
    expect_key(c, "task.0.name", "ctr");
    expect_key(c, "task.0.kind", "binary");
    expect_key(c, "task.1.layers", "");
    expect_key(c, "task.1.weight", "0.25");
    char small[3];
    assert_int_equal(mmoe_config_get(c, "task.0.name", small, sizeof small), MMOE_ERR_RANGE);
    assert_string_equal(small, "ct");
    assert_int_equal(mmoe_config_get(c, "nope", small, sizeof small), MMOE_ERR_CONFIG);
    mmoe_config_free(c);
}

static void test_round_trip(void **state)
{
    (void)state;
    mmoe_config *c = make_cfg();
    assert_int_equal(mmoe_config_set(c, "seed", "18446744073709551615"), MMOE_OK);
    assert_int_equal(mmoe_config_set_arch(c, MMOE_ARCH_OMOE), MMOE_OK);
    char *text;
    assert_int_equal(mmoe_config_to_string(c, &text), MMOE_OK);
    assert_true(strncmp(text, "mmoe-config 1\n", 14) == 0);
    assert_non_null(strstr(text, "\narch omoe\n"));
    assert_non_null(strstr(text, "\ntask.1.name watch_time\n"));

    mmoe_config *d;
    assert_int_equal(mmoe_config_create(&d), MMOE_OK);
    assert_int_equal(mmoe_config_parse(d, text), MMOE_OK);
    char *text2;
    assert_int_equal(mmoe_config_to_string(d, &text2), MMOE_OK);
    assert_string_equal(text, text2);
    expect_key(d, "seed", "18446744073709551615");

    mmoe_config *e;
    assert_int_equal(mmoe_config_clone(d, &e), MMOE_OK);
    char *text3;
    assert_int_equal(mmoe_config_to_string(e, &text3), MMOE_OK);
    assert_string_equal(text, text3);
    mmoe_string_free(text);
    mmoe_string_free(text2);
    mmoe_string_free(text3);
    mmoe_string_free(NULL);
    mmoe_config_free(c);
    mmoe_config_free(d);
    mmoe_config_free(e);
    mmoe_config_free(NULL);
}

static void test_set_errors_leave_config_unchanged(void **state)
{
    (void)state;
    mmoe_config *c = make_cfg();
    char *before;
    assert_int_equal(mmoe_config_to_string(c, &before), MMOE_OK);
    static const char *const bad[][2] = {
        {"arch", "moe"},
        {"input.dense", "0"},
        {"input.dense", "-3"},
        {"input.dense", "12x"},
        {"input.dense", ""},
        {"input.dense", "99999999999"},
        {"experts.count", "0"},
        {"experts.count", "1025"},
        {"experts.layers", ""},
        {"experts.layers", "8,"},
        {"experts.layers", "8,,4"},
        {"experts.layers", "1,2,3,4,5,6,7,8,9"},
        {"experts.activation", "gelu"},
        {"seed", "-1"},
        {"seed", "1e3"},
        {"tasks", "65"},
        {"task.2.name", "x"},
        {"task.0.name", "has space"},
        {"task.0.name", ""},
        {"task.0.kind", "multiclass"},
        {"task.0.weight", "nan"},
        {"task.0.weight", "-1"},
        {"task.0.weight", "inf"},
        {"task.01.kind", "binary"},
        {"task.0.colour", "red"},
        {"bogus", "1"},
        {"task.x.name", "a"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        mmoe_status st = mmoe_config_set(c, bad[i][0], bad[i][1]);
        if (st != MMOE_ERR_CONFIG)
            fail_msg("set %s=%s gave %s", bad[i][0], bad[i][1], mmoe_status_name(st));
        assert_true(strlen(mmoe_config_last_error(c)) > 0);
    }
    char *after;
    assert_int_equal(mmoe_config_to_string(c, &after), MMOE_OK);
    assert_string_equal(before, after);
    mmoe_string_free(after);

    /* All-or-nothing helpers. */
    size_t w[2] = {8, 0};
    assert_int_equal(mmoe_config_set_experts(c, 2, 2, w, MMOE_ACT_RELU), MMOE_ERR_CONFIG);
    assert_int_equal(mmoe_config_set_experts(c, 2, 9, w, MMOE_ACT_RELU), MMOE_ERR_CONFIG);
    assert_int_equal(mmoe_config_set_experts(c, 2, 1, w, (mmoe_activation)9), MMOE_ERR_CONFIG);
    assert_int_equal(
        mmoe_config_add_task(c, "bad name", MMOE_TASK_BINARY, 0, NULL, MMOE_ACT_RELU, 1.0f),
        MMOE_ERR_CONFIG);
    assert_int_equal(mmoe_config_add_task(c, "t", MMOE_TASK_BINARY, 0, NULL, MMOE_ACT_RELU, -1.0f),
                     MMOE_ERR_CONFIG);
    assert_int_equal(mmoe_config_set_arch(c, (mmoe_arch)42), MMOE_ERR_CONFIG);
    assert_int_equal(mmoe_config_to_string(c, &after), MMOE_OK);
    assert_string_equal(before, after);
    mmoe_string_free(after);
    mmoe_string_free(before);

    /* Duplicate task names are caught by validation. */
    assert_int_equal(mmoe_config_set(c, "task.1.name", "ctr"), MMOE_OK);
    assert_int_equal(mmoe_config_validate(c), MMOE_ERR_CONFIG);
    mmoe_model *m = (mmoe_model *)(uintptr_t)1;
    assert_int_equal(mmoe_model_create(c, &m), MMOE_ERR_CONFIG);
    assert_null(m);
    mmoe_config_free(c);
}

static void test_parse_errors(void **state)
{
    (void)state;
    mmoe_config *c = make_cfg();
    char *before;
    assert_int_equal(mmoe_config_to_string(c, &before), MMOE_OK);
    assert_int_equal(mmoe_config_parse(c, "mmoe-config 2\narch mmoe\n"), MMOE_ERR_VERSION);
    assert_int_equal(mmoe_config_parse(c, "mmoe-config 0\n"), MMOE_ERR_CONFIG);
    assert_int_equal(mmoe_config_parse(c, ""), MMOE_ERR_CONFIG);
    assert_int_equal(mmoe_config_parse(c, "arch mmoe\n"), MMOE_ERR_CONFIG);
    assert_int_equal(mmoe_config_parse(c, "mmoe-config 1\narch mmoe\nfrobnicate 3\n"),
                     MMOE_ERR_CONFIG);
    assert_non_null(strstr(mmoe_config_last_error(c), "line 3"));
    assert_int_equal(mmoe_config_parse(c, "mmoe-config 1\ntask.0.name a\n"), MMOE_ERR_CONFIG);
    char *after;
    assert_int_equal(mmoe_config_to_string(c, &after), MMOE_OK);
    assert_string_equal(before, after);
    mmoe_string_free(after);

    /* Comments, blank lines and CRLF are accepted. */
    assert_int_equal(mmoe_config_parse(c, "# a model\r\nmmoe-config 1\r\n\r\ninput.dense 3\r\n"
                                          "tasks 1\r\ntask.0.kind binary\r\n"),
                     MMOE_OK);
    expect_key(c, "input.dense", "3");
    expect_key(c, "task.0.name", "task0");
    expect_key(c, "task.0.kind", "binary");
    assert_int_equal(mmoe_config_validate(c), MMOE_OK);
    mmoe_string_free(before);
    mmoe_config_free(c);
}

static void test_null_arguments(void **state)
{
    (void)state;
    mmoe_config *c = NULL;
    char buf[8];
    char *s = (char *)buf;
    assert_int_equal(mmoe_config_create(NULL), MMOE_ERR_NULL);
    assert_int_equal(mmoe_config_clone(NULL, &c), MMOE_ERR_NULL);
    assert_null(c);
    c = make_cfg();
    assert_int_equal(mmoe_config_set(NULL, "arch", "mmoe"), MMOE_ERR_NULL);
    assert_int_equal(mmoe_config_set(c, NULL, "mmoe"), MMOE_ERR_NULL);
    assert_int_equal(mmoe_config_set(c, "arch", NULL), MMOE_ERR_NULL);
    assert_int_equal(mmoe_config_get(c, "arch", NULL, 8), MMOE_ERR_NULL);
    assert_int_equal(mmoe_config_get(c, "arch", buf, 0), MMOE_ERR_NULL);
    assert_int_equal(mmoe_config_to_string(NULL, &s), MMOE_ERR_NULL);
    assert_null(s);
    assert_int_equal(mmoe_config_parse(c, NULL), MMOE_ERR_NULL);
    assert_int_equal(mmoe_config_validate(NULL), MMOE_ERR_NULL);
    assert_int_equal(mmoe_config_set_experts(c, 1, 1, NULL, MMOE_ACT_RELU), MMOE_ERR_NULL);
    assert_int_equal(mmoe_config_add_task(c, NULL, MMOE_TASK_BINARY, 0, NULL, MMOE_ACT_RELU, 1.0f),
                     MMOE_ERR_NULL);
    assert_int_equal(mmoe_config_add_task(c, "x", MMOE_TASK_BINARY, 2, NULL, MMOE_ACT_RELU, 1.0f),
                     MMOE_ERR_NULL);
    assert_string_equal(mmoe_config_last_error(NULL), "");
    mmoe_config_free(c);
}

static void test_task_limit(void **state)
{
    (void)state;
    mmoe_config *c;
    assert_int_equal(mmoe_config_create(&c), MMOE_OK);
    assert_int_equal(mmoe_config_set_int(c, "tasks", MMOE_MAX_TASKS), MMOE_OK);
    assert_int_equal(
        mmoe_config_add_task(c, "extra", MMOE_TASK_BINARY, 0, NULL, MMOE_ACT_RELU, 1.0f),
        MMOE_ERR_RANGE);
    /* Shrinking and growing keeps existing entries. */
    assert_int_equal(mmoe_config_set(c, "task.1.name", "keep"), MMOE_OK);
    assert_int_equal(mmoe_config_set(c, "tasks", "2"), MMOE_OK);
    expect_key(c, "task.1.name", "keep");
    assert_int_equal(mmoe_config_get(c, "task.2.name", (char[8]){0}, 8), MMOE_ERR_CONFIG);
    mmoe_config_free(c);
}

/* Replace the letter K of a key template with 0. */
static void concrete_key(const char *tmpl, char *key, size_t cap)
{
    const char *k = strstr(tmpl, ".K.");
    if (k)
        snprintf(key, cap, "%.*s.0.%s", (int)(k - tmpl), tmpl, k + 3);
    else
        snprintf(key, cap, "%s", tmpl);
}

static void test_key_query(void **state)
{
    (void)state;
    size_t n = 0;
    const char *tmpl;
    while ((tmpl = mmoe_config_key_at(n)) != NULL) {
        char key[64], dflt[64], value[64], got[128];
        mmoe_key_type type;
        double lo, hi;
        concrete_key(tmpl, key, sizeof key);
        assert_int_equal(mmoe_config_key_info(tmpl, &type, &lo, &hi, dflt, sizeof dflt), MMOE_OK);
        assert_int_equal(mmoe_config_key_info(key, NULL, NULL, NULL, NULL, 0), MMOE_OK);
        assert_true(lo <= hi);
        mmoe_config *c;
        assert_int_equal(mmoe_config_create(&c), MMOE_OK);
        assert_int_equal(mmoe_config_set(c, "tasks", "1"), MMOE_OK);
        assert_int_equal(mmoe_config_set(c, "input.sparse", "1"), MMOE_OK);
        /* The default is what a fresh description holds. */
        assert_int_equal(mmoe_config_key_info(key, NULL, NULL, NULL, dflt, sizeof dflt), MMOE_OK);
        assert_int_equal(mmoe_config_get(c, key, got, sizeof got), MMOE_OK);
        int count = strcmp(key, "tasks") == 0 || strcmp(key, "input.sparse") == 0;
        if (count) {
            assert_string_equal(dflt, "0"); /* set to 1 above */
        } else if (strcmp(key, "input.dense") == 0) {
            assert_string_equal(dflt, "");
            assert_string_equal(got, "0");
        } else {
            assert_string_equal(dflt, got);
        }
        /* The bounds are accepted; one step outside is refused. */
        switch (type) {
        case MMOE_KEY_INTEGER:
        case MMOE_KEY_WIDTHS:
            if (count)
                break; /* setting 0 would drop the entries other keys need */
            snprintf(value, sizeof value, "%.0f", lo);
            assert_int_equal(mmoe_config_set(c, key, value), MMOE_OK);
            if (hi < 9007199254740992.0) {
                snprintf(value, sizeof value, "%.0f", hi);
                assert_int_equal(mmoe_config_set(c, key, value), MMOE_OK);
                snprintf(value, sizeof value, "%.0f", hi + 1.0);
                assert_int_equal(mmoe_config_set(c, key, value), MMOE_ERR_CONFIG);
            }
            if (lo >= 1.0) {
                snprintf(value, sizeof value, "%.0f", lo - 1.0);
                assert_int_equal(mmoe_config_set(c, key, value), MMOE_ERR_CONFIG);
            }
            break;
        case MMOE_KEY_REAL:
            snprintf(value, sizeof value, "%.17g", lo);
            assert_int_equal(mmoe_config_set(c, key, value), MMOE_OK);
            snprintf(value, sizeof value, "%.17g", hi);
            assert_int_equal(mmoe_config_set(c, key, value), MMOE_OK);
            assert_int_equal(mmoe_config_set(c, key, "-1e-300"), MMOE_ERR_CONFIG);
            break;
        case MMOE_KEY_CHOICE:
            assert_null(mmoe_config_key_choice(key, (size_t)hi + 1));
            for (size_t i = 0; i <= (size_t)hi; i++) {
                const char *w = mmoe_config_key_choice(key, i);
                assert_non_null(w);
                assert_int_equal(mmoe_config_set(c, key, w), MMOE_OK);
                assert_int_equal(mmoe_config_get(c, key, got, sizeof got), MMOE_OK);
                assert_string_equal(got, w);
            }
            break;
        case MMOE_KEY_NAME:
            assert_true(lo == 1.0 && hi == 63.0);
            break;
        case MMOE_KEY_REALS: /* lists: the bounds, empty, malformed and one step outside */
            if (lo == -INFINITY)
                snprintf(value, sizeof value, "-inf,%.17g", hi);
            else
                snprintf(value, sizeof value, "%.17g,%.17g", lo, hi);
            assert_int_equal(mmoe_config_set(c, key, value), MMOE_OK);
            assert_int_equal(mmoe_config_set(c, key, ""), MMOE_OK);
            snprintf(value, sizeof value, "0,%.17g", hi * 2.0);
            assert_int_equal(mmoe_config_set(c, key, value), MMOE_ERR_CONFIG);
            assert_int_equal(mmoe_config_set(c, key, "nan"), MMOE_ERR_CONFIG);
            assert_int_equal(mmoe_config_set(c, key, "1,,2"), MMOE_ERR_CONFIG);
            assert_int_equal(mmoe_config_set(c, key, "1,"), MMOE_ERR_CONFIG);
            assert_int_equal(mmoe_config_set(c, key, "inf"), MMOE_ERR_CONFIG);
            break;
        }
        mmoe_config_free(c);
        n++;
    }
    /* global (+ gate.*, levels), sparse, task (+ experts, product, gate_bias, gate_mask) */
    assert_int_equal(n, 16 + 7 + 6 + 9);
    assert_null(mmoe_config_key_choice("seed", 0));
    assert_string_equal(mmoe_config_key_choice("arch", 1), "omoe");
    char small[4];
    assert_int_equal(mmoe_config_key_info("task.12.name", NULL, NULL, NULL, small, sizeof small),
                     MMOE_ERR_RANGE);
    char name[16];
    assert_int_equal(mmoe_config_key_info("task.12.name", NULL, NULL, NULL, name, sizeof name),
                     MMOE_OK);
    assert_string_equal(name, "task12");
    assert_int_equal(mmoe_config_key_info("task.64.name", NULL, NULL, NULL, NULL, 0),
                     MMOE_ERR_CONFIG);
    assert_int_equal(mmoe_config_key_info("nope", NULL, NULL, NULL, NULL, 0), MMOE_ERR_CONFIG);
    assert_int_equal(mmoe_config_key_info(NULL, NULL, NULL, NULL, NULL, 0), MMOE_ERR_NULL);
}

/* Text -> parse -> text gives the same text (and parses) for the description c. */
static void check_text_round_trip(const mmoe_config *c)
{
    char *text, *again;
    mmoe_config *d;
    assert_int_equal(mmoe_config_to_string(c, &text), MMOE_OK);
    assert_int_equal(mmoe_config_create(&d), MMOE_OK);
    if (mmoe_config_parse(d, text) != MMOE_OK)
        fail_msg("%s does not parse back: %s", text, mmoe_config_last_error(d));
    assert_int_equal(mmoe_config_to_string(d, &again), MMOE_OK);
    assert_string_equal(text, again);
    mmoe_string_free(text);
    mmoe_string_free(again);
    mmoe_config_free(d);
}

/* Issue 9, defect 8: a description without input.dense was written as "input.dense 0". */
static void test_round_trip_without_input_width(void **state)
{
    (void)state;
    mmoe_config *c;
    assert_int_equal(mmoe_config_create(&c), MMOE_OK);
    check_text_round_trip(c);
    assert_int_equal(mmoe_config_set(c, "tasks", "2"), MMOE_OK);
    assert_int_equal(mmoe_config_set(c, "input.sparse", "1"), MMOE_OK);
    check_text_round_trip(c);
    char buf[16];
    assert_int_equal(mmoe_config_get(c, "input.dense", buf, sizeof buf), MMOE_OK);
    assert_string_equal(buf, "0");
    mmoe_config_free(c);
}

/* The lines of a description may come in any order: entries before their count. */
static void test_parse_any_order(void **state)
{
    (void)state;
    mmoe_config *c;
    assert_int_equal(mmoe_config_create(&c), MMOE_OK);
    assert_int_equal(mmoe_config_parse(c, "mmoe-config 1\ntask.1.name b\nsparse.0.dim 4\n"
                                          "task.0.kind binary\ninput.dense 3\ntasks 2\n"
                                          "input.sparse 1\n"),
                     MMOE_OK);
    expect_key(c, "tasks", "2");
    expect_key(c, "task.1.name", "b");
    expect_key(c, "task.0.kind", "binary");
    expect_key(c, "sparse.0.dim", "4");
    /* An entry beyond the final count is still an error, wherever the count is. */
    assert_int_equal(mmoe_config_parse(c, "mmoe-config 1\ntasks 3\ntask.2.name x\ntasks 2\n"),
                     MMOE_ERR_CONFIG);
    assert_non_null(strstr(mmoe_config_last_error(c), "line 3"));
    expect_key(c, "task.1.name", "b");
    mmoe_config_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_and_get),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_set_errors_leave_config_unchanged),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_null_arguments),
        cmocka_unit_test(test_task_limit),
        cmocka_unit_test(test_key_query),
        cmocka_unit_test(test_round_trip_without_input_width),
        cmocka_unit_test(test_parse_any_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
