/*
 * Stacked MMoE (arch stacked_mmoe): MMoE layers stacked `levels` deep.
 * Level 0 is an MMoE on the input x; every later level is an MMoE whose
 * experts and gates all read the concatenation of the previous level's
 * per-task outputs [f_0^{l-1}, ..., f_{T-1}^{l-1}] (width T h):
 *
 *   z^l    = x (l = 0),  [f_0^{l-1} ... f_{T-1}^{l-1}] (l > 0)
 *   f_k^l  = sum_e gate(W_k^l z^l)_e e_e^l(z^l)      E experts per level
 *   f_k    = f_k^{L-1}
 *
 * (The concatenation keeps one input per level, so each level's experts'
 * first layers are one GEMM and its gates one GEMM, as in MMoE.) The
 * outputs of level l are stored side by side, task k at column k h, which
 * is the next level's input as it stands.
 *
 * Buffers per level: expert layers [E w_j], gate weights P [T E] (and Q for
 * gate kinds that need it), outputs F [T h].
 *
 * Gate priors (gate.h): task k's prior applies to task k's gate at every
 * level; with a gate_bias every level's gates have a bias
 * (stack.L.gates.K.bias).
 */
#include <stdio.h>
#include <string.h>

#include "bottom.h"
#include "dense.h"
#include "gate.h"
#include "init.h"
#include "mix.h"
#include "pmlp.h"

#define STACK_MAX_LEVELS 16

typedef struct stack_level {
    mmoe__pmlp experts;
    size_t in, buf;         /* input width, first buffer */
    mmoe__gate_block gates; /* W [T*E, in] (+ bias, noise weights) */
} stack_level;

typedef struct stacked {
    size_t T, E, L, h, per_level; /* buffers per level */
    size_t aux_buf;               /* after the levels, with gate.balance.* */
    int biased;
    mmoe__gate gate;
    mmoe__gate_prior prior[MMOE_MAX_TASKS];
    stack_level lv[STACK_MAX_LEVELS];
} stacked;

static mmoe_status stacked_setup(mmoe__bottom *b, const mmoe_config *c, char *err)
{
    stacked *s = b->impl;
    if (c->levels > STACK_MAX_LEVELS)
        return MMOE_FAIL(err, MMOE_ERR_CONFIG, "levels %zu; stacked_mmoe takes 1..%d", c->levels,
                         STACK_MAX_LEVELS);
    s->T = b->n_tasks;
    s->E = c->n_experts;
    s->L = c->levels;
    s->h = c->expert_widths[c->expert_layers - 1];
    mmoe__gate_setup(&s->gate, c);
    for (size_t k = 0; k < s->T; k++) {
        mmoe_status st =
            mmoe__gate_prior_setup(&s->gate, c, k, s->E, "experts.count", &s->prior[k], err);
        if (st)
            return st;
    }
    s->biased = mmoe__gate_prior_biased(c, s->T);
    mmoe_status st = mmoe__gate_noise_check(&s->gate, err);
    if (st)
        return st;
    s->per_level = c->expert_layers + 2 + (s->gate.needs_q ? 1 : 0) + (s->gate.noisy ? 3 : 0);
    s->aux_buf = s->L * s->per_level;
    if (s->L * s->per_level + 1 > MMOE__BOTTOM_MAX_BUFS)
        return MMOE_FAIL(err, MMOE_ERR_CONFIG, "%zu levels need too many buffers", s->L);
    for (size_t l = 0; l < s->L; l++) {
        stack_level *v = &s->lv[l];
        v->in = l == 0 ? b->in : s->T * s->h;
        v->buf = l * s->per_level;
        v->gates = (mmoe__gate_block){.G = s->T, .n = s->E, .in = v->in, .biased = s->biased};
        mmoe__pmlp *ex = &v->experts;
        ex->copies = s->E;
        ex->in = v->in;
        ex->n_layers = c->expert_layers;
        memcpy(ex->width, c->expert_widths, sizeof c->expert_widths);
        ex->act = ex->out_act = c->expert_act;
    }
    b->h = s->h;
    return MMOE_OK;
}

/* Buffer indices of level l: experts' layers, then P, F, Q, then Z, U, Eps (gate.noise). */
#define P_BUF(s, v) ((v)->buf + (v)->experts.n_layers)
#define F_BUF(s, v) ((v)->buf + (v)->experts.n_layers + 1)
#define Q_BUF(s, v) ((v)->buf + (v)->experts.n_layers + 2)
#define Z_BUF(s, v) (Q_BUF(s, v) + ((s)->gate.needs_q ? 1 : 0))

