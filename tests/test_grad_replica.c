/*
 * Gradients of the replica hooks (mmoe/parallel.h), without MPI:
 *
 *   fed rows        a model holding shard 0 of 2 of every table trains on
 *                   rows fed in: the fed rows' gradients match central
 *                   differences of the loss in the fed vectors, and equal the
 *                   unsharded model's table gradients bit for bit;
 *   replicated BN   two replicas (threads) joined by a reducer, with
 *                   batch-norm and uneven batches: the weighted gradient
 *                   sum_r (B_r / B) g_r matches central differences of the
 *                   global loss sum_r (B_r / B) L_r, and one model on both
 *                   batches gives the same loss, gradients and statistics;
 *   grad ready      for every architecture (with tables, an input DNN with
 *                   batch-norm, and L2-Constrained's penalty on and off),
 *                   the backward-progress callback reports contiguous
 *                   descending ranges covering the flat buffer once, each
 *                   range's gradients are final when reported (a snapshot
 *                   taken in the callback equals the end result bit for
 *                   bit), gradients equal those of a backward without the
 *                   callback, and a failing callback stops the reports and
 *                   makes backward return its status with full gradients.
 */
#if !defined(_POSIX_C_SOURCE) || _POSIX_C_SOURCE < 200809L
#    undef _POSIX_C_SOURCE
#    define _POSIX_C_SOURCE 200809L
#endif

#include <math.h>
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

#include "gradcheck.h"

enum { D = 3, T = 2, NID = 4, MAXB = 16 };

static mmoe_config *make_config(const char *dnn, int bn)
{
    mmoe_config *c;
    assert_int_equal(mmoe_config_create(&c), MMOE_OK);
    assert_int_equal(mmoe_config_set_int(c, "input.dense", D), MMOE_OK);
    assert_int_equal(mmoe_config_set_experts(c, 3, 1, (size_t[]){5}, MMOE_ACT_TANH), MMOE_OK);
    assert_int_equal(
        mmoe_config_add_task(c, "a", MMOE_TASK_BINARY, 1, (size_t[]){3}, MMOE_ACT_TANH, 1.0f),
        MMOE_OK);
    assert_int_equal(
        mmoe_config_add_task(c, "b", MMOE_TASK_REGRESSION, 1, (size_t[]){3}, MMOE_ACT_TANH, 0.7f),
        MMOE_OK);
    const char *kv[][2] = {
        {"seed", "5"},           {"input.sparse", "2"},    {"sparse.0.vocab", "6"},
        {"sparse.0.dim", "2"},   {"sparse.1.vocab", "5"},  {"sparse.1.dim", "3"},
        {"sparse.1.slots", "3"}, {"sparse.1.oov", "hash"}, {"dnn.layers", dnn},
    };
    for (size_t i = 0; i < sizeof kv / sizeof *kv; i++)
        assert_int_equal(mmoe_config_set(c, kv[i][0], kv[i][1]), MMOE_OK);
    assert_int_equal(mmoe_config_set_int(c, "dnn.batchnorm", bn), MMOE_OK);
    return c;
}

typedef struct data {
    size_t B;
    float x[MAXB * D], y[MAXB * T], w[MAXB];
    int64_t ids[MAXB * NID];
} data;

static void make_data(data *d, size_t B, unsigned seed)
{
    d->B = B;
    gc_fill_uniform(d->x, B * D, seed, -1.0f, 1.0f);
    gc_fill_uniform(d->w, B, seed + 1, 0.5f, 1.5f);
    float u[MAXB * NID];
    gc_fill_uniform(u, B * NID, seed + 2, 0.0f, 1.0f);
    for (size_t r = 0; r < B; r++) {
        d->ids[r * NID] = (int64_t)(u[r * NID] * 6.0f) % 6;
        for (size_t s = 1; s < NID; s++) {
            float v = u[r * NID + s];
            d->ids[r * NID + s] = v < 0.2f ? -1 : (int64_t)(v * 9.0f); /* padding; some hashed */
        }
        d->y[r * T] = d->x[r * D] > 0.0f ? 1.0f : 0.0f;
        d->y[r * T + 1] = d->x[r * D + 1] - d->x[r * D + 2];
    }
}

/* ---- fed rows -------------------------------------------------------------------------------- */

typedef struct fed_ctx {
    mmoe_model *m;
    const data *d;
    int64_t rows[2][MAXB * NID];
    size_t n[2];
    float vec[2][MAXB * NID * 3];
} fed_ctx;

