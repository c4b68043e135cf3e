/*
 * Private PLE / CGC bottom (Tang et al., RecSys 2020): per level, shared
 * experts and each task's own experts; task k's gate mixes its own and the
 * shared experts, a shared gate (below the top level) mixes all of them
 * for the next level's shared experts. CGC is one level. See lib/ple.c and
 * docs/models.md.
 */
#ifndef MMOE_PLE_H
#define MMOE_PLE_H

#include "bottom.h"

extern const mmoe__bottom_ops mmoe__cgc_ops;
extern const mmoe__bottom_ops mmoe__ple_ops;

#endif
