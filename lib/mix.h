/*
 * Private gate maths shared by every gated bottom (and the standalone gate
 * layer): the softmax over experts and the mixing of expert outputs, with
 * their backward passes. The library's only softmax.
 */
#ifndef MMOE_MIX_H
#define MMOE_MIX_H

#include <stddef.h>

/*
 * Softmax in place over `rows` rows of n values (row i at p + i * ld),
 * stabilised by the row maximum; sums in float.
 */
void mmoe__softmax_rows(size_t rows, size_t n, float *p, size_t ld);

/* The same with expf from the C library (the reference the tests compare with). */
void mmoe__softmax_rows_ref(size_t rows, size_t n, float *p, size_t ld);

/*
 * Softmax backward in place: d <- p * (d - <p, d>) on every row (P the
 * softmax outputs, D the gradient with respect to them on entry and with
 * respect to the logits on return).
 */
void mmoe__softmax_backward_rows(size_t rows, size_t n, const float *P, size_t ldp, float *D,
                                 size_t ldd);

/*
 * Mixing of one row: f[0..h) += sum_{j<n} p[j] * H[j*h .. j*h+h)
 * (H holds n expert outputs of width h side by side).
 */
void mmoe__mix_forward(size_t n, size_t h, const float *p, const float *H, float *f);

/*
 * The mixing of `rows` rows for T tasks in one call, each output row
 * cleared first: F[r, k, :] = sum_{j<n} P[r*ldp + k*pk + j] * H[r*ldh + j*h ..]
 * (pk = n: task k's own gate; pk = 0: one gate for every task). The same
 * operations in the same order as mmoe__mix_forward on a cleared row.
 */
void mmoe__mix_forward_rows(size_t rows, size_t T, size_t n, size_t h, const float *P, size_t ldp,
                            size_t pk, const float *H, size_t ldh, float *F, size_t ldf);

/*
 * Backward of mmoe__mix_forward for one row, given df = dL/df:
 *   dH[j] += p[j] * df      dp[j] += <df, H[j]>
 */
void mmoe__mix_backward(size_t n, size_t h, const float *p, const float *H, const float *df,
                        float *dH, float *dp);

/*
 * Backward of mmoe__mix_forward_rows, writing (not adding to) the rows of
 * dH ([rows, n*h], leading dimension ldh as H) and of dP (the gate rows,
 * leading dimension ldp as P): the same operations in the same order as
 * mmoe__mix_backward over the tasks on cleared rows.
 */
void mmoe__mix_backward_rows(size_t rows, size_t T, size_t n, size_t h, const float *P, size_t ldp,
                             size_t pk, const float *H, size_t ldh, const float *dF, size_t lddf,
                             float *dH, float *dP);

#endif
