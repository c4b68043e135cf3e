/* Model assembly: description -> parameter layout, training forward/loss/backward. */
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "activation.h"
#include "loss_impl.h"
#include "model_impl.h"
#include "pool.h"
#include "mmoe/transform.h"
#include "product.h"

static size_t sum_widths(const size_t *w, size_t n)
{
    size_t s = 0;
    for (size_t i = 0; i < n; i++)
        s += w[i];
    return s;
}

/* Tables stored as shards (mmoe_model_create_sharded); world 1: none. */
typedef struct shard_spec {
    size_t rank, world;
    const unsigned char *flags; /* per table; NULL: every table */
} shard_spec;

static mmoe_status build_layout(mmoe_model *m, const shard_spec *sh, char *err)
{
    const mmoe_config *c = m->cfg;
    mmoe_status st;
    size_t widths[MMOE__BOTTOM_MAX_BUFS + MMOE__INPUT_MAX_BUFS];
    if ((st = mmoe__input_setup(&m->input, c, err)))
        return st;
    mmoe__input_set_reducer(&m->input, &m->red);
    for (size_t k = 0; sh && sh->world > 1 && k < mmoe__input_num_tables(&m->input); k++) {
        if (sh->flags && !sh->flags[k])
            continue;
        if (mmoe__input_table(&m->input, k)->emb.vocab < sh->world)
            return MMOE_FAIL(err, MMOE_ERR_INVALID_ARG,
                             "table %zu has fewer rows (%llu) than "
                             "shards (%zu)",
                             k, (unsigned long long)mmoe__input_table(&m->input, k)->emb.vocab,
                             sh->world);
        mmoe__input_shard(&m->input, k, sh->rank, sh->world);
    }
    m->n_towers = mmoe__product_tower_tasks(c);
    if ((st = mmoe__bottom_setup(&m->bottom, c, m->input.out, m->n_towers, err)))
        return st;
    mmoe__input_declare(&m->input, &m->reg, &m->sreg);
    m->bottom_off = m->reg.total;
    mmoe__bottom_declare(&m->bottom, &m->reg);
    m->tower_off = m->reg.total;
    m->bottom.progress = &m->prog;

    size_t fwd = sum_widths(widths, mmoe__input_buffers(&m->input, widths)) +
                 sum_widths(widths, mmoe__bottom_buffers(&m->bottom, widths));
    size_t bwd = fwd + (m->input.active ? m->input.out : 0);
    for (size_t k = 0; k < m->n_towers; k++) {
        const mmoe__task_cfg *t = &c->tasks[k];
        mmoe__pmlp *tw = &m->towers[k];
        tw->copies = 1;
        tw->in = m->bottom.h;
        tw->n_layers = t->n_layers + 1;
        memcpy(tw->width, t->widths, t->n_layers * sizeof *t->widths);
        tw->width[t->n_layers] = 1;
        tw->act = t->act;
        tw->out_act = MMOE_ACT_IDENTITY;
        char prefix[32];
        snprintf(prefix, sizeof prefix, "towers.%zu", k);
        mmoe__pmlp_declare(tw, &m->reg, prefix, 0);
        fwd += sum_widths(tw->width, tw->n_layers);
        bwd += sum_widths(tw->width, tw->n_layers);
    }
    m->fwd_per_row = fwd + 2 * c->n_tasks;
    m->bwd_per_row = bwd + c->n_tasks;
    mmoe_status failed = m->reg.failed ? m->reg.failed : m->sreg.failed;
    if (failed)
        return MMOE_FAIL(err, failed, "parameter layout: %s",
                         failed == MMOE_ERR_NOMEM ? "no memory" : "model too large");
    return MMOE_OK;
}

/* Process-wide source of model ids (0 is never handed out). */
static atomic_uint_least64_t next_model_id = 1;

