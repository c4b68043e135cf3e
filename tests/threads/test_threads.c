/*
 * Concurrent predict: many threads share one model, each with its own
 * workspace, and every output must be bit-for-bit the output of a
 * single-threaded run of the same calls.
 *
 * The model served is a loaded one (saved to a buffer and loaded back), as
 * in a serving process. While the threads predict, one more thread saves
 * the model and reads its description (documented as safe during predict)
 * and must always get the same bytes. Calls use a mix of batch sizes, including batch 1
 * (the matrix-vector path) and batches larger than the workspace's
 * max_batch (processed in chunks), so threads run different code paths at
 * the same moment. Worker threads never call CMocka: they count
 * mismatches and failures, and the main thread asserts on the counts.
 *
 * Also built with -Db_sanitize=thread in CI (see tests/threads/meson.build).
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <mmoe/mmoe.h>

enum {
    N_THREADS = 8,
    D = 16,        /* input width */
    ROWS = 256,    /* rows in the shared input pool */
    MAX_BATCH = 8, /* workspace max_batch; batch 13 runs in two chunks */
    JOBS = 60,     /* distinct predict calls in the schedule */
    ROUNDS = 25    /* times each thread runs the whole schedule */
};

static const size_t batch_sizes[] = {1, 2, 5, 8, 13, 1, 3};
#define N_BATCH_SIZES (sizeof batch_sizes / sizeof batch_sizes[0])

/* One predict call of the schedule: rows [row, row + batch). */
typedef struct job {
    size_t row;
    size_t batch;
    float *ref; /* [batch, tasks] from the single-threaded run */
} job;

typedef struct shared {
    const mmoe_model *model;
    const float *x;
    job *jobs;
    size_t tasks;
    pthread_barrier_t start;
} shared;

typedef struct worker {
    shared *sh;
    size_t id;
    size_t calls;
    size_t mismatches; /* calls whose output differs from the reference */
    size_t failures;   /* calls that did not return MMOE_OK */
    mmoe_status first_status;
    char first_error[256];
} worker;

static void fill(float *x, size_t n, uint64_t seed, float scale)
{
    uint64_t s = seed * 0x9E3779B97F4A7C15ULL + 1;
    for (size_t i = 0; i < n; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        x[i] = ((float)((double)(s >> 40) / (double)(1ULL << 24)) * 2.0f - 1.0f) * scale;
    }
}

/* Extra keys make_model sets after the tasks (key, value, ..., NULL); NULL: none. */
static const char *const *extra_keys;

static mmoe_model *make_model(const char *arch, int with_input_stage, const char *gate_kind)
{
    mmoe_config *c;
    assert_int_equal(mmoe_config_create(&c), MMOE_OK);
    assert_int_equal(mmoe_config_set(c, "arch", arch), MMOE_OK);
    assert_int_equal(mmoe_config_set_int(c, "input.dense", D), MMOE_OK);
    assert_int_equal(mmoe_config_set_int(c, "seed", 7), MMOE_OK);
    size_t w[2] = {24, 12};
    assert_int_equal(mmoe_config_set_experts(c, 4, 2, w, MMOE_ACT_RELU), MMOE_OK);
    if (gate_kind)
        assert_int_equal(mmoe_config_set(c, "gate.kind", gate_kind), MMOE_OK);
    if (with_input_stage) {
        assert_int_equal(mmoe_config_set(c, "dnn.layers", "20"), MMOE_OK);
        assert_int_equal(mmoe_config_set(c, "dnn.batchnorm", "1"), MMOE_OK);
        assert_int_equal(mmoe_config_set(c, "cross.layers", "2"), MMOE_OK);
    }
    size_t h[1] = {8};
    assert_int_equal(mmoe_config_add_task(c, "ctr", MMOE_TASK_BINARY, 1, h, MMOE_ACT_RELU, 1.0f),
                     MMOE_OK);
    assert_int_equal(
        mmoe_config_add_task(c, "value", MMOE_TASK_REGRESSION, 1, h, MMOE_ACT_TANH, 1.0f), MMOE_OK);
    assert_int_equal(mmoe_config_add_task(c, "cvr", MMOE_TASK_BINARY, 0, NULL, MMOE_ACT_RELU, 1.0f),
                     MMOE_OK);
    for (size_t i = 0; extra_keys && extra_keys[i]; i += 2)
        assert_int_equal(mmoe_config_set(c, extra_keys[i], extra_keys[i + 1]), MMOE_OK);
    mmoe_model *m;
    mmoe_status st = mmoe_model_create(c, &m);
    mmoe_config_free(c);
    if (st == MMOE_ERR_UNSUPPORTED) {
        /* A part of the architecture this build does not implement. */
        print_message("skipped: %s\n", mmoe_last_error());
        return NULL;
    }
    if (st != MMOE_OK)
        fail_msg("mmoe_model_create: %s", mmoe_last_error());

    /* Non-trivial weights everywhere (fresh biases are zero). */
    float *p;
    size_t n;
    assert_int_equal(mmoe_model_flat(m, &p, NULL, &n), MMOE_OK);
    fill(p, n, 11, 0.5f);
    return m;
}

