/* Gate kinds: softmax (with temperature), top-k sparse, hard; see gate.h. */
#include <math.h>
#include <string.h>

#ifndef M_PI
#    define M_PI 3.14159265358979323846
#endif

#include "activation.h"
#include "dense.h"
#include "gate.h"
#include "init.h"
#include "mix.h"

struct mmoe__gate_kind {
    const char *name;
    int sparse, needs_q;
    void (*forward)(const mmoe__gate *g, size_t n, float *p, float *q);
    void (*backward)(const mmoe__gate *g, size_t n, const float *p, const float *q, float *d);
};

static void scale(size_t n, float s, float *v)
{
    if (s != 1.0f)
        for (size_t i = 0; i < n; i++)
            v[i] *= s;
}

static void softmax_forward(const mmoe__gate *g, size_t n, float *p, float *q)
{
    (void)q;
    scale(n, g->inv_temp, p);
    mmoe__softmax_rows(1, n, p, n);
}

/* dz = p (dp - <p, dp>) / tau: softmax and top-k (p = 0 outside the selection). */
static void softmax_backward(const mmoe__gate *g, size_t n, const float *p, const float *q,
                             float *d)
{
    (void)q;
    mmoe__softmax_backward_rows(1, n, p, n, d, n);
    scale(n, g->inv_temp, d);
}

/* Nonzero when logit i ranks before logit j (larger; ties: lower index). */
static int ranks_before(const float *z, size_t i, size_t j)
{
    return z[i] > z[j] || (z[i] == z[j] && i < j);
}

static void topk_forward(const mmoe__gate *g, size_t n, float *p, float *q)
{
    (void)q;
    if (g->k >= n) {
        softmax_forward(g, n, p, NULL);
        return;
    }
    /* Expert i is kept when fewer than k logits rank before it (O(n^2); n <= 1024). */
    size_t sel[MMOE__MAX_EXPERTS], nk = 0;
    float t[MMOE__MAX_EXPERTS];
    for (size_t i = 0; i < n; i++) {
        size_t before = 0;
        for (size_t j = 0; j < n && before < g->k; j++)
            before += j != i && ranks_before(p, j, i);
        if (before < g->k) {
            sel[nk] = i;
            t[nk++] = p[i];
        }
    }
    softmax_forward(g, nk, t, NULL); /* the softmax over the kept logits */
    memset(p, 0, n * sizeof *p);
    for (size_t s = 0; s < nk; s++)
        p[sel[s]] = t[s];
}

static void hard_forward(const mmoe__gate *g, size_t n, float *p, float *q)
{
    size_t best = 0;
    for (size_t i = 1; i < n; i++)
        if (p[i] > p[best])
            best = i;
    memcpy(q, p, n * sizeof *q);
    softmax_forward(g, n, q, NULL);
    memset(p, 0, n * sizeof *p);
    p[best] = 1.0f;
}

/* Straight-through: the gradient of the softmax q in place of the argmax. */
static void hard_backward(const mmoe__gate *g, size_t n, const float *p, const float *q, float *d)
{
    (void)p;
    softmax_backward(g, n, q, NULL, d);
}

/* One row per gate kind; the index is the value of the description's gate.kind. */
static const mmoe__gate_kind kinds[] = {
    {"softmax", 0, 0, softmax_forward, softmax_backward},
    {"topk", 1, 0, topk_forward, softmax_backward},
    {"hard", 1, 1, hard_forward, hard_backward},
};
#define N_KINDS (sizeof kinds / sizeof kinds[0])

_Static_assert(N_KINDS == MMOE__GATE_KINDS, "one row per gate kind (lib/gate.c)");

int mmoe__gate_kind_parse(const char *name)
{
    for (size_t i = 0; i < N_KINDS; i++)
        if (strcmp(name, kinds[i].name) == 0)
            return (int)i;
    return -1;
}

const char *mmoe__gate_kind_name(int kind)
{
    return kind >= 0 && (size_t)kind < N_KINDS ? kinds[kind].name : NULL;
}

void mmoe__gate_setup(mmoe__gate *g, const mmoe_config *c)
{
    g->kind = &kinds[c->gate_kind];
    g->inv_temp = (float)(1.0 / c->gate_temperature);
    g->k = c->gate_top_k;
    g->sparse = g->kind->sparse;
    g->needs_q = g->kind->needs_q;
    g->noisy = c->gate_noise;
    g->w_importance = c->gate_w_importance;
    g->w_load = c->gate_w_load;
}

