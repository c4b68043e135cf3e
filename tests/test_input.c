/*
 * Input stage behaviour: id validation (oov error vs hash, negative ids,
 * NULL ids), bag padding and pooling values, batch-norm statistics
 * (training vs inference), dropout only in training, predict equal to the
 * training forward without batch-norm/dropout, lazy sparse optimizer
 * updates (only used embedding rows move; Adam bias correction uses the
 * global step), config round trip with sparse features, and every
 * architecture with an input stage.
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

#include <mmoe/mmoe.h>

static void set(mmoe_config *cfg, const char *key, const char *value)
{
    if (mmoe_config_set(cfg, key, value) != MMOE_OK)
        fail_msg("%s = %s: %s", key, value, mmoe_config_last_error(cfg));
}

/* A 2-task MMoE on `dense` dense columns; the caller adds the input keys. */
static mmoe_config *base_config(size_t dense)
{
    mmoe_config *cfg;
    assert_int_equal(mmoe_config_create(&cfg), MMOE_OK);
    assert_int_equal(mmoe_config_set_int(cfg, "input.dense", (int64_t)dense), MMOE_OK);
    size_t ew[1] = {4};
    assert_int_equal(mmoe_config_set_experts(cfg, 2, 1, ew, MMOE_ACT_RELU), MMOE_OK);
    size_t tw[1] = {3};
    assert_int_equal(mmoe_config_add_task(cfg, "a", MMOE_TASK_BINARY, 1, tw, MMOE_ACT_RELU, 1.0f),
                     MMOE_OK);
    assert_int_equal(
        mmoe_config_add_task(cfg, "b", MMOE_TASK_REGRESSION, 1, tw, MMOE_ACT_RELU, 1.0f), MMOE_OK);
    return cfg;
}

static mmoe_model *make_model(mmoe_config *cfg)
{
    mmoe_model *m = NULL;
    if (mmoe_model_create(cfg, &m) != MMOE_OK)
        fail_msg("model_create: %s", mmoe_last_error());
    return m;
}

/* Index of the named parameter tensor (fails the test when absent). */
static size_t param_index(mmoe_model *m, const char *want)
{
    for (size_t i = 0; i < mmoe_model_param_count(m); i++) {
        const char *name;
        assert_int_equal(mmoe_model_param(m, i, &name, NULL, NULL), MMOE_OK);
        if (strcmp(name, want) == 0)
            return i;
    }
    fail_msg("no parameter %s", want);
    return 0;
}

static mmoe_tensor *param_value(mmoe_model *m, const char *name)
{
    mmoe_tensor *v;
    assert_int_equal(mmoe_model_param(m, param_index(m, name), NULL, &v, NULL), MMOE_OK);
    return v;
}

/* ---- ids ------------------------------------------------------------------------------------- */

static void test_ids_validation(void **state)
{
    (void)state;
    mmoe_config *cfg = base_config(2);
    set(cfg, "input.sparse", "2");
    set(cfg, "sparse.0.name", "city");
    set(cfg, "sparse.0.vocab", "10");
    set(cfg, "sparse.1.name", "tags");
    set(cfg, "sparse.1.vocab", "4");
    set(cfg, "sparse.1.slots", "3");
    mmoe_model *m = make_model(cfg);
    assert_int_equal(mmoe_model_num_ids(m), 4);
    assert_int_equal(mmoe_model_num_ids(NULL), 0);
    assert_int_equal(mmoe_model_input_dim(m), 2);
    float x[4] = {0.1f, 0.2f, 0.3f, 0.4f};
    int64_t ok[8] = {9, 0, 3, -1, 0, -1, -1, -1};
    assert_int_equal(mmoe_model_forward(m, 2, x, ok), MMOE_OK);
    assert_int_equal(mmoe_model_forward(m, 2, x, NULL), MMOE_ERR_NULL);

    /* Out of vocabulary with oov error: the message names row, column and feature. */
    int64_t oov[8] = {9, 0, 3, -1, 10, -1, -1, -1};
    assert_int_equal(mmoe_model_forward(m, 2, x, oov), MMOE_ERR_RANGE);
    const char *msg = mmoe_model_last_error(m);
    assert_non_null(strstr(msg, "city"));
    assert_non_null(strstr(msg, "ids[1][0]"));
    int64_t oov2[8] = {9, 0, 4, -1, 0, -1, -1, -1};
    assert_int_equal(mmoe_model_forward(m, 2, x, oov2), MMOE_ERR_RANGE);
    assert_non_null(strstr(mmoe_model_last_error(m), "tags"));
    assert_non_null(strstr(mmoe_model_last_error(m), "ids[0][2]"));
    /* A negative single id is an error; negative ids in bags are padding. */
    int64_t neg[8] = {-1, 0, 1, 2, 0, 1, 2, 3};
    assert_int_equal(mmoe_model_forward(m, 2, x, neg), MMOE_ERR_RANGE);
    assert_non_null(strstr(mmoe_model_last_error(m), "negative"));

    /* predict: same checks, messages in the workspace. */
    mmoe_workspace *ws;
    assert_int_equal(mmoe_workspace_create(m, 4, &ws), MMOE_OK);
    float out[4];
    assert_int_equal(mmoe_model_predict(m, ws, 2, x, oov, out), MMOE_ERR_RANGE);
    assert_non_null(strstr(mmoe_workspace_last_error(ws), "city"));
    assert_int_equal(mmoe_model_predict(m, ws, 2, x, ok, out), MMOE_OK);
    mmoe_workspace_free(ws);
    mmoe_model_free(m);
    mmoe_config_free(cfg);

    /* Ids for a model without sparse features. */
    cfg = base_config(2);
    m = make_model(cfg);
    assert_int_equal(mmoe_model_num_ids(m), 0);
    assert_int_equal(mmoe_model_forward(m, 2, x, ok), MMOE_ERR_INVALID_ARG);
    assert_int_equal(mmoe_model_forward(m, 2, x, NULL), MMOE_OK);
    mmoe_model_free(m);
    mmoe_config_free(cfg);
}

