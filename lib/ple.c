/*
 * Progressive Layered Extraction (Tang et al., RecSys 2020) and its
 * one-level form, Customized Gate Control (CGC).
 *
 * Level l = 0 .. L-1 (L = `levels` for ple, 1 for cgc) has E_s shared
 * experts (`experts.count`) and E_k experts of task k (`task.K.experts`),
 * all shaped by experts.layers (output width h). Inputs: t_k^{-1} = s^{-1}
 * = x; at level l task k's experts and gate read t_k^{l-1}, the shared
 * experts and the shared gate read s^{l-1}.
 *
 *   task gate k   g_k = gate(W_k^l t_k^{l-1})  over [task k's experts, shared experts]
 *   t_k^l         = sum_j g_k,j e_j
 *   shared gate   g_s = gate(W_s^l s^{l-1})   over [shared, task 0's, task 1's, ...]
 *   s^l           = sum_j g_s,j e_j            (levels 0 .. L-2 only)
 *   f_k           = t_k^{L-1}
 *
 * Each expert group is one parallel MLP (one GEMM for its first layer);
 * at level 0 all gates read x and run as one GEMM. Gates go through the
 * gate kinds of gate.h (softmax, top-k, hard). Gate priors (gate.h): task
 * k's prior (over its own experts, then the shared ones) applies to task
 * k's gate at every level; the shared gate has none. With a gate_bias
 * every gate of every level has a bias (ple.L.gates.K.bias,
 * ple.L.shared_gate.bias, the latter initialised to 0).
 *
 * Noisy top-k gating and load balancing (gate.h; gate.noise,
 * gate.balance.*) apply to every gate of every level alike: each has noise
 * weights (ple.L.gates.K.noise_weight, ple.L.shared_gate.noise_weight,
 * shaped as its weight), and each adds its own auxiliary loss over the
 * batch. A level's gates are one mmoe__gate_set: the GEMMs are this file's
 * (one at level 0, one per gate above), masks, noise, kind and auxiliary
 * loss are gate.c's.
 *
 * Each level computes its gates first, then its experts: at batch 1 with a
 * sparse gate only the experts some gate of the level selected are run
 * (mmoe__gate_experts_forward); the others' outputs are zero, as their
 * weights are.
 *
 * Buffers (per-row widths), level by level: for every group (shared, then
 * task 0 .. T-1) its expert layers [E_g * w_j]; the gate weights P
 * [sum of the gates' widths] (and Q for gate kinds that need it); the
 * outputs O [(T+1) h] (task k at k h, shared at T h); with gate.noise the
 * clean logits Z, noise logits U and draws Eps (as P). After the levels,
 * with gate.balance.*, one float per row whose row 0 holds the auxiliary
 * loss of the batch (all gates of all levels).
 */
#include <stdio.h>
#include <string.h>

#include "bottom.h"
#include "dense.h"
#include "gate.h"
#include "init.h"
#include "mix.h"
#include "pmlp.h"

#define PLE_MAX_LEVELS 16

typedef struct ple_level {
    size_t in;                            /* width of every input of this level */
    mmoe__pmlp group[MMOE_MAX_TASKS + 1]; /* 0: shared, 1 + k: task k */
    size_t group_buf[MMOE_MAX_TASKS + 1]; /* index of the group's first buffer */
    mmoe__gate_set gates; /* T task gates, + 1 shared gate below the top: widths, columns, masks */
    size_t gate_off;      /* W: [gates.ld, in], gate g's rows from gates.col[g] */
    size_t bias_off;      /* b: [gates.ld] when biased */
    size_t noise_off;     /* W_noise: as W, with gate.noise */
    size_t p_buf, q_buf, o_buf; /* buffer indices (q_buf only with gate.needs_q) */
    size_t z_buf;               /* with gate.noise: Z, then U and Eps */
} ple_level;

typedef struct ple {
    size_t T, L, h, n_bufs;
    size_t aux_buf;                                 /* after the levels, with gate.balance.* */
    size_t n_shared, n_task[MMOE_MAX_TASKS], total; /* experts per level */
    int biased;
    mmoe__gate gate;
    mmoe__gate_prior prior[MMOE_MAX_TASKS]; /* task gates' priors (every level) */
    ple_level lv[PLE_MAX_LEVELS];
} ple;

static size_t group_size(const ple *p, size_t g)
{
    return g == 0 ? p->n_shared : p->n_task[g - 1];
}

