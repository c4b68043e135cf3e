/*
 * Zero allocations in steady state: after a warm-up call at a batch size,
 * a training step (forward, loss, backward, optimizer) and a predict
 * allocate nothing, in libmmoe or below it.
 *
 * The test interposes the process's allocator (malloc, calloc, realloc,
 * aligned allocations), forwarding to glibc's and counting calls while a
 * flag is set, so it sees every allocation of the library and of the BLAS
 * alike. It runs without sanitizers (they interpose the allocator
 * themselves) and on glibc only; elsewhere it is skipped (exit 77).
 */
#define _GNU_SOURCE
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mmoe/mmoe.h>

#if defined(__GLIBC__)
#    include <malloc.h>

void *__libc_malloc(size_t);
void *__libc_calloc(size_t, size_t);
void *__libc_realloc(void *, size_t);
void *__libc_memalign(size_t, size_t);
void __libc_free(void *);

static atomic_int counting;
static atomic_long allocations;

static void count(void)
{
    if (atomic_load_explicit(&counting, memory_order_relaxed))
        atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
}

void *malloc(size_t n)
{
    count();
    return __libc_malloc(n);
}

void *calloc(size_t a, size_t b)
{
    count();
    return __libc_calloc(a, b);
}

void *realloc(void *p, size_t n)
{
    count();
    return __libc_realloc(p, n);
}

void *memalign(size_t al, size_t n)
{
    count();
    return __libc_memalign(al, n);
}

void *aligned_alloc(size_t al, size_t n)
{
    count();
    return __libc_memalign(al, n);
}

int posix_memalign(void **out, size_t al, size_t n)
{
    count();
    void *p = __libc_memalign(al, n);
    if (!p)
        return 12; /* ENOMEM */
    *out = p;
    return 0;
}

void free(void *p)
{
    __libc_free(p);
}

static int failures;

#    define CHECK(cond)                                                                            \
        do {                                                                                       \
            if (!(cond)) {                                                                         \
                fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);           \
                failures++;                                                                        \
            }                                                                                      \
        } while (0)

/*
 * Model variants: with_input_stage adds embeddings, CrossNet and DNN; wide
 * makes layers large enough that the library's pool splits them (2
 * threads); gated 1 makes the bottom a PLE with top-k gates and gate
 * priors (biases, masks), gated 2 an MMoE with noisy top-k gates and load
 * balancing, gated 3 both: a PLE with priors, noisy gates and load
 * balancing.
 */
static mmoe_model *make_model(int with_input_stage, int wide, int gated)
{
    mmoe_config *c = NULL;
    mmoe_model *m = NULL;
    CHECK(mmoe_config_create(&c) == MMOE_OK);
    CHECK(mmoe_config_set_int(c, "input.dense", wide ? 256 : 24) == MMOE_OK);
    CHECK(mmoe_config_set_experts(c, wide ? 8 : 4, 2,
                                  wide ? (size_t[]){256, 128} : (size_t[]){32, 16},
                                  MMOE_ACT_RELU) == MMOE_OK);
    CHECK(mmoe_config_add_task(c, "ctr", MMOE_TASK_BINARY, 1, (size_t[]){8}, MMOE_ACT_RELU, 1.0f) ==
          MMOE_OK);
    CHECK(mmoe_config_add_task(c, "watch", MMOE_TASK_REGRESSION, 1, (size_t[]){8}, MMOE_ACT_TANH,
                               1.0f) == MMOE_OK);
    if (with_input_stage) {
        /* embeddings, a CrossNet and a DNN with batch-norm and dropout */
        static const char *const kv[][2] = {
            {"input.sparse", "1"},  {"sparse.0.name", "item"}, {"sparse.0.vocab", "50"},
            {"sparse.0.dim", "4"},  {"cross.layers", "2"},     {"dnn.layers", "16"},
            {"dnn.batchnorm", "1"}, {"dnn.dropout", "0.1"},
        };
        for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++)
            if (mmoe_config_set(c, kv[i][0], kv[i][1]) != MMOE_OK) {
                fprintf(stderr, "%s: %s\n", kv[i][0], mmoe_config_last_error(c));
                failures++;
            }
    }
    if (gated) {
        static const char *const kv[][2] = {
            {"arch", "ple"},
            {"gate.kind", "topk"},
            {"task.0.gate_bias", "0.5,0,0,0,-0.5"},
            {"task.1.gate_mask", "0,-inf,0,0,1"},
        };
        /* gated 2 (MMoE) and 3 (PLE): noisy top-k gates and the load-balancing loss */
        static const char *const noisy[][2] = {
            {"gate.kind", "topk"},
            {"gate.noise", "1"},
            {"gate.balance.importance", "0.01"},
            {"gate.balance.load", "0.01"},
        };
        for (size_t i = 0; gated >= 2 && i < sizeof noisy / sizeof noisy[0]; i++)
            if (mmoe_config_set(c, noisy[i][0], noisy[i][1]) != MMOE_OK) {
                fprintf(stderr, "%s: %s\n", noisy[i][0], mmoe_config_last_error(c));
                failures++;
            }
        for (size_t i = 0; gated != 2 && i < sizeof kv / sizeof kv[0]; i++)
            if (mmoe_config_set(c, kv[i][0], kv[i][1]) != MMOE_OK) {
                fprintf(stderr, "%s: %s\n", kv[i][0], mmoe_config_last_error(c));
                failures++;
            }
    }
    CHECK(mmoe_model_create(c, &m) == MMOE_OK);
    mmoe_config_free(c);
    return m;
}