/* The documented hash: splitmix64 finaliser mod vocab for ids >= vocab. */
static int64_t hash_row(int64_t id, uint64_t vocab)
{
    if ((uint64_t)id < vocab)
        return id;
    uint64_t z = (uint64_t)id;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return (int64_t)((z ^ (z >> 31)) % vocab);
}

static void test_oov_hash(void **state)
{
    (void)state;
    mmoe_config *cfg = base_config(1);
    set(cfg, "input.sparse", "1");
    set(cfg, "sparse.0.vocab", "13");
    set(cfg, "sparse.0.oov", "hash");
    mmoe_model *m = make_model(cfg);
    mmoe_workspace *ws;
    assert_int_equal(mmoe_workspace_create(m, 8, &ws), MMOE_OK);
    const int64_t big[4] = {13, 1000, 123456789012LL, INT64_MAX};
    int64_t mapped[4];
    for (int i = 0; i < 4; i++) {
        mapped[i] = hash_row(big[i], 13);
        assert_true(mapped[i] >= 0 && mapped[i] < 13);
    }
    float x[4] = {0.5f, -0.5f, 1.0f, 0.0f}, a[8], b[8];
    assert_int_equal(mmoe_model_predict(m, ws, 4, x, big, a), MMOE_OK);
    assert_int_equal(mmoe_model_predict(m, ws, 4, x, mapped, b), MMOE_OK);
    assert_memory_equal(a, b, sizeof a);
    /* Negative single ids stay errors with hashing. */
    int64_t neg[4] = {1, 2, -5, 3};
    assert_int_equal(mmoe_model_predict(m, ws, 4, x, neg, a), MMOE_ERR_RANGE);
    mmoe_workspace_free(ws);
    mmoe_model_free(m);
    mmoe_config_free(cfg);
}

/* ---- pooling -----------------------------------------------------------------------------------
 */

static void test_embedding_pooling_values(void **state)
{
    (void)state;
    mmoe_embedding *e;
    assert_int_equal(mmoe_embedding_create(4, 2, 3, MMOE_POOL_MEAN, MMOE_OOV_ERROR, 1, &e),
                     MMOE_OK);
    mmoe_tensor *w, *g;
    const char *name;
    assert_int_equal(mmoe_embedding_param(e, &name, &w, &g), MMOE_OK);
    assert_string_equal(name, "weight");
    assert_int_equal(mmoe_tensor_dim(w, 0), 4);
    assert_int_equal(mmoe_tensor_dim(w, 1), 2);
    const float table[8] = {1, 2, 10, 20, 100, 200, -4, 8};
    assert_int_equal(mmoe_tensor_copy_from(w, table, 8), MMOE_OK);
    const int64_t ids[12] = {0,  1,  -1,  /* mean {1,2},{10,20} -> {5.5, 11} */
                             -1, -1, -1,  /* all padding -> 0 */
                             3,  3,  2,   /* {-4,8}x2 + {100,200} -> {92/3, 216/3} */
                             -7, 2,  -2}; /* a single valid id */
    mmoe_tensor *y, *gy;
    assert_int_equal(mmoe_tensor_create_2d(4, 2, &y), MMOE_OK);
    assert_int_equal(mmoe_tensor_create_2d(4, 2, &gy), MMOE_OK);
    assert_int_equal(mmoe_embedding_forward(e, 4, ids, y), MMOE_OK);
    const float *o = mmoe_tensor_cdata(y);
    const float want[8] = {5.5f, 11.0f, 0, 0, 92.0f / 3.0f, 72.0f, 100, 200};
    for (int i = 0; i < 8; i++)
        assert_true(fabsf(o[i] - want[i]) < 1e-4f);
    /* Backward: mean spreads 1/count to each valid id; padding rows get nothing. */
    assert_int_equal(mmoe_tensor_fill(gy, 1.0f), MMOE_OK);
    assert_int_equal(mmoe_embedding_zero_grad(e), MMOE_OK);
    assert_int_equal(mmoe_embedding_backward(e, gy), MMOE_OK);
    const float *gd = mmoe_tensor_cdata(g);
    /* row 0: 1/2; row 1: 1/2; row 2: 1/3 + 1; row 3: 2/3 */
    const float gwant[4] = {0.5f, 0.5f, 4.0f / 3.0f, 2.0f / 3.0f};
    for (int r = 0; r < 4; r++)
        for (int j = 0; j < 2; j++)
            assert_true(fabsf(gd[r * 2 + j] - gwant[r]) < 1e-6f);
    mmoe_embedding_free(e);

    /* Sum pooling. */
    assert_int_equal(mmoe_embedding_create(4, 2, 3, MMOE_POOL_SUM, MMOE_OOV_ERROR, 1, &e), MMOE_OK);
    assert_int_equal(mmoe_embedding_param(e, NULL, &w, &g), MMOE_OK);
    assert_int_equal(mmoe_tensor_copy_from(w, table, 8), MMOE_OK);
    assert_int_equal(mmoe_embedding_forward(e, 4, ids, y), MMOE_OK);
    const float wsum[8] = {11, 22, 0, 0, 92, 216, 100, 200};
    assert_memory_equal(mmoe_tensor_cdata(y), wsum, sizeof wsum);
    /* Errors: id >= vocab; negative id for a single-id embedding; shape; state. */
    const int64_t bad[3] = {0, 4, -1};
    assert_int_equal(mmoe_embedding_forward(e, 1, bad, y), MMOE_ERR_SHAPE);
    mmoe_tensor *y1;
    assert_int_equal(mmoe_tensor_create_2d(1, 2, &y1), MMOE_OK);
    assert_int_equal(mmoe_embedding_forward(e, 1, bad, y1), MMOE_ERR_RANGE);
    assert_non_null(strstr(mmoe_embedding_last_error(e), "ids[0][1]"));
    assert_int_equal(mmoe_embedding_forward(e, 0, bad, y1), MMOE_ERR_INVALID_ARG);
    mmoe_embedding_free(e);
    assert_int_equal(mmoe_embedding_create(4, 2, 1, MMOE_POOL_SUM, MMOE_OOV_HASH, 1, &e), MMOE_OK);
    assert_int_equal(mmoe_embedding_backward(e, gy), MMOE_ERR_STATE);
    const int64_t negs[1] = {-1};
    assert_int_equal(mmoe_embedding_forward(e, 1, negs, y1), MMOE_ERR_RANGE);
    mmoe_embedding_free(e);
    assert_int_equal(mmoe_embedding_create(0, 2, 1, MMOE_POOL_SUM, MMOE_OOV_HASH, 1, &e),
                     MMOE_ERR_INVALID_ARG);
    assert_null(e);
    assert_int_equal(mmoe_embedding_create(4, 0, 1, MMOE_POOL_SUM, MMOE_OOV_HASH, 1, &e),
                     MMOE_ERR_INVALID_ARG);
    assert_int_equal(mmoe_embedding_create(4, 2, 1, (mmoe_pooling)7, MMOE_OOV_HASH, 1, &e),
                     MMOE_ERR_INVALID_ARG);
    mmoe_tensor_free(y);
    mmoe_tensor_free(y1);
    mmoe_tensor_free(gy);
}