static mmoe_status setup_levels(mmoe__bottom *b, const mmoe_config *c, size_t levels, char *err)
{
    ple *p = b->impl;
    p->T = b->n_tasks;
    p->L = levels;
    p->h = c->expert_widths[c->expert_layers - 1];
    p->n_shared = c->n_experts;
    p->total = p->n_shared;
    for (size_t k = 0; k < p->T; k++) {
        p->n_task[k] = c->tasks[k].n_experts;
        p->total += p->n_task[k];
    }
    if (p->total > MMOE__MAX_EXPERTS)
        return MMOE_FAIL(err, MMOE_ERR_CONFIG, "%zu experts per level; at most %d", p->total,
                         MMOE__MAX_EXPERTS);
    for (size_t k = 0; k < p->T; k++)
        if (p->n_task[k] + p->n_shared == 0)
            return MMOE_FAIL(err, MMOE_ERR_CONFIG,
                             "task %zu's gate has no expert to mix "
                             "(experts.count and task.%zu.experts both 0)",
                             k, k);
    mmoe__gate_setup(&p->gate, c);
    for (size_t k = 0; k < p->T; k++) {
        mmoe_status st = mmoe__gate_prior_setup(&p->gate, c, k, p->n_task[k] + p->n_shared,
                                                "its task.K.experts, then experts.count shared",
                                                &p->prior[k], err);
        if (st)
            return st;
    }
    p->biased = mmoe__gate_prior_biased(c, p->T);
    mmoe_status st = mmoe__gate_noise_check(&p->gate, err);
    if (st)
        return st;
    size_t nb = 0;
    for (size_t l = 0; l < p->L; l++) {
        ple_level *v = &p->lv[l];
        v->in = l == 0 ? b->in : p->h;
        for (size_t g = 0; g <= p->T; g++) {
            mmoe__pmlp *ex = &v->group[g];
            ex->copies = group_size(p, g);
            ex->in = v->in;
            ex->n_layers = c->expert_layers;
            memcpy(ex->width, c->expert_widths, sizeof c->expert_widths);
            ex->act = ex->out_act = c->expert_act;
            v->group_buf[g] = nb;
            nb += ex->n_layers;
        }
        memset(&v->gates, 0, sizeof v->gates);
        for (size_t k = 0; k < p->T; k++)
            mmoe__gate_set_add(&v->gates, p->n_task[k] + p->n_shared, p->prior[k].mask);
        if (l + 1 < p->L) /* the shared gate */
            mmoe__gate_set_add(&v->gates, p->total, NULL);
        v->p_buf = nb++;
        v->q_buf = p->gate.needs_q ? nb++ : 0;
        v->o_buf = nb++;
        v->z_buf = nb;
        nb += p->gate.noisy ? 3 : 0;
    }
    p->aux_buf = nb;
    nb += MMOE__GATE_BALANCED(&p->gate) ? 1 : 0;
    if (nb > MMOE__BOTTOM_MAX_BUFS)
        return MMOE_FAIL(err, MMOE_ERR_CONFIG,
                         "%zu tasks x %zu levels need %zu buffers; at most %d", p->T, p->L, nb,
                         MMOE__BOTTOM_MAX_BUFS);
    p->n_bufs = nb;
    b->h = p->h;
    return MMOE_OK;
}

static mmoe_status cgc_setup(mmoe__bottom *b, const mmoe_config *c, char *err)
{
    return setup_levels(b, c, 1, err);
}

static mmoe_status ple_setup(mmoe__bottom *b, const mmoe_config *c, char *err)
{
    if (c->levels > PLE_MAX_LEVELS)
        return MMOE_FAIL(err, MMOE_ERR_CONFIG, "levels %zu; ple takes 1..%d", c->levels,
                         PLE_MAX_LEVELS);
    return setup_levels(b, c, c->levels, err);
}

static size_t ple_buffers(const mmoe__bottom *b, size_t *widths)
{
    const ple *p = b->impl;
    size_t n = 0;
    for (size_t l = 0; l < p->L; l++) {
        const ple_level *v = &p->lv[l];
        for (size_t g = 0; g <= p->T; g++)
            for (size_t j = 0; j < v->group[g].n_layers; j++)
                widths[n++] = v->group[g].copies * v->group[g].width[j];
        widths[n++] = v->gates.ld;
        if (p->gate.needs_q)
            widths[n++] = v->gates.ld;
        widths[n++] = (p->T + 1) * p->h;
        for (int i = 0; p->gate.noisy && i < 3; i++)
            widths[n++] = v->gates.ld;
    }
    if (MMOE__GATE_BALANCED(&p->gate))
        widths[n++] = 1;
    return n;
}

