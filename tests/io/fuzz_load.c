/*
 * Fuzz target for the model loader: any bytes must either load or fail
 * with a status, without crashing, leaking or reading out of bounds.
 * Built with -fsanitize=fuzzer (meson -Dfuzzing=true, clang) it is a
 * libFuzzer binary; otherwise tests/io/fuzz_replay.c drives it over the
 * corpus as an ordinary test.
 */
#include <stddef.h>
#include <stdint.h>

#include <mmoe/mmoe.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mmoe_model *m = NULL;
    static const uint8_t empty[1];
    mmoe_status st = mmoe_model_load_buffer(size ? data : empty, size, &m);
    if ((st == MMOE_OK) != (m != NULL))
        __builtin_trap();
    if (m) {
        /* Predictions of a loaded model are finite, or predict says they are not. */
        size_t d = mmoe_model_input_dim(m), t = mmoe_model_num_tasks(m);
        if (mmoe_model_num_ids(m) == 0 && d <= 4096 && t <= 64) {
            float x[2 * 4096], y[2 * 64];
            for (size_t i = 0; i < 2 * d; i++)
                x[i] = (float)((int)(i % 7) - 3) * 0.5f;
            mmoe_workspace *ws = NULL;
            if (mmoe_workspace_create(m, 2, &ws) == MMOE_OK) {
                mmoe_status ps = mmoe_model_predict(m, ws, 2, x, NULL, y);
                if (ps == MMOE_OK) {
                    for (size_t i = 0; i < 2 * t; i++)
                        if (!(y[i] == y[i] && y[i] - y[i] == 0.0f))
                            __builtin_trap();
                } else if (ps != MMOE_ERR_NONFINITE) {
                    __builtin_trap();
                }
            }
            mmoe_workspace_free(ws);
        }
        /* A loaded model must also save and load again to the same bytes. */
        void *buf = NULL;
        size_t len = 0;
        if (mmoe_model_save_buffer(m, &buf, &len) != MMOE_OK)
            __builtin_trap();
        mmoe_model *again = NULL;
        if (mmoe_model_load_buffer(buf, len, &again) != MMOE_OK)
            __builtin_trap();
        mmoe_model_free(again);
        mmoe_buffer_free(buf);
    }
    mmoe_model_free(m);
    return 0;
}