/* In a model: padding is ignored by mean bags ({a, pad} == {a, a}); an empty bag is zeros. */
static void test_model_bag_padding(void **state)
{
    (void)state;
    mmoe_config *cfg = base_config(1);
    set(cfg, "input.sparse", "1");
    set(cfg, "sparse.0.vocab", "5");
    set(cfg, "sparse.0.slots", "3");
    mmoe_model *m = make_model(cfg);
    mmoe_workspace *ws;
    assert_int_equal(mmoe_workspace_create(m, 4, &ws), MMOE_OK);
    float x[3] = {0.3f, 0.3f, 0.3f}, a[6], b[6];
    const int64_t with_pad[9] = {2, -1, -1, -1, 4, -9, 1, 3, -1};
    const int64_t repeated[9] = {2, 2, 2, 4, 4, 4, 1, 3, 3};
    assert_int_equal(mmoe_model_predict(m, ws, 3, x, with_pad, a), MMOE_OK);
    assert_int_equal(mmoe_model_predict(m, ws, 3, x, repeated, b), MMOE_OK);
    for (int i = 0; i < 4; i++) /* rows 0 and 1 */
        assert_true(fabsf(a[i] - b[i]) < 1e-6f);
    assert_true(fabsf(a[4] - b[4]) > 1e-7f || fabsf(a[5] - b[5]) > 1e-7f); /* row 2 differs */
    /* Empty bag == a table of zeros for that row: zero the table and compare. */
    const int64_t empty[3] = {-1, -1, -1}, any[3] = {0, 1, 2};
    float e1[2], e2[2];
    assert_int_equal(mmoe_model_predict(m, ws, 1, x, empty, e1), MMOE_OK);
    assert_int_equal(mmoe_tensor_fill(param_value(m, "input.embeddings.0.weight"), 0.0f), MMOE_OK);
    assert_int_equal(mmoe_model_predict(m, ws, 1, x, any, e2), MMOE_OK);
    assert_memory_equal(e1, e2, sizeof e1);
    mmoe_workspace_free(ws);
    mmoe_model_free(m);
    mmoe_config_free(cfg);
}

/* ---- batch-norm and dropout --------------------------------------------------------------------
 */