/*
 * Name level l's gate tensors in the block at off: gate g's rows
 * [col, col + n) of `cols` values each (0: a vector), as
 * ple.L.gates.K.<what> or ple.L.shared_gate.<what>.
 */
static void name_gates(const ple *p, size_t l, mmoe__registry *r, size_t off, size_t cols,
                       const char *what)
{
    const mmoe__gate_set *s = &p->lv[l].gates;
    for (size_t g = 0; g < s->G; g++) {
        const size_t at = off + s->col[g] * (cols ? cols : 1);
        if (g < p->T)
            mmoe__reg_name(r, at, s->n[g], cols, "ple.%zu.gates.%zu.%s", l, g, what);
        else
            mmoe__reg_name(r, at, s->n[g], cols, "ple.%zu.shared_gate.%s", l, what);
    }
}

static void ple_declare(mmoe__bottom *b, mmoe__registry *r)
{
    ple *p = b->impl;
    char prefix[64];
    for (size_t l = 0; l < p->L; l++) {
        ple_level *v = &p->lv[l];
        for (size_t g = 0; g <= p->T; g++) {
            if (g == 0)
                snprintf(prefix, sizeof prefix, "ple.%zu.shared", l);
            else
                snprintf(prefix, sizeof prefix, "ple.%zu.task.%zu", l, g - 1);
            mmoe__pmlp_declare(&v->group[g], r, prefix, 1);
        }
        v->gate_off = mmoe__reg_block(r, v->gates.ld, v->in);
        name_gates(p, l, r, v->gate_off, v->in, "weight");
        if (p->biased) {
            v->bias_off = mmoe__reg_block(r, v->gates.ld, 1);
            name_gates(p, l, r, v->bias_off, 0, "bias");
        }
        if (p->gate.noisy) {
            v->noise_off = mmoe__reg_block(r, v->gates.ld, v->in);
            name_gates(p, l, r, v->noise_off, v->in, "noise_weight");
        }
    }
}

static void ple_init(const mmoe__bottom *b, float *params, uint64_t seed)
{
    const ple *p = b->impl;
    for (size_t l = 0; l < p->L; l++) {
        const ple_level *v = &p->lv[l];
        for (size_t g = 0; g <= p->T; g++)
            mmoe__pmlp_init(&v->group[g], params, seed, 1000 + 100 * l + g);
        const mmoe__gate_set *s = &v->gates;
        for (size_t g = 0; g < s->G; g++)
            mmoe__init_weights(params + v->gate_off + s->col[g] * v->in, v->in, s->n[g],
                               MMOE_ACT_IDENTITY, seed, 0x6a7f0000u + 256 * l + g);
        for (size_t g = 0; p->biased && g < s->G; g++)
            mmoe__gate_prior_init(g < p->T ? &p->prior[g] : NULL, s->n[g],
                                  params + v->bias_off + s->col[g]);
        if (p->gate.noisy) /* zero: noise std softplus(0) at the start (Shazeer et al.) */
            memset(params + v->noise_off, 0, s->ld * v->in * sizeof(float));
    }
}

/* Gate biases of level v from column col (NULL without gate_bias). */
static const float *level_bias(const ple *p, const ple_level *v, const float *params, size_t col)
{
    return p->biased ? params + v->bias_off + col : NULL;
}

/* Input of group / gate g at level l (g = T: the shared one), with its leading dimension. */
static const float *level_input(const ple *p, size_t l, size_t g_task, const float *X, size_t ldx,
                                float *const *buf, size_t *ld)
{
    if (l == 0) {
        *ld = ldx;
        return X;
    }
    *ld = (p->T + 1) * p->h;
    return buf[p->lv[l - 1].o_buf] + g_task * p->h;
}

/* Group index (0 shared, 1 + k task k) -> the output slot its input comes from. */
static size_t group_slot(const ple *p, size_t g)
{
    return g == 0 ? p->T : g - 1;
}

