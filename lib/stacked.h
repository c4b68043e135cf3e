/* Private stacked-MMoE bottom (arch stacked_mmoe): MMoE levels, each reading the
 * concatenation of the previous level's task outputs. See lib/stacked.c. */
#ifndef MMOE_STACKED_H
#define MMOE_STACKED_H

#include "bottom.h"

extern const mmoe__bottom_ops mmoe__stacked_mmoe_ops;

#endif