/* Save to a buffer and load back: the served model is a loaded model. */
static mmoe_model *reload(const mmoe_model *m)
{
    void *buf = NULL;
    size_t len = 0;
    assert_int_equal(mmoe_model_save_buffer(m, &buf, &len), MMOE_OK);
    mmoe_model *loaded = NULL;
    mmoe_status st = mmoe_model_load_buffer(buf, len, &loaded);
    if (st != MMOE_OK)
        fail_msg("load_buffer: %s", mmoe_last_error());
    mmoe_buffer_free(buf);
    return loaded;
}

static void *work(void *arg)
{
    worker *w = arg;
    shared *sh = w->sh;
    float out[13 * 3];
    mmoe_workspace *ws = NULL;
    /* Workspaces are created inside the threads, concurrently (read-only on the model). */
    mmoe_status st = mmoe_workspace_create(sh->model, MAX_BATCH, &ws);
    pthread_barrier_wait(&sh->start);
    if (st != MMOE_OK) {
        w->failures++;
        w->first_status = st;
        snprintf(w->first_error, sizeof w->first_error, "%s", mmoe_last_error());
        return NULL;
    }
    for (size_t r = 0; r < ROUNDS; r++) {
        for (size_t k = 0; k < JOBS; k++) {
            /* Each thread walks the schedule from its own offset. */
            const job *jb = &sh->jobs[(k + w->id * 7 + r) % JOBS];
            size_t nout = jb->batch * sh->tasks;
            memset(out, 0xff, sizeof out);
            st = mmoe_model_predict(sh->model, ws, jb->batch, sh->x + jb->row * D, NULL, out);
            w->calls++;
            if (st != MMOE_OK) {
                if (w->failures++ == 0) {
                    w->first_status = st;
                    snprintf(w->first_error, sizeof w->first_error, "%s",
                             mmoe_workspace_last_error(ws));
                }
                continue;
            }
            if (memcmp(out, jb->ref, nout * sizeof(float)) != 0)
                w->mismatches++;
        }
    }
    mmoe_workspace_free(ws);
    return NULL;
}

/*
 * Meanwhile another thread uses the calls documented as read-only and safe
 * during predict: saving the model and reading its description.
 */
typedef struct reader {
    const mmoe_model *model;
    const void *saved; /* bytes of the model saved before the threads start */
    size_t saved_len;
    pthread_barrier_t *start;
    size_t rounds;
    size_t failures;
} reader;

