/* Activations: relu, sigmoid, tanh, identity; derivatives from the outputs. */
#include <math.h>
#include <string.h>

#include "activation.h"

float mmoe__sigmoid(float z)
{
    if (z >= 0.0f)
        return 1.0f / (1.0f + expf(-z));
    float e = expf(z);
    return e / (1.0f + e);
}

void mmoe__act_forward(mmoe_activation act, size_t rows, size_t cols, float *A, size_t lda)
{
    if (act == MMOE_ACT_IDENTITY)
        return;
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
