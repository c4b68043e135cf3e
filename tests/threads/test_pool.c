/*
 * The library's thread pool (lib/pool.c) and its use by the model:
 *   - every index of a region runs exactly once, in chunks whose bounds
 *     follow the documented rule, for many sizes and pool widths;
 *   - nested regions run inline; a second host thread finding the pool
 *     busy runs its region inline;
 *   - training and predicting with the pool on (2 and 3 threads) gives the
 *     same parameters and outputs, bit for bit, as with one thread;
 *   - predict from several host threads at once while the pool is on.
 * Run in the "threads" suite, so CI also runs it under ThreadSanitizer.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mmoe/mmoe.h"
#include "pool.h"

/* ---- the pool itself ---------------------------------------------------- */

typedef struct cover {
    unsigned char *hits;
    size_t align;
    int bad_align;
    size_t chunks_seen[MMOE__MAX_CHUNKS];
} cover;

static void mark(void *ctx, size_t chunk, size_t b, size_t e)
{
    cover *c = ctx;
    if (c->align > 1 && b % c->align)
        c->bad_align = 1;
    if (chunk < MMOE__MAX_CHUNKS)
        c->chunks_seen[chunk]++;
    for (size_t i = b; i < e; i++)
        c->hits[i]++;
}

static void check_cover(size_t n, size_t grain, size_t align)
{
    cover c = {calloc(n + 1, 1), align, 0, {0}};
    assert_non_null(c.hits);
    size_t expect = mmoe__parallel_chunks(n, grain, align);
    size_t chunks = mmoe__parallel_for(n, grain, align, mark, &c);
    assert_true(chunks >= 1);
    assert_int_equal(chunks, expect);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(c.hits[i], 1);
    assert_int_equal(c.bad_align, 0);
    for (size_t k = 0; k < chunks; k++)
        assert_int_equal(c.chunks_seen[k], 1);
    free(c.hits);
}

static void test_cover(void **state)
{
    (void)state;
    static const int widths[] = {1, 2, 3, 4, 1};
    static const size_t sizes[] = {0, 1, 2, 7, 31, 32, 33, 100, 1000, 4096, 65537};
    for (size_t w = 0; w < sizeof widths / sizeof widths[0]; w++) {
        assert_int_equal(mmoe_set_num_threads(widths[w]), MMOE_OK);
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
            check_cover(sizes[s], 1, 1);
            check_cover(sizes[s], 16, 1);
            check_cover(sizes[s], 1, 16);
            check_cover(sizes[s], 7, 8);
        }
    }
}

static void test_width(void **state)
{
    (void)state;
    assert_int_equal(mmoe_set_num_threads(3), MMOE_OK);
    assert_int_equal(mmoe__pool_width(), 3);
    /* Up to two chunks per thread, never fewer items than the grain per chunk. */
    assert_int_equal(mmoe__parallel_chunks(1000, 1, 1), 6);
    assert_int_equal(mmoe__parallel_chunks(1000, 400, 1), 2);
    assert_int_equal(mmoe__parallel_chunks(1000, 2000, 1), 1);
    assert_int_equal(mmoe_set_num_threads(1), MMOE_OK);
    assert_int_equal(mmoe__pool_width(), 1);
    assert_int_equal(mmoe__parallel_chunks(1000, 1, 1), 1);
    assert_int_equal(mmoe_set_num_threads(0), MMOE_ERR_INVALID_ARG);
    assert_int_equal(mmoe_set_num_threads(-3), MMOE_ERR_INVALID_ARG);
    assert_int_equal(mmoe_set_num_threads(1 << 20), MMOE_ERR_INVALID_ARG);
    assert_int_equal(mmoe__pool_width(), 1); /* a refused call changed nothing */
}

typedef struct nest {
    size_t inner_chunks[MMOE__MAX_CHUNKS];
    size_t width_inside[MMOE__MAX_CHUNKS];
} nest;

static void count(void *ctx, size_t chunk, size_t b, size_t e)
{
    (void)chunk;
    *(size_t *)ctx += e - b;
}

