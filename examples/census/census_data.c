/*
 * Census-Income (KDD) reader and encoder; see census_data.h.
 */
#include "census_data.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <zlib.h>

/* ------------------------------------------------------------------------ */
/* columns                                                                   */
/* ------------------------------------------------------------------------ */

static const char *const col_names[CENSUS_COLS] = {
    "AAGE",     "ACLSWKR", "ADTIND",  "ADTOCC",   "AHGA",     "AHRSPAY",  "AHSCOL",
    "AMARITL",  "AMJIND",  "AMJOCC",  "ARACE",    "AREORGN",  "ASEX",     "AUNMEM",
    "AUNTYPE",  "AWKSTAT", "CAPGAIN", "CAPLOSS",  "DIVVAL",   "FILESTAT", "GRINREG",
    "GRINST",   "HHDFMX",  "HHDREL",  "MARSUPWT", "MIGMTR1",  "MIGMTR3",  "MIGMTR4",
    "MIGSAME",  "MIGSUN",  "NOEMP",   "PARENT",   "PEFNTVTY", "PEMNTVTY", "PENATVTY",
    "PRCITSHP", "SEOTR",   "VETQVA",  "VETYN",    "WKSWORK",  "YEAR",     "INCOME",
};

/* age, wage per hour, capital gains, capital losses, dividends,
 * num persons worked for employer, weeks worked in year */
static const int cont_cols[CENSUS_NCONT] = {0, 5, 16, 17, 18, 30, 39};
/* heavy-tailed money columns (log1p before standardising) */
static int is_money(int c)
{
    return c == 5 || c == 16 || c == 17 || c == 18;
}

/* The six "at least college" education values (README of the data). */
static const char *const college_values[6] = {
    "Associates degree-occup /vocational",
    "Associates degree-academic program",
    "Bachelors degree(BA AB BS)",
    "Masters degree(MA MS MEng MEd MSW MBA)",
    "Prof school degree (MD DDS DVM LLB JD)",
    "Doctorate degree(PhD EdD)",
};

const char *census_col_name(int c)
{
    return c >= 0 && c < CENSUS_COLS ? col_names[c] : "?";
}

int census_cont_index(int c)
{
    for (int j = 0; j < CENSUS_NCONT; j++)
        if (cont_cols[j] == c)
            return j;
    return -1;
}

int census_col_is_cont(int c)
{
    return census_cont_index(c) >= 0;
}

int census_nom_index(int c)
{
    if (c < 0 || c >= CENSUS_COLS || c == CENSUS_COL_WEIGHT || census_col_is_cont(c))
        return -1;
    int j = 0;
    for (int k = 0; k < c; k++)
        if (k != CENSUS_COL_WEIGHT && !census_col_is_cont(k))
            j++;
    return j;
}

int census_nom_col(int j)
{
    for (int c = 0; c < CENSUS_COLS; c++)
        if (census_nom_index(c) == j)
            return c;
    return -1;
}

int census_cont_col(int j)
{
    return j >= 0 && j < CENSUS_NCONT ? cont_cols[j] : -1;
}

