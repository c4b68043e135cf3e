/* Finite-difference gradient checking (see gradcheck.h). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <mmoe/mmoe.h>

#include "gradcheck.h"

static size_t pick_index(size_t k, size_t n, size_t m)
{
    /* k-th of m evenly spaced indices in [0, n-1], first and last included. */
    if (m <= 1)
        return 0;
    return (size_t)(((double)k * (double)(n - 1)) / (double)(m - 1) + 0.5);
}

double gc_check(float *p, const float *g, size_t n, gc_loss_fn f, void *ctx, double eps,
                size_t max_checks, char *report, size_t report_cap)
{
    size_t m = (max_checks == 0 || n <= max_checks) ? n : max_checks;
    double diff2 = 0.0, a2 = 0.0, num2 = 0.0;
    double worst = -1.0, worst_a = 0.0, worst_num = 0.0;
    size_t worst_i = 0, prev = (size_t)-1, checked = 0;

    for (size_t k = 0; k < m; k++) {
        size_t i = m == n ? k : pick_index(k, n, m);
        if (i == prev)
            continue;
        prev = i;
        const float orig = p[i];
        const float up = (float)((double)orig + eps);
        const float down = (float)((double)orig - eps);
        p[i] = up;
        const double fp = f(ctx);
        p[i] = down;
        const double fm = f(ctx);
        p[i] = orig;
        const double h = (double)up - (double)down;
        const double num = h != 0.0 ? (fp - fm) / h : 0.0;
        const double a = (double)g[i];
        const double d = a - num;
        diff2 += d * d;
        a2 += a * a;
        num2 += num * num;
        checked++;
        if (fabs(d) > worst || isnan(d)) {
            worst = isnan(d) ? INFINITY : fabs(d);
            worst_i = i;
            worst_a = a;
            worst_num = num;
        }
    }
    double denom = sqrt(a2) + sqrt(num2);
    if (denom < 1e-12)
        denom = 1e-12;
    const double err = sqrt(diff2) / denom;
    if (report && report_cap > 0) {
        if (checked)
            snprintf(report, report_cap,
                     "gradcheck: err %.3e over %zu of %zu entries; worst [%zu] analytic %.6e "
                     "numeric %.6e",
                     err, checked, n, worst_i, worst_a, worst_num);
        else
            snprintf(report, report_cap, "gradcheck: nothing checked (n = %zu)", n);
    }
    return err;
}

double gc_check_input(float *x, const float *dx, size_t n, gc_loss_fn f, void *ctx, double eps,
                      size_t max_checks, char *report, size_t report_cap)
{
    return gc_check(x, dx, n, f, ctx, eps, max_checks, report, report_cap);
}

void gc_fill_uniform(float *x, size_t n, unsigned seed, float lo, float hi)
{
    /* splitmix64 sequence; 24 random bits give an exact float in [0, 1). */
    uint64_t s = (uint64_t)seed * 0x9e3779b97f4a7c15ULL + 0x632be59bd9b4e019ULL;
    for (size_t i = 0; i < n; i++) {
        uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        z ^= z >> 31;
        const float u = (float)(z >> 40) * (1.0f / 16777216.0f);
        float v = lo + (hi - lo) * u;
        if (v >= hi) /* rounding can land on hi */
            v = nextafterf(hi, lo);
        x[i] = v;
    }
}

double gc_model_loss(void *ctx)
{
    const gc_model_batch *c = ctx;
    float total = 0.0f;
    assert_int_equal(mmoe_model_forward(c->model, c->batch, c->x, NULL), MMOE_OK);
    assert_int_equal(mmoe_model_loss(c->model, c->labels, c->sample_weights, NULL, &total),
                     MMOE_OK);
    return total;
}

void gc_model_prepare(struct mmoe_model *m, unsigned seed, const char *scale_name, float scale)
{
    for (size_t i = 0; i < mmoe_model_param_count(m); i++) {
        const char *name;
        mmoe_tensor *v;
        assert_int_equal(mmoe_model_param(m, i, &name, &v, NULL), MMOE_OK);
        float *d = mmoe_tensor_data(v);
        size_t n = mmoe_tensor_numel(v);
        if (strstr(name, ".bias"))
            gc_fill_uniform(d, n, seed + (unsigned)i, 0.05f, 0.3f);
        else if (scale_name && strstr(name, scale_name))
            for (size_t j = 0; j < n; j++)
                d[j] *= scale;
    }
}