mmoe_status mmoe__gate_noise_check(const mmoe__gate *g, char *err)
{
    if (g->noisy && g->kind != &kinds[1])
        return MMOE_FAIL(err, MMOE_ERR_CONFIG, "gate.noise 1 needs gate.kind topk (not %s)",
                         g->kind->name);
    if (g->w_load > 0.0 && !g->noisy)
        return MMOE_FAIL(err, MMOE_ERR_CONFIG,
                         "gate.balance.load needs gate.noise 1 (its smooth estimator is the "
                         "probability under the noise)");
    return MMOE_OK;
}

static float softplus(float u)
{
    return u > 20.0f ? u : log1pf(expf(u));
}

static float sigmoid(float u)
{
    return 1.0f / (1.0f + expf(-u));
}

void mmoe__gate_noise_forward(size_t rows, size_t n, const float *Z, const float *U, float *Eps,
                              float *H, size_t ld, mmoe__rng *r)
{
    for (size_t i = 0; i < rows; i++)
        for (size_t e = 0; e < n; e++) {
            const size_t j = i * ld + e;
            Eps[j] = (float)mmoe__rng_normal(r);
            H[j] = Z[j] + Eps[j] * softplus(U[j]);
        }
}

void mmoe__gate_noise_backward(size_t rows, size_t n, const float *U, const float *Eps, float *D,
                               const float *dZ, float *dS, size_t ld)
{
    for (size_t i = 0; i < rows; i++)
        for (size_t e = 0; e < n; e++) {
            const size_t j = i * ld + e;
            dS[j] = (dS[j] + D[j] * Eps[j]) * sigmoid(U[j]);
            D[j] += dZ[j];
        }
}

/* CV(v)^2 = var / (mean^2 + 1e-10) over n values; its gradient into g when not NULL. */
static double cv_squared(size_t n, const double *v, double *g)
{
    double mean = 0.0, var = 0.0;
    for (size_t e = 0; e < n; e++)
        mean += v[e];
    mean /= (double)n;
    for (size_t e = 0; e < n; e++)
        var += (v[e] - mean) * (v[e] - mean);
    var /= (double)n;
    const double den = mean * mean + 1e-10;
    for (size_t e = 0; g && e < n; e++)
        g[e] = 2.0 * (v[e] - mean) / ((double)n * den) - 2.0 * var * mean / ((double)n * den * den);
    return var / den;
}

/*
 * Row of noisy logits h (n values): index of the k-th and (k+1)-th largest
 * (ranks_before order); the latter is n when there are only k.
 */
static void kth_two(const float *h, size_t n, size_t k, size_t *kth, size_t *next)
{
    *kth = *next = n;
    for (size_t i = 0; i < n; i++) {
        size_t before = 0;
        for (size_t j = 0; j < n && before <= k; j++)
            before += j != i && ranks_before(h, j, i);
        if (before == k - 1)
            *kth = i;
        else if (before == k)
            *next = i;
    }
}