static double fed_loss(void *p)
{
    fed_ctx *c = p;
    float total = 0.0f;
    for (size_t k = 0; k < 2; k++)
        assert_int_equal(mmoe_model_feed_rows(c->m, k, c->n[k], c->rows[k], c->vec[k]), MMOE_OK);
    assert_int_equal(mmoe_model_forward(c->m, c->d->B, c->d->x, c->d->ids), MMOE_OK);
    assert_int_equal(mmoe_model_loss(c->m, c->d->y, c->d->w, NULL, &total), MMOE_OK);
    return total;
}

static void test_grad_fed_rows(void **state)
{
    (void)state;
    mmoe_config *cfg = make_config("4", 0);
    mmoe_model *full, *shard;
    assert_int_equal(mmoe_model_create(cfg, &full), MMOE_OK);
    assert_int_equal(mmoe_model_create_sharded(cfg, 2, (unsigned char[]){1, 1}, 0, 2, &shard),
                     MMOE_OK);
    static data d;
    make_data(&d, 9, 11);
    static fed_ctx c;
    c.m = shard;
    c.d = &d;
    float *fp, *sp;
    size_t fn, sn;
    mmoe_model_flat(full, &fp, NULL, &fn);
    mmoe_model_flat(shard, &sp, NULL, &sn);
    for (size_t k = 0; k < 2; k++) {
        size_t dim, off, local, rank, world, foff;
        uint64_t vocab;
        assert_int_equal(mmoe_model_table(shard, k, &vocab, &dim, &off, &local, &rank, &world),
                         MMOE_OK);
        assert_int_equal(mmoe_model_table(full, k, NULL, NULL, &foff, NULL, NULL, NULL), MMOE_OK);
        assert_int_equal(world, 2);
        assert_int_equal(local, (size_t)(vocab + 1) / 2); /* rows 0, 2, 4, ... */
        /* the shard's rows equal the unsharded table's even rows */
        for (size_t i = 0; i < local * dim; i++)
            assert_true(sp[off + i] == fp[foff + (i / dim) * 2 * dim + i % dim]);
        assert_int_equal(
            mmoe_model_batch_rows(shard, k, d.B, d.ids, c.rows[k], MAXB * NID, &c.n[k]), MMOE_OK);
        for (size_t i = 0; i < c.n[k]; i++)
            memcpy(c.vec[k] + i * dim, fp + foff + (size_t)c.rows[k][i] * dim, dim * sizeof(float));
    }
    /* a batch that uses an odd row without feeding it is refused */
    assert_int_equal(mmoe_model_forward(shard, d.B, d.x, d.ids), MMOE_ERR_STATE);
    /* one process, unsharded: the reference */
    float lf = 0.0f;
    assert_int_equal(mmoe_model_forward(full, d.B, d.x, d.ids), MMOE_OK);
    assert_int_equal(mmoe_model_loss(full, d.y, d.w, NULL, &lf), MMOE_OK);
    assert_int_equal(mmoe_model_zero_grad(full), MMOE_OK);
    assert_int_equal(mmoe_model_backward(full), MMOE_OK);
    double ls = fed_loss(&c);
    assert_true((float)ls == lf);
    assert_int_equal(mmoe_model_zero_grad(shard), MMOE_OK);
    assert_int_equal(mmoe_model_backward(shard), MMOE_OK);
    float *fg;
    mmoe_model_flat(full, NULL, &fg, NULL);
    static float ga[2][MAXB * NID * 3];
    size_t nf[2], dims[2];
    for (size_t k = 0; k < 2; k++) {
        const int64_t *rows;
        const float *g;
        size_t foff;
        assert_int_equal(mmoe_model_fed_grads(shard, k, &rows, &g, &nf[k]), MMOE_OK);
        assert_int_equal(nf[k], c.n[k]);
        mmoe_model_table(full, k, NULL, &dims[k], &foff, NULL, NULL, NULL);
        for (size_t i = 0; i < nf[k] * dims[k]; i++)
            assert_true(g[i] == fg[foff + (size_t)rows[i / dims[k]] * dims[k] + i % dims[k]]);
        memcpy(ga[k], g, nf[k] * dims[k] * sizeof(float));
    }
    /* the shard's own table gradient stays zero: all its rows were fed */
    float *sg;
    mmoe_model_flat(shard, NULL, &sg, NULL);
    for (size_t k = 0; k < 2; k++) {
        size_t dim, off, local;
        mmoe_model_table(shard, k, NULL, &dim, &off, &local, NULL, NULL);
        for (size_t i = 0; i < local * dim; i++)
            assert_true(sg[off + i] == 0.0f);
    }
    for (size_t k = 0; k < 2; k++) {
        char report[256];
        double err = gc_check(c.vec[k], ga[k], nf[k] * dims[k], fed_loss, &c, 1e-2, 0, report,
                              sizeof report);
        print_message("fed rows, table %zu: %s\n", k, report);
        assert_true(err < 2e-3);
    }
    /* a shard cannot predict or be saved */
    mmoe_workspace *ws = NULL;
    assert_int_equal(mmoe_workspace_create(shard, 4, &ws), MMOE_ERR_UNSUPPORTED);
    void *buf = NULL;
    size_t len = 0;
    assert_int_equal(mmoe_model_save_buffer(shard, &buf, &len), MMOE_ERR_UNSUPPORTED);
    mmoe_model_free(full);
    mmoe_model_free(shard);
    mmoe_config_free(cfg);
}

