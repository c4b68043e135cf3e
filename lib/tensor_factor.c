/*
 * Tensor-factorisation bottom.
 *
 * Forward, layer l, with X_l = x (layer 0, rows = B, shared by all tasks)
 * or the previous activations viewed as [B*T, n] (rows = B*T, task-major
 * within a row):
 *   t = X_l U1                 [rows, r1]        GEMM
 *   u = t G                    [rows, r2*r3]     GEMM (G as its [r1, r2*r3] unfolding)
 *   s[r][k][b] = sum_c u[r][(k)][b][c] U3[k][c]  [B, T*r2]
 *   A = s U2^T + bias          [B*T, m]          GEMM, then the activation
 * Multiply-adds per row: Tl (n r1 + r1 r2 r3) + T (r2 r3 + r2 m), against
 * T n m for T independent dense layers (Tl = 1 on layer 0, else T).
 *
 * Backward (dA given, first through the activation):
 *   db^k += sum_r dA[r][k];  dU2 += dA^T s;  ds = dA U2
 *   dU3[k][c] += sum_{r,b} ds[r][k][b] u[r][(k)][b][c]
 *   du[r][(k)][b][c] = (sum over k sharing u) ds[r][k][b] U3[k][c]
 *   dG += t^T du;  dt = du G^T;  dU1 += X_l^T dt;  dX_l = dt U1^T
 * (layer 0 ADDS dX_l into dx).
 */
#include <math.h>
#include <string.h>

#include "activation.h"
#include "blas.h"
#include "rng.h"
#include "tensor_factor.h"

static size_t min_sz(size_t a, size_t b)
{
    return a < b ? a : b;
}

static size_t layer_in(const mmoe__tfact *f, size_t l)
{
    return l == 0 ? f->in : f->width[l - 1];
}

/* Input copies of layer l: 1 for the shared input, else one per task. */
static size_t layer_copies(const mmoe__tfact *f, size_t l)
{
    return l == 0 ? 1 : f->n_tasks;
}

static mmoe_status tf_setup(mmoe__bottom *bot, const mmoe_config *c, char *err)
{
    mmoe__tfact *f = bot->impl;
    const size_t in = bot->in;
    (void)err;
    f->in = in;
    f->n_tasks = bot->n_tasks;
    f->n_layers = c->expert_layers;
    f->act = c->expert_act;
    for (size_t l = 0; l < f->n_layers; l++) {
        f->width[l] = c->expert_widths[l];
        f->r1[l] = min_sz(layer_in(f, l), c->tf_rank);
        f->r2[l] = min_sz(f->width[l], c->tf_rank);
        f->r3[l] = min_sz(f->n_tasks, c->tf_rank);
    }
    f->h = f->width[f->n_layers - 1];
    bot->h = f->h;
    return MMOE_OK;
}

static size_t tf_buffers(const mmoe__bottom *bot, size_t *widths)
{
    const mmoe__tfact *f = bot->impl;
    size_t n = 0;
    for (size_t l = 0; l < f->n_layers; l++) {
        size_t tl = layer_copies(f, l);
        widths[n++] = tl * f->r1[l];            /* t */
        widths[n++] = tl * f->r2[l] * f->r3[l]; /* u */
        widths[n++] = f->n_tasks * f->r2[l];    /* s */
        widths[n++] = f->n_tasks * f->width[l]; /* A */
    }
    return n;
}

