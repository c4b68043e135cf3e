/* Private elementwise activation kernels over [rows, cols] blocks with a leading dimension. */
#ifndef MMOE_ACTIVATION_H
#define MMOE_ACTIVATION_H

#include <stddef.h>

#include "mmoe/layer.h"

/* A = f(A) in place. */
void mmoe__act_forward(mmoe_activation act, size_t rows, size_t cols, float *A, size_t lda);

/* dA *= f'(.) expressed through the activation's output A (in place). */
void mmoe__act_backward(mmoe_activation act, size_t rows, size_t cols, const float *A, size_t lda,
                        float *dA, size_t ldd);

/* Reference for the dense kernels' tests: A = f(A + b) (b may be NULL). */
void mmoe__bias_act_forward_ref(mmoe_activation act, size_t rows, size_t cols, const float *b,
                                float *A, size_t lda);

/* dA *= f'(A) in place and, if db is not NULL, db += column sums of the result. */
void mmoe__act_bias_backward(mmoe_activation act, size_t rows, size_t cols, const float *A,
                             size_t lda, float *dA, size_t ldd, float *db);
void mmoe__act_bias_backward_ref(mmoe_activation act, size_t rows, size_t cols, const float *A,
                                 size_t lda, float *dA, size_t ldd, float *db);

/* Nonzero for a known activation value. */
int mmoe__act_valid(int act);

/* "relu" etc.; NULL for unknown. */
const char *mmoe__act_name(mmoe_activation act);

/* Parse a name; returns -1 when unknown. */
int mmoe__act_parse(const char *s);

/* Numerically stable logistic function. */
float mmoe__sigmoid(float z);

#endif
