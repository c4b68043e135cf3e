#!/usr/bin/env bash
# Check the shared libraries' public surface in a build directory:
#   1. every dynamic symbol they define starts with mmoe_ (not mmoe__, the
#      prefix of private helpers) and is declared in a public header;
#   2. their SONAMEs are libmmoe.so.MAJOR and libmmoe-synth.so.MAJOR, with
#      MAJOR from include/mmoe/version.h;
#   3. MMOE_VERSION_* in version.h agree with the runtime
#      mmoe_version()/mmoe_version_string() of the built library.
#
# Usage: scripts/check-symbols.sh [BUILD_DIR]   (default: build)
# Exits nonzero, with a message per problem, if any check fails.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$(cd "${1:-build}" && pwd)
CC=${CC:-cc}
status=0
fail() { echo "check-symbols: FAIL: $*" >&2; status=1; }

VERSION=$(python3 "$ROOT/scripts/version.py")
MAJOR=${VERSION%%.*}

LIBMMOE="$BUILD/lib/libmmoe.so"
LIBSYNTH="$BUILD/lib/synth/libmmoe-synth.so"
libs=("$LIBMMOE")
if [ -e "$LIBSYNTH" ]; then
    libs+=("$LIBSYNTH")
else
    echo "check-symbols: $LIBSYNTH not built (-Dsynth=false); checking libmmoe only"
fi
LIBMPI="$BUILD/lib/mpi/libmmoe-mpi.so"
if [ -e "$LIBMPI" ]; then
    libs+=("$LIBMPI")
else
    echo "check-symbols: $LIBMPI not built (-Dmpi=disabled or no MPI); not checked"
fi

# Symbols the linker itself defines in every shared object; not ours.
linker_symbols='^(_init|_fini|__bss_start|_edata|_end|__end__|__bss_end__|__bss_start__|_bss_end__|__data_start|data_start|__dso_handle|_DYNAMIC|_GLOBAL_OFFSET_TABLE_|__TMC_END__|_IO_stdin_used)$'

headers=("$ROOT"/include/mmoe/*.h)
for lib in "${libs[@]}"; do
    [ -e "$lib" ] || { fail "$lib not found (build first)"; continue; }
    name=$(basename "$lib")

    # 1. exported symbols
    syms=$(nm -D --defined-only "$lib" | awk 'NF >= 3 { print $3 } NF == 2 { print $2 }' \
           | sed 's/@.*//' | sort -u)
    n=0
    while IFS= read -r s; do
        [ -n "$s" ] || continue
        if [[ "$s" =~ $linker_symbols ]]; then
            continue
        fi
        n=$((n + 1))
        if [[ "$s" != mmoe_* ]]; then
            fail "$name exports '$s' (only mmoe_* symbols may be exported)"
        elif [[ "$s" == mmoe__* ]]; then
            fail "$name exports the private helper '$s' (mmoe__* must stay hidden)"
        elif ! grep -qw -- "$s" "${headers[@]}"; then
            fail "$name exports '$s', which no public header declares"
        fi
    done <<<"$syms"
    [ "$n" -gt 0 ] || fail "$name exports no symbols at all"
    echo "check-symbols: $name: $n exported symbols checked"

    # 2. SONAME
    base=${name%.so}
    soname=$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\].*/\1/p')
    if [ "$soname" != "$base.so.$MAJOR" ]; then
        fail "$name has SONAME '$soname', expected '$base.so.$MAJOR'"
    else
        echo "check-symbols: $name: SONAME $soname"
    fi
    real=$(readlink -f "$lib")
    if [ "$(basename "$real")" != "$base.so.$VERSION" ]; then
        fail "$name resolves to $(basename "$real"), expected $base.so.$VERSION"
    fi
done

# 3. header macros vs runtime version
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/version_check.c" <<'C'
#include <stdio.h>
#include <string.h>
#include <mmoe/version.h>

#define STR_(x) #x
#define STR(x) STR_(x)

int main(void)
{
    const char *want = STR(MMOE_VERSION_MAJOR) "." STR(MMOE_VERSION_MINOR) "." STR(MMOE_VERSION_PATCH);
    int bad = 0;
    if (strcmp(mmoe_version_string(), want) != 0) {
        printf("mmoe_version_string() is \"%s\", version.h says \"%s\"\n", mmoe_version_string(), want);
        bad = 1;
    }
    if (mmoe_version() != (unsigned)MMOE_VERSION_HEX) {
        printf("mmoe_version() is 0x%06x, MMOE_VERSION_HEX is 0x%06x\n", mmoe_version(),
               (unsigned)MMOE_VERSION_HEX);
        bad = 1;
    }
    if (!bad)
        printf("%s\n", want);
    return bad;
}
C
if [ -e "$LIBMMOE" ]; then
    if ! "$CC" -std=c11 -Wall -Wextra -Werror -I"$ROOT/include" "$tmp/version_check.c" \
            -L"$BUILD/lib" -lmmoe -o "$tmp/version_check"; then
        fail "cannot build the version check against $LIBMMOE"
    elif out=$(LD_LIBRARY_PATH="$BUILD/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$tmp/version_check"); then
        if [ "$out" != "$VERSION" ]; then
            fail "version.h says $out but the build's project version is $VERSION"
        else
            echo "check-symbols: version.h, mmoe_version_string() and mmoe_version() agree: $out"
        fi
    else
        fail "runtime version disagrees with version.h: $out"
    fi
fi

if [ "$status" -ne 0 ]; then
    echo "check-symbols: FAILED" >&2
else
    echo "check-symbols: OK"
fi
exit "$status"
