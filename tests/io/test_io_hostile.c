/*
 * Model and optimizer files from hostile writers (issue 9): huge headers,
 * NUL escapes, out-of-domain values and step counts, non-regular paths,
 * absurd model sizes, stale temporary files and symbolic links.
 * Each test fails on the code before its fix.
 */
#define _DEFAULT_SOURCE 1
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <mmoe/mmoe.h>

/* A small model; with_bn adds a DNN with batch-norm (running statistics). */
static mmoe_model *make_model(int with_bn)
{
    mmoe_config *c;
    assert_int_equal(mmoe_config_create(&c), MMOE_OK);
    assert_int_equal(mmoe_config_set(c, "input.dense", "4"), MMOE_OK);
    if (with_bn) {
        assert_int_equal(mmoe_config_set(c, "dnn.layers", "3"), MMOE_OK);
        assert_int_equal(mmoe_config_set(c, "dnn.batchnorm", "1"), MMOE_OK);
    }
    size_t w[1] = {5};
    assert_int_equal(mmoe_config_set_experts(c, 2, 1, w, MMOE_ACT_RELU), MMOE_OK);
    assert_int_equal(mmoe_config_add_task(c, "a", MMOE_TASK_BINARY, 0, NULL, MMOE_ACT_RELU, 1.0f),
                     MMOE_OK);
    mmoe_model *m;
    assert_int_equal(mmoe_model_create(c, &m), MMOE_OK);
    mmoe_config_free(c);
    return m;
}

static uint64_t header_len(const unsigned char *b)
{
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = (n << 8) | b[i];
    return n;
}

/*
 * A copy of the container file (len bytes) with text inserted into its
 * header at the first occurrence of after (kept), padded to 8 bytes again.
 */
static unsigned char *insert_in_header(const unsigned char *file, size_t len, const char *after,
                                       const char *text, size_t *out_len)
{
    size_t hn = (size_t)header_len(file), tn = strlen(text), an = strlen(after);
    const unsigned char *h = file + 8;
    size_t at = 0;
    while (at + an <= hn && memcmp(h + at, after, an) != 0)
        at++;
    assert_true(at + an <= hn);
    at += an;
    /* Drop the old padding (trailing spaces), add the text, pad again. */
    size_t core = hn;
    while (core > 0 && h[core - 1] == ' ')
        core--;
    size_t nh = core + tn;
    while (nh % 8)
        nh++;
    size_t data = len - 8 - hn;
    unsigned char *out = malloc(8 + nh + data);
    assert_non_null(out);
    for (int i = 0; i < 8; i++)
        out[i] = (unsigned char)(((uint64_t)nh >> (8 * i)) & 0xffu);
    memcpy(out + 8, h, at);
    memcpy(out + 8 + at, text, tn);
    memcpy(out + 8 + at + tn, h + at, core - at);
    memset(out + 8 + core + tn, ' ', nh - core - tn);
    memcpy(out + 8 + nh, h + hn, data);
    *out_len = 8 + nh + data;
    return out;
}

/* Replace the value of metadata key (a string) by value; the header is rebuilt. */
static unsigned char *set_meta(const unsigned char *file, size_t len, const char *key,
                               const char *value, size_t *out_len)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":\"", key);
    size_t hn = (size_t)header_len(file), pn = strlen(pat);
    const unsigned char *h = file + 8;
    size_t at = 0;
    while (at + pn <= hn && memcmp(h + at, pat, pn) != 0)
        at++;
    assert_true(at + pn <= hn);
    size_t end = at + pn;
    while (end < hn && h[end] != '"')
        end++;
    /* Blank out the old value by rebuilding: header without it, then insert. */
    unsigned char *cut = malloc(len);
    assert_non_null(cut);
    memcpy(cut, file, 8 + at + pn);
    memcpy(cut + 8 + at + pn, h + end, len - 8 - end);
    size_t removed = end - at - pn;
    /* Keep the header length field consistent: pad the end of the header. */
    size_t nh = hn - removed;
    unsigned char *fixed = malloc(len);
    assert_non_null(fixed);
    for (int i = 0; i < 8; i++)
        fixed[i] = (unsigned char)(((uint64_t)hn >> (8 * i)) & 0xffu);
    memcpy(fixed + 8, cut + 8, nh);
    memset(fixed + 8 + nh, ' ', removed);
    memcpy(fixed + 8 + hn, file + 8 + hn, len - 8 - hn);
    free(cut);
    unsigned char *out = insert_in_header(fixed, len, pat, value, out_len);
    free(fixed);
    return out;
}

