/*
 * Mixture-of-experts bottom.
 *
 * Forward (GATED):
 *   H_e   = expert_e(x)                    all experts' first layers: one GEMM
 *   Z     = x W_g^T                        all gates: one GEMM, [B, G*E]
 *   P_g   = softmax(Z_g) over experts      per gate g
 *   F_k   = sum_e P_{gate(k), e} H_e       gate(k) = k (MMoE) or 0 (OMoE)
 * Backward:
 *   dH_e  = sum_k P_{gate(k), e} dF_k
 *   dP_{gate(k), e} += <dF_k, H_e>
 *   dZ_g  = P_g * (dP_g - <P_g, dP_g>)     softmax Jacobian
 *   dW_g += dZ^T x ;  dx += dZ W_g
 */
#include <math.h>
#include <string.h>

#include "dense.h"
#include "init.h"
#include "moe.h"

void mmoe__moe_setup(mmoe__moe *m, const mmoe_config *c, size_t in)
{
    memset(m, 0, sizeof *m);
    m->in = in;
    m->n_tasks = c->n_tasks;
    switch (c->arch) {
    case MMOE_ARCH_MMOE:
        m->routing = MMOE__ROUTE_GATED;
        m->n_experts = c->n_experts;
        m->n_gates = c->n_tasks;
        break;
    case MMOE_ARCH_OMOE:
        m->routing = MMOE__ROUTE_GATED;
        m->n_experts = c->n_experts;
        m->n_gates = 1;
        break;
    case MMOE_ARCH_SHARED_BOTTOM:
        m->routing = MMOE__ROUTE_SHARED;
        m->n_experts = 1;
        break;
    default: /* single_task, l2_constrained */
        m->routing = MMOE__ROUTE_SEPARATE;
        m->n_experts = c->n_tasks;
        m->l2 = c->arch == MMOE_ARCH_L2_CONSTRAINED ? c->l2_lambda : 0.0;
        break;
    }
    mmoe__pmlp *ex = &m->experts;
    ex->copies = m->n_experts;
    ex->in = in;
    ex->n_layers = c->expert_layers;
    memcpy(ex->width, c->expert_widths, sizeof c->expert_widths);
    ex->act = ex->out_act = c->expert_act;
    m->h = ex->width[ex->n_layers - 1];
}

size_t mmoe__moe_buffers(const mmoe__moe *m, size_t *widths)
{
    size_t n = 0;
    for (size_t l = 0; l < m->experts.n_layers; l++)
        widths[n++] = m->n_experts * m->experts.width[l];
    if (m->routing == MMOE__ROUTE_GATED) {
        widths[n++] = m->n_gates * m->n_experts;
        widths[n++] = m->n_tasks * m->h;
    }
    return n;
}

void mmoe__moe_declare(mmoe__moe *m, mmoe__registry *r)
{
    mmoe__pmlp_declare(&m->experts, r, "experts", 1);
    m->gate_off = 0;
    if (m->n_gates) {
        m->gate_off = mmoe__reg_block(r, m->n_gates * m->n_experts, m->in);
        for (size_t g = 0; g < m->n_gates; g++)
            mmoe__reg_name(r, m->gate_off + g * m->n_experts * m->in, m->n_experts, m->in,
                           "gates.%zu.weight", g);
    }
}

void mmoe__moe_init(const mmoe__moe *m, float *params, uint64_t seed)
{
    mmoe__pmlp_init(&m->experts, params, seed, 1);
    for (size_t g = 0; g < m->n_gates; g++)
        mmoe__init_weights(params + m->gate_off + g * m->n_experts * m->in, m->in, m->n_experts,
                           MMOE_ACT_IDENTITY, seed, 0x6a7e0000u + g);
}

static size_t gate_of(const mmoe__moe *m, size_t k)
{
    return m->n_gates == 1 ? 0 : k;
}

/* Indices of the buffers after the expert layers. */
#define P_BUF(m) ((m)->experts.n_layers)
#define F_BUF(m) ((m)->experts.n_layers + 1)

const float *mmoe__moe_task_input(const mmoe__moe *m, float *const *fb, size_t k, size_t *ld)
{
    const float *Hl = fb[m->experts.n_layers - 1];
    switch (m->routing) {
    case MMOE__ROUTE_GATED:
        *ld = m->n_tasks * m->h;
        return fb[F_BUF(m)] + k * m->h;
    case MMOE__ROUTE_SHARED:
        *ld = m->h;
        return Hl;
    default:
        *ld = m->n_experts * m->h;
        return Hl + k * m->h;
    }
}

float *mmoe__moe_task_grad(const mmoe__moe *m, float *const *bb, size_t k, size_t *ld)
{
    float *dHl = bb[m->experts.n_layers - 1];
    switch (m->routing) {
    case MMOE__ROUTE_GATED:
        *ld = m->n_tasks * m->h;
        return bb[F_BUF(m)] + k * m->h;
    case MMOE__ROUTE_SHARED:
        *ld = m->h;
        return dHl;
    default:
        *ld = m->n_experts * m->h;
        return dHl + k * m->h;
    }
}

