/*
 * Model and optimizer files: round trips, atomic saves, the corrupt-file
 * corpus, truncation at every byte, and optimizer state.
 */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <mmoe/mmoe.h>

#ifndef IO_CORRUPT_DIR
#    error "IO_CORRUPT_DIR must name tests/io/corrupt"
#endif

enum { D = 6, B = 5 };

/* A test model; extra: NULL-terminated key/value pairs set last. */
static mmoe_model *build_model(const char *arch, const char *const *extra)
{
    mmoe_config *c;
    assert_int_equal(mmoe_config_create(&c), MMOE_OK);
    assert_int_equal(mmoe_config_set(c, "arch", arch), MMOE_OK);
    assert_int_equal(mmoe_config_set_int(c, "input.dense", D), MMOE_OK);
    assert_int_equal(mmoe_config_set_int(c, "seed", 3), MMOE_OK);
    size_t w[2] = {7, 5};
    assert_int_equal(mmoe_config_set_experts(c, 3, 2, w, MMOE_ACT_RELU), MMOE_OK);
    size_t h[1] = {4};
    assert_int_equal(mmoe_config_add_task(c, "click", MMOE_TASK_BINARY, 1, h, MMOE_ACT_TANH, 1.0f),
                     MMOE_OK);
    assert_int_equal(
        mmoe_config_add_task(c, "dwell", MMOE_TASK_REGRESSION, 0, NULL, MMOE_ACT_RELU, 0.5f),
        MMOE_OK);
    for (size_t i = 0; extra && extra[i]; i += 2)
        assert_int_equal(mmoe_config_set(c, extra[i], extra[i + 1]), MMOE_OK);
    mmoe_model *m;
    assert_int_equal(mmoe_model_create(c, &m), MMOE_OK);
    mmoe_config_free(c);
    return m;
}

static mmoe_model *make_model(const char *arch)
{
    mmoe_model *m = build_model(arch, NULL);
    /* Move every weight away from its seeded initial value, so a loader
       that re-initialised instead of reading would be caught. */
    float *p;
    size_t n;
    assert_int_equal(mmoe_model_flat(m, &p, NULL, &n), MMOE_OK);
    for (size_t i = 0; i < n; i++)
        p[i] += 0.05f * (float)sin(0.37 * (double)i + 1.0);
    return m;
}

static void fill(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (float)cos(0.61 * (double)i) * 1.5f;
}

static void predict(const mmoe_model *m, float *out)
{
    float x[B * D];
    fill(x, B * D);
    mmoe_workspace *ws;
    assert_int_equal(mmoe_workspace_create(m, 4, &ws), MMOE_OK);
    assert_int_equal(mmoe_model_predict(m, ws, B, x, NULL, out), MMOE_OK);
    mmoe_workspace_free(ws);
}

static char *tmp_dir(void)
{
    char tmpl[] = "/tmp/mmoe-io-XXXXXX";
    char *d = mkdtemp(tmpl);
    assert_non_null(d);
    return strdup(d);
}

static char *join(const char *dir, const char *name)
{
    if (!dir || !name)
        abort(); /* tmp_dir() asserted; tells the compiler too */
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    assert_non_null(p);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static unsigned char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t cap = 1 << 16, n = 0;
    unsigned char *b = malloc(cap);
    assert_non_null(b);
    size_t got;
    while ((got = fread(b + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            cap *= 2;
            b = realloc(b, cap);
            assert_non_null(b);
        }
    }
    assert_int_equal(ferror(f), 0);
    fclose(f);
    *len = n;
    return b;
}

/* Nonzero when dir holds a leftover temporary file. */
static int has_temp_files(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int found = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".tmp-"))
            found = 1;
    closedir(d);
    return found;
}

static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char *p = join(dir, e->d_name);
        struct stat sb;
        if (stat(p, &sb) == 0 && S_ISDIR(sb.st_mode))
            rmdir(p);
        else
            unlink(p);
        free(p);
    }
    closedir(d);
    rmdir(dir);
}

