/* He / Glorot initialisation from a seeded stream. */
#include <math.h>

#include "init.h"
#include "rng.h"

void mmoe__init_weights(float *W, size_t in, size_t out, mmoe_activation act, uint64_t seed,
                        uint64_t stream)
{
    mmoe__rng r;
    mmoe__rng_seed(&r, seed, stream);
    size_t n = in * out;
    if (act == MMOE_ACT_RELU) {
        double sd = sqrt(2.0 / (double)in);
        for (size_t i = 0; i < n; i++)
            W[i] = (float)(sd * mmoe__rng_normal(&r));
    } else {
        double lim = sqrt(6.0 / (double)(in + out));
        for (size_t i = 0; i < n; i++)
            W[i] = (float)(lim * (2.0 * mmoe__rng_uniform(&r) - 1.0));
    }
}