/* ---- two replicas joined by a reducer (threads) ------------------------------------------ */

typedef struct group {
    pthread_barrier_t bar;
    const double *slot[2];
} group;

typedef struct replica {
    group *g;
    int id;
    mmoe_model *m;
    const data *d;
    float loss;
    mmoe_status st;
    int backward;
    double tmp[256];
} replica;

static mmoe_status reduce2(void *ctx, double *v, size_t n)
{
    replica *me = ctx;
    if (n > 256)
        return MMOE_ERR_OVERFLOW;
    me->g->slot[me->id] = v;
    pthread_barrier_wait(&me->g->bar);
    for (size_t i = 0; i < n; i++)
        me->tmp[i] = me->g->slot[0][i] + me->g->slot[1][i];
    pthread_barrier_wait(&me->g->bar);
    memcpy(v, me->tmp, n * sizeof *v);
    return MMOE_OK;
}

static void *run_replica(void *p)
{
    replica *r = p;
    const data *d = r->d;
    r->st = mmoe_model_forward(r->m, d->B, d->x, d->ids);
    if (r->st == MMOE_OK)
        r->st = mmoe_model_loss(r->m, d->y, d->w, NULL, &r->loss);
    if (r->st == MMOE_OK && r->backward) {
        mmoe_model_zero_grad(r->m);
        r->st = mmoe_model_backward(r->m);
    }
    return NULL;
}

typedef struct pair {
    replica r[2];
    double share[2];
} pair;

/* Both replicas' pass at once; returns the global loss. Replica 1 gets replica 0's parameters. */
static double run_pair(pair *p, int backward)
{
    float *a, *b;
    size_t n;
    mmoe_model_flat(p->r[0].m, &a, NULL, &n);
    mmoe_model_flat(p->r[1].m, &b, NULL, NULL);
    memcpy(b, a, n * sizeof *b);
    p->r[0].backward = p->r[1].backward = backward;
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, run_replica, &p->r[1]), 0);
    run_replica(&p->r[0]);
    pthread_join(t, NULL);
    assert_int_equal(p->r[0].st, MMOE_OK);
    assert_int_equal(p->r[1].st, MMOE_OK);
    return p->share[0] * p->r[0].loss + p->share[1] * p->r[1].loss;
}

static double pair_loss(void *ctx)
{
    return run_pair(ctx, 0);
}