static void check_round_trip(const char *arch)
{
    mmoe_model *m = make_model(arch);
    char *dir = tmp_dir();
    char *path = join(dir, "model.safetensors");
    assert_int_equal(mmoe_model_save(m, path), MMOE_OK);
    assert_false(has_temp_files(dir));

    mmoe_model *l = NULL;
    assert_int_equal(mmoe_model_load(path, &l), MMOE_OK);
    assert_non_null(l);

    /* Same description, same parameters bit for bit, same predictions bit for bit. */
    mmoe_config *c1, *c2;
    char *s1, *s2;
    assert_int_equal(mmoe_model_get_config(m, &c1), MMOE_OK);
    assert_int_equal(mmoe_model_get_config(l, &c2), MMOE_OK);
    assert_int_equal(mmoe_config_to_string(c1, &s1), MMOE_OK);
    assert_int_equal(mmoe_config_to_string(c2, &s2), MMOE_OK);
    assert_string_equal(s1, s2);
    mmoe_string_free(s1);
    mmoe_string_free(s2);
    mmoe_config_free(c1);
    mmoe_config_free(c2);

    float *p1, *p2;
    size_t n1, n2;
    assert_int_equal(mmoe_model_flat(m, &p1, NULL, &n1), MMOE_OK);
    assert_int_equal(mmoe_model_flat(l, &p2, NULL, &n2), MMOE_OK);
    assert_int_equal(n1, n2);
    assert_memory_equal(p1, p2, n1 * sizeof(float));
    assert_int_equal(mmoe_model_param_count(m), mmoe_model_param_count(l));

    size_t T = mmoe_model_num_tasks(m);
    float o1[B * 8], o2[B * 8];
    assert_true(T <= 8);
    predict(m, o1);
    predict(l, o2);
    assert_memory_equal(o1, o2, B * T * sizeof(float));

    /* The buffer form gives exactly the file's bytes; so does saving again. */
    void *buf;
    size_t len, flen;
    assert_int_equal(mmoe_model_save_buffer(m, &buf, &len), MMOE_OK);
    unsigned char *file = read_all(path, &flen);
    assert_int_equal(len, flen);
    assert_memory_equal(buf, file, len);
    void *buf2;
    size_t len2;
    assert_int_equal(mmoe_model_save_buffer(l, &buf2, &len2), MMOE_OK);
    assert_int_equal(len2, len);
    assert_memory_equal(buf2, buf, len);
    /* Layout: 8-byte length, header padded to a multiple of 8. */
    uint64_t hn = 0;
    for (int i = 7; i >= 0; i--)
        hn = (hn << 8) | file[i];
    assert_int_equal((8 + hn) % 8, 0);
    assert_int_equal(len - 8 - hn, n1 * sizeof(float));

    mmoe_model *lb = NULL;
    assert_int_equal(mmoe_model_load_buffer(buf, len, &lb), MMOE_OK);
    predict(lb, o2);
    assert_memory_equal(o1, o2, B * T * sizeof(float));

    mmoe_model_free(lb);
    mmoe_buffer_free(buf);
    mmoe_buffer_free(buf2);
    free(file);
    mmoe_model_free(l);
    mmoe_model_free(m);
    remove_dir(dir);
    free(path);
    free(dir);
}

static void test_round_trip_mmoe(void **state)
{
    (void)state;
    check_round_trip("mmoe");
}

static void test_round_trip_omoe(void **state)
{
    (void)state;
    check_round_trip("omoe");
}

static void test_round_trip_shared_bottom(void **state)
{
    (void)state;
    check_round_trip("shared_bottom");
}

static void test_round_trip_single_task(void **state)
{
    (void)state;
    check_round_trip("single_task");
}

/*
 * A model with an input stage (embeddings, CrossNet, a batch-norm DNN):
 * embedding tables, cross weights and the non-trainable running statistics
 * all survive the round trip.
 */
