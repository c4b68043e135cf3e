/*
 * Model descriptions: a fixed set of keys with text values, a strict parser
 * and a canonical, versioned text form.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "activation.h"
#include "config_impl.h"
#include "numtext.h"

static const char *const arch_names[] = {"mmoe",           "omoe",         "shared_bottom",
                                         "single_task",    "l2_constrained", "cross_stitch",
                                         "tensor_factorization"};
#define N_ARCH ((int)(sizeof arch_names / sizeof *arch_names))
static const char *const pooling_names[] = {"mean", "sum"};
static const char *const oov_names[] = {"error", "hash"};
static const char *const form_names[] = {"vector", "matrix"};
static const char *const kind_names[] = {"regression", "binary"};

static void task_defaults(mmoe__task_cfg *t, size_t k)
{
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "task%zu", k);
    t->kind = MMOE_TASK_REGRESSION;
    t->weight = 1.0;
    t->n_layers = 1;
    t->widths[0] = 8;
    t->act = MMOE_ACT_RELU;
}

static void config_defaults(mmoe_config *c)
{
    memset(c, 0, sizeof *c);
    c->arch = MMOE_ARCH_MMOE;
    c->n_experts = 8;
    c->expert_layers = 1;
    c->expert_widths[0] = 16;
    c->expert_act = MMOE_ACT_RELU;
    c->seed = 1;
    c->l2_lambda = 1e-3;
    c->tf_rank = 4;
    c->dnn_act = MMOE_ACT_RELU;
}

static void sparse_defaults(mmoe__sparse_cfg *f, size_t k)
{
    memset(f, 0, sizeof *f);
    snprintf(f->name, sizeof f->name, "sparse%zu", k);
    f->vocab = 1000;
    f->dim = 8;
    f->slots = 1;
}

mmoe_status mmoe_config_create(mmoe_config **out)
{
    if (!out)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "out is NULL");
    *out = NULL;
    mmoe_config *c = mmoe__malloc(sizeof *c);
    if (!c)
        return MMOE_FAIL(NULL, MMOE_ERR_NOMEM, "no memory for a config");
    config_defaults(c);
    *out = c;
    return MMOE_OK;
}

void mmoe_config_free(mmoe_config *cfg)
{
    mmoe__free(cfg);
}

mmoe_status mmoe_config_clone(const mmoe_config *cfg, mmoe_config **out)
{
    if (!out || !cfg) {
        if (out)
            *out = NULL;
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "%s is NULL", cfg ? "out" : "cfg");
    }
    *out = NULL;
    mmoe_config *c = mmoe__malloc(sizeof *c);
    if (!c)
        return MMOE_FAIL(NULL, MMOE_ERR_NOMEM, "no memory for a config");
    memcpy(c, cfg, sizeof *c);
    c->err[0] = '\0';
    *out = c;
    return MMOE_OK;
}

/* ---- value parsing ---------------------------------------------------- */

static int parse_u64(const char *s, uint64_t *v)
{
    if (!s || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    char *end;
    unsigned long long x = strtoull(s, &end, 10);
    if (errno || *end)
        return -1;
    *v = x;
    return 0;
}

static int parse_size(const char *s, size_t lo, size_t hi, size_t *v)
{
    uint64_t x;
    if (parse_u64(s, &x) || x < lo || x > hi)
        return -1;
    *v = (size_t)x;
    return 0;
}

/* Comma-separated widths, each 1..MMOE__MAX_WIDTH; empty allowed when allow_empty. */
static int parse_widths(const char *s, int allow_empty, size_t *n, size_t *w)
{
    size_t k = 0;
    if (*s == '\0') {
        if (!allow_empty)
            return -1;
        *n = 0;
        return 0;
    }
    const char *p = s;
    for (;;) {
        char tok[32];
        size_t len = strcspn(p, ",");
        if (len == 0 || len >= sizeof tok || k >= MMOE_MAX_LAYERS)
            return -1;
        memcpy(tok, p, len);
        tok[len] = '\0';
        if (parse_size(tok, 1, MMOE__MAX_WIDTH, &w[k]))
            return -1;
        k++;
        if (p[len] == '\0')
            break;
        p += len + 1;
    }
    *n = k;
    return 0;
}

static int parse_name(const char *s, char *dst)
{
    size_t len = strlen(s);
    if (len == 0 || len >= MMOE__NAME_MAX)
        return -1;
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                 ch == '_' || ch == '.' || ch == '-';
        if (!ok)
            return -1;
    }
    memcpy(dst, s, len + 1);
    return 0;
}