/* Level v's gate buffers in fb / bb. */
static mmoe__gate_bufs gate_bufs(const stacked *s, const stack_level *v, float *const *buf)
{
    const int noise = s->gate.noisy;
    mmoe__gate_bufs f = {buf[P_BUF(s, v)], s->gate.needs_q ? buf[Q_BUF(s, v)] : NULL,
                         noise ? buf[Z_BUF(s, v)] : NULL, noise ? buf[Z_BUF(s, v) + 1] : NULL,
                         noise ? buf[Z_BUF(s, v) + 2] : NULL};
    return f;
}

static size_t stacked_buffers(const mmoe__bottom *b, size_t *widths)
{
    const stacked *s = b->impl;
    size_t n = 0;
    for (size_t l = 0; l < s->L; l++) {
        const mmoe__pmlp *ex = &s->lv[l].experts;
        for (size_t j = 0; j < ex->n_layers; j++)
            widths[n++] = s->E * ex->width[j];
        widths[n++] = s->T * s->E;
        widths[n++] = s->T * s->h;
        if (s->gate.needs_q)
            widths[n++] = s->T * s->E;
        for (int i = 0; s->gate.noisy && i < 3; i++)
            widths[n++] = s->T * s->E;
    }
    if (MMOE__GATE_BALANCED(&s->gate))
        widths[n++] = 1;
    return n;
}

static void stacked_declare(mmoe__bottom *b, mmoe__registry *r)
{
    stacked *s = b->impl;
    char prefix[64];
    for (size_t l = 0; l < s->L; l++) {
        stack_level *v = &s->lv[l];
        snprintf(prefix, sizeof prefix, "stack.%zu.experts", l);
        mmoe__pmlp_declare(&v->experts, r, prefix, 1);
        snprintf(prefix, sizeof prefix, "stack.%zu.gates", l);
        mmoe__gate_block_declare(&v->gates, &s->gate, r, prefix);
    }
}

static void stacked_init(const mmoe__bottom *b, float *params, uint64_t seed)
{
    const stacked *s = b->impl;
    for (size_t l = 0; l < s->L; l++) {
        const stack_level *v = &s->lv[l];
        mmoe__pmlp_init(&v->experts, params, seed, 2000 + l);
        mmoe__gate_block_init(&v->gates, &s->gate, s->prior, params, seed, 0x6a800000u + 256 * l);
    }
}

static const float *level_input(const stacked *s, size_t l, const float *X, size_t ldx,
                                float *const *buf, size_t *ld)
{
    if (l == 0) {
        *ld = ldx;
        return X;
    }
    *ld = s->T * s->h;
    return buf[F_BUF(s, &s->lv[l - 1])];
}

static void stacked_forward(const mmoe__bottom *b, const float *params, size_t B, const float *X,
                            size_t ldx, uint64_t *rng, float *const *fb)
{
    const stacked *s = b->impl;
    const size_t T = s->T, E = s->E, h = s->h;
    double aux = 0.0;
    for (size_t l = 0; l < s->L; l++) {
        const stack_level *v = &s->lv[l];
        size_t ld;
        const float *in = level_input(s, l, X, ldx, fb, &ld);
        float *P = fb[P_BUF(s, v)], *F = fb[F_BUF(s, v)];
        const float *H = fb[v->buf + v->experts.n_layers - 1];
        const mmoe__gate_bufs gb = gate_bufs(s, v, fb);
        aux += mmoe__gate_block_forward(&v->gates, &s->gate, s->prior, params, B, in, ld, rng, &gb);
        if (B == 1 && s->gate.sparse) { /* only the experts some gate selected */
            const float *W[MMOE_MAX_TASKS];
            for (size_t k = 0; k < T; k++)
                W[k] = P + k * E;
            mmoe__gate_experts_forward(&v->experts, params, in, W, T, fb + v->buf);
        } else
            mmoe__pmlp_forward(&v->experts, params, B, in, ld, 1, fb + v->buf);
        for (size_t r = 0; r < B; r++)
            for (size_t k = 0; k < T; k++) {
                float *f = F + r * T * h + k * h;
                memset(f, 0, h * sizeof *f);
                mmoe__mix_forward(E, h, P + r * T * E + k * E, H + r * E * h, f);
            }
    }
    if (rng && MMOE__GATE_BALANCED(&s->gate)) /* the auxiliary loss of the batch, all levels */
        fb[s->aux_buf][0] = (float)aux;
}

