/*
 * Private gate kinds: how a gate turns its logits z (one per expert) into
 * the mixing weights p. Every gated bottom runs its gates through these
 * (description keys gate.kind, gate.temperature, gate.top_k):
 *
 *   softmax  p = softmax(z / tau)
 *   topk     p_i = exp(z_i / tau) / sum_{j in S} exp(z_j / tau) for i in S,
 *            p_i = 0 (exactly) otherwise; S = the k largest logits (ties:
 *            the lower expert index first); k > experts uses all of them
 *   hard     p = one-hot of the largest logit (ties: the lower index);
 *            backward is straight-through: the gradient that reaches z is
 *            that of q = softmax(z / tau), i.e. dz = q (dp - <q, dp>) / tau
 *
 * Backward of softmax and topk: dz = p (dp - <p, dp>) / tau (the experts
 * outside S have p = 0 and get no gradient). A gate kind is one row of the
 * table in lib/gate.c.
 *
 * Gate priors (task.K.gate_bias, task.K.gate_mask) enter the logits before
 * the kind: for a gate over n experts on input x,
 *
 *   z = W x + b + m
 *
 * b (n values) is a trainable bias, initialised from gate_bias; it exists
 * for every gate of a model in which some task gives a gate_bias (0 where
 * none is given) and for no gate otherwise. m (n values) is the fixed mask
 * gate_mask, not trained: -inf forbids an expert (its weight is exactly 0
 * for every kind; a gate with such a mask counts as sparse), finite values
 * shift the logits. dz passes to b unchanged (db = sum over rows of dz) and
 * m has no gradient.
 *
 * Noisy top-k gating and load balancing (Shazeer et al. 2017; keys
 * gate.noise, gate.balance.importance, gate.balance.load). In training
 * only, with z the clean logits above and u = W_noise x,
 *
 *   h = z + eps * s,   s = softplus(u),   eps ~ N(0, 1) per row and expert
 *
 * (from the model's random stream) replaces z before the kind (topk);
 * predict uses z. Per gate over a batch of rows r, the auxiliary loss is
 *
 *   L_aux = w_imp CV(I)^2 + w_load CV(Load)^2
 *   I_e    = sum_r p_re                          importance
 *   Load_e = sum_r Phi((z_re - t_re) / s_re)     smooth load
 *
 * CV(v)^2 = var(v) / (mean(v)^2 + 1e-10) with the population variance;
 * t_re is the k-th largest noisy logit of row r among the other experts
 * (the (k+1)-th largest of the row when e is among the k kept, else the
 * k-th); Phi is the standard normal CDF. The load term needs the noise.
 * Gradients: I through p (before the kind's backward); Load into z, s and
 * into the logit t comes from (dt passes to its z and, times its eps, to
 * its s); ds = dh eps + (load part); du = ds sigmoid(u).
 */
#ifndef MMOE_GATE_H
#define MMOE_GATE_H

#include <stddef.h>

#include "config_impl.h"
#include "params.h"
#include "pmlp.h"
#include "rng.h"

typedef struct mmoe__gate_kind mmoe__gate_kind;

typedef struct mmoe__gate {
    const mmoe__gate_kind *kind;
    float inv_temp; /* 1 / tau */
    size_t k;       /* top-k: experts kept */
    int sparse;     /* weights may be exactly zero: unselected experts can be skipped */
    int needs_q;    /* forward keeps q = softmax(z / tau) beside p (per-row width as p) */
    int noisy;      /* gate.noise: training adds eps * softplus(W_noise x) */
    double w_importance, w_load; /* gate.balance.*: weights of the auxiliary loss */
} mmoe__gate;

/* Nonzero when the gate has an auxiliary (load-balancing) loss. */
#define MMOE__GATE_BALANCED(g) ((g)->w_importance > 0.0 || (g)->w_load > 0.0)

/* The prior of one gate: pointers into the model's description (which outlives the bottom). */
typedef struct mmoe__gate_prior {
    const float *bias; /* initial bias (n values) or NULL: 0 */
    const float *mask; /* fixed mask (n values) or NULL: none */
} mmoe__gate_prior;

/* From the description (gate.kind, gate.temperature, gate.top_k). */
void mmoe__gate_setup(mmoe__gate *g, const mmoe_config *cfg);

