/*
 * Finite-difference gradient checks of the input-stage layers and of whole
 * models with an input stage:
 *   - embeddings (public mmoe_embedding): single ids, bags with padding,
 *     mean and sum pooling, hashed out-of-vocabulary ids;
 *   - CrossNet layers, vector and matrix form (parameters and input);
 *   - DNN layers with and without batch-norm (training mode), and with
 *     dropout under a fixed mask (the stream is reseeded before every pass);
 *   - whole models: embeddings + CrossNet + DNN (+ batch-norm) + MMoE (and
 *     the other bottoms), through mmoe_model_forward / loss / backward.
 *
 * Layer checks use L = sum(r * y) + 0.25 * sum(y^2) for a fixed random r,
 * so dL/dy = r + 0.5 y. The passes run in float32 and L is summed in double;
 * with eps = 1e-2 and smooth (tanh / identity) layers a correct gradient
 * gives normalised errors ~1e-4 (rounding ~6e-8 |L| / eps plus truncation
 * O(eps^2)), a wrong term errors of order 0.1. The bound is 2e-3; batch-norm
 * (whose output is a ratio of batch statistics) gets 5e-3.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gradcheck.h"
#include <mmoe/mmoe.h>

/* ---- checking helper ------------------------------------------------------------------------ */

typedef double (*loss_fn)(void *ctx);

/*
 * Central differences on the entries idx[0..n) of p (entries 0..n-1 when
 * idx is NULL) against the analytic gradient g (indexed like p). Passes
 * when the normalised error ||a - num|| / (||a|| + ||num||) is below tol,
 * or when every |a - num| is below abs_tol: gradients that are truly zero
 * (a bias followed by batch-norm, whose effect the normalisation removes)
 * only carry rounding noise, which no relative test can judge.
 */
static int fd_match(float *p, const float *g, size_t n, const size_t *idx, loss_fn f, void *ctx,
                    double eps, double tol, double abs_tol, const char *what)
{
    double d2 = 0, a2 = 0, n2 = 0, worst = 0;
    size_t wi = 0;
    double wa = 0, wn = 0;
    for (size_t k = 0; k < n; k++) {
        size_t i = idx ? idx[k] : k;
        const float orig = p[i];
        const float hi = orig + (float)eps, lo = orig - (float)eps;
        p[i] = hi;
        double fh = f(ctx);
        p[i] = lo;
        double fl = f(ctx);
        p[i] = orig;
        double num = (fh - fl) / ((double)hi - (double)lo), a = g[i];
        d2 += (a - num) * (a - num);
        a2 += a * a;
        n2 += num * num;
        if (fabs(a - num) >= worst) {
            worst = fabs(a - num);
            wi = i;
            wa = a;
            wn = num;
        }
    }
    double rel = sqrt(d2) / fmax(sqrt(a2) + sqrt(n2), 1e-12);
    int ok = rel < tol || worst < abs_tol;
    print_message("%s%s: err %.2e (max abs %.1e) over %zu entries; worst [%zu] analytic %.6e "
                  "numeric %.6e\n",
                  ok ? "" : "FAIL ", what, rel, worst, n, wi, wa, wn);
    return ok;
}

/* ---- embeddings ------------------------------------------------------------------------------ */

typedef struct emb_ctx {
    mmoe_embedding *e;
    size_t batch, dim;
    const int64_t *ids;
    mmoe_tensor *y;
    float r[64];
} emb_ctx;

static double emb_loss(void *p)
{
    emb_ctx *c = p;
    assert_int_equal(mmoe_embedding_forward(c->e, c->batch, c->ids, c->y), MMOE_OK);
    const float *y = mmoe_tensor_cdata(c->y);
    double s = 0.0;
    for (size_t i = 0; i < c->batch * c->dim; i++)
        s += (double)c->r[i] * y[i] + 0.25 * (double)y[i] * y[i];
    return s;
}

