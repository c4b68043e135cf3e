/*
 * libmmoe-synth - synthetic multi-task regression data with a controllable
 * task correlation, after the synthetic benchmark of the MMoE paper (Ma et
 * al., "Modeling Task Relationships in Multi-task Learning with Multi-gate
 * Mixture-of-Experts", KDD 2018, section 3.2).
 *
 * This is a separate library (libmmoe-synth, pkg-config name
 * "libmmoe-synth") built on the public libmmoe API only.
 *
 * Construction, for T tasks in d input dimensions:
 *
 *   1. Draw T Gaussian vectors in R^d and orthonormalise them
 *      (Gram-Schmidt): u_1 .. u_T. Requires d >= T.
 *   2. Let R be the T x T matrix with 1 on the diagonal and p elsewhere, and
 *      L its (lower) Cholesky factor. The task weight vectors are
 *
 *          w_i = c * sum_j L_ij u_j          i = 1..T
 *
 *      so |w_i| = c and every pair has cosine p. For T = 2 this is exactly
 *      the paper's w_1 = c u_1, w_2 = c (p u_1 + sqrt(1 - p^2) u_2).
 *      R is positive semidefinite only when p >= -1/(T-1), which is
 *      therefore required (for T = 2 that is p >= -1).
 *   3. Draw alpha_j, beta_j ~ N(0, 1) for j = 1..m (or take them from the
 *      caller, see mmoe_synth_config_set_sin_params).
 *   4. Each sample: x ~ N(0, I_d) and, for every task i,
 *
 *          y_i = w_i^T x + sum_{j=1..m} sin(alpha_j w_i^T x + beta_j) + eps_i,
 *          eps_i ~ N(0, sigma^2).
 *
 * The paper leaves several constants open (it fixes neither c, m, the
 * noise level nor the input width for every experiment). Our defaults:
 *
 *     d (input.dim)       100
 *     T (tasks)           2
 *     c (scale)           1
 *     p (correlation)     0
 *     m (sin terms)       10
 *     sigma (noise)       0.1
 *     seed                1
 *
 * Randomness: one seed drives three independent streams (splitmix64-seeded
 * xoshiro256**, Gaussians by Marsaglia's polar method): one for the unit
 * vectors, one for alpha/beta, one for the samples. Hence, for a fixed
 * seed, changing p, c, sigma or alpha/beta does not change the unit
 * vectors or the inputs x, which makes runs at different correlations
 * directly comparable. All arithmetic is done in double precision;
 * outputs are rounded to float only when stored. Output is a pure function
 * of (configuration, seed, position in the stream); it is bitwise
 * reproducible on one platform, and across platforms as far as their C
 * libraries' log/sin agree.
 *
 * Error handling: every fallible call returns an mmoe_status (mmoe/status.h)
 * and, on failure, changes nothing and records a message on the handle
 * involved (mmoe_synth_config_last_error, mmoe_synth_last_error) and in a
 * per-thread buffer (mmoe_synth_thread_last_error) - the place to look
 * when mmoe_synth_create fails. Successful calls on a handle clear its
 * message. Nothing here aborts, exits or prints.
 *
 * Thread safety: handles are not synchronised. Distinct handles may be
 * used from distinct threads freely; calls on one handle must not overlap
 * with a call that modifies it (setters, generate, reset) or that may fail
 * (a failure writes the handle's message).
 */
#ifndef MMOE_SYNTH_H
#define MMOE_SYNTH_H

#include <stddef.h>
#include <stdint.h>

#include "mmoe/export.h"
#include "mmoe/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Largest input width accepted (2^24). */
#define MMOE_SYNTH_MAX_DIM ((size_t)1 << 24)

/** Largest number of tasks accepted. */
#define MMOE_SYNTH_MAX_TASKS ((size_t)1024)

/** Largest number of sin terms accepted. */
#define MMOE_SYNTH_MAX_SIN_TERMS ((size_t)65536)

/** Largest scale c and noise sigma accepted. */
#define MMOE_SYNTH_MAX_SCALE 1e6

/** Largest |alpha_j|, |beta_j| accepted by mmoe_synth_config_set_sin_params. */
#define MMOE_SYNTH_MAX_SIN_PARAM 1e6