/*
 * Task k's prior for a gate over n experts into *pr (zeroed when the task
 * gives none); `mixes` says which experts, for messages ("experts.count").
 * Fails with CONFIG when a list does not have n values or the mask forbids
 * every expert. A mask with -inf makes g sparse.
 */
mmoe_status mmoe__gate_prior_setup(mmoe__gate *g, const mmoe_config *cfg, size_t k, size_t n,
                                   const char *mixes, mmoe__gate_prior *pr, char *err);

/* Nonzero when task k gives a prior (gate_bias or gate_mask). */
int mmoe__gate_prior_given(const mmoe_config *cfg, size_t k);

/* Nonzero when one of the first n_tasks tasks gives a gate_bias: every gate gets a bias. */
int mmoe__gate_prior_biased(const mmoe_config *cfg, size_t n_tasks);

/* Initial bias of a gate over n experts (pr NULL or without bias: zeros). */
void mmoe__gate_prior_init(const mmoe__gate_prior *pr, size_t n, float *b);

/* Z[r][i] += mask[i] on rows rows of n values (mask NULL: nothing). */
void mmoe__gate_add_mask(const float *mask, size_t rows, size_t n, float *Z, size_t ld);

/*
 * Logits to weights, in place, on `rows` rows of n values (row i at
 * P + i * ld): adds the mask (n values; NULL: none) to every row, then
 * applies the kind. Q (same layout) receives q for kinds with needs_q,
 * else may be NULL.
 */
void mmoe__gate_forward(const mmoe__gate *g, const float *mask, size_t rows, size_t n, float *P,
                        float *Q, size_t ld);

/*
 * dL/dp to dL/dz, in place on D (same layout as P); P and Q as left by
 * mmoe__gate_forward.
 */
void mmoe__gate_backward(const mmoe__gate *g, size_t rows, size_t n, const float *P, const float *Q,
                         float *D, size_t ld);

/*
 * Batch 1 with a sparse gate: run only the experts (copies of ex, all
 * reading the row X) that some gate selected; W[0 .. nw) point at the
 * weights the gates give these experts (ex->copies values each). The other
 * experts' activations in A[0 .. n_layers) are set to zero, which is what
 * their exactly-zero weights make of them.
 */
void mmoe__gate_experts_forward(const mmoe__pmlp *ex, const float *params, const float *X,
                                const float *const *W, size_t nw, float *const *A);

/*
 * Check the noise and balance keys of a gated bottom: noise needs topk,
 * the load term needs the noise. Fails with CONFIG.
 */
mmoe_status mmoe__gate_noise_check(const mmoe__gate *g, char *err);

/*
 * Training forward of noisy gating on rows rows of n logits (all arrays
 * with leading dimension ld): Eps <- N(0, 1) draws from r, and
 * H <- Z + Eps * softplus(U) (Z the clean logits, U = W_noise x).
 */
void mmoe__gate_noise_forward(size_t rows, size_t n, const float *Z, const float *U, float *Eps,
                              float *H, size_t ld, mmoe__rng *r);

/*
 * The auxiliary loss of one gate over a batch of B rows (P the weights of
 * the forward; Z, U, Eps as above, NULL without noise). With dP not NULL
 * its gradient is added: the importance part into dP (dL/dp, before the
 * kind's backward), the load part into dZ (dL/dz) and dS (dL/ds).
 */
double mmoe__gate_balance(const mmoe__gate *g, size_t B, size_t n, const float *P, const float *Z,
                          const float *U, const float *Eps, size_t ld, float *dP, float *dZ,
                          float *dS);

/*
 * Backward of the noise: on entry D holds dL/dh (the kind's backward),
 * dZ and dS the load parts. On return D holds dL/dz = dh + dZ and dS holds
 * dL/du = (dS + dh * Eps) * sigmoid(U).
 */
void mmoe__gate_noise_backward(size_t rows, size_t n, const float *U, const float *Eps, float *D,
                               const float *dZ, float *dS, size_t ld);

/*
 * Buffers of a layer's gates (rows of the gates' widths side by side): P
 * the weights, Q (kinds with needs_q), and with gate.noise the clean
 * logits Z, the noise logits U and the draws Eps; NULL where unused.
 */
typedef struct mmoe__gate_bufs {
    float *P, *Q, *Z, *U, *Eps;
} mmoe__gate_bufs;

