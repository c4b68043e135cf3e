/*
 * Model and optimizer files: which metadata and tensors each holds, on top
 * of the safetensors container (safetensors.c, docs/file-format.md).
 *
 * A model file: metadata format "libmmoe", format_version, libmmoe_version,
 * config (the description's text form), dropout_state (when the dropout
 * stream has moved) and transform (when attached); tensors: the trainable
 * parameters in registry order, then the non-trainable state (batch-norm
 * running statistics). model_tensors() is the one list both directions
 * use; a new kind of tensor or metadata joins there and in model_save.
 *
 * An optimizer file: metadata format "libmmoe-optimizer", the kind, step
 * count, number of parameters and the kind's hyper-parameters; tensors
 * state.0 (and state.1 for Adam), each [num_params].
 *
 * Values are copied into a fresh object (model) or a scratch buffer
 * (optimizer), so a failed load never leaves anything half-loaded.
 */
#include <stdio.h>
#include <string.h>

#include "mmoe/io.h"
#include "mmoe/transform.h"
#include "mmoe/version.h"
#include "model_impl.h"
#include "numtext.h"
#include "optimizer_impl.h"
#include "safetensors.h"

#define MODEL_FORMAT "libmmoe"
#define OPTIMIZER_FORMAT "libmmoe-optimizer"

/*
 * Largest step count an optimizer file may hold: 2^53, exact as a double
 * (Adam's bias correction raises beta to it) and far from wrapping the
 * 64-bit counter, which would restart the bias correction at step 0.
 */
#define MAX_STEPS ((uint64_t)1 << 53)

/* ---- models ----------------------------------------------------------- */

/*
 * Describe the model's tensors: the trainable parameters (registry order),
 * then the non-trainable state (batch-norm running statistics). *n receives
 * the count; the caller frees *out.
 */
/* Tensors of a model file: the count, and entry k with its buffer and whether it trains. */
static size_t file_tensor_count(const mmoe_model *m)
{
    return m->reg.count + m->sreg.count;
}

static mmoe__param *file_tensor(const mmoe_model *m, size_t k, float **buf, int *trainable)
{
    *trainable = k < m->reg.count;
    *buf = *trainable ? m->params : m->stats;
    return *trainable ? &m->reg.items[k] : &m->sreg.items[k - m->reg.count];
}

static mmoe_status model_tensors(const mmoe_model *m, mmoe__st_tensor **out, size_t *n)
{
    size_t count = file_tensor_count(m);
    mmoe__st_tensor *t = mmoe__calloc(count ? count : 1, sizeof *t);
    if (!t)
        return MMOE_FAIL(NULL, MMOE_ERR_NOMEM, "no memory for %zu tensor entries", count);
    for (size_t k = 0; k < count; k++) {
        float *buf;
        int trainable;
        const mmoe__param *p = file_tensor(m, k, &buf, &trainable);
        t[k].name = p->name;
        t[k].rank = p->rank;
        t[k].shape[0] = p->shape[0];
        t[k].shape[1] = p->shape[1];
        t[k].numel = p->numel;
        t[k].src = buf + p->offset;
        t[k].dst = buf + p->offset;
        t[k].nonneg = p->nonneg;
    }
    *out = t;
    *n = count;
    return MMOE_OK;
}

size_t mmoe_model_file_tensor_count(const mmoe_model *model)
{
    return model ? file_tensor_count(model) : 0;
}

mmoe_status mmoe_model_file_tensor(mmoe_model *model, size_t i, const char **name,
                                   mmoe_tensor **value, int *trainable)
{
    if (!model)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "model is NULL");
    if (i >= file_tensor_count(model))
        return MMOE_FAIL(NULL, MMOE_ERR_RANGE, "tensor %zu of %zu", i, file_tensor_count(model));
    float *buf;
    int train;
    mmoe__param *p = file_tensor(model, i, &buf, &train);
    if (name)
        *name = p->name;
    if (value)
        *value = &p->value;
    if (trainable)
        *trainable = train;
    return MMOE_OK;
}