static void test_round_trip_input_stage(void **state)
{
    (void)state;
    mmoe_config *c;
    assert_int_equal(mmoe_config_create(&c), MMOE_OK);
    static const char *const kv[][2] = {
        {"input.dense", "4"},    {"input.sparse", "2"},   {"sparse.0.vocab", "11"},
        {"sparse.0.dim", "3"},   {"sparse.1.vocab", "5"}, {"sparse.1.dim", "2"},
        {"sparse.1.slots", "2"}, {"cross.layers", "1"},   {"dnn.layers", "8"},
        {"dnn.batchnorm", "1"},  {"experts.count", "2"},
    };
    for (size_t i = 0; i < sizeof kv / sizeof *kv; i++)
        if (mmoe_config_set(c, kv[i][0], kv[i][1]) != MMOE_OK) {
            /* Input stage not in this build: nothing to check. */
            mmoe_config_free(c);
            skip();
        }
    assert_int_equal(mmoe_config_add_task(c, "a", MMOE_TASK_BINARY, 0, NULL, MMOE_ACT_RELU, 1.0f),
                     MMOE_OK);
    assert_int_equal(
        mmoe_config_add_task(c, "b", MMOE_TASK_REGRESSION, 0, NULL, MMOE_ACT_RELU, 1.0f), MMOE_OK);
    mmoe_model *m;
    if (mmoe_model_create(c, &m) != MMOE_OK) {
        mmoe_config_free(c);
        skip();
    }
    mmoe_config_free(c);
    mmoe_optimizer *opt;
    assert_int_equal(mmoe_optimizer_create(m, MMOE_OPTIMIZER_ADAM, &opt), MMOE_OK);
    enum { R = 8 };
    float x[R * 4], y[R * 2], out1[R * 2], out2[R * 2];
    int64_t ids[R * 3];
    fill(x, R * 4);
    for (size_t b = 0; b < R; b++) {
        ids[3 * b] = (int64_t)(b % 11);
        ids[3 * b + 1] = (int64_t)(b % 5);
        ids[3 * b + 2] = b % 3 ? (int64_t)((b + 2) % 5) : -1;
        y[2 * b] = (float)(b % 2);
        y[2 * b + 1] = (float)b * 0.1f;
    }
    for (int s = 0; s < 5; s++)
        assert_int_equal(mmoe_model_train_step(m, opt, R, x, ids, y, NULL, NULL, NULL), MMOE_OK);
    void *buf;
    size_t len;
    assert_int_equal(mmoe_model_save_buffer(m, &buf, &len), MMOE_OK);
    mmoe_model *l;
    assert_int_equal(mmoe_model_load_buffer(buf, len, &l), MMOE_OK);
    mmoe_workspace *w1, *w2;
    assert_int_equal(mmoe_workspace_create(m, R, &w1), MMOE_OK);
    assert_int_equal(mmoe_workspace_create(l, R, &w2), MMOE_OK);
    assert_int_equal(mmoe_model_predict(m, w1, R, x, ids, out1), MMOE_OK);
    assert_int_equal(mmoe_model_predict(l, w2, R, x, ids, out2), MMOE_OK);
    assert_memory_equal(out1, out2, sizeof out1);
    void *buf2;
    size_t len2;
    assert_int_equal(mmoe_model_save_buffer(l, &buf2, &len2), MMOE_OK);
    assert_int_equal(len, len2);
    assert_memory_equal(buf, buf2, len);
    mmoe_buffer_free(buf2);
    mmoe_workspace_free(w1);
    mmoe_workspace_free(w2);
    mmoe_buffer_free(buf);
    mmoe_model_free(l);
    mmoe_optimizer_free(opt);
    mmoe_model_free(m);
}

static void test_failed_save_keeps_old_file(void **state)
{
    (void)state;
    char *dir = tmp_dir();
    char *path = join(dir, "model.safetensors");
    mmoe_model *good = make_model("mmoe");
    assert_int_equal(mmoe_model_save(good, path), MMOE_OK);
    size_t len0;
    unsigned char *before = read_all(path, &len0);

    /* A model with a NaN weight is refused before anything is written. */
    mmoe_model *bad = make_model("omoe");
    float *p;
    size_t n;
    assert_int_equal(mmoe_model_flat(bad, &p, NULL, &n), MMOE_OK);
    p[n / 2] = NAN;
    assert_int_equal(mmoe_model_save(bad, path), MMOE_ERR_NONFINITE);
    assert_non_null(strstr(mmoe_last_error(), "NaN"));
    p[n / 2] = 0.0f;

    /* A write that fails midway (file size limit) leaves the old file. */
    struct rlimit old, lim;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    lim = old;
    lim.rlim_cur = 100;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    mmoe_status st = mmoe_model_save(bad, path);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, prev);
    assert_int_equal(st, MMOE_ERR_IO);
    assert_non_null(strstr(mmoe_last_error(), "left unchanged"));

    /* Renaming over a directory fails after the temporary file is written. */
    char *sub = join(dir, "sub");
    assert_int_equal(mkdir(sub, 0755), 0);
    assert_int_equal(mmoe_model_save(bad, sub), MMOE_ERR_IO);

    /* A directory that does not exist. */
    char *missing = join(dir, "no/such/dir/model.safetensors");
    assert_int_equal(mmoe_model_save(bad, missing), MMOE_ERR_IO);
    assert_int_equal(mmoe_optimizer_save(NULL, missing), MMOE_ERR_NULL);

    size_t len1;
    unsigned char *after = read_all(path, &len1);
    assert_int_equal(len0, len1);
    assert_memory_equal(before, after, len0);
    assert_false(has_temp_files(dir));

    /* A successful save replaces it and keeps its permissions. */
    assert_int_equal(chmod(path, 0640), 0);
    assert_int_equal(mmoe_model_save(bad, path), MMOE_OK);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0640);
    mmoe_model *l;
    assert_int_equal(mmoe_model_load(path, &l), MMOE_OK);
    assert_int_equal(mmoe_model_num_gates(l), 1);
    mmoe_model_free(l);

    free(before);
    free(after);
    free(missing);
    free(sub);
    mmoe_model_free(bad);
    mmoe_model_free(good);
    remove_dir(dir);
    free(path);
    free(dir);
}