double mmoe__gate_balance(const mmoe__gate *g, size_t B, size_t n, const float *P, const float *Z,
                          const float *U, const float *Eps, size_t ld, float *dP, float *dZ,
                          float *dS)
{
    double v[MMOE__MAX_EXPERTS] = {0}, gv[MMOE__MAX_EXPERTS] = {0}, loss = 0.0;
    if (g->w_importance > 0.0) {
        for (size_t e = 0; e < n; e++) {
            v[e] = 0.0;
            for (size_t r = 0; r < B; r++)
                v[e] += P[r * ld + e];
        }
        loss += g->w_importance * cv_squared(n, v, dP ? gv : NULL);
        for (size_t r = 0; dP && r < B; r++)
            for (size_t e = 0; e < n; e++)
                dP[r * ld + e] += (float)(g->w_importance * gv[e]);
    }
    if (g->w_load <= 0.0 || !g->noisy || g->k >= n)
        return loss; /* k >= n: every expert is always kept, the load is constant */
    /* Two passes over the rows: the loads, then (with dP) their gradient. */
    float h[MMOE__MAX_EXPERTS];
    for (int pass = 0; pass < (dP ? 2 : 1); pass++) {
        if (pass == 0)
            for (size_t e = 0; e < n; e++)
                v[e] = 0.0;
        for (size_t r = 0; r < B; r++) {
            const float *z = Z + r * ld, *u = U + r * ld, *eps = Eps + r * ld;
            for (size_t e = 0; e < n; e++)
                h[e] = z[e] + eps[e] * softplus(u[e]);
            size_t kth, next;
            kth_two(h, n, g->k, &kth, &next);
            for (size_t e = 0; e < n; e++) {
                /* e is kept when it ranks before the (k+1)-th: compare with the k-th or the
                 * (k+1)-th */
                const int kept = e == kth || ranks_before(h, e, kth);
                const size_t t = kept ? next : kth;
                const double s = softplus(u[e]), a = ((double)z[e] - h[t]) / s;
                if (!isfinite(a)) { /* a forbidden expert or threshold (mask -inf): Phi 0 or 1 */
                    v[e] += pass == 0 && a > 0.0 ? 1.0 : 0.0;
                    continue;
                }
                if (pass == 0) {
                    v[e] += 0.5 * erfc(-a / sqrt(2.0));
                    continue;
                }
                const double c = gv[e] * exp(-0.5 * a * a) / sqrt(2.0 * M_PI) / s;
                dZ[r * ld + e] += (float)c;
                dS[r * ld + e] -= (float)(c * a);
                dZ[r * ld + t] -= (float)c; /* h_t = z_t + eps_t s_t */
                dS[r * ld + t] -= (float)(c * eps[t]);
            }
        }
        if (pass == 0) {
            loss += g->w_load * cv_squared(n, v, dP ? gv : NULL);
            for (size_t e = 0; dP && e < n; e++)
                gv[e] *= g->w_load;
        }
    }
    return loss;
}

int mmoe__gate_prior_given(const mmoe_config *c, size_t k)
{
    return c->tasks[k].n_gate_bias > 0 || c->tasks[k].n_gate_mask > 0;
}

int mmoe__gate_prior_biased(const mmoe_config *c, size_t n_tasks)
{
    for (size_t k = 0; k < n_tasks; k++)
        if (c->tasks[k].n_gate_bias)
            return 1;
    return 0;
}

mmoe_status mmoe__gate_prior_setup(mmoe__gate *g, const mmoe_config *c, size_t k, size_t n,
                                   const char *mixes, mmoe__gate_prior *pr, char *err)
{
    const mmoe__task_cfg *t = &c->tasks[k];
    const size_t counts[2] = {t->n_gate_bias, t->n_gate_mask};
    static const char *const keys[2] = {"gate_bias", "gate_mask"};
    for (int i = 0; i < 2; i++)
        if (counts[i] && counts[i] != n)
            return MMOE_FAIL(err, MMOE_ERR_CONFIG,
                             "task.%zu.%s has %zu values; task %zu's gate mixes %zu experts (%s)",
                             k, keys[i], counts[i], k, n, mixes);
    pr->bias = t->n_gate_bias ? t->gate_bias : NULL;
    pr->mask = t->n_gate_mask ? t->gate_mask : NULL;
    size_t forbidden = 0;
    for (size_t e = 0; pr->mask && e < n; e++)
        forbidden += pr->mask[e] == -INFINITY;
    if (forbidden && forbidden == n)
        return MMOE_FAIL(err, MMOE_ERR_CONFIG,
                         "task.%zu.gate_mask forbids every expert (-inf everywhere): the gate "
                         "would have nothing to mix",
                         k);
    if (forbidden)
        g->sparse = 1;
    return MMOE_OK;
}

void mmoe__gate_prior_init(const mmoe__gate_prior *pr, size_t n, float *b)
{
    if (pr && pr->bias)
        memcpy(b, pr->bias, n * sizeof *b);
    else
        memset(b, 0, n * sizeof *b);
}

void mmoe__gate_add_mask(const float *mask, size_t rows, size_t n, float *Z, size_t ld)
{
    for (size_t r = 0; mask && r < rows; r++)
        for (size_t i = 0; i < n; i++)
            Z[r * ld + i] += mask[i];
}

