/*
 * libmmoe - version numbers.
 *
 * The numbers below are the single source of truth: the build reads them to
 * set the shared library's version and SONAME (libmmoe.so.MAJOR).
 *
 * Compatibility policy: binaries built against MAJOR.x keep working with any
 * later MAJOR.y library. A minor release may add functions, enum values at
 * the end of an enum, status codes and configuration keys; it never changes
 * or removes an existing one. Anything else bumps MAJOR.
 */
#ifndef MMOE_VERSION_H
#define MMOE_VERSION_H

#include "mmoe/export.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MMOE_VERSION_MAJOR 0
#define MMOE_VERSION_MINOR 1
#define MMOE_VERSION_PATCH 0

/** Version as one comparable number: 0xMMmmpp. */
#define MMOE_VERSION_HEX                                                                           \
    ((MMOE_VERSION_MAJOR << 16) | (MMOE_VERSION_MINOR << 8) | MMOE_VERSION_PATCH)

/**
 * Runtime version of the loaded library, as MMOE_VERSION_HEX would give it.
 * Compare with MMOE_VERSION_HEX to detect a header/library mismatch.
 * Thread safety: safe from any thread. Never fails.
 */
MMOE_API unsigned mmoe_version(void);

/**
 * Runtime version of the loaded library as "MAJOR.MINOR.PATCH".
 * Returns a static string; the caller must not free it.
 * Thread safety: safe from any thread. Never fails.
 */
MMOE_API const char *mmoe_version_string(void);

#ifdef __cplusplus
}
#endif

#endif /* MMOE_VERSION_H */