static mmoe_status expected_status(const char *name)
{
    static const struct {
        const char *prefix;
        mmoe_status status;
    } map[] = {
        {"format-", MMOE_ERR_FORMAT}, {"version-", MMOE_ERR_VERSION},
        {"config-", MMOE_ERR_CONFIG}, {"nonfinite-", MMOE_ERR_NONFINITE},
        {"io-", MMOE_ERR_IO},         {"nomem-", MMOE_ERR_NOMEM},
    };
    for (size_t i = 0; i < sizeof map / sizeof *map; i++)
        if (!strncmp(name, map[i].prefix, strlen(map[i].prefix)))
            return map[i].status;
    fail_msg("corrupt file %s has no known status prefix", name);
    return MMOE_OK;
}

static void test_corrupt_corpus(void **state)
{
    (void)state;
    DIR *d = opendir(IO_CORRUPT_DIR);
    assert_non_null(d);
    size_t count = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strstr(e->d_name, ".safetensors"))
            continue;
        mmoe_status want = expected_status(e->d_name);
        char *path = join(IO_CORRUPT_DIR, e->d_name);
        mmoe_model *m = (mmoe_model *)&count; /* must be reset to NULL */
        mmoe_status st = mmoe_model_load(path, &m);
        if (st != want)
            fail_msg("%s: got %s, want %s (%s)", e->d_name, mmoe_status_name(st),
                     mmoe_status_name(want), mmoe_last_error());
        assert_null(m);
        assert_true(strlen(mmoe_last_error()) > 0);
        /* The buffer form gives the same status. */
        size_t len;
        unsigned char *b = read_all(path, &len);
        m = (mmoe_model *)&count;
        assert_int_equal(mmoe_model_load_buffer(len ? b : (const void *)"", len, &m), want);
        assert_null(m);
        free(b);
        free(path);
        count++;
    }
    closedir(d);
    assert_true(count >= 50);
}

static void test_truncation_and_bit_flips(void **state)
{
    (void)state;
    mmoe_model *m = make_model("mmoe");
    void *buf;
    size_t len;
    assert_int_equal(mmoe_model_save_buffer(m, &buf, &len), MMOE_OK);
    /* Every proper prefix fails cleanly with MMOE_ERR_FORMAT. An exact-size
       heap copy lets a sanitizer catch any read past the end. */
    for (size_t n = 0; n < len; n++) {
        unsigned char *cut = malloc(n ? n : 1);
        assert_non_null(cut);
        memcpy(cut, buf, n);
        mmoe_model *l = (mmoe_model *)&len;
        mmoe_status st = mmoe_model_load_buffer(cut, n, &l);
        if (st != MMOE_ERR_FORMAT)
            fail_msg("prefix of %zu of %zu bytes: %s (%s)", n, len, mmoe_status_name(st),
                     mmoe_last_error());
        assert_null(l);
        free(cut);
    }
    /* Every single-byte change either still loads or fails with a status. */
    unsigned char *copy = malloc(len);
    assert_non_null(copy);
    size_t loaded = 0;
    for (size_t i = 0; i < len; i++) {
        memcpy(copy, buf, len);
        copy[i] ^= (unsigned char)(i % 2 ? 0x80 : 0x01);
        mmoe_model *l = NULL;
        mmoe_status st = mmoe_model_load_buffer(copy, len, &l);
        if (st == MMOE_OK) {
            assert_non_null(l);
            loaded++;
        } else {
            assert_null(l);
            assert_true(st == MMOE_ERR_FORMAT || st == MMOE_ERR_CONFIG || st == MMOE_ERR_VERSION ||
                        st == MMOE_ERR_NONFINITE || st == MMOE_ERR_OVERFLOW ||
                        st == MMOE_ERR_NOMEM);
        }
        mmoe_model_free(l);
    }
    assert_true(loaded > 0); /* flips inside the float data still load */
    free(copy);
    mmoe_buffer_free(buf);
    mmoe_model_free(m);
}