static void test_grad_replicated_batchnorm(void **state)
{
    (void)state;
    mmoe_config *cfg = make_config("6,5", 1);
    static data d[2], both;
    make_data(&d[0], 4, 21);
    make_data(&d[1], 7, 31);
    /* both batches in one */
    both.B = 11;
    memcpy(both.x, d[0].x, 4 * D * sizeof(float));
    memcpy(both.x + 4 * D, d[1].x, 7 * D * sizeof(float));
    memcpy(both.y, d[0].y, 4 * T * sizeof(float));
    memcpy(both.y + 4 * T, d[1].y, 7 * T * sizeof(float));
    memcpy(both.w, d[0].w, 4 * sizeof(float));
    memcpy(both.w + 4, d[1].w, 7 * sizeof(float));
    memcpy(both.ids, d[0].ids, 4 * NID * sizeof(int64_t));
    memcpy(both.ids + 4 * NID, d[1].ids, 7 * NID * sizeof(int64_t));

    static group g;
    static pair p;
    pthread_barrier_init(&g.bar, NULL, 2);
    for (int i = 0; i < 2; i++) {
        p.r[i].g = &g;
        p.r[i].id = i;
        p.r[i].d = &d[i];
        p.share[i] = (double)d[i].B / 11.0;
        assert_int_equal(mmoe_model_create(cfg, &p.r[i].m), MMOE_OK);
        assert_int_equal(mmoe_model_set_reducer(p.r[i].m, reduce2, &p.r[i]), MMOE_OK);
    }
    mmoe_model *one;
    assert_int_equal(mmoe_model_create(cfg, &one), MMOE_OK);
    float lone = 0.0f;
    assert_int_equal(mmoe_model_forward(one, both.B, both.x, both.ids), MMOE_OK);
    assert_int_equal(mmoe_model_loss(one, both.y, both.w, NULL, &lone), MMOE_OK);
    assert_int_equal(mmoe_model_zero_grad(one), MMOE_OK);
    assert_int_equal(mmoe_model_backward(one), MMOE_OK);

    double global = run_pair(&p, 1);
    float *g0, *g1, *go, *params;
    size_t n;
    mmoe_model_flat(p.r[0].m, &params, &g0, &n);
    mmoe_model_flat(p.r[1].m, NULL, &g1, NULL);
    mmoe_model_flat(one, NULL, &go, NULL);
    float *gsum = malloc(n * sizeof *gsum);
    assert_non_null(gsum);
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        gsum[i] = (float)(p.share[0] * g0[i] + p.share[1] * g1[i]);
        worst = fmax(worst, fabs((double)gsum[i] - (double)go[i]) / (1e-3 + fabs((double)go[i])));
    }
    print_message("replicated batch-norm: loss %.7g vs one process %.7g; max rel grad diff %.3g\n",
                  global, (double)lone, worst);
    assert_true(fabs(global - (double)lone) < 1e-5 * (1.0 + fabs((double)lone)));
    assert_true(worst < 1e-4);
    /* running statistics moved the same in both replicas and the single model */
    float *s0, *s1, *so;
    size_t ns;
    mmoe_model_stats(p.r[0].m, &s0, &ns);
    mmoe_model_stats(p.r[1].m, &s1, NULL);
    mmoe_model_stats(one, &so, NULL);
    assert_true(ns > 0);
    for (size_t i = 0; i < ns; i++) {
        assert_true(s0[i] == s1[i]);
        assert_true(fabs((double)s0[i] - (double)so[i]) < 1e-5 * (1.0 + fabs((double)so[i])));
    }
    /* central differences of the global loss (statistics move on every pass; they do not
     * enter a training pass, which uses the batch's own statistics) */
    char report[256];
    double err = gc_check(params, gsum, n, pair_loss, &p, 3e-3, 60, report, sizeof report);
    print_message("replicated batch-norm: %s\n", report);
    assert_true(err < 5e-3);
    free(gsum);
    for (int i = 0; i < 2; i++)
        mmoe_model_free(p.r[i].m);
    mmoe_model_free(one);
    pthread_barrier_destroy(&g.bar);
    mmoe_config_free(cfg);
}

/* ---- backward progress ---------------------------------------------------------------------- */

typedef struct ready_log {
    const float *grads;
    float *snap;
    size_t n_params, calls, end, fail_at;
    int bad; /* a range out of order */
} ready_log;

static mmoe_status on_ready(void *ctx, size_t offset, size_t n)
{
    ready_log *l = ctx;
    if (n == 0 || offset + n != l->end || offset + n > l->n_params)
        l->bad = 1;
    else
        memcpy(l->snap + offset, l->grads + offset, n * sizeof *l->snap);
    l->end = offset;
    l->calls++;
    return l->calls == l->fail_at ? MMOE_ERR_IO : MMOE_OK;
}

/* One backward of m on d with the callback (fail_at: the call that fails, 0 none); returns calls.
 */
