/*
 * Schemas, fitted transformations, the record reader and the batcher:
 * parsing good and bad schemas, fitted statistics and vocabularies, the
 * transformation of rows (values checked by hand), malformed rows under
 * both policies, the text form, the round trip through a model file
 * (predictions from a loaded model equal the in-process ones bit for bit),
 * gzip input, quoted records and a file larger than the shuffle buffer.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <zlib.h>

#include <mmoe/mmoe.h>

static char tmpdir[256];

static const char *tmp_path(const char *name)
{
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
    assert_int_equal(fclose(f), 0);
}

static mmoe_schema *schema_of(const char *text)
{
    mmoe_schema *s = NULL;
    mmoe_status st = mmoe_schema_parse(text, strlen(text), &s);
    if (st != MMOE_OK)
        fail_msg("schema: %s", mmoe_last_error());
    return s;
}

static const char *SCHEMA = "mmoe-schema 1\n"
                            "# a comment\n"
                            "delimiter \",\"\n"
                            "missing \"?\"\n"
                            "embedding_dim 3\n"
                            "dense age 1 standardize\n"
                            "dense money 2 log1p   # no standardisation\n"
                            "categorical job 3 min_count=2\n"
                            "categorical zip 4 hash=7 dim=2\n"
                            "multi tags 5 separator=\"|\" slots=3 pooling=sum\n"
                            "binary buy 6 positive=yes positive=\"Y\"\n"
                            "regression spend 7\n"
                            "weight 8\n";

/* Training rows for SCHEMA: age, money, job, zip, tags, buy, spend, weight. */
static const char *ROWS[] = {
    "20,0,cook,10115,a|b,yes,1.5,1", "30,9,cook,10117,b,no,2,0.5",
    "40,?,pilot,10115,,Y,0,2",       "50,99,cook,80331,a|a|c|d,no,-1,1",
    "60,-9,pilot,10115,c,no,3,1",    "70,0,nurse,99999,b|c,yes,4,1",
};
#define NROWS (sizeof ROWS / sizeof ROWS[0])

static mmoe_transform *fit_rows(const mmoe_schema *s, const char **rows, size_t n)
{
    mmoe_fit *fit = NULL;
    assert_int_equal(mmoe_fit_create(s, &fit), MMOE_OK);
    for (size_t i = 0; i < n; i++) {
        mmoe_status st = mmoe_fit_add_line(fit, rows[i], strlen(rows[i]), i + 1);
        if (st != MMOE_OK)
            fail_msg("fit row %zu: %s", i, mmoe_fit_last_error(fit));
    }
    mmoe_transform *tf = NULL;
    assert_int_equal(mmoe_fit_finish(fit, &tf), MMOE_OK);
    mmoe_fit_free(fit);
    return tf;
}

static void test_schema_good(void **state)
{
    (void)state;
    mmoe_schema *s = schema_of(SCHEMA);
    assert_int_equal(mmoe_schema_num_features(s), 8);
    mmoe_feature_kind kind;
    const char *name;
    size_t col;
    assert_int_equal(mmoe_schema_feature(s, 4, &kind, &name, &col), MMOE_OK);
    assert_int_equal(kind, MMOE_FEATURE_MULTI);
    assert_string_equal(name, "tags");
    assert_int_equal(col, 5);
    assert_int_equal(mmoe_schema_feature(s, 8, NULL, NULL, NULL), MMOE_ERR_RANGE);
    /* the canonical text parses back to the same text */
    char *t1 = NULL, *t2 = NULL;
    assert_int_equal(mmoe_schema_to_string(s, &t1), MMOE_OK);
    mmoe_schema *s2 = schema_of(t1);
    assert_int_equal(mmoe_schema_to_string(s2, &t2), MMOE_OK);
    assert_string_equal(t1, t2);
    mmoe_string_free(t1);
    mmoe_string_free(t2);
    mmoe_schema_free(s2);
    mmoe_schema_free(s);
    /* TSV, names, header */
    s = schema_of("mmoe-schema 1\ndelimiter tab\nheader yes\nquote none\n"
                  "dense a \"col a\"\nbinary y label threshold=0.5\n"
                  "multi m m separator=\";\" pooling=mean\n");
    assert_int_equal(mmoe_schema_has_header(s), 1);
    assert_int_equal(mmoe_schema_has_header(NULL), 0);
    char *t3 = NULL;
    assert_int_equal(mmoe_schema_to_string(s, &t3), MMOE_OK);
    mmoe_schema *s3 = schema_of(t3); /* every option written parses back */
    mmoe_schema_free(s3);
    mmoe_string_free(t3);
    mmoe_schema_free(s);
    mmoe_schema_free(NULL);
}