static unsigned char *model_bytes(const mmoe_model *m, size_t *len)
{
    void *buf;
    assert_int_equal(mmoe_model_save_buffer(m, &buf, len), MMOE_OK);
    unsigned char *copy = malloc(*len);
    assert_non_null(copy);
    memcpy(copy, buf, *len);
    mmoe_buffer_free(buf);
    return copy;
}

static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "loading a large header took too long (quadratic?)\n";
    if (write(2, msg, sizeof msg - 1) < 0)
        _exit(1);
    _exit(1);
}

/*
 * Defect 2: the duplicate-key check compared all pairs of metadata keys.
 * 200,000 keys (a 3.6 MB header) load in well under a second when the
 * check is O(n log n); all pairs take minutes, past the alarm.
 */
static void test_many_metadata_keys(void **state)
{
    (void)state;
    enum { KEYS = 200000 };
    mmoe_model *m = make_model(0);
    mmoe_optimizer *opt;
    assert_int_equal(mmoe_optimizer_create(m, MMOE_OPTIMIZER_ADAM, &opt), MMOE_OK);
    char *extra = malloc((size_t)KEYS * 24);
    if (!extra) {
        fail_msg("no memory");
        return;
    }
    size_t pos = 0;
    for (size_t i = 0; i < KEYS; i++) {
        char kv[32];
        int n = snprintf(kv, sizeof kv, "\"key%07zu\":\"v\",", i);
        memcpy(extra + pos, kv, (size_t)n + 1);
        pos += (size_t)n;
    }
    signal(SIGALRM, on_alarm);
    alarm(120);

    size_t len, big_len;
    unsigned char *file = model_bytes(m, &len);
    unsigned char *big = insert_in_header(file, len, "{\"__metadata__\":{", extra, &big_len);
    mmoe_model *back = NULL;
    assert_int_equal(mmoe_model_load_buffer(big, big_len, &back), MMOE_OK);
    mmoe_model_free(back);
    free(big);

    void *obuf;
    size_t olen;
    assert_int_equal(mmoe_optimizer_save_buffer(opt, &obuf, &olen), MMOE_OK);
    big = insert_in_header(obuf, olen, "{\"__metadata__\":{", extra, &big_len);
    assert_int_equal(mmoe_optimizer_load_buffer(opt, big, big_len), MMOE_OK);
    free(big);
    alarm(0);

    /* Duplicates are still refused. */
    unsigned char *dup = insert_in_header(file, len, "{\"__metadata__\":{",
                                          "\"key1\":\"a\",\"zz\":\"b\",\"key1\":\"c\",", &big_len);
    back = (mmoe_model *)&len;
    assert_int_equal(mmoe_model_load_buffer(dup, big_len, &back), MMOE_ERR_FORMAT);
    assert_null(back);
    assert_non_null(strstr(mmoe_last_error(), "key1"));
    free(dup);
    mmoe_buffer_free(obuf);
    free(file);
    free(extra);
    mmoe_optimizer_free(opt);
    mmoe_model_free(m);
}

/* Defect 9: a \u0000 escape cut the description short and skipped its checks. */
static void test_nul_escape_refused(void **state)
{
    (void)state;
    mmoe_model *m = make_model(0);
    size_t len, bad_len;
    unsigned char *file = model_bytes(m, &len);
    /* The description continues after the NUL with a key that does not exist. */
    unsigned char *bad =
        insert_in_header(file, len, "task.0.activation relu\\n", "\\u0000bogus.key 1\\n", &bad_len);
    mmoe_model *back = (mmoe_model *)&len;
    assert_int_equal(mmoe_model_load_buffer(bad, bad_len, &back), MMOE_ERR_FORMAT);
    assert_null(back);
    assert_non_null(strstr(mmoe_last_error(), "u0000"));
    free(bad);
    /* Anywhere in the header, in either case of hex digits. */
    bad = insert_in_header(file, len, "{\"__metadata__\":{", "\"note\":\"a\\u0000\",", &bad_len);
    assert_int_equal(mmoe_model_load_buffer(bad, bad_len, &back), MMOE_ERR_FORMAT);
    free(bad);
    /* An escaped backslash followed by "u0000" is ordinary text. */
    bad = insert_in_header(file, len, "{\"__metadata__\":{", "\"note\":\"a\\\\u0000\",", &bad_len);
    assert_int_equal(mmoe_model_load_buffer(bad, bad_len, &back), MMOE_OK);
    mmoe_model_free(back);
    free(bad);
    free(file);
    mmoe_model_free(m);
}

