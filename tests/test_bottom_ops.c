/*
 * The bottom kinds' table: every architecture has a row, every row fills
 * every operation, and every architecture has a name that parses back to
 * it (lib/bottom.c, lib/arch.c). Links the library's internal objects.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "bottom.h"
#include "mmoe/mmoe.h"

static void test_every_arch_has_complete_ops(void **state)
{
    (void)state;
    assert_int_equal(mmoe__bottom_arch_count(), mmoe_arch_count());
    for (size_t a = 0; a < mmoe_arch_count(); a++) {
        const mmoe__bottom_ops *ops = mmoe__bottom_ops_of((mmoe_arch)a);
        if (!mmoe__bottom_ops_complete(ops))
            fail_msg("architecture %zu (%s): missing or incomplete operations table", a,
                     mmoe_arch_name((mmoe_arch)a));
    }
    assert_null(mmoe__bottom_ops_of((mmoe_arch)mmoe_arch_count()));
    assert_null(mmoe__bottom_ops_of((mmoe_arch)-1));
}

static void test_names_round_trip(void **state)
{
    (void)state;
    for (size_t a = 0; a < mmoe_arch_count(); a++) {
        const char *name = mmoe_arch_name((mmoe_arch)a);
        assert_non_null(name);
        assert_non_null(mmoe_arch_label((mmoe_arch)a));
        mmoe_arch back = (mmoe_arch)-1;
        assert_int_equal(mmoe_arch_from_name(name, &back), MMOE_OK);
        assert_int_equal(back, a);
        /* The description parser uses the same names. */
        mmoe_config *c;
        char buf[64];
        assert_int_equal(mmoe_config_create(&c), MMOE_OK);
        assert_int_equal(mmoe_config_set_arch(c, (mmoe_arch)a), MMOE_OK);
        assert_int_equal(mmoe_config_get(c, "arch", buf, sizeof buf), MMOE_OK);
        assert_string_equal(buf, name);
        mmoe_config_free(c);
    }
    assert_null(mmoe_arch_name((mmoe_arch)mmoe_arch_count()));
    assert_null(mmoe_arch_label((mmoe_arch)-1));
    mmoe_arch out = MMOE_ARCH_OMOE;
    assert_int_equal(mmoe_arch_from_name("MMoE", &out), MMOE_ERR_INVALID_ARG);
    assert_non_null(strstr(mmoe_last_error(), "shared_bottom"));
    assert_int_equal(out, MMOE_ARCH_OMOE);
    assert_int_equal(mmoe_arch_from_name(NULL, &out), MMOE_ERR_NULL);
    assert_int_equal(mmoe_arch_from_name("mmoe", NULL), MMOE_ERR_NULL);

    for (int a = MMOE_ACT_IDENTITY; a <= MMOE_ACT_TANH; a++) {
        const char *name = mmoe_activation_name((mmoe_activation)a);
        assert_non_null(name);
        mmoe_activation back = (mmoe_activation)-1;
        assert_int_equal(mmoe_activation_from_name(name, &back), MMOE_OK);
        assert_int_equal(back, a);
    }
    assert_string_equal(mmoe_activation_name(MMOE_ACT_RELU), "relu");
    assert_null(mmoe_activation_name((mmoe_activation)(MMOE_ACT_TANH + 1)));
    mmoe_activation act = MMOE_ACT_TANH;
    assert_int_equal(mmoe_activation_from_name("gelu", &act), MMOE_ERR_INVALID_ARG);
    assert_non_null(strstr(mmoe_last_error(), "sigmoid"));
    assert_int_equal(act, MMOE_ACT_TANH);
    assert_int_equal(mmoe_activation_from_name(NULL, &act), MMOE_ERR_NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_arch_has_complete_ops),
        cmocka_unit_test(test_names_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