static void expect_bad(const char *text, mmoe_status want, const char *needle)
{
    mmoe_schema *s = (mmoe_schema *)1;
    mmoe_status st = mmoe_schema_parse(text, strlen(text), &s);
    assert_int_equal(st, want);
    assert_null(s);
    if (needle && !strstr(mmoe_last_error(), needle))
        fail_msg("message '%s' lacks '%s'", mmoe_last_error(), needle);
}

static void test_schema_bad(void **state)
{
    (void)state;
    const char *H = "mmoe-schema 1\n";
    char buf[512];
    expect_bad("", MMOE_ERR_CONFIG, "empty");
    expect_bad("mmoe-schema 2\nbinary y 1\n", MMOE_ERR_VERSION, "newer");
    expect_bad("mmoe-config 1\n", MMOE_ERR_CONFIG, "line 1");
    expect_bad("mmoe-schema 1\ndense x 1\n", MMOE_ERR_CONFIG, "no label");
    static const struct {
        const char *body, *needle;
    } cases[] = {
        {"binary y 1\nfrobnicate 3\n", "line 3: unknown statement"},
        {"binary y 1\ndense x 0\n", "line 3"},
        {"binary y 1\ndense x 2 standardise\n", "unexpected word"},
        {"binary y 1\ndense y 2\n", "used twice"},
        {"binary y 1\ncategorical c 2 hash=10 min_count=2\n", "hash= excludes"},
        {"binary y 1\ncategorical c 2 hash=0\n", "outside"},
        {"binary y 1\nmulti m 2\n", "separator"},
        {"binary y 1\nmulti m 2 separator=\",\"\n", "delimiter"},
        {"binary y 1 positive=a threshold=1\n", "exclude"},
        {"binary y 1\nweight 2\nweight 3\n", "second weight"},
        {"binary y name\n", "header yes"},
        {"binary y 1\ndense \"bad name\" 2\n", "not a name"},
        {"binary y 1\ndelimiter \"ab\"\n", "one character"},
        {"binary y 1\ndense x 2 \"unterminated\n", "unterminated"},
        {"binary y 1\ndense x \"2\"x\n", "closing quote"},
        {"binary y 1\nfields 2\ndense x 3\n", "fields"},
        {"binary y 1\ncategorical c 2 dim=5000\n", "outside"},
        {"binary y 1\nbinary y2 1 threshold=nan\n", "finite"},
        {"binary y 1\ndense x 2 mean=3\n", "unknown option"},
        {"binary y 1\ndense x 2 \"a\\q\"\n", "escape"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(buf, sizeof buf, "%s%s", H, cases[i].body);
        expect_bad(buf, MMOE_ERR_CONFIG, cases[i].needle);
    }
    /* 65 labels: more than a model's tasks */
    size_t o = (size_t)snprintf(buf, sizeof buf, "%s", H);
    char big[4096];
    memcpy(big, buf, o);
    for (int i = 0; i < 65; i++)
        o += (size_t)snprintf(big + o, sizeof big - o, "regression t%d %d\n", i, i + 1);
    expect_bad(big, MMOE_ERR_CONFIG, "65 labels");
    assert_int_equal(mmoe_schema_parse(NULL, 3, NULL), MMOE_ERR_NULL);
    mmoe_schema *s;
    assert_int_equal(mmoe_schema_load(tmp_path("does-not-exist"), &s), MMOE_ERR_IO);
    assert_null(s);
}

static void test_fit_and_transform(void **state)
{
    (void)state;
    mmoe_schema *s = schema_of(SCHEMA);
    mmoe_transform *tf = fit_rows(s, ROWS, NROWS);
    assert_int_equal(mmoe_transform_dense_dim(tf), 2);
    assert_int_equal(mmoe_transform_num_ids(tf), 1 + 1 + 3);
    assert_int_equal(mmoe_transform_num_labels(tf), 2);
    assert_int_equal(mmoe_transform_rows(tf), NROWS);
    /* job: cook 3, pilot 2, nurse 1 (< min_count 2) -> vocab {cook, pilot} + unknown */
    assert_int_equal(mmoe_transform_vocab_size(tf, 0), 3);
    assert_int_equal(mmoe_transform_vocab_size(tf, 1), 7);
    /* tags, first 3 values of each bag: a 3 (a|a counts twice), b 3, c 3 -> a, b, c */
    assert_int_equal(mmoe_transform_vocab_size(tf, 2), 4);

    mmoe_transform_workspace *ws = NULL;
    assert_int_equal(mmoe_transform_workspace_create(tf, 0, &ws), MMOE_OK);
    float x[2], y[2], w;
    int64_t ids[5];
    const char *row = "45,99,pilot,10115,d|zz||a|b,Y,2.5,3";
    assert_int_equal(mmoe_transform_line(tf, ws, row, strlen(row), 9, x, ids, y, &w), MMOE_OK);
    /* age: mean 45, population sd sqrt(291.666..) */
    double sd = sqrt((625.0 + 225 + 25 + 25 + 225 + 625) / 6.0);
    assert_float_equal(x[0], (float)((45.0 - 45.0) / sd), 0.0f);
    assert_true(x[0] == 0.0f);
    assert_true(x[1] == (float)log1p(99.0));
    assert_int_equal(ids[0], 2); /* pilot */
    uint64_t h = 1469598103934665603ULL;
    for (const char *p = "10115"; *p; p++) {
        h ^= (unsigned char)*p;
        h *= 1099511628211ULL;
    }
    assert_int_equal(ids[1], (int64_t)(h % 7));
    assert_int_equal(ids[2], 0); /* d: past the slots in training, unknown */
    assert_int_equal(ids[3], 0); /* zz: unknown */
    assert_int_equal(ids[4], 1); /* a; b is past the 3 slots */
    assert_true(y[0] == 1.0f && y[1] == 2.5f && w == 3.0f);
    /* missing dense value -> 0; negative log1p is symmetric; short bag is padded */
    row = "?,-9,nobody,1,c,no,0,0";
    assert_int_equal(mmoe_transform_line(tf, ws, row, strlen(row), 10, x, ids, y, &w), MMOE_OK);
    assert_true(x[0] == 0.0f && x[1] == (float)-log1p(9.0));
    assert_int_equal(ids[0], 0);
    assert_int_equal(ids[2], 3); /* c */
    assert_int_equal(ids[3], -1);
    assert_int_equal(ids[4], -1);
    assert_true(y[0] == 0.0f && w == 0.0f);
    /* serving rows need no label columns when labels and weight are NULL */
    row = "45,1,cook,1,a";
    assert_int_equal(mmoe_transform_line(tf, ws, row, strlen(row), 11, x, ids, NULL, NULL),
                     MMOE_OK);
    assert_int_equal(mmoe_transform_line(tf, ws, row, strlen(row), 11, x, ids, y, &w),
                     MMOE_ERR_FORMAT);
    uint64_t line = 0;
    size_t column = 99;
    assert_int_equal(mmoe_transform_workspace_error_at(ws, &line, &column), MMOE_OK);
    assert_int_equal(line, 11);
    assert_int_equal(column, 0);
    /* pre-split fields give the same result as the record */
    const char *fields[8] = {"45", "99", "pilot", "10115", "d|zz||a|b", "Y", "2.5", " 3 "};
    size_t lens[8];
    for (int i = 0; i < 8; i++)
        lens[i] = strlen(fields[i]);
    float x2[2], y2[2], w2;
    int64_t ids2[5];
    row = "45,99,pilot,10115,d|zz||a|b,Y,2.5,3";
    assert_int_equal(mmoe_transform_line(tf, ws, row, strlen(row), 1, x, ids, y, &w), MMOE_OK);
    assert_int_equal(mmoe_transform_fields(tf, ws, 8, fields, lens, 1, x2, ids2, y2, &w2), MMOE_OK);
    assert_memory_equal(x, x2, sizeof x);
    assert_memory_equal(ids, ids2, sizeof ids);
    assert_memory_equal(y, y2, sizeof y);
    assert_true(w == w2);
    mmoe_transform_workspace_free(ws);
    mmoe_transform_free(tf);
    mmoe_schema_free(s);
}

static void test_malformed_policies(void **state)
{
    (void)state;
    mmoe_schema *s = schema_of(SCHEMA);
    mmoe_transform *tf = fit_rows(s, ROWS, NROWS);
    mmoe_transform_workspace *ws = NULL;
    assert_int_equal(mmoe_transform_workspace_create(tf, 0, &ws), MMOE_OK);
    const char *lines[] = {
        "20,0,cook,1,a,yes,1,1",
        "abc,0,cook,1,a,yes,1,1",        /* dense not a number: column 1 */
        "20,0,cook,1,a,yes,1",           /* 7 fields */
        "21,0,cook,1,a,maybe,1,1",       /* binary: not positive -> 0 (valid) */
        "22,0,cook,1,a,yes,,1",          /* empty regression label: column 7 */
        "23,0,\"cook,1,a,yes,1,1",       /* unterminated quote: column 3 */
        "24,0,cook,1,a,yes,1,-2",        /* negative weight: column 8 */
        "25,0,\"co\"\"ok\",1,a,yes,1,1", /* quoted with a doubled quote (valid) */
    };
    enum { B = sizeof lines / sizeof lines[0] };
    size_t lens[B];
    uint64_t nums[B];
    for (size_t i = 0; i < B; i++) {
        lens[i] = strlen(lines[i]);
        nums[i] = 100 + i;
    }
    float x[B * 2], y[B * 2], w[B];
    int64_t ids[B * 5];
    size_t kept[B], n_out = 99, skipped = 99;
    /* fail: stops at the second record, names its line and column */
    assert_int_equal(mmoe_transform_lines(tf, ws, B, lines, lens, nums, MMOE_MALFORMED_FAIL, x, ids,
                                          y, w, kept, &n_out, &skipped),
                     MMOE_ERR_FORMAT);
    assert_int_equal(n_out, 1);
    assert_int_equal(skipped, 0);
    assert_non_null(strstr(mmoe_transform_workspace_last_error(ws), "line 101, column 1 (age)"));
    /* skip: five malformed records left out, the rest compacted */
    assert_int_equal(mmoe_transform_lines(tf, ws, B, lines, lens, nums, MMOE_MALFORMED_SKIP, x, ids,
                                          y, w, kept, &n_out, &skipped),
                     MMOE_OK);
    assert_int_equal(n_out, 3);
    assert_int_equal(skipped, 5);
    assert_int_equal(kept[0], 0);
    assert_int_equal(kept[1], 3);
    assert_int_equal(kept[2], 7);
    assert_true(y[2 * 1] == 0.0f);
    assert_int_equal(ids[5 * 2], 0); /* co"ok is not in the vocabulary */
    /* each malformed record alone: line and column */
    static const size_t bad[][2] = {{1, 1}, {2, 0}, {4, 7}, {5, 3}, {6, 8}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t r = bad[i][0];
        assert_int_equal(mmoe_transform_line(tf, ws, lines[r], lens[r], nums[r], x, ids, y, w),
                         MMOE_ERR_FORMAT);
        uint64_t line;
        size_t col;
        assert_int_equal(mmoe_transform_workspace_error_at(ws, &line, &col), MMOE_OK);
        assert_int_equal(line, nums[r]);
        assert_int_equal(col, bad[i][1]);
    }
    /* fitting refuses the same records and changes nothing */
    mmoe_fit *fit;
    assert_int_equal(mmoe_fit_create(s, &fit), MMOE_OK);
    for (size_t i = 0; i < B; i++)
        mmoe_fit_add_line(fit, lines[i], lens[i], nums[i]);
    assert_int_equal(mmoe_fit_rows(fit), 3);
    mmoe_fit_free(fit);
    /* argument errors */
    assert_int_equal(mmoe_transform_lines(tf, ws, B, lines, lens, NULL, (mmoe_malformed)7, x, ids,
                                          y, w, NULL, &n_out, NULL),
                     MMOE_ERR_INVALID_ARG);
    assert_int_equal(mmoe_transform_line(tf, ws, lines[0], lens[0], 1, x, NULL, y, w),
                     MMOE_ERR_NULL);
    mmoe_transform_workspace *small;
    assert_int_equal(mmoe_transform_workspace_create(tf, 8, &small), MMOE_OK);
    assert_int_equal(mmoe_transform_line(tf, small, lines[0], lens[0], 1, x, ids, y, w),
                     MMOE_ERR_FORMAT);
    mmoe_transform_workspace_free(small);
    mmoe_transform_workspace_free(ws);
    mmoe_transform_free(tf);
    mmoe_schema_free(s);
}

static void test_text_form(void **state)
{
    (void)state;
    mmoe_schema *s = schema_of(SCHEMA);
    const char *rows[NROWS + 1];
    for (size_t i = 0; i < NROWS; i++)
        rows[i] = ROWS[i];
    rows[NROWS] = "33,1,\"we\\ird\xc3\xa9 \x01\",1,a,no,1,1"; /* any bytes in a value */
    mmoe_transform *tf = fit_rows(s, rows, NROWS + 1);
    char *t1 = NULL, *t2 = NULL;
    assert_int_equal(mmoe_transform_to_string(tf, &t1), MMOE_OK);
    for (const unsigned char *p = (const unsigned char *)t1; *p; p++)
        assert_true(*p == '\n' || (*p >= 0x20 && *p < 0x7f));
    mmoe_transform *back = NULL;
    assert_int_equal(mmoe_transform_parse(t1, strlen(t1), &back), MMOE_OK);
    assert_int_equal(mmoe_transform_to_string(back, &t2), MMOE_OK);
    assert_string_equal(t1, t2);
    /* corrupt forms are refused */
    char *bad = strdup(t1);
    char *v = strstr(bad, "size=");
    assert_non_null(v);
    v[5] = '9';
    mmoe_transform *tb = (mmoe_transform *)1;
    assert_int_equal(mmoe_transform_parse(bad, strlen(bad), &tb), MMOE_ERR_CONFIG);
    assert_null(tb);
    free(bad);
    mmoe_string_free(t1);
    mmoe_string_free(t2);
    mmoe_transform_free(back);
    mmoe_transform_free(tf);
    mmoe_schema_free(s);
}

/* Model from the transformation; the file round trip keeps it; predictions agree bit for bit. */
static void test_model_round_trip(void **state)
{
    (void)state;
    mmoe_schema *s = schema_of(SCHEMA);
    mmoe_transform *tf = fit_rows(s, ROWS, NROWS);
    mmoe_config *cfg;
    assert_int_equal(mmoe_config_create(&cfg), MMOE_OK);
    assert_int_equal(mmoe_config_set(cfg, "experts.count", "3"), MMOE_OK);
    assert_int_equal(mmoe_config_set(cfg, "seed", "5"), MMOE_OK);
    if (mmoe_transform_configure(tf, cfg) != MMOE_OK)
        fail_msg("%s", mmoe_last_error());
    mmoe_model *m;
    assert_int_equal(mmoe_model_create(cfg, &m), MMOE_OK);
    assert_null(mmoe_model_get_transform(m));
    assert_int_equal(mmoe_model_set_transform(m, tf), MMOE_OK);
    /* train a few steps so that the weights are not the initial ones */
    mmoe_optimizer *opt;
    assert_int_equal(mmoe_optimizer_create(m, MMOE_OPTIMIZER_ADAM, &opt), MMOE_OK);
    mmoe_transform_workspace *tws;
    assert_int_equal(mmoe_transform_workspace_create(tf, 0, &tws), MMOE_OK);
    float x[NROWS * 2], y[NROWS * 2], w[NROWS];
    int64_t ids[NROWS * 5];
    size_t lens[NROWS], n_out;
    for (size_t i = 0; i < NROWS; i++)
        lens[i] = strlen(ROWS[i]);
    assert_int_equal(mmoe_transform_lines(tf, tws, NROWS, ROWS, lens, NULL, MMOE_MALFORMED_FAIL, x,
                                          ids, y, w, NULL, &n_out, NULL),
                     MMOE_OK);
    for (int k = 0; k < 5; k++)
        assert_int_equal(mmoe_model_train_step(m, opt, NROWS, x, ids, y, w, NULL, NULL), MMOE_OK);
    mmoe_workspace *ws;
    assert_int_equal(mmoe_workspace_create(m, 4, &ws), MMOE_OK);
    float p1[NROWS * 2], p2[NROWS * 2];
    assert_int_equal(mmoe_model_predict(m, ws, NROWS, x, ids, p1), MMOE_OK);
    const char *path = tmp_path("model.safetensors");
    assert_int_equal(mmoe_model_save(m, path), MMOE_OK);

    mmoe_model *m2;
    if (mmoe_model_load(path, &m2) != MMOE_OK)
        fail_msg("%s", mmoe_last_error());
    const mmoe_transform *tf2 = mmoe_model_get_transform(m2);
    assert_non_null(tf2);
    mmoe_transform_workspace *tws2;
    assert_int_equal(mmoe_transform_workspace_create(tf2, 0, &tws2), MMOE_OK);
    float x2[NROWS * 2];
    int64_t ids2[NROWS * 5];
    for (size_t i = 0; i < NROWS; i++)
        assert_int_equal(mmoe_transform_line(tf2, tws2, ROWS[i], lens[i], i + 1, x2 + 2 * i,
                                             ids2 + 5 * i, NULL, NULL),
                         MMOE_OK);
    assert_memory_equal(x, x2, sizeof x);
    assert_memory_equal(ids, ids2, sizeof ids);
    mmoe_workspace *ws2;
    assert_int_equal(mmoe_workspace_create(m2, 4, &ws2), MMOE_OK);
    assert_int_equal(mmoe_model_predict(m2, ws2, NROWS, x2, ids2, p2), MMOE_OK);
    assert_memory_equal(p1, p2, sizeof p1);
    /* a model file whose stored transformation is corrupt does not load */
    void *buf = NULL;
    size_t blen = 0;
    assert_int_equal(mmoe_model_save_buffer(m, &buf, &blen), MMOE_OK);
    char *hit = NULL;
    for (size_t i = 0; i + 6 < blen && !hit; i++)
        if (memcmp((char *)buf + i, "size=2", 6) == 0)
            hit = (char *)buf + i;
    assert_non_null(hit);
    hit[5] = '3';
    mmoe_model *m3 = (mmoe_model *)1;
    assert_int_equal(mmoe_model_load_buffer(buf, blen, &m3), MMOE_ERR_FORMAT);
    assert_null(m3);
    assert_non_null(strstr(mmoe_last_error(), "stored transformation"));
    mmoe_buffer_free(buf);
    /* a transformation that does not fit is refused and changes nothing */
    mmoe_schema *s3 = schema_of("mmoe-schema 1\ndense a 1\nbinary y 2\n");
    const char *r3[] = {"1,1", "2,0"};
    mmoe_transform *tf3 = fit_rows(s3, r3, 2);
    assert_int_equal(mmoe_model_set_transform(m2, tf3), MMOE_ERR_SHAPE);
    /* with fields N, serving records may stop before the label columns */
    mmoe_schema *s4 = schema_of("mmoe-schema 1\nfields 3\ndense a 1\nbinary y 3\n");
    const char *r4[] = {"1,x,1", "2,y,0"};
    mmoe_transform *tf4 = fit_rows(s4, r4, 2);
    mmoe_transform_workspace *tws4;
    assert_int_equal(mmoe_transform_workspace_create(tf4, 0, &tws4), MMOE_OK);
    float x4, y4;
    assert_int_equal(mmoe_transform_line(tf4, tws4, "3,z", 3, 1, &x4, NULL, NULL, NULL), MMOE_OK);
    assert_int_equal(mmoe_transform_line(tf4, tws4, "3,z", 3, 1, &x4, NULL, &y4, NULL),
                     MMOE_ERR_FORMAT);
    assert_int_equal(mmoe_transform_line(tf4, tws4, "3,z,1,9", 7, 1, &x4, NULL, NULL, NULL),
                     MMOE_ERR_FORMAT);
    mmoe_transform_workspace_free(tws4);
    mmoe_transform_free(tf4);
    mmoe_schema_free(s4);
    assert_ptr_equal(mmoe_model_get_transform(m2), tf2);
    assert_int_equal(mmoe_model_set_transform(m2, NULL), MMOE_OK);
    assert_null(mmoe_model_get_transform(m2));
    mmoe_transform_free(tf3);
    mmoe_schema_free(s3);
    mmoe_workspace_free(ws2);
    mmoe_transform_workspace_free(tws2);
    mmoe_model_free(m2);
    mmoe_workspace_free(ws);
    mmoe_transform_workspace_free(tws);
    mmoe_optimizer_free(opt);
    mmoe_model_free(m);
    mmoe_config_free(cfg);
    mmoe_transform_free(tf);
    mmoe_schema_free(s);
}

/* Write n rows "i,label" (label = i % 3 == 0) to path, gzip when gz. */
static void write_rows(const char *path, size_t n, int gz, const char *header)
{
    if (gz) {
        gzFile f = gzopen(path, "wb6");
        assert_non_null(f);
        if (header)
            gzprintf(f, "%s\r\n", header);
        for (size_t i = 0; i < n; i++)
            gzprintf(f, "%zu,\"x\ny\",%d\r\n", i, i % 3 == 0);
        assert_int_equal(gzclose(f), Z_OK);
    } else {
        FILE *f = fopen(path, "wb");
        assert_non_null(f);
        if (header)
            fprintf(f, "%s\n", header);
        for (size_t i = 0; i < n; i++)
            fprintf(f, "%zu,\"x\ny\",%d\n\n", i, i % 3 == 0);
        assert_int_equal(fclose(f), 0);
    }
}

static const char *COUNT_SCHEMA =
    "mmoe-schema 1\nheader yes\ndense i id\ncategorical t text\nbinary y label\n";

/* Every row comes out exactly once per pass, whatever the shuffle buffer. */
static void check_pass(mmoe_batcher *b, size_t n, size_t *order)
{
    char *seen = calloc(n, 1);
    size_t got = 0, bn;
    const float *x, *y;
    const int64_t *ids;
    while (mmoe_batcher_next(b, &bn, &x, &ids, &y, NULL) == MMOE_OK && bn > 0) {
        for (size_t j = 0; j < bn; j++) {
            size_t i = (size_t)x[j];
            assert_true(i < n);
            assert_false(seen[i]);
            seen[i] = 1;
            assert_true(y[j] == (float)(i % 3 == 0));
            assert_int_equal(ids[j], 1); /* "x\ny": the one known value */
            if (order)
                order[got] = i;
            got++;
        }
    }
    assert_int_equal(got, n);
    assert_string_equal(mmoe_batcher_last_error(b), "");
    free(seen);
}

static void test_reader_and_batcher(void **state)
{
    (void)state;
    const size_t N = 5000;
    char plain[512], gz[512];
    snprintf(plain, sizeof plain, "%s", tmp_path("rows.csv"));
    snprintf(gz, sizeof gz, "%s", tmp_path("rows.csv.gz"));
    write_rows(plain, N, 0, "id,text,label");
    write_rows(gz, N, 1, "id,text,label");
    mmoe_schema *s = schema_of(COUNT_SCHEMA);
    /* fit from the gzip file through the reader */
    mmoe_reader *r;
    assert_int_equal(mmoe_reader_open(gz, s, 0, &r), MMOE_OK);
    const char *h;
    size_t hl;
    assert_int_equal(mmoe_reader_header(r, &h, &hl), MMOE_OK);
    mmoe_fit *fit;
    assert_int_equal(mmoe_fit_create(s, &fit), MMOE_OK);
    assert_int_equal(mmoe_fit_add_line(fit, "1,a,1", 5, 1), MMOE_ERR_STATE);
    assert_int_equal(mmoe_fit_header(fit, h, hl), MMOE_OK);
    const char *recs[64];
    size_t lens[64], n;
    uint64_t lines[64], expect_line = 2, total = 0;
    while (mmoe_reader_next(r, 64, recs, lens, lines, &n) == MMOE_OK && n > 0)
        for (size_t i = 0; i < n; i++, total++) {
            assert_int_equal(lines[i], expect_line);
            expect_line += 2; /* the quoted field holds a line break */
            assert_int_equal(mmoe_fit_add_line(fit, recs[i], lens[i], lines[i]), MMOE_OK);
        }
    assert_int_equal(total, N);
    uint64_t done, size;
    assert_int_equal(mmoe_reader_progress(r, &done, &size), MMOE_OK);
    assert_true(size > 0 && done == size);
    mmoe_reader_close(r);
    mmoe_transform *tf;
    assert_int_equal(mmoe_fit_finish(fit, &tf), MMOE_OK);
    mmoe_fit_free(fit);
    assert_int_equal(mmoe_transform_vocab_size(tf, 0), 2);

    /* a shuffle buffer far smaller than the file: every row once; order set by the seed */
    size_t *o1 = malloc(N * sizeof *o1), *o2 = malloc(N * sizeof *o2);
    const char *files[2] = {plain, gz};
    for (int f = 0; f < 2; f++) {
        mmoe_batcher *b;
        assert_int_equal(mmoe_batcher_create(tf, files[f], 64, 500, 7, MMOE_MALFORMED_FAIL, 0, &b),
                         MMOE_OK);
        assert_true(mmoe_batcher_memory(b) > 500 * (2 * 4 + 8));
        check_pass(b, N, o1);
        assert_int_equal(mmoe_batcher_restart(b, 7), MMOE_OK);
        check_pass(b, N, o2);
        assert_memory_equal(o1, o2, N * sizeof *o1);
        assert_int_equal(mmoe_batcher_restart(b, 8), MMOE_OK);
        check_pass(b, N, o2);
        assert_memory_not_equal(o1, o2, N * sizeof *o1);
        /* the order is shuffled, not the file's */
        size_t inplace = 0;
        for (size_t i = 0; i < N; i++)
            inplace += o1[i] == i;
        assert_true(inplace < N / 10);
        mmoe_batcher_free(b);
    }
    /* no shuffle: file order */
    mmoe_batcher *b;
    assert_int_equal(mmoe_batcher_create(tf, plain, 100, 0, 1, MMOE_MALFORMED_FAIL, 0, &b),
                     MMOE_OK);
    check_pass(b, N, o1);
    for (size_t i = 0; i < N; i++)
        assert_int_equal(o1[i], i);
    mmoe_batcher_free(b);
    free(o1);
    free(o2);

    /* a header that does not match the fitted names is refused */
    write_text(tmp_path("other.csv"), "id,words,label\n1,a,1\n");
    assert_int_equal(
        mmoe_batcher_create(tf, tmp_path("other.csv"), 4, 0, 1, MMOE_MALFORMED_FAIL, 0, &b),
        MMOE_ERR_FORMAT);
    /* malformed rows in a file: skip and count, or fail */
    write_text(tmp_path("bad.csv"), "id,text,label\n1,a,1\nzz,a,1\n2,a,0\n3,a\n4,\"open,1\n");
    assert_int_equal(
        mmoe_batcher_create(tf, tmp_path("bad.csv"), 8, 0, 1, MMOE_MALFORMED_SKIP, 0, &b), MMOE_OK);
    size_t bn;
    const float *x;
    /* the reader fails on the quote left open at the end of the file */
    assert_int_equal(mmoe_batcher_next(b, &bn, &x, NULL, NULL, NULL), MMOE_ERR_FORMAT);
    assert_non_null(strstr(mmoe_batcher_last_error(b), "line 6"));
    mmoe_batcher_free(b);
    write_text(tmp_path("bad.csv"), "id,text,label\n1,a,1\nzz,a,1\n2,a,0\n3,a\n");
    assert_int_equal(
        mmoe_batcher_create(tf, tmp_path("bad.csv"), 8, 0, 1, MMOE_MALFORMED_SKIP, 0, &b), MMOE_OK);
    assert_int_equal(mmoe_batcher_next(b, &bn, &x, NULL, NULL, NULL), MMOE_OK);
    assert_int_equal(bn, 2);
    assert_int_equal(mmoe_batcher_skipped(b), 2);
    assert_non_null(strstr(mmoe_batcher_last_error(b), "line 5"));
    mmoe_batcher_free(b);
    assert_int_equal(
        mmoe_batcher_create(tf, tmp_path("bad.csv"), 8, 0, 1, MMOE_MALFORMED_FAIL, 0, &b), MMOE_OK);
    assert_int_equal(mmoe_batcher_next(b, &bn, &x, NULL, NULL, NULL), MMOE_ERR_FORMAT);
    assert_non_null(strstr(mmoe_batcher_last_error(b), "line 3, column 1"));
    mmoe_batcher_free(b);
    /* a corrupt gzip stream is an I/O error, not garbage rows */
    FILE *f = fopen(gz, "r+b");
    assert_non_null(f);
    fseek(f, 200, SEEK_SET);
    fputs("garbage garbage garbage", f);
    fclose(f);
    mmoe_status st = mmoe_batcher_create(tf, gz, 8, 0, 1, MMOE_MALFORMED_SKIP, 0, &b);
    if (st == MMOE_OK) { /* the header may come before the damage */
        while ((st = mmoe_batcher_next(b, &bn, &x, NULL, NULL, NULL)) == MMOE_OK && bn > 0)
            ;
        mmoe_batcher_free(b);
    }
    assert_int_equal(st, MMOE_ERR_IO);
    /* records longer than max_record */
    write_text(tmp_path("long.csv"),
               "id,text,label\n1,a,1\n2,aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa,0\n");
    assert_int_equal(
        mmoe_batcher_create(tf, tmp_path("long.csv"), 8, 0, 1, MMOE_MALFORMED_SKIP, 20, &b),
        MMOE_OK);
    assert_int_equal(mmoe_batcher_next(b, &bn, &x, NULL, NULL, NULL), MMOE_ERR_FORMAT);
    assert_non_null(strstr(mmoe_batcher_last_error(b), "line 3: record longer than 20 bytes"));
    mmoe_batcher_free(b);
    assert_int_equal(mmoe_batcher_create(tf, plain, 8, 0, 1, MMOE_MALFORMED_SKIP, 4, &b),
                     MMOE_ERR_FORMAT); /* the header itself */
    mmoe_transform_free(tf);
    mmoe_schema_free(s);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/mmoe-test-data-XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_schema_good),        cmocka_unit_test(test_schema_bad),
        cmocka_unit_test(test_fit_and_transform),  cmocka_unit_test(test_malformed_policies),
        cmocka_unit_test(test_text_form),          cmocka_unit_test(test_model_round_trip),
        cmocka_unit_test(test_reader_and_batcher),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    return rc;
}