/* A model with its layout declared but no parameter buffers yet. */
static mmoe_status model_layout(const mmoe_config *cfg, const shard_spec *sh, mmoe_model **out)
{
    *out = NULL;
    mmoe_status st = mmoe__config_check(cfg, NULL);
    if (st)
        return st;
    mmoe_model *m = mmoe__calloc(1, sizeof *m);
    if (!m)
        return MMOE_FAIL(NULL, MMOE_ERR_NOMEM, "no memory for the model");
    m->id = (uint64_t)atomic_fetch_add(&next_model_id, 1);
    st = mmoe_config_clone(cfg, &m->cfg);
    if (st == MMOE_OK) {
        m->n_tasks = cfg->n_tasks;
        m->in = cfg->input_dense;
        st = build_layout(m, sh, NULL);
    }
    if (st) {
        mmoe_model_free(m);
        return st;
    }
    *out = m;
    return MMOE_OK;
}

mmoe_status mmoe__model_layout_size(const mmoe_config *cfg, size_t *n_params, size_t *n_stats)
{
    mmoe_model *m;
    mmoe_status st = model_layout(cfg, NULL, &m);
    if (st)
        return st;
    *n_params = m->reg.total;
    *n_stats = m->sreg.total;
    mmoe_model_free(m);
    return MMOE_OK;
}

static mmoe_status model_create(const mmoe_config *cfg, const shard_spec *sh, mmoe_model **out)
{
    if (!out || !cfg) {
        if (out)
            *out = NULL;
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "%s is NULL", cfg ? "out" : "cfg");
    }
    *out = NULL;
    mmoe_model *m;
    mmoe_status st = model_layout(cfg, sh, &m);
    if (st)
        return st;
    m->params = mmoe__calloc(m->reg.total, sizeof(float));
    m->grads = mmoe__calloc(m->reg.total, sizeof(float));
    m->stats = mmoe__calloc(m->sreg.total, sizeof(float));
    if (!m->params || !m->grads || !m->stats) {
        st = MMOE_FAIL(NULL, MMOE_ERR_NOMEM, "no memory for %zu parameters", m->reg.total);
        mmoe_model_free(m);
        return st;
    }
    mmoe__reg_bind(&m->reg, m->params, m->grads);
    /* Statistics have no gradient: their "grad" views alias the values. */
    mmoe__reg_bind(&m->sreg, m->stats, m->stats);
    m->rng = MMOE__DROPOUT_START(cfg->seed);
    mmoe__input_init(&m->input, m->params, m->stats, cfg->seed);
    mmoe__bottom_init(&m->bottom, m->params, cfg->seed);
    for (size_t k = 0; k < m->n_tasks; k++)
        mmoe__pmlp_init(&m->towers[k], m->params, cfg->seed, 100 + k);
    *out = m;
    return MMOE_OK;
}

mmoe_status mmoe_model_create(const mmoe_config *cfg, mmoe_model **out)
{
    return model_create(cfg, NULL, out);
}

mmoe_status mmoe_model_create_sharded(const mmoe_config *cfg, size_t n_flags,
                                      const unsigned char *sharded, size_t rank, size_t world,
                                      mmoe_model **out)
{
    if (out)
        *out = NULL;
    if (world == 0 || rank >= world)
        return MMOE_FAIL(NULL, MMOE_ERR_INVALID_ARG, "rank %zu of world %zu", rank, world);
    if (cfg && n_flags != cfg->n_sparse)
        return MMOE_FAIL(NULL, MMOE_ERR_INVALID_ARG, "%zu flags for %zu sparse features", n_flags,
                         cfg->n_sparse);
    shard_spec sh = {rank, world, sharded};
    return model_create(cfg, &sh, out);
}

int mmoe__model_is_shard(const mmoe_model *m)
{
    for (size_t k = 0; k < mmoe__input_num_tables(&m->input); k++)
        if (mmoe__input_table(&m->input, k)->emb.world > 1)
            return 1;
    return 0;
}