static void test_null_arguments(void **state)
{
    (void)state;
    mmoe_model *m = make_model("mmoe");
    void *buf = (void *)&buf;
    size_t len = 7;
    assert_int_equal(mmoe_model_save(NULL, "/tmp/x"), MMOE_ERR_NULL);
    assert_int_equal(mmoe_model_save(m, NULL), MMOE_ERR_NULL);
    assert_int_equal(mmoe_model_save_buffer(m, NULL, &len), MMOE_ERR_NULL);
    assert_int_equal(mmoe_model_save_buffer(NULL, &buf, &len), MMOE_ERR_NULL);
    assert_null(buf);
    assert_int_equal(len, 0);
    mmoe_model *l = (mmoe_model *)&len;
    assert_int_equal(mmoe_model_load(NULL, &l), MMOE_ERR_NULL);
    assert_null(l);
    assert_int_equal(mmoe_model_load("/tmp/x", NULL), MMOE_ERR_NULL);
    assert_int_equal(mmoe_model_load_buffer(NULL, 10, &l), MMOE_ERR_NULL);
    assert_int_equal(mmoe_model_load_buffer("12345678", 8, NULL), MMOE_ERR_NULL);
    l = (mmoe_model *)&len;
    assert_int_equal(mmoe_model_load("/nonexistent/dir/model.safetensors", &l), MMOE_ERR_IO);
    assert_null(l);
    assert_non_null(strstr(mmoe_last_error(), "No such file"));
    /* A directory is not a model file. */
    assert_int_not_equal(mmoe_model_load("/tmp", &l), MMOE_OK);
    assert_null(l);
    assert_int_equal(mmoe_optimizer_load(NULL, "/tmp/x"), MMOE_ERR_NULL);
    assert_int_equal(mmoe_optimizer_save_buffer(NULL, &buf, &len), MMOE_ERR_NULL);
    mmoe_buffer_free(NULL);
    mmoe_model_free(m);
}

/* Train a few Adam steps on a fixed batch. */
static void train(mmoe_model *m, mmoe_optimizer *opt, int steps, unsigned salt)
{
    float x[B * D], y[B * 2];
    for (int s = 0; s < steps; s++) {
        for (size_t i = 0; i < B * D; i++)
            x[i] = (float)sin(0.3 * (double)(i + (size_t)s * 7 + salt));
        for (size_t b = 0; b < B; b++) {
            y[2 * b] = (float)((b + (size_t)s) % 2);
            y[2 * b + 1] = (float)b * 0.25f;
        }
        assert_int_equal(mmoe_model_train_step(m, opt, B, x, NULL, y, NULL, NULL, NULL), MMOE_OK);
    }
}

/* An MMoE with a DNN input stage with batch-norm and dropout. */
static mmoe_model *make_dropout_model(void)
{
    static const char *const dnn[] = {
        "dnn.layers", "8,6", "dnn.batchnorm", "1", "dnn.dropout", "0.3", "seed", "5", NULL};
    return build_model("mmoe", dnn);
}

static mmoe_optimizer *make_adam(mmoe_model *m)
{
    mmoe_optimizer *opt;
    assert_int_equal(mmoe_optimizer_create(m, MMOE_OPTIMIZER_ADAM, &opt), MMOE_OK);
    assert_int_equal(mmoe_optimizer_set(opt, MMOE_OPT_LEARNING_RATE, 0.01), MMOE_OK);
    return opt;
}