/* Defect 3 (loader half): steps = 2^64 - 1 loaded, and the next step wrapped the counter to 0. */
static void test_step_count_bounded(void **state)
{
    (void)state;
    mmoe_model *m = make_model(0);
    mmoe_optimizer *opt;
    assert_int_equal(mmoe_optimizer_create(m, MMOE_OPTIMIZER_ADAM, &opt), MMOE_OK);
    void *buf;
    size_t len, bad_len;
    assert_int_equal(mmoe_optimizer_save_buffer(opt, &buf, &len), MMOE_OK);
    static const char *const refused[] = {"18446744073709551615", "9007199254740993"};
    for (size_t i = 0; i < 2; i++) {
        unsigned char *bad = set_meta(buf, len, "steps", refused[i], &bad_len);
        assert_int_equal(mmoe_optimizer_load_buffer(opt, bad, bad_len), MMOE_ERR_RANGE);
        assert_int_equal(mmoe_optimizer_steps(opt), 0);
        assert_non_null(strstr(mmoe_optimizer_last_error(opt), "steps"));
        free(bad);
    }
    unsigned char *ok = set_meta(buf, len, "steps", "9007199254740992", &bad_len);
    assert_int_equal(mmoe_optimizer_load_buffer(opt, ok, bad_len), MMOE_OK);
    assert_true(mmoe_optimizer_steps(opt) == ((uint64_t)1 << 53));
    free(ok);
    mmoe_buffer_free(buf);
    mmoe_optimizer_free(opt);
    mmoe_model_free(m);
}

/* Index of the first float of tensor name in a model file (from its data_offsets). */
static size_t tensor_offset(const unsigned char *file, const char *name)
{
    size_t hn = (size_t)header_len(file);
    char *h = malloc(hn + 1);
    assert_non_null(h);
    memcpy(h, file + 8, hn);
    h[hn] = '\0';
    char pat[128];
    snprintf(pat, sizeof pat, "\"%s\":{", name);
    const char *e = strstr(h, pat);
    assert_non_null(e);
    const char *o = strstr(e, "\"data_offsets\":[");
    assert_non_null(o);
    size_t begin = (size_t)strtoull(o + 16, NULL, 10);
    free(h);
    return 8 + hn + begin;
}

/* Defect 4: a negative batch-norm running variance loaded, and predict gave NaN. */
static void test_negative_variance_refused(void **state)
{
    (void)state;
    mmoe_model *m = make_model(1);
    size_t len;
    unsigned char *file = model_bytes(m, &len);
    size_t at = tensor_offset(file, "input.dnn.0.bn.running_var") + 4; /* value 1 */
    const float neg = -0.5f, zero = 0.0f;
    memcpy(file + at, &neg, 4);
    mmoe_model *back = (mmoe_model *)&len;
    assert_int_equal(mmoe_model_load_buffer(file, len, &back), MMOE_ERR_RANGE);
    assert_null(back);
    assert_non_null(strstr(mmoe_last_error(), "running_var"));
    /* Zero is a valid variance (eps keeps the division finite). */
    memcpy(file + at, &zero, 4);
    assert_int_equal(mmoe_model_load_buffer(file, len, &back), MMOE_OK);
    float x[4] = {1, 2, 3, 4}, y[1];
    mmoe_workspace *ws;
    assert_int_equal(mmoe_workspace_create(back, 1, &ws), MMOE_OK);
    assert_int_equal(mmoe_model_predict(back, ws, 1, x, NULL, y), MMOE_OK);
    assert_true(isfinite(y[0]));
    /* A running mean may be negative. */
    size_t mean_at = tensor_offset(file, "input.dnn.0.bn.running_mean");
    memcpy(file + mean_at, &neg, 4);
    mmoe_model *again;
    assert_int_equal(mmoe_model_load_buffer(file, len, &again), MMOE_OK);
    mmoe_model_free(again);
    mmoe_workspace_free(ws);
    mmoe_model_free(back);
    free(file);
    mmoe_model_free(m);
}

