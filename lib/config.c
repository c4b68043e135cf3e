/*
 * Model descriptions: a fixed set of keys with text values, a strict parser
 * and a canonical, versioned text form.
 *
 * Every key is one row of a table (name, type, field, bounds, default);
 * setting, reading, writing the text form, listing the keys and the public
 * query of a key's bounds and default all walk the same rows. There are
 * three scopes: the global keys, the per-task keys ("task.K.field") and the
 * per-sparse-feature keys ("sparse.K.field"); the last two index arrays of
 * the description whose length is a count key ("tasks", "input.sparse").
 */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "activation.h"
#include "config_impl.h"
#include "gate.h"
#include "product.h"
#include "numtext.h"

static const char *const pooling_names[] = {"mean", "sum"};
static const char *const oov_names[] = {"error", "hash"};
static const char *const form_names[] = {"vector", "matrix"};
static const char *const kind_names[] = {"regression", "binary"};
static const char *const bool_names[] = {"0", "1"};

/* ---- key tables -------------------------------------------------------- */

typedef enum key_type {
    K_INT,    /* unsigned integer (size_t or uint64_t member) in [lo, hi] */
    K_REAL,   /* finite double in [lo, hi] */
    K_CHOICE, /* one word of a list; an enum or int member holds its index */
    K_WIDTHS, /* comma-separated widths: count member + size_t array */
    K_NAME,   /* 1..MMOE__NAME_MAX-1 chars of [A-Za-z0-9_.-] */
    K_COUNT,  /* number of entries of an indexed scope (tasks, input.sparse) */
    K_REALS   /* comma-separated reals: count member + float array, each in [lo, hi]
                 (lo -inf: the word -inf is accepted) */
} key_type;

/* The i-th word of a choice, NULL past the end. */
typedef const char *(*choice_fn)(int i);

typedef struct key_def {
    const char *name; /* "arch"; for indexed scopes the field ("name") */
    const char *tmpl; /* the key as listed ("task.K.name") */
    key_type type;
    size_t off, size; /* member, relative to the scope's entry */
    size_t count_off; /* K_WIDTHS, K_REALS: member holding the number of values */
    double lo, hi;    /* K_INT, K_REAL, K_COUNT: value; K_WIDTHS, K_REALS: each value */
    int min_count;    /* K_WIDTHS: 0 when the list may be empty, else 1 */
    choice_fn choice; /* K_CHOICE */
    const char *dflt; /* default as text; NULL: none (required, or a name from the index) */
} key_def;

typedef struct scope {
    const char *prefix; /* "task." / "sparse." / "" for the global keys */
    const char *noun;   /* "task" / "sparse feature" */
    const char *count_key;
    const char *name_stem; /* default names: stem + index */
    const key_def *keys;
    size_t n_keys;
    size_t base, stride, max; /* array of entries inside mmoe_config */
    size_t count_off;         /* member of mmoe_config holding the entry count */
} scope;

static const char *arch_word(int i)
{
    return i >= 0 ? mmoe_arch_name((mmoe_arch)i) : NULL; /* lib/arch.c */
}

static const char *gate_word(int i)
{
    return mmoe__gate_kind_name(i); /* lib/gate.c */
}

static const char *act_word(int i)
{
    return mmoe__act_valid(i) ? mmoe__act_name((mmoe_activation)i) : NULL;
}

#define WORDS_FN(fn, table)                                                                        \
    static const char *fn(int i)                                                                   \
    {                                                                                              \
        return i >= 0 && (size_t)i < sizeof table / sizeof *table ? table[i] : NULL;               \
    }
WORDS_FN(pooling_word, pooling_names)
WORDS_FN(oov_word, oov_names)
WORDS_FN(form_word, form_names)
WORDS_FN(kind_word, kind_names)
WORDS_FN(bool_word, bool_names)
#undef WORDS_FN

#define MEMBER(type, m) offsetof(type, m), sizeof(((type *)0)->m)
#define G(m) MEMBER(mmoe_config, m)
#define T(m) MEMBER(mmoe__task_cfg, m)
#define S(m) MEMBER(mmoe__sparse_cfg, m)
#define MAXW ((double)MMOE__MAX_WIDTH)
#define U64_MAX_D 18446744073709551615.0