static int parse_enum(const char *s, const char *const *names, int n)
{
    for (int i = 0; i < n; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

static int parse_weight(const char *s, double *v)
{
    double x;
    if (mmoe__parse_double(s, &x) || x < 0.0)
        return -1;
    *v = x;
    return 0;
}

/* Split "<prefix>K.field": returns 0 and sets k/field, -1 otherwise. */
static int split_key(const char *key, const char *prefix, size_t limit, size_t *k,
                     const char **field)
{
    size_t plen = strlen(prefix);
    if (strncmp(key, prefix, plen) != 0)
        return -1;
    const char *p = key + plen;
    size_t len = strcspn(p, ".");
    char num[16];
    if (len == 0 || len >= sizeof num || p[len] != '.')
        return -1;
    memcpy(num, p, len);
    num[len] = '\0';
    if (len > 1 && num[0] == '0')
        return -1;
    if (parse_size(num, 0, limit - 1, k))
        return -1;
    *field = p + len + 1;
    return 0;
}

static int split_task_key(const char *key, size_t *k, const char **field)
{
    return split_key(key, "task.", MMOE_MAX_TASKS, k, field);
}

static int split_sparse_key(const char *key, size_t *k, const char **field)
{
    return split_key(key, "sparse.", MMOE__MAX_SPARSE, k, field);
}

static int parse_real(const char *s, double lo, double hi, int hi_open, double *v)
{
    double x;
    if (parse_weight(s, &x) || x < lo || x > hi || (hi_open && x >= hi))
        return -1;
    *v = x;
    return 0;
}

/* Keys of the input side and of the paper baselines; 1 when key is not one of them. */
static int apply_more(mmoe_config *c, const char *key, const char *value, char *err,
                      mmoe_status *st)
{
    size_t k;
    const char *field;
    int e;
    *st = MMOE_OK;
    if (strcmp(key, "l2.lambda") == 0) {
        if (parse_real(value, 0.0, 1e30, 0, &c->l2_lambda))
            *st = MMOE_FAIL(err, MMOE_ERR_CONFIG, "l2.lambda '%s' not a finite number >= 0", value);
    } else if (strcmp(key, "tf.rank") == 0) {
        if (parse_size(value, 1, 4096, &c->tf_rank))
            *st = MMOE_FAIL(err, MMOE_ERR_CONFIG, "tf.rank '%s' not an integer in 1..4096", value);
    } else if (strcmp(key, "input.sparse") == 0) {
        size_t n;
        if (parse_size(value, 0, MMOE__MAX_SPARSE, &n)) {
            *st = MMOE_FAIL(err, MMOE_ERR_CONFIG, "input.sparse '%s' not an integer in 0..%d", value,
                            MMOE__MAX_SPARSE);
        } else {
            for (size_t i = c->n_sparse; i < n; i++)
                sparse_defaults(&c->sparse[i], i);
            c->n_sparse = n;
        }
    } else if (split_sparse_key(key, &k, &field) == 0) {
        mmoe__sparse_cfg *f = &c->sparse[k];
        uint64_t v;
        if (k >= c->n_sparse)
            *st = MMOE_FAIL(err, MMOE_ERR_CONFIG, "%s: sparse feature %zu does not exist "
                            "(input.sparse = %zu)", key, k, c->n_sparse);
        else if (strcmp(field, "name") == 0) {
            if (parse_name(value, f->name))
                *st = MMOE_FAIL(err, MMOE_ERR_CONFIG, "%s '%s': want 1..%d chars of [A-Za-z0-9_.-]",
                                key, value, MMOE__NAME_MAX - 1);
        } else if (strcmp(field, "vocab") == 0) {
            if (parse_u64(value, &v) || v < 1 || v > ((uint64_t)1 << 31))
                *st = MMOE_FAIL(err, MMOE_ERR_CONFIG, "%s '%s' not an integer in 1..2^31", key,
                                value);
            else
                f->vocab = v;
        } else if (strcmp(field, "dim") == 0) {
            if (parse_size(value, 1, 4096, &f->dim))
                *st = MMOE_FAIL(err, MMOE_ERR_CONFIG, "%s '%s' not an integer in 1..4096", key,
                                value);
        } else if (strcmp(field, "slots") == 0) {
            if (parse_size(value, 1, 4096, &f->slots))
                *st = MMOE_FAIL(err, MMOE_ERR_CONFIG, "%s '%s' not an integer in 1..4096", key,
                                value);
        } else if (strcmp(field, "pooling") == 0) {
            if ((e = parse_enum(value, pooling_names, 2)) < 0)
                *st = MMOE_FAIL(err, MMOE_ERR_CONFIG, "%s '%s' unknown (mean, sum)", key, value);
            else
                f->pooling = e;
        } else if (strcmp(field, "oov") == 0) {
            if ((e = parse_enum(value, oov_names, 2)) < 0)
                *st = MMOE_FAIL(err, MMOE_ERR_CONFIG, "%s '%s' unknown (error, hash)", key, value);
            else
                f->oov = e;
        } else {
            *st = MMOE_FAIL(err, MMOE_ERR_CONFIG, "unknown key '%s'", key);
        }
    } else if (strcmp(key, "cross.layers") == 0) {
        if (parse_size(value, 0, 16, &c->cross_layers))
            *st = MMOE_FAIL(err, MMOE_ERR_CONFIG, "cross.layers '%s' not an integer in 0..16", value);
    } else if (strcmp(key, "cross.form") == 0) {
        if ((e = parse_enum(value, form_names, 2)) < 0)
            *st = MMOE_FAIL(err, MMOE_ERR_CONFIG, "cross.form '%s' unknown (vector, matrix)", value);
        else
            c->cross_form = e;
    } else if (strcmp(key, "dnn.layers") == 0) {
        if (parse_widths(value, 1, &c->dnn_layers, c->dnn_widths))
            *st = MMOE_FAIL(err, MMOE_ERR_CONFIG,
                            "dnn.layers '%s': want 0..%d comma-separated widths in 1..%zu", value,
                            MMOE_MAX_LAYERS, MMOE__MAX_WIDTH);
    } else if (strcmp(key, "dnn.activation") == 0) {
        if ((e = mmoe__act_parse(value)) < 0)
            *st = MMOE_FAIL(err, MMOE_ERR_CONFIG, "dnn.activation '%s' unknown", value);
        else
            c->dnn_act = (mmoe_activation)e;
    } else if (strcmp(key, "dnn.batchnorm") == 0) {
        if (strcmp(value, "0") && strcmp(value, "1"))
            *st = MMOE_FAIL(err, MMOE_ERR_CONFIG, "dnn.batchnorm '%s' not 0 or 1", value);
        else
            c->dnn_batchnorm = value[0] == '1';
    } else if (strcmp(key, "dnn.dropout") == 0) {
        if (parse_real(value, 0.0, 1.0, 1, &c->dnn_dropout))
            *st = MMOE_FAIL(err, MMOE_ERR_CONFIG, "dnn.dropout '%s' not a number in [0, 1)", value);
    } else {
        return 1;
    }
    return 0;
}

/* Apply key=value to c; on failure c may be partly changed (callers work on a copy). */
static mmoe_status apply(mmoe_config *c, const char *key, const char *value, char *err)
{
    size_t k;
    const char *field;
    int e;
    if (strcmp(key, "arch") == 0) {
        if ((e = parse_enum(value, arch_names, N_ARCH)) < 0)
            return MMOE_FAIL(err, MMOE_ERR_CONFIG,
                             "arch '%s' unknown (mmoe, omoe, shared_bottom, single_task, "
                             "l2_constrained, cross_stitch, tensor_factorization)",
                             value);
        c->arch = (mmoe_arch)e;
    } else if (strcmp(key, "input.dense") == 0) {
        if (parse_size(value, 1, MMOE__MAX_INPUT, &c->input_dense))
            return MMOE_FAIL(err, MMOE_ERR_CONFIG, "input.dense '%s' not an integer in 1..%zu", value,
                             MMOE__MAX_INPUT);
    } else if (strcmp(key, "experts.count") == 0) {
        if (parse_size(value, 1, MMOE__MAX_EXPERTS, &c->n_experts))
            return MMOE_FAIL(err, MMOE_ERR_CONFIG, "experts.count '%s' not an integer in 1..%d",
                             value, MMOE__MAX_EXPERTS);
    } else if (strcmp(key, "experts.layers") == 0) {
        if (parse_widths(value, 0, &c->expert_layers, c->expert_widths))
            return MMOE_FAIL(err, MMOE_ERR_CONFIG,
                             "experts.layers '%s': want 1..%d comma-separated widths in 1..%zu",
                             value, MMOE_MAX_LAYERS, MMOE__MAX_WIDTH);
    } else if (strcmp(key, "experts.activation") == 0) {
        if ((e = mmoe__act_parse(value)) < 0)
            return MMOE_FAIL(err, MMOE_ERR_CONFIG, "experts.activation '%s' unknown", value);
        c->expert_act = (mmoe_activation)e;
    } else if (strcmp(key, "seed") == 0) {
        if (parse_u64(value, &c->seed))
            return MMOE_FAIL(err, MMOE_ERR_CONFIG, "seed '%s' not an unsigned 64-bit integer", value);
    } else if (strcmp(key, "tasks") == 0) {
        size_t n;
        if (parse_size(value, 0, MMOE_MAX_TASKS, &n))
            return MMOE_FAIL(err, MMOE_ERR_CONFIG, "tasks '%s' not an integer in 0..%d", value,
                             MMOE_MAX_TASKS);
        for (size_t i = c->n_tasks; i < n; i++)
            task_defaults(&c->tasks[i], i);
        c->n_tasks = n;
    } else if (split_task_key(key, &k, &field) == 0) {
        if (k >= c->n_tasks)
            return MMOE_FAIL(err, MMOE_ERR_CONFIG, "%s: task %zu does not exist (tasks = %zu)", key,
                             k, c->n_tasks);
        mmoe__task_cfg *t = &c->tasks[k];
        if (strcmp(field, "name") == 0) {
            if (parse_name(value, t->name))
                return MMOE_FAIL(err, MMOE_ERR_CONFIG, "%s '%s': want 1..%d chars of [A-Za-z0-9_.-]",
                                 key, value, MMOE__NAME_MAX - 1);
        } else if (strcmp(field, "kind") == 0) {
            if ((e = parse_enum(value, kind_names, 2)) < 0)
                return MMOE_FAIL(err, MMOE_ERR_CONFIG, "%s '%s' unknown (regression, binary)", key,
                                 value);
            t->kind = (mmoe_task_kind)e;
        } else if (strcmp(field, "weight") == 0) {
            if (parse_weight(value, &t->weight))
                return MMOE_FAIL(err, MMOE_ERR_CONFIG, "%s '%s' not a finite number >= 0", key, value);
        } else if (strcmp(field, "layers") == 0) {
            if (parse_widths(value, 1, &t->n_layers, t->widths))
                return MMOE_FAIL(err, MMOE_ERR_CONFIG,
                                 "%s '%s': want 0..%d comma-separated widths in 1..%zu", key, value,
                                 MMOE_MAX_LAYERS, MMOE__MAX_WIDTH);
        } else if (strcmp(field, "activation") == 0) {
            if ((e = mmoe__act_parse(value)) < 0)
                return MMOE_FAIL(err, MMOE_ERR_CONFIG, "%s '%s' unknown", key, value);
            t->act = (mmoe_activation)e;
        } else {
            return MMOE_FAIL(err, MMOE_ERR_CONFIG, "unknown key '%s'", key);
        }
    } else {
        mmoe_status st;
        if (apply_more(c, key, value, err, &st))
            return MMOE_FAIL(err, MMOE_ERR_CONFIG, "unknown key '%s'", key);
        return st;
    }
    return MMOE_OK;
}

mmoe_status mmoe_config_set(mmoe_config *cfg, const char *key, const char *value)
{
    if (!cfg || !key || !value)
        return MMOE_FAIL(cfg ? cfg->err : NULL, MMOE_ERR_NULL, "%s is NULL",
                         !cfg ? "cfg" : !key ? "key" : "value");
    /* Each key touches one field or the task list; apply to a copy of what may change. */
    mmoe_config *tmp = mmoe__malloc(sizeof *tmp);
    if (!tmp)
        return MMOE_FAIL(cfg->err, MMOE_ERR_NOMEM, "no memory");
    memcpy(tmp, cfg, sizeof *tmp);
    mmoe_status st = apply(tmp, key, value, cfg->err);
    if (st == MMOE_OK) {
        memcpy(cfg, tmp, sizeof *tmp);
        mmoe__clear(cfg->err);
    }
    mmoe__free(tmp);
    return st;
}

mmoe_status mmoe_config_set_int(mmoe_config *cfg, const char *key, int64_t value)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%lld", (long long)value);
    return mmoe_config_set(cfg, key, buf);
}

mmoe_status mmoe_config_set_real(mmoe_config *cfg, const char *key, double value)
{
    char buf[64];
    mmoe__format_double(buf, sizeof buf, value, 17);
    return mmoe_config_set(cfg, key, buf);
}

mmoe_status mmoe_config_set_arch(mmoe_config *cfg, mmoe_arch arch)
{
    if ((int)arch < 0 || (int)arch >= N_ARCH)
        return MMOE_FAIL(cfg ? cfg->err : NULL, MMOE_ERR_CONFIG, "arch %d unknown", (int)arch);
    return mmoe_config_set(cfg, "arch", arch_names[arch]);
}

static void format_widths(char *buf, size_t cap, size_t n, const size_t *w)
{
    size_t pos = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && pos < cap; i++) {
        int r = snprintf(buf + pos, cap - pos, i ? ",%zu" : "%zu", w[i]);
        if (r < 0)
            break;
        pos += (size_t)r;
    }
}

