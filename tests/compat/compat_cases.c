/* The compatibility fixtures' models and data; see compat_cases.h. */
#include <math.h>
#include <string.h>

#include "compat_cases.h"

const compat_case compat_cases[] = {
    {"mmoe", "mmoe", 0},
    {"omoe", "omoe", 0},
    {"shared_bottom", "shared_bottom", 0},
    {"single_task", "single_task", 0},
    {"l2_constrained", "l2_constrained", 0},
    {"cross_stitch", "cross_stitch", 0},
    {"tensor_factorization", "tensor_factorization", 0},
    {"mmoe-input-stage", "mmoe", 1},
    {"cgc", "cgc", 0},
    {"ple", "ple", 0},
};
const size_t COMPAT_N_CASES = sizeof compat_cases / sizeof compat_cases[0];

mmoe_status compat_config(const compat_case *cc, mmoe_config **out)
{
    mmoe_config *c;
    mmoe_status st = mmoe_config_create(&c);
    if (st)
        return st;
    static const char *const base[][2] = {
        {"input.dense", "6"},
        {"seed", "5"},
        {"l2.lambda", "0.01"},
        {"tf.rank", "3"},
    };
    static const char *const stage[][2] = {
        {"input.sparse", "2"},   {"sparse.0.vocab", "9"}, {"sparse.0.dim", "3"},
        {"sparse.1.vocab", "5"}, {"sparse.1.dim", "2"},   {"sparse.1.slots", "2"},
        {"cross.layers", "1"},   {"dnn.layers", "7"},     {"dnn.activation", "tanh"},
    };
    size_t ew[2] = {7, 5}, h[1] = {4};
    if ((st = mmoe_config_set(c, "arch", cc->arch)))
        goto out;
    for (size_t i = 0; i < sizeof base / sizeof *base; i++)
        if ((st = mmoe_config_set(c, base[i][0], base[i][1])))
            goto out;
    for (size_t i = 0; cc->input_stage && i < sizeof stage / sizeof *stage; i++)
        if ((st = mmoe_config_set(c, stage[i][0], stage[i][1])))
            goto out;
    if ((st = mmoe_config_set_experts(c, 3, 2, ew, MMOE_ACT_RELU)) ||
        (st = mmoe_config_add_task(c, "click", MMOE_TASK_BINARY, 1, h, MMOE_ACT_TANH, 1.0f)) ||
        (st = mmoe_config_add_task(c, "dwell", MMOE_TASK_REGRESSION, 0, NULL, MMOE_ACT_RELU,
                                   0.5f)) ||
        (st = mmoe_config_add_task(c, "share", MMOE_TASK_BINARY, 1, h, MMOE_ACT_SIGMOID, 2.0f)))
        goto out;
out:
    if (st) {
        mmoe_config_free(c);
        return st;
    }
    *out = c;
    return MMOE_OK;
}

void compat_fill(const mmoe_model *m, compat_data *d)
{
    memset(d, 0, sizeof *d);
    d->in = mmoe_model_input_dim(m);
    d->n_ids = mmoe_model_num_ids(m);
    d->T = mmoe_model_num_tasks(m);
    for (size_t i = 0; i < COMPAT_B * d->in; i++)
        d->x[i] = (float)cos(0.61 * (double)i + 0.3) * 1.5f;
    for (size_t r = 0; r < COMPAT_B; r++) {
        if (d->n_ids == 3) {
            d->ids[3 * r] = (int64_t)((r * 4 + 1) % 9);
            d->ids[3 * r + 1] = (int64_t)(r % 5);
            d->ids[3 * r + 2] = r % 2 ? (int64_t)((r + 3) % 5) : -1;
        }
        for (size_t k = 0; k < d->T; k++) {
            mmoe_task_kind kind = MMOE_TASK_REGRESSION;
            mmoe_model_task(m, k, NULL, &kind);
            d->y[r * d->T + k] =
                kind == MMOE_TASK_BINARY ? (float)((r + k) % 2) : (float)sin(1.3 * (double)(r + k));
        }
        d->w[r] = 0.5f + 0.25f * (float)r;
    }
}