/* Defect 6: loading /dev/zero grew a buffer to gigabytes; other non-files and huge files. */
static void test_load_only_regular_files(void **state)
{
    (void)state;
    mmoe_model *m = (mmoe_model *)&state;
    assert_int_equal(mmoe_model_load("/dev/zero", &m), MMOE_ERR_IO);
    assert_null(m);
    assert_non_null(strstr(mmoe_last_error(), "not a regular file"));
    assert_int_equal(mmoe_model_load("/tmp", &m), MMOE_ERR_IO);
    mmoe_model *small = make_model(0);
    mmoe_optimizer *opt;
    assert_int_equal(mmoe_optimizer_create(small, MMOE_OPTIMIZER_SGD, &opt), MMOE_OK);
    assert_int_equal(mmoe_optimizer_load(opt, "/dev/zero"), MMOE_ERR_IO);

    /* A sparse file larger than any model file is refused from its size alone. */
    char path[] = "/tmp/mmoe-hostile-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    if (ftruncate(fd, (off_t)((uint64_t)1 << 38)) == 0) {
        assert_int_equal(mmoe_model_load(path, &m), MMOE_ERR_FORMAT);
        assert_non_null(strstr(mmoe_last_error(), "largest"));
        assert_int_equal(mmoe_optimizer_load(opt, path), MMOE_ERR_FORMAT);
    }
    /* An empty file is a truncated one. */
    assert_int_equal(ftruncate(fd, 0), 0);
    assert_int_equal(mmoe_model_load(path, &m), MMOE_ERR_FORMAT);
    /* A real file still loads (mapped). */
    close(fd);
    assert_int_equal(mmoe_model_save(small, path), MMOE_OK);
    assert_int_equal(mmoe_model_load(path, &m), MMOE_OK);
    assert_int_equal(mmoe_model_num_scalars(m), mmoe_model_num_scalars(small));
    mmoe_model_free(m);
    unlink(path);
    mmoe_optimizer_free(opt);
    mmoe_model_free(small);
}

/* Defect 13: any model below 2^40 floats was attempted; absurd ones are refused early. */
static void test_absurd_model_sizes(void **state)
{
    (void)state;
    mmoe_config *c;
    assert_int_equal(mmoe_config_create(&c), MMOE_OK);
    assert_int_equal(mmoe_config_set(c, "input.dense", "16777216"), MMOE_OK);
    assert_int_equal(mmoe_config_set(c, "experts.count", "1"), MMOE_OK);
    assert_int_equal(mmoe_config_set(c, "experts.layers", "4096"), MMOE_OK);
    assert_int_equal(mmoe_config_set(c, "tasks", "1"), MMOE_OK);
    mmoe_model *m = (mmoe_model *)&c;
    /* 2^36 floats: beyond the documented cap of 2^34, whatever the machine. */
    assert_int_equal(mmoe_model_create(c, &m), MMOE_ERR_OVERFLOW);
    assert_null(m);
    /* 2^33 floats (32 GiB), under the cap: refused before allocating where the
       platform reports less physical memory. */
    assert_int_equal(mmoe_config_set(c, "input.dense", "8388608"), MMOE_OK);
    assert_int_equal(mmoe_config_set(c, "experts.layers", "1024"), MMOE_OK);
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages > 0 && page > 0 && (uint64_t)pages * (uint64_t)page < ((uint64_t)1 << 35)) {
        assert_int_equal(mmoe_model_create(c, &m), MMOE_ERR_NOMEM);
        assert_null(m);
        assert_non_null(strstr(mmoe_last_error(), "parameter layout"));
    }
    mmoe_config_free(c);
}

static char *path_in(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    assert_non_null(p);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static int exists(const char *path)
{
    struct stat sb;
    return lstat(path, &sb) == 0;
}

static void touch(const char *path)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs("partial", f);
    fclose(f);
}