static void tf_declare(mmoe__bottom *bot, mmoe__registry *r)
{
    mmoe__tfact *f = bot->impl;
    const size_t T = f->n_tasks;
    for (size_t l = 0; l < f->n_layers; l++) {
        size_t n = layer_in(f, l), m = f->width[l];
        size_t r1 = f->r1[l], r2 = f->r2[l], r3 = f->r3[l];
        f->g_off[l] = mmoe__reg_block(r, r1, r2 * r3);
        mmoe__reg_name(r, f->g_off[l], r1, r2 * r3, "tensor_factor.layers.%zu.core", l);
        f->u1_off[l] = mmoe__reg_block(r, n, r1);
        mmoe__reg_name(r, f->u1_off[l], n, r1, "tensor_factor.layers.%zu.u_in", l);
        f->u2_off[l] = mmoe__reg_block(r, m, r2);
        mmoe__reg_name(r, f->u2_off[l], m, r2, "tensor_factor.layers.%zu.u_out", l);
        f->u3_off[l] = mmoe__reg_block(r, T, r3);
        mmoe__reg_name(r, f->u3_off[l], T, r3, "tensor_factor.layers.%zu.u_task", l);
        f->b_off[l] = mmoe__reg_block(r, T, m);
        for (size_t k = 0; k < T; k++)
            mmoe__reg_name(r, f->b_off[l] + k * m, m, 0, "tensor_factor.%zu.layers.%zu.bias", k, l);
    }
}

static void fill_normal(float *p, size_t n, uint64_t seed, uint64_t stream)
{
    mmoe__rng g;
    mmoe__rng_seed(&g, seed, stream);
    for (size_t i = 0; i < n; i++)
        p[i] = (float)mmoe__rng_normal(&g);
}

/* Orthonormalise the r <= rows columns of Q [rows, r] (modified Gram-Schmidt). */
static void orthonormal_columns(float *Q, size_t rows, size_t r)
{
    for (size_t j = 0; j < r; j++) {
        for (size_t i = 0; i < j; i++) {
            double d = 0.0;
            for (size_t x = 0; x < rows; x++)
                d += (double)Q[x * r + i] * Q[x * r + j];
            for (size_t x = 0; x < rows; x++)
                Q[x * r + j] -= (float)(d * Q[x * r + i]);
        }
        double nn = 0.0;
        for (size_t x = 0; x < rows; x++)
            nn += (double)Q[x * r + j] * Q[x * r + j];
        /* Gaussian columns are independent with probability 1; guard anyway. */
        if (nn < 1e-12) {
            for (size_t x = 0; x < rows; x++)
                Q[x * r + j] = x == j ? 1.0f : 0.0f;
            nn = 1.0;
        }
        float inv = (float)(1.0 / sqrt(nn));
        for (size_t x = 0; x < rows; x++)
            Q[x * r + j] *= inv;
    }
}

/*
 * Factors U1, U2, U3: Gaussian draws with orthonormalised columns (possible
 * since every rank is clipped to its mode's size). The Tucker product with
 * such factors preserves the Frobenius norm, so scaling the Gaussian core
 * to ||G||^2 = v n m T makes the mean square of the generated weights
 * W_l[i][o][k] exactly v: He (v = 2/n) for relu, Glorot (v = 2/(n+m))
 * otherwise, the variances mmoe__init_weights gives dense layers. Biases
 * start at zero.
 */
static void tf_init(const mmoe__bottom *bot, float *params, uint64_t seed)
{
    const mmoe__tfact *f = bot->impl;
    const size_t T = f->n_tasks;
    for (size_t l = 0; l < f->n_layers; l++) {
        const size_t n = layer_in(f, l), m = f->width[l];
        const size_t r1 = f->r1[l], r2 = f->r2[l], r3 = f->r3[l], ng = r1 * r2 * r3;
        const double v = f->act == MMOE_ACT_RELU ? 2.0 / (double)n : 2.0 / (double)(n + m);
        const uint64_t s = 0x7fac0000u + 8u * (uint64_t)l;
        float *G = params + f->g_off[l];
        fill_normal(G, ng, seed, s);
        double gg = 0.0;
        for (size_t i = 0; i < ng; i++)
            gg += (double)G[i] * G[i];
        float scale = (float)sqrt(v * (double)n * (double)m * (double)T / (gg > 0.0 ? gg : 1.0));
        for (size_t i = 0; i < ng; i++)
            G[i] *= scale;
        const size_t dims[3] = {n, m, T}, ranks[3] = {r1, r2, r3};
        const size_t offs[3] = {f->u1_off[l], f->u2_off[l], f->u3_off[l]};
        for (size_t j = 0; j < 3; j++) {
            fill_normal(params + offs[j], dims[j] * ranks[j], seed, s + 1 + j);
            orthonormal_columns(params + offs[j], dims[j], ranks[j]);
        }
        memset(params + f->b_off[l], 0, T * m * sizeof(float));
    }
}

