/*
 * The models of the compatibility fixtures (tests/compat): their
 * descriptions and the fixed data they are trained and checked on. Shared
 * by make_compat (which wrote the committed files) and test_compat.
 */
#ifndef COMPAT_CASES_H
#define COMPAT_CASES_H

#include <stddef.h>
#include <stdint.h>

#include <mmoe/mmoe.h>

#define COMPAT_B 5      /* rows of the fixed batch */
#define COMPAT_MAX_T 3  /* most tasks of a case */
#define COMPAT_MAX_IN 8 /* widest dense input */
#define COMPAT_MAX_IDS 3
#define COMPAT_STEPS 3 /* Adam steps before saving */

typedef struct compat_case {
    const char *name; /* file stem */
    const char *arch;
    int input_stage; /* sparse features, CrossNet and a DNN (no batch norm: every
                        value of the model is a trainable parameter) */
} compat_case;

extern const compat_case compat_cases[];
extern const size_t COMPAT_N_CASES;

/* Fixed inputs, ids, labels and sample weights of a model's batch. */
typedef struct compat_data {
    size_t in, n_ids, T;
    float x[COMPAT_B * COMPAT_MAX_IN];
    int64_t ids[COMPAT_B * COMPAT_MAX_IDS];
    float y[COMPAT_B * COMPAT_MAX_T];
    float w[COMPAT_B];
} compat_data;

/* The description of a case (caller frees). */
mmoe_status compat_config(const compat_case *cc, mmoe_config **out);

/* The batch for model m. */
void compat_fill(const mmoe_model *m, compat_data *d);

#endif