void mmoe__gate_forward(const mmoe__gate *g, const float *mask, size_t rows, size_t n, float *P,
                        float *Q, size_t ld)
{
    mmoe__gate_add_mask(mask, rows, n, P, ld);
    for (size_t r = 0; r < rows; r++)
        g->kind->forward(g, n, P + r * ld, Q ? Q + r * ld : NULL);
}

void mmoe__gate_backward(const mmoe__gate *g, size_t rows, size_t n, const float *P, const float *Q,
                         float *D, size_t ld)
{
    for (size_t r = 0; r < rows; r++)
        g->kind->backward(g, n, P + r * ld, Q ? Q + r * ld : NULL, D + r * ld);
}

void mmoe__gate_experts_forward(const mmoe__pmlp *ex, const float *params, const float *X,
                                const float *const *W, size_t nw, float *const *A)
{
    const size_t E = ex->copies, L = ex->n_layers;
    for (size_t e = 0; e < E; e++) {
        int used = 0;
        for (size_t g = 0; g < nw && !used; g++)
            used = W[g][e] != 0.0f;
        for (size_t l = 0; l < L; l++) {
            const size_t w = ex->width[l], in = l ? ex->width[l - 1] : ex->in;
            float *a = A[l] + e * w;
            if (!used) {
                memset(a, 0, w * sizeof *a);
                continue;
            }
            const float *In = l ? A[l - 1] + e * in : X;
            mmoe__dense_forward(params + ex->w_off[l] + e * w * in, params + ex->b_off[l] + e * w,
                                in, w, 1, In, in, a, w);
            mmoe__act_forward(l + 1 == L ? ex->out_act : ex->act, 1, w, a, w);
        }
    }
}

/* ---- the gates of one layer, side by side ---------------------------- */

void mmoe__gate_set_add(mmoe__gate_set *s, size_t n, const float *mask)
{
    s->n[s->G] = n;
    s->col[s->G] = s->ld;
    s->mask[s->G] = mask;
    s->G++;
    s->ld += n;
}

float *mmoe__gate_set_logits(const mmoe__gate *g, const uint64_t *rng, const mmoe__gate_bufs *f)
{
    return rng && g->noisy ? f->Z : f->P;
}

double mmoe__gate_set_forward(const mmoe__gate_set *s, const mmoe__gate *g, size_t B, uint64_t *rng,
                              const mmoe__gate_bufs *f)
{
    const size_t ld = s->ld;
    const int noise = rng && g->noisy; /* training only */
    float *P = f->P, *Z = noise ? f->Z : P;
    if (noise) { /* P = Z + mask + Eps softplus(U) */
        mmoe__rng r;
        mmoe__rng_seed(&r, *rng, 0x6a7e5eedu);
        for (size_t i = 0; i < s->G; i++)
            mmoe__gate_add_mask(s->mask[i], B, s->n[i], Z + s->col[i], ld);
        mmoe__gate_noise_forward(B, ld, Z, f->U, f->Eps, P, ld, &r);
        *rng = mmoe__rng_next(&r);
    }
    for (size_t i = 0; i < s->G; i++)
        mmoe__gate_forward(g, noise ? NULL : s->mask[i], B, s->n[i], P + s->col[i],
                           f->Q ? f->Q + s->col[i] : NULL, ld);
    double aux = 0.0;
    for (size_t i = 0; rng && MMOE__GATE_BALANCED(g) && i < s->G; i++) {
        const size_t c = s->col[i];
        aux +=
            mmoe__gate_balance(g, B, s->n[i], P + c, noise ? Z + c : NULL, noise ? f->U + c : NULL,
                               noise ? f->Eps + c : NULL, ld, NULL, NULL, NULL);
    }
    return aux;
}

void mmoe__gate_set_backward(const mmoe__gate_set *s, const mmoe__gate *g, size_t B,
                             const mmoe__gate_bufs *f, const mmoe__gate_bufs *d)
{
    const size_t ld = s->ld;
    const int noise = g->noisy;
    if (noise) {
        memset(d->Z, 0, B * ld * sizeof *d->Z);
        memset(d->U, 0, B * ld * sizeof *d->U);
    }
    for (size_t i = 0; MMOE__GATE_BALANCED(g) && i < s->G; i++) {
        const size_t c = s->col[i];
        mmoe__gate_balance(g, B, s->n[i], f->P + c, noise ? f->Z + c : NULL,
                           noise ? f->U + c : NULL, noise ? f->Eps + c : NULL, ld, d->P + c,
                           noise ? d->Z + c : NULL, noise ? d->U + c : NULL);
    }
    for (size_t i = 0; i < s->G; i++)
        mmoe__gate_backward(g, B, s->n[i], f->P + s->col[i], f->Q ? f->Q + s->col[i] : NULL,
                            d->P + s->col[i], ld);
    if (noise) /* d->P: dL/dh -> dL/dz; d->U: dL/du */
        mmoe__gate_noise_backward(B, ld, f->U, f->Eps, d->P, d->Z, d->U, ld);
}