void gc_check_reload(struct mmoe_model *m, size_t rows, const float *x)
{
    enum { MAXOUT = 64 * 16 };
    const size_t T = mmoe_model_num_tasks(m);
    assert_true(rows * T <= MAXOUT);
    void *file;
    size_t len;
    assert_int_equal(mmoe_model_save_buffer(m, &file, &len), MMOE_OK);
    mmoe_model *l;
    assert_int_equal(mmoe_model_load_buffer(file, len, &l), MMOE_OK);
    float o1[MAXOUT], o2[MAXOUT];
    mmoe_workspace *w1, *w2;
    assert_int_equal(mmoe_workspace_create(m, rows, &w1), MMOE_OK);
    assert_int_equal(mmoe_workspace_create(l, rows, &w2), MMOE_OK);
    assert_int_equal(mmoe_model_predict(m, w1, rows, x, NULL, o1), MMOE_OK);
    assert_int_equal(mmoe_model_predict(l, w2, rows, x, NULL, o2), MMOE_OK);
    assert_memory_equal(o1, o2, rows * T * sizeof *o1);
    assert_int_equal(mmoe_model_predict(m, w1, 1, x, NULL, o1), MMOE_OK);
    assert_int_equal(mmoe_model_predict(l, w2, 1, x, NULL, o2), MMOE_OK);
    assert_memory_equal(o1, o2, T * sizeof *o1);
    mmoe_workspace_free(w1);
    mmoe_workspace_free(w2);
    mmoe_buffer_free(file);
    mmoe_model_free(l);
}

void gc_check_skip(struct mmoe_model *m, const char *prefix, size_t n_params, size_t rows,
                   const float *x)
{
    enum { MAXOUT = 64 * 16 };
    const size_t T = mmoe_model_num_tasks(m), D = mmoe_model_input_dim(m);
    assert_true(rows * T <= MAXOUT && rows >= 2);
    mmoe_workspace *ws;
    assert_int_equal(mmoe_workspace_create(m, rows, &ws), MMOE_OK);
    float batch[MAXOUT], one[16], again[16];
    assert_int_equal(mmoe_model_predict(m, ws, rows, x, NULL, batch), MMOE_OK);
    for (size_t r = 0; r < rows; r++) {
        assert_int_equal(mmoe_model_predict(m, ws, 1, x + r * D, NULL, one), MMOE_OK);
        for (size_t k = 0; k < T; k++)
            assert_true(fabsf(one[k] - batch[r * T + k]) <= 1e-5f * (1.0f + fabsf(one[k])));
    }
    assert_int_equal(mmoe_model_predict(m, ws, 1, x, NULL, one), MMOE_OK);
    size_t poisoned = 0;
    for (size_t i = 0; i < mmoe_model_param_count(m); i++) {
        const char *name;
        mmoe_tensor *v;
        assert_int_equal(mmoe_model_param(m, i, &name, &v, NULL), MMOE_OK);
        if (strncmp(name, prefix, strlen(prefix)) == 0) {
            float *d = mmoe_tensor_data(v);
            for (size_t j = 0; j < mmoe_tensor_numel(v); j++)
                d[j] = NAN;
            poisoned++;
        }
    }
    assert_int_equal(poisoned, n_params);
    assert_int_equal(mmoe_model_predict(m, ws, 1, x, NULL, again), MMOE_OK);
    assert_memory_equal(one, again, T * sizeof *one);
    assert_int_equal(mmoe_model_predict(m, ws, 2, x, NULL, batch), MMOE_ERR_NONFINITE);
    mmoe_workspace_free(ws);
}

struct mmoe_config *gc_check_text(struct mmoe_model *m, char **text)
{
    mmoe_config *cfg, *back;
    char *text2;
    assert_int_equal(mmoe_model_get_config(m, &cfg), MMOE_OK);
    assert_int_equal(mmoe_config_to_string(cfg, text), MMOE_OK);
    assert_int_equal(mmoe_config_create(&back), MMOE_OK);
    assert_int_equal(mmoe_config_parse(back, *text), MMOE_OK);
    assert_int_equal(mmoe_config_to_string(back, &text2), MMOE_OK);
    assert_string_equal(*text, text2);
    mmoe_string_free(text2);
    mmoe_config_free(cfg);
    return back;
}
