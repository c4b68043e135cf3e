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

size_t mmoe__moe_fwd_floats(const mmoe__moe *m)
{
    size_t n = 0;
    for (size_t l = 0; l < m->experts.n_layers; l++)
        n += m->n_experts * m->experts.width[l];
    if (m->routing == MMOE__ROUTE_GATED)
        n += m->n_gates * m->n_experts + m->n_tasks * m->h;
    return n;
}

size_t mmoe__moe_bwd_floats(const mmoe__moe *m)
{
    return mmoe__moe_fwd_floats(m);
}

static float *bind(const mmoe__moe *m, float *base, size_t cap, float **H, float **P, float **F)
{
    for (size_t l = 0; l < m->experts.n_layers; l++) {
        H[l] = base;
        base += cap * m->n_experts * m->experts.width[l];
    }
    *P = *F = NULL;
    if (m->routing == MMOE__ROUTE_GATED) {
        *P = base;
        base += cap * m->n_gates * m->n_experts;
        *F = base;
        base += cap * m->n_tasks * m->h;
    }
    return base;
}

float *mmoe__moe_bind_fwd(const mmoe__moe *m, float *base, size_t cap, mmoe__moe_fwd *f)
{
    return bind(m, base, cap, f->H, &f->P, &f->F);
}

float *mmoe__moe_bind_bwd(const mmoe__moe *m, float *base, size_t cap, mmoe__moe_bwd *b)
{
    return bind(m, base, cap, b->dH, &b->dP, &b->dF);
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

const float *mmoe__moe_task_input(const mmoe__moe *m, const mmoe__moe_fwd *f, size_t k, size_t *ld)
{
    const float *Hl = f->H[m->experts.n_layers - 1];
    switch (m->routing) {
    case MMOE__ROUTE_GATED:
        *ld = m->n_tasks * m->h;
        return f->F + k * m->h;
    case MMOE__ROUTE_SHARED:
        *ld = m->h;
        return Hl;
    default:
        *ld = m->n_experts * m->h;
        return Hl + k * m->h;
    }
}

float *mmoe__moe_task_grad(const mmoe__moe *m, const mmoe__moe_bwd *b, size_t k, size_t *ld)
{
    float *dHl = b->dH[m->experts.n_layers - 1];
    switch (m->routing) {
    case MMOE__ROUTE_GATED:
        *ld = m->n_tasks * m->h;
        return b->dF + k * m->h;
    case MMOE__ROUTE_SHARED:
        *ld = m->h;
        return dHl;
    default:
        *ld = m->n_experts * m->h;
        return dHl + k * m->h;
    }
}

void mmoe__moe_zero_task_grads(const mmoe__moe *m, const mmoe__moe_bwd *b, size_t B)
{
    float *dst = m->routing == MMOE__ROUTE_GATED ? b->dF : b->dH[m->experts.n_layers - 1];
    size_t w = m->routing == MMOE__ROUTE_GATED ? m->n_tasks * m->h : m->n_experts * m->h;
    memset(dst, 0, B * w * sizeof(float));
}

void mmoe__moe_forward(const mmoe__moe *m, const float *params, size_t B, const float *X,
                       size_t ldx, const mmoe__moe_fwd *f)
{
    mmoe__pmlp_forward(&m->experts, params, B, X, ldx, 1, f->H);
    if (m->routing != MMOE__ROUTE_GATED)
        return;
    const size_t E = m->n_experts, G = m->n_gates, T = m->n_tasks, h = m->h;
    const float *Hl = f->H[m->experts.n_layers - 1];
    mmoe__dense_forward(params + m->gate_off, NULL, m->in, G * E, B, X, ldx, f->P, G * E);
    for (size_t r = 0; r < B; r++) {
        for (size_t g = 0; g < G; g++) {
            float *p = f->P + r * G * E + g * E;
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
            const float *p = f->P + r * G * E + gate_of(m, k) * E;
            float *fk = f->F + r * T * h + k * h;
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
                        const float *X, size_t ldx, const mmoe__moe_fwd *f,
                        const mmoe__moe_bwd *b, float *dX, size_t lddx)
{
    const size_t L = m->experts.n_layers;
    if (m->routing == MMOE__ROUTE_GATED) {
        const size_t E = m->n_experts, G = m->n_gates, T = m->n_tasks, h = m->h;
        const float *Hl = f->H[L - 1];
        float *dHl = b->dH[L - 1];
        memset(dHl, 0, B * E * h * sizeof(float));
        memset(b->dP, 0, B * G * E * sizeof(float));
        for (size_t r = 0; r < B; r++) {
            const float *hr = Hl + r * E * h;
            float *dhr = dHl + r * E * h;
            for (size_t k = 0; k < T; k++) {
                size_t g = gate_of(m, k);
                const float *p = f->P + r * G * E + g * E;
                float *dp = b->dP + r * G * E + g * E;
                const float *dfk = b->dF + r * T * h + k * h;
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
                const float *p = f->P + r * G * E + g * E;
                float *dp = b->dP + r * G * E + g * E, s = 0.0f;
                for (size_t e = 0; e < E; e++)
                    s += p[e] * dp[e];
                for (size_t e = 0; e < E; e++)
                    dp[e] = p[e] * (dp[e] - s);
            }
        }
        mmoe__dense_backward(params + m->gate_off, m->in, G * E, B, X, ldx, b->dP, G * E,
                             grads + m->gate_off, NULL, dX, lddx, 1.0f);
    }
    mmoe__pmlp_backward(&m->experts, params, grads, B, X, ldx, 1, f->H, b->dH, dX, lddx);
}

void mmoe__moe_gate_row(const mmoe__moe *m, const mmoe__moe_fwd *f, size_t k, size_t r, float *out)
{
    const size_t E = m->n_experts;
    if (m->routing == MMOE__ROUTE_GATED) {
        memcpy(out, f->P + r * m->n_gates * E + gate_of(m, k) * E, E * sizeof *out);
        return;
    }
    memset(out, 0, E * sizeof *out);
    out[m->routing == MMOE__ROUTE_SHARED ? 0 : k] = 1.0f;
}