mmoe_status mmoe_config_set_experts(mmoe_config *cfg, size_t n_experts, size_t n_layers,
                                    const size_t *widths, mmoe_activation act)
{
    if (!cfg || !widths)
        return MMOE_FAIL(cfg ? cfg->err : NULL, MMOE_ERR_NULL, "%s is NULL", cfg ? "widths" : "cfg");
    if (n_layers < 1 || n_layers > MMOE_MAX_LAYERS)
        return MMOE_FAIL(cfg->err, MMOE_ERR_CONFIG, "n_layers %zu not in 1..%d", n_layers,
                         MMOE_MAX_LAYERS);
    if (!mmoe__act_valid((int)act))
        return MMOE_FAIL(cfg->err, MMOE_ERR_CONFIG, "activation %d unknown", (int)act);
    mmoe_config tmp;
    memcpy(&tmp, cfg, sizeof tmp);
    char buf[MMOE_MAX_LAYERS * 24];
    mmoe_status st;
    format_widths(buf, sizeof buf, n_layers, widths);
    char cnt[32];
    snprintf(cnt, sizeof cnt, "%zu", n_experts);
    if ((st = apply(&tmp, "experts.count", cnt, cfg->err)) ||
        (st = apply(&tmp, "experts.layers", buf, cfg->err)) ||
        (st = apply(&tmp, "experts.activation", mmoe__act_name(act), cfg->err)))
        return st;
    memcpy(cfg, &tmp, sizeof tmp);
    mmoe__clear(cfg->err);
    return MMOE_OK;
}