/* Nonzero when a and b have the same trainable parameters, bit for bit. */
static int same_weights(mmoe_model *a, mmoe_model *b)
{
    float *pa, *pb;
    size_t na, nb;
    assert_int_equal(mmoe_model_flat(a, &pa, NULL, &na), MMOE_OK);
    assert_int_equal(mmoe_model_flat(b, &pb, NULL, &nb), MMOE_OK);
    return na == nb && memcmp(pa, pb, na * sizeof(float)) == 0;
}

/* Nonzero when the saved bytes of a and b are the same. */
static int same_file_bytes(const mmoe_model *a, const mmoe_model *b)
{
    void *ba, *bb;
    size_t la, lb;
    assert_int_equal(mmoe_model_save_buffer(a, &ba, &la), MMOE_OK);
    assert_int_equal(mmoe_model_save_buffer(b, &bb, &lb), MMOE_OK);
    int same = la == lb && memcmp(ba, bb, la) == 0;
    mmoe_buffer_free(ba);
    mmoe_buffer_free(bb);
    return same;
}

/* Nonzero when the header of the saved model holds needle. */
static int header_has(const mmoe_model *m, const char *needle)
{
    void *buf;
    size_t len;
    assert_int_equal(mmoe_model_save_buffer(m, &buf, &len), MMOE_OK);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = n << 8 | ((const unsigned char *)buf)[i];
    assert_true(n + 8 <= len);
    char *h = malloc((size_t)n + 1);
    assert_non_null(h);
    memcpy(h, (const char *)buf + 8, (size_t)n);
    h[n] = '\0';
    int has = strstr(h, needle) != NULL;
    free(h);
    mmoe_buffer_free(buf);
    return has;
}

/*
 * Training with dropout and batch-norm, saved with its optimizer state after
 * 3 steps, loaded into fresh objects and continued for 4 steps, gives the
 * model an uninterrupted 7-step run gives, bit for bit: the file holds the
 * dropout stream. Without the stream (restarted from the seed, as a file
 * without "dropout_state" would) the runs part.
 */
static void test_resume_with_dropout(void **state)
{
    (void)state;
    char *dir = tmp_dir();
    char *mpath = join(dir, "model.safetensors");
    char *opath = join(dir, "adam.safetensors");

    mmoe_model *full = make_dropout_model();
    mmoe_optimizer *full_opt = make_adam(full);
    assert_false(header_has(full, "dropout_state")); /* the stream has not moved yet */
    train(full, full_opt, 3, 0);
    assert_true(header_has(full, "\"dropout_state\""));
    assert_int_equal(mmoe_model_save(full, mpath), MMOE_OK);
    assert_int_equal(mmoe_optimizer_save(full_opt, opath), MMOE_OK);
    train(full, full_opt, 4, 11);

    mmoe_model *res;
    assert_int_equal(mmoe_model_load(mpath, &res), MMOE_OK);
    mmoe_optimizer *res_opt = make_adam(res);
    assert_int_equal(mmoe_optimizer_load(res_opt, opath), MMOE_OK);
    train(res, res_opt, 4, 11);
    assert_true(same_weights(full, res));
    /* weights, running statistics and the stream's state: the same bytes */
    assert_true(same_file_bytes(full, res));

    /* the same resume with the stream restarted from the seed draws other masks */
    mmoe_model *restart;
    assert_int_equal(mmoe_model_load(mpath, &restart), MMOE_OK);
    assert_int_equal(mmoe_model_seed_dropout(restart, 5), MMOE_OK);
    mmoe_optimizer *restart_opt = make_adam(restart);
    assert_int_equal(mmoe_optimizer_load(restart_opt, opath), MMOE_OK);
    train(restart, restart_opt, 4, 11);
    assert_false(same_weights(full, restart));

    /* a dropout_state that is not a 64-bit decimal is refused */
    size_t len;
    unsigned char *bytes = read_all(mpath, &len);
    const char key[] = "\"dropout_state\":\"";
    unsigned char *at = NULL;
    for (size_t i = 0; i + sizeof key - 1 < len && !at; i++)
        if (memcmp(bytes + i, key, sizeof key - 1) == 0)
            at = bytes + i + sizeof key - 1;
    assert_non_null(at);
    at[0] = 'x';
    mmoe_model *bad = (mmoe_model *)1;
    assert_int_equal(mmoe_model_load_buffer(bytes, len, &bad), MMOE_ERR_FORMAT);
    assert_null(bad);
    assert_non_null(strstr(mmoe_last_error(), "dropout_state"));
    free(bytes);

    mmoe_optimizer_free(restart_opt);
    mmoe_model_free(restart);
    mmoe_optimizer_free(res_opt);
    mmoe_model_free(res);
    mmoe_optimizer_free(full_opt);
    mmoe_model_free(full);
    remove(mpath);
    remove(opath);
    rmdir(dir);
    free(mpath);
    free(opath);
    free(dir);
}