static void test_dnn_layer_batchnorm_stats(void **state)
{
    (void)state;
    mmoe_layer *l;
    const size_t w[1] = {2};
    assert_int_equal(mmoe_layer_dnn_create(1, 1, w, MMOE_ACT_IDENTITY, 1, 0.0, 3, &l), MMOE_OK);
    /* W = [1; 2], b = 0, gamma = 1, beta = 0 */
    mmoe_tensor *W, *rm, *rv;
    const char *name;
    assert_int_equal(mmoe_layer_param(l, 0, &name, &W, NULL), MMOE_OK);
    assert_string_equal(name, "layers.0.weight");
    const float wv[2] = {1, 2};
    assert_int_equal(mmoe_tensor_copy_from(W, wv, 2), MMOE_OK);
    assert_int_equal(mmoe_layer_state(l, 0, &name, &rm), MMOE_OK);
    assert_string_equal(name, "layers.0.bn.running_mean");
    assert_int_equal(mmoe_layer_state(l, 1, &name, &rv), MMOE_OK);
    assert_string_equal(name, "layers.0.bn.running_var");
    assert_int_equal(mmoe_layer_state(l, 2, NULL, NULL), MMOE_ERR_RANGE);
    assert_true(mmoe_tensor_cdata(rm)[0] == 0.0f && mmoe_tensor_cdata(rv)[0] == 1.0f);

    mmoe_tensor *x, *y;
    assert_int_equal(mmoe_tensor_create_2d(4, 1, &x), MMOE_OK);
    assert_int_equal(mmoe_tensor_create_2d(4, 2, &y), MMOE_OK);
    const float xv[4] = {1, 2, 3, 6}; /* mean 3, biased var 3.5, unbiased 14/3 */
    assert_int_equal(mmoe_tensor_copy_from(x, xv, 4), MMOE_OK);
    assert_int_equal(mmoe_layer_forward(l, x, y), MMOE_OK);
    /* Training output: batch-normalised, (x - 3) / sqrt(3.5 + 1e-5) for both columns. */
    for (int r = 0; r < 4; r++) {
        float want = (float)((xv[r] - 3.0) / sqrt(3.5 + 1e-5));
        assert_true(fabsf(mmoe_tensor_cdata(y)[r * 2] - want) < 1e-5f);
        assert_true(fabsf(mmoe_tensor_cdata(y)[r * 2 + 1] - want) < 1e-5f);
    }
    /* Running statistics: momentum 0.99 toward the batch mean / unbiased variance. */
    assert_true(fabsf(mmoe_tensor_cdata(rm)[0] - 0.01f * 3.0f) < 1e-6f);
    assert_true(fabsf(mmoe_tensor_cdata(rm)[1] - 0.01f * 6.0f) < 1e-6f);
    assert_true(fabsf(mmoe_tensor_cdata(rv)[0] - (0.99f + 0.01f * 14.0f / 3.0f)) < 1e-5f);
    assert_true(fabsf(mmoe_tensor_cdata(rv)[1] - (0.99f + 0.01f * 56.0f / 3.0f)) < 1e-5f);

    /* Inference uses the running statistics and leaves them alone. */
    const float mean[2] = {1.0f, -2.0f}, var[2] = {4.0f, 0.25f};
    assert_int_equal(mmoe_tensor_copy_from(rm, mean, 2), MMOE_OK);
    assert_int_equal(mmoe_tensor_copy_from(rv, var, 2), MMOE_OK);
    assert_int_equal(mmoe_layer_set_training(l, 0), MMOE_OK);
    assert_int_equal(mmoe_layer_forward(l, x, y), MMOE_OK);
    for (int r = 0; r < 4; r++)
        for (int j = 0; j < 2; j++) {
            double a = xv[r] * wv[j];
            float want = (float)((a - mean[j]) / sqrt(var[j] + 1e-5));
            assert_true(fabsf(mmoe_tensor_cdata(y)[r * 2 + j] - want) < 1e-5f);
        }
    assert_memory_equal(mmoe_tensor_cdata(rm), mean, sizeof mean);
    assert_memory_equal(mmoe_tensor_cdata(rv), var, sizeof var);
    /* No backward after an inference-mode forward of a batch-norm layer. */
    assert_int_equal(mmoe_layer_backward(l, y, NULL), MMOE_ERR_STATE);
    mmoe_tensor_free(x);
    mmoe_tensor_free(y);
    mmoe_layer_free(l);
}