mmoe_status mmoe_config_add_task(mmoe_config *cfg, const char *name, mmoe_task_kind kind,
                                 size_t n_hidden, const size_t *hidden, mmoe_activation act,
                                 float loss_weight)
{
    if (!cfg || !name || (n_hidden && !hidden))
        return MMOE_FAIL(cfg ? cfg->err : NULL, MMOE_ERR_NULL, "%s is NULL",
                         !cfg ? "cfg" : !name ? "name" : "hidden");
    if (cfg->n_tasks >= MMOE_MAX_TASKS)
        return MMOE_FAIL(cfg->err, MMOE_ERR_RANGE, "already %d tasks", MMOE_MAX_TASKS);
    if (n_hidden > MMOE_MAX_LAYERS)
        return MMOE_FAIL(cfg->err, MMOE_ERR_CONFIG, "n_hidden %zu > %d", n_hidden, MMOE_MAX_LAYERS);
    if ((int)kind < 0 || (int)kind > 1 || !mmoe__act_valid((int)act))
        return MMOE_FAIL(cfg->err, MMOE_ERR_CONFIG, "unknown task kind %d or activation %d",
                         (int)kind, (int)act);
    mmoe_config *tmp = mmoe__malloc(sizeof *tmp);
    if (!tmp)
        return MMOE_FAIL(cfg->err, MMOE_ERR_NOMEM, "no memory");
    memcpy(tmp, cfg, sizeof *tmp);
    size_t k = tmp->n_tasks;
    char key[48], val[MMOE_MAX_LAYERS * 24], cnt[16];
    mmoe_status st;
    snprintf(cnt, sizeof cnt, "%zu", k + 1);
    st = apply(tmp, "tasks", cnt, cfg->err);
#define SETF(field, v)                                                                        \
    if (st == MMOE_OK) {                                                                      \
        snprintf(key, sizeof key, "task.%zu." field, k);                                      \
        st = apply(tmp, key, (v), cfg->err);                                                  \
    }
    SETF("name", name)
    SETF("kind", kind_names[kind])
    mmoe__format_double(val, sizeof val, (double)loss_weight, 9);
    SETF("weight", val)
    format_widths(val, sizeof val, n_hidden, hidden);
    SETF("layers", val)
    SETF("activation", mmoe__act_name(act))
#undef SETF
    if (st == MMOE_OK) {
        memcpy(cfg, tmp, sizeof *tmp);
        mmoe__clear(cfg->err);
    }
    mmoe__free(tmp);
    return st;
}

