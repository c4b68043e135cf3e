/*
 * libFuzzer target: the schema parser and the row transformer. The input
 * is a schema text, a line "%%", then records: the schema is parsed; when
 * it parses, it is fitted on the records (the first one is the header when
 * the schema has one), the fitted transformation's text form must parse
 * back to the same text, and every record is transformed one by one and
 * as a batch under both policies. Nothing may crash, leak or read out of
 * bounds, and the one-by-one and batch results must agree.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <mmoe/mmoe.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_RECS 64

static void check(int cond)
{
    if (!cond)
        abort();
}

static size_t split_records(const char *p, size_t n, const char **rec, size_t *len)
{
    size_t k = 0;
    while (n && k < MAX_RECS) {
        const char *nl = memchr(p, '\n', n);
        size_t l = nl ? (size_t)(nl - p) : n;
        rec[k] = p;
        len[k++] = l;
        if (!nl)
            break;
        p += l + 1;
        n -= l + 1;
    }
    return k;
}

static void transform_all(const mmoe_transform *tf, const char **rec, const size_t *len, size_t n)
{
    mmoe_transform_workspace *ws = NULL;
    if (mmoe_transform_workspace_create(tf, 4096, &ws) != MMOE_OK)
        return;
    const size_t D = mmoe_transform_dense_dim(tf), I = mmoe_transform_num_ids(tf);
    const size_t T = mmoe_transform_num_labels(tf);
    float *x = calloc(MAX_RECS * D, sizeof *x), *y = calloc(MAX_RECS * T, sizeof *y);
    float *w = calloc(MAX_RECS, sizeof *w), *x1 = calloc(D, sizeof *x1);
    int64_t *ids = calloc(MAX_RECS * (I ? I : 1), sizeof *ids), *ids1 = calloc(I ? I : 1, 8);
    size_t kept[MAX_RECS], n_out = 0, skipped = 0;
    if (x && y && w && x1 && ids && ids1) {
        mmoe_status st = mmoe_transform_lines(tf, ws, n, rec, len, NULL, MMOE_MALFORMED_SKIP, x,
                                              ids, y, w, kept, &n_out, &skipped);
        check(st == MMOE_OK && n_out + skipped == n);
        for (size_t j = 0; j < n_out; j++) {
            size_t r = kept[j];
            st = mmoe_transform_line(tf, ws, rec[r], len[r], r + 1, x1, ids1, NULL, NULL);
            check(st == MMOE_OK);
            check(memcmp(x1, x + j * D, D * sizeof *x1) == 0);
            check(I == 0 || memcmp(ids1, ids + j * I, I * sizeof *ids1) == 0);
            for (size_t k = 0; k < I; k++)
                check(ids1[k] >= -1); /* padding or an id */
        }
        size_t n_fail = 0;
        st = mmoe_transform_lines(tf, ws, n, rec, len, NULL, MMOE_MALFORMED_FAIL, x, ids, y, w,
                                  NULL, &n_fail, NULL);
        check(skipped ? st == MMOE_ERR_FORMAT : st == MMOE_OK);
    }
    free(x);
    free(y);
    free(w);
    free(x1);
    free(ids);
    free(ids1);
    mmoe_transform_workspace_free(ws);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    const char *sep = NULL;
    for (size_t i = 0; i + 3 <= size; i++)
        if (memcmp(text + i, "%%\n", 3) == 0 && (i == 0 || text[i - 1] == '\n')) {
            sep = text + i;
            break;
        }
    size_t slen = sep ? (size_t)(sep - text) : size;
    mmoe_schema *s = NULL;
    if (mmoe_schema_parse(text, slen, &s) != MMOE_OK) {
        check(s == NULL);
        return 0;
    }
    /* the canonical text parses back to itself */
    char *t1 = NULL, *t2 = NULL;
    mmoe_schema *s2 = NULL;
    check(mmoe_schema_to_string(s, &t1) == MMOE_OK);
    check(mmoe_schema_parse(t1, strlen(t1), &s2) == MMOE_OK);
    check(mmoe_schema_to_string(s2, &t2) == MMOE_OK);
    check(strcmp(t1, t2) == 0);
    mmoe_string_free(t1);
    mmoe_string_free(t2);
    mmoe_schema_free(s2);
    if (!sep) {
        mmoe_schema_free(s);
        return 0;
    }
    const char *rec[MAX_RECS];
    size_t len[MAX_RECS];
    const char *body = sep + 3;
    size_t n = split_records(body, size - (size_t)(body - text), rec, len);
    mmoe_fit *fit = NULL;
    mmoe_transform *tf = NULL;
    if (mmoe_fit_create(s, &fit) == MMOE_OK) {
        size_t first = 0;
        if (n && mmoe_fit_header(fit, rec[0], len[0]) == MMOE_OK)
            first = 1;
        for (size_t i = first; i < n; i++)
            mmoe_fit_add_line(fit, rec[i], len[i], i + 1);
        if (mmoe_fit_finish(fit, &tf) == MMOE_OK) {
            char *a = NULL, *b = NULL;
            mmoe_transform *back = NULL;
            check(mmoe_transform_to_string(tf, &a) == MMOE_OK);
            check(mmoe_transform_parse(a, strlen(a), &back) == MMOE_OK);
            check(mmoe_transform_to_string(back, &b) == MMOE_OK);
            check(strcmp(a, b) == 0);
            mmoe_string_free(a);
            mmoe_string_free(b);
            mmoe_transform_free(back);
            transform_all(tf, rec + first, len + first, n - first);
            mmoe_transform_free(tf);
        }
        mmoe_fit_free(fit);
    }
    mmoe_schema_free(s);
    return 0;
}