static void test_dnn_layer_dropout(void **state)
{
    (void)state;
    mmoe_layer *l;
    const size_t w[1] = {64};
    assert_int_equal(mmoe_layer_dnn_create(3, 1, w, MMOE_ACT_IDENTITY, 0, 0.5, 3, &l), MMOE_OK);
    mmoe_tensor *x, *y1, *y2, *y3;
    assert_int_equal(mmoe_tensor_create_2d(8, 3, &x), MMOE_OK);
    assert_int_equal(mmoe_tensor_create_2d(8, 64, &y1), MMOE_OK);
    assert_int_equal(mmoe_tensor_create_2d(8, 64, &y2), MMOE_OK);
    assert_int_equal(mmoe_tensor_create_2d(8, 64, &y3), MMOE_OK);
    assert_int_equal(mmoe_tensor_fill(x, 0.7f), MMOE_OK);
    /* Inference: no dropout. */
    assert_int_equal(mmoe_layer_set_training(l, 0), MMOE_OK);
    assert_int_equal(mmoe_layer_forward(l, x, y1), MMOE_OK);
    /* Training: every unit is 0 or exactly twice the inference value; about half dropped. */
    assert_int_equal(mmoe_layer_set_training(l, 1), MMOE_OK);
    assert_int_equal(mmoe_layer_forward(l, x, y2), MMOE_OK);
    size_t dropped = 0;
    for (size_t i = 0; i < 8 * 64; i++) {
        float a = mmoe_tensor_cdata(y1)[i], b = mmoe_tensor_cdata(y2)[i];
        if (b == 0.0f && a != 0.0f)
            dropped++;
        else
            assert_true(fabsf(b - 2.0f * a) <= 1e-5f * (1.0f + fabsf(a)));
    }
    assert_true(dropped > 180 && dropped < 330);
    /* A new forward draws new masks; the same seed repeats them. */
    assert_int_equal(mmoe_layer_forward(l, x, y3), MMOE_OK);
    assert_memory_not_equal(mmoe_tensor_cdata(y2), mmoe_tensor_cdata(y3), 8 * 64 * sizeof(float));
    assert_int_equal(mmoe_layer_seed_dropout(l, 1234), MMOE_OK);
    assert_int_equal(mmoe_layer_forward(l, x, y2), MMOE_OK);
    assert_int_equal(mmoe_layer_seed_dropout(l, 1234), MMOE_OK);
    assert_int_equal(mmoe_layer_forward(l, x, y3), MMOE_OK);
    assert_memory_equal(mmoe_tensor_cdata(y2), mmoe_tensor_cdata(y3), 8 * 64 * sizeof(float));
    mmoe_tensor_free(x);
    mmoe_tensor_free(y1);
    mmoe_tensor_free(y2);
    mmoe_tensor_free(y3);
    mmoe_layer_free(l);

    /* Argument errors. */
    assert_int_equal(mmoe_layer_dnn_create(3, 1, w, MMOE_ACT_RELU, 0, 1.0, 3, &l),
                     MMOE_ERR_INVALID_ARG);
    assert_null(l);
    assert_int_equal(mmoe_layer_dnn_create(3, 0, w, MMOE_ACT_RELU, 0, 0.0, 3, &l),
                     MMOE_ERR_INVALID_ARG);
    assert_int_equal(mmoe_layer_dnn_create(3, 1, NULL, MMOE_ACT_RELU, 0, 0.0, 3, &l),
                     MMOE_ERR_NULL);
    assert_int_equal(mmoe_layer_crossnet_create(3, 17, MMOE_CROSS_VECTOR, 3, &l),
                     MMOE_ERR_INVALID_ARG);
    assert_int_equal(mmoe_layer_crossnet_create(0, 1, MMOE_CROSS_VECTOR, 3, &l),
                     MMOE_ERR_INVALID_ARG);
    assert_int_equal(mmoe_layer_crossnet_create(3, 1, (mmoe_cross_form)5, 3, &l),
                     MMOE_ERR_INVALID_ARG);
}

/* A model with embeddings, CrossNet and DNN (batch-norm / dropout as given). */
static mmoe_model *stage_model(int bn, double dropout, const char *arch)
{
    mmoe_config *cfg = base_config(3);
    set(cfg, "arch", arch);
    set(cfg, "input.sparse", "2");
    set(cfg, "sparse.0.vocab", "20");
    set(cfg, "sparse.0.dim", "4");
    set(cfg, "sparse.1.vocab", "30");
    set(cfg, "sparse.1.dim", "3");
    set(cfg, "sparse.1.slots", "2");
    set(cfg, "sparse.1.pooling", "sum");
    set(cfg, "cross.layers", "2");
    set(cfg, "dnn.layers", "8,6");
    set(cfg, "dnn.batchnorm", bn ? "1" : "0");
    char d[32];
    snprintf(d, sizeof d, "%g", dropout);
    set(cfg, "dnn.dropout", d);
    mmoe_model *m = make_model(cfg);
    mmoe_config_free(cfg);
    return m;
}

enum { NB = 16 };

static void fill_batch(float *x, int64_t *ids, float *y)
{
    for (size_t r = 0; r < NB; r++) {
        for (size_t j = 0; j < 3; j++)
            x[r * 3 + j] = (float)sin((double)(r * 3 + j + 1));
        ids[r * 3] = (int64_t)((r * 7) % 20);
        ids[r * 3 + 1] = (int64_t)((r * 11) % 30);
        ids[r * 3 + 2] = r % 3 ? (int64_t)((r * 5) % 30) : -1;
        y[r * 2] = (float)(r % 2);
        y[r * 2 + 1] = (float)cos((double)r);
    }
}

static void test_predict_equals_training_forward(void **state)
{
    (void)state;
    mmoe_model *m = stage_model(0, 0.0, "mmoe");
    float x[NB * 3], y[NB * 2], a[NB * 2], b[NB * 2];
    int64_t ids[NB * 3];
    fill_batch(x, ids, y);
    mmoe_workspace *ws;
    assert_int_equal(mmoe_workspace_create(m, 5, &ws), MMOE_OK); /* chunks of 5 */
    assert_int_equal(mmoe_model_forward(m, NB, x, ids), MMOE_OK);
    assert_int_equal(mmoe_model_outputs(m, a, NB * 2), MMOE_OK);
    assert_int_equal(mmoe_model_predict(m, ws, NB, x, ids, b), MMOE_OK);
    for (size_t i = 0; i < NB * 2; i++)
        assert_true(fabsf(a[i] - b[i]) <= 1e-5f * (1.0f + fabsf(a[i])));
    /* Batch 1 (matrix-vector path) agrees too. */
    for (size_t r = 0; r < NB; r++) {
        float o[2];
        assert_int_equal(mmoe_model_predict(m, ws, 1, x + r * 3, ids + r * 3, o), MMOE_OK);
        assert_true(fabsf(o[0] - a[r * 2]) <= 1e-5f && fabsf(o[1] - a[r * 2 + 1]) <= 1e-5f);
    }
    mmoe_workspace_free(ws);
    mmoe_model_free(m);
}

