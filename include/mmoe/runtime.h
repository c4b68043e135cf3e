/*
 * libmmoe - process-wide runtime settings.
 */
#ifndef MMOE_RUNTIME_H
#define MMOE_RUNTIME_H

#include "mmoe/export.h"
#include "mmoe/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Set how many threads the BLAS library uses inside each matrix product.
 * libmmoe itself starts no threads. In a serving process where many
 * threads call mmoe_model_predict, set this to 1 so that only the caller's
 * threads run (one owner of threads, never two pools spinning at once).
 * @param n  >= 1
 * @return MMOE_OK; MMOE_ERR_INVALID_ARG (n < 1); MMOE_ERR_UNSUPPORTED (the
 *         BLAS this library was built with has no thread control; it then
 *         runs single-threaded or as its own environment variables say).
 * Thread safety: process-wide; call before starting worker threads.
 */
MMOE_API mmoe_status mmoe_set_num_threads(int n);

/** Name of the BLAS provider this library was built against ("openblas", "blas", ...). */
MMOE_API const char *mmoe_blas_name(void);

#ifdef __cplusplus
}
#endif

#endif /* MMOE_RUNTIME_H */
