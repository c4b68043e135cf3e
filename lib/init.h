/* Private weight initialisation. */
#ifndef MMOE_INIT_H
#define MMOE_INIT_H

#include <stddef.h>
#include <stdint.h>

#include "mmoe/layer.h"

/*
 * Fill W[out, in] for a layer feeding `act`: He-normal (std sqrt(2/in)) for
 * relu, Glorot-uniform (limit sqrt(6/(in+out))) otherwise. Deterministic for
 * (seed, stream).
 */
void mmoe__init_weights(float *W, size_t in, size_t out, mmoe_activation act, uint64_t seed,
                        uint64_t stream);

#endif
