/*
 * Mixture-of-experts bottom.
 *
 * Forward (GATED):
 *   Z     = x W_g^T (+ b_g)                all gates: one GEMM, [B, G*E]
 *   P_g   = gate(Z_g + m_g) over experts   per gate g: softmax, topk or hard (gate.h);
 *                                          b_g, m_g: the gate priors (gate.h)
 *   H_e   = expert_e(x)                    all experts' first layers: one GEMM
 *                                          (batch 1, sparse gate: the selected ones)
 *   F_k   = sum_e P_{gate(k), e} H_e       gate(k) = k (MMoE) or 0 (OMoE)
 * Backward:
 *   dH_e  = sum_k P_{gate(k), e} dF_k
 *   dP_{gate(k), e} += <dF_k, H_e>
 *   dZ_g  = P_g * (dP_g - <P_g, dP_g>) / tau   softmax Jacobian (gate.h for hard)
 *   dW_g += dZ^T x ;  db_g += sum_rows dZ ;  dx += dZ W_g
 */
#include <string.h>

#include "dense.h"
#include "init.h"
#include "mix.h"
#include "moe.h"
#include "pool.h"

/* Shared part of the five kinds' setup: experts of the description's shape. */
static mmoe__moe *moe_setup(mmoe__bottom *b, const mmoe_config *c, mmoe__routing routing,
                            size_t n_experts, size_t n_gates)
{
    mmoe__moe *m = b->impl;
    m->in = b->in;
    m->n_tasks = b->n_tasks;
    m->routing = routing;
    m->n_experts = n_experts;
    m->n_gates = n_gates;
    mmoe__pmlp *ex = &m->experts;
    ex->copies = m->n_experts;
    ex->in = b->in;
    ex->n_layers = c->expert_layers;
    memcpy(ex->width, c->expert_widths, sizeof c->expert_widths);
    ex->act = ex->out_act = c->expert_act;
    m->h = ex->width[ex->n_layers - 1];
    b->h = m->h;
    return m;
}

/* Gates and their priors: gate g is task g's (MMoE) or the one shared gate (OMoE, task 0's prior).
 */
static mmoe_status gated_setup(mmoe__bottom *b, const mmoe_config *c, size_t n_gates, char *err)
{
    mmoe__moe *m = moe_setup(b, c, MMOE__ROUTE_GATED, c->n_experts, n_gates);
    mmoe__gate_setup(&m->gate, c);
    for (size_t k = n_gates; k < b->n_tasks; k++)
        if (mmoe__gate_prior_given(c, k))
            return MMOE_FAIL(err, MMOE_ERR_CONFIG,
                             "task %zu gives a gate prior, but omoe has one gate shared by every "
                             "task: give it on task 0",
                             k);
    for (size_t g = 0; g < n_gates; g++) {
        mmoe_status st = mmoe__gate_prior_setup(&m->gate, c, g, m->n_experts, "experts.count",
                                                &m->prior[g], err);
        if (st)
            return st;
    }
    m->gates = (mmoe__gate_block){.G = n_gates, .n = m->n_experts, .in = m->in};
    m->gates.biased = mmoe__gate_prior_biased(c, n_gates);
    size_t nb = m->experts.n_layers + 2 + (m->gate.needs_q ? 1 : 0); /* P, F, Q */
    if (m->gate.noisy) {
        m->z_buf = nb++;
        m->u_buf = nb++;
        m->eps_buf = nb++;
    }
    if (MMOE__GATE_BALANCED(&m->gate))
        m->aux_buf = nb++;
    return mmoe__gate_noise_check(&m->gate, err);
}

static mmoe_status mmoe_setup(mmoe__bottom *b, const mmoe_config *c, char *err)
{
    return gated_setup(b, c, b->n_tasks, err);
}

static mmoe_status omoe_setup(mmoe__bottom *b, const mmoe_config *c, char *err)
{
    return gated_setup(b, c, 1, err);
}

static mmoe_status shared_bottom_setup(mmoe__bottom *b, const mmoe_config *c, char *err)
{
    (void)err;
    moe_setup(b, c, MMOE__ROUTE_SHARED, 1, 0);
    return MMOE_OK;
}

static mmoe_status single_task_setup(mmoe__bottom *b, const mmoe_config *c, char *err)
{
    (void)err;
    moe_setup(b, c, MMOE__ROUTE_SEPARATE, b->n_tasks, 0);
    return MMOE_OK;
}