/** Most floats (n*d or n*T) one mmoe_synth_generate call may write (2^40). */
#define MMOE_SYNTH_MAX_ELEMS ((size_t)1 << 40)

/** Opaque description of a generator (parameters and seed). */
typedef struct mmoe_synth_config mmoe_synth_config;

/** Opaque generator: fixed weight vectors, sin parameters and a sample stream. */
typedef struct mmoe_synth mmoe_synth;

/* ------------------------------------------------------------------------ */
/* Configuration                                                             */
/* ------------------------------------------------------------------------ */

/**
 * Create a configuration with every parameter at its default (see above).
 * @return MMOE_OK; MMOE_ERR_NULL (out NULL); MMOE_ERR_NOMEM. *out is NULL
 *         on failure.
 * Ownership: the caller frees it with mmoe_synth_config_free.
 */
MMOE_API mmoe_status mmoe_synth_config_create(mmoe_synth_config **out);

/** Free a configuration. NULL is a no-op. Generators made from it stay valid. */
MMOE_API void mmoe_synth_config_free(mmoe_synth_config *cfg);

/**
 * Input width d, 1..MMOE_SYNTH_MAX_DIM. mmoe_synth_create also requires d >= T.
 * @return MMOE_OK; MMOE_ERR_NULL; MMOE_ERR_RANGE.
 */
MMOE_API mmoe_status mmoe_synth_config_set_dim(mmoe_synth_config *cfg, size_t d);

/**
 * Number of tasks T, 1..MMOE_SYNTH_MAX_TASKS. With T = 1 the correlation
 * is irrelevant.
 * @return MMOE_OK; MMOE_ERR_NULL; MMOE_ERR_RANGE.
 */
MMOE_API mmoe_status mmoe_synth_config_set_tasks(mmoe_synth_config *cfg, size_t tasks);

/**
 * Scale c = |w_i|, in (0, MMOE_SYNTH_MAX_SCALE].
 * @return MMOE_OK; MMOE_ERR_NULL; MMOE_ERR_NONFINITE (NaN, infinity);
 *         MMOE_ERR_RANGE.
 */
MMOE_API mmoe_status mmoe_synth_config_set_scale(mmoe_synth_config *cfg, double c);

/**
 * Pairwise cosine p of the weight vectors, in [-1, 1]. mmoe_synth_create
 * additionally requires p >= -1/(T-1) when T > 2 (see above).
 * @return MMOE_OK; MMOE_ERR_NULL; MMOE_ERR_NONFINITE; MMOE_ERR_RANGE.
 */
MMOE_API mmoe_status mmoe_synth_config_set_correlation(mmoe_synth_config *cfg, double p);

/**
 * Number m of sin terms, 0..MMOE_SYNTH_MAX_SIN_TERMS (0: purely linear
 * labels). Also discards explicit alpha/beta set earlier: they are drawn
 * from the seed again.
 * @return MMOE_OK; MMOE_ERR_NULL; MMOE_ERR_RANGE.
 */
MMOE_API mmoe_status mmoe_synth_config_set_sin_terms(mmoe_synth_config *cfg, size_t m);

/**
 * Set m and the sin parameters explicitly instead of drawing them.
 * @param m      number of terms, 0..MMOE_SYNTH_MAX_SIN_TERMS
 * @param alpha  m finite values, |alpha_j| <= MMOE_SYNTH_MAX_SIN_PARAM
 *               (may be NULL only when m is 0)
 * @param beta   likewise
 * @return MMOE_OK; MMOE_ERR_NULL; MMOE_ERR_NONFINITE; MMOE_ERR_RANGE;
 *         MMOE_ERR_NOMEM. The values are copied.
 */
MMOE_API mmoe_status mmoe_synth_config_set_sin_params(mmoe_synth_config *cfg, size_t m,
                                                      const double *alpha, const double *beta);

/**
 * Standard deviation sigma of the label noise, in [0, MMOE_SYNTH_MAX_SCALE].
 * @return MMOE_OK; MMOE_ERR_NULL; MMOE_ERR_NONFINITE; MMOE_ERR_RANGE.
 */
