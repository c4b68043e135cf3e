/*
 * Thread pool (pool.h). Workers wait for a region by polling a generation
 * counter for a short while (a training step starts regions back to back)
 * and then sleep on a condition variable, so an idle pool costs nothing.
 *
 * A region: the caller takes the pool (a try-lock: a second host thread
 * that finds it taken runs its region inline), publishes the job under
 * the mutex and bumps the generation; workers join the generation under
 * the mutex (`refs`), claim chunk indices with an atomic counter, and
 * leave. The caller claims chunks too, then waits until every chunk is
 * done. The next region is published only once every worker has left the
 * previous one (refs == 0, checked under the mutex), so a late worker
 * never reads a job while it is rewritten.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include "internal.h"
#include "pool.h"

#define MAX_THREADS 256
#define SPIN_POLLS 20000 /* polls (about 50-100 us) before a worker sleeps */

typedef struct pool_job {
    mmoe__range_fn fn;
    void *ctx;
    size_t n, len, chunks;
    atomic_size_t next; /* next chunk index to claim */
    atomic_size_t done; /* chunks finished */
} pool_job;

static struct {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_mutex_t resize;
    pthread_t thr[MAX_THREADS];
    size_t workers;      /* running worker threads */
    atomic_size_t width; /* workers + 1 */
    atomic_uint gen;     /* bumped for every region */
    atomic_int stop;     /* workers exit */
    atomic_flag owner;   /* a host thread is running a region */
    size_t refs;         /* workers inside the current region (under lock) */
    size_t sleepers;     /* workers waiting on `wake` (under lock) */
    pool_job job;
} P = {PTHREAD_MUTEX_INITIALIZER,
       PTHREAD_COND_INITIALIZER,
       PTHREAD_MUTEX_INITIALIZER,
       {0},
       0,
       1,
       0,
       0,
       ATOMIC_FLAG_INIT,
       0,
       0,
       {0}};

static _Thread_local int in_region;

static void cpu_relax(void)
{
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
    __builtin_ia32_pause();
#endif
}

static void chunk_bounds(const pool_job *j, size_t c, size_t *b, size_t *e)
{
    *b = c * j->len;
    *e = *b + j->len < j->n ? *b + j->len : j->n;
}

/* Claim and run chunks of the current job until none is left. */
static void run_chunks(pool_job *j)
{
    size_t c;
    in_region = 1;
    while ((c = atomic_fetch_add(&j->next, 1)) < j->chunks) {
        size_t b, e;
        chunk_bounds(j, c, &b, &e);
        j->fn(j->ctx, c, b, e);
        atomic_fetch_add_explicit(&j->done, 1, memory_order_release);
    }
    in_region = 0;
}

static void *worker(void *arg)
{
    unsigned seen = (unsigned)(size_t)arg;
    for (;;) {
        unsigned polls = 0;
        while (atomic_load_explicit(&P.gen, memory_order_acquire) == seen &&
               !atomic_load(&P.stop)) {
            if (++polls < SPIN_POLLS) {
                cpu_relax();
                continue;
            }
            pthread_mutex_lock(&P.lock);
            P.sleepers++;
            while (atomic_load(&P.gen) == seen && !atomic_load(&P.stop))
                pthread_cond_wait(&P.wake, &P.lock);
            P.sleepers--;
            pthread_mutex_unlock(&P.lock);
        }
        if (atomic_load(&P.stop))
            return NULL;
        pthread_mutex_lock(&P.lock);
        seen = atomic_load(&P.gen);
        P.refs++;
        pthread_mutex_unlock(&P.lock);
        run_chunks(&P.job);
        pthread_mutex_lock(&P.lock);
        P.refs--;
        pthread_mutex_unlock(&P.lock);
    }
}

size_t mmoe__pool_width(void)
{
    return in_region ? 1 : atomic_load_explicit(&P.width, memory_order_relaxed);
}