/* Defect 12a: interrupted saves left <path>.tmp-XXXXXX files that nothing removed. */
static void test_stale_temporaries_removed(void **state)
{
    (void)state;
    char dir[] = "/tmp/mmoe-stale-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char *model = path_in(dir, "m.safetensors");
    char *stale = path_in(dir, "m.safetensors.tmp-a1B2c3");
    char *held = path_in(dir, "m.safetensors.tmp-zzzzzz");
    char *other = path_in(dir, "other.safetensors.tmp-a1B2c3");
    char *short_name = path_in(dir, "m.safetensors.tmp-abc");
    touch(stale);
    touch(held);
    touch(other);
    touch(short_name);
    /* A save in progress (holding its lock) keeps its temporary file. */
    int fd = open(held, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), 0);
    mmoe_model *m = make_model(0);
    assert_int_equal(mmoe_model_save(m, model), MMOE_OK);
    assert_false(exists(stale));
    assert_true(exists(held));
    assert_true(exists(other));
    assert_true(exists(short_name));
    close(fd);
    /* Once released (its writer gone), the next save removes it too. */
    mmoe_optimizer *opt;
    assert_int_equal(mmoe_optimizer_create(m, MMOE_OPTIMIZER_SGD, &opt), MMOE_OK);
    assert_int_equal(mmoe_optimizer_save(opt, model), MMOE_OK); /* same path, any file kind */
    assert_false(exists(held));
    mmoe_optimizer_free(opt);
    unlink(model);
    unlink(other);
    unlink(short_name);
    rmdir(dir);
    free(model);
    free(stale);
    free(held);
    free(other);
    free(short_name);
    mmoe_model_free(m);
}

/* Defect 12b: saving through a symbolic link replaced the link instead of its target. */
static void test_save_through_symlink(void **state)
{
    (void)state;
    char dir[] = "/tmp/mmoe-link-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char *target = path_in(dir, "v2.safetensors");
    char *link = path_in(dir, "current.safetensors");
    char *dangling = path_in(dir, "next.safetensors");
    char *created = path_in(dir, "v3.safetensors");
    mmoe_model *a = make_model(0), *b = make_model(1);
    assert_int_equal(mmoe_model_save(a, target), MMOE_OK);
    assert_int_equal(symlink("v2.safetensors", link), 0);
    assert_int_equal(mmoe_model_save(b, link), MMOE_OK);
    struct stat sb;
    assert_int_equal(lstat(link, &sb), 0);
    assert_true(S_ISLNK(sb.st_mode));
    mmoe_model *back;
    assert_int_equal(mmoe_model_load(target, &back), MMOE_OK);
    assert_int_equal(mmoe_model_num_scalars(back), mmoe_model_num_scalars(b));
    mmoe_model_free(back);
    /* A dangling link names the file to create. */
    assert_int_equal(symlink("v3.safetensors", dangling), 0);
    assert_int_equal(mmoe_model_save(a, dangling), MMOE_OK);
    assert_int_equal(lstat(dangling, &sb), 0);
    assert_true(S_ISLNK(sb.st_mode));
    assert_int_equal(mmoe_model_load(created, &back), MMOE_OK);
    mmoe_model_free(back);
    unlink(link);
    unlink(dangling);
    unlink(target);
    unlink(created);
    rmdir(dir);
    free(target);
    free(link);
    free(dangling);
    free(created);
    mmoe_model_free(a);
    mmoe_model_free(b);
}

/* No internal function names; the message starts with the public function. */
static void expect_public_message(const char *func)
{
    const char *msg = mmoe_last_error();
    if (strncmp(msg, func, strlen(func)) != 0 || strstr(msg, "mmoe__") || strstr(msg, "st_open") ||
        strstr(msg, "check_entry") || strstr(msg, "apply"))
        fail_msg("message '%s' should start with %s and name no internal function", msg, func);
}