/* ------------------------------------------------------------------------ */
/* errors                                                                    */
/* ------------------------------------------------------------------------ */

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static void
set_err(char *err, size_t cap, const char *fmt, ...)
{
    if (!err || cap == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
}

/* ------------------------------------------------------------------------ */
/* dictionaries                                                              */
/* ------------------------------------------------------------------------ */

static uint64_t hash_text(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static void dict_free(census_dict *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->values[i]);
    free(t->values);
    free(t->slots);
    memset(t, 0, sizeof *t);
}

static int dict_init(census_dict *t)
{
    memset(t, 0, sizeof *t);
    t->cap = 256; /* > 2 * CENSUS_MAX_VALUES would be wasteful; grows below */
    t->slots = calloc(t->cap, sizeof *t->slots);
    t->values = calloc(CENSUS_MAX_VALUES, sizeof *t->values);
    return t->slots && t->values ? 0 : -1;
}

static int dict_grow(census_dict *t)
{
    size_t cap = t->cap * 2;
    int32_t *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return -1;
    for (size_t i = 0; i < t->n; i++) {
        const char *v = t->values[i];
        size_t h = (size_t)hash_text(v, strlen(v)) & (cap - 1);
        while (slots[h])
            h = (h + 1) & (cap - 1);
        slots[h] = (int32_t)i + 1;
    }
    free(t->slots);
    t->slots = slots;
    t->cap = cap;
    return 0;
}

/* Raw id of value s[0..len-1], inserted if new. -1: no memory; -2: too many values. */
static int32_t dict_intern(census_dict *t, const char *s, size_t len)
{
    size_t h = (size_t)hash_text(s, len) & (t->cap - 1);
    while (t->slots[h]) {
        const char *v = t->values[t->slots[h] - 1];
        if (strncmp(v, s, len) == 0 && v[len] == '\0')
            return t->slots[h] - 1;
        h = (h + 1) & (t->cap - 1);
    }
    if (t->n >= CENSUS_MAX_VALUES)
        return -2;
    char *copy = malloc(len + 1);
    if (!copy)
        return -1;
    memcpy(copy, s, len);
    copy[len] = '\0';
    int32_t id = (int32_t)t->n;
    t->values[t->n++] = copy;
    t->slots[h] = id + 1;
    if (2 * t->n > t->cap && dict_grow(t) != 0)
        return -1;
    return id;
}

/* ------------------------------------------------------------------------ */
/* rows                                                                      */
/* ------------------------------------------------------------------------ */

static void rows_free(census_rows *r)
{
    free(r->nom);
    free(r->cont);
    free(r->income);
    free(r->never_married);
    free(r->college);
    memset(r, 0, sizeof *r);
}

static int rows_reserve(census_rows *r, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : 65536;
    while (c < need)
        c *= 2;
    int32_t *nom = realloc(r->nom, c * CENSUS_NNOM * sizeof *nom);
    if (nom)
        r->nom = nom;
    float *cont = realloc(r->cont, c * CENSUS_NCONT * sizeof *cont);
    if (cont)
        r->cont = cont;
    uint8_t *a = realloc(r->income, c);
    if (a)
        r->income = a;
    uint8_t *b = realloc(r->never_married, c);
    if (b)
        r->never_married = b;
    uint8_t *e = realloc(r->college, c);
    if (e)
        r->college = e;
    if (!nom || !cont || !a || !b || !e)
        return -1;
    *cap = c;
    return 0;
}

static int is_blank(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

/* Parse one line into row r->n (already reserved). 0, or -1 with a message. */
static int parse_line(char *line, census_data *d, census_rows *r, const char *file, size_t lineno,
                      char *err, size_t cap)
{
    const size_t row = r->n;
    char *p = line;
    int col = 0;
    uint8_t income = 0, never = 0, college = 0;
    for (;;) {
        char *end = strchr(p, ',');
        size_t flen = end ? (size_t)(end - p) : strlen(p);
        /* strip blanks on both sides */
        char *s = p;
        size_t len = flen;
        while (len && is_blank(*s)) {
            s++;
            len--;
        }
        while (len && is_blank(s[len - 1]))
            len--;
        if (col >= CENSUS_COLS) {
            set_err(err, cap, "%s:%zu: more than %d fields", file, lineno, CENSUS_COLS);
            return -1;
        }
        int cj = census_cont_index(col);
        if (cj >= 0) {
            char buf[64];
            if (len == 0 || len >= sizeof buf) {
                set_err(err, cap, "%s:%zu: field %d: bad number", file, lineno, col + 1);
                return -1;
            }
            memcpy(buf, s, len);
            buf[len] = '\0';
            char *q = NULL;
            errno = 0;
            double v = strtod(buf, &q);
            if ((errno && errno != ERANGE) || *q || !isfinite(v) || !isfinite((float)v)) {
                set_err(err, cap, "%s:%zu: field %d: '%s' is not a finite float number", file,
                        lineno, col + 1, buf);
                return -1;
            }
            r->cont[row * CENSUS_NCONT + (size_t)cj] = (float)v;
        } else if (col != CENSUS_COL_WEIGHT) {
            int nj = census_nom_index(col);
            int32_t id = dict_intern(&d->dict[nj], s, len);
            if (id < 0) {
                set_err(err, cap, "%s:%zu: field %d: %s", file, lineno, col + 1,
                        id == -1 ? "out of memory" : "too many distinct values");
                return -1;
            }
            r->nom[row * CENSUS_NNOM + (size_t)nj] = id;
            if (col == CENSUS_COL_INCOME) {
                if (len == 7 && memcmp(s, "50000+.", 7) == 0)
                    income = 1;
                else if (!(len == 8 && memcmp(s, "- 50000.", 8) == 0)) {
                    set_err(err, cap, "%s:%zu: unexpected income label '%.*s'", file, lineno,
                            (int)len, s);
                    return -1;
                }
            } else if (col == CENSUS_COL_MARITAL) {
                never = len == 13 && memcmp(s, "Never married", 13) == 0;
            } else if (col == CENSUS_COL_EDUCATION) {
                for (int k = 0; k < 6; k++)
                    if (strlen(college_values[k]) == len && memcmp(s, college_values[k], len) == 0)
                        college = 1;
            }
        }
        col++;
        if (!end)
            break;
        p = end + 1;
    }
    if (col != CENSUS_COLS) {
        set_err(err, cap, "%s:%zu: %d fields, expected %d", file, lineno, col, CENSUS_COLS);
        return -1;
    }
    r->income[row] = income;
    r->never_married[row] = never;
    r->college[row] = college;
    r->n++;
    return 0;
}

/* Append every row of one (possibly gzip-compressed) file. */
static int read_file(const char *path, census_data *d, census_rows *r, size_t *rcap, char *err,
                     size_t cap)
{
    gzFile f = gzopen(path, "rb");
    if (!f) {
        set_err(err, cap, "cannot open %s: %s", path, errno ? strerror(errno) : "zlib error");
        return -1;
    }
    gzbuffer(f, 1u << 17);
    char line[8192];
    size_t lineno = 0;
    int rc = 0;
    while (gzgets(f, line, (int)sizeof line)) {
        lineno++;
        size_t len = strlen(line);
        if (len == sizeof line - 1 && line[len - 1] != '\n') {
            set_err(err, cap, "%s:%zu: line too long", path, lineno);
            rc = -1;
            break;
        }
        size_t k = 0;
        while (k < len && is_blank(line[k]))
            k++;
        if (k == len)
            continue; /* empty line */
        if (rows_reserve(r, rcap, r->n + 1) != 0) {
            set_err(err, cap, "out of memory reading %s", path);
            rc = -1;
            break;
        }
        if (parse_line(line, d, r, path, lineno, err, cap) != 0) {
            rc = -1;
            break;
        }
    }
    if (rc == 0) {
        int zerr = Z_OK;
        const char *msg = gzerror(f, &zerr);
        if (zerr != Z_OK && zerr != Z_STREAM_END) {
            set_err(err, cap, "%s: %s", path, zerr == Z_ERRNO ? strerror(errno) : msg);
            rc = -1;
        }
    }
    gzclose(f);
    return rc;
}

static int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int join_path(char *out, size_t cap, const char *dir, const char *name)
{
    int n = snprintf(out, cap, "%s/%s", dir, name);
    return n > 0 && (size_t)n < cap ? 0 : -1;
}

int census_read(const char *dir, census_data *d, char *err, size_t cap)
{
    memset(d, 0, sizeof *d);
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        set_err(err, cap, "data directory %s not found", dir);
        return 1;
    }
    static const char *const train_sets[3][2] = {
        {"census-income.data.part1.gz", "census-income.data.part2.gz"},
        {"census-income.data.gz", NULL},
        {"census-income.data", NULL},
    };
    static const char *const test_names[2] = {"census-income.test.gz", "census-income.test"};
    char p1[4096], p2[4096], pt[4096];
    int which = -1;
    for (int k = 0; k < 3 && which < 0; k++) {
        if (join_path(p1, sizeof p1, dir, train_sets[k][0]) != 0) {
            set_err(err, cap, "data directory path too long");
            return -1;
        }
        if (!file_exists(p1))
            continue;
        if (train_sets[k][1]) {
            if (join_path(p2, sizeof p2, dir, train_sets[k][1]) != 0 || !file_exists(p2)) {
                set_err(err, cap, "%s exists but %s/%s does not", p1, dir, train_sets[k][1]);
                return -1;
            }
        }
        which = k;
    }
    int have_test = -1;
    for (int k = 0; k < 2 && have_test < 0; k++) {
        if (join_path(pt, sizeof pt, dir, test_names[k]) != 0) {
            set_err(err, cap, "data directory path too long");
            return -1;
        }
        if (file_exists(pt))
            have_test = k;
    }
    if (which < 0 && have_test < 0) {
        set_err(err, cap, "no census-income files in %s", dir);
        return 1;
    }
    if (which < 0 || have_test < 0) {
        set_err(err, cap, "%s: missing the %s file", dir, which < 0 ? "training" : "test");
        return -1;
    }
    for (int j = 0; j < CENSUS_NNOM; j++)
        if (dict_init(&d->dict[j]) != 0) {
            set_err(err, cap, "out of memory");
            census_data_free(d);
            return -1;
        }
    size_t cap_train = 0, cap_test = 0;
    if (read_file(p1, d, &d->train, &cap_train, err, cap) != 0 ||
        (train_sets[which][1] && read_file(p2, d, &d->train, &cap_train, err, cap) != 0) ||
        read_file(pt, d, &d->test, &cap_test, err, cap) != 0) {
        census_data_free(d);
        return -1;
    }
    if (d->train.n == 0 || d->test.n < 2) {
        set_err(err, cap, "%s: too few rows (%zu training, %zu test)", dir, d->train.n, d->test.n);
        census_data_free(d);
        return -1;
    }
    return 0;
}

void census_data_free(census_data *d)
{
    if (!d)
        return;
    for (int j = 0; j < CENSUS_NNOM; j++)
        dict_free(&d->dict[j]);
    rows_free(&d->train);
    rows_free(&d->test);
}

/* ------------------------------------------------------------------------ */
/* task groups and encoding                                                  */
/* ------------------------------------------------------------------------ */

void census_group_get(int id, census_group *g)
{
    memset(g, 0, sizeof *g);
    g->id = id == 2 ? 2 : 1;
    if (g->id == 1) {
        g->task_name[0] = "income";
        g->task_name[1] = "never_married";
        g->removed[0] = CENSUS_COL_INCOME;
        g->removed[1] = CENSUS_COL_MARITAL;
    } else {
        g->task_name[0] = "college";
        g->task_name[1] = "never_married";
        g->removed[0] = CENSUS_COL_EDUCATION;
        g->removed[1] = CENSUS_COL_MARITAL;
    }
}

static double cont_value(const census_encoding *e, int j, float raw)
{
    double v = raw;
    if (e->log1p_money && is_money(cont_cols[j]))
        v = log1p(v > 0.0 ? v : 0.0);
    return v;
}

int census_encoding_build(census_encoding *e, const census_data *d, const census_group *g,
                          const size_t *idx, size_t n, int log1p_money)
{
    memset(e, 0, sizeof *e);
    e->log1p_money = log1p_money;
    const census_rows *r = &d->train;
    for (int c = 0; c < CENSUS_COLS; c++) {
        int nj = census_nom_index(c);
        if (nj < 0 || c == g->removed[0] || c == g->removed[1])
            continue;
        size_t k = e->n_sparse++;
        e->col[k] = c;
        const census_dict *t = &d->dict[nj];
        e->map[k] = calloc(t->n ? t->n : 1, sizeof *e->map[k]);
        if (!e->map[k]) {
            census_encoding_free(e);
            return -1;
        }
        int32_t next = 1;
        for (size_t i = 0; i < n; i++) {
            int32_t raw = r->nom[idx[i] * CENSUS_NNOM + (size_t)nj];
            if (e->map[k][raw] == 0)
                e->map[k][raw] = next++;
        }
        e->vocab[k] = (size_t)next;
    }
    e->onehot_width = CENSUS_NCONT;
    for (size_t k = 0; k < e->n_sparse; k++)
        e->onehot_width += e->vocab[k] - 1;
    for (int j = 0; j < CENSUS_NCONT; j++) {
        double s = 0.0, s2 = 0.0;
        for (size_t i = 0; i < n; i++) {
            double v = cont_value(e, j, r->cont[idx[i] * CENSUS_NCONT + (size_t)j]);
            s += v;
            s2 += v * v;
        }
        double mean = n ? s / (double)n : 0.0;
        double var = n ? s2 / (double)n - mean * mean : 0.0;
        e->mean[j] = mean;
        e->sd[j] = var > 1e-12 ? sqrt(var) : 1.0;
    }
    return 0;
}

void census_encoding_free(census_encoding *e)
{
    if (!e)
        return;
    for (size_t k = 0; k < CENSUS_NNOM; k++)
        free(e->map[k]);
    memset(e, 0, sizeof *e);
}

int census_set_build(census_set *s, const census_encoding *e, const census_rows *src,
                     const census_group *g, const size_t *idx, size_t n)
{
    memset(s, 0, sizeof *s);
    s->n = n;
    size_t ns = e->n_sparse ? e->n_sparse : 1;
    s->ids = malloc((n ? n : 1) * ns * sizeof *s->ids);
    s->dense = malloc((n ? n : 1) * CENSUS_NCONT * sizeof *s->dense);
    s->labels = malloc((n ? n : 1) * 2 * sizeof *s->labels);
    if (!s->ids || !s->dense || !s->labels) {
        census_set_free(s);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        size_t row = idx[i];
        for (size_t k = 0; k < e->n_sparse; k++) {
            int nj = census_nom_index(e->col[k]);
            int32_t raw = src->nom[row * CENSUS_NNOM + (size_t)nj];
            s->ids[i * e->n_sparse + k] = e->map[k][raw]; /* raw ids of test-only values map to 0 */
        }
        for (int j = 0; j < CENSUS_NCONT; j++) {
            double v = cont_value(e, j, src->cont[row * CENSUS_NCONT + (size_t)j]);
            s->dense[i * CENSUS_NCONT + (size_t)j] = (float)((v - e->mean[j]) / e->sd[j]);
        }
        s->labels[2 * i] = g->id == 1 ? src->income[row] : src->college[row];
        s->labels[2 * i + 1] = src->never_married[row];
    }
    return 0;
}

void census_set_free(census_set *s)
{
    if (!s)
        return;
    free(s->ids);
    free(s->dense);
    free(s->labels);
    memset(s, 0, sizeof *s);
}

void census_onehot_row(const census_encoding *e, const int64_t *ids, const float *dense, float *out)
{
    memcpy(out, dense, CENSUS_NCONT * sizeof *out);
    float *o = out + CENSUS_NCONT;
    memset(o, 0, (e->onehot_width - CENSUS_NCONT) * sizeof *o);
    for (size_t k = 0; k < e->n_sparse; k++) {
        int64_t id = ids[k];
        if (id > 0)
            o[id - 1] = 1.0f;
        o += e->vocab[k] - 1;
    }
}