static void outer(void *ctx, size_t chunk, size_t b, size_t e)
{
    nest *n = ctx;
    size_t items = 0;
    (void)b;
    (void)e;
    n->width_inside[chunk] = mmoe__pool_width();
    n->inner_chunks[chunk] = mmoe__parallel_for(1000, 1, 1, count, &items);
    assert_int_equal(items, 1000);
}

static void test_nested_inline(void **state)
{
    (void)state;
    nest n;
    memset(&n, 0, sizeof n);
    assert_int_equal(mmoe_set_num_threads(2), MMOE_OK);
    size_t chunks = mmoe__parallel_for(4, 1, 1, outer, &n);
    assert_int_equal(chunks, 4);
    for (size_t c = 0; c < chunks; c++) {
        assert_int_equal(n.width_inside[c], 1);
        assert_int_equal(n.inner_chunks[c], 1);
    }
    assert_int_equal(mmoe__pool_width(), 2); /* back outside: the pool again */
    assert_int_equal(mmoe_set_num_threads(1), MMOE_OK);
}

/* Several host threads start regions at once: each region still covers its range exactly. */
static void *host_regions(void *arg)
{
    (void)arg;
    for (int i = 0; i < 200; i++) {
        size_t n = 100 + (size_t)i * 37;
        cover c = {calloc(n, 1), 1, 0, {0}};
        if (!c.hits)
            return (void *)1;
        mmoe__parallel_for(n, 8, 1, mark, &c);
        for (size_t k = 0; k < n; k++)
            if (c.hits[k] != 1) {
                free(c.hits);
                return (void *)1;
            }
        free(c.hits);
    }
    return NULL;
}

static void test_concurrent_hosts(void **state)
{
    (void)state;
    pthread_t t[4];
    assert_int_equal(mmoe_set_num_threads(2), MMOE_OK);
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, host_regions, NULL), 0);
    for (int i = 0; i < 4; i++) {
        void *rv = (void *)1;
        assert_int_equal(pthread_join(t[i], &rv), 0);
        assert_null(rv);
    }
    assert_int_equal(mmoe_set_num_threads(1), MMOE_OK);
}

/* ---- the model with the pool on ----------------------------------------- */

/* Large enough that every parallel path runs (products above the pool's thresholds). */
#define IN 192
#define BATCH 128
#define TASKS 3

static mmoe_model *make_model(void)
{
    mmoe_config *c = NULL;
    mmoe_model *m = NULL;
    size_t widths[2] = {128, 128}, tower = 32;
    assert_int_equal(mmoe_config_create(&c), MMOE_OK);
    assert_int_equal(mmoe_config_set(c, "arch", "mmoe"), MMOE_OK);
    assert_int_equal(mmoe_config_set_int(c, "input.dense", IN), MMOE_OK);
    assert_int_equal(mmoe_config_set_int(c, "seed", 7), MMOE_OK);
    assert_int_equal(mmoe_config_set_experts(c, 8, 2, widths, MMOE_ACT_RELU), MMOE_OK);
    for (int k = 0; k < TASKS; k++) {
        char name[8] = {'t', (char)('0' + k), 0};
        assert_int_equal(
            mmoe_config_add_task(c, name, MMOE_TASK_BINARY, 1, &tower, MMOE_ACT_RELU, 1.0f),
            MMOE_OK);
    }
    assert_int_equal(mmoe_model_create(c, &m), MMOE_OK);
    mmoe_config_free(c);
    return m;
}

static void fill(float *x, size_t n, uint64_t s)
{
    for (size_t i = 0; i < n; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        x[i] = (float)((double)(s >> 40) / (double)(1u << 24)) * 2.0f - 1.0f;
    }
}