MMOE_API mmoe_status mmoe_synth_config_set_noise(mmoe_synth_config *cfg, double sigma);

/** Seed (any value). @return MMOE_OK; MMOE_ERR_NULL. */
MMOE_API mmoe_status mmoe_synth_config_set_seed(mmoe_synth_config *cfg, uint64_t seed);

/** Message of the last failure on cfg ("" if none, or for NULL). Owned by cfg. */
MMOE_API const char *mmoe_synth_config_last_error(const mmoe_synth_config *cfg);

/* ------------------------------------------------------------------------ */
/* Generator                                                                 */
/* ------------------------------------------------------------------------ */

/**
 * Build a generator from a configuration: draws the unit vectors, the
 * weight vectors and (unless given) alpha/beta, and positions the sample
 * stream at its start.
 * @return MMOE_OK; MMOE_ERR_NULL; MMOE_ERR_INVALID_ARG (d < T);
 *         MMOE_ERR_RANGE (T > 2 and p < -1/(T-1)); MMOE_ERR_OVERFLOW;
 *         MMOE_ERR_NOMEM. *out is NULL on failure and the reason is in
 *         mmoe_synth_thread_last_error().
 * Ownership: cfg is only read (the caller keeps it); the caller frees the
 * generator with mmoe_synth_free.
 */
MMOE_API mmoe_status mmoe_synth_create(const mmoe_synth_config *cfg, mmoe_synth **out);

/** Free a generator. NULL is a no-op. */
MMOE_API void mmoe_synth_free(mmoe_synth *gen);

/** Input width d (0 for NULL). */
MMOE_API size_t mmoe_synth_dim(const mmoe_synth *gen);

/** Number of tasks T (0 for NULL). */
MMOE_API size_t mmoe_synth_num_tasks(const mmoe_synth *gen);

/** Number of sin terms m (0 for NULL). */
MMOE_API size_t mmoe_synth_sin_terms(const mmoe_synth *gen);

/**
 * Draw the next n samples of the generator's stream. Consecutive calls
 * continue the stream: generating 10 then 20 samples gives the same data
 * as generating 30 at once.
 * @param n  samples; 0 is a no-op (x and y may then be NULL)
 * @param x  [n, d] row-major, written with the inputs
 * @param y  [n, T] row-major, written with the labels
 * @return MMOE_OK; MMOE_ERR_NULL; MMOE_ERR_OVERFLOW (n*d or n*T above
 *         MMOE_SYNTH_MAX_ELEMS). On failure nothing is written and the
 *         stream does not move.
 */
MMOE_API mmoe_status mmoe_synth_generate(mmoe_synth *gen, size_t n, float *x, float *y);

/** Rewind the sample stream to its start. @return MMOE_OK; MMOE_ERR_NULL. */
MMOE_API mmoe_status mmoe_synth_reset(mmoe_synth *gen);

/**
 * Copy the weight vector w_task (d doubles) into w.
 * @param cap  doubles available in w (>= d)
 * @return MMOE_OK; MMOE_ERR_NULL; MMOE_ERR_RANGE (task >= T or cap < d).
 */
MMOE_API mmoe_status mmoe_synth_weights(mmoe_synth *gen, size_t task, double *w, size_t cap);

/**
 * Copy alpha_1..alpha_m and beta_1..beta_m into alpha and beta (either
 * may be NULL to skip it).
 * @param cap  doubles available in each non-NULL array (>= m)
 * @return MMOE_OK; MMOE_ERR_NULL (gen NULL); MMOE_ERR_RANGE (cap < m).
 */
MMOE_API mmoe_status mmoe_synth_sin_params(mmoe_synth *gen, double *alpha, double *beta,
                                           size_t cap);

/** Message of the last failure on gen ("" if none, or for NULL). Owned by gen. */
MMOE_API const char *mmoe_synth_last_error(const mmoe_synth *gen);

/**
 * Message of the most recent failure of any libmmoe-synth call on the
 * calling thread ("" if none). Valid until the next failing synth call on
 * this thread; do not free it. Thread safety: per-thread storage.
 */
MMOE_API const char *mmoe_synth_thread_last_error(void);

#ifdef __cplusplus
}
#endif

#endif /* MMOE_SYNTH_H */