static void *read_model(void *arg)
{
    reader *r = arg;
    pthread_barrier_wait(r->start);
    for (size_t i = 0; i < r->rounds; i++) {
        void *buf = NULL;
        size_t len = 0;
        mmoe_config *cfg = NULL;
        if (mmoe_model_save_buffer(r->model, &buf, &len) != MMOE_OK || len != r->saved_len ||
            memcmp(buf, r->saved, len) != 0)
            r->failures++;
        if (mmoe_model_get_config(r->model, &cfg) != MMOE_OK || mmoe_model_num_tasks(r->model) != 3)
            r->failures++;
        mmoe_config_free(cfg);
        mmoe_buffer_free(buf);
    }
    return NULL;
}

static void run_threads(const char *arch, int with_input_stage, const char *gate_kind)
{
    mmoe_model *orig = make_model(arch, with_input_stage, gate_kind);
    if (!orig)
        skip();
    mmoe_model *m = reload(orig);
    const size_t T = mmoe_model_num_tasks(m);
    assert_int_equal(T, 3);
    assert_int_equal(mmoe_model_input_dim(m), D);

    float *x = malloc(sizeof(float) * ROWS * D);
    assert_non_null(x);
    fill(x, (size_t)ROWS * D, 3, 2.0f);

    /* Single-threaded reference on the loaded model, with the same calls. */
    job jobs[JOBS];
    mmoe_workspace *ws, *ws_orig;
    assert_int_equal(mmoe_workspace_create(m, MAX_BATCH, &ws), MMOE_OK);
    assert_int_equal(mmoe_workspace_create(orig, MAX_BATCH, &ws_orig), MMOE_OK);
    float check[13 * 3];
    for (size_t j = 0; j < JOBS; j++) {
        jobs[j].batch = batch_sizes[j % N_BATCH_SIZES];
        jobs[j].row = (j * 37) % (ROWS - 13);
        jobs[j].ref = malloc(sizeof(float) * jobs[j].batch * T);
        assert_non_null(jobs[j].ref);
        assert_int_equal(
            mmoe_model_predict(m, ws, jobs[j].batch, x + jobs[j].row * D, NULL, jobs[j].ref),
            MMOE_OK);
        /* The loaded model answers exactly as the model that was saved. */
        assert_int_equal(
            mmoe_model_predict(orig, ws_orig, jobs[j].batch, x + jobs[j].row * D, NULL, check),
            MMOE_OK);
        assert_memory_equal(check, jobs[j].ref, sizeof(float) * jobs[j].batch * T);
    }
    mmoe_workspace_free(ws_orig);
    mmoe_workspace_free(ws);

    void *saved = NULL;
    size_t saved_len = 0;
    assert_int_equal(mmoe_model_save_buffer(m, &saved, &saved_len), MMOE_OK);

    shared sh = {.model = m, .x = x, .jobs = jobs, .tasks = T};
    assert_int_equal(pthread_barrier_init(&sh.start, NULL, N_THREADS + 1), 0);
    reader rd = {
        .model = m, .saved = saved, .saved_len = saved_len, .start = &sh.start, .rounds = 20};
    pthread_t rtid;
    assert_int_equal(pthread_create(&rtid, NULL, read_model, &rd), 0);
    worker w[N_THREADS];
    pthread_t tid[N_THREADS];
    for (size_t i = 0; i < N_THREADS; i++) {
        w[i] = (worker){.sh = &sh, .id = i};
        assert_int_equal(pthread_create(&tid[i], NULL, work, &w[i]), 0);
    }
    assert_int_equal(pthread_join(rtid, NULL), 0);
    mmoe_buffer_free(saved);
    if (rd.failures)
        fail_msg("%s: %zu save/describe calls during predict failed or differed", arch,
                 rd.failures);
    size_t calls = 0;
    for (size_t i = 0; i < N_THREADS; i++) {
        assert_int_equal(pthread_join(tid[i], NULL), 0);
        calls += w[i].calls;
    }
    pthread_barrier_destroy(&sh.start);
    for (size_t i = 0; i < N_THREADS; i++) {
        if (w[i].failures)
            fail_msg("%s: thread %zu: %zu failed calls, first %s: %s", arch, i, w[i].failures,
                     mmoe_status_name(w[i].first_status), w[i].first_error);
        if (w[i].mismatches)
            fail_msg("%s: thread %zu: %zu of %zu calls differ from the single-threaded run", arch,
                     i, w[i].mismatches, w[i].calls);
    }
    assert_int_equal(calls, (size_t)N_THREADS * ROUNDS * JOBS);

    for (size_t j = 0; j < JOBS; j++)
        free(jobs[j].ref);
    free(x);
    mmoe_model_free(m);
    mmoe_model_free(orig);
}