static mmoe_status l2_constrained_setup(mmoe__bottom *b, const mmoe_config *c, char *err)
{
    (void)err;
    moe_setup(b, c, MMOE__ROUTE_SEPARATE, b->n_tasks, 0)->l2 = c->l2_lambda;
    return MMOE_OK;
}

static size_t moe_buffers(const mmoe__bottom *b, size_t *widths)
{
    const mmoe__moe *m = b->impl;
    size_t n = 0;
    for (size_t l = 0; l < m->experts.n_layers; l++)
        widths[n++] = m->n_experts * m->experts.width[l];
    if (m->routing == MMOE__ROUTE_GATED) {
        widths[n++] = m->n_gates * m->n_experts;
        widths[n++] = m->n_tasks * m->h;
        if (m->gate.needs_q)
            widths[n++] = m->n_gates * m->n_experts;
        if (m->gate.noisy)
            for (int i = 0; i < 3; i++)
                widths[n++] = m->n_gates * m->n_experts;
        if (MMOE__GATE_BALANCED(&m->gate))
            widths[n++] = 1;
    }
    return n;
}

static void moe_declare(mmoe__bottom *b, mmoe__registry *r)
{
    mmoe__moe *m = b->impl;
    mmoe__pmlp_declare(&m->experts, r, "experts", 1);
    if (m->n_gates)
        mmoe__gate_block_declare(&m->gates, &m->gate, r, "gates");
}

static void moe_init(const mmoe__bottom *b, float *params, uint64_t seed)
{
    const mmoe__moe *m = b->impl;
    mmoe__pmlp_init(&m->experts, params, seed, 1);
    if (m->n_gates)
        mmoe__gate_block_init(&m->gates, &m->gate, m->prior, params, seed, 0x6a7e0000u);
}

static size_t gate_of(const mmoe__moe *m, size_t k)
{
    return m->n_gates == 1 ? 0 : k;
}

/* Indices of the buffers after the expert layers. */
#define P_BUF(m) ((m)->experts.n_layers)
#define F_BUF(m) ((m)->experts.n_layers + 1)
#define Q_BUF(m) ((m)->experts.n_layers + 2)

static float *q_buf(const mmoe__moe *m, float *const *buf)
{
    return m->gate.needs_q ? buf[Q_BUF(m)] : NULL;
}

/* Task k's slot (and its leading dimension) in the buffers of fb / bb. */
static float *task_slot(const mmoe__moe *m, float *const *buf, size_t k, size_t *ld)
{
    float *Hl = buf[m->experts.n_layers - 1];
    if (m->routing == MMOE__ROUTE_GATED) {
        *ld = m->n_tasks * m->h;
        return buf[F_BUF(m)] + k * m->h;
    }
    if (m->routing == MMOE__ROUTE_SHARED) {
        *ld = m->h;
        return Hl;
    }
    *ld = m->n_experts * m->h; /* MMOE__ROUTE_SEPARATE: expert k */
    return Hl + k * m->h;
}

static const float *moe_task_input(const mmoe__bottom *b, float *const *fb, size_t k, size_t *ld)
{
    return task_slot(b->impl, fb, k, ld);
}

static float *moe_task_grad(const mmoe__bottom *b, float *const *bb, size_t k, size_t *ld)
{
    return task_slot(b->impl, bb, k, ld);
}

static void moe_zero_task_grads(const mmoe__bottom *b, float *const *bb, size_t B)
{
    const mmoe__moe *m = b->impl;
    float *dst = m->routing == MMOE__ROUTE_GATED ? bb[F_BUF(m)] : bb[m->experts.n_layers - 1];
    size_t w = m->routing == MMOE__ROUTE_GATED ? m->n_tasks * m->h : m->n_experts * m->h;
    memset(dst, 0, B * w * sizeof(float));
}

/* Rows [r0, r1) of the mixing, forward or backward (the pool shares the rows). */
typedef struct mix_job {
    const mmoe__moe *m;
    const float *P, *Hl, *dF;
    float *F, *dHl, *dP;
} mix_job;

/* Rows per chunk: enough mixing work (about 256k multiply-adds) to pay for a chunk. */
static size_t mix_grain(const mmoe__moe *m)
{
    size_t per_row = m->n_tasks * m->n_experts * m->h + 1;
    return 262144 / per_row + 1;
}