/* The j-th expert a gate mixes: its group and index in the group. */
static void gate_expert(const ple *p, size_t gate, size_t j, size_t *group, size_t *e)
{
    if (gate < p->T) { /* own experts, then the shared ones */
        size_t own = p->n_task[gate];
        *group = j < own ? 1 + gate : 0;
        *e = j < own ? j : j - own;
        return;
    }
    size_t g = 0; /* shared gate: shared, task 0, task 1, ... */
    while (j >= group_size(p, g)) {
        j -= group_size(p, g);
        g++;
    }
    *group = g;
    *e = j;
}

/* The runs of consecutive experts of one group a gate mixes: (group, first j, count). */
static size_t gate_runs(const ple *p, size_t gate, size_t runs[][3])
{
    size_t n = 0;
    if (gate < p->T) {
        runs[n][0] = 1 + gate, runs[n][1] = 0, runs[n][2] = p->n_task[gate], n++;
        runs[n][0] = 0, runs[n][1] = p->n_task[gate], runs[n][2] = p->n_shared, n++;
        return n;
    }
    size_t j = 0;
    for (size_t g = 0; g <= p->T; g++) {
        runs[n][0] = g, runs[n][1] = j, runs[n][2] = group_size(p, g), n++;
        j += group_size(p, g);
    }
    return n;
}

/*
 * Batch 1, sparse gate: run only the experts of group grp that some gate of
 * level v selected (P: the level's gate weights, one row).
 */
static void group_sparse_forward(const ple *p, const ple_level *v, size_t grp, const float *params,
                                 const float *in, const float *P, float *const *fb)
{
    const float *W[MMOE_MAX_TASKS + 1];
    size_t runs[MMOE_MAX_TASKS + 1][3], nw = 0;
    for (size_t g = 0; g < v->gates.G; g++) {
        size_t nr = gate_runs(p, g, runs);
        for (size_t i = 0; i < nr; i++)
            if (runs[i][0] == grp)
                W[nw++] = P + v->gates.col[g] + runs[i][1];
    }
    mmoe__gate_experts_forward(&v->group[grp], params, in, W, nw, fb + v->group_buf[grp]);
}

/* Level v's gate buffers in fb / bb. */
static mmoe__gate_bufs gate_bufs(const ple *p, const ple_level *v, float *const *buf)
{
    const int noise = p->gate.noisy;
    mmoe__gate_bufs f = {buf[v->p_buf], p->gate.needs_q ? buf[v->q_buf] : NULL,
                         noise ? buf[v->z_buf] : NULL, noise ? buf[v->z_buf + 1] : NULL,
                         noise ? buf[v->z_buf + 2] : NULL};
    return f;
}

/*
 * Logits of level l's gates with the weights at params + off (and biases
 * b, NULL: none) into Z (rows of the level's gate width): one GEMM at
 * level 0, where every gate reads x; above, one per gate on its input.
 */
static void level_logits(const ple *p, size_t l, const float *params, size_t off, const float *b,
                         size_t B, const float *X, size_t ldx, float *const *fb, float *Z)
{
    const ple_level *v = &p->lv[l];
    const mmoe__gate_set *s = &v->gates;
    if (l == 0) {
        mmoe__dense_forward(params + off, b, v->in, s->ld, B, X, ldx, Z, s->ld);
        return;
    }
    for (size_t g = 0; g < s->G; g++) {
        size_t ld;
        const float *in = level_input(p, l, g, X, ldx, fb, &ld);
        mmoe__dense_forward(params + off + s->col[g] * v->in, b ? b + s->col[g] : NULL, v->in,
                            s->n[g], B, in, ld, Z + s->col[g], s->ld);
    }
}

/* Backward of level_logits: dZ to the weights' (and biases', db not NULL) gradients and the inputs.
 */
static void level_logits_backward(const ple *p, size_t l, const float *params, float *grads,
                                  size_t off, float *db, size_t B, const float *X, size_t ldx,
                                  float *const *fb, float *const *bb, const float *dZ, float *dX,
                                  size_t lddx)
{
    const ple_level *v = &p->lv[l];
    const mmoe__gate_set *s = &v->gates;
    if (l == 0) {
        mmoe__dense_backward(params + off, v->in, s->ld, B, X, ldx, dZ, s->ld, grads + off, db, dX,
                             lddx, 1.0f);
        return;
    }
    for (size_t g = 0; g < s->G; g++) {
        size_t ld;
        const size_t w = off + s->col[g] * v->in;
        const float *in = level_input(p, l, g, X, ldx, fb, &ld);
        float *din = bb[p->lv[l - 1].o_buf] + g * p->h;
        mmoe__dense_backward(params + w, v->in, s->n[g], B, in, ld, dZ + s->col[g], s->ld,
                             grads + w, db ? db + s->col[g] : NULL, din, (p->T + 1) * p->h, 1.0f);
    }
}