static void test_mmoe(void **state)
{
    (void)state;
    run_threads("mmoe", 0, NULL);
}

static void test_mmoe_input_stage(void **state)
{
    (void)state;
    run_threads("mmoe", 1, NULL);
}

static void test_omoe(void **state)
{
    (void)state;
    run_threads("omoe", 0, NULL);
}

static void test_tensor_factorization(void **state)
{
    (void)state;
    run_threads("tensor_factorization", 0, NULL);
}

/* Sparse gates: batch 1 computes only the selected experts (a different path per call). */
static void test_mmoe_topk(void **state)
{
    (void)state;
    run_threads("mmoe", 0, "topk");
}

static void test_omoe_hard(void **state)
{
    (void)state;
    run_threads("omoe", 0, "hard");
}

static void test_cgc(void **state)
{
    (void)state;
    run_threads("cgc", 0, NULL);
}

static void test_stacked_mmoe(void **state)
{
    (void)state;
    run_threads("stacked_mmoe", 0, NULL);
}

/* Two levels (the default), top-k gates. */
static void test_ple_topk(void **state)
{
    (void)state;
    run_threads("ple", 0, "topk");
}

/* Gate priors (trainable biases, fixed masks with -inf) with top-k gates; noisy top-k. */
static void test_gate_priors(void **state)
{
    (void)state;
    static const char *const mmoe[] = {"task.0.gate_bias", "1,0,0,-1", "task.1.gate_mask",
                                       "0,-inf,0,0.5", NULL};
    static const char *const ple[] = {"task.0.gate_bias", "1,0,0,0,-1", "task.2.gate_mask",
                                      "-inf,0,0,0.5,0", NULL};
    extra_keys = mmoe;
    run_threads("mmoe", 0, "topk");
    extra_keys = ple;
    run_threads("ple", 0, "topk");
    /* Noisy top-k with load balancing: training noise only, predict is deterministic. */
    static const char *const noisy[] = {
        "gate.noise", "1", "gate.balance.importance", "0.01", "gate.balance.load", "0.01", NULL};
    extra_keys = noisy;
    run_threads("mmoe", 0, "topk");
    run_threads("ple", 0, "topk");
    extra_keys = NULL;
}

int main(void)
{
    /*
     * One owner of threads: the test's threads call predict, the BLAS runs
     * single-threaded inside each call (as docs/serving.md recommends).
     * Builds whose BLAS has no thread control return UNSUPPORTED; fine.
     */
    mmoe_status st = mmoe_set_num_threads(1);
    if (st != MMOE_OK && st != MMOE_ERR_UNSUPPORTED) {
        fprintf(stderr, "mmoe_set_num_threads: %s\n", mmoe_last_error());
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mmoe),         cmocka_unit_test(test_mmoe_input_stage),
        cmocka_unit_test(test_omoe),         cmocka_unit_test(test_tensor_factorization),
        cmocka_unit_test(test_mmoe_topk),    cmocka_unit_test(test_omoe_hard),
        cmocka_unit_test(test_cgc),          cmocka_unit_test(test_ple_topk),
        cmocka_unit_test(test_stacked_mmoe), cmocka_unit_test(test_gate_priors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