/* Save to a file (path) or a buffer (buf/len). */
static mmoe_status model_save(const mmoe_model *m, const char *path, void **buf, size_t *len)
{
    if (mmoe__model_is_shard(m))
        return MMOE_FAIL(NULL, MMOE_ERR_UNSUPPORTED,
                         "the model holds a shard of a table; "
                         "gather the shards into one model to save it");
    char *cfg = NULL, *tft = NULL;
    mmoe__st_tensor *t = NULL;
    size_t nt = 0;
    mmoe_status st = mmoe_config_to_string(m->cfg, &cfg);
    if (st == MMOE_OK && m->transform)
        st = mmoe_transform_to_string(m->transform, &tft);
    if (st == MMOE_OK)
        st = model_tensors(m, &t, &nt);
    if (st == MMOE_OK)
        st = mmoe__st_check_finite(t, nt, "parameter");
    if (st == MMOE_OK) {
        mmoe__st_meta meta[6];
        size_t nm = 0;
        char rng[24];
        meta[nm++] = (mmoe__st_meta){"format", MODEL_FORMAT};
        meta[nm++] = (mmoe__st_meta){"format_version", MMOE_FILE_FORMAT_VERSION == 1 ? "1" : "?"};
        meta[nm++] = (mmoe__st_meta){"libmmoe_version", mmoe_version_string()};
        meta[nm++] = (mmoe__st_meta){"config", cfg};
        /* the dropout stream, once it has moved from where the seed starts it */
        if (m->rng != MMOE__DROPOUT_START(m->cfg->seed)) {
            snprintf(rng, sizeof rng, "%llu", (unsigned long long)m->rng);
            meta[nm++] = (mmoe__st_meta){"dropout_state", rng};
        }
        if (tft)
            meta[nm++] = (mmoe__st_meta){"transform", tft};
        st = mmoe__st_write(meta, nm, t, nt, path, buf, len);
    }
    mmoe__free(t);
    mmoe_string_free(cfg);
    mmoe_string_free(tft);
    return st;
}

mmoe_status mmoe_model_save(const mmoe_model *model, const char *path)
{
    if (!model || !path)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "%s is NULL", model ? "path" : "model");
    return model_save(model, path, NULL, NULL);
}

mmoe_status mmoe_model_save_buffer(const mmoe_model *model, void **buf, size_t *len)
{
    if (buf)
        *buf = NULL;
    if (len)
        *len = 0;
    if (!model || !buf || !len)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "%s is NULL",
                         !model ? "model"
                         : !buf ? "buf"
                                : "len");
    return model_save(model, NULL, buf, len);
}

void mmoe_buffer_free(void *buf)
{
    mmoe__free(buf);
}

/*
 * Re-record the message of a failed step with lead ("'path': ",
 * "model description: ", or "") in front, under the name func (shown only
 * for a public function).
 */
static mmoe_status with_prefix(char *err, mmoe_status st, const char *func, const char *lead)
{
    char inner[MMOE__ERRLEN];
    memcpy(inner, mmoe_last_error(), sizeof inner);
    inner[sizeof inner - 1] = '\0';
    return mmoe__fail(err, st, func, "%.200s%s", lead, inner);
}

/* with_prefix for a load from path. */
static mmoe_status with_path(char *err, mmoe_status st, const char *func, const char *path)
{
    char lead[160];
    snprintf(lead, sizeof lead, "'%.150s': ", path);
    return with_prefix(err, st, func, lead);
}

/* Largest described model the loader builds just to say which tensor is wrong (256 MiB). */
#define DIAGNOSE_MAX_FLOATS ((size_t)1 << 26)