/* ---- text form ------------------------------------------------------- */

/* Format one key's value; returns -1 for an unknown key. */
static int format_value(const mmoe_config *c, const char *key, char *buf, size_t cap)
{
    size_t k;
    const char *field;
    if (strcmp(key, "arch") == 0)
        snprintf(buf, cap, "%s", arch_names[c->arch]);
    else if (strcmp(key, "input.dense") == 0)
        snprintf(buf, cap, "%zu", c->input_dense);
    else if (strcmp(key, "experts.count") == 0)
        snprintf(buf, cap, "%zu", c->n_experts);
    else if (strcmp(key, "experts.layers") == 0)
        format_widths(buf, cap, c->expert_layers, c->expert_widths);
    else if (strcmp(key, "experts.activation") == 0)
        snprintf(buf, cap, "%s", mmoe__act_name(c->expert_act));
    else if (strcmp(key, "seed") == 0)
        snprintf(buf, cap, "%llu", (unsigned long long)c->seed);
    else if (strcmp(key, "tasks") == 0)
        snprintf(buf, cap, "%zu", c->n_tasks);
    else if (strcmp(key, "l2.lambda") == 0)
        mmoe__format_double(buf, cap, c->l2_lambda, 17);
    else if (strcmp(key, "tf.rank") == 0)
        snprintf(buf, cap, "%zu", c->tf_rank);
    else if (strcmp(key, "input.sparse") == 0)
        snprintf(buf, cap, "%zu", c->n_sparse);
    else if (strcmp(key, "cross.layers") == 0)
        snprintf(buf, cap, "%zu", c->cross_layers);
    else if (strcmp(key, "cross.form") == 0)
        snprintf(buf, cap, "%s", form_names[c->cross_form]);
    else if (strcmp(key, "dnn.layers") == 0)
        format_widths(buf, cap, c->dnn_layers, c->dnn_widths);
    else if (strcmp(key, "dnn.activation") == 0)
        snprintf(buf, cap, "%s", mmoe__act_name(c->dnn_act));
    else if (strcmp(key, "dnn.batchnorm") == 0)
        snprintf(buf, cap, "%d", c->dnn_batchnorm);
    else if (strcmp(key, "dnn.dropout") == 0)
        mmoe__format_double(buf, cap, c->dnn_dropout, 17);
    else if (split_sparse_key(key, &k, &field) == 0 && k < c->n_sparse) {
        const mmoe__sparse_cfg *f = &c->sparse[k];
        if (strcmp(field, "name") == 0)
            snprintf(buf, cap, "%s", f->name);
        else if (strcmp(field, "vocab") == 0)
            snprintf(buf, cap, "%llu", (unsigned long long)f->vocab);
        else if (strcmp(field, "dim") == 0)
            snprintf(buf, cap, "%zu", f->dim);
        else if (strcmp(field, "slots") == 0)
            snprintf(buf, cap, "%zu", f->slots);
        else if (strcmp(field, "pooling") == 0)
            snprintf(buf, cap, "%s", pooling_names[f->pooling]);
        else if (strcmp(field, "oov") == 0)
            snprintf(buf, cap, "%s", oov_names[f->oov]);
        else
            return -1;
    } else if (split_task_key(key, &k, &field) == 0 && k < c->n_tasks) {
        const mmoe__task_cfg *t = &c->tasks[k];
        if (strcmp(field, "name") == 0)
            snprintf(buf, cap, "%s", t->name);
        else if (strcmp(field, "kind") == 0)
            snprintf(buf, cap, "%s", kind_names[t->kind]);
        else if (strcmp(field, "weight") == 0)
            mmoe__format_double(buf, cap, t->weight, 17);
        else if (strcmp(field, "layers") == 0)
            format_widths(buf, cap, t->n_layers, t->widths);
        else if (strcmp(field, "activation") == 0)
            snprintf(buf, cap, "%s", mmoe__act_name(t->act));
        else
            return -1;
    } else
        return -1;
    return 0;
}