void mmoe_model_free(mmoe_model *m)
{
    if (!m)
        return;
    mmoe_config_free(m->cfg);
    mmoe__input_free(&m->input);
    mmoe__bottom_free(&m->bottom);
    mmoe__reg_free(&m->reg);
    mmoe__reg_free(&m->sreg);
    mmoe__free(m->params);
    mmoe__free(m->grads);
    mmoe__free(m->stats);
    mmoe__free(m->train_arena);
    mmoe_transform_free(m->transform);
    mmoe__free(m);
}

/* Carve n buffers of the given per-row widths for cap rows; returns the end. */
static float *carve(float *base, size_t cap, const size_t *widths, size_t n, float **out)
{
    for (size_t i = 0; i < n; i++) {
        out[i] = base;
        base += cap * widths[i];
    }
    return base;
}

static float *carve_common(const mmoe_model *m, float *base, size_t cap, float **input,
                           float **bottom, float *(*tower)[MMOE_MAX_LAYERS + 1])
{
    size_t widths[MMOE__BOTTOM_MAX_BUFS + MMOE__INPUT_MAX_BUFS];
    base = carve(base, cap, widths, mmoe__input_buffers(&m->input, widths), input);
    base = carve(base, cap, widths, mmoe__bottom_buffers(&m->bottom, widths), bottom);
    for (size_t k = 0; k < m->n_tasks; k++)
        base = carve(base, cap, m->towers[k].width, m->towers[k].n_layers, tower[k]);
    return base;
}

void mmoe__model_bind_fwd(const mmoe_model *m, float *base, size_t cap, mmoe__fwd *f)
{
    f->cap = cap;
    base = carve_common(m, base, cap, f->input, f->bottom, f->tower);
    f->Z = base;
    f->Y = base + cap * m->n_tasks;
}

static void bind_bwd(const mmoe_model *m, float *base, size_t cap, mmoe__bwd *b)
{
    base = carve_common(m, base, cap, b->input, b->bottom, b->tower);
    b->dX = NULL;
    if (m->input.active) {
        b->dX = base;
        base += cap * m->input.out;
    }
    b->dZ = base;
}

const float *mmoe__model_forward(const mmoe_model *m, size_t B, const float *x, const int64_t *ids,
                                 float *update, uint64_t *rng, const mmoe__fwd *f, size_t *ldX)
{
    const size_t T = m->n_tasks;
    size_t ld;
    const float *X =
        mmoe__input_forward(&m->input, m->params, m->stats, update, B, x, ids, rng, f->input, &ld);
    mmoe__bottom_forward(&m->bottom, m->params, B, X, ld, rng, f->bottom);
    for (size_t k = 0; k < m->n_towers; k++) {
        size_t ldk;
        const float *in = mmoe__bottom_task_input(&m->bottom, f->bottom, k, &ldk);
        const mmoe__pmlp *tw = &m->towers[k];
        mmoe__pmlp_forward(tw, m->params, B, in, ldk, 1, f->tower[k]);
        const float *z = f->tower[k][tw->n_layers - 1];
        int binary = m->cfg->tasks[k].kind == MMOE_TASK_BINARY;
        for (size_t r = 0; r < B; r++) {
            f->Z[r * T + k] = z[r];
            f->Y[r * T + k] = binary ? mmoe__sigmoid(z[r]) : z[r];
        }
    }
    for (size_t r = 0; r < B && m->n_towers < T; r++) /* product tasks (ESMM) */
        mmoe__product_forward(m->cfg, f->Z + r * T, f->Z + r * T, f->Y + r * T);
    if (ldX)
        *ldX = ld;
    return X;
}