/* The "transform" metadata: parse it and check that it feeds the model. */
static mmoe_status attach_transform(mmoe_model *m, const char *text)
{
    mmoe_transform *tf = NULL;
    mmoe_status st = mmoe_transform_parse(text, strlen(text), &tf);
    if (st == MMOE_OK)
        st = mmoe_model_set_transform(m, tf);
    mmoe_transform_free(tf);
    if (st != MMOE_OK && st != MMOE_ERR_NOMEM && st != MMOE_ERR_VERSION) {
        char inner[MMOE__ERRLEN];
        memcpy(inner, mmoe_last_error(), sizeof inner);
        inner[sizeof inner - 1] = '\0';
        st = MMOE_FAIL(NULL, MMOE_ERR_FORMAT, "stored transformation: %.200s", inner);
    }
    return st;
}

static mmoe_status model_load(const void *buf, size_t len, mmoe_model **out)
{
    mmoe__st_file f;
    mmoe_status st = mmoe__st_open(buf, len, &f, NULL);
    if (st)
        return st;
    st = mmoe__st_check_format(&f, MODEL_FORMAT, NULL);
    const char *text = st == MMOE_OK ? mmoe__st_meta_get(&f, "config") : NULL;
    if (st == MMOE_OK && !text)
        st = MMOE_FAIL(NULL, MMOE_ERR_FORMAT, "__metadata__ has no 'config' (model description)");
    mmoe_config *cfg = NULL;
    mmoe_model *m = NULL;
    mmoe__st_tensor *t = NULL;
    size_t nt = 0;
    if (st == MMOE_OK)
        st = mmoe_config_create(&cfg);
    if (st == MMOE_OK) {
        st = mmoe_config_parse(cfg, text);
        if (st != MMOE_OK && st != MMOE_ERR_NOMEM && st != MMOE_ERR_VERSION)
            st = MMOE_ERR_CONFIG;
        if (st)
            st = MMOE_FAIL(NULL, st, "model description: %.200s", mmoe_config_last_error(cfg));
    }
    if (st == MMOE_OK) {
        /*
         * Refuse before allocating when the data cannot hold the described
         * model, unless the model is small enough to build just to name
         * the first tensor whose name or shape differs.
         */
        size_t np = 0, ns = 0, want = 0;
        st = mmoe__model_layout_size(cfg, &np, &ns);
        if (st)
            st = with_prefix(NULL, st, __func__, "model description: ");
        else if ((mmoe__add(np, ns, &want) || mmoe__mul(want, 4, &want) || want != f.data_len) &&
                 np + ns > DIAGNOSE_MAX_FLOATS)
            st = MMOE_FAIL(NULL, MMOE_ERR_FORMAT,
                           "the data section holds %zu bytes (%zu floats); the described model "
                           "has %zu floats (%zu bytes)",
                           f.data_len, f.data_len / 4, np + ns, (np + ns) * 4);
    }
    if (st == MMOE_OK) {
        st = mmoe_model_create(cfg, &m);
        if (st)
            st = with_prefix(NULL, st, __func__, "model description: ");
    }
    if (st == MMOE_OK)
        st = model_tensors(m, &t, &nt);
    if (st == MMOE_OK)
        st = mmoe__st_read_tensors(&f, t, nt, NULL);
    const char *drop = st == MMOE_OK ? mmoe__st_meta_get(&f, "dropout_state") : NULL;
    if (drop && mmoe__st_parse_u64(drop, &m->rng))
        st =
            MMOE_FAIL(NULL, MMOE_ERR_FORMAT, "dropout_state '%.40s' is not a 64-bit integer", drop);
    const char *tft = st == MMOE_OK ? mmoe__st_meta_get(&f, "transform") : NULL;
    if (tft)
        st = attach_transform(m, tft);
    mmoe__free(t);
    mmoe_config_free(cfg);
    mmoe__st_close(&f);
    if (st) {
        mmoe_model_free(m);
        return st;
    }
    *out = m;
    return MMOE_OK;
}