/*
 * The gates of one layer side by side: gate i mixes n[i] experts in
 * columns col[i] .. col[i] + n[i] of rows of width ld (the sum of the
 * n[i]), with the fixed mask mask[i] (NULL: none). A gate block (below) is
 * G gates of n experts each; a CGC / PLE level has gates of different
 * widths, each with its own input. The logits are the caller's (its
 * GEMMs); from there on every gated kind runs the same code.
 */
typedef struct mmoe__gate_set {
    size_t G, ld;
    size_t n[MMOE_MAX_TASKS + 1], col[MMOE_MAX_TASKS + 1];
    const float *mask[MMOE_MAX_TASKS + 1];
} mmoe__gate_set;

/* Append a gate over n experts (mask NULL: none) to s (start from {0}). */
void mmoe__gate_set_add(mmoe__gate_set *s, size_t n, const float *mask);

/*
 * Where the clean logits z = W x + b go before mmoe__gate_set_forward:
 * f->Z in a noisy training forward (rng not NULL, gate.noise), else f->P.
 */
float *mmoe__gate_set_logits(const mmoe__gate *g, const uint64_t *rng, const mmoe__gate_bufs *f);

/*
 * Forward of a set on B rows from its logits (mmoe__gate_set_logits; in a
 * noisy training forward also f->U = W_noise x): masks, noise (training:
 * rng not NULL; the draws come from the stream *rng, which advances), the
 * kind. Returns the auxiliary loss of the batch (training with
 * gate.balance.*: the sum over the gates), else 0.
 */
double mmoe__gate_set_forward(const mmoe__gate_set *s, const mmoe__gate *g, size_t B, uint64_t *rng,
                              const mmoe__gate_bufs *f);

/*
 * Backward down to the logits: d->P holds dL/dp on entry and dL/dz on
 * return (the auxiliary loss's gradient included); with gate.noise d->U
 * receives dL/du (d->Z is scratch). f as left by the forward.
 */
void mmoe__gate_set_backward(const mmoe__gate_set *s, const mmoe__gate *g, size_t B,
                             const mmoe__gate_bufs *f, const mmoe__gate_bufs *d);

/*
 * A block of G gates over n experts each, all reading one input of width
 * in: one GEMM for their logits (MMoE, OMoE, each stacked MMoE level).
 * Parameters: W [G n, in] (prefix.K.weight), with gate priors' biases
 * b [G n] (prefix.K.bias), with gate.noise W_noise [G n, in]
 * (prefix.K.noise_weight). Buffers: rows of G n.
 */
typedef struct mmoe__gate_block {
    size_t G, n, in;
    size_t w_off, b_off, u_off;
    int biased;
} mmoe__gate_block;

/* Declare the block's parameters, named prefix.K.weight / .bias / .noise_weight. */
void mmoe__gate_block_declare(mmoe__gate_block *k, const mmoe__gate *g, mmoe__registry *r,
                              const char *prefix);

/* Weights from (seed, stream0 + gate), biases from the priors pr[0 .. G), noise weights 0. */
void mmoe__gate_block_init(const mmoe__gate_block *k, const mmoe__gate *g,
                           const mmoe__gate_prior *pr, float *params, uint64_t seed,
                           uint64_t stream0);

/*
 * Forward of the block on B rows of X: logits, priors, noise (training:
 * rng not NULL), the kind. Returns the auxiliary loss of the batch
 * (training with gate.balance.*), else 0.
 */
double mmoe__gate_block_forward(const mmoe__gate_block *k, const mmoe__gate *g,
                                const mmoe__gate_prior *pr, const float *params, size_t B,
                                const float *X, size_t ldx, uint64_t *rng,
                                const mmoe__gate_bufs *f);

/*
 * Backward: d->P holds dL/dp on entry (d->Z, d->U are scratch with
 * gate.noise); adds the parameters' gradients (the auxiliary loss's
 * included) into grads and dL/dX into dX (when not NULL).
 */
void mmoe__gate_block_backward(const mmoe__gate_block *k, const mmoe__gate *g, const float *params,
                               float *grads, size_t B, const float *X, size_t ldx,
                               const mmoe__gate_bufs *f, const mmoe__gate_bufs *d, float *dX,
                               size_t lddx);

/* Names of the kinds for the description ("softmax", ...); -1 / NULL when unknown. */
int mmoe__gate_kind_parse(const char *name);
const char *mmoe__gate_kind_name(int kind);

#endif