mmoe_status mmoe__model_check_input(const mmoe_model *m, size_t batch, const float *x,
                                    const int64_t *ids, char *err, const char *func)
{
    if (!x)
        return mmoe__fail(err, MMOE_ERR_NULL, func, "x is NULL");
    if (batch == 0)
        return mmoe__fail(err, MMOE_ERR_INVALID_ARG, func, "batch is 0");
    mmoe_status st = mmoe__input_check_ids(&m->input, batch, ids, err, func);
    if (st)
        return st;
    size_t n;
    if (mmoe__mul(batch, m->in, &n) || n > MMOE__MAX_ELEMS)
        return mmoe__fail(err, MMOE_ERR_OVERFLOW, func, "batch %zu x input %zu too large", batch,
                          m->in);
    if (!mmoe__all_finite(x, n)) {
        size_t i = 0;
        while (i < n && isfinite(x[i]))
            i++;
        return mmoe__fail(err, MMOE_ERR_NONFINITE, func, "x[%zu][%zu] is not finite", i / m->in,
                          i % m->in);
    }
    return MMOE_OK;
}

/* Make room for `batch` rows of training buffers (grow-only; unchanged on failure). */
static mmoe_status ensure_train(mmoe_model *m, size_t batch)
{
    if (batch <= m->train_cap)
        return MMOE_OK;
    /* One arena: forward, backward, input copy (floats), then ids (int64, 8-aligned). */
    size_t per_row, n, nid;
    if (mmoe__add(m->fwd_per_row, m->bwd_per_row, &per_row) ||
        mmoe__add(per_row, m->in, &per_row) || mmoe__mul(per_row, batch, &n) ||
        mmoe__add(n, 1, &n) || mmoe__mul(m->input.n_ids, batch, &nid) || mmoe__mul(nid, 2, &nid) ||
        mmoe__add(n, nid, &n) || n > MMOE__MAX_ELEMS)
        return MMOE_FAIL(m->err, MMOE_ERR_OVERFLOW, "batch %zu needs too much memory", batch);
    float *arena = mmoe__calloc(n, sizeof(float));
    if (!arena)
        return MMOE_FAIL(m->err, MMOE_ERR_NOMEM, "no memory for %zu floats of batch buffers", n);
    mmoe__free(m->train_arena);
    m->train_arena = arena;
    m->train_cap = batch;
    mmoe__model_bind_fwd(m, arena, batch, &m->tf);
    bind_bwd(m, arena + batch * m->fwd_per_row, batch, &m->tb);
    m->tx = arena + batch * (m->fwd_per_row + m->bwd_per_row);
    size_t id_off = batch * (m->fwd_per_row + m->bwd_per_row + m->in);
    id_off += id_off & 1; /* int64 alignment */
    m->tids = (int64_t *)(void *)(arena + id_off);
    m->have_forward = m->have_loss = 0;
    return MMOE_OK;
}

mmoe_status mmoe_model_forward(mmoe_model *m, size_t batch, const float *x, const int64_t *ids)
{
    if (!m)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "model is NULL");
    mmoe_status st = mmoe__model_check_input(m, batch, x, ids, m->err, __func__);
    if (st == MMOE_OK && ids)
        st = mmoe__input_check_stored(&m->input, batch, ids, m->err, __func__);
    if (st)
        return st;
    if ((st = ensure_train(m, batch)))
        return st;
    memcpy(m->tx, x, batch * m->in * sizeof *x);
    if (m->input.n_ids)
        memcpy(m->tids, ids, batch * m->input.n_ids * sizeof *ids);
    m->red.status = MMOE_OK;
    m->tX = mmoe__model_forward(m, batch, m->tx, m->input.n_ids ? m->tids : NULL, m->stats, &m->rng,
                                &m->tf, &m->tX_ld);
    if (m->red.status) {
        m->have_forward = m->have_loss = 0;
        return MMOE_FAIL(m->err, m->red.status, "reduction across replicas failed");
    }
    m->batch = batch;
    m->have_forward = 1;
    m->have_loss = 0;
    mmoe__clear(m->err);
    return MMOE_OK;
}

