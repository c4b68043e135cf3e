#!/usr/bin/env bash
# Install a build into a temporary DESTDIR and build and run external
# programs against the installed copy only:
#   tests/install/consumer.c    as C11   (cc)
#   tests/install/consumer.cpp  as C++17 (c++)
# each compiled and linked with nothing but
#   pkg-config --cflags --libs libmmoe libmmoe-synth
# where pkg-config finds the installed .pc files through PKG_CONFIG_PATH and
# rewrites their paths into the DESTDIR through PKG_CONFIG_SYSROOT_DIR, and
# run with LD_LIBRARY_PATH pointing at the installed libraries.
#
# Usage: scripts/check-install.sh [BUILD_DIR]   (default: build)
# The build directory must be configured with -Dsynth=true (the default).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$(cd "${1:-build}" && pwd)
CC=${CC:-cc}
CXX=${CXX:-c++}

DESTDIR=$(mktemp -d "${TMPDIR:-/tmp}/mmoe-install.XXXXXX")
trap 'rm -rf "$DESTDIR"' EXIT

meson install -C "$BUILD" --destdir "$DESTDIR" --quiet

opts=$(meson introspect --buildoptions "$BUILD")
opt() { python3 -c 'import json,sys; print([o["value"] for o in json.load(sys.stdin) if o["name"] == sys.argv[1]][0])' "$1" <<<"$opts"; }
prefix=$(opt prefix)
libdir=$(opt libdir)
case "$libdir" in /*) ;; *) libdir="$prefix/$libdir" ;; esac
includedir=$(opt includedir)
case "$includedir" in /*) ;; *) includedir="$prefix/$includedir" ;; esac

LIB="$DESTDIR$libdir"
PC="$LIB/pkgconfig"
for f in "$PC/libmmoe.pc" "$PC/libmmoe-synth.pc" "$DESTDIR$includedir/mmoe/mmoe.h" \
         "$DESTDIR$includedir/mmoe/synth.h"; do
    [ -e "$f" ] || { echo "check-install: FAIL: $f was not installed" >&2; exit 1; }
done
echo "check-install: installed into $DESTDIR$prefix"

# Every public header is installed.
for h in "$ROOT"/include/mmoe/*.h; do
    [ -e "$DESTDIR$includedir/mmoe/$(basename "$h")" ] ||
        { echo "check-install: FAIL: include/mmoe/$(basename "$h") is not installed" >&2; exit 1; }
done

export PKG_CONFIG_PATH="$PC"
export PKG_CONFIG_SYSROOT_DIR="$DESTDIR"
cflags=$(pkg-config --cflags libmmoe libmmoe-synth)
libs=$(pkg-config --libs libmmoe libmmoe-synth)
echo "check-install: pkg-config --modversion libmmoe: $(pkg-config --modversion libmmoe)"
echo "check-install: cflags: $cflags"
echo "check-install: libs:   $libs"
case "$cflags $libs" in
    *"$DESTDIR"*) ;;
    *) echo "check-install: FAIL: pkg-config flags do not point into the DESTDIR" >&2; exit 1 ;;
esac

work="$DESTDIR/work"
mkdir -p "$work"
# Copies, so that no include path can reach the source tree.
cp "$ROOT/tests/install/consumer.c" "$ROOT/tests/install/consumer.cpp" "$work/"
cd "$work"

# shellcheck disable=SC2086 # flags are word lists
"$CC" -std=c11 -Wall -Wextra -Wpedantic -Werror consumer.c -o consumer-c $cflags $libs
# shellcheck disable=SC2086
"$CXX" -std=c++17 -Wall -Wextra -Wpedantic -Werror consumer.cpp -o consumer-cpp $cflags $libs -pthread

export LD_LIBRARY_PATH="$LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
for exe in consumer-c consumer-cpp; do
    # The program must run against the installed library, not another copy.
    resolved=$(ldd "./$exe" | awk '$1 ~ /^libmmoe(-synth)?\.so/ { print $3 }')
    for r in $resolved; do
        case "$r" in
            "$LIB"/*) ;;
            *) echo "check-install: FAIL: $exe loads $r instead of the installed library" >&2; exit 1 ;;
        esac
    done
    "./$exe" "$work/$exe.safetensors"
done
echo "check-install: OK"
