/*
 * External C consumer of an installed libmmoe: built by
 * scripts/check-install.sh with nothing but
 *     cc -std=c11 consumer.c $(pkg-config --cflags --libs libmmoe libmmoe-synth)
 * against the headers and libraries of `meson install --destdir`.
 *
 * It checks that the headers and the library agree on the version, trains
 * a small MMoE on synthetic data for a few steps, saves the model, loads it
 * back and checks that the loaded model predicts exactly as the trained one.
 * Prints "consumer.c: ok ..." and exits 0 on success.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mmoe/mmoe.h>
#include <mmoe/synth.h>

enum { D = 12, T = 2, N = 256, B = 32 };

#define CHECK(call)                                                                                \
    do {                                                                                           \
        mmoe_status st_ = (call);                                                                  \
        if (st_ != MMOE_OK) {                                                                      \
            fprintf(stderr, "consumer.c:%d: %s: %s (%s)\n", __LINE__, #call,                       \
                    mmoe_status_name(st_), mmoe_last_error());                                     \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "consumer-c.safetensors";
    if (mmoe_version() != MMOE_VERSION_HEX) {
        fprintf(stderr, "consumer.c: headers %d.%d.%d, library %s\n", MMOE_VERSION_MAJOR,
                MMOE_VERSION_MINOR, MMOE_VERSION_PATCH, mmoe_version_string());
        return 1;
    }

    /* Data */
    mmoe_synth_config *sc;
    mmoe_synth *gen;
    CHECK(mmoe_synth_config_create(&sc));
    CHECK(mmoe_synth_config_set_dim(sc, D));
    CHECK(mmoe_synth_config_set_tasks(sc, T));
    CHECK(mmoe_synth_config_set_correlation(sc, 0.5));
    CHECK(mmoe_synth_config_set_seed(sc, 3));
    CHECK(mmoe_synth_create(sc, &gen));
    static float x[N * D], y[N * T];
    CHECK(mmoe_synth_generate(gen, N, x, y));

    /* Model */
    mmoe_config *cfg;
    CHECK(mmoe_config_create(&cfg));
    CHECK(mmoe_config_set_int(cfg, "input.dense", D));
    CHECK(mmoe_config_set_experts(cfg, 4, 1, (size_t[]){8}, MMOE_ACT_RELU));
    CHECK(mmoe_config_add_task(cfg, "y1", MMOE_TASK_REGRESSION, 1, (size_t[]){4}, MMOE_ACT_RELU,
                               1.0f));
    CHECK(mmoe_config_add_task(cfg, "y2", MMOE_TASK_REGRESSION, 1, (size_t[]){4}, MMOE_ACT_RELU,
                               1.0f));
    mmoe_model *m;
    mmoe_optimizer *opt;
    CHECK(mmoe_model_create(cfg, &m));
    CHECK(mmoe_optimizer_create(m, MMOE_OPTIMIZER_ADAM, &opt));
    float first = 0.0f, loss = 0.0f;
    for (int epoch = 0; epoch < 5; epoch++) {
        for (size_t r = 0; r < N; r += B) {
            CHECK(mmoe_model_train_step(m, opt, B, x + r * D, NULL, y + r * T, NULL, NULL, &loss));
            if (epoch == 0 && r == 0)
                first = loss;
        }
    }

    /* Save, load, predict */
    CHECK(mmoe_model_save(m, path));
    mmoe_model *loaded;
    CHECK(mmoe_model_load(path, &loaded));
    mmoe_workspace *ws_a, *ws_b;
    CHECK(mmoe_workspace_create(m, B, &ws_a));
    CHECK(mmoe_workspace_create(loaded, B, &ws_b));
    static float pa[N * T], pb[N * T];
    CHECK(mmoe_model_predict(m, ws_a, N, x, NULL, pa));
    CHECK(mmoe_model_predict(loaded, ws_b, N, x, NULL, pb));
    if (memcmp(pa, pb, sizeof pa) != 0) {
        fprintf(stderr, "consumer.c: the loaded model predicts differently\n");
        return 1;
    }

    printf("consumer.c: ok: libmmoe %s (%s), loss %.4f -> %.4f, %zu parameters\n",
           mmoe_version_string(), mmoe_blas_name(), (double)first, (double)loss,
           mmoe_model_num_scalars(m));
    mmoe_workspace_free(ws_b);
    mmoe_workspace_free(ws_a);
    mmoe_model_free(loaded);
    mmoe_optimizer_free(opt);
    mmoe_model_free(m);
    mmoe_config_free(cfg);
    mmoe_synth_free(gen);
    mmoe_synth_config_free(sc);
    remove(path);
    return 0;
}