static void check_embedding(size_t slots, mmoe_pooling pool, mmoe_oov oov, const int64_t *ids,
                            size_t batch)
{
    enum { V = 9, DIM = 3 };
    emb_ctx c = {0};
    assert_int_equal(mmoe_embedding_create(V, DIM, slots, pool, oov, 5, &c.e), MMOE_OK);
    c.batch = batch;
    c.dim = DIM;
    c.ids = ids;
    assert_true(batch * DIM <= 64);
    gc_fill_uniform(c.r, batch * DIM, 3, -1.0f, 1.0f);
    assert_int_equal(mmoe_tensor_create_2d((int64_t)batch, DIM, &c.y), MMOE_OK);
    mmoe_tensor *w, *g, *gy;
    assert_int_equal(mmoe_embedding_param(c.e, NULL, &w, &g), MMOE_OK);
    assert_int_equal(mmoe_tensor_create_2d((int64_t)batch, DIM, &gy), MMOE_OK);
    emb_loss(&c);
    const float *y = mmoe_tensor_cdata(c.y);
    for (size_t i = 0; i < batch * DIM; i++)
        mmoe_tensor_data(gy)[i] = c.r[i] + 0.5f * y[i];
    assert_int_equal(mmoe_embedding_zero_grad(c.e), MMOE_OK);
    assert_int_equal(mmoe_embedding_backward(c.e, gy), MMOE_OK);
    float ga[V * DIM];
    memcpy(ga, mmoe_tensor_cdata(g), sizeof ga);
    char rep[256];
    double err = gc_check(mmoe_tensor_data(w), ga, V * DIM, emb_loss, &c, 1e-2, 0, rep, sizeof rep);
    print_message("embedding slots %zu pool %d oov %d: %s\n", slots, (int)pool, (int)oov, rep);
    assert_true(err < 2e-3);
    mmoe_tensor_free(gy);
    mmoe_tensor_free(c.y);
    mmoe_embedding_free(c.e);
}

static void test_grad_embedding(void **state)
{
    (void)state;
    const int64_t single[] = {0, 4, 4, 8, 2};
    check_embedding(1, MMOE_POOL_MEAN, MMOE_OOV_ERROR, single, 5);
    /* Bags of 3 with padding (-1), a repeated id and an all-padding bag. */
    const int64_t bags[] = {1, 2, -1, 3, 3, 5, -1, -1, -1, 7, -1, 0};
    check_embedding(3, MMOE_POOL_MEAN, MMOE_OOV_ERROR, bags, 4);
    check_embedding(3, MMOE_POOL_SUM, MMOE_OOV_ERROR, bags, 4);
    /* Hashed ids beyond the vocabulary. */
    const int64_t hashed[] = {100, 2, 123456789, -1, 9, 4};
    check_embedding(2, MMOE_POOL_MEAN, MMOE_OOV_HASH, hashed, 3);
    check_embedding(1, MMOE_POOL_SUM, MMOE_OOV_HASH, (const int64_t[]){100, 3, 77777}, 3);
}

/* ---- CrossNet and DNN layers --------------------------------------------------------------- */

typedef struct layer_ctx {
    mmoe_layer *layer;
    mmoe_tensor *x, *y, *gy, *gx;
    size_t batch;
    float r[256];
    int reseed; /* reseed the dropout stream before every forward */
} layer_ctx;

static double layer_loss(void *p)
{
    layer_ctx *c = p;
    if (c->reseed)
        assert_int_equal(mmoe_layer_seed_dropout(c->layer, 99), MMOE_OK);
    assert_int_equal(mmoe_layer_forward(c->layer, c->x, c->y), MMOE_OK);
    const float *y = mmoe_tensor_cdata(c->y);
    double s = 0.0;
    for (size_t i = 0; i < mmoe_tensor_numel(c->y); i++)
        s += (double)c->r[i] * y[i] + 0.25 * (double)y[i] * y[i];
    return s;
}

