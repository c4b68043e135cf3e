/*
 * Product tasks (see product.h). With a_j = sigmoid(z_j) and p = prod a_j:
 *
 *   log p      = sum_j log a_j = -sum_j softplus(-z_j)
 *   1 - p      = sum_j (1 - a_j) prod_{i<j} a_i     (every term >= 0: no cancellation)
 *   L          = -t log p - (1 - t) log(1 - p)
 *   dL/dz_j    = (1 - a_j) [ (1 - t) p / (1 - p) - t ]
 *
 * (d log p / dz_j = 1 - a_j, d log(1 - p) / dz_j = -p (1 - a_j) / (1 - p)).
 * Everything in double.
 */
#include <math.h>

#include "product.h"

size_t mmoe__product_tower_tasks(const mmoe_config *c)
{
    size_t k = 0;
    while (k < c->n_tasks && c->tasks[k].n_factors == 0)
        k++;
    return k;
}

mmoe_status mmoe__product_check(const mmoe_config *c, char *err)
{
    const size_t towers = mmoe__product_tower_tasks(c);
    for (size_t k = towers; k < c->n_tasks; k++) {
        const mmoe__task_cfg *t = &c->tasks[k];
        if (t->n_factors == 0)
            return MMOE_FAIL(err, MMOE_ERR_CONFIG,
                             "task %zu has a tower but comes after product "
                             "task %zu: product tasks come last",
                             k, towers);
        if (t->kind != MMOE_TASK_BINARY)
            return MMOE_FAIL(err, MMOE_ERR_CONFIG, "product task %zu must be binary", k);
        for (size_t i = 0; i < t->n_factors; i++) {
            size_t j = t->factors[i];
            if (j >= towers || c->tasks[j].kind != MMOE_TASK_BINARY)
                return MMOE_FAIL(err, MMOE_ERR_CONFIG,
                                 "task.%zu.product: factor %zu is not a "
                                 "binary task with a tower (tasks 0..%zu)",
                                 k, j, towers ? towers - 1 : 0);
        }
    }
    if (towers == 0)
        return MMOE_FAIL(err, MMOE_ERR_CONFIG, "every task is a product: no task has a tower");
    return MMOE_OK;
}

/* log sigmoid(z) = -softplus(-z), stable both ways. */
static double log_sigmoid(double z)
{
    return z >= 0.0 ? -log1p(exp(-z)) : z - log1p(exp(z));
}

static double sigmoid(double z)
{
    return z >= 0.0 ? 1.0 / (1.0 + exp(-z)) : exp(z) / (1.0 + exp(z));
}

/* log p and 1 - p of a product task's factors. */
static void product_of(const mmoe__task_cfg *t, const float *z, double *log_p, double *one_minus)
{
    double lp = 0.0, prefix = 1.0, om = 0.0;
    for (size_t i = 0; i < t->n_factors; i++) {
        const double zj = z[t->factors[i]];
        lp += log_sigmoid(zj);
        om += sigmoid(-zj) * prefix;
        prefix *= sigmoid(zj);
    }
    *log_p = lp;
    *one_minus = om;
}

void mmoe__product_forward(const mmoe_config *c, const float *Z, float *Zout, float *Y)
{
    for (size_t k = mmoe__product_tower_tasks(c); k < c->n_tasks; k++) {
        double lp, om;
        product_of(&c->tasks[k], Z, &lp, &om);
        Y[k] = (float)exp(lp);
        Zout[k] = (float)(lp - log(om));
    }
}

double mmoe__product_loss(const mmoe__task_cfg *t, const float *z, float target, float scale,
                          float *dz)
{
    double lp, om;
    product_of(t, z, &lp, &om);
    const double p = exp(lp), tt = target;
    const double g = (1.0 - tt) * p / om - tt;
    for (size_t i = 0; i < t->n_factors; i++) {
        const size_t j = t->factors[i];
        dz[j] += (float)((double)scale * sigmoid(-(double)z[j]) * g);
    }
    return -tt * lp - (1.0 - tt) * log(om);
}