/* Labels [B, tasks] and sample weights [B] (may be NULL) as the loss accepts them. */
static mmoe_status check_labels(const mmoe_model *m, size_t B, const float *labels, const float *sw,
                                char *err, const char *func)
{
    const size_t T = m->n_tasks;
    if (!mmoe__all_finite(labels, B * T))
        return mmoe__fail(err, MMOE_ERR_NONFINITE, func, "labels contain NaN or infinity");
    if (sw && !mmoe__all_finite(sw, B))
        return mmoe__fail(err, MMOE_ERR_NONFINITE, func, "sample weights contain NaN or infinity");
    for (size_t r = 0; r < B; r++) {
        if (sw && sw[r] < 0.0f)
            return mmoe__fail(err, MMOE_ERR_RANGE, func, "sample weight %zu is negative (%g)", r,
                              (double)sw[r]);
        for (size_t k = 0; k < T; k++) {
            float t = labels[r * T + k];
            if (m->cfg->tasks[k].kind == MMOE_TASK_BINARY && (t < 0.0f || t > 1.0f))
                return mmoe__fail(err, MMOE_ERR_RANGE, func,
                                  "label [%zu][%zu] = %g outside [0, 1] for binary task '%s'", r, k,
                                  (double)t, m->cfg->tasks[k].name);
        }
    }
    return MMOE_OK;
}

mmoe_status mmoe_model_check_batch(const mmoe_model *m, size_t batch, const float *x,
                                   const int64_t *ids, const float *labels,
                                   const float *sample_weights)
{
    if (!m || !labels)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "%s is NULL", m ? "labels" : "model");
    mmoe_status st = mmoe__model_check_input(m, batch, x, ids, NULL, __func__);
    size_t n;
    if (st == MMOE_OK && (mmoe__mul(batch, m->n_tasks, &n) || n > MMOE__MAX_ELEMS))
        st = MMOE_FAIL(NULL, MMOE_ERR_OVERFLOW, "batch %zu too large", batch);
    return st ? st : check_labels(m, batch, labels, sample_weights, NULL, __func__);
}

mmoe_status mmoe_model_reserve(mmoe_model *m, size_t batch)
{
    if (!m)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "model is NULL");
    if (batch == 0)
        return MMOE_FAIL(m->err, MMOE_ERR_INVALID_ARG, "batch is 0");
    mmoe_status st = ensure_train(m, batch);
    if (st == MMOE_OK && (st = mmoe__input_reserve_fed(&m->input, batch)))
        return MMOE_FAIL(m->err, st, "fed-row buffers for %zu rows: %s", batch,
                         st == MMOE_ERR_NOMEM ? "no memory" : "too large");
    if (st == MMOE_OK)
        mmoe__clear(m->err);
    return st;
}

mmoe_status mmoe_model_loss(mmoe_model *m, const float *labels, const float *sw, float *task_losses,
                            float *total)
{
    if (!m || !labels)
        return MMOE_FAIL(m ? m->err : NULL, MMOE_ERR_NULL, "%s is NULL", m ? "labels" : "model");
    if (!m->have_forward)
        return MMOE_FAIL(m->err, MMOE_ERR_STATE, "no forward pass to take the loss of");
    const size_t B = m->batch, T = m->n_tasks;
    mmoe_status st = check_labels(m, B, labels, sw, m->err, __func__);
    if (st)
        return st;
    double sum = 0.0;
    const float invB = 1.0f / (float)B;
    for (size_t k = 0; k < T; k++) {
        const mmoe__task_cfg *t = &m->cfg->tasks[k];
        double acc = 0.0;
        for (size_t r = 0; r < B; r++) {
            float s = sw ? sw[r] : 1.0f;
            if (k >= m->n_towers) { /* a product: its gradient goes to the factors' logits */
                acc += s * mmoe__product_loss(t, m->tf.Z + r * T, labels[r * T + k],
                                              (float)t->weight * s * invB, m->tb.dZ + r * T);
                m->tb.dZ[r * T + k] = 0.0f;
                continue;
            }
            double dz;
            acc += s * mmoe__loss_elem(t->kind, m->tf.Z[r * T + k], labels[r * T + k], &dz);
            m->tb.dZ[r * T + k] = (float)t->weight * s * (float)dz * invB;
        }
        acc /= (double)B;
        if (task_losses)
            task_losses[k] = (float)acc;
        sum += t->weight * acc;
    }
    sum += mmoe__bottom_penalty(&m->bottom, m->params, NULL);
    sum += mmoe__bottom_aux_loss(&m->bottom, m->tf.bottom); /* e.g. gate load balancing */
    if (total)
        *total = (float)sum;
    m->have_loss = 1;
    mmoe__clear(m->err);
    return MMOE_OK;
}