/* Inference is per-row (running statistics, no dropout) and writes nothing in the model. */
static void check_inference_is_pure(mmoe_model *m)
{
    float x[NB * 3], y[NB * 2], a[NB * 2], b[NB * 2];
    int64_t ids[NB * 3];
    fill_batch(x, ids, y);
    float *params;
    size_t n;
    assert_int_equal(mmoe_model_flat(m, &params, NULL, &n), MMOE_OK);
    float *before = malloc(n * sizeof *before);
    assert_non_null(before);
    memcpy(before, params, n * sizeof *before);
    mmoe_workspace *ws;
    assert_int_equal(mmoe_workspace_create(m, NB, &ws), MMOE_OK);
    assert_int_equal(mmoe_model_predict(m, ws, NB, x, ids, a), MMOE_OK);
    assert_int_equal(mmoe_model_predict(m, ws, NB, x, ids, b), MMOE_OK);
    assert_memory_equal(a, b, sizeof a);
    for (size_t r = 0; r < NB; r++) {
        float o[2];
        assert_int_equal(mmoe_model_predict(m, ws, 1, x + r * 3, ids + r * 3, o), MMOE_OK);
        assert_true(fabsf(o[0] - a[r * 2]) <= 1e-5f && fabsf(o[1] - a[r * 2 + 1]) <= 1e-5f);
    }
    assert_memory_equal(before, params, n * sizeof *before);
    free(before);
    mmoe_workspace_free(ws);
}

static void test_batchnorm_model(void **state)
{
    (void)state;
    mmoe_model *m = stage_model(1, 0.0, "mmoe");
    assert_true(mmoe_model_param_count(m) > 0);
    param_index(m, "input.dnn.0.bn.gamma");
    param_index(m, "input.dnn.1.bn.beta");
    param_index(m, "input.cross.1.weight");
    param_index(m, "input.embeddings.1.weight");
    float x[NB * 3], y[NB * 2], t[NB * 2], p1[NB * 2], p2[NB * 2];
    int64_t ids[NB * 3];
    fill_batch(x, ids, y);
    mmoe_workspace *ws;
    assert_int_equal(mmoe_workspace_create(m, NB, &ws), MMOE_OK);
    check_inference_is_pure(m);
    assert_int_equal(mmoe_model_predict(m, ws, NB, x, ids, p1), MMOE_OK);
    /* Training forwards use batch statistics (differ from inference) and move the running ones. */
    assert_int_equal(mmoe_model_forward(m, NB, x, ids), MMOE_OK);
    assert_int_equal(mmoe_model_outputs(m, t, NB * 2), MMOE_OK);
    assert_memory_not_equal(t, p1, sizeof t);
    for (int i = 0; i < 20; i++)
        assert_int_equal(mmoe_model_forward(m, NB, x, ids), MMOE_OK);
    assert_int_equal(mmoe_model_predict(m, ws, NB, x, ids, p2), MMOE_OK);
    assert_memory_not_equal(p1, p2, sizeof p1); /* the running statistics changed */
    check_inference_is_pure(m);
    /* Train a little; still finite and per-row in inference. */
    mmoe_optimizer *opt;
    assert_int_equal(mmoe_optimizer_create(m, MMOE_OPTIMIZER_ADAM, &opt), MMOE_OK);
    for (int i = 0; i < 5; i++)
        assert_int_equal(mmoe_model_train_step(m, opt, NB, x, ids, y, NULL, NULL, NULL), MMOE_OK);
    check_inference_is_pure(m);
    mmoe_optimizer_free(opt);
    mmoe_workspace_free(ws);
    mmoe_model_free(m);
}

static void test_dropout_model(void **state)
{
    (void)state;
    mmoe_model *m = stage_model(0, 0.5, "mmoe");
    float x[NB * 3], y[NB * 2], t1[NB * 2], t2[NB * 2];
    int64_t ids[NB * 3];
    fill_batch(x, ids, y);
    check_inference_is_pure(m);
    /* Training forwards draw fresh masks. */
    assert_int_equal(mmoe_model_forward(m, NB, x, ids), MMOE_OK);
    assert_int_equal(mmoe_model_outputs(m, t1, NB * 2), MMOE_OK);
    assert_int_equal(mmoe_model_forward(m, NB, x, ids), MMOE_OK);
    assert_int_equal(mmoe_model_outputs(m, t2, NB * 2), MMOE_OK);
    assert_memory_not_equal(t1, t2, sizeof t1);
    check_inference_is_pure(m);
    mmoe_model_free(m);
}

/* ---- sparse optimizer updates ------------------------------------------------------------------
 */

/* Model with one embedding table (vocab 10, dim 2) and a DNN; only dense 1 column. */
static mmoe_model *sparse_model(void)
{
    mmoe_config *cfg = base_config(1);
    set(cfg, "input.sparse", "1");
    set(cfg, "sparse.0.vocab", "10");
    set(cfg, "sparse.0.dim", "2");
    set(cfg, "sparse.0.slots", "2");
    set(cfg, "dnn.layers", "4");
    set(cfg, "dnn.activation", "tanh");
    mmoe_model *m = make_model(cfg);
    mmoe_config_free(cfg);
    return m;
}

