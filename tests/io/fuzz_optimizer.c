/*
 * Fuzz target for the optimizer-state loader: any bytes either load into
 * an optimizer of the file's kind or fail with a status leaving the
 * optimizer exactly as it was (its saved bytes unchanged); loaded state
 * saves and loads again to the same bytes, with a step count <= 2^53.
 * The three kinds share one small model. Built with -fsanitize=fuzzer
 * (meson -Dfuzzing=true, clang) it is a libFuzzer binary; otherwise
 * tests/io/fuzz_replay.c drives it over the committed corpus.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <mmoe/mmoe.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static mmoe_model *model;
static mmoe_optimizer *opts[3];

static void setup(void)
{
    mmoe_config *c = NULL;
    size_t w[1] = {3};
    if (mmoe_config_create(&c) || mmoe_config_set(c, "input.dense", "2") ||
        mmoe_config_set_experts(c, 2, 1, w, MMOE_ACT_RELU) ||
        mmoe_config_add_task(c, "t", MMOE_TASK_BINARY, 0, NULL, MMOE_ACT_RELU, 1.0f) ||
        mmoe_model_create(c, &model))
        __builtin_trap();
    mmoe_config_free(c);
    const mmoe_optimizer_kind kinds[3] = {MMOE_OPTIMIZER_SGD, MMOE_OPTIMIZER_ADAM,
                                          MMOE_OPTIMIZER_ADAGRAD};
    for (int i = 0; i < 3; i++)
        if (mmoe_optimizer_create(model, kinds[i], &opts[i]))
            __builtin_trap();
}

static void *saved(const mmoe_optimizer *opt, size_t *len)
{
    void *buf = NULL;
    if (mmoe_optimizer_save_buffer(opt, &buf, len) != MMOE_OK)
        __builtin_trap();
    return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!model)
        setup();
    static const uint8_t empty[1];
    for (int i = 0; i < 3; i++) {
        size_t l0, l1;
        void *before = saved(opts[i], &l0);
        mmoe_status st = mmoe_optimizer_load_buffer(opts[i], size ? data : empty, size);
        void *after = saved(opts[i], &l1);
        if (st != MMOE_OK) {
            if (l0 != l1 || memcmp(before, after, l0) != 0 ||
                mmoe_optimizer_last_error(opts[i])[0] == '\0')
                __builtin_trap();
        } else {
            if (mmoe_optimizer_steps(opts[i]) > ((uint64_t)1 << 53))
                __builtin_trap();
            size_t l2;
            if (mmoe_optimizer_load_buffer(opts[i], after, l1) != MMOE_OK)
                __builtin_trap();
            void *again = saved(opts[i], &l2);
            if (l1 != l2 || memcmp(after, again, l1) != 0)
                __builtin_trap();
            mmoe_buffer_free(again);
        }
        mmoe_buffer_free(before);
        mmoe_buffer_free(after);
    }
    return 0;
}