mmoe_status mmoe_model_load_buffer(const void *buf, size_t len, mmoe_model **out)
{
    if (!out)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "out is NULL");
    *out = NULL;
    if (!buf)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "buf is NULL");
    mmoe_status st = model_load(buf, len, out);
    return st ? with_prefix(NULL, st, __func__, "") : MMOE_OK;
}

mmoe_status mmoe_model_load(const char *path, mmoe_model **out)
{
    if (!out)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "out is NULL");
    *out = NULL;
    if (!path)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "path is NULL");
    mmoe__st_bytes b;
    mmoe_status st = mmoe__st_map_path(path, &b, NULL);
    if (st == MMOE_OK) {
        st = model_load(b.data, b.len, out);
        mmoe__st_unmap(&b);
    }
    return st ? with_path(NULL, st, __func__, path) : MMOE_OK;
}

/* ---- optimizers ------------------------------------------------------- */

static const char *const opt_kind_names[] = {"sgd", "adam", "adagrad"};

static const struct {
    mmoe_optimizer_param param;
    const char *key;
} opt_params[] = {
    {MMOE_OPT_LEARNING_RATE, "learning_rate"},
    {MMOE_OPT_MOMENTUM, "momentum"},
    {MMOE_OPT_BETA1, "beta1"},
    {MMOE_OPT_BETA2, "beta2"},
    {MMOE_OPT_EPSILON, "epsilon"},
    {MMOE_OPT_WEIGHT_DECAY, "weight_decay"},
    {MMOE_OPT_CLIP_NORM, "clip_norm"},
};
#define N_OPT_PARAMS (sizeof opt_params / sizeof *opt_params)

/* Floats of state per parameter, by kind (as the optimizer allocates it). */
static size_t opt_buffers(mmoe_optimizer_kind kind)
{
    return kind == MMOE_OPTIMIZER_ADAM ? 2 : 1;
}

static mmoe_status optimizer_save(const mmoe_optimizer *opt, const char *path, void **buf,
                                  size_t *len)
{
    if (mmoe__model_is_shard(opt->model))
        return MMOE_FAIL(NULL, MMOE_ERR_UNSUPPORTED,
                         "the optimizer's model holds a shard of a "
                         "table; gather the state into an optimizer of one model to save it");
    if ((size_t)opt->kind >= sizeof opt_kind_names / sizeof *opt_kind_names)
        return MMOE_FAIL(NULL, MMOE_ERR_INTERNAL, "unknown optimizer kind %d", (int)opt->kind);
    size_t nb = opt_buffers(opt->kind);
    if (nb * opt->n != opt->state_len)
        return MMOE_FAIL(NULL, MMOE_ERR_INTERNAL, "optimizer state has an unexpected size");
    char steps[32], nparams[32], values[N_OPT_PARAMS][40];
    snprintf(steps, sizeof steps, "%llu", (unsigned long long)opt->steps);
    snprintf(nparams, sizeof nparams, "%zu", opt->n);
    mmoe__st_meta meta[5 + N_OPT_PARAMS];
    size_t nm = 0;
    meta[nm++] = (mmoe__st_meta){"format", OPTIMIZER_FORMAT};
    meta[nm++] = (mmoe__st_meta){"format_version", MMOE_FILE_FORMAT_VERSION == 1 ? "1" : "?"};
    meta[nm++] = (mmoe__st_meta){"libmmoe_version", mmoe_version_string()};
    meta[nm++] = (mmoe__st_meta){"optimizer", opt_kind_names[opt->kind]};
    meta[nm++] = (mmoe__st_meta){"steps", steps};
    meta[nm++] = (mmoe__st_meta){"num_params", nparams};
    for (size_t i = 0; i < N_OPT_PARAMS; i++) {
        double v;
        if (mmoe_optimizer_get(opt, opt_params[i].param, &v) != MMOE_OK)
            continue;
        mmoe__format_double(values[i], sizeof values[i], v, 17);
        meta[nm++] = (mmoe__st_meta){opt_params[i].key, values[i]};
    }
    char names[2][32];
    mmoe__st_tensor t[2];
    for (size_t b = 0; b < nb; b++) {
        snprintf(names[b], sizeof names[b], "state.%zu", b);
        t[b] = (mmoe__st_tensor){.name = names[b],
                                 .rank = 1,
                                 .shape = {(int64_t)opt->n, 0},
                                 .numel = opt->n,
                                 .src = opt->state + b * opt->n};
    }
    mmoe_status st = mmoe__st_check_finite(t, nb, "optimizer state");
    if (st)
        return st;
    return mmoe__st_write(meta, nm, t, nb, path, buf, len);
}