static void one_step(mmoe_model *m, mmoe_optimizer *opt, size_t B, const int64_t *ids)
{
    float x[4] = {0.5f, -1.0f, 0.25f, 2.0f}, y[8] = {1, 0.5f, 0, -1, 1, 2, 0, 0};
    assert_true(B <= 4);
    assert_int_equal(mmoe_model_forward(m, B, x, ids), MMOE_OK);
    assert_int_equal(mmoe_model_loss(m, y, NULL, NULL, NULL), MMOE_OK);
    assert_int_equal(mmoe_model_zero_grad(m), MMOE_OK);
    assert_int_equal(mmoe_model_backward(m), MMOE_OK);
    assert_int_equal(mmoe_optimizer_step(opt), MMOE_OK);
}

static void check_lazy(mmoe_optimizer_kind kind)
{
    mmoe_model *m = sparse_model();
    mmoe_optimizer *opt;
    assert_int_equal(mmoe_optimizer_create(m, kind, &opt), MMOE_OK);
    if (kind == MMOE_OPTIMIZER_SGD)
        assert_int_equal(mmoe_optimizer_set(opt, MMOE_OPT_MOMENTUM, 0.9), MMOE_OK);
    /* Weight decay would move every row if untouched rows were updated. */
    assert_int_equal(mmoe_optimizer_set(opt, MMOE_OPT_WEIGHT_DECAY, 0.1), MMOE_OK);
    mmoe_tensor *tv, *tg;
    assert_int_equal(
        mmoe_model_param(m, param_index(m, "input.embeddings.0.weight"), NULL, &tv, &tg), MMOE_OK);
    float *table = mmoe_tensor_data(tv);
    float t0[20], t1[20], t2[20];
    memcpy(t0, table, sizeof t0);
    mmoe_tensor *dw = param_value(m, "input.dnn.0.weight");
    float d0 = mmoe_tensor_cdata(dw)[0];

    /* Step 1 uses rows 1, 3, 7 (3 twice, padding ignored). */
    const int64_t ids1[6] = {1, 3, 3, -1, 7, -1};
    one_step(m, opt, 3, ids1);
    memcpy(t1, table, sizeof t1);
    for (int r = 0; r < 10; r++) {
        int used = r == 1 || r == 3 || r == 7;
        int moved = memcmp(t0 + 2 * r, t1 + 2 * r, 2 * sizeof(float)) != 0;
        assert_int_equal(used, moved);
    }
    assert_true(mmoe_tensor_cdata(dw)[0] != d0); /* dense parameters move */

    /* Step 2 uses row 2 only: rows 1, 3, 7 keep their values (their state
     * is not replayed: no momentum / moment-driven move), row 2 moves. */
    const int64_t ids2[2] = {2, -1};
    one_step(m, opt, 1, ids2);
    memcpy(t2, table, sizeof t2);
    for (int r = 0; r < 10; r++) {
        int moved = memcmp(t1 + 2 * r, t2 + 2 * r, 2 * sizeof(float)) != 0;
        assert_int_equal(r == 2, moved);
    }
    mmoe_optimizer_free(opt);
    mmoe_model_free(m);
}

static void test_lazy_sparse_updates(void **state)
{
    (void)state;
    check_lazy(MMOE_OPTIMIZER_ADAM);
    check_lazy(MMOE_OPTIMIZER_ADAGRAD);
    check_lazy(MMOE_OPTIMIZER_SGD);
}

/* Lazy Adam: a row first used at global step 2 is bias-corrected with t = 2. */
static void test_lazy_adam_bias_correction(void **state)
{
    (void)state;
    mmoe_model *m = sparse_model();
    mmoe_optimizer *opt;
    assert_int_equal(mmoe_optimizer_create(m, MMOE_OPTIMIZER_ADAM, &opt), MMOE_OK);
    const double lr = 0.01, b1 = 0.9, b2 = 0.999, eps = 1e-8;
    assert_int_equal(mmoe_optimizer_set(opt, MMOE_OPT_LEARNING_RATE, lr), MMOE_OK);
    mmoe_tensor *tv, *tg;
    assert_int_equal(
        mmoe_model_param(m, param_index(m, "input.embeddings.0.weight"), NULL, &tv, &tg), MMOE_OK);
    const int64_t ids1[2] = {4, -1};
    one_step(m, opt, 1, ids1);

    /* Step 2 on row 5: take the gradient ourselves, then step. */
    float x[1] = {0.5f}, y[2] = {1, 0.5f};
    const int64_t ids2[2] = {5, 5};
    assert_int_equal(mmoe_model_forward(m, 1, x, ids2), MMOE_OK);
    assert_int_equal(mmoe_model_loss(m, y, NULL, NULL, NULL), MMOE_OK);
    assert_int_equal(mmoe_model_zero_grad(m), MMOE_OK);
    assert_int_equal(mmoe_model_backward(m), MMOE_OK);
    float before[2], g[2];
    memcpy(before, mmoe_tensor_cdata(tv) + 10, sizeof before);
    memcpy(g, mmoe_tensor_cdata(tg) + 10, sizeof g);
    assert_true(g[0] != 0.0f && g[1] != 0.0f);
    assert_int_equal(mmoe_optimizer_step(opt), MMOE_OK);
    assert_int_equal(mmoe_optimizer_steps(opt), 2);
    for (int j = 0; j < 2; j++) {
        double mj = (1 - b1) * g[j], vj = (1 - b2) * (double)g[j] * g[j];
        double mhat = mj / (1 - b1 * b1), vhat = vj / (1 - b2 * b2);
        double want = before[j] - lr * mhat / (sqrt(vhat) + eps);
        double got = mmoe_tensor_cdata(tv)[10 + j];
        assert_true(fabs(got - want) < 1e-6);
    }
    mmoe_optimizer_free(opt);
    mmoe_model_free(m);
}