void mmoe__moe_zero_task_grads(const mmoe__moe *m, float *const *bb, size_t B)
{
    float *dst = m->routing == MMOE__ROUTE_GATED ? bb[F_BUF(m)] : bb[m->experts.n_layers - 1];
    size_t w = m->routing == MMOE__ROUTE_GATED ? m->n_tasks * m->h : m->n_experts * m->h;
    memset(dst, 0, B * w * sizeof(float));
}

void mmoe__moe_forward(const mmoe__moe *m, const float *params, size_t B, const float *X,
                       size_t ldx, float *const *fb)
{
    mmoe__pmlp_forward(&m->experts, params, B, X, ldx, 1, fb);
    if (m->routing != MMOE__ROUTE_GATED)
        return;
    const size_t E = m->n_experts, G = m->n_gates, T = m->n_tasks, h = m->h;
    const float *Hl = fb[m->experts.n_layers - 1];
    float *P = fb[P_BUF(m)], *F = fb[F_BUF(m)];
    mmoe__dense_forward(params + m->gate_off, NULL, m->in, G * E, B, X, ldx, P, G * E);
    for (size_t r = 0; r < B; r++) {
        for (size_t g = 0; g < G; g++) {
            float *p = P + r * G * E + g * E;
            float mx = p[0];
            for (size_t e = 1; e < E; e++)
                mx = p[e] > mx ? p[e] : mx;
            float s = 0.0f;
            for (size_t e = 0; e < E; e++) {
                p[e] = expf(p[e] - mx);
                s += p[e];
            }
            float inv = 1.0f / s;
            for (size_t e = 0; e < E; e++)
                p[e] *= inv;
        }
        const float *hr = Hl + r * E * h;
        for (size_t k = 0; k < T; k++) {
            const float *p = P + r * G * E + gate_of(m, k) * E;
            float *fk = F + r * T * h + k * h;
            memset(fk, 0, h * sizeof *fk);
            for (size_t e = 0; e < E; e++) {
                const float pe = p[e], *he = hr + e * h;
                for (size_t j = 0; j < h; j++)
                    fk[j] += pe * he[j];
            }
        }
    }
}

void mmoe__moe_backward(const mmoe__moe *m, const float *params, float *grads, size_t B,
                        const float *X, size_t ldx, float *const *fb, float *const *bb,
                        float *dX, size_t lddx)
{
    const size_t L = m->experts.n_layers;
    if (m->routing == MMOE__ROUTE_GATED) {
        const size_t E = m->n_experts, G = m->n_gates, T = m->n_tasks, h = m->h;
        const float *Hl = fb[L - 1], *P = fb[P_BUF(m)];
        float *dHl = bb[L - 1], *dP = bb[P_BUF(m)];
        const float *dF = bb[F_BUF(m)];
        memset(dHl, 0, B * E * h * sizeof(float));
        memset(dP, 0, B * G * E * sizeof(float));
        for (size_t r = 0; r < B; r++) {
            const float *hr = Hl + r * E * h;
            float *dhr = dHl + r * E * h;
            for (size_t k = 0; k < T; k++) {
                size_t g = gate_of(m, k);
                const float *p = P + r * G * E + g * E;
                float *dp = dP + r * G * E + g * E;
                const float *dfk = dF + r * T * h + k * h;
                for (size_t e = 0; e < E; e++) {
                    const float *he = hr + e * h;
                    float *dhe = dhr + e * h, dot = 0.0f, pe = p[e];
                    for (size_t j = 0; j < h; j++) {
                        dot += dfk[j] * he[j];
                        dhe[j] += pe * dfk[j];
                    }
                    dp[e] += dot;
                }
            }
            /* softmax backward in place: dZ = P * (dP - <P, dP>) */
            for (size_t g = 0; g < G; g++) {
                const float *p = P + r * G * E + g * E;
                float *dp = dP + r * G * E + g * E, s = 0.0f;
                for (size_t e = 0; e < E; e++)
                    s += p[e] * dp[e];
                for (size_t e = 0; e < E; e++)
                    dp[e] = p[e] * (dp[e] - s);
            }
        }
        mmoe__dense_backward(params + m->gate_off, m->in, G * E, B, X, ldx, dP, G * E,
                             grads + m->gate_off, NULL, dX, lddx, 1.0f);
    }
    mmoe__pmlp_backward(&m->experts, params, grads, B, X, ldx, 1, fb, bb, dX, lddx);
}

void mmoe__moe_gate_row(const mmoe__moe *m, float *const *fb, size_t k, size_t r, float *out)
{
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
double mmoe__moe_penalty(const mmoe__moe *m, const float *params, float *grads)
{
    if (m->l2 <= 0.0 || m->n_experts < 2)
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
