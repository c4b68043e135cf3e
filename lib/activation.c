/* Activations: relu, sigmoid, tanh, identity; derivatives from the outputs. */
#include <math.h>
#include <string.h>

#include "activation.h"
#include "internal.h"

float mmoe__sigmoid(float z)
{
    if (z >= 0.0f)
        return 1.0f / (1.0f + expf(-z));
    float e = expf(z);
    return e / (1.0f + e);
}

/* ReLU over a block, built for each vector width (MMOE__VECTORIZED); NaN becomes 0 as below. */
MMOE__VECTORIZED static void relu_rows(size_t rows, size_t cols, float *A, size_t lda)
{
    for (size_t r = 0; r < rows; r++) {
        float *a = A + r * lda;
        for (size_t j = 0; j < cols; j++)
            a[j] = a[j] > 0.0f ? a[j] : 0.0f;
    }
}

void mmoe__act_forward(mmoe_activation act, size_t rows, size_t cols, float *A, size_t lda)
{
    if (act == MMOE_ACT_IDENTITY)
        return;
    if (act == MMOE_ACT_RELU) {
        relu_rows(rows, cols, A, lda);
        return;
    }
    for (size_t r = 0; r < rows; r++) {
        float *a = A + r * lda;
        switch (act) {
        case MMOE_ACT_RELU:
            for (size_t j = 0; j < cols; j++)
                a[j] = a[j] > 0.0f ? a[j] : 0.0f;
            break;
        case MMOE_ACT_SIGMOID:
            for (size_t j = 0; j < cols; j++)
                a[j] = mmoe__sigmoid(a[j]);
            break;
        case MMOE_ACT_TANH:
            for (size_t j = 0; j < cols; j++)
                a[j] = tanhf(a[j]);
            break;
        default:
            break;
        }
    }
}

/* relu' = [a > 0]; sigmoid' = a(1-a); tanh' = 1 - a^2; identity' = 1. */
void mmoe__act_backward(mmoe_activation act, size_t rows, size_t cols, const float *A, size_t lda,
                        float *dA, size_t ldd)
{
    if (act == MMOE_ACT_IDENTITY)
        return;
    for (size_t r = 0; r < rows; r++) {
        const float *a = A + r * lda;
        float *d = dA + r * ldd;
        switch (act) {
        case MMOE_ACT_RELU:
            for (size_t j = 0; j < cols; j++)
                d[j] = a[j] > 0.0f ? d[j] : 0.0f;
            break;
        case MMOE_ACT_SIGMOID:
            for (size_t j = 0; j < cols; j++)
                d[j] *= a[j] * (1.0f - a[j]);
            break;
        case MMOE_ACT_TANH:
            for (size_t j = 0; j < cols; j++)
                d[j] *= 1.0f - a[j] * a[j];
            break;
        default:
            break;
        }
    }
}

void mmoe__bias_act_forward_ref(mmoe_activation act, size_t rows, size_t cols, const float *b,
                                float *A, size_t lda)
{
    for (size_t r = 0; r < rows; r++) {
        for (size_t j = 0; j < cols; j++) {
            float v = A[r * lda + j] + (b ? b[j] : 0.0f);
            if (act == MMOE_ACT_RELU)
                v = v > 0.0f ? v : 0.0f;
            else if (act == MMOE_ACT_SIGMOID)
                v = mmoe__sigmoid(v);
            else if (act == MMOE_ACT_TANH)
                v = tanhf(v);
            A[r * lda + j] = v;
        }
    }
}

/*
 * Fused backward pass: dA *= f'(A) in place and, when db is not NULL,
 * db[j] += sum over rows of the result (the bias gradient).
 */
MMOE__VECTORIZED static void act_bias_backward_impl(mmoe_activation act, size_t rows, size_t cols,
                                                    const float *A, size_t lda, float *dA,
                                                    size_t ldd, float *db)
{
    if (!db) {
        mmoe__act_backward(act, rows, cols, A, lda, dA, ldd);
        return;
    }
    for (size_t r = 0; r < rows; r++) {
        const float *restrict a = A + r * lda;
        float *restrict d = dA + r * ldd;
        switch (act) {
        case MMOE_ACT_RELU:
            for (size_t j = 0; j < cols; j++) {
                float v = a[j] > 0.0f ? d[j] : 0.0f;
                d[j] = v;
                db[j] += v;
            }
            break;
        case MMOE_ACT_SIGMOID:
            for (size_t j = 0; j < cols; j++) {
                float v = d[j] * (a[j] * (1.0f - a[j]));
                d[j] = v;
                db[j] += v;
            }
            break;
        case MMOE_ACT_TANH:
            for (size_t j = 0; j < cols; j++) {
                float v = d[j] * (1.0f - a[j] * a[j]);
                d[j] = v;
                db[j] += v;
            }
            break;
        default:
            for (size_t j = 0; j < cols; j++)
                db[j] += d[j];
            break;
        }
    }
}

/*
 * Entry point: a target_clones function with external linkage is exported
 * through its ifunc symbol whatever its visibility, so the clones are static
 * and this plain (hidden) function calls them.
 */
void mmoe__act_bias_backward(mmoe_activation act, size_t rows, size_t cols, const float *A,
                             size_t lda, float *dA, size_t ldd, float *db)
{
    act_bias_backward_impl(act, rows, cols, A, lda, dA, ldd, db);
}

void mmoe__act_bias_backward_ref(mmoe_activation act, size_t rows, size_t cols, const float *A,
                                 size_t lda, float *dA, size_t ldd, float *db)
{
    for (size_t r = 0; r < rows; r++) {
        for (size_t j = 0; j < cols; j++) {
            float a = A[r * lda + j], d = dA[r * ldd + j];
            if (act == MMOE_ACT_RELU)
                d = a > 0.0f ? d : 0.0f;
            else if (act == MMOE_ACT_SIGMOID)
                d *= a * (1.0f - a);
            else if (act == MMOE_ACT_TANH)
                d *= 1.0f - a * a;
            dA[r * ldd + j] = d;
        }
    }
    if (db)
        for (size_t r = 0; r < rows; r++)
            for (size_t j = 0; j < cols; j++)
                db[j] += dA[r * ldd + j];
}

static const char *const act_names[] = {"identity", "relu", "sigmoid", "tanh"};

int mmoe__act_valid(int act)
{
    return act >= 0 && act <= MMOE_ACT_TANH;
}

const char *mmoe__act_name(mmoe_activation act)
{
    return mmoe__act_valid((int)act) ? act_names[act] : NULL;
}

int mmoe__act_parse(const char *s)
{
    for (int i = 0; i <= MMOE_ACT_TANH; i++)
        if (strcmp(s, act_names[i]) == 0)
            return i;
    return -1;
}
