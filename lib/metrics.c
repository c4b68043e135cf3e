/* Evaluation metrics: exact ROC AUC (merge sort, tie groups), log loss, accuracy, MSE. */
#include <math.h>
#include <string.h>

#include "internal.h"
#include "mmoe/metrics.h"

#define LOGLOSS_EPS 1e-7

typedef struct scored {
    float s; /* score */
    float w; /* weight */
    int pos; /* label 1 */
} scored;

/* Stable bottom-up merge sort of a[0..n) by score, using tmp[n]. */
static void sort_scores(scored *a, scored *tmp, size_t n)
{
    scored *src = a, *dst = tmp;
    for (size_t width = 1; width < n; width *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * width) {
            size_t mid = lo + width < n ? lo + width : n;
            size_t hi = mid + width < n ? mid + width : n;
            size_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi)
                dst[k++] = src[j].s < src[i].s ? src[j++] : src[i++];
            while (i < mid)
                dst[k++] = src[i++];
            while (j < hi)
                dst[k++] = src[j++];
        }
        scored *t = src;
        src = dst;
        dst = t;
    }
    if (src != a)
        memcpy(a, src, n * sizeof *a);
}

/* AUC of sorted items; P and N are the total positive and negative weights (> 0). */
static double auc_sorted(const scored *a, size_t n, double P, double N)
{
    double acc = 0.0, neg_below = 0.0;
    for (size_t i = 0; i < n;) {
        double gp = 0.0, gn = 0.0;
        size_t j = i;
        for (; j < n && a[j].s == a[i].s; j++) {
            if (a[j].pos)
                gp += a[j].w;
            else
                gn += a[j].w;
        }
        acc += gp * (neg_below + 0.5 * gn);
        neg_below += gn;
        i = j;
    }
    return acc / (P * N);
}

const char *mmoe_metric_name(mmoe_metric metric)
{
    switch (metric) {
    case MMOE_METRIC_AUC:
        return "auc";
    case MMOE_METRIC_LOG_LOSS:
        return "log_loss";
    case MMOE_METRIC_ACCURACY:
        return "accuracy";
    case MMOE_METRIC_MSE:
        return "mse";
    case MMOE_METRIC_RMSE:
        return "rmse";
    }
    return "?";
}

/* Check one task's column; for AUC also the class weights. */
static mmoe_status check_task(mmoe_metric metric, size_t n, size_t T, size_t k, const float *pred,
                              const float *labels, const float *weights, const char *func)
{
    double P = 0.0, N = 0.0;
    for (size_t i = 0; i < n; i++) {
        float p = pred[i * T + k], y = labels[i * T + k];
        if (!isfinite(p))
            return mmoe__fail(NULL, MMOE_ERR_NONFINITE, func, "prediction [%zu][%zu] is not finite",
                              i, k);
        if (!isfinite(y))
            return mmoe__fail(NULL, MMOE_ERR_NONFINITE, func, "label [%zu][%zu] is not finite", i,
                              k);
        int binary = metric == MMOE_METRIC_AUC || metric == MMOE_METRIC_ACCURACY;
        if (binary && y != 0.0f && y != 1.0f)
            return mmoe__fail(NULL, MMOE_ERR_RANGE, func,
                              "label [%zu][%zu] = %g is not 0 or 1 (%s)", i, k, (double)y,
                              mmoe_metric_name(metric));
        if (metric == MMOE_METRIC_LOG_LOSS) {
            if (y < 0.0f || y > 1.0f)
                return mmoe__fail(NULL, MMOE_ERR_RANGE, func,
                                  "label [%zu][%zu] = %g outside [0, 1] (log_loss)", i, k,
                                  (double)y);
            if (p < 0.0f || p > 1.0f)
                return mmoe__fail(NULL, MMOE_ERR_RANGE, func,
                                  "prediction [%zu][%zu] = %g is not a probability (log_loss)", i,
                                  k, (double)p);
        }
        double w = weights ? weights[i] : 1.0;
        if (y == 1.0f)
            P += w;
        else
            N += w;
    }
    if (metric == MMOE_METRIC_AUC && (P <= 0.0 || N <= 0.0))
        return mmoe__fail(NULL, MMOE_ERR_RANGE, func,
                          "task %zu has only %s labels (with weight > 0): AUC is undefined", k,
                          P <= 0.0 ? "negative" : "positive");
    return MMOE_OK;
}

