/*
 * Concurrent use of one fitted transformation: 8 threads, each with its own
 * workspace, transform the same records (one by one and as batches) and
 * must agree bit for bit with a single-threaded run. CI runs it under
 * ThreadSanitizer with the rest of the "threads" suite.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <mmoe/mmoe.h>

#define NREC 64
#define NTHREADS 8
#define ROUNDS 50

static char text[NREC][96];
static const char *recs[NREC];
static size_t lens[NREC];

typedef struct job {
    const mmoe_transform *tf;
    size_t D, I, T;
    float x[NREC * 4], y[NREC * 2];
    int64_t ids[NREC * 4];
    int ok;
} job;

static void *worker(void *arg)
{
    job *j = arg;
    mmoe_transform_workspace *ws = NULL;
    if (mmoe_transform_workspace_create(j->tf, 0, &ws) != MMOE_OK)
        return NULL;
    j->ok = 1;
    for (int r = 0; r < ROUNDS && j->ok; r++) {
        size_t n_out = 0, skipped = 0;
        if (mmoe_transform_lines(j->tf, ws, NREC, recs, lens, NULL, MMOE_MALFORMED_SKIP, j->x,
                                 j->ids, j->y, NULL, NULL, &n_out, &skipped) != MMOE_OK ||
            n_out + skipped != NREC)
            j->ok = 0;
        float x[4], y[2];
        int64_t ids[4];
        size_t i = (size_t)r % NREC;
        mmoe_transform_line(j->tf, ws, recs[i], lens[i], i + 1, x, ids, y, NULL);
    }
    mmoe_transform_workspace_free(ws);
    return NULL;
}

static void test_concurrent_transform(void **state)
{
    (void)state;
    for (size_t i = 0; i < NREC; i++) {
        snprintf(text[i], sizeof text[i], "%zu.5,%s,%s|t%zu,%s,%zu", i, i % 3 ? "red" : "blue",
                 i % 2 ? "a" : "b", i % 5, i % 4 ? "yes" : "no", i % 7);
        if (i == 13)
            snprintf(text[i], sizeof text[i], "bad,red,a,yes,1");
        recs[i] = text[i];
        lens[i] = strlen(text[i]);
    }
    const char *st = "mmoe-schema 1\ndense a 1 standardize\ncategorical c 2\n"
                     "multi t 3 separator=\"|\" slots=2\ncategorical h 5 hash=11\n"
                     "binary y 4 positive=yes\n";
    mmoe_schema *s = NULL;
    assert_int_equal(mmoe_schema_parse(st, strlen(st), &s), MMOE_OK);
    mmoe_fit *fit = NULL;
    assert_int_equal(mmoe_fit_create(s, &fit), MMOE_OK);
    for (size_t i = 0; i < NREC; i++)
        mmoe_fit_add_line(fit, recs[i], lens[i], i + 1);
    mmoe_transform *tf = NULL;
    assert_int_equal(mmoe_fit_finish(fit, &tf), MMOE_OK);
    mmoe_fit_free(fit);
    static job ref, jobs[NTHREADS];
    ref.tf = tf;
    worker(&ref);
    assert_true(ref.ok);
    pthread_t tid[NTHREADS];
    for (int t = 0; t < NTHREADS; t++) {
        jobs[t].tf = tf;
        assert_int_equal(pthread_create(&tid[t], NULL, worker, &jobs[t]), 0);
    }
    for (int t = 0; t < NTHREADS; t++) {
        pthread_join(tid[t], NULL);
        assert_true(jobs[t].ok);
        assert_memory_equal(jobs[t].x, ref.x, sizeof ref.x);
        assert_memory_equal(jobs[t].ids, ref.ids, sizeof ref.ids);
        assert_memory_equal(jobs[t].y, ref.y, sizeof ref.y);
    }
    mmoe_transform_free(tf);
    mmoe_schema_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_concurrent_transform)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
