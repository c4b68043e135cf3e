/*
 * Private tensor-factorisation bottom (Yang & Hospedales, 2017): one MLP
 * per task whose hidden-layer weights are generated from a shared Tucker
 * factorisation. For layer l (input width n = w_{l-1}, output width
 * m = w_l, T tasks), the stacked weights W_l in R^{n x m x T} are
 *
 *     W_l[i][o][k] = sum_{a,b,c} G[a][b][c] U1[i][a] U2[o][b] U3[k][c]
 *
 * (core G [r1, r2, r3], U1 [n, r1], U2 [m, r2], U3 [T, r3]) with ranks
 * clipped per mode: r1 = min(n, r), r2 = min(m, r), r3 = min(T, r),
 * r = tf.rank. Task k's layer is a_l^k = act(W_l^k a_{l-1}^k + b_l^k) with
 * its own bias; f_k = a_{L-1}^k.
 *
 * The weights are never materialised: the forward contracts row by row,
 *     t = x U1 [r1];  u = t G [r2, r3];  s_k[b] = sum_c u[b][c] U3[k][c];
 *     y_k = s_k U2^T + b^k
 * so that it writes only into per-row buffers (predict stays read-only on
 * the model). Layer 0 computes t and u once for all tasks (they share x).
 *
 * Parameters of layer L: tensor_factor.layers.L.core [r1, r2*r3] (G[a][b][c]
 * at a*r2*r3 + b*r3 + c), .u_in [n, r1], .u_out [m, r2], .u_task [T, r3],
 * tensor_factor.K.layers.L.bias [m]. Count per layer:
 * n r1 + m r2 + T r3 + r1 r2 r3 + T m.
 */
#ifndef MMOE_TENSOR_FACTOR_H
#define MMOE_TENSOR_FACTOR_H

#include <stddef.h>
#include <stdint.h>

#include "bottom.h"
#include "config_impl.h"
#include "params.h"

typedef struct mmoe__tfact {
    size_t in, n_tasks, n_layers, h;
    size_t width[MMOE_MAX_LAYERS];
    mmoe_activation act;
    size_t r1[MMOE_MAX_LAYERS], r2[MMOE_MAX_LAYERS], r3[MMOE_MAX_LAYERS];
    size_t g_off[MMOE_MAX_LAYERS], u1_off[MMOE_MAX_LAYERS], u2_off[MMOE_MAX_LAYERS];
    size_t u3_off[MMOE_MAX_LAYERS], b_off[MMOE_MAX_LAYERS];
} mmoe__tfact;

/*
 * Forward buffers, per-row widths, for each layer l (Tl = 1 for l = 0,
 * else T): t_l [Tl*r1], u_l [Tl*r2*r3], s_l [T*r2], A_l [T*w_l] (task k's
 * activations at column k*w_l). Backward buffers have the same shapes.
 */

extern const mmoe__bottom_ops mmoe__tensor_factor_ops;

#endif
