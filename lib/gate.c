/* Gate kinds: softmax (with temperature), top-k sparse, hard; see gate.h. */
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

void mmoe__gate_forward(const mmoe__gate *g, size_t rows, size_t n, float *P, float *Q, size_t ld)
{
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
                                const float *P, size_t G, float *const *A)
{
    const size_t E = ex->copies, L = ex->n_layers;
    for (size_t e = 0; e < E; e++) {
        int used = 0;
        for (size_t g = 0; g < G && !used; g++)
            used = P[g * E + e] != 0.0f;
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