mmoe_status mmoe_metric_compute(mmoe_metric metric, size_t n, size_t T, const float *pred,
                                const float *labels, const float *weights, double *out)
{
    if (!pred || !labels || !out)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "%s is NULL",
                         !pred     ? "pred"
                         : !labels ? "labels"
                                   : "out");
    if (!strcmp(mmoe_metric_name(metric), "?"))
        return MMOE_FAIL(NULL, MMOE_ERR_INVALID_ARG, "unknown metric %d", (int)metric);
    if (n == 0 || T == 0)
        return MMOE_FAIL(NULL, MMOE_ERR_INVALID_ARG, "%s is 0", n == 0 ? "n" : "T");
    size_t nt;
    if (mmoe__mul(n, T, &nt) || nt > MMOE__MAX_ELEMS)
        return MMOE_FAIL(NULL, MMOE_ERR_OVERFLOW, "n %zu x T %zu too large", n, T);

    double W = 0.0;
    if (weights) {
        for (size_t i = 0; i < n; i++) {
            if (!isfinite(weights[i]))
                return MMOE_FAIL(NULL, MMOE_ERR_NONFINITE, "weight %zu is not finite", i);
            if (weights[i] < 0.0f)
                return MMOE_FAIL(NULL, MMOE_ERR_RANGE, "weight %zu is negative (%g)", i,
                                 (double)weights[i]);
            W += weights[i];
        }
        if (!(W > 0.0))
            return MMOE_FAIL(NULL, MMOE_ERR_RANGE, "the weights sum to 0");
    } else {
        W = (double)n;
    }
    mmoe_status st;
    for (size_t k = 0; k < T; k++)
        if ((st = check_task(metric, n, T, k, pred, labels, weights, __func__)))
            return st;

    scored *a = NULL;
    if (metric == MMOE_METRIC_AUC) {
        size_t bytes;
        if (mmoe__mul(n, 2 * sizeof *a, &bytes))
            return MMOE_FAIL(NULL, MMOE_ERR_OVERFLOW, "n %zu too large", n);
        a = mmoe__malloc(bytes);
        if (!a)
            return MMOE_FAIL(NULL, MMOE_ERR_NOMEM, "no memory to sort %zu scores", n);
    }
    for (size_t k = 0; k < T; k++) {
        double acc = 0.0;
        if (metric == MMOE_METRIC_AUC) {
            double P = 0.0, N = 0.0;
            for (size_t i = 0; i < n; i++) {
                a[i].s = pred[i * T + k];
                a[i].w = weights ? weights[i] : 1.0f;
                a[i].pos = labels[i * T + k] == 1.0f;
                if (a[i].pos)
                    P += a[i].w;
                else
                    N += a[i].w;
            }
            sort_scores(a, a + n, n);
            out[k] = auc_sorted(a, n, P, N);
            continue;
        }
        for (size_t i = 0; i < n; i++) {
            double p = pred[i * T + k], y = labels[i * T + k], e = 0.0;
            double w = weights ? weights[i] : 1.0;
            switch (metric) {
            case MMOE_METRIC_LOG_LOSS: {
                double q = p < LOGLOSS_EPS ? LOGLOSS_EPS : p;
                if (q > 1.0 - LOGLOSS_EPS)
                    q = 1.0 - LOGLOSS_EPS;
                e = -(y * log(q) + (1.0 - y) * log(1.0 - q));
                break;
            }
            case MMOE_METRIC_ACCURACY:
                e = (p >= 0.5) == (y == 1.0) ? 1.0 : 0.0;
                break;
            default: /* MSE, RMSE */
                e = (p - y) * (p - y);
                break;
            }
            acc += w * e;
        }
        acc /= W;
        out[k] = metric == MMOE_METRIC_RMSE ? sqrt(acc) : acc;
    }
    mmoe__free(a);
    return MMOE_OK;
}

mmoe_status mmoe_metric_auc(size_t n, const float *scores, const float *labels,
                            const float *weights, double *auc)
{
    return mmoe_metric_compute(MMOE_METRIC_AUC, n, 1, scores, labels, weights, auc);
}
