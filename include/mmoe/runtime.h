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

/**
 * The CPU kernel family the BLAS picked at run time, as the BLAS names it
 * (OpenBLAS: "Haswell", "SkylakeX", "Prescott", ...), or "" when the BLAS
 * does not say.
 *
 * OpenBLAS built with DYNAMIC_ARCH (as Debian ships it) chooses its kernels
 * from the CPU model when it loads; a CPU newer than the OpenBLAS release
 * can fall back to an old, generic family ("Prescott": SSE3 kernels, about
 * a quarter of the speed of the AVX-512 ones). The environment variable
 * OPENBLAS_CORETYPE (e.g. OPENBLAS_CORETYPE=SkylakeX or Haswell), set
 * before the process starts, overrides the choice; docs/performance.md
 * explains how to check and what it changes.
 * @return a static string; never NULL.
 * Thread safety: safe from any thread.
 */
MMOE_API const char *mmoe_blas_core(void);

/**
 * Nonzero when the BLAS runs generic kernels although the CPU supports
 * wider vector instructions (AVX2 or AVX-512): the mismatch described at
 * mmoe_blas_core, worth fixing with OPENBLAS_CORETYPE. 0 when the kernels
 * match the CPU, on other CPUs, or when the BLAS does not say.
 * Thread safety: safe from any thread.
 */
MMOE_API int mmoe_blas_core_is_generic(void);

#ifdef __cplusplus
}
#endif

#endif /* MMOE_RUNTIME_H */