mmoe_status mmoe_model_backward(mmoe_model *m)
{
    if (!m)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "model is NULL");
    if (!m->have_loss)
        return MMOE_FAIL(m->err, MMOE_ERR_STATE, "call mmoe_model_loss after the forward first");
    const size_t B = m->batch, T = m->n_tasks;
    m->red.status = MMOE_OK;
    m->prog.mark = m->reg.total;
    m->prog.status = MMOE_OK;
    mmoe__bottom_zero_task_grads(&m->bottom, m->tb.bottom, B);
    for (size_t k = 0; k < m->n_towers; k++) {
        const mmoe__pmlp *tw = &m->towers[k];
        float *dout = m->tb.tower[k][tw->n_layers - 1];
        for (size_t r = 0; r < B; r++)
            dout[r] = m->tb.dZ[r * T + k];
        size_t ld, ldd;
        const float *in = mmoe__bottom_task_input(&m->bottom, m->tf.bottom, k, &ld);
        float *din = mmoe__bottom_task_grad(&m->bottom, m->tb.bottom, k, &ldd);
        mmoe__pmlp_backward(tw, m->params, m->grads, B, in, ld, 1, m->tf.tower[k], m->tb.tower[k],
                            din, ldd);
    }
    /* From the top of the flat buffer down: towers, bottom (penalty included), input. */
    mmoe__grad_ready(&m->prog, m->tower_off);
    float *dX = m->tb.dX;
    if (dX)
        memset(dX, 0, B * m->input.out * sizeof *dX);
    mmoe__bottom_backward(&m->bottom, m->params, m->grads, B, m->tX, m->tX_ld, m->tf.bottom,
                          m->tb.bottom, dX, m->input.out);
    mmoe__bottom_penalty(&m->bottom, m->params, m->grads);
    mmoe__grad_ready(&m->prog, m->bottom_off);
    if (dX)
        mmoe__input_backward(&m->input, m->params, m->grads, B, m->tx,
                             m->input.n_ids ? m->tids : NULL, m->tf.input, m->tb.input, dX);
    mmoe__grad_ready(&m->prog, 0);
    m->have_loss = 0;
    if (m->red.status)
        return MMOE_FAIL(m->err, m->red.status, "reduction across replicas failed");
    if (m->prog.status)
        return MMOE_FAIL(m->err, m->prog.status, "the gradient-ready callback failed");
    mmoe__clear(m->err);
    return MMOE_OK;
}

static void zero_chunk(void *ctx, size_t chunk, size_t b, size_t e)
{
    (void)chunk;
    if (e > b)
        memset((float *)ctx + b, 0, (e - b) * sizeof(float));
}

mmoe_status mmoe_model_zero_grad(mmoe_model *m)
{
    if (!m)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "model is NULL");
    if (m->reg.total >= MMOE__PAR_ELEMS)
        mmoe__parallel_for(m->reg.total, MMOE__PAR_ELEMS / 2, 16, zero_chunk, m->grads);
    else
        zero_chunk(m->grads, 0, 0, m->reg.total);
    mmoe__input_zero_fed(&m->input);
    mmoe__clear(m->err);
    return MMOE_OK;
}

mmoe_status mmoe_model_outputs(const mmoe_model *m, float *out, size_t cap)
{
    if (!m || !out)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "%s is NULL", m ? "out" : "model");
    if (!m->have_forward)
        return MMOE_FAIL(NULL, MMOE_ERR_STATE, "no forward pass yet");
    size_t n = m->batch * m->n_tasks;
    if (cap < n)
        return MMOE_FAIL(NULL, MMOE_ERR_RANGE, "out holds %zu floats, %zu needed", cap, n);
    memcpy(out, m->tf.Y, n * sizeof *out);
    return MMOE_OK;
}

