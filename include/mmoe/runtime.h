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
 * Set how many threads libmmoe uses inside each call (training steps,
 * forward, backward, optimizer steps and batched predict), the calling
 * thread included.
 *
 * Until this is first called, libmmoe starts no threads and the BLAS runs
 * as its own defaults say (OpenBLAS: its own thread pool, one thread per
 * core). From the first call on, libmmoe is the one owner of threads: the
 * BLAS is set to one thread, and libmmoe's pool of n - 1 worker threads
 * (started here; n == 1 stops them) splits large matrix products into
 * blocks of rows or columns, the experts of a layer, the element-wise
 * passes and the optimizer's update among the n threads. Small work runs
 * on the calling thread alone, so batch-1 predict does not pay for waking
 * threads. Results are bit-identical for every n: each output element is
 * computed by exactly one thread in the same order as with one thread.
 * Idle workers poll for about 0.1 ms and then sleep; they use no CPU
 * between calls.
 *
 * Serving: when many host threads call mmoe_model_predict, set n to 1 so
 * that only the callers' threads run. With n > 1 a call that finds the
 * pool busy with another host thread's call runs on its own thread (it
 * never waits for the pool), so concurrent callers stay correct.
 *
 * @param n  1 to 256
 * @return MMOE_OK; MMOE_ERR_INVALID_ARG (n < 1 or n > 256; nothing
 *         changes); MMOE_ERR_NOMEM or MMOE_ERR_INTERNAL (a worker thread
 *         could not be started; the pool keeps the threads it started and
 *         the message says how many).
 * Thread safety: process-wide; call it while no other thread is inside a
 * libmmoe call (it waits for a running call's parallel part to finish, but
 * is meant to be called at start-up).
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
