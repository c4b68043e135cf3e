/*
 * Private cross-stitch bottom (Misra et al., 2016): one MLP per task, and
 * after every hidden layer l a learned T x T matrix A_l mixes the tasks'
 * activations unit by unit:
 *
 *     a_l^k = act(W_l^k m_{l-1}^k + b_l^k)        m_{-1}^k = x
 *     m_l^k = sum_j A_l[k][j] a_l^j                (the same A_l for all units)
 *     f_k   = m_{L-1}^k
 *
 * A_l starts as diag 0.9, off-diagonal 0.1 / (T - 1) (rows sum to 1; the
 * identity when T = 1).
 *
 * Parameters: cross_stitch.K.layers.L.weight [w_L, w_{L-1}], .bias [w_L],
 * cross_stitch.units.L [T, T]. Count: sum_l T (w_{l-1} w_l + w_l) + L T^2
 * with w_{-1} = input width.
 */
#ifndef MMOE_CROSS_STITCH_H
#define MMOE_CROSS_STITCH_H

#include <stddef.h>
#include <stdint.h>

#include "bottom.h"
#include "config_impl.h"
#include "params.h"
#include "pmlp.h"

/* Diagonal of the cross-stitch units at initialisation. */
#define MMOE__CS_INIT_DIAG 0.9f

typedef struct mmoe__cstitch {
    size_t in, n_tasks, h;
    mmoe__pmlp nets; /* T copies: parameter layout and initialisation only */
    size_t unit_off[MMOE_MAX_LAYERS];
} mmoe__cstitch;

/*
 * Forward buffers, per-row widths: for each layer l, A_l (activations,
 * [B, T*w_l], task k at column k*w_l) then M_l (mixed, same shape).
 * Backward buffers have the same shapes.
 */

extern const mmoe__bottom_ops mmoe__cross_stitch_ops;

#endif