static void mix_forward_rows(void *ctx, size_t chunk, size_t r0, size_t r1)
{
    const mix_job *j = ctx;
    const mmoe__moe *m = j->m;
    const size_t E = m->n_experts, G = m->n_gates, T = m->n_tasks, h = m->h;
    (void)chunk;
    mmoe__mix_forward_rows(r1 - r0, T, E, h, j->P + r0 * G * E, G * E, G == 1 ? 0 : E,
                           j->Hl + r0 * E * h, E * h, j->F + r0 * T * h, T * h);
}

static void mix_backward_rows(void *ctx, size_t chunk, size_t r0, size_t r1)
{
    const mix_job *j = ctx;
    const mmoe__moe *m = j->m;
    const size_t E = m->n_experts, G = m->n_gates, T = m->n_tasks, h = m->h;
    (void)chunk;
    if (r1 <= r0)
        return;
    mmoe__mix_backward_rows(r1 - r0, T, E, h, j->P + r0 * G * E, G * E, G == 1 ? 0 : E,
                            j->Hl + r0 * E * h, E * h, j->dF + r0 * T * h, T * h,
                            j->dHl + r0 * E * h, j->dP + r0 * G * E);
}

/* The gate block's buffers in fb / bb. */
static mmoe__gate_bufs gate_bufs(const mmoe__moe *m, float *const *buf)
{
    const int noise = m->gate.noisy;
    mmoe__gate_bufs f = {buf[P_BUF(m)], q_buf(m, buf), noise ? buf[m->z_buf] : NULL,
                         noise ? buf[m->u_buf] : NULL, noise ? buf[m->eps_buf] : NULL};
    return f;
}

static void moe_forward(const mmoe__bottom *b, const float *params, size_t B, const float *X,
                        size_t ldx, uint64_t *rng, float *const *fb)
{
    const mmoe__moe *m = b->impl;
    if (m->routing != MMOE__ROUTE_GATED) {
        mmoe__pmlp_forward(&m->experts, params, B, X, ldx, 1, fb);
        return;
    }
    const size_t E = m->n_experts, G = m->n_gates;
    const float *Hl = fb[m->experts.n_layers - 1];
    float *P = fb[P_BUF(m)], *F = fb[F_BUF(m)];
    const mmoe__gate_bufs f = gate_bufs(m, fb);
    double aux =
        mmoe__gate_block_forward(&m->gates, &m->gate, m->prior, params, B, X, ldx, rng, &f);
    if (rng && MMOE__GATE_BALANCED(&m->gate)) /* the auxiliary loss of the batch */
        fb[m->aux_buf][0] = (float)aux;
    if (B == 1 && m->gate.sparse) {
        const float *W[MMOE_MAX_TASKS];
        for (size_t g = 0; g < G; g++)
            W[g] = P + g * E;
        mmoe__gate_experts_forward(&m->experts, params, X, W, G, fb);
    } else
        mmoe__pmlp_forward(&m->experts, params, B, X, ldx, 1, fb);
    mix_job j = {m, P, Hl, NULL, F, NULL, NULL};
    mmoe__parallel_for(B, mix_grain(m), 1, mix_forward_rows, &j);
}

/* Whether the L2-Constrained penalty applies (it writes the experts' gradients after backward). */
static int moe_has_penalty(const mmoe__moe *m)
{
    return m->l2 > 0.0 && m->n_experts >= 2;
}

/*
 * Backward from the top of the block down: the gates (declared last), then
 * the experts' layers from the last to the first, each reported final to
 * the model's progress as it is done (unless the penalty will still add
 * to them).
 */
static void moe_backward(const mmoe__bottom *b, const float *params, float *grads, size_t B,
                         const float *X, size_t ldx, float *const *fb, float *const *bb, float *dX,
                         size_t lddx)
{
    const mmoe__moe *m = b->impl;
    const size_t L = m->experts.n_layers;
    mmoe__progress *prog = moe_has_penalty(m) ? NULL : b->progress;
    if (m->routing == MMOE__ROUTE_GATED) {
        const float *Hl = fb[L - 1], *P = fb[P_BUF(m)];
        float *dHl = bb[L - 1], *dP = bb[P_BUF(m)];
        const float *dF = bb[F_BUF(m)];
        mix_job j = {m, P, Hl, dF, NULL, dHl, dP};
        mmoe__parallel_for(B, mix_grain(m), 1, mix_backward_rows, &j);
        const mmoe__gate_bufs f = gate_bufs(m, fb), d = gate_bufs(m, bb);
        mmoe__gate_block_backward(&m->gates, &m->gate, params, grads, B, X, ldx, &f, &d, dX, lddx);
        mmoe__grad_ready(prog, m->gates.w_off); /* the gate block: weights, priors, noise */
    }
    mmoe__pmlp_backward_report(&m->experts, params, grads, B, X, ldx, 1, fb, bb, dX, lddx, prog);
}