/* ---- a block of gates reading one input (one GEMM) -------------------- */

void mmoe__gate_block_declare(mmoe__gate_block *k, const mmoe__gate *g, mmoe__registry *r,
                              const char *prefix)
{
    const size_t G = k->G, n = k->n, in = k->in;
    k->w_off = mmoe__reg_block(r, G * n, in);
    for (size_t i = 0; i < G; i++)
        mmoe__reg_name(r, k->w_off + i * n * in, n, in, "%s.%zu.weight", prefix, i);
    if (k->biased) {
        k->b_off = mmoe__reg_block(r, G * n, 1);
        for (size_t i = 0; i < G; i++)
            mmoe__reg_name(r, k->b_off + i * n, n, 0, "%s.%zu.bias", prefix, i);
    }
    if (g->noisy) {
        k->u_off = mmoe__reg_block(r, G * n, in);
        for (size_t i = 0; i < G; i++)
            mmoe__reg_name(r, k->u_off + i * n * in, n, in, "%s.%zu.noise_weight", prefix, i);
    }
}

void mmoe__gate_block_init(const mmoe__gate_block *k, const mmoe__gate *g,
                           const mmoe__gate_prior *pr, float *params, uint64_t seed,
                           uint64_t stream0)
{
    const size_t G = k->G, n = k->n, in = k->in;
    for (size_t i = 0; i < G; i++)
        mmoe__init_weights(params + k->w_off + i * n * in, in, n, MMOE_ACT_IDENTITY, seed,
                           stream0 + i);
    for (size_t i = 0; k->biased && i < G; i++)
        mmoe__gate_prior_init(&pr[i], n, params + k->b_off + i * n);
    if (g->noisy) /* zero: noise std softplus(0) at the start (Shazeer et al.) */
        memset(params + k->u_off, 0, G * n * in * sizeof(float));
}

double mmoe__gate_block_forward(const mmoe__gate_block *k, const mmoe__gate *g,
                                const mmoe__gate_prior *pr, const float *params, size_t B,
                                const float *X, size_t ldx, uint64_t *rng, const mmoe__gate_bufs *f)
{
    const size_t ld = k->G * k->n;
    mmoe__dense_forward(params + k->w_off, k->biased ? params + k->b_off : NULL, k->in, ld, B, X,
                        ldx, mmoe__gate_set_logits(g, rng, f), ld);
    if (rng && g->noisy)
        mmoe__dense_forward(params + k->u_off, NULL, k->in, ld, B, X, ldx, f->U, ld);
    mmoe__gate_set s = {0};
    for (size_t i = 0; i < k->G; i++)
        mmoe__gate_set_add(&s, k->n, pr[i].mask);
    return mmoe__gate_set_forward(&s, g, B, rng, f);
}

void mmoe__gate_block_backward(const mmoe__gate_block *k, const mmoe__gate *g, const float *params,
                               float *grads, size_t B, const float *X, size_t ldx,
                               const mmoe__gate_bufs *f, const mmoe__gate_bufs *d, float *dX,
                               size_t lddx)
{
    const size_t ld = k->G * k->n;
    mmoe__gate_set s = {0};
    for (size_t i = 0; i < k->G; i++)
        mmoe__gate_set_add(&s, k->n, NULL);
    mmoe__gate_set_backward(&s, g, B, f, d);
    mmoe__dense_backward(params + k->w_off, k->in, ld, B, X, ldx, d->P, ld, grads + k->w_off,
                         k->biased ? grads + k->b_off : NULL, dX, lddx, 1.0f);
    if (g->noisy)
        mmoe__dense_backward(params + k->u_off, k->in, ld, B, X, ldx, d->U, ld, grads + k->u_off,
                             NULL, dX, lddx, 1.0f);
}