mmoe_status mmoe_config_get(const mmoe_config *cfg, const char *key, char *buf, size_t cap)
{
    if (!cfg || !key || !buf || cap == 0)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "%s", !cfg ? "cfg is NULL" : !key ? "key is NULL"
                                                                   : "buf is NULL or cap is 0");
    char tmp[MMOE_MAX_LAYERS * 24 + MMOE__NAME_MAX];
    if (format_value(cfg, key, tmp, sizeof tmp))
        return MMOE_FAIL(NULL, MMOE_ERR_CONFIG, "unknown key '%s'", key);
    size_t len = strlen(tmp);
    if (len >= cap) {
        memcpy(buf, tmp, cap - 1);
        buf[cap - 1] = '\0';
        return MMOE_FAIL(NULL, MMOE_ERR_RANGE, "value of '%s' needs %zu bytes", key, len + 1);
    }
    memcpy(buf, tmp, len + 1);
    return MMOE_OK;
}

static const char *const global_keys[] = {
    "arch",         "input.dense", "experts.count", "experts.layers", "experts.activation",
    "seed",         "l2.lambda",   "tf.rank",       "cross.layers",   "cross.form",
    "dnn.layers",   "dnn.activation", "dnn.batchnorm", "dnn.dropout", "input.sparse", "tasks"};