#define T_BUF(l) (4 * (l))
#define U_BUF(l) (4 * (l) + 1)
#define S_BUF(l) (4 * (l) + 2)
#define A_BUF(l) (4 * (l) + 3)

static const float *tf_task_input(const mmoe__bottom *bot, float *const *fb, size_t k, size_t *ld)
{
    const mmoe__tfact *f = bot->impl;
    *ld = f->n_tasks * f->h;
    return fb[A_BUF(f->n_layers - 1)] + k * f->h;
}

static float *tf_task_grad(const mmoe__bottom *bot, float *const *bb, size_t k, size_t *ld)
{
    const mmoe__tfact *f = bot->impl;
    *ld = f->n_tasks * f->h;
    return bb[A_BUF(f->n_layers - 1)] + k * f->h;
}

static void tf_zero_task_grads(const mmoe__bottom *bot, float *const *bb, size_t B)
{
    const mmoe__tfact *f = bot->impl;
    memset(bb[A_BUF(f->n_layers - 1)], 0, B * f->n_tasks * f->h * sizeof(float));
}

static void tf_forward(const mmoe__bottom *bot, const float *params, size_t B, const float *X,
                       size_t ldx, uint64_t *rng, float *const *fb)
{
    (void)rng; /* no training-only randomness */
    const mmoe__tfact *f = bot->impl;
    const size_t T = f->n_tasks;
    for (size_t l = 0; l < f->n_layers; l++) {
        const size_t n = layer_in(f, l), m = f->width[l], tl = layer_copies(f, l);
        const size_t r1 = f->r1[l], r2 = f->r2[l], r3 = f->r3[l], rows = B * tl;
        const float *Xl = l == 0 ? X : fb[A_BUF(l - 1)];
        const size_t ldxl = l == 0 ? ldx : n;
        const float *G = params + f->g_off[l], *U1 = params + f->u1_off[l];
        const float *U2 = params + f->u2_off[l], *U3 = params + f->u3_off[l];
        const float *bias = params + f->b_off[l];
        float *t = fb[T_BUF(l)], *u = fb[U_BUF(l)], *s = fb[S_BUF(l)], *A = fb[A_BUF(l)];

        mmoe__sgemm(0, 0, rows, r1, n, 1.0f, Xl, ldxl, U1, r1, 0.0f, t, r1);
        mmoe__sgemm(0, 0, rows, r2 * r3, r1, 1.0f, t, r1, G, r2 * r3, 0.0f, u, r2 * r3);
        for (size_t r = 0; r < B; r++) {
            for (size_t k = 0; k < T; k++) {
                const float *uk = u + (r * tl + (tl == 1 ? 0 : k)) * r2 * r3;
                const float *u3 = U3 + k * r3;
                float *sk = s + (r * T + k) * r2;
                for (size_t b = 0; b < r2; b++) {
                    float acc = 0.0f;
                    for (size_t c = 0; c < r3; c++)
                        acc += uk[b * r3 + c] * u3[c];
                    sk[b] = acc;
                }
            }
            memcpy(A + r * T * m, bias, T * m * sizeof *A);
        }
        mmoe__sgemm(0, 1, B * T, m, r2, 1.0f, s, r2, U2, r2, 1.0f, A, m);
        mmoe__act_forward(f->act, B, T * m, A, T * m);
    }
}