static size_t ready_backward(mmoe_model *m, const data *d, ready_log *l, size_t fail_at,
                             mmoe_status expect)
{
    float *g;
    size_t n;
    assert_int_equal(mmoe_model_flat(m, NULL, &g, &n), MMOE_OK);
    l->grads = g;
    l->n_params = n;
    l->snap = calloc(n, sizeof *l->snap);
    assert_non_null(l->snap);
    l->calls = 0;
    l->end = n;
    l->fail_at = fail_at;
    l->bad = 0;
    assert_int_equal(mmoe_model_set_grad_ready(m, on_ready, l), MMOE_OK);
    assert_int_equal(mmoe_model_zero_grad(m), MMOE_OK);
    assert_int_equal(mmoe_model_forward(m, d->B, d->x, d->ids), MMOE_OK);
    assert_int_equal(mmoe_model_loss(m, d->y, d->w, NULL, NULL), MMOE_OK);
    assert_int_equal(mmoe_model_backward(m), expect);
    assert_false(l->bad);
    return l->calls;
}

static void test_grad_ready(void **state)
{
    (void)state;
    data d;
    make_data(&d, 7, 31);
    for (size_t a = 0; a < mmoe_arch_count() + 1; a++) {
        /* the extra round: L2-Constrained without its penalty (lambda 0) */
        mmoe_arch arch = a < mmoe_arch_count() ? (mmoe_arch)a : MMOE_ARCH_L2_CONSTRAINED;
        mmoe_config *c = make_config("4", 1);
        assert_int_equal(mmoe_config_set_arch(c, arch), MMOE_OK);
        if (a == mmoe_arch_count())
            assert_int_equal(mmoe_config_set(c, "l2.lambda", "0"), MMOE_OK);
        mmoe_model *ref, *m;
        if (mmoe_model_create(c, &ref) != MMOE_OK)
            fail_msg("%s: %s", mmoe_arch_name(arch), mmoe_last_error());
        assert_int_equal(mmoe_model_create(c, &m), MMOE_OK);
        mmoe_config_free(c);
        float *g_ref, *g;
        size_t n;
        assert_int_equal(mmoe_model_flat(ref, NULL, &g_ref, &n), MMOE_OK);
        assert_int_equal(mmoe_model_zero_grad(ref), MMOE_OK);
        assert_int_equal(mmoe_model_forward(ref, d.B, d.x, d.ids), MMOE_OK);
        assert_int_equal(mmoe_model_loss(ref, d.y, d.w, NULL, NULL), MMOE_OK);
        assert_int_equal(mmoe_model_backward(ref), MMOE_OK);

        ready_log l;
        size_t calls = ready_backward(m, &d, &l, 0, MMOE_OK);
        assert_int_equal(mmoe_model_flat(m, NULL, &g, NULL), MMOE_OK);
        /* towers, at least one part of the bottom, input: three or more parts, down to 0 */
        if (calls < 3 || l.end != 0)
            fail_msg("%s: %zu calls, last offset %zu", mmoe_arch_name(arch), calls, l.end);
        if (arch == MMOE_ARCH_MMOE && calls < 4) /* gates and expert layers separately */
            fail_msg("MMoE: only %zu parts reported", calls);
        assert_memory_equal(l.snap, g, n * sizeof *g);
        assert_memory_equal(g_ref, g, n * sizeof *g);
        free(l.snap);

        /* the second call fails: no third, backward completes and returns IO */
        calls = ready_backward(m, &d, &l, 2, MMOE_ERR_IO);
        assert_int_equal(calls, 2);
        assert_non_null(strstr(mmoe_model_last_error(m), "callback"));
        assert_memory_equal(g_ref, g, n * sizeof *g);
        free(l.snap);

        /* removed: backward as before, no calls */
        l.calls = 0;
        assert_int_equal(mmoe_model_set_grad_ready(m, NULL, &l), MMOE_OK);
        assert_int_equal(mmoe_model_zero_grad(m), MMOE_OK);
        assert_int_equal(mmoe_model_forward(m, d.B, d.x, d.ids), MMOE_OK);
        assert_int_equal(mmoe_model_loss(m, d.y, d.w, NULL, NULL), MMOE_OK);
        assert_int_equal(mmoe_model_backward(m), MMOE_OK);
        assert_int_equal(l.calls, 0);
        assert_memory_equal(g_ref, g, n * sizeof *g);
        mmoe_model_free(ref);
        mmoe_model_free(m);
    }
    assert_int_equal(mmoe_model_set_grad_ready(NULL, on_ready, NULL), MMOE_ERR_NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grad_fed_rows),
        cmocka_unit_test(test_grad_replicated_batchnorm),
        cmocka_unit_test(test_grad_ready),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
