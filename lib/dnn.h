/*
 * Private DNN kernel: a stack of layers, each
 *
 *   a = x W^T + b                               W: [width, in], b: [width]
 *   a = gamma * (a - mu) / sqrt(var + eps) + beta     (batch-norm, optional)
 *   h = act(a)
 *   y = h * mask                                (dropout, training only)
 *
 * Batch-norm: in training mu/var are the batch mean and (biased) variance
 * of each feature, and the running statistics move towards them,
 *   running_mean = 0.99 * running_mean + 0.01 * mu
 *   running_var  = 0.99 * running_var  + 0.01 * var * B / (B - 1)
 * (the unbiased batch variance; var itself when B == 1). In inference the
 * running statistics are used and nothing is written. eps = 1e-5.
 * With a reducer (mmoe_model_set_reducer) the batch is the union of all
 * replicas' batches: mu, var and B are global (synchronised batch-norm),
 * and backward's two column sums are reduced too (see dnn.c).
 * Running statistics start at mean 0, variance 1; gamma at 1, beta at 0.
 *
 * Dropout (inverted): in training each unit is kept with probability
 * 1 - p and then scaled by 1 / (1 - p), so inference (no dropout) needs
 * no rescaling. Masks are drawn from a stream seeded by *rng, which
 * advances once per training forward.
 *
 * Parameters "<prefix>.L.weight/bias" and, with batch-norm,
 * "<prefix>.L.bn.gamma/beta"; statistics "<prefix>.L.bn.running_mean/var".
 */
#ifndef MMOE_DNN_H
#define MMOE_DNN_H

#include <stddef.h>
#include <stdint.h>

#include "mmoe/layer.h"
#include "params.h"
#include "replica.h"

#define MMOE__DNN_BUFS_PER_LAYER 5

typedef struct mmoe__dnn {
    size_t in;
    size_t n_layers; /* 1..MMOE_MAX_LAYERS */
    size_t width[MMOE_MAX_LAYERS];
    mmoe_activation act;
    int bn;
    double dropout; /* in [0, 1) */
    /* parameter offsets */
    size_t w_off[MMOE_MAX_LAYERS], b_off[MMOE_MAX_LAYERS];
    size_t g_off[MMOE_MAX_LAYERS], be_off[MMOE_MAX_LAYERS];
    /* statistics offsets */
    size_t mean_off[MMOE_MAX_LAYERS], var_off[MMOE_MAX_LAYERS];
    /* buffer indices: dense output, normalised, activation, mask, dropout output */
    size_t iA[MMOE_MAX_LAYERS], iXH[MMOE_MAX_LAYERS], iH[MMOE_MAX_LAYERS];
    size_t iM[MMOE_MAX_LAYERS], iO[MMOE_MAX_LAYERS];
    size_t n_bufs;
    /* Batch-norm scratch of training passes (mmoe__dnn_alloc): column sums
     * [2 * max width + 1], 1/sqrt(var + eps) of every column of the last
     * training forward [sum of widths], that forward's rows over all
     * replicas; and the model's reducer (may be NULL). */
    double *acc;
    float *inv;
    double *total;
    mmoe__reducer *red;
} mmoe__dnn;

/* Allocate the batch-norm scratch (no-op without batch-norm). MMOE_ERR_NOMEM. */
mmoe_status mmoe__dnn_alloc(mmoe__dnn *d);
void mmoe__dnn_free(mmoe__dnn *d);

/* Reserve parameters (and statistics when batch-norm is on) and plan the buffers. */
void mmoe__dnn_declare(mmoe__dnn *d, mmoe__registry *params, mmoe__registry *stats,
                       const char *prefix);
void mmoe__dnn_init(const mmoe__dnn *d, float *params, float *stats, uint64_t seed,
                    uint64_t stream);

/* Per-row widths of the forward buffers; returns their count. */
size_t mmoe__dnn_buffers(const mmoe__dnn *d, size_t *widths);

static inline size_t mmoe__dnn_out(const mmoe__dnn *d)
{
    return d->width[d->n_layers - 1];
}

/*
 * Forward of B rows of X (ldx); returns the output (ld mmoe__dnn_out).
 * Training when update is not NULL: batch statistics, running statistics
 * updated in update (the same buffer as stats), dropout from *rng (seed 0
 * when rng is NULL). Inference when update is NULL: the running statistics
 * are only read (the types say so), rng unused.
 */
const float *mmoe__dnn_forward(const mmoe__dnn *d, const float *params, const float *stats,
                               float *update, size_t B, const float *X, size_t ldx, uint64_t *rng,
                               float *const *fb);

/*
 * Backward of a training forward from dOut [B, out] (ldd; may be the bb
 * buffer of the output itself, ldd out). Uses bb (shaped
 * like fb) as scratch, ADDS parameter gradients into grads and, if dX is
 * not NULL, writes (overwrites) dL/dX into it (lddx).
 */
void mmoe__dnn_backward(const mmoe__dnn *d, const float *params, float *grads, size_t B,
                        const float *X, size_t ldx, float *const *fb, float *const *bb,
                        const float *dOut, size_t ldd, float *dX, size_t lddx);

#endif