static void tf_backward(const mmoe__bottom *bot, const float *params, float *grads, size_t B,
                        const float *X, size_t ldx, float *const *fb, float *const *bb, float *dX,
                        size_t lddx)
{
    const mmoe__tfact *f = bot->impl;
    const size_t T = f->n_tasks;
    for (size_t l = f->n_layers; l-- > 0;) {
        const size_t n = layer_in(f, l), m = f->width[l], tl = layer_copies(f, l);
        const size_t r1 = f->r1[l], r2 = f->r2[l], r3 = f->r3[l], rows = B * tl;
        const float *Xl = l == 0 ? X : fb[A_BUF(l - 1)];
        const size_t ldxl = l == 0 ? ldx : n;
        const float *G = params + f->g_off[l], *U1 = params + f->u1_off[l];
        const float *U2 = params + f->u2_off[l], *U3 = params + f->u3_off[l];
        float *dG = grads + f->g_off[l], *dU1 = grads + f->u1_off[l];
        float *dU2 = grads + f->u2_off[l], *dU3 = grads + f->u3_off[l];
        float *db = grads + f->b_off[l];
        const float *t = fb[T_BUF(l)], *u = fb[U_BUF(l)], *s = fb[S_BUF(l)], *A = fb[A_BUF(l)];
        float *dt = bb[T_BUF(l)], *du = bb[U_BUF(l)], *ds = bb[S_BUF(l)], *dA = bb[A_BUF(l)];

        mmoe__act_backward(f->act, B, T * m, A, T * m, dA, T * m);
        for (size_t r = 0; r < B; r++) {
            const float *g = dA + r * T * m;
            for (size_t j = 0; j < T * m; j++)
                db[j] += g[j];
        }
        /* A = s U2^T over [B*T] rows. */
        mmoe__sgemm(1, 0, m, r2, B * T, 1.0f, dA, m, s, r2, 1.0f, dU2, r2);
        mmoe__sgemm(0, 0, B * T, r2, m, 1.0f, dA, m, U2, r2, 0.0f, ds, r2);
        /* s = contraction of u with U3 over c. */
        if (tl == 1)
            memset(du, 0, B * r2 * r3 * sizeof *du);
        for (size_t r = 0; r < B; r++) {
            for (size_t k = 0; k < T; k++) {
                size_t ui = (r * tl + (tl == 1 ? 0 : k)) * r2 * r3;
                const float *uk = u + ui, *u3 = U3 + k * r3, *dsk = ds + (r * T + k) * r2;
                float *duk = du + ui, *du3 = dU3 + k * r3;
                for (size_t b = 0; b < r2; b++) {
                    const float d = dsk[b];
                    for (size_t c = 0; c < r3; c++) {
                        du3[c] += d * uk[b * r3 + c];
                        if (tl == 1)
                            duk[b * r3 + c] += d * u3[c];
                        else
                            duk[b * r3 + c] = d * u3[c];
                    }
                }
            }
        }
        /* u = t G, t = X_l U1. */
        mmoe__sgemm(1, 0, r1, r2 * r3, rows, 1.0f, t, r1, du, r2 * r3, 1.0f, dG, r2 * r3);
        mmoe__sgemm(0, 1, rows, r1, r2 * r3, 1.0f, du, r2 * r3, G, r2 * r3, 0.0f, dt, r1);
        mmoe__sgemm(1, 0, n, r1, rows, 1.0f, Xl, ldxl, dt, r1, 1.0f, dU1, r1);
        if (l > 0)
            mmoe__sgemm(0, 1, rows, n, r1, 1.0f, dt, r1, U1, r1, 0.0f, bb[A_BUF(l - 1)], n);
        else if (dX)
            mmoe__sgemm(0, 1, rows, n, r1, 1.0f, dt, r1, U1, r1, 1.0f, dX, lddx);
    }
}

const mmoe__bottom_ops mmoe__tensor_factor_ops = {
    .name = "Tensor-Factorization",
    .size = sizeof(mmoe__tfact),
    .setup = tf_setup,
    .buffers = tf_buffers,
    .declare = tf_declare,
    .init = tf_init,
    .forward = tf_forward,
    .backward = tf_backward,
    .task_input = tf_task_input,
    .task_grad = tf_task_grad,
    .zero_task_grads = tf_zero_task_grads,
    .num_experts = mmoe__bottom_experts_are_tasks,
    .num_gates = mmoe__bottom_no_gates,
    .gate_row = mmoe__bottom_task_routing,
    .penalty = mmoe__bottom_no_penalty,
    .aux_loss = mmoe__bottom_no_aux_loss,
};