static const char *const task_fields[] = {"name", "kind", "weight", "layers", "activation"};
static const char *const sparse_fields[] = {"name", "vocab", "dim", "slots", "pooling", "oov"};

mmoe_status mmoe_config_to_string(const mmoe_config *cfg, char **out)
{
    if (!cfg || !out) {
        if (out)
            *out = NULL;
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "%s is NULL", cfg ? "out" : "cfg");
    }
    *out = NULL;
    /* Upper bound: every line fits in 256 bytes. */
    size_t lines = 1 + sizeof global_keys / sizeof *global_keys + cfg->n_tasks * 5 +
                   cfg->n_sparse * 6;
    size_t cap = lines * 256;
    char *s = mmoe__malloc(cap);
    if (!s)
        return MMOE_FAIL(NULL, MMOE_ERR_NOMEM, "no memory for %zu bytes", cap);
    size_t pos = (size_t)snprintf(s, cap, "mmoe-config %d\n", MMOE_CONFIG_FORMAT_VERSION);
    char val[200], key[48];
    for (size_t i = 0; i < sizeof global_keys / sizeof *global_keys; i++) {
        format_value(cfg, global_keys[i], val, sizeof val);
        pos += (size_t)snprintf(s + pos, cap - pos, "%s%s%s\n", global_keys[i], val[0] ? " " : "",
                                val);
    }
    for (size_t k = 0; k < cfg->n_sparse; k++)
        for (size_t f = 0; f < 6; f++) {
            snprintf(key, sizeof key, "sparse.%zu.%s", k, sparse_fields[f]);
            format_value(cfg, key, val, sizeof val);
            pos += (size_t)snprintf(s + pos, cap - pos, "%s %s\n", key, val);
        }
    for (size_t k = 0; k < cfg->n_tasks; k++)
        for (size_t f = 0; f < 5; f++) {
            snprintf(key, sizeof key, "task.%zu.%s", k, task_fields[f]);
            format_value(cfg, key, val, sizeof val);
            pos += (size_t)snprintf(s + pos, cap - pos, "%s%s%s\n", key, val[0] ? " " : "", val);
        }
    *out = s;
    return MMOE_OK;
}