static void test_optimizer_resume(void **state)
{
    (void)state;
    char *dir = tmp_dir();
    char *mpath = join(dir, "model.safetensors");
    char *opath = join(dir, "adam.safetensors");
    mmoe_model *m = make_model("mmoe");
    mmoe_optimizer *opt;
    assert_int_equal(mmoe_optimizer_create(m, MMOE_OPTIMIZER_ADAM, &opt), MMOE_OK);
    assert_int_equal(mmoe_optimizer_set(opt, MMOE_OPT_LEARNING_RATE, 0.0123), MMOE_OK);
    assert_int_equal(mmoe_optimizer_set(opt, MMOE_OPT_BETA2, 0.99), MMOE_OK);
    assert_int_equal(mmoe_optimizer_set(opt, MMOE_OPT_CLIP_NORM, 5.0), MMOE_OK);
    train(m, opt, 3, 0);
    assert_int_equal(mmoe_model_save(m, mpath), MMOE_OK);
    assert_int_equal(mmoe_optimizer_save(opt, opath), MMOE_OK);
    assert_false(has_temp_files(dir));

    /* Resume in fresh objects; both continue identically. */
    mmoe_model *m2;
    assert_int_equal(mmoe_model_load(mpath, &m2), MMOE_OK);
    mmoe_optimizer *opt2;
    assert_int_equal(mmoe_optimizer_create(m2, MMOE_OPTIMIZER_ADAM, &opt2), MMOE_OK);
    assert_int_equal(mmoe_optimizer_load(opt2, opath), MMOE_OK);
    assert_int_equal(mmoe_optimizer_steps(opt2), 3);
    double v;
    assert_int_equal(mmoe_optimizer_get(opt2, MMOE_OPT_LEARNING_RATE, &v), MMOE_OK);
    assert_true(v == 0.0123);
    assert_int_equal(mmoe_optimizer_get(opt2, MMOE_OPT_BETA2, &v), MMOE_OK);
    assert_true(v == 0.99);
    train(m, opt, 4, 11);
    train(m2, opt2, 4, 11);
    assert_true(same_weights(m, m2));

    /* Buffer form equals the file. */
    void *buf;
    size_t len, flen;
    assert_int_equal(mmoe_optimizer_save(opt, opath), MMOE_OK);
    assert_int_equal(mmoe_optimizer_save_buffer(opt, &buf, &len), MMOE_OK);
    unsigned char *file = read_all(opath, &flen);
    assert_int_equal(len, flen);
    assert_memory_equal(buf, file, len);
    {
        /* Hyper-parameters are exact, '.'-decimal text in the metadata. */
        char *text = malloc(len + 1);
        assert_non_null(text);
        memcpy(text, buf, len);
        text[len] = '\0';
        assert_non_null(strstr(text + 8, "\"learning_rate\":\"0.0123\""));
        assert_non_null(strstr(text + 8, "\"optimizer\":\"adam\""));
        assert_non_null(strstr(text + 8, "\"steps\":\"7\""));
        free(text);
    }

    /* Mismatches are refused and change nothing. */
    mmoe_optimizer *sgd;
    assert_int_equal(mmoe_optimizer_create(m2, MMOE_OPTIMIZER_SGD, &sgd), MMOE_OK);
    train(m2, sgd, 1, 5);
    void *sb0;
    size_t sl0;
    assert_int_equal(mmoe_optimizer_save_buffer(sgd, &sb0, &sl0), MMOE_OK);
    assert_int_equal(mmoe_optimizer_load_buffer(sgd, buf, len), MMOE_ERR_CONFIG);
    assert_non_null(strstr(mmoe_optimizer_last_error(sgd), "adam"));
    assert_int_equal(mmoe_optimizer_steps(sgd), 1);

    mmoe_model *small;
    {
        mmoe_config *c;
        assert_int_equal(mmoe_config_create(&c), MMOE_OK);
        assert_int_equal(mmoe_config_set_int(c, "input.dense", 2), MMOE_OK);
        assert_int_equal(
            mmoe_config_add_task(c, "t", MMOE_TASK_REGRESSION, 0, NULL, MMOE_ACT_RELU, 1.0f),
            MMOE_OK);
        assert_int_equal(mmoe_model_create(c, &small), MMOE_OK);
        mmoe_config_free(c);
    }
    mmoe_optimizer *adam_small;
    assert_int_equal(mmoe_optimizer_create(small, MMOE_OPTIMIZER_ADAM, &adam_small), MMOE_OK);
    assert_int_equal(mmoe_optimizer_load_buffer(adam_small, buf, len), MMOE_ERR_SHAPE);
    assert_int_equal(mmoe_optimizer_steps(adam_small), 0);

    /* A model file is not optimizer state, and vice versa. */
    assert_int_equal(mmoe_optimizer_load(opt2, mpath), MMOE_ERR_FORMAT);
    mmoe_model *bad = (mmoe_model *)&len;
    assert_int_equal(mmoe_model_load(opath, &bad), MMOE_ERR_FORMAT);
    assert_null(bad);

    /* Truncated optimizer state fails and leaves the optimizer as it was. */
    for (size_t n = 0; n < sl0; n += 7) {
        unsigned char *cut = malloc(n ? n : 1);
        memcpy(cut, sb0, n);
        assert_int_equal(mmoe_optimizer_load_buffer(sgd, cut, n), MMOE_ERR_FORMAT);
        free(cut);
    }
    void *sb1;
    size_t sl1;
    assert_int_equal(mmoe_optimizer_save_buffer(sgd, &sb1, &sl1), MMOE_OK);
    assert_int_equal(sl0, sl1);
    assert_memory_equal(sb0, sb1, sl0);

    /* An out-of-range hyper-parameter is refused with everything unchanged. */
    {
        char *text = malloc(sl0 + 1);
        memcpy(text, sb0, sl0);
        char *mom = NULL;
        for (size_t i = 8; i + 12 < sl0; i++)
            if (!memcmp(text + i, "\"momentum\":\"", 12)) {
                mom = text + i + 12;
                break;
            }
        assert_non_null(mom);
        assert_int_equal(mom[0], '0');
        mom[0] = '2'; /* momentum 0 -> 2: outside [0, 1) */
        assert_int_equal(mmoe_optimizer_load_buffer(sgd, text, sl0), MMOE_ERR_RANGE);
        void *sb2;
        size_t sl2;
        assert_int_equal(mmoe_optimizer_save_buffer(sgd, &sb2, &sl2), MMOE_OK);
        assert_memory_equal(sb0, sb2, sl0);
        mmoe_buffer_free(sb2);
        free(text);
    }
    assert_int_equal(mmoe_optimizer_load_buffer(sgd, sb0, sl0), MMOE_OK);

    mmoe_buffer_free(sb0);
    mmoe_buffer_free(sb1);
    mmoe_buffer_free(buf);
    free(file);
    mmoe_optimizer_free(adam_small);
    mmoe_model_free(small);
    mmoe_optimizer_free(sgd);
    mmoe_optimizer_free(opt2);
    mmoe_model_free(m2);
    mmoe_optimizer_free(opt);
    mmoe_model_free(m);
    remove_dir(dir);
    free(mpath);
    free(opath);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_mmoe),
        cmocka_unit_test(test_round_trip_omoe),
        cmocka_unit_test(test_round_trip_shared_bottom),
        cmocka_unit_test(test_round_trip_single_task),
        cmocka_unit_test(test_round_trip_input_stage),
        cmocka_unit_test(test_failed_save_keeps_old_file),
        cmocka_unit_test(test_corrupt_corpus),
        cmocka_unit_test(test_truncation_and_bit_flips),
        cmocka_unit_test(test_null_arguments),
        cmocka_unit_test(test_optimizer_resume),
        cmocka_unit_test(test_resume_with_dropout),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
