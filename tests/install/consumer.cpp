// External C++17 consumer of an installed libmmoe: built by
// scripts/check-install.sh with nothing but
//     c++ -std=c++17 consumer.cpp $(pkg-config --cflags --libs libmmoe libmmoe-synth)
// against the headers and libraries of `meson install --destdir`.
//
// Owns every handle through std::unique_ptr, builds a model, saves it to a
// memory buffer and loads it back, then predicts from several std::threads
// on the one loaded model (each with its own workspace) and checks every
// result against a single-threaded run. Prints "consumer.cpp: ok ..." and
// exits 0 on success.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <mmoe/mmoe.h>
#include <mmoe/synth.h>

namespace
{

struct ConfigFree {
    void operator()(mmoe_config *p) const
    {
        mmoe_config_free(p);
    }
};
struct ModelFree {
    void operator()(mmoe_model *p) const
    {
        mmoe_model_free(p);
    }
};
struct WorkspaceFree {
    void operator()(mmoe_workspace *p) const
    {
        mmoe_workspace_free(p);
    }
};
struct SynthConfigFree {
    void operator()(mmoe_synth_config *p) const
    {
        mmoe_synth_config_free(p);
    }
};
struct SynthFree {
    void operator()(mmoe_synth *p) const
    {
        mmoe_synth_free(p);
    }
};
struct BufferFree {
    void operator()(void *p) const
    {
        mmoe_buffer_free(p);
    }
};

using Config = std::unique_ptr<mmoe_config, ConfigFree>;
using Model = std::unique_ptr<mmoe_model, ModelFree>;
using Workspace = std::unique_ptr<mmoe_workspace, WorkspaceFree>;

void check(mmoe_status st, const char *what)
{
    if (st != MMOE_OK)
        throw std::runtime_error(std::string(what) + ": " + mmoe_status_name(st) + ": " +
                                 mmoe_last_error());
}

constexpr std::size_t kDim = 10, kTasks = 2, kRows = 200, kThreads = 4;

Model make_model()
{
    mmoe_config *raw = nullptr;
    check(mmoe_config_create(&raw), "mmoe_config_create");
    Config cfg(raw);
    check(mmoe_config_set_int(cfg.get(), "input.dense", kDim), "input.dense");
    const std::size_t expert[] = {8};
    const std::size_t tower[] = {4};
    check(mmoe_config_set_experts(cfg.get(), 3, 1, expert, MMOE_ACT_RELU), "experts");
    check(mmoe_config_add_task(cfg.get(), "buy", MMOE_TASK_BINARY, 1, tower, MMOE_ACT_RELU, 1.0f),
          "task buy");
    check(mmoe_config_add_task(cfg.get(), "spend", MMOE_TASK_REGRESSION, 1, tower, MMOE_ACT_TANH,
                               1.0f),
          "task spend");
    mmoe_model *m = nullptr;
    check(mmoe_model_create(cfg.get(), &m), "mmoe_model_create");
    return Model(m);
}

Model round_trip(const mmoe_model *m)
{
    void *raw = nullptr;
    std::size_t len = 0;
    check(mmoe_model_save_buffer(m, &raw, &len), "mmoe_model_save_buffer");
    std::unique_ptr<void, BufferFree> buf(raw);
    mmoe_model *loaded = nullptr;
    check(mmoe_model_load_buffer(buf.get(), len, &loaded), "mmoe_model_load_buffer");
    return Model(loaded);
}

} // namespace

int main()
{
    try {
        if (mmoe_version() != MMOE_VERSION_HEX)
            throw std::runtime_error(std::string("header/library version mismatch: library ") +
                                     mmoe_version_string());

        mmoe_synth_config *sc_raw = nullptr;
        check(mmoe_synth_config_create(&sc_raw), "mmoe_synth_config_create");
        std::unique_ptr<mmoe_synth_config, SynthConfigFree> sc(sc_raw);
        check(mmoe_synth_config_set_dim(sc.get(), kDim), "synth dim");
        check(mmoe_synth_config_set_tasks(sc.get(), kTasks), "synth tasks");
        mmoe_synth *gen_raw = nullptr;
        check(mmoe_synth_create(sc.get(), &gen_raw), "mmoe_synth_create");
        std::unique_ptr<mmoe_synth, SynthFree> gen(gen_raw);
        std::vector<float> x(kRows * kDim), y(kRows * kTasks);
        check(mmoe_synth_generate(gen.get(), kRows, x.data(), y.data()), "mmoe_synth_generate");

        Model original = make_model();
        Model model = round_trip(original.get());

        // Reference: one thread, one row per call.
        std::vector<float> ref(kRows * kTasks);
        {
            mmoe_workspace *w = nullptr;
            check(mmoe_workspace_create(model.get(), 1, &w), "mmoe_workspace_create");
            Workspace ws(w);
            for (std::size_t r = 0; r < kRows; r++)
                check(mmoe_model_predict(model.get(), ws.get(), 1, &x[r * kDim], nullptr,
                                         &ref[r * kTasks]),
                      "mmoe_model_predict");
        }

        // Threads sharing the loaded model, one workspace each.
        // One owner of threads: these; the BLAS runs single-threaded.
        const mmoe_status nt = mmoe_set_num_threads(1);
        if (nt != MMOE_ERR_UNSUPPORTED)
            check(nt, "mmoe_set_num_threads");
        std::vector<int> bad(kThreads, 0);
        std::vector<std::thread> pool;
        for (std::size_t t = 0; t < kThreads; t++) {
            pool.emplace_back([&, t] {
                mmoe_workspace *w = nullptr;
                if (mmoe_workspace_create(model.get(), 1, &w) != MMOE_OK) {
                    bad[t] = 1;
                    return;
                }
                Workspace ws(w);
                float out[kTasks];
                for (int round = 0; round < 20; round++)
                    for (std::size_t r = 0; r < kRows; r++) {
                        if (mmoe_model_predict(model.get(), ws.get(), 1, &x[r * kDim], nullptr,
                                               out) != MMOE_OK ||
                            std::memcmp(out, &ref[r * kTasks], sizeof out) != 0)
                            bad[t] = 1;
                    }
            });
        }
        for (auto &th : pool)
            th.join();
        for (std::size_t t = 0; t < kThreads; t++)
            if (bad[t])
                throw std::runtime_error("thread " + std::to_string(t) +
                                         " got a different prediction");

        std::printf("consumer.cpp: ok: libmmoe %s, %zu threads agree on %zu rows\n",
                    mmoe_version_string(), kThreads, kRows);
        return 0;
    } catch (const std::exception &e) {
        std::fprintf(stderr, "consumer.cpp: %s\n", e.what());
        return 1;
    }
}
