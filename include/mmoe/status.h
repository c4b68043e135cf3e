/*
 * libmmoe - status codes.
 *
 * Every fallible public function returns an mmoe_status. MMOE_OK is zero;
 * failures are negative. The numbers are stable: a code is never renumbered
 * or reused, and new codes are only appended.
 *
 * Besides the code, each handle (tensor, layer, model, optimizer, workspace)
 * keeps a detailed, human-readable message about the last failure on it; see
 * the *_last_error() function of each handle type.
 */
#ifndef MMOE_STATUS_H
#define MMOE_STATUS_H

#include "mmoe/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * X-macro list: X(name, value, message). The enum, mmoe_status_name() and
 * mmoe_status_string() are all generated from this one list.
 */
#define MMOE_STATUS_LIST(X)                                                                        \
    X(MMOE_OK, 0, "success")                                                                       \
    X(MMOE_ERR_INVALID_ARG, -1, "invalid argument")                                                \
    X(MMOE_ERR_NULL, -2, "NULL pointer where a value is required")                                 \
    X(MMOE_ERR_SHAPE, -3, "shape mismatch")                                                        \
    X(MMOE_ERR_NOMEM, -4, "out of memory")                                                         \
    X(MMOE_ERR_OVERFLOW, -5, "size too large (arithmetic overflow)")                               \
    X(MMOE_ERR_NONFINITE, -6, "non-finite value (NaN or infinity)")                                \
    X(MMOE_ERR_STATE, -7, "call out of order for the object's state")                              \
    X(MMOE_ERR_RANGE, -8, "index or value out of range")                                           \
    X(MMOE_ERR_UNSUPPORTED, -9, "not supported by this build or object")                           \
    X(MMOE_ERR_IO, -10, "input/output error")                                                      \
    X(MMOE_ERR_FORMAT, -11, "malformed or corrupt data")                                           \
    X(MMOE_ERR_VERSION, -12, "unsupported format version")                                         \
    X(MMOE_ERR_CONFIG, -13, "invalid model configuration")                                         \
    X(MMOE_ERR_INTERNAL, -14, "internal error")

/** Result of every fallible libmmoe call. */
typedef enum mmoe_status {
#define MMOE_STATUS_ENUM_(name, value, msg) name = value,
    MMOE_STATUS_LIST(MMOE_STATUS_ENUM_)
#undef MMOE_STATUS_ENUM_
} mmoe_status;

/**
 * Static English description of a status ("shape mismatch").
 * Any value is accepted; unknown values give "unknown status".
 * Never allocates; never returns NULL. Thread safety: safe from any thread.
 */
MMOE_API const char *mmoe_status_string(mmoe_status status);

/**
 * Static name of a status ("MMOE_ERR_SHAPE"), or "MMOE_UNKNOWN".
 * Never allocates; never returns NULL. Thread safety: safe from any thread.
 */
MMOE_API const char *mmoe_status_name(mmoe_status status);

/**
 * Detailed message of the most recent failure of any libmmoe call made on
 * the calling thread ("mmoe_model_create: task 1: tower width 0 ..."), or
 * "" if none failed yet. Use it after a constructor or loader fails, when
 * there is no handle to ask. The text is valid until the next failing
 * libmmoe call on the same thread; do not free it.
 * Thread safety: per-thread storage; safe from any thread.
 */
MMOE_API const char *mmoe_last_error(void);

#ifdef __cplusplus
}
#endif

#endif /* MMOE_STATUS_H */