static void ple_forward(const mmoe__bottom *b, const float *params, size_t B, const float *X,
                        size_t ldx, uint64_t *rng, float *const *fb)
{
    const ple *p = b->impl;
    const size_t h = p->h, ldo = (p->T + 1) * h;
    size_t runs[MMOE_MAX_TASKS + 1][3];
    double aux = 0.0;
    for (size_t l = 0; l < p->L; l++) {
        const ple_level *v = &p->lv[l];
        const size_t GW = v->gates.ld;
        const mmoe__gate_bufs gb = gate_bufs(p, v, fb);
        float *P = gb.P, *O = fb[v->o_buf];
        level_logits(p, l, params, v->gate_off, level_bias(p, v, params, 0), B, X, ldx, fb,
                     mmoe__gate_set_logits(&p->gate, rng, &gb));
        if (rng && p->gate.noisy) /* training: the noise logits */
            level_logits(p, l, params, v->noise_off, NULL, B, X, ldx, fb, gb.U);
        aux += mmoe__gate_set_forward(&v->gates, &p->gate, B, rng, &gb);
        for (size_t g = 0; g <= p->T; g++) {
            size_t ld;
            const float *in = level_input(p, l, group_slot(p, g), X, ldx, fb, &ld);
            if (B == 1 && p->gate.sparse)
                group_sparse_forward(p, v, g, params, in, P, fb);
            else
                mmoe__pmlp_forward(&v->group[g], params, B, in, ld, 1, fb + v->group_buf[g]);
        }
        for (size_t g = 0; g < v->gates.G; g++) {
            const size_t col = v->gates.col[g];
            size_t nr = gate_runs(p, g, runs);
            for (size_t r = 0; r < B; r++) {
                float *f = O + r * ldo + g * h;
                memset(f, 0, h * sizeof *f);
                for (size_t i = 0; i < nr; i++) {
                    const mmoe__pmlp *ex = &v->group[runs[i][0]];
                    const float *H = fb[v->group_buf[runs[i][0]] + ex->n_layers - 1];
                    mmoe__mix_forward(runs[i][2], h, P + r * GW + col + runs[i][1],
                                      H + r * ex->copies * h, f);
                }
            }
        }
    }
    if (rng && MMOE__GATE_BALANCED(&p->gate)) /* the auxiliary loss of the batch, all levels */
        fb[p->aux_buf][0] = (float)aux;
}

static double ple_aux_loss(const mmoe__bottom *b, float *const *fb)
{
    const ple *p = b->impl;
    return MMOE__GATE_BALANCED(&p->gate) ? fb[p->aux_buf][0] : 0.0;
}

static void ple_backward(const mmoe__bottom *b, const float *params, float *grads, size_t B,
                         const float *X, size_t ldx, float *const *fb, float *const *bb, float *dX,
                         size_t lddx)
{
    const ple *p = b->impl;
    const size_t h = p->h, ldo = (p->T + 1) * h;
    size_t runs[MMOE_MAX_TASKS + 1][3];
    for (size_t l = p->L; l-- > 0;) {
        const ple_level *v = &p->lv[l];
        const size_t GW = v->gates.ld;
        const mmoe__gate_bufs f = gate_bufs(p, v, fb), d = gate_bufs(p, v, bb);
        const float *P = f.P, *dO = bb[v->o_buf];
        float *dP = d.P;
        memset(dP, 0, B * GW * sizeof *dP);
        for (size_t g = 0; g <= p->T; g++) {
            const mmoe__pmlp *ex = &v->group[g];
            memset(bb[v->group_buf[g] + ex->n_layers - 1], 0, B * ex->copies * h * sizeof(float));
        }
        if (l > 0) /* this level's inputs: the previous level's outputs */
            memset(bb[p->lv[l - 1].o_buf], 0, B * ldo * sizeof(float));
        for (size_t g = 0; g < v->gates.G; g++) {
            const size_t col = v->gates.col[g];
            size_t nr = gate_runs(p, g, runs);
            for (size_t r = 0; r < B; r++)
                for (size_t i = 0; i < nr; i++) {
                    const mmoe__pmlp *ex = &v->group[runs[i][0]];
                    const size_t hb = v->group_buf[runs[i][0]] + ex->n_layers - 1;
                    const size_t off = r * GW + col + runs[i][1];
                    mmoe__mix_backward(runs[i][2], h, P + off, fb[hb] + r * ex->copies * h,
                                       dO + r * ldo + g * h, bb[hb] + r * ex->copies * h, dP + off);
                }
        }
        mmoe__gate_set_backward(&v->gates, &p->gate, B, &f, &d); /* dP: dL/dz; d.U: dL/du */
        level_logits_backward(p, l, params, grads, v->gate_off,
                              p->biased ? grads + v->bias_off : NULL, B, X, ldx, fb, bb, dP, dX,
                              lddx);
        if (p->gate.noisy)
            level_logits_backward(p, l, params, grads, v->noise_off, NULL, B, X, ldx, fb, bb, d.U,
                                  dX, lddx);
        for (size_t g = 0; g <= p->T; g++) {
            size_t ld;
            const float *in = level_input(p, l, group_slot(p, g), X, ldx, fb, &ld);
            float *din = l == 0 ? dX : bb[p->lv[l - 1].o_buf] + group_slot(p, g) * h;
            mmoe__pmlp_backward(&v->group[g], params, grads, B, in, ld, 1, fb + v->group_buf[g],
                                bb + v->group_buf[g], din, l == 0 ? lddx : ldo);
        }
    }
}