/* ---- descriptions and architectures -------------------------------------------------------------
 */

static void test_config_round_trip(void **state)
{
    (void)state;
    mmoe_config *cfg = base_config(4);
    set(cfg, "input.sparse", "3");
    set(cfg, "sparse.0.name", "user");
    set(cfg, "sparse.0.vocab", "1000");
    set(cfg, "sparse.0.dim", "16");
    set(cfg, "sparse.1.name", "tags");
    set(cfg, "sparse.1.slots", "5");
    set(cfg, "sparse.1.pooling", "sum");
    set(cfg, "sparse.1.oov", "hash");
    set(cfg, "sparse.2.vocab", "3");
    set(cfg, "cross.layers", "3");
    set(cfg, "cross.form", "matrix");
    set(cfg, "dnn.layers", "32,16");
    set(cfg, "dnn.activation", "tanh");
    set(cfg, "dnn.batchnorm", "1");
    set(cfg, "dnn.dropout", "0.25");
    char *text;
    assert_int_equal(mmoe_config_to_string(cfg, &text), MMOE_OK);
    mmoe_config *back;
    assert_int_equal(mmoe_config_create(&back), MMOE_OK);
    assert_int_equal(mmoe_config_parse(back, text), MMOE_OK);
    char *text2;
    assert_int_equal(mmoe_config_to_string(back, &text2), MMOE_OK);
    assert_string_equal(text, text2);
    assert_non_null(strstr(text, "sparse.1.oov hash"));

    mmoe_model *m = make_model(back);
    assert_int_equal(mmoe_model_num_ids(m), 1 + 5 + 1);
    mmoe_tensor *t = param_value(m, "input.embeddings.0.weight");
    assert_int_equal(mmoe_tensor_dim(t, 0), 1000);
    assert_int_equal(mmoe_tensor_dim(t, 1), 16);
    /* Cross width = 16 + 8 + 8 + 4 dense = 36, matrix form. */
    t = param_value(m, "input.cross.2.weight");
    assert_int_equal(mmoe_tensor_dim(t, 0), 36);
    assert_int_equal(mmoe_tensor_dim(t, 1), 36);
    t = param_value(m, "input.dnn.0.weight");
    assert_int_equal(mmoe_tensor_dim(t, 0), 32);
    assert_int_equal(mmoe_tensor_dim(t, 1), 36);
    t = param_value(m, "experts.0.layers.0.weight");
    assert_int_equal(mmoe_tensor_dim(t, 1), 16); /* the experts read the DNN's output */
    mmoe_config *got;
    assert_int_equal(mmoe_model_get_config(m, &got), MMOE_OK);
    char *text3;
    assert_int_equal(mmoe_config_to_string(got, &text3), MMOE_OK);
    assert_string_equal(text, text3);
    mmoe_string_free(text);
    mmoe_string_free(text2);
    mmoe_string_free(text3);
    mmoe_config_free(got);
    mmoe_model_free(m);
    mmoe_config_free(back);
    mmoe_config_free(cfg);
}

static void test_every_arch(void **state)
{
    (void)state;
    const char *archs[] = {"mmoe",           "omoe",         "shared_bottom",       "single_task",
                           "l2_constrained", "cross_stitch", "tensor_factorization"};
    for (size_t a = 0; a < sizeof archs / sizeof *archs; a++) {
        mmoe_model *m = stage_model(1, 0.1, archs[a]);
        float x[NB * 3], y[NB * 2];
        int64_t ids[NB * 3];
        fill_batch(x, ids, y);
        mmoe_optimizer *opt;
        assert_int_equal(mmoe_optimizer_create(m, MMOE_OPTIMIZER_ADAM, &opt), MMOE_OK);
        assert_int_equal(mmoe_optimizer_set(opt, MMOE_OPT_LEARNING_RATE, 0.01), MMOE_OK);
        float first = 0, last = 0;
        for (int i = 0; i < 60; i++) {
            float total;
            if (mmoe_model_train_step(m, opt, NB, x, ids, y, NULL, NULL, &total) != MMOE_OK)
                fail_msg("%s: %s", archs[a], mmoe_model_last_error(m));
            if (i == 0)
                first = total;
            last = total;
        }
        print_message("%s: loss %.4f -> %.4f\n", archs[a], (double)first, (double)last);
        assert_true(isfinite(last) && last < first);
        check_inference_is_pure(m);
        mmoe_optimizer_free(opt);
        mmoe_model_free(m);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ids_validation),
        cmocka_unit_test(test_oov_hash),
        cmocka_unit_test(test_embedding_pooling_values),
        cmocka_unit_test(test_model_bag_padding),
        cmocka_unit_test(test_dnn_layer_batchnorm_stats),
        cmocka_unit_test(test_dnn_layer_dropout),
        cmocka_unit_test(test_predict_equals_training_forward),
        cmocka_unit_test(test_batchnorm_model),
        cmocka_unit_test(test_dropout_model),
        cmocka_unit_test(test_lazy_sparse_updates),
        cmocka_unit_test(test_lazy_adam_bias_correction),
        cmocka_unit_test(test_config_round_trip),
        cmocka_unit_test(test_every_arch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