mmoe_status mmoe_model_gate_weights(const mmoe_model *m, size_t k, float *out, size_t cap)
{
    if (!m || !out)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "%s is NULL", m ? "out" : "model");
    if (!m->have_forward)
        return MMOE_FAIL(NULL, MMOE_ERR_STATE, "no forward pass yet");
    if (k >= m->n_tasks)
        return MMOE_FAIL(NULL, MMOE_ERR_RANGE, "task %zu of %zu", k, m->n_tasks);
    if (k >= m->n_towers)
        return MMOE_FAIL(NULL, MMOE_ERR_INVALID_ARG,
                         "task %zu is a product of other tasks: it has no gate", k);
    const size_t E = mmoe__bottom_num_experts(&m->bottom);
    if (cap < m->batch * E)
        return MMOE_FAIL(NULL, MMOE_ERR_RANGE, "out holds %zu floats, %zu needed", cap,
                         m->batch * E);
    for (size_t r = 0; r < m->batch; r++)
        mmoe__bottom_gate_row(&m->bottom, m->tf.bottom, k, r, out + r * E);
    return MMOE_OK;
}

mmoe_status mmoe_model_get_config(const mmoe_model *m, mmoe_config **out)
{
    if (!m)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "model is NULL");
    return mmoe_config_clone(m->cfg, out);
}

uint64_t mmoe__model_id(const mmoe_model *m)
{
    return m->id;
}

size_t mmoe_model_num_tasks(const mmoe_model *m)
{
    return m ? m->n_tasks : 0;
}

size_t mmoe_model_input_dim(const mmoe_model *m)
{
    return m ? m->in : 0;
}

size_t mmoe_model_num_experts(const mmoe_model *m)
{
    return m ? mmoe__bottom_num_experts(&m->bottom) : 0;
}

size_t mmoe_model_num_gates(const mmoe_model *m)
{
    return m ? mmoe__bottom_num_gates(&m->bottom) : 0;
}

size_t mmoe_model_num_scalars(const mmoe_model *m)
{
    return m ? m->reg.total : 0;
}

mmoe_status mmoe_model_task(const mmoe_model *m, size_t k, const char **name, mmoe_task_kind *kind)
{
    if (!m)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "model is NULL");
    if (k >= m->n_tasks)
        return MMOE_FAIL(NULL, MMOE_ERR_RANGE, "task %zu of %zu", k, m->n_tasks);
    if (name)
        *name = m->cfg->tasks[k].name;
    if (kind)
        *kind = m->cfg->tasks[k].kind;
    return MMOE_OK;
}

size_t mmoe_model_param_count(const mmoe_model *m)
{
    return m ? m->reg.count : 0;
}

mmoe_status mmoe_model_param(mmoe_model *m, size_t i, const char **name, mmoe_tensor **value,
                             mmoe_tensor **grad)
{
    if (!m)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "model is NULL");
    if (i >= m->reg.count)
        return MMOE_FAIL(m->err, MMOE_ERR_RANGE, "parameter %zu of %zu", i, m->reg.count);
    mmoe__param *p = &m->reg.items[i];
    if (name)
        *name = p->name;
    if (value)
        *value = &p->value;
    if (grad)
        *grad = &p->grad;
    return MMOE_OK;
}

mmoe_status mmoe_model_flat(mmoe_model *m, float **params, float **grads, size_t *n)
{
    if (!m)
        return MMOE_FAIL(NULL, MMOE_ERR_NULL, "model is NULL");
    if (params)
        *params = m->params;
    if (grads)
        *grads = m->grads;
    if (n)
        *n = m->reg.total;
    return MMOE_OK;
}

const char *mmoe_model_last_error(const mmoe_model *m)
{
    return m ? m->err : "";
}