static void check_layer(mmoe_layer *l, size_t batch, int reseed, double tol, const char *what)
{
    layer_ctx c = {0};
    const size_t in = mmoe_layer_in_width(l), out = mmoe_layer_out_width(l);
    c.layer = l;
    c.batch = batch;
    c.reseed = reseed;
    assert_true(batch * out <= 256);
    assert_int_equal(mmoe_tensor_create_2d((int64_t)batch, (int64_t)in, &c.x), MMOE_OK);
    assert_int_equal(mmoe_tensor_create_2d((int64_t)batch, (int64_t)out, &c.y), MMOE_OK);
    assert_int_equal(mmoe_tensor_create_2d((int64_t)batch, (int64_t)out, &c.gy), MMOE_OK);
    assert_int_equal(mmoe_tensor_create_2d((int64_t)batch, (int64_t)in, &c.gx), MMOE_OK);
    gc_fill_uniform(mmoe_tensor_data(c.x), batch * in, 21, -1.0f, 1.0f);
    gc_fill_uniform(c.r, batch * out, 22, -1.0f, 1.0f);
    /* Non-zero biases / betas so nothing sits at a symmetric point. */
    for (size_t i = 0; i < mmoe_layer_param_count(l); i++) {
        const char *name;
        mmoe_tensor *v;
        assert_int_equal(mmoe_layer_param(l, i, &name, &v, NULL), MMOE_OK);
        if (strstr(name, "bias") || strstr(name, "beta"))
            gc_fill_uniform(mmoe_tensor_data(v), mmoe_tensor_numel(v), 30 + (unsigned)i, -0.3f,
                            0.3f);
        if (strstr(name, "gamma"))
            gc_fill_uniform(mmoe_tensor_data(v), mmoe_tensor_numel(v), 40 + (unsigned)i, 0.5f,
                            1.5f);
    }
    layer_loss(&c);
    const float *y = mmoe_tensor_cdata(c.y);
    for (size_t i = 0; i < batch * out; i++)
        mmoe_tensor_data(c.gy)[i] = c.r[i] + 0.5f * y[i];
    assert_int_equal(mmoe_layer_zero_grad(l), MMOE_OK);
    assert_int_equal(mmoe_layer_backward(l, c.gy, c.gx), MMOE_OK);
    char rep[256];
    for (size_t i = 0; i < mmoe_layer_param_count(l); i++) {
        const char *name;
        mmoe_tensor *v, *g;
        assert_int_equal(mmoe_layer_param(l, i, &name, &v, &g), MMOE_OK);
        size_t n = mmoe_tensor_numel(v);
        float *ga = malloc(n * sizeof *ga);
        assert_non_null(ga);
        memcpy(ga, mmoe_tensor_cdata(g), n * sizeof *ga);
        char label[128];
        snprintf(label, sizeof label, "%s %s", what, name);
        assert_true(
            fd_match(mmoe_tensor_data(v), ga, n, NULL, layer_loss, &c, 1e-2, tol, 1e-4, label));
        free(ga);
    }
    float *gxa = malloc(batch * in * sizeof *gxa);
    assert_non_null(gxa);
    memcpy(gxa, mmoe_tensor_cdata(c.gx), batch * in * sizeof *gxa);
    double err = gc_check_input(mmoe_tensor_data(c.x), gxa, batch * in, layer_loss, &c, 1e-2, 150,
                                rep, sizeof rep);
    print_message("%s input: %s\n", what, rep);
    assert_true(err < tol);
    free(gxa);
    mmoe_tensor_free(c.x);
    mmoe_tensor_free(c.y);
    mmoe_tensor_free(c.gy);
    mmoe_tensor_free(c.gx);
}

