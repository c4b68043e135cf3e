/* Gate kinds: softmax (with temperature), top-k sparse, hard; see gate.h. */
#include <math.h>
#include <string.h>

#include "activation.h"
#include "dense.h"
#include "gate.h"
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

void mmoe__gate_forward(const mmoe__gate *g, const float *mask, size_t rows, size_t n, float *P,
                        float *Q, size_t ld)
{
    for (size_t r = 0; r < rows; r++) {
        float *p = P + r * ld;
        for (size_t i = 0; mask && i < n; i++)
            p[i] += mask[i];
        g->kind->forward(g, n, p, Q ? Q + r * ld : NULL);
    }
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