static size_t chunk_count(size_t n, size_t grain, size_t align, size_t width, size_t *len)
{
    size_t c, l;
    if (grain < 1)
        grain = 1;
    if (align < 1)
        align = 1;
    /*
     * Two chunks per thread: whichever thread finishes first takes the
     * next, which evens out threads that run at different speeds (measured
     * on a 2-core VM: 8 % of a training step waited on the slower thread
     * with one chunk each, half that with two).
     */
    c = width > 1 ? n / grain : 1;
    if (c > 2 * width)
        c = 2 * width;
    if (c > MMOE__MAX_CHUNKS)
        c = MMOE__MAX_CHUNKS;
    if (c < 1)
        c = 1;
    l = (n + c - 1) / c;
    l = (l + align - 1) / align * align;
    if (l < 1)
        l = 1;
    *len = l;
    return n == 0 ? 1 : (n + l - 1) / l;
}

size_t mmoe__parallel_chunks(size_t n, size_t grain, size_t align)
{
    size_t len;
    return chunk_count(n, grain, align, mmoe__pool_width(), &len);
}

size_t mmoe__parallel_for(size_t n, size_t grain, size_t align, mmoe__range_fn fn, void *ctx)
{
    size_t len, chunks = chunk_count(n, grain, align, mmoe__pool_width(), &len);
    if (chunks <= 1 || atomic_flag_test_and_set(&P.owner)) {
        fn(ctx, 0, 0, n);
        return 1;
    }
    /* Width may have changed before the pool was taken: recount under ownership. */
    chunks = chunk_count(n, grain, align, atomic_load(&P.width), &len);
    if (chunks <= 1) {
        atomic_flag_clear(&P.owner);
        fn(ctx, 0, 0, n);
        return 1;
    }
    pthread_mutex_lock(&P.lock);
    while (P.refs) { /* a late worker is still leaving the previous region */
        pthread_mutex_unlock(&P.lock);
        cpu_relax();
        pthread_mutex_lock(&P.lock);
    }
    P.job.fn = fn;
    P.job.ctx = ctx;
    P.job.n = n;
    P.job.len = len;
    P.job.chunks = chunks;
    atomic_store(&P.job.next, 0);
    atomic_store(&P.job.done, 0);
    atomic_fetch_add_explicit(&P.gen, 1, memory_order_release);
    if (P.sleepers)
        pthread_cond_broadcast(&P.wake);
    pthread_mutex_unlock(&P.lock);

    run_chunks(&P.job);
    for (unsigned polls = 0; atomic_load_explicit(&P.job.done, memory_order_acquire) < chunks;)
        if (++polls % 4096 == 0)
            sched_yield();
        else
            cpu_relax();
    atomic_flag_clear(&P.owner);
    return chunks;
}

static void stop_workers(void)
{
    pthread_mutex_lock(&P.lock);
    atomic_store(&P.stop, 1);
    pthread_cond_broadcast(&P.wake);
    pthread_mutex_unlock(&P.lock);
    for (size_t i = 0; i < P.workers; i++)
        pthread_join(P.thr[i], NULL);
    P.workers = 0;
    atomic_store(&P.stop, 0);
}

mmoe_status mmoe__pool_resize(int n)
{
    mmoe_status st = MMOE_OK;
    if (n < 1)
        return MMOE_FAIL(NULL, MMOE_ERR_INVALID_ARG, "thread count %d < 1", n);
    if (n > MAX_THREADS)
        return MMOE_FAIL(NULL, MMOE_ERR_INVALID_ARG, "thread count %d > %d", n, MAX_THREADS);
    pthread_mutex_lock(&P.resize);
    while (atomic_flag_test_and_set(&P.owner)) /* wait for a running region to end */
        sched_yield();
    if (P.workers + 1 != (size_t)n) {
        stop_workers();
        atomic_store(&P.width, 1);
        unsigned g = atomic_load(&P.gen);
        while (P.workers + 1 < (size_t)n) {
            int rc = pthread_create(&P.thr[P.workers], NULL, worker, (void *)(size_t)g);
            if (rc) {
                st = MMOE_FAIL(NULL, rc == EAGAIN ? MMOE_ERR_NOMEM : MMOE_ERR_INTERNAL,
                               "could not start thread %zu of %d (error %d); running %zu",
                               P.workers + 2, n, rc, P.workers + 1);
                break;
            }
            P.workers++;
        }
        atomic_store(&P.width, P.workers + 1);
    }
    atomic_flag_clear(&P.owner);
    pthread_mutex_unlock(&P.resize);
    return st;
}