/* The text form lists the global keys in this order, then sparse features, then tasks. */
static const key_def global_keys[] = {
    {"arch", "arch", K_CHOICE, G(arch), 0, 0, 0, 0, arch_word, "mmoe"},
    {"input.dense", "input.dense", K_INT, G(input_dense), 0, 1, (double)MMOE__MAX_INPUT, 0, NULL,
     NULL},
    {"experts.count", "experts.count", K_INT, G(n_experts), 0, 1, MMOE__MAX_EXPERTS, 0, NULL, "8"},
    {"experts.layers", "experts.layers", K_WIDTHS, G(expert_widths),
     offsetof(mmoe_config, expert_layers), 1, MAXW, 1, NULL, "16"},
    {"experts.activation", "experts.activation", K_CHOICE, G(expert_act), 0, 0, 0, 0, act_word,
     "relu"},
    {"seed", "seed", K_INT, G(seed), 0, 0, U64_MAX_D, 0, NULL, "1"},
    {"l2.lambda", "l2.lambda", K_REAL, G(l2_lambda), 0, 0, 1e30, 0, NULL, "0.001"},
    {"tf.rank", "tf.rank", K_INT, G(tf_rank), 0, 1, 4096, 0, NULL, "4"},
    {"cross.layers", "cross.layers", K_INT, G(cross_layers), 0, 0, 16, 0, NULL, "0"},
    {"cross.form", "cross.form", K_CHOICE, G(cross_form), 0, 0, 0, 0, form_word, "vector"},
    {"dnn.layers", "dnn.layers", K_WIDTHS, G(dnn_widths), offsetof(mmoe_config, dnn_layers), 1,
     MAXW, 0, NULL, ""},
    {"dnn.activation", "dnn.activation", K_CHOICE, G(dnn_act), 0, 0, 0, 0, act_word, "relu"},
    {"dnn.batchnorm", "dnn.batchnorm", K_CHOICE, G(dnn_batchnorm), 0, 0, 0, 0, bool_word, "0"},
    {"dnn.dropout", "dnn.dropout", K_REAL, G(dnn_dropout), 0, 0, 0x1.fffffffffffffp-1, 0, NULL,
     "0"},
    {"input.sparse", "input.sparse", K_COUNT, G(n_sparse), 0, 0, MMOE__MAX_SPARSE, 0, NULL, "0"},
    {"tasks", "tasks", K_COUNT, G(n_tasks), 0, 0, MMOE_MAX_TASKS, 0, NULL, "0"},
    /* gates of the gated kinds (lib/gate.c); written only when not at their default */
    {"gate.kind", "gate.kind", K_CHOICE, G(gate_kind), 0, 0, 0, 0, gate_word, "softmax"},
    {"gate.temperature", "gate.temperature", K_REAL, G(gate_temperature), 0, 1e-6, 1e6, 0, NULL,
     "1"},
    {"gate.top_k", "gate.top_k", K_INT, G(gate_top_k), 0, 1, MMOE__MAX_EXPERTS, 0, NULL, "2"},
    {"levels", "levels", K_INT, G(levels), 0, 1, 16, 0, NULL, "2"},
    {"gate.noise", "gate.noise", K_CHOICE, G(gate_noise), 0, 0, 0, 0, bool_word, "0"},
    {"gate.balance.importance", "gate.balance.importance", K_REAL, G(gate_w_importance), 0, 0, 1e6,
     0, NULL, "0"},
    {"gate.balance.load", "gate.balance.load", K_REAL, G(gate_w_load), 0, 0, 1e6, 0, NULL, "0"},
};

/*
 * Keys added after the first release of the text form: written only when
 * their value differs from the default, so that descriptions (and model
 * files) that do not use them keep their exact text.
 */
static int quiet_key(const key_def *d)
{
    return strncmp(d->tmpl, "gate.", 5) == 0 || strcmp(d->tmpl, "levels") == 0 ||
           strcmp(d->tmpl, "task.K.experts") == 0 || strcmp(d->tmpl, "task.K.product") == 0 ||
           d->type == K_REALS;
}

static const key_def sparse_keys[] = {
    {"name", "sparse.K.name", K_NAME, S(name), 0, 0, 0, 0, NULL, NULL},
    {"vocab", "sparse.K.vocab", K_INT, S(vocab), 0, 1, 2147483648.0, 0, NULL, "1000"},
    {"dim", "sparse.K.dim", K_INT, S(dim), 0, 1, 4096, 0, NULL, "8"},
    {"slots", "sparse.K.slots", K_INT, S(slots), 0, 1, 4096, 0, NULL, "1"},
    {"pooling", "sparse.K.pooling", K_CHOICE, S(pooling), 0, 0, 0, 0, pooling_word, "mean"},
    {"oov", "sparse.K.oov", K_CHOICE, S(oov), 0, 0, 0, 0, oov_word, "error"},
};

static const key_def task_keys[] = {
    {"name", "task.K.name", K_NAME, T(name), 0, 0, 0, 0, NULL, NULL},
    {"kind", "task.K.kind", K_CHOICE, T(kind), 0, 0, 0, 0, kind_word, "regression"},
    {"weight", "task.K.weight", K_REAL, T(weight), 0, 0, DBL_MAX, 0, NULL, "1"},
    {"layers", "task.K.layers", K_WIDTHS, T(widths), offsetof(mmoe__task_cfg, n_layers), 1, MAXW, 0,
     NULL, "8"},
    {"activation", "task.K.activation", K_CHOICE, T(act), 0, 0, 0, 0, act_word, "relu"},
    {"experts", "task.K.experts", K_INT, T(n_experts), 0, 0, MMOE__MAX_EXPERTS, 0, NULL, "1"},
    {"product", "task.K.product", K_WIDTHS, T(factors), offsetof(mmoe__task_cfg, n_factors), 0,
     MMOE_MAX_TASKS - 1, 0, NULL, ""},
    /* gate priors (lib/gate.c): one value per expert task K's gate mixes */
    {"gate_bias", "task.K.gate_bias", K_REALS, T(gate_bias), offsetof(mmoe__task_cfg, n_gate_bias),
     -1e6, 1e6, 0, NULL, ""},
    {"gate_mask", "task.K.gate_mask", K_REALS, T(gate_mask), offsetof(mmoe__task_cfg, n_gate_mask),
     -INFINITY, 1e6, 0, NULL, ""},
};

