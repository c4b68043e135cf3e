/*
 * A transformation and the model it feeds: describing the model's inputs
 * and tasks from the transformation, checking that the two fit, and the
 * copy a model carries (and its file stores).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mmoe/config.h"
#include "model_impl.h"
#include "transform_impl.h"

static mmoe_status cfg_set(mmoe_config *c, const char *key, const char *value, char *msg,
                           size_t cap)
{
    mmoe_status st = mmoe_config_set(c, key, value);
    if (st != MMOE_OK)
        snprintf(msg, cap, "%s: %s", key, mmoe_config_last_error(c));
    return st;
}

static mmoe_status cfg_set_int(mmoe_config *c, const char *key, size_t v, char *msg, size_t cap)
{
    char num[32];
    snprintf(num, sizeof num, "%zu", v);
    return cfg_set(c, key, num, msg, cap);
}

mmoe_status mmoe_transform_configure(const mmoe_transform *tf, mmoe_config *cfg)
{
    if (!tf || !cfg)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "%s is NULL", tf ? "cfg" : "tf");
    const mmoe_schema *s = tf->s;
    char buf[64], key[64], msg[MMOE__ERRLEN] = "";
    if (mmoe_config_get(cfg, "tasks", buf, sizeof buf) != MMOE_OK)
        return MMOE_FAIL(NULL, MMOE_ERR_CONFIG, "cannot read the description's tasks");
    size_t have = (size_t)strtoull(buf, NULL, 10);
    if (have != 0 && have != s->n_labels)
        return MMOE_FAIL(NULL, MMOE_ERR_CONFIG,
                         "the description has %zu tasks, the schema %zu labels", have, s->n_labels);
    mmoe_config *c = NULL;
    mmoe_status st = mmoe_config_clone(cfg, &c);
    if (st != MMOE_OK)
        return st;
    if ((st = cfg_set_int(c, "input.dense", mmoe_transform_dense_dim(tf), msg, sizeof msg)) ||
        (st = cfg_set_int(c, "input.sparse", s->n_sparse, msg, sizeof msg)) ||
        (st = cfg_set_int(c, "tasks", s->n_labels, msg, sizeof msg)))
        goto done;
    for (size_t i = 0; i < s->n; i++) {
        const mmoe__feature *f = &s->f[i];
        if (mmoe__feature_is_sparse(f)) {
            size_t k = f->sparse_index;
            snprintf(key, sizeof key, "sparse.%zu.name", k);
            if ((st = cfg_set(c, key, f->name, msg, sizeof msg)))
                goto done;
            snprintf(key, sizeof key, "sparse.%zu.vocab", k);
            if ((st = cfg_set_int(c, key, mmoe__feature_vocab(f), msg, sizeof msg)))
                goto done;
            snprintf(key, sizeof key, "sparse.%zu.dim", k);
            if ((st = cfg_set_int(c, key, f->dim, msg, sizeof msg)))
                goto done;
            snprintf(key, sizeof key, "sparse.%zu.slots", k);
            if ((st = cfg_set_int(c, key, f->slots, msg, sizeof msg)))
                goto done;
            snprintf(key, sizeof key, "sparse.%zu.pooling", k);
            if ((st = cfg_set(c, key, f->pool_sum ? "sum" : "mean", msg, sizeof msg)))
                goto done;
            snprintf(key, sizeof key, "sparse.%zu.oov", k);
            if ((st = cfg_set(c, key, "error", msg, sizeof msg)))
                goto done;
        } else if (mmoe__feature_is_label(f)) {
            snprintf(key, sizeof key, "task.%zu.name", f->out);
            if ((st = cfg_set(c, key, f->name, msg, sizeof msg)))
                goto done;
            snprintf(key, sizeof key, "task.%zu.kind", f->out);
            if ((st = cfg_set(c, key, f->kind == MMOE_FEATURE_BINARY ? "binary" : "regression", msg,
                              sizeof msg)))
                goto done;
        }
    }
    {
        /* copy back atomically through the text form */
        char *text = NULL;
        if ((st = mmoe_config_to_string(c, &text)) == MMOE_OK) {
            st = mmoe_config_parse(cfg, text);
            if (st != MMOE_OK)
                snprintf(msg, sizeof msg, "%s", mmoe_config_last_error(cfg));
        }
        mmoe_string_free(text);
    }