static double stacked_aux_loss(const mmoe__bottom *b, float *const *fb)
{
    const stacked *s = b->impl;
    return MMOE__GATE_BALANCED(&s->gate) ? fb[s->aux_buf][0] : 0.0;
}

static void stacked_backward(const mmoe__bottom *b, const float *params, float *grads, size_t B,
                             const float *X, size_t ldx, float *const *fb, float *const *bb,
                             float *dX, size_t lddx)
{
    const stacked *s = b->impl;
    const size_t T = s->T, E = s->E, h = s->h;
    for (size_t l = s->L; l-- > 0;) {
        const stack_level *v = &s->lv[l];
        size_t ld;
        const float *in = level_input(s, l, X, ldx, fb, &ld);
        float *din = l == 0 ? dX : bb[F_BUF(s, &s->lv[l - 1])];
        const size_t lddin = l == 0 ? lddx : T * h;
        const float *P = fb[P_BUF(s, v)], *H = fb[v->buf + v->experts.n_layers - 1];
        float *dP = bb[P_BUF(s, v)], *dH = bb[v->buf + v->experts.n_layers - 1];
        const float *dF = bb[F_BUF(s, v)];
        memset(dP, 0, B * T * E * sizeof *dP);
        memset(dH, 0, B * E * h * sizeof *dH);
        if (l > 0)
            memset(din, 0, B * T * h * sizeof *din);
        for (size_t r = 0; r < B; r++)
            for (size_t k = 0; k < T; k++)
                mmoe__mix_backward(E, h, P + r * T * E + k * E, H + r * E * h,
                                   dF + r * T * h + k * h, dH + r * E * h, dP + r * T * E + k * E);
        const mmoe__gate_bufs f = gate_bufs(s, v, fb), d = gate_bufs(s, v, bb);
        mmoe__gate_block_backward(&v->gates, &s->gate, params, grads, B, in, ld, &f, &d, din,
                                  lddin);
        mmoe__pmlp_backward(&v->experts, params, grads, B, in, ld, 1, fb + v->buf, bb + v->buf, din,
                            lddin);
    }
}

static float *task_slot(const stacked *s, float *const *buf, size_t k, size_t *ld)
{
    *ld = s->T * s->h;
    return buf[F_BUF(s, &s->lv[s->L - 1])] + k * s->h;
}

static const float *stacked_task_input(const mmoe__bottom *b, float *const *fb, size_t k,
                                       size_t *ld)
{
    return task_slot(b->impl, fb, k, ld);
}

static float *stacked_task_grad(const mmoe__bottom *b, float *const *bb, size_t k, size_t *ld)
{
    return task_slot(b->impl, bb, k, ld);
}

static void stacked_zero_task_grads(const mmoe__bottom *b, float *const *bb, size_t B)
{
    const stacked *s = b->impl;
    memset(bb[F_BUF(s, &s->lv[s->L - 1])], 0, B * s->T * s->h * sizeof(float));
}

static size_t stacked_num_experts(const mmoe__bottom *b)
{
    return ((const stacked *)b->impl)->E;
}

static size_t stacked_num_gates(const mmoe__bottom *b)
{
    return ((const stacked *)b->impl)->T;
}

/* Task k's gate at the top level. */
static void stacked_gate_row(const mmoe__bottom *b, float *const *fb, size_t k, size_t r,
                             float *out)
{
    const stacked *s = b->impl;
    const stack_level *v = &s->lv[s->L - 1];
    memcpy(out, fb[P_BUF(s, v)] + r * s->T * s->E + k * s->E, s->E * sizeof *out);
}

const mmoe__bottom_ops mmoe__stacked_mmoe_ops = {
    .name = "Stacked MMoE",
    .size = sizeof(stacked),
    .setup = stacked_setup,
    .buffers = stacked_buffers,
    .declare = stacked_declare,
    .init = stacked_init,
    .forward = stacked_forward,
    .backward = stacked_backward,
    .task_input = stacked_task_input,
    .task_grad = stacked_task_grad,
    .zero_task_grads = stacked_zero_task_grads,
    .num_experts = stacked_num_experts,
    .num_gates = stacked_num_gates,
    .gate_row = stacked_gate_row,
    .penalty = mmoe__bottom_no_penalty,
    .aux_loss = stacked_aux_loss,
};