/* Docs item: load errors name the first offending tensor, checked by name and shape first. */
static void test_load_messages(void **state)
{
    (void)state;
    mmoe_model *m = make_model(0), *back = NULL;
    size_t len, bad_len;
    unsigned char *file = model_bytes(m, &len);
    /* The description asks for experts of width 50; the data hold width 5. */
    unsigned char *bad = insert_in_header(file, len, "experts.layers 5", "0", &bad_len);
    assert_int_equal(mmoe_model_load_buffer(bad, bad_len, &back), MMOE_ERR_FORMAT);
    expect_public_message("mmoe_model_load_buffer: ");
    assert_non_null(strstr(mmoe_last_error(), "wrong shape"));
    assert_non_null(strstr(mmoe_last_error(), "experts."));
    free(bad);
    /* Truncated: the header check. */
    assert_int_equal(mmoe_model_load_buffer(file, 5, &back), MMOE_ERR_FORMAT);
    expect_public_message("mmoe_model_load_buffer: ");
    /* A bad description value. */
    bad = insert_in_header(file, len, "experts.activation ", "x", &bad_len);
    assert_int_equal(mmoe_model_load_buffer(bad, bad_len, &back), MMOE_ERR_CONFIG);
    expect_public_message("mmoe_model_load_buffer: model description: ");
    free(bad);
    /* Offsets beyond the data: the message says what they count from. */
    assert_int_equal(mmoe_model_load_buffer(file, len - 4, &back), MMOE_ERR_FORMAT);
    expect_public_message("mmoe_model_load_buffer: ");
    assert_non_null(strstr(mmoe_last_error(), "start of the data section"));
    /* From a path, the path is named. */
    char path[] = "/tmp/mmoe-msg-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, file, len - 4), (ssize_t)(len - 4));
    close(fd);
    assert_int_equal(mmoe_model_load(path, &back), MMOE_ERR_FORMAT);
    expect_public_message("mmoe_model_load: '");
    mmoe_optimizer *opt;
    assert_int_equal(mmoe_optimizer_create(m, MMOE_OPTIMIZER_SGD, &opt), MMOE_OK);
    assert_int_equal(mmoe_optimizer_load(opt, path), MMOE_ERR_FORMAT);
    expect_public_message("mmoe_optimizer_load: '");
    assert_int_equal(mmoe_optimizer_load_buffer(opt, file, 3), MMOE_ERR_FORMAT);
    expect_public_message("mmoe_optimizer_load_buffer: ");
    unlink(path);
    mmoe_optimizer_free(opt);
    free(file);
    mmoe_model_free(m);
}

/* Docs item: every tensor of the file can be listed, running statistics included. */
static void test_file_tensors_listed(void **state)
{
    (void)state;
    mmoe_model *m = make_model(1);
    size_t n = mmoe_model_file_tensor_count(m), np = mmoe_model_param_count(m);
    assert_int_equal(n, np + 2); /* running_mean and running_var of one DNN layer */
    size_t len;
    unsigned char *file = model_bytes(m, &len);
    size_t hn = (size_t)header_len(file);
    char *h = malloc(hn + 1);
    assert_non_null(h);
    memcpy(h, file + 8, hn);
    h[hn] = '\0';
    size_t floats = 0;
    for (size_t i = 0; i < n; i++) {
        const char *name;
        mmoe_tensor *v;
        int trainable;
        assert_int_equal(mmoe_model_file_tensor(m, i, &name, &v, &trainable), MMOE_OK);
        assert_int_equal(trainable, i < np);
        if (i < np) {
            const char *pname;
            assert_int_equal(mmoe_model_param(m, i, &pname, NULL, NULL), MMOE_OK);
            assert_string_equal(name, pname);
        }
        char key[160];
        snprintf(key, sizeof key, "\"%s\":{", name);
        assert_non_null(strstr(h, key));
        floats += mmoe_tensor_numel(v);
    }
    assert_int_equal(floats * 4, len - 8 - hn); /* together they are the whole data section */
    assert_int_equal(mmoe_model_file_tensor(m, n, NULL, NULL, NULL), MMOE_ERR_RANGE);
    assert_int_equal(mmoe_model_file_tensor(NULL, 0, NULL, NULL, NULL), MMOE_ERR_NULL);
    assert_int_equal(mmoe_model_file_tensor_count(NULL), 0);
    free(h);
    free(file);
    mmoe_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_many_metadata_keys),
        cmocka_unit_test(test_nul_escape_refused),
        cmocka_unit_test(test_step_count_bounded),
        cmocka_unit_test(test_negative_variance_refused),
        cmocka_unit_test(test_load_only_regular_files),
        cmocka_unit_test(test_absurd_model_sizes),
        cmocka_unit_test(test_stale_temporaries_removed),
        cmocka_unit_test(test_save_through_symlink),
        cmocka_unit_test(test_load_messages),
        cmocka_unit_test(test_file_tensors_listed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