/* Train a few Adam steps with `threads`, then predict; return the flat parameters and outputs. */
static void run(int threads, float *params_out, size_t n_params, float *pred_out)
{
    static float x[BATCH * IN], labels[BATCH * TASKS];
    mmoe_model *m = make_model();
    mmoe_optimizer *opt = NULL;
    mmoe_workspace *ws = NULL;
    float *params = NULL, *grads = NULL, total = 0.0f;
    size_t n = 0;
    assert_int_equal(mmoe_set_num_threads(threads), MMOE_OK);
    fill(x, BATCH * IN, 11);
    fill(labels, BATCH * TASKS, 12);
    for (size_t i = 0; i < BATCH * TASKS; i++)
        labels[i] = labels[i] > 0.0f ? 1.0f : 0.0f;
    assert_int_equal(mmoe_optimizer_create(m, MMOE_OPTIMIZER_ADAM, &opt), MMOE_OK);
    for (int step = 0; step < 5; step++)
        assert_int_equal(mmoe_model_train_step(m, opt, BATCH, x, NULL, labels, NULL, NULL, &total),
                         MMOE_OK);
    assert_int_equal(mmoe_model_flat(m, &params, &grads, &n), MMOE_OK);
    assert_int_equal(n, n_params);
    memcpy(params_out, params, n * sizeof *params);
    assert_int_equal(mmoe_workspace_create(m, BATCH, &ws), MMOE_OK);
    assert_int_equal(mmoe_model_predict(m, ws, BATCH, x, NULL, pred_out), MMOE_OK);
    assert_int_equal(mmoe_model_predict(m, ws, 1, x, NULL, pred_out + BATCH * TASKS), MMOE_OK);
    mmoe_workspace_free(ws);
    mmoe_optimizer_free(opt);
    mmoe_model_free(m);
    assert_int_equal(mmoe_set_num_threads(1), MMOE_OK);
}

static void test_model_same_bits(void **state)
{
    (void)state;
    mmoe_model *probe = make_model();
    float *p, *g;
    size_t n;
    assert_int_equal(mmoe_model_flat(probe, &p, &g, &n), MMOE_OK);
    mmoe_model_free(probe);
    const size_t n_out = (BATCH + 1) * TASKS;
    float *p1 = malloc(n * sizeof *p1), *pk = malloc(n * sizeof *pk);
    float *o1 = malloc(n_out * sizeof *o1), *ok = malloc(n_out * sizeof *ok);
    assert_true(p1 && pk && o1 && ok);
    run(1, p1, n, o1);
    for (int threads = 2; threads <= 3; threads++) {
        run(threads, pk, n, ok);
        assert_memory_equal(p1, pk, n * sizeof *p1);
        assert_memory_equal(o1, ok, n_out * sizeof *o1);
    }
    free(p1);
    free(pk);
    free(o1);
    free(ok);
}

/* Host threads predicting at once while the pool is on: the same outputs as alone. */
typedef struct predictor {
    const mmoe_model *m;
    const float *x, *expect;
    int ok;
} predictor;

static void *predict_loop(void *arg)
{
    predictor *p = arg;
    float out[BATCH * TASKS];
    mmoe_workspace *ws = NULL;
    p->ok = mmoe_workspace_create(p->m, BATCH, &ws) == MMOE_OK;
    for (int i = 0; i < 20 && p->ok; i++)
        p->ok = mmoe_model_predict(p->m, ws, BATCH, p->x, NULL, out) == MMOE_OK &&
                memcmp(out, p->expect, sizeof out) == 0;
    mmoe_workspace_free(ws);
    return NULL;
}

static void test_concurrent_predict(void **state)
{
    (void)state;
    static float x[BATCH * IN], expect[BATCH * TASKS];
    mmoe_model *m = make_model();
    mmoe_workspace *ws = NULL;
    fill(x, BATCH * IN, 5);
    assert_int_equal(mmoe_set_num_threads(1), MMOE_OK);
    assert_int_equal(mmoe_workspace_create(m, BATCH, &ws), MMOE_OK);
    assert_int_equal(mmoe_model_predict(m, ws, BATCH, x, NULL, expect), MMOE_OK);
    mmoe_workspace_free(ws);
    assert_int_equal(mmoe_set_num_threads(2), MMOE_OK);
    pthread_t t[4];
    predictor p[4];
    for (int i = 0; i < 4; i++) {
        p[i] = (predictor){m, x, expect, 0};
        assert_int_equal(pthread_create(&t[i], NULL, predict_loop, &p[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_true(p[i].ok);
    }
    assert_int_equal(mmoe_set_num_threads(1), MMOE_OK);
    mmoe_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cover),           cmocka_unit_test(test_width),
        cmocka_unit_test(test_nested_inline),   cmocka_unit_test(test_concurrent_hosts),
        cmocka_unit_test(test_model_same_bits), cmocka_unit_test(test_concurrent_predict),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