static void test_grad_crossnet(void **state)
{
    (void)state;
    mmoe_layer *l;
    assert_int_equal(mmoe_layer_crossnet_create(6, 3, MMOE_CROSS_VECTOR, 4, &l), MMOE_OK);
    assert_int_equal(mmoe_layer_get_kind(l), MMOE_LAYER_CROSSNET);
    assert_int_equal(mmoe_layer_out_width(l), 6);
    check_layer(l, 5, 0, 2e-3, "cross vector");
    mmoe_layer_free(l);
    assert_int_equal(mmoe_layer_crossnet_create(6, 3, MMOE_CROSS_MATRIX, 4, &l), MMOE_OK);
    check_layer(l, 5, 0, 2e-3, "cross matrix");
    /* Batch 1 takes the matrix-vector BLAS path. */
    check_layer(l, 1, 0, 2e-3, "cross matrix batch 1");
    mmoe_layer_free(l);
}

static void test_grad_dnn(void **state)
{
    (void)state;
    mmoe_layer *l;
    const size_t w[] = {7, 4};
    assert_int_equal(mmoe_layer_dnn_create(5, 2, w, MMOE_ACT_TANH, 0, 0.0, 8, &l), MMOE_OK);
    assert_int_equal(mmoe_layer_get_kind(l), MMOE_LAYER_DNN);
    assert_int_equal(mmoe_layer_state_count(l), 0);
    check_layer(l, 6, 0, 2e-3, "dnn");
    mmoe_layer_free(l);

    assert_int_equal(mmoe_layer_dnn_create(5, 2, w, MMOE_ACT_TANH, 1, 0.0, 8, &l), MMOE_OK);
    assert_int_equal(mmoe_layer_param_count(l), 8);
    assert_int_equal(mmoe_layer_state_count(l), 4);
    check_layer(l, 6, 0, 5e-3, "dnn bn");
    mmoe_layer_free(l);

    /* Dropout with a fixed mask (reseeded before each pass), with and without batch-norm. */
    assert_int_equal(mmoe_layer_dnn_create(5, 2, w, MMOE_ACT_TANH, 0, 0.3, 8, &l), MMOE_OK);
    check_layer(l, 6, 1, 2e-3, "dnn dropout");
    mmoe_layer_free(l);
    assert_int_equal(mmoe_layer_dnn_create(5, 2, w, MMOE_ACT_SIGMOID, 1, 0.3, 8, &l), MMOE_OK);
    check_layer(l, 6, 1, 5e-3, "dnn bn dropout");
    mmoe_layer_free(l);
}

/* ---- whole models -------------------------------------------------------------------------- */

enum { MB = 7, MD = 3, MAX_IDS = 8 };

typedef struct model_ctx {
    mmoe_model *m;
    size_t T, n_ids;
    float x[MB * MD];
    int64_t ids[MB * MAX_IDS];
    float y[MB * 4];
    float w[MB];
} model_ctx;

static double model_loss(void *p)
{
    model_ctx *c = p;
    float total = 0.0f;
    assert_int_equal(mmoe_model_forward(c->m, MB, c->x, c->ids), MMOE_OK);
    assert_int_equal(mmoe_model_loss(c->m, c->y, c->w, NULL, &total), MMOE_OK);
    return total;
}

/* The documented hash of out-of-vocabulary ids (splitmix64 finaliser, mod vocab). */
static uint64_t hash_row(uint64_t id, uint64_t vocab)
{
    if (id < vocab)
        return id;
    uint64_t z = id;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return (z ^ (z >> 31)) % vocab;
}

static void set(mmoe_config *cfg, const char *key, const char *value)
{
    assert_int_equal(mmoe_config_set(cfg, key, value), MMOE_OK);
}

/*
 * Sparse features: f0 single id (vocab 6, dim 2), f1 bag of 3 mean
 * (vocab 5, dim 3, hashed), f2 bag of 4 sum (vocab 7, dim 2).
 */