done:
    mmoe_config_free(c);
    if (st != MMOE_OK)
        return MMOE_FAIL(NULL, st, "%s", msg[0] ? msg : mmoe_status_string(st));
    return MMOE_OK;
}

static size_t cfg_size(const mmoe_config *c, const char *key)
{
    char buf[64];
    if (mmoe_config_get(c, key, buf, sizeof buf) != MMOE_OK)
        return (size_t)-1;
    return (size_t)strtoull(buf, NULL, 10);
}

mmoe_status mmoe_transform_check_model(const mmoe_transform *tf, const mmoe_model *model)
{
    if (!tf || !model)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "%s is NULL", tf ? "model" : "tf");
    const mmoe_schema *s = tf->s;
    const mmoe_config *c = model->cfg;
    if (mmoe_model_input_dim(model) != mmoe_transform_dense_dim(tf))
        return MMOE_FAIL(NULL, MMOE_ERR_SHAPE, "model input.dense %zu, transformation %zu",
                         mmoe_model_input_dim(model), mmoe_transform_dense_dim(tf));
    if (mmoe_model_num_ids(model) != s->n_ids || cfg_size(c, "input.sparse") != s->n_sparse)
        return MMOE_FAIL(NULL, MMOE_ERR_SHAPE,
                         "model has %zu sparse features (%zu ids), transformation %zu (%zu)",
                         cfg_size(c, "input.sparse"), mmoe_model_num_ids(model), s->n_sparse,
                         s->n_ids);
    if (mmoe_model_num_tasks(model) != s->n_labels)
        return MMOE_FAIL(NULL, MMOE_ERR_SHAPE, "model has %zu tasks, transformation %zu labels",
                         mmoe_model_num_tasks(model), s->n_labels);
    for (size_t i = 0; i < s->n; i++) {
        const mmoe__feature *f = &s->f[i];
        char key[64];
        if (mmoe__feature_is_sparse(f)) {
            snprintf(key, sizeof key, "sparse.%zu.vocab", f->sparse_index);
            size_t v = cfg_size(c, key);
            snprintf(key, sizeof key, "sparse.%zu.slots", f->sparse_index);
            size_t sl = cfg_size(c, key);
            if (v != mmoe__feature_vocab(f) || sl != f->slots)
                return MMOE_FAIL(NULL, MMOE_ERR_SHAPE,
                                 "sparse feature %zu (%s): model vocab %zu slots %zu, "
                                 "transformation %zu and %zu",
                                 f->sparse_index, f->name, v, sl, mmoe__feature_vocab(f), f->slots);
        } else if (mmoe__feature_is_label(f)) {
            mmoe_task_kind kind;
            mmoe_model_task(model, f->out, NULL, &kind);
            if ((kind == MMOE_TASK_BINARY) != (f->kind == MMOE_FEATURE_BINARY))
                return MMOE_FAIL(NULL, MMOE_ERR_SHAPE,
                                 "task %zu is %s in the model, label %s is %s", f->out,
                                 kind == MMOE_TASK_BINARY ? "binary" : "regression", f->name,
                                 f->kind == MMOE_FEATURE_BINARY ? "binary" : "regression");
        }
    }
    return MMOE_OK;
}

mmoe_status mmoe_model_set_transform(mmoe_model *model, const mmoe_transform *tf)
{
    if (!model)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "model is NULL");
    mmoe_transform *copy = NULL;
    if (tf) {
        mmoe_status st = mmoe_transform_check_model(tf, model);
        if (st == MMOE_OK)
            st = mmoe_transform_clone(tf, &copy);
        if (st != MMOE_OK)
            return mmoe__forward(model->err, st);
    }
    mmoe_transform_free(model->transform);
    model->transform = copy;
    mmoe__clear(model->err);
    return MMOE_OK;
}

const mmoe_transform *mmoe_model_get_transform(const mmoe_model *model)
{
    return model ? model->transform : NULL;
}