#undef MEMBER
#undef G
#undef T
#undef S
#undef MAXW
#undef U64_MAX_D

#define COUNT_OF(a) (sizeof a / sizeof *a)

static const scope scope_global = {"", "", NULL, NULL, global_keys, COUNT_OF(global_keys),
                                   0,  0,  1,    0};
static const scope scope_sparse = {"sparse.",
                                   "sparse feature",
                                   "input.sparse",
                                   "sparse",
                                   sparse_keys,
                                   COUNT_OF(sparse_keys),
                                   offsetof(mmoe_config, sparse),
                                   sizeof(mmoe__sparse_cfg),
                                   MMOE__MAX_SPARSE,
                                   offsetof(mmoe_config, n_sparse)};
static const scope scope_task = {"task.",
                                 "task",
                                 "tasks",
                                 "task",
                                 task_keys,
                                 COUNT_OF(task_keys),
                                 offsetof(mmoe_config, tasks),
                                 sizeof(mmoe__task_cfg),
                                 MMOE_MAX_TASKS,
                                 offsetof(mmoe_config, n_tasks)};

/* The scopes, in the order of the text form. */
static const scope *const scopes[] = {&scope_global, &scope_sparse, &scope_task};

/* ---- member access ---------------------------------------------------- */

static size_t get_size(const void *p)
{
    size_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static void set_size(void *p, size_t v)
{
    memcpy(p, &v, sizeof v);
}

/* Unsigned integer member of size 1, 2, 4 or 8 (integers, enums, ints holding indices). */
static uint64_t get_uint(const void *p, size_t size)
{
    switch (size) {
    case 1: {
        uint8_t v;
        memcpy(&v, p, 1);
        return v;
    }
    case 2: {
        uint16_t v;
        memcpy(&v, p, 2);
        return v;
    }
    case 4: {
        uint32_t v;
        memcpy(&v, p, 4);
        return v;
    }
    default: {
        uint64_t v;
        memcpy(&v, p, 8);
        return v;
    }
    }
}

static void set_uint(void *p, size_t size, uint64_t x)
{
    switch (size) {
    case 1: {
        uint8_t v = (uint8_t)x;
        memcpy(p, &v, 1);
        break;
    }
    case 2: {
        uint16_t v = (uint16_t)x;
        memcpy(p, &v, 2);
        break;
    }
    case 4: {
        uint32_t v = (uint32_t)x;
        memcpy(p, &v, 4);
        break;
    }
    default:
        memcpy(p, &x, 8);
        break;
    }
}

/* Entry k of an indexed scope (the config itself for the global scope). */
static char *entry(mmoe_config *c, const scope *sc, size_t k)
{
    return (char *)c + sc->base + k * sc->stride;
}

static const char *centry(const mmoe_config *c, const scope *sc, size_t k)
{
    return (const char *)c + sc->base + k * sc->stride;
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

/* An unsigned decimal in [lo, hi] (bounds from the table, exact below 2^53 and at 2^64-1). */
static int parse_int(const char *s, double lo, double hi, uint64_t *v)
{
    uint64_t x;
    if (parse_u64(s, &x))
        return -1;
    if ((double)x < lo || (hi < 18446744073709551615.0 && (double)x > hi))
        return -1;
    *v = x;
    return 0;
}

/* Comma-separated widths, each in [lo, hi]; at least min_count, at most MMOE_MAX_LAYERS. */
static int parse_widths(const char *s, int min_count, double lo, double hi, size_t *n, size_t *w)
{
    size_t k = 0;
    if (*s == '\0') {
        if (min_count > 0)
            return -1;
        *n = 0;
        return 0;
    }
    const char *p = s;
    for (;;) {
        char tok[32];
        size_t len = strcspn(p, ",");
        uint64_t x;
        if (len == 0 || len >= sizeof tok || k >= MMOE_MAX_LAYERS)
            return -1;
        memcpy(tok, p, len);
        tok[len] = '\0';
        if (parse_int(tok, lo, hi, &x))
            return -1;
        w[k++] = (size_t)x;
        if (p[len] == '\0')
            break;
        p += len + 1;
    }
    *n = k;
    return 0;
}

/* One real of a K_REALS list: finite in [lo, hi], or the word -inf when lo is -inf. */
static int parse_real(const char *s, double lo, double hi, float *v)
{
    double r;
    if (lo == -INFINITY && strcmp(s, "-inf") == 0) {
        *v = -INFINITY;
        return 0;
    }
    if (mmoe__parse_double(s, &r) || !(r >= lo && r <= hi))
        return -1;
    *v = (float)r;
    return 0;
}

/* Comma-separated reals (may be empty), at most MMOE__MAX_PRIOR. */
static int parse_reals(const char *s, double lo, double hi, size_t *n, float *v)
{
    size_t k = 0;
    for (const char *p = s; *p;) {
        char tok[64];
        size_t len = strcspn(p, ",");
        if (len == 0 || len >= sizeof tok || k >= MMOE__MAX_PRIOR)
            return -1;
        memcpy(tok, p, len);
        tok[len] = '\0';
        if (parse_real(tok, lo, hi, &v[k++]))
            return -1;
        if (p[len] == '\0')
            break;
        p += len + 1;
        if (*p == '\0') /* a trailing comma */
            return -1;
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

static int parse_choice(const char *s, choice_fn words)
{
    const char *w;
    for (int i = 0; (w = words(i)) != NULL; i++)
        if (strcmp(s, w) == 0)
            return i;
    return -1;
}

/* Split "<prefix>K.field": returns 0 and sets k/field, -1 otherwise. */
static int split_key(const char *key, const scope *sc, size_t *k, const char **field)
{
    size_t plen = strlen(sc->prefix);
    if (strncmp(key, sc->prefix, plen) != 0)
        return -1;
    const char *p = key + plen;
    size_t len = strcspn(p, ".");
    char num[16];
    uint64_t x;
    if (len == 0 || len >= sizeof num || p[len] != '.')
        return -1;
    memcpy(num, p, len);
    num[len] = '\0';
    if (len > 1 && num[0] == '0')
        return -1;
    if (parse_u64(num, &x) || x >= sc->max)
        return -1;
    *k = (size_t)x;
    *field = p + len + 1;
    return 0;
}

/* Find key's row: its scope, entry index (0 for global keys) and definition. */
static const key_def *find_key(const char *key, const scope **sc, size_t *k)
{
    const char *field = key;
    *sc = &scope_global;
    *k = 0;
    for (size_t s = 1; s < COUNT_OF(scopes); s++)
        if (split_key(key, scopes[s], k, &field) == 0) {
            *sc = scopes[s];
            break;
        }
    for (size_t i = 0; i < (*sc)->n_keys; i++)
        if (strcmp(field, (*sc)->keys[i].name) == 0)
            return &(*sc)->keys[i];
    return NULL;
}

/* ---- applying a value ------------------------------------------------- */

static void scope_defaults(mmoe_config *c, const scope *sc, size_t k);

/* Why a value was refused, from the row's type and bounds. */
static void describe_refusal(const key_def *d, const char *key, const char *value, char *why,
                             size_t cap)
{
    char words[160];
    size_t pos = 0;
    switch (d->type) {
    case K_INT:
    case K_COUNT:
        if (d->hi >= 18446744073709551615.0)
            snprintf(why, cap, "%s '%.60s' not an unsigned 64-bit integer", key, value);
        else
            snprintf(why, cap, "%s '%.60s' not an integer in %.0f..%.0f", key, value, d->lo, d->hi);
        break;
    case K_REAL:
        if (d->hi >= DBL_MAX)
            snprintf(why, cap, "%s '%.60s' not a finite number >= %g", key, value, d->lo);
        else if (d->hi < 1.0 && nextafter(d->hi, 2.0) == 1.0)
            snprintf(why, cap, "%s '%.60s' not a number in [%g, 1)", key, value, d->lo);
        else
            snprintf(why, cap, "%s '%.60s' not a number in [%g, %g]", key, value, d->lo, d->hi);
        break;
    case K_CHOICE:
        words[0] = '\0';
        for (int i = 0; d->choice(i) && pos < sizeof words; i++) {
            int r = snprintf(words + pos, sizeof words - pos, "%s%s", i ? ", " : "", d->choice(i));
            if (r < 0)
                break;
            pos += (size_t)r;
        }
        snprintf(why, cap, "%s '%.60s' unknown (%s)", key, value, words);
        break;
    case K_WIDTHS:
        snprintf(why, cap, "%s '%.60s': want %d..%d comma-separated widths in %.0f..%.0f", key,
                 value, d->min_count, MMOE_MAX_LAYERS, d->lo, d->hi);
        break;
    case K_NAME:
        snprintf(why, cap, "%s '%.60s': want 1..%d chars of [A-Za-z0-9_.-]", key, value,
                 MMOE__NAME_MAX - 1);
        break;
    case K_REALS:
        snprintf(why, cap, "%s '%.60s': want up to %d comma-separated numbers in [%s%g, %g]", key,
                 value, MMOE__MAX_PRIOR, d->lo == -INFINITY ? "-inf (the word) or " : "",
                 d->lo == -INFINITY ? -d->hi : d->lo, d->hi);
        break;
    }
}

/* The indexed scope a count key sizes. */
static const scope *counted_scope(const key_def *d)
{
    return strcmp(d->name, scope_task.count_key) == 0 ? &scope_task : &scope_sparse;
}

/*
 * Parse value and store it in row d of entry k of scope sc; a count key
 * gives new entries their defaults. Returns -1 (c unchanged) when the value
 * is malformed or out of bounds.
 */
static int store(mmoe_config *c, const scope *sc, size_t k, const key_def *d, const char *value)
{
    char *m = entry(c, sc, k) + d->off;
    uint64_t x;
    double r;
    int e;
    size_t n, w[MMOE_MAX_LAYERS];
    float f[MMOE__MAX_PRIOR];
    char name[MMOE__NAME_MAX];
    switch (d->type) {
    case K_INT:
        if (parse_int(value, d->lo, d->hi, &x))
            return -1;
        set_uint(m, d->size, x);
        return 0;
    case K_COUNT:
        if (parse_int(value, d->lo, d->hi, &x))
            return -1;
        n = get_size(m);
        set_size(m, (size_t)x);
        for (size_t i = n; i < (size_t)x; i++)
            scope_defaults(c, counted_scope(d), i);
        return 0;
    case K_REAL:
        if (mmoe__parse_double(value, &r) || !(r >= d->lo && r <= d->hi))
            return -1;
        memcpy(m, &r, sizeof r);
        return 0;
    case K_CHOICE:
        if ((e = parse_choice(value, d->choice)) < 0)
            return -1;
        set_uint(m, d->size, (uint64_t)e);
        return 0;
    case K_WIDTHS:
        if (parse_widths(value, d->min_count, d->lo, d->hi, &n, w))
            return -1;
        memcpy(m, w, n * sizeof *w);
        set_size(entry(c, sc, k) + d->count_off, n);
        return 0;
    case K_NAME:
        if (parse_name(value, name))
            return -1;
        memcpy(m, name, strlen(name) + 1);
        return 0;
    case K_REALS:
        if (parse_reals(value, d->lo, d->hi, &n, f))
            return -1;
        memcpy(m, f, n * sizeof *f);
        set_size(entry(c, sc, k) + d->count_off, n);
        return 0;
    }
    return -1;
}

/* Set entry k of sc (the whole description for the global scope) to its defaults. */
static void scope_defaults(mmoe_config *c, const scope *sc, size_t k)
{
    char *e = entry(c, sc, k);
    memset(e, 0, sc == &scope_global ? sizeof *c : sc->stride);
    for (size_t i = 0; i < sc->n_keys; i++) {
        const key_def *d = &sc->keys[i];
        if (d->type == K_NAME)
            snprintf(e + d->off, d->size, "%s%zu", sc->name_stem, k);
        else if (d->dflt)
            (void)store(c, sc, k, d, d->dflt); /* defaults are valid values */
    }
}

/*
 * Apply key = value to c. On failure c may be partly changed (callers work
 * on a copy) and why (MMOE__ERRLEN bytes) says what was wrong.
 */
static mmoe_status apply(mmoe_config *c, const char *key, const char *value, char *why)
{
    const scope *sc;
    size_t k;
    const key_def *d = find_key(key, &sc, &k);
    if (!d) {
        snprintf(why, MMOE__ERRLEN, "unknown key '%.80s'", key);
        return MMOE_ERR_CONFIG;
    }
    if (sc != &scope_global) {
        size_t n = get_size((const char *)c + sc->count_off);
        if (k >= n) {
            snprintf(why, MMOE__ERRLEN, "%.80s: %s %zu does not exist (%s = %zu)", key, sc->noun, k,
                     sc->count_key, n);
            return MMOE_ERR_CONFIG;
        }
    }
    if (store(c, sc, k, d, value)) {
        describe_refusal(d, key, value, why, MMOE__ERRLEN);
        return MMOE_ERR_CONFIG;
    }
    return MMOE_OK;
}

/* ---- formatting a value ------------------------------------------------ */

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

/* Comma-separated floats, each as %.9g (round trip) or -inf. */
static void format_reals(char *buf, size_t cap, size_t n, const float *v)
{
    size_t pos = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && pos < cap; i++) {
        char one[40];
        if (v[i] == -INFINITY)
            snprintf(one, sizeof one, "-inf");
        else
            mmoe__format_double(one, sizeof one, (double)v[i], 9);
        int r = snprintf(buf + pos, cap - pos, i ? ",%s" : "%s", one);
        if (r < 0)
            break;
        pos += (size_t)r;
    }
}

/* Text of row d of entry k of sc. */
static void format_member(const mmoe_config *c, const scope *sc, size_t k, const key_def *d,
                          char *buf, size_t cap)
{
    const char *m = centry(c, sc, k) + d->off;
    double r;
    const char *w;
    switch (d->type) {
    case K_INT:
    case K_COUNT:
        snprintf(buf, cap, "%llu", (unsigned long long)get_uint(m, d->size));
        break;
    case K_REAL:
        memcpy(&r, m, sizeof r);
        mmoe__format_double(buf, cap, r, 17);
        break;
    case K_CHOICE:
        w = d->choice((int)get_uint(m, d->size));
        snprintf(buf, cap, "%s", w ? w : "?");
        break;
    case K_WIDTHS:
        format_widths(buf, cap, get_size(centry(c, sc, k) + d->count_off),
                      (const size_t *)(const void *)m);
        break;
    case K_NAME:
        snprintf(buf, cap, "%s", m);
        break;
    case K_REALS:
        format_reals(buf, cap, get_size(centry(c, sc, k) + d->count_off),
                     (const float *)(const void *)m);
        break;
    }
}

/* Format one key's value; returns -1 for an unknown key or a missing entry. */
static int format_value(const mmoe_config *c, const char *key, char *buf, size_t cap)
{
    const scope *sc;
    size_t k;
    const key_def *d = find_key(key, &sc, &k);
    if (!d || (sc != &scope_global && k >= get_size((const char *)c + sc->count_off)))
        return -1;
    format_member(c, sc, k, d, buf, cap);
    return 0;
}

/* ---- public functions -------------------------------------------------- */

static void config_defaults(mmoe_config *c)
{
    scope_defaults(c, &scope_global, 0);
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

/*
 * Apply n key/value pairs to cfg, all or nothing: they go to a heap copy
 * (descriptions are tens of kilobytes: no copies on the stack) that
 * replaces cfg when every pair applied. func names the public caller.
 */
static mmoe_status apply_all(mmoe_config *cfg, size_t n, const char *const (*kv)[2],
                             const char *func)
{
    mmoe_config *tmp = mmoe__malloc(sizeof *tmp);
    if (!tmp)
        return mmoe__fail(cfg->err, MMOE_ERR_NOMEM, func, "no memory");
    memcpy(tmp, cfg, sizeof *tmp);
    char why[MMOE__ERRLEN];
    mmoe_status st = MMOE_OK;
    for (size_t i = 0; st == MMOE_OK && i < n; i++)
        st = apply(tmp, kv[i][0], kv[i][1], why);
    if (st == MMOE_OK) {
        memcpy(cfg, tmp, sizeof *tmp);
        mmoe__clear(cfg->err);
    } else {
        mmoe__fail(cfg->err, st, func, "%s", why);
    }
    mmoe__free(tmp);
    return st;
}

mmoe_status mmoe_config_set(mmoe_config *cfg, const char *key, const char *value)
{
    if (!cfg || !key || !value)
        return MMOE_FAIL(cfg ? cfg->err : NULL, MMOE_ERR_NULL, "%s is NULL",
                         !cfg   ? "cfg"
                         : !key ? "key"
                                : "value");
    const char *const kv[1][2] = {{key, value}};
    return apply_all(cfg, 1, kv, __func__);
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
    if (!mmoe_arch_name(arch))
        return MMOE_FAIL(cfg ? cfg->err : NULL, MMOE_ERR_CONFIG, "arch %d unknown", (int)arch);
    return mmoe_config_set(cfg, "arch", mmoe_arch_name(arch));
}

mmoe_status mmoe_config_set_experts(mmoe_config *cfg, size_t n_experts, size_t n_layers,
                                    const size_t *widths, mmoe_activation act)
{
    if (!cfg || !widths)
        return MMOE_FAIL(cfg ? cfg->err : NULL, MMOE_ERR_NULL, "%s is NULL",
                         cfg ? "widths" : "cfg");
    if (n_layers < 1 || n_layers > MMOE_MAX_LAYERS)
        return MMOE_FAIL(cfg->err, MMOE_ERR_CONFIG, "n_layers %zu not in 1..%d", n_layers,
                         MMOE_MAX_LAYERS);
    if (!mmoe__act_valid((int)act))
        return MMOE_FAIL(cfg->err, MMOE_ERR_CONFIG, "activation %d unknown", (int)act);
    char layers[MMOE_MAX_LAYERS * 24], cnt[32];
    format_widths(layers, sizeof layers, n_layers, widths);
    snprintf(cnt, sizeof cnt, "%zu", n_experts);
    const char *const kv[3][2] = {{"experts.count", cnt},
                                  {"experts.layers", layers},
                                  {"experts.activation", mmoe__act_name(act)}};
    return apply_all(cfg, 3, kv, __func__);
}

mmoe_status mmoe_config_add_task(mmoe_config *cfg, const char *name, mmoe_task_kind kind,
                                 size_t n_hidden, const size_t *hidden, mmoe_activation act,
                                 float loss_weight)
{
    if (!cfg || !name || (n_hidden && !hidden))
        return MMOE_FAIL(cfg ? cfg->err : NULL, MMOE_ERR_NULL, "%s is NULL",
                         !cfg    ? "cfg"
                         : !name ? "name"
                                 : "hidden");
    if (cfg->n_tasks >= MMOE_MAX_TASKS)
        return MMOE_FAIL(cfg->err, MMOE_ERR_RANGE, "already %d tasks", MMOE_MAX_TASKS);
    if (n_hidden > MMOE_MAX_LAYERS)
        return MMOE_FAIL(cfg->err, MMOE_ERR_CONFIG, "n_hidden %zu > %d", n_hidden, MMOE_MAX_LAYERS);
    if ((int)kind < 0 || (int)kind > 1 || !mmoe__act_valid((int)act))
        return MMOE_FAIL(cfg->err, MMOE_ERR_CONFIG, "unknown task kind %d or activation %d",
                         (int)kind, (int)act);
    size_t k = cfg->n_tasks;
    char keys[5][48], cnt[16], weight[32], layers[MMOE_MAX_LAYERS * 24];
    static const char *const fields[5] = {"name", "kind", "weight", "layers", "activation"};
    for (size_t i = 0; i < 5; i++)
        snprintf(keys[i], sizeof keys[i], "task.%zu.%s", k, fields[i]);
    snprintf(cnt, sizeof cnt, "%zu", k + 1);
    mmoe__format_double(weight, sizeof weight, (double)loss_weight, 9);
    format_widths(layers, sizeof layers, n_hidden, hidden);
    const char *const kv[6][2] = {
        {"tasks", cnt},    {keys[0], name},   {keys[1], kind_names[kind]},
        {keys[2], weight}, {keys[3], layers}, {keys[4], mmoe__act_name(act)}};
    return apply_all(cfg, 6, kv, __func__);
}

/* Longest value text: a list of MMOE__MAX_PRIOR reals. */
#define VALUE_MAX (MMOE__MAX_PRIOR * 24 + MMOE__NAME_MAX)

/* Copy text into buf (cap >= 1 bytes); truncates and fails with MMOE_ERR_RANGE when short. */
static mmoe_status copy_out(char *buf, size_t cap, const char *text, const char *what,
                            const char *key, const char *func)
{
    size_t len = strlen(text);
    if (len >= cap) {
        memcpy(buf, text, cap - 1);
        buf[cap - 1] = '\0';
        return mmoe__fail(NULL, MMOE_ERR_RANGE, func, "%s of '%.80s' needs %zu bytes", what, key,
                          len + 1);
    }
    memcpy(buf, text, len + 1);
    return MMOE_OK;
}

mmoe_status mmoe_config_get(const mmoe_config *cfg, const char *key, char *buf, size_t cap)
{
    if (!cfg || !key || !buf || cap == 0)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "%s",
                         !cfg   ? "cfg is NULL"
                         : !key ? "key is NULL"
                                : "buf is NULL or cap is 0");
    char tmp[VALUE_MAX];
    if (format_value(cfg, key, tmp, sizeof tmp))
        return MMOE_FAIL(NULL, MMOE_ERR_CONFIG, "unknown key '%s'", key);
    return copy_out(buf, cap, tmp, "value", key, __func__);
}

mmoe_status mmoe_config_to_string(const mmoe_config *cfg, char **out)
{
    if (!cfg || !out) {
        if (out)
            *out = NULL;
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "%s is NULL", cfg ? "out" : "cfg");
    }
    *out = NULL;
    /* Upper bound: every line fits in 256 bytes, but for lists of reals (VALUE_MAX). */
    size_t lines = 1, long_lines = 0;
    for (size_t s = 0; s < COUNT_OF(scopes); s++) {
        const scope *sc = scopes[s];
        size_t n = sc == &scope_global ? 1 : get_size((const char *)cfg + sc->count_off);
        lines += n * sc->n_keys;
        for (size_t i = 0; i < sc->n_keys; i++)
            long_lines += sc->keys[i].type == K_REALS ? n : 0;
    }
    size_t cap = lines * 256 + long_lines * VALUE_MAX;
    char *s = mmoe__malloc(cap);
    if (!s)
        return MMOE_FAIL(NULL, MMOE_ERR_NOMEM, "no memory for %zu bytes", cap);
    size_t pos = (size_t)snprintf(s, cap, "mmoe-config %d\n", MMOE_CONFIG_FORMAT_VERSION);
    char val[VALUE_MAX], key[48];
    for (size_t si = 0; si < COUNT_OF(scopes); si++) {
        const scope *sc = scopes[si];
        size_t n = sc == &scope_global ? 1 : get_size((const char *)cfg + sc->count_off);
        for (size_t k = 0; k < n; k++)
            for (size_t i = 0; i < sc->n_keys; i++) {
                const key_def *d = &sc->keys[i];
                /* A required key not set yet (input.dense 0) is left out: 0 is not a value. */
                if (d->type == K_INT && !d->dflt &&
                    get_uint(centry(cfg, sc, k) + d->off, d->size) == 0)
                    continue;
                if (sc == &scope_global)
                    snprintf(key, sizeof key, "%s", d->name);
                else
                    snprintf(key, sizeof key, "%s%zu.%s", sc->prefix, k, d->name);
                format_member(cfg, sc, k, d, val, sizeof val);
                if (quiet_key(d) && strcmp(val, d->dflt) == 0)
                    continue;
                pos +=
                    (size_t)snprintf(s + pos, cap - pos, "%s%s%s\n", key, val[0] ? " " : "", val);
            }
    }
    *out = s;
    return MMOE_OK;
}

void mmoe_string_free(char *s)
{
    mmoe__free(s);
}
/* Nonzero when key sizes an indexed scope ("tasks", "input.sparse"). */
static int is_count_key(const char *key)
{
    const scope *sc;
    size_t k;
    const key_def *d = find_key(key, &sc, &k);
    return d && d->type == K_COUNT;
}

/*
 * One pass over the lines of text into c: pass 0 checks the header and
 * applies the count keys, pass 1 the other keys, so that the order of the
 * lines does not matter ("task.0.name" may come before "tasks").
 */
static mmoe_status parse_pass(mmoe_config *c, const char *text, int pass, char *err)
{
    int have_header = 0;
    size_t lineno = 0;
    const char *p = text;
    char line[VALUE_MAX + 64];
    while (*p) {
        size_t len = strcspn(p, "\n");
        lineno++;
        if (len >= sizeof line)
            return mmoe__fail(err, MMOE_ERR_CONFIG, "mmoe_config_parse",
                              "line %zu longer than %zu bytes", lineno, sizeof line - 1);
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
            if (strcmp(line, "mmoe-config") != 0 || parse_u64(value, &v) || v < 1)
                return mmoe__fail(err, MMOE_ERR_CONFIG, "mmoe_config_parse",
                                  "line %zu: expected 'mmoe-config VERSION' first", lineno);
            if (v > MMOE_CONFIG_FORMAT_VERSION)
                return mmoe__fail(err, MMOE_ERR_VERSION, "mmoe_config_parse",
                                  "config format version %llu is newer than this library's (%d)",
                                  (unsigned long long)v, MMOE_CONFIG_FORMAT_VERSION);
            have_header = 1;
            continue;
        }
        if (is_count_key(line) != (pass == 0))
            continue;
        char why[MMOE__ERRLEN];
        mmoe_status st = apply(c, line, value, why);
        if (st)
            return mmoe__fail(err, st, "mmoe_config_parse", "line %zu: %.200s", lineno, why);
    }
    if (!have_header)
        return mmoe__fail(err, MMOE_ERR_CONFIG, "mmoe_config_parse",
                          "empty description (no 'mmoe-config' line)");
    return MMOE_OK;
}

mmoe_status mmoe_config_parse(mmoe_config *cfg, const char *text)
{
    if (!cfg || !text)
        return MMOE_FAIL(cfg ? cfg->err : NULL, MMOE_ERR_NULL, "%s is NULL", cfg ? "text" : "cfg");
    mmoe_config *tmp = mmoe__malloc(sizeof *tmp);
    if (!tmp)
        return MMOE_FAIL(cfg->err, MMOE_ERR_NOMEM, "no memory");
    config_defaults(tmp);
    mmoe_status st = parse_pass(tmp, text, 0, cfg->err);
    if (st == MMOE_OK)
        st = parse_pass(tmp, text, 1, cfg->err);
    if (st == MMOE_OK) {
        memcpy(cfg, tmp, sizeof *tmp);
        mmoe__clear(cfg->err);
    }
    mmoe__free(tmp);
    return st;
}

/* ---- key queries ------------------------------------------------------- */

/* Key with a concrete index or the letter K; *k is SIZE_MAX for K. */
static const key_def *find_any_key(const char *key, const scope **sc, size_t *k)
{
    const key_def *d = find_key(key, sc, k);
    if (d)
        return d;
    for (size_t s = 1; s < COUNT_OF(scopes); s++)
        for (size_t i = 0; i < scopes[s]->n_keys; i++)
            if (strcmp(key, scopes[s]->keys[i].tmpl) == 0) {
                *sc = scopes[s];
                *k = SIZE_MAX;
                return &scopes[s]->keys[i];
            }
    return NULL;
}

const char *mmoe_config_key_at(size_t i)
{
    for (size_t s = 0; s < COUNT_OF(scopes); s++) {
        if (i < scopes[s]->n_keys)
            return scopes[s]->keys[i].tmpl;
        i -= scopes[s]->n_keys;
    }
    return NULL;
}

mmoe_status mmoe_config_key_info(const char *key, mmoe_key_type *type, double *lo, double *hi,
                                 char *dflt, size_t cap)
{
    if (!key)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "key is NULL");
    const scope *sc;
    size_t k;
    const key_def *d = find_any_key(key, &sc, &k);
    if (!d)
        return MMOE_FAIL(NULL, MMOE_ERR_CONFIG, "unknown key '%.80s'", key);
    mmoe_key_type t = MMOE_KEY_INTEGER;
    double l = d->lo, h = d->hi;
    switch (d->type) {
    case K_INT:
    case K_COUNT:
        break;
    case K_REAL:
        t = MMOE_KEY_REAL;
        break;
    case K_CHOICE:
        t = MMOE_KEY_CHOICE;
        l = 0.0;
        h = -1.0;
        while (d->choice((int)(h + 1.0)))
            h += 1.0;
        break;
    case K_WIDTHS:
        t = MMOE_KEY_WIDTHS;
        break;
    case K_NAME:
        t = MMOE_KEY_NAME;
        l = 1.0;
        h = MMOE__NAME_MAX - 1;
        break;
    case K_REALS:
        t = MMOE_KEY_REALS;
        break;
    }
    if (type)
        *type = t;
    if (lo)
        *lo = l;
    if (hi)
        *hi = h;
    if (!dflt || cap == 0)
        return MMOE_OK;
    char tmp[MMOE__NAME_MAX + 24];
    if (d->type == K_NAME && k == SIZE_MAX)
        snprintf(tmp, sizeof tmp, "%sK", sc->name_stem);
    else if (d->type == K_NAME)
        snprintf(tmp, sizeof tmp, "%s%zu", sc->name_stem, k);
    else
        snprintf(tmp, sizeof tmp, "%s", d->dflt ? d->dflt : "");
    return copy_out(dflt, cap, tmp, "default", key, __func__);
}

const char *mmoe_config_key_choice(const char *key, size_t i)
{
    const scope *sc;
    size_t k;
    const key_def *d = key ? find_any_key(key, &sc, &k) : NULL;
    if (!d || d->type != K_CHOICE || i > 1000)
        return NULL;
    return d->choice((int)i);
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
                return MMOE_FAIL(err, MMOE_ERR_CONFIG, "tasks %zu and %zu share the name '%s'", i,
                                 j, c->tasks[i].name);
    return mmoe__product_check(c, err);
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
