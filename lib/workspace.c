/* Inference workspaces and the thread-safe predict path. */
#include <math.h>
#include <string.h>

#include "model_impl.h"

static int workspace_floats(const mmoe_model *m, size_t max_batch, size_t *n)
{
    return mmoe__mul(m->fwd_per_row, max_batch, n) || *n > MMOE__MAX_ELEMS ? -1 : 0;
}

size_t mmoe_workspace_size(const mmoe_model *m, size_t max_batch)
{
    size_t n;
    if (!m || max_batch == 0 || workspace_floats(m, max_batch, &n))
        return 0;
    return n * sizeof(float) + sizeof(mmoe_workspace);
}

mmoe_status mmoe_workspace_create(const mmoe_model *m, size_t max_batch, mmoe_workspace **out)
{
    if (!out || !m) {
        if (out)
            *out = NULL;
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "%s is NULL", m ? "out" : "model");
    }
    *out = NULL;
    if (max_batch == 0)
        return MMOE_FAIL(NULL, MMOE_ERR_INVALID_ARG, "max_batch is 0");
    if (mmoe__model_is_shard(m))
        return MMOE_FAIL(NULL, MMOE_ERR_UNSUPPORTED,
                         "the model holds a shard of a table and "
                         "cannot predict; gather the shards into one model");
    size_t n;
    if (workspace_floats(m, max_batch, &n))
        return MMOE_FAIL(NULL, MMOE_ERR_OVERFLOW, "max_batch %zu too large", max_batch);
    mmoe_workspace *ws = mmoe__calloc(1, sizeof *ws);
    float *arena = mmoe__calloc(n, sizeof(float));
    if (!ws || !arena) {
        mmoe__free(ws);
        mmoe__free(arena);
        return MMOE_FAIL(NULL, MMOE_ERR_NOMEM, "no memory for a workspace of %zu floats", n);
    }
    ws->model = m;
    ws->model_id = m->id;
    ws->arena = arena;
    mmoe__model_bind_fwd(m, arena, max_batch, &ws->f);
    *out = ws;
    return MMOE_OK;
}

void mmoe_workspace_free(mmoe_workspace *ws)
{
    if (!ws)
        return;
    mmoe__free(ws->arena);
    mmoe__free(ws);
}

const char *mmoe_workspace_last_error(const mmoe_workspace *ws)
{
    return ws ? ws->err : "";
}

/* The arguments every call on a model and its workspace checks (func: the public name). */
static mmoe_status check_pair(const mmoe_model *m, mmoe_workspace *ws, const void *out,
                              const char *func)
{
    if (!ws)
        return mmoe__fail(NULL, MMOE_ERR_NULL, func, "workspace is NULL");
    if (!m || !out)
        return mmoe__fail(ws->err, MMOE_ERR_NULL, func, "%s is NULL", m ? "out" : "model");
    if (ws->model != m || ws->model_id != m->id)
        return mmoe__fail(ws->err, MMOE_ERR_INVALID_ARG, func,
                          "workspace belongs to another model");
    return MMOE_OK;
}

mmoe_status mmoe_model_predict(const mmoe_model *m, mmoe_workspace *ws, size_t batch,
                               const float *x, const int64_t *ids, float *out)
{
    mmoe_status st = check_pair(m, ws, out, __func__);
    if (st)
        return st;
    if ((st = mmoe__model_check_input(m, batch, x, ids, ws->err, __func__)) != MMOE_OK)
        return st;
    const size_t T = m->n_tasks, cap = ws->f.cap;
    ws->rows = 0;
    for (size_t r0 = 0; r0 < batch; r0 += cap) {
        size_t B = batch - r0 < cap ? batch - r0 : cap;
        const int64_t *rid = ids ? ids + r0 * m->input.n_ids : NULL;
        /* Inference reads the batch-norm statistics; it never writes them. */
        mmoe__model_forward(m, B, x + r0 * m->in, rid, NULL, NULL, &ws->f, NULL);
        /* Finite but huge inputs can overflow inside the network: say so, never return NaN. */
        if (!mmoe__all_finite(ws->f.Y, B * T)) {
            size_t i = 0;
            while (isfinite(ws->f.Y[i]))
                i++;
            return MMOE_FAIL(ws->err, MMOE_ERR_NONFINITE,
                             "output of row %zu, task %zu is not finite (%g): the inputs are too "
                             "large for this model (overflow inside the network)",
                             r0 + i / T, i % T, (double)ws->f.Y[i]);
        }
        memcpy(out + r0 * T, ws->f.Y, B * T * sizeof *out);
    }
    ws->rows = batch <= cap ? batch : 0;
    mmoe__clear(ws->err);
    return MMOE_OK;
}

mmoe_status mmoe_model_predict_gate_weights(const mmoe_model *m, mmoe_workspace *ws, size_t k,
                                            float *out, size_t cap)
{
    mmoe_status st = check_pair(m, ws, out, __func__);
    if (st)
        return st;
    if (ws->rows == 0)
        return MMOE_FAIL(ws->err, MMOE_ERR_STATE,
                         "no predict through this workspace holds its rows (none yet, or the "
                         "last one's batch exceeded the workspace's max_batch %zu)",
                         ws->f.cap);
    if (k >= m->n_tasks)
        return MMOE_FAIL(ws->err, MMOE_ERR_RANGE, "task %zu of %zu", k, m->n_tasks);
    if (k >= m->n_towers)
        return MMOE_FAIL(ws->err, MMOE_ERR_INVALID_ARG,
                         "task %zu is a product of other tasks: it has no gate", k);
    const size_t E = mmoe__bottom_num_experts(&m->bottom);
    if (E == 0 || cap / E < ws->rows)
        return MMOE_FAIL(ws->err, MMOE_ERR_RANGE, "out holds %zu floats, %zu needed", cap,
                         ws->rows * E);
    for (size_t r = 0; r < ws->rows; r++)
        mmoe__bottom_gate_row(&m->bottom, ws->f.bottom, k, r, out + r * E);
    mmoe__clear(ws->err);
    return MMOE_OK;
}