void mmoe_string_free(char *s)
{
    mmoe__free(s);
}

mmoe_status mmoe_config_parse(mmoe_config *cfg, const char *text)
{
    if (!cfg || !text)
        return MMOE_FAIL(cfg ? cfg->err : NULL, MMOE_ERR_NULL, "%s is NULL", cfg ? "text" : "cfg");
    mmoe_config *tmp = mmoe__malloc(sizeof *tmp);
    if (!tmp)
        return MMOE_FAIL(cfg->err, MMOE_ERR_NOMEM, "no memory");
    config_defaults(tmp);
    mmoe_status st = MMOE_OK;
    int have_header = 0;
    size_t lineno = 0;
    const char *p = text;
    char line[512];
    while (*p && st == MMOE_OK) {
        size_t len = strcspn(p, "\n");
        lineno++;
        if (len >= sizeof line) {
            st = MMOE_FAIL(cfg->err, MMOE_ERR_CONFIG, "line %zu longer than %zu bytes", lineno,
                           sizeof line - 1);
            break;
        }
        memcpy(line, p, len);
        line[len] = '\0';
        p += len + (p[len] == '\n');
        while (len && (line[len - 1] == '\r' || line[len - 1] == ' ' || line[len - 1] == '\t'))
            line[--len] = '\0';
        if (len == 0 || line[0] == '#')
            continue;
        char *sp = strchr(line, ' ');
        const char *value = "";
        if (sp) {
            *sp = '\0';
            value = sp + 1;
        }
        if (!have_header) {
            uint64_t v;
            if (strcmp(line, "mmoe-config") != 0 || parse_u64(value, &v) || v < 1) {
                st = MMOE_FAIL(cfg->err, MMOE_ERR_CONFIG,
                               "line %zu: expected 'mmoe-config VERSION' first", lineno);
            } else if (v > MMOE_CONFIG_FORMAT_VERSION) {
                st = MMOE_FAIL(cfg->err, MMOE_ERR_VERSION,
                               "config format version %llu is newer than this library's (%d)",
                               (unsigned long long)v, MMOE_CONFIG_FORMAT_VERSION);
            }
            have_header = 1;
            continue;
        }
        st = apply(tmp, line, value, cfg->err);
        if (st) {
            char inner[MMOE__ERRLEN];
            memcpy(inner, cfg->err, sizeof inner);
            st = MMOE_FAIL(cfg->err, st, "line %zu: %.200s", lineno, inner);
        }
    }
    if (st == MMOE_OK && !have_header)
        st = MMOE_FAIL(cfg->err, MMOE_ERR_CONFIG, "empty description (no 'mmoe-config' line)");
    if (st == MMOE_OK) {
        memcpy(cfg, tmp, sizeof *tmp);
        mmoe__clear(cfg->err);
    }
    mmoe__free(tmp);
    return st;
}

mmoe_status mmoe__config_check(const mmoe_config *c, char *err)
{
    if (c->input_dense == 0)
        return MMOE_FAIL(err, MMOE_ERR_CONFIG, "input.dense is not set");
    if (c->n_tasks == 0)
        return MMOE_FAIL(err, MMOE_ERR_CONFIG, "the model has no tasks");
    if (c->arch == MMOE_ARCH_SINGLE_TASK && c->n_tasks > MMOE__MAX_EXPERTS)
        return MMOE_FAIL(err, MMOE_ERR_CONFIG, "too many tasks for single_task");
    for (size_t i = 0; i < c->n_tasks; i++)
        for (size_t j = i + 1; j < c->n_tasks; j++)
            if (strcmp(c->tasks[i].name, c->tasks[j].name) == 0)
                return MMOE_FAIL(err, MMOE_ERR_CONFIG, "tasks %zu and %zu share the name '%s'", i, j,
                                 c->tasks[i].name);
    return MMOE_OK;
}

mmoe_status mmoe_config_validate(const mmoe_config *cfg)
{
    if (!cfg)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "cfg is NULL");
    return mmoe__config_check(cfg, NULL);
}

const char *mmoe_config_last_error(const mmoe_config *cfg)
{
    return cfg ? cfg->err : "";
}
