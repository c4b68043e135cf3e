/*
 * Handles tied to a model (workspaces, optimizers) are told apart from a
 * new model at the same address: allocators reuse freed blocks, so a
 * workspace or optimizer kept after its model was freed can hold a pointer
 * equal to a live model's. This white-box test builds exactly that state
 * (the handle's model pointer set to the new model, as reuse would leave
 * it) and expects the unique-id check to refuse the handle.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "model_impl.h"
#include "mmoe/mmoe.h"
#include "optimizer_impl.h"

enum { D = 5, T = 2 };

static mmoe_model *make_model(void)
{
    mmoe_config *c;
    assert_int_equal(mmoe_config_create(&c), MMOE_OK);
    assert_int_equal(mmoe_config_set_int(c, "input.dense", D), MMOE_OK);
    assert_int_equal(mmoe_config_set_experts(c, 3, 1, (size_t[]){4}, MMOE_ACT_RELU), MMOE_OK);
    for (int k = 0; k < T; k++)
        assert_int_equal(
            mmoe_config_add_task(c, k ? "b" : "a", MMOE_TASK_BINARY, 0, NULL, MMOE_ACT_RELU, 1.0f),
            MMOE_OK);
    mmoe_model *m;
    assert_int_equal(mmoe_model_create(c, &m), MMOE_OK);
    mmoe_config_free(c);
    return m;
}

static void test_reused_address_refused(void **state)
{
    (void)state;
    mmoe_model *a = make_model(), *b = make_model();
    mmoe_workspace *ws;
    mmoe_optimizer *opt;
    assert_int_equal(mmoe_workspace_create(a, 2, &ws), MMOE_OK);
    assert_int_equal(mmoe_optimizer_create(a, MMOE_OPTIMIZER_ADAM, &opt), MMOE_OK);
    assert_true(a->id != b->id && a->id != 0 && b->id != 0);
    mmoe_model_free(a);
    /* What address reuse leaves behind: the stale handles point at b. */
    ws->model = b;
    opt->model = b;
    opt->params = b->params;
    opt->grads = b->grads;
    float x[2 * D] = {0}, y[2 * T] = {0}, out[2 * T], loss;
    float before[8];
    memcpy(before, b->params, sizeof before);
    assert_int_equal(mmoe_model_predict(b, ws, 2, x, NULL, out), MMOE_ERR_INVALID_ARG);
    assert_int_equal(mmoe_model_train_step(b, opt, 2, x, NULL, y, NULL, NULL, &loss),
                     MMOE_ERR_INVALID_ARG);
    assert_memory_equal(before, b->params, sizeof before);
    mmoe_optimizer_free(opt);
    mmoe_workspace_free(ws);

    /* Handles made for b itself work. */
    assert_int_equal(mmoe_workspace_create(b, 2, &ws), MMOE_OK);
    assert_int_equal(mmoe_optimizer_create(b, MMOE_OPTIMIZER_ADAM, &opt), MMOE_OK);
    assert_int_equal(mmoe_model_predict(b, ws, 2, x, NULL, out), MMOE_OK);
    assert_int_equal(mmoe_model_train_step(b, opt, 2, x, NULL, y, NULL, NULL, &loss), MMOE_OK);
    mmoe_optimizer_free(opt);
    mmoe_workspace_free(ws);
    mmoe_model_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reused_address_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