static void run(int with_input_stage, int wide, int gated)
{
    enum { B = 64, STEPS = 5 };
    mmoe_model *m = make_model(with_input_stage, wide, gated);
    if (!m) {
        fprintf(stderr, "model: %s\n", mmoe_last_error());
        failures++;
        return;
    }
    size_t D = mmoe_model_input_dim(m), T = mmoe_model_num_tasks(m);
    float *x = malloc(B * D * sizeof *x), *y = malloc(B * T * sizeof *y);
    float *out = malloc(B * T * sizeof *out);
    int64_t ids[B];
    for (size_t i = 0; i < B * D; i++)
        x[i] = (float)((i * 37) % 101) / 50.0f - 1.0f;
    for (size_t i = 0; i < B * T; i++)
        y[i] = (float)(i % 2);
    for (size_t r = 0; r < B; r++)
        ids[r] = (int64_t)((r * 7) % 50);
    const int64_t *idp = with_input_stage ? ids : NULL;
    const mmoe_optimizer_kind kinds[] = {MMOE_OPTIMIZER_SGD, MMOE_OPTIMIZER_ADAM,
                                         MMOE_OPTIMIZER_ADAGRAD};
    for (size_t k = 0; k < 3; k++) {
        mmoe_optimizer *opt = NULL;
        mmoe_workspace *ws = NULL;
        float loss;
        CHECK(mmoe_optimizer_create(m, kinds[k], &opt) == MMOE_OK);
        CHECK(mmoe_optimizer_set(opt, MMOE_OPT_CLIP_NORM, 1.0) == MMOE_OK);
        CHECK(mmoe_workspace_create(m, B, &ws) == MMOE_OK);
        /* warm-up: sizes the training buffers for B rows */
        CHECK(mmoe_model_train_step(m, opt, B, x, idp, y, NULL, NULL, &loss) == MMOE_OK);
        CHECK(mmoe_model_predict(m, ws, B, x, idp, out) == MMOE_OK);
        CHECK(mmoe_model_predict(m, ws, 1, x, idp, out) == MMOE_OK);

        atomic_store(&allocations, 0);
        atomic_store(&counting, 1);
        for (int s = 0; s < STEPS; s++) {
            CHECK(mmoe_model_train_step(m, opt, B, x, idp, y, NULL, NULL, &loss) == MMOE_OK);
            CHECK(mmoe_model_train_step(m, opt, B / 2, x, idp, y, NULL, NULL, &loss) ==
                  MMOE_OK); /* smaller batches reuse the buffers */
        }
        atomic_store(&counting, 0);
        long train_allocs = atomic_load(&allocations);

        atomic_store(&allocations, 0);
        atomic_store(&counting, 1);
        for (int s = 0; s < STEPS; s++) {
            CHECK(mmoe_model_predict(m, ws, B, x, idp, out) == MMOE_OK);
            CHECK(mmoe_model_predict(m, ws, 1, x, idp, out) == MMOE_OK);
        }
        atomic_store(&counting, 0);
        long predict_allocs = atomic_load(&allocations);
        printf("input stage %d, wide %d, gated variant %d, optimizer %d: %ld allocations in %d "
               "train steps, %ld in %d predicts\n",
               with_input_stage, wide, gated, (int)kinds[k], train_allocs, 2 * STEPS,
               predict_allocs, 2 * STEPS);
        CHECK(train_allocs == 0);
        CHECK(predict_allocs == 0);
        mmoe_workspace_free(ws);
        mmoe_optimizer_free(opt);
    }
    free(x);
    free(y);
    free(out);
    mmoe_model_free(m);
}

int main(void)
{
    /* One BLAS thread: the library's own promise is under test, not a threaded BLAS's pool. */
    if (mmoe_set_num_threads(1) != MMOE_OK)
        fprintf(stderr, "note: the BLAS has no thread control\n");
    /* The counter sees allocations made through the library's allocator calls. */
    atomic_store(&counting, 1);
    void *volatile probe = malloc(16);
    free(probe);
    mmoe_config *probe_cfg = NULL;
    CHECK(mmoe_config_create(&probe_cfg) == MMOE_OK);
    mmoe_config_free(probe_cfg);
    atomic_store(&counting, 0);
    CHECK(atomic_load(&allocations) >= 2);
    run(0, 0, 0);
    run(1, 0, 0);
    run(0, 0, 1);
    run(0, 0, 2);
    run(0, 0, 3);
    /* The library's pool on: its workers allocate nothing per call either. */
    CHECK(mmoe_set_num_threads(2) == MMOE_OK);
    run(0, 1, 0);
    run(1, 1, 0);
    CHECK(mmoe_set_num_threads(1) == MMOE_OK);
    if (failures)
        fprintf(stderr, "%d check(s) failed\n", failures);
    return failures ? 1 : 0;
}
#else
int main(void)
{
    fprintf(stderr, "allocation counting needs glibc; skipped\n");
    return 77;
}
#endif
