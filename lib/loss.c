/* Task losses: mean squared error and binary cross-entropy on logits. */
#include <math.h>

#include "internal.h"
#include "loss_impl.h"
#include "mmoe/loss.h"

double mmoe__loss_elem(mmoe_task_kind kind, double y, double t, double *dl)
{
    if (kind == MMOE_TASK_REGRESSION) {
        const double r = y - t;
        *dl = 2.0 * r;
        return r * r;
    }
    /* max(z,0) - z t + log(1 + exp(-|z|)); d/dz = sigmoid(z) - t. */
    const double e = exp(-fabs(y));
    const double sig = y >= 0.0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
    *dl = sig - t;
    return (y > 0.0 ? y : 0.0) - y * t + log1p(e);
}

mmoe_status mmoe_loss(mmoe_task_kind kind, size_t n, const float *pred, const float *target,
                      const float *weights, double *loss, float *grad)
{
    if (!pred || !target || !loss)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "%s is NULL",
                         !pred     ? "pred"
                         : !target ? "target"
                                   : "loss");
    if (kind != MMOE_TASK_REGRESSION && kind != MMOE_TASK_BINARY)
        return MMOE_FAIL(NULL, MMOE_ERR_INVALID_ARG, "unknown task kind %d", (int)kind);
    if (n == 0)
        return MMOE_FAIL(NULL, MMOE_ERR_INVALID_ARG, "n is 0");
    if (!mmoe__all_finite(pred, n))
        return MMOE_FAIL(NULL, MMOE_ERR_NONFINITE, "pred has NaN or infinite values");
    if (!mmoe__all_finite(target, n))
        return MMOE_FAIL(NULL, MMOE_ERR_NONFINITE, "target has NaN or infinite values");
    if (weights && !mmoe__all_finite(weights, n))
        return MMOE_FAIL(NULL, MMOE_ERR_NONFINITE, "weights has NaN or infinite values");
    for (size_t i = 0; i < n; i++) {
        if (kind == MMOE_TASK_BINARY && !(target[i] >= 0.0f && target[i] <= 1.0f))
            return MMOE_FAIL(NULL, MMOE_ERR_RANGE, "binary target[%zu] = %g not in [0, 1]", i,
                             (double)target[i]);
        if (weights && weights[i] < 0.0f)
            return MMOE_FAIL(NULL, MMOE_ERR_RANGE, "weights[%zu] = %g is negative", i,
                             (double)weights[i]);
    }

    const double inv_n = 1.0 / (double)n;
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) {
        const double w = weights ? (double)weights[i] : 1.0;
        double dl;
        const double l = mmoe__loss_elem(kind, pred[i], target[i], &dl);
        sum += w * l;
        if (grad)
            grad[i] = (float)(w * inv_n * dl);
    }
    *loss = sum * inv_n;
    return MMOE_OK;
}