static float *task_slot(const ple *p, float *const *buf, size_t k, size_t *ld)
{
    *ld = (p->T + 1) * p->h;
    return buf[p->lv[p->L - 1].o_buf] + k * p->h;
}

static const float *ple_task_input(const mmoe__bottom *b, float *const *fb, size_t k, size_t *ld)
{
    return task_slot(b->impl, fb, k, ld);
}

static float *ple_task_grad(const mmoe__bottom *b, float *const *bb, size_t k, size_t *ld)
{
    return task_slot(b->impl, bb, k, ld);
}

static void ple_zero_task_grads(const mmoe__bottom *b, float *const *bb, size_t B)
{
    const ple *p = b->impl;
    memset(bb[p->lv[p->L - 1].o_buf], 0, B * (p->T + 1) * p->h * sizeof(float));
}

static size_t ple_num_experts(const mmoe__bottom *b)
{
    return ((const ple *)b->impl)->total;
}

static size_t ple_num_gates(const mmoe__bottom *b)
{
    return ((const ple *)b->impl)->T;
}

/*
 * Task k's gate at the top level, in the experts' numbering of
 * mmoe_model_gate_weights: shared experts 0 .. E_s - 1, then task 0's,
 * task 1's, ... (zero for the experts the gate does not mix).
 */
static void ple_gate_row(const mmoe__bottom *b, float *const *fb, size_t k, size_t r, float *out)
{
    const ple *p = b->impl;
    const ple_level *v = &p->lv[p->L - 1];
    const float *P = fb[v->p_buf] + r * v->gates.ld + v->gates.col[k];
    memset(out, 0, p->total * sizeof *out);
    for (size_t j = 0; j < v->gates.n[k]; j++) {
        size_t g, e, first = 0;
        gate_expert(p, k, j, &g, &e);
        for (size_t i = 0; i < g; i++)
            first += group_size(p, i);
        out[first + e] = P[j];
    }
}

#define PLE_OPS(ident, label, setup_fn)                                                            \
    const mmoe__bottom_ops ident = {                                                               \
        .name = label,                                                                             \
        .size = sizeof(ple),                                                                       \
        .setup = setup_fn,                                                                         \
        .buffers = ple_buffers,                                                                    \
        .declare = ple_declare,                                                                    \
        .init = ple_init,                                                                          \
        .forward = ple_forward,                                                                    \
        .backward = ple_backward,                                                                  \
        .task_input = ple_task_input,                                                              \
        .task_grad = ple_task_grad,                                                                \
        .zero_task_grads = ple_zero_task_grads,                                                    \
        .num_experts = ple_num_experts,                                                            \
        .num_gates = ple_num_gates,                                                                \
        .gate_row = ple_gate_row,                                                                  \
        .penalty = mmoe__bottom_no_penalty,                                                        \
        .aux_loss = ple_aux_loss,                                                                  \
    }

PLE_OPS(mmoe__cgc_ops, "CGC", cgc_setup);
PLE_OPS(mmoe__ple_ops, "PLE", ple_setup);