static size_t moe_num_experts(const mmoe__bottom *b)
{
    return ((const mmoe__moe *)b->impl)->n_experts;
}

static size_t moe_num_gates(const mmoe__bottom *b)
{
    return ((const mmoe__moe *)b->impl)->n_gates;
}

static void moe_gate_row(const mmoe__bottom *b, float *const *fb, size_t k, size_t r, float *out)
{
    const mmoe__moe *m = b->impl;
    const size_t E = m->n_experts;
    if (m->routing == MMOE__ROUTE_GATED) {
        memcpy(out, fb[P_BUF(m)] + r * m->n_gates * E + gate_of(m, k) * E, E * sizeof *out);
        return;
    }
    memset(out, 0, E * sizeof *out);
    out[m->routing == MMOE__ROUTE_SHARED ? 0 : k] = 1.0f;
}

/*
 * L2-Constrained (paper baseline): lambda * sum_{i<j} ||theta_i - theta_j||^2
 * over corresponding parameters of the task networks. Per position, with
 * values v_1..v_T: sum_{i<j} (v_i - v_j)^2 = T sum v_i^2 - (sum v_i)^2, and
 * d/dv_i = 2 (T v_i - sum v).
 */
static double moe_penalty(const mmoe__bottom *b, const float *params, float *grads)
{
    const mmoe__moe *m = b->impl;
    if (!moe_has_penalty(m))
        return 0.0;
    const mmoe__pmlp *p = &m->experts;
    const size_t C = p->copies;
    double total = 0.0;
    for (size_t l = 0; l < p->n_layers; l++) {
        size_t in = l == 0 ? p->in : p->width[l - 1], w = p->width[l];
        size_t blocks[2][2] = {{p->w_off[l], w * in}, {p->b_off[l], w}};
        for (int bi = 0; bi < 2; bi++) {
            size_t off = blocks[bi][0], per = blocks[bi][1];
            for (size_t j = 0; j < per; j++) {
                double s = 0.0, s2 = 0.0;
                for (size_t c = 0; c < C; c++) {
                    double v = params[off + c * per + j];
                    s += v;
                    s2 += v * v;
                }
                total += (double)C * s2 - s * s;
                if (grads)
                    for (size_t c = 0; c < C; c++)
                        grads[off + c * per + j] +=
                            (float)(2.0 * m->l2 * ((double)C * params[off + c * per + j] - s));
            }
        }
    }
    return m->l2 * total;
}

static double moe_aux_loss(const mmoe__bottom *b, float *const *fb)
{
    const mmoe__moe *m = b->impl;
    return m->routing == MMOE__ROUTE_GATED && MMOE__GATE_BALANCED(&m->gate) ? fb[m->aux_buf][0]
                                                                            : 0.0;
}

/* The five kinds differ only in their setup. */
#define MOE_OPS(ident, label, setup_fn)                                                            \
    const mmoe__bottom_ops ident = {                                                               \
        .name = label,                                                                             \
        .size = sizeof(mmoe__moe),                                                                 \
        .setup = setup_fn,                                                                         \
        .buffers = moe_buffers,                                                                    \
        .declare = moe_declare,                                                                    \
        .init = moe_init,                                                                          \
        .forward = moe_forward,                                                                    \
        .backward = moe_backward,                                                                  \
        .task_input = moe_task_input,                                                              \
        .task_grad = moe_task_grad,                                                                \
        .zero_task_grads = moe_zero_task_grads,                                                    \
        .num_experts = moe_num_experts,                                                            \
        .num_gates = moe_num_gates,                                                                \
        .gate_row = moe_gate_row,                                                                  \
        .penalty = moe_penalty,                                                                    \
        .aux_loss = moe_aux_loss,                                                                  \
    }

MOE_OPS(mmoe__mmoe_ops, "MMoE", mmoe_setup);
MOE_OPS(mmoe__omoe_ops, "OMoE", omoe_setup);
MOE_OPS(mmoe__shared_bottom_ops, "Shared-Bottom", shared_bottom_setup);
MOE_OPS(mmoe__single_task_ops, "Single-Task", single_task_setup);
MOE_OPS(mmoe__l2_constrained_ops, "L2-Constrained", l2_constrained_setup);