static void check_model(mmoe_arch arch, size_t cross, const char *form, const char *dnn, int bn)
{
    mmoe_config *cfg;
    assert_int_equal(mmoe_config_create(&cfg), MMOE_OK);
    assert_int_equal(mmoe_config_set_arch(cfg, arch), MMOE_OK);
    assert_int_equal(mmoe_config_set_int(cfg, "input.dense", MD), MMOE_OK);
    size_t ew[1] = {5};
    assert_int_equal(mmoe_config_set_experts(cfg, 3, 1, ew, MMOE_ACT_TANH), MMOE_OK);
    assert_int_equal(mmoe_config_set_int(cfg, "seed", 3), MMOE_OK);
    set(cfg, "input.sparse", "3");
    set(cfg, "sparse.0.vocab", "6");
    set(cfg, "sparse.0.dim", "2");
    set(cfg, "sparse.1.vocab", "5");
    set(cfg, "sparse.1.dim", "3");
    set(cfg, "sparse.1.slots", "3");
    set(cfg, "sparse.1.oov", "hash");
    set(cfg, "sparse.2.vocab", "7");
    set(cfg, "sparse.2.dim", "2");
    set(cfg, "sparse.2.slots", "4");
    set(cfg, "sparse.2.pooling", "sum");
    assert_int_equal(mmoe_config_set_int(cfg, "cross.layers", (int64_t)cross), MMOE_OK);
    set(cfg, "cross.form", form);
    set(cfg, "dnn.layers", dnn);
    set(cfg, "dnn.activation", "tanh");
    set(cfg, "dnn.batchnorm", bn ? "1" : "0");
    size_t tw[1] = {3};
    assert_int_equal(
        mmoe_config_add_task(cfg, "reg", MMOE_TASK_REGRESSION, 1, tw, MMOE_ACT_TANH, 1.0f),
        MMOE_OK);
    assert_int_equal(
        mmoe_config_add_task(cfg, "bin", MMOE_TASK_BINARY, 0, NULL, MMOE_ACT_TANH, 0.7f), MMOE_OK);
    model_ctx c;
    memset(&c, 0, sizeof c);
    c.T = 2;
    assert_int_equal(mmoe_model_create(cfg, &c.m), MMOE_OK);
    c.n_ids = mmoe_model_num_ids(c.m);
    assert_int_equal(c.n_ids, 1 + 3 + 4);
    gc_fill_uniform(c.x, MB * MD, 51, -1.0f, 1.0f);
    gc_fill_uniform(c.w, MB, 52, 0.3f, 1.5f);
    gc_fill_uniform(c.y, MB * 2, 53, 0.0f, 1.0f);
    const int64_t ids[MB * 8] = {
        0, 1,  2,  -1, 3,  3,  -1, 6,  /* f0 0; f1 {1,2}; f2 {3,3,6} */
        5, 40, -1, -1, 0,  1,  2,  4,  /* f1 {40 hashed} */
        2, -1, -1, -1, -1, -1, -1, -1, /* empty bags */
        2, 4,  4,  4,  6,  -1, 5,  -1, 1, 0,    99,   3,    1, 1, 1, 1,
        4, 2,  -1, 1,  2,  -1, -1, 0,  0, 1000, 1001, 1002, 5, 4, 3, 2,
    };
    memcpy(c.ids, ids, sizeof ids);
    /* Random biases, betas and gammas (no symmetric points). */
    for (size_t i = 0; i < mmoe_model_param_count(c.m); i++) {
        const char *name;
        mmoe_tensor *v;
        assert_int_equal(mmoe_model_param(c.m, i, &name, &v, NULL), MMOE_OK);
        if (strstr(name, "bias") || strstr(name, "beta"))
            gc_fill_uniform(mmoe_tensor_data(v), mmoe_tensor_numel(v), 60 + (unsigned)i, -0.3f,
                            0.3f);
        if (strstr(name, "gamma"))
            gc_fill_uniform(mmoe_tensor_data(v), mmoe_tensor_numel(v), 70 + (unsigned)i, 0.5f,
                            1.5f);
    }
    model_loss(&c);
    assert_int_equal(mmoe_model_zero_grad(c.m), MMOE_OK);
    assert_int_equal(mmoe_model_backward(c.m), MMOE_OK);

    /*
     * Every parameter tensor; embedding tables only on the rows the batch
     * uses (all used entries of a table in one check), and the other rows
     * must have an exactly zero gradient. eps = 3e-3: batch-norm makes the
     * loss curved enough that eps = 1e-2 carries visible truncation error.
     */
    const uint64_t vocab[3] = {6, 5, 7};
    const size_t first[3] = {0, 1, 4}, slots[3] = {1, 3, 4};
    static size_t idx[64];
    for (size_t i = 0; i < mmoe_model_param_count(c.m); i++) {
        const char *name;
        mmoe_tensor *v, *g;
        assert_int_equal(mmoe_model_param(c.m, i, &name, &v, &g), MMOE_OK);
        size_t n = mmoe_tensor_numel(v);
        float *ga = malloc(n * sizeof *ga);
        assert_non_null(ga);
        memcpy(ga, mmoe_tensor_cdata(g), n * sizeof *ga);
        unsigned k;
        char label[160];
        snprintf(label, sizeof label, "arch %d %s", (int)arch, name);
        if (sscanf(name, "input.embeddings.%u.weight", &k) == 1) {
            assert_true(k < 3);
            size_t dim = (size_t)mmoe_tensor_dim(v, 1), m = 0;
            int used[8] = {0};
            for (size_t r = 0; r < MB; r++)
                for (size_t s = 0; s < slots[k]; s++) {
                    int64_t id = c.ids[r * c.n_ids + first[k] + s];
                    if (id >= 0)
                        used[hash_row((uint64_t)id, vocab[k])] = 1;
                }
            for (size_t row = 0; row < vocab[k]; row++)
                for (size_t j = 0; j < dim; j++) {
                    if (used[row])
                        idx[m++] = row * dim + j;
                    else
                        assert_true(ga[row * dim + j] == 0.0f);
                }
            assert_true(
                fd_match(mmoe_tensor_data(v), ga, m, idx, model_loss, &c, 3e-3, 5e-3, 1e-4, label));
        } else {
            /* At most 40 evenly spread entries of large tensors. */
            size_t m = 0, step = n > 40 ? n / 40 : 1;
            for (size_t e = 0; e < n && m < 64; e += step)
                idx[m++] = e;
            assert_true(
                fd_match(mmoe_tensor_data(v), ga, m, idx, model_loss, &c, 3e-3, 5e-3, 1e-4, label));
        }
        free(ga);
    }
    print_message("model arch %d cross %zu %s dnn '%s' bn %d: %zu tensors checked\n", (int)arch,
                  cross, form, dnn, bn, mmoe_model_param_count(c.m));
    mmoe_model_free(c.m);
    mmoe_config_free(cfg);
}

static void test_grad_model_mmoe(void **state)
{
    (void)state;
    check_model(MMOE_ARCH_MMOE, 2, "vector", "6,5", 1);
    check_model(MMOE_ARCH_MMOE, 2, "matrix", "6", 0);
    check_model(MMOE_ARCH_MMOE, 0, "vector", "", 0);  /* embeddings only */
    check_model(MMOE_ARCH_MMOE, 1, "vector", "", 0);  /* embeddings + CrossNet */
    check_model(MMOE_ARCH_MMOE, 0, "vector", "4", 1); /* embeddings + DNN */
}

static void test_grad_model_baselines(void **state)
{
    (void)state;
    check_model(MMOE_ARCH_OMOE, 1, "vector", "5", 1);
    check_model(MMOE_ARCH_SHARED_BOTTOM, 1, "matrix", "5", 0);
    check_model(MMOE_ARCH_SINGLE_TASK, 1, "vector", "5", 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grad_embedding),
        cmocka_unit_test(test_grad_crossnet),
        cmocka_unit_test(test_grad_dnn),
        cmocka_unit_test(test_grad_model_mmoe),
        cmocka_unit_test(test_grad_model_baselines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