mmoe_status mmoe_optimizer_save(const mmoe_optimizer *opt, const char *path)
{
    if (!opt || !path)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "%s is NULL", opt ? "path" : "opt");
    return optimizer_save(opt, path, NULL, NULL);
}

mmoe_status mmoe_optimizer_save_buffer(const mmoe_optimizer *opt, void **buf, size_t *len)
{
    if (buf)
        *buf = NULL;
    if (len)
        *len = 0;
    if (!opt || !buf || !len)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "%s is NULL", !opt ? "opt" : !buf ? "buf" : "len");
    return optimizer_save(opt, NULL, buf, len);
}

static mmoe_status optimizer_load(mmoe_optimizer *opt, const void *buf, size_t len)
{
    mmoe__st_file f;
    mmoe_status st = mmoe__st_open(buf, len, &f, opt->err);
    if (st)
        return st;
    st = mmoe__st_check_format(&f, OPTIMIZER_FORMAT, opt->err);
    const char *kind = NULL, *steps_s = NULL, *np_s = NULL;
    uint64_t steps = 0, np = 0;
    if (st == MMOE_OK) {
        kind = mmoe__st_meta_get(&f, "optimizer");
        steps_s = mmoe__st_meta_get(&f, "steps");
        np_s = mmoe__st_meta_get(&f, "num_params");
        if (!kind || !steps_s || !np_s)
            st = MMOE_FAIL(opt->err, MMOE_ERR_FORMAT, "__metadata__ has no '%s'",
                           !kind      ? "optimizer"
                           : !steps_s ? "steps"
                                      : "num_params");
        else if (mmoe__st_parse_u64(steps_s, &steps))
            st = MMOE_FAIL(opt->err, MMOE_ERR_FORMAT, "steps '%.40s' is not an integer", steps_s);
        else if (steps > MAX_STEPS)
            st = MMOE_FAIL(opt->err, MMOE_ERR_RANGE, "steps %llu exceeds the limit 2^53",
                           (unsigned long long)steps);
        else if (mmoe__st_parse_u64(np_s, &np))
            st = MMOE_FAIL(opt->err, MMOE_ERR_FORMAT, "num_params '%.40s' is not an integer", np_s);
        else if (strcmp(kind, opt_kind_names[opt->kind]) != 0)
            st = MMOE_FAIL(opt->err, MMOE_ERR_CONFIG,
                           "file holds '%.40s' optimizer state; this optimizer is %s", kind,
                           opt_kind_names[opt->kind]);
        else if (np != (uint64_t)opt->n)
            st = MMOE_FAIL(opt->err, MMOE_ERR_SHAPE,
                           "file holds state for %llu parameters; the model has %zu",
                           (unsigned long long)np, opt->n);
    }
    /* Hyper-parameters: exactly those the kind uses, finite decimals. */
    double values[N_OPT_PARAMS] = {0};
    int used[N_OPT_PARAMS] = {0};
    for (size_t i = 0; st == MMOE_OK && i < N_OPT_PARAMS; i++) {
        double cur;
        used[i] = mmoe_optimizer_get(opt, opt_params[i].param, &cur) == MMOE_OK;
        const char *s = mmoe__st_meta_get(&f, opt_params[i].key);
        if (used[i] && !s)
            st =
                MMOE_FAIL(opt->err, MMOE_ERR_FORMAT, "__metadata__ has no '%s'", opt_params[i].key);
        else if (!used[i] && s)
            st = MMOE_FAIL(opt->err, MMOE_ERR_FORMAT, "'%s' is not a parameter of %s",
                           opt_params[i].key, opt_kind_names[opt->kind]);
        else if (used[i] && mmoe__parse_double(s, &values[i]))
            st = MMOE_FAIL(opt->err, MMOE_ERR_FORMAT, "%s '%.40s' is not a finite number",
                           opt_params[i].key, s);
    }
    /* State into scratch, so a failure leaves opt untouched. */
    size_t nb = opt_buffers(opt->kind);
    float *scratch = NULL;
    if (st == MMOE_OK) {
        scratch = mmoe__calloc(opt->state_len ? opt->state_len : 1, sizeof(float));
        if (!scratch)
            st = MMOE_FAIL(opt->err, MMOE_ERR_NOMEM, "no memory for %zu floats", opt->state_len);
    }
    if (st == MMOE_OK) {
        char names[2][32];
        mmoe__st_tensor t[2];
        for (size_t b = 0; b < nb; b++) {
            snprintf(names[b], sizeof names[b], "state.%zu", b);
            t[b] = (mmoe__st_tensor){.name = names[b],
                                     .rank = 1,
                                     .shape = {(int64_t)opt->n, 0},
                                     .numel = opt->n,
                                     .dst = scratch + b * opt->n};
        }
        st = mmoe__st_read_tensors(&f, t, nb, opt->err);
    }
    /* Apply hyper-parameters with rollback (mmoe_optimizer_set checks ranges). */
    if (st == MMOE_OK) {
        double old[N_OPT_PARAMS];
        size_t i;
        for (i = 0; i < N_OPT_PARAMS; i++)
            if (used[i])
                (void)mmoe_optimizer_get(opt, opt_params[i].param, &old[i]);
        for (i = 0; i < N_OPT_PARAMS; i++)
            if (used[i] && mmoe_optimizer_set(opt, opt_params[i].param, values[i]) != MMOE_OK)
                break;
        if (i < N_OPT_PARAMS) {
            size_t bad = i;
            for (size_t j = 0; j < bad; j++)
                if (used[j])
                    (void)mmoe_optimizer_set(opt, opt_params[j].param, old[j]);
            st = MMOE_FAIL(opt->err, MMOE_ERR_RANGE, "%s = %.17g is out of range",
                           opt_params[bad].key, values[bad]);
        }
    }
    if (st == MMOE_OK) {
        memcpy(opt->state, scratch, opt->state_len * sizeof(float));
        mmoe__optimizer_state_changed(opt);
        opt->steps = steps;
        mmoe__clear(opt->err);
    }
    mmoe__free(scratch);
    mmoe__st_close(&f);
    return st;
}

mmoe_status mmoe_optimizer_load_buffer(mmoe_optimizer *opt, const void *buf, size_t len)
{
    if (!opt)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "opt is NULL");
    if (!buf)
        return MMOE_FAIL(opt->err, MMOE_ERR_NULL, "buf is NULL");
    mmoe_status st = optimizer_load(opt, buf, len);
    return st ? with_prefix(opt->err, st, __func__, "") : MMOE_OK;
}

mmoe_status mmoe_optimizer_load(mmoe_optimizer *opt, const char *path)
{
    if (!opt)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "opt is NULL");
    if (!path)
        return MMOE_FAIL(opt->err, MMOE_ERR_NULL, "path is NULL");
    mmoe__st_bytes b;
    mmoe_status st = mmoe__st_map_path(path, &b, opt->err);
    if (st == MMOE_OK) {
        st = optimizer_load(opt, b.data, b.len);
        mmoe__st_unmap(&b);
    }
    return st ? with_path(opt->err, st, __func__, path) : MMOE_OK;
}
