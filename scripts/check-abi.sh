#!/usr/bin/env bash
# Compare the ABI of the built libmmoe.so and libmmoe-synth.so with the
# committed baselines abi/libmmoe.abi and abi/libmmoe-synth.abi (libabigail,
# Debian package abigail-tools).
#
# Usage:
#   scripts/check-abi.sh [BUILD_DIR]            check (default BUILD_DIR: build-abi)
#   scripts/check-abi.sh --update [BUILD_DIR]   renew the baselines on purpose
#
# The comparison needs DWARF debug information, so BUILD_DIR is configured
# here when it does not exist yet, as an optimised build with -g:
#     meson setup BUILD_DIR -Ddebug=true -Dtests=false -Dexamples=false -Dbench=false
# and (re)built with meson compile. An existing BUILD_DIR is only rebuilt;
# it must have debug information (meson option debug=true).
#
# Only types reachable from the public headers (include/mmoe) are part of
# the ABI; opaque handles' private structs may change freely.
#
# Result: abidiff's exit status is a bit mask: 1 tool error, 2 usage error,
# 4 ABI change, 8 incompatible ABI change. This script fails on a tool or
# usage error and on an incompatible change. libabigail reports only removed
# functions or variables (and a changed SONAME) as incompatible (bit 8); a
# changed parameter list, return type, public struct layout or enumerator
# value of an existing function is an "ABI change" (bit 4) counted as
# "Changed" in abidiff's summary. The policy allows additions only, so
# those fail too. Additions (new functions, enumerators appended at the end
# of an enum) are reported and pass.
#
# Renewing a baseline is deliberate and happens in two cases only (see
# docs/serving.md, "ABI policy"):
#   - at a release, to record the functions it added (compatible changes);
#   - after MMOE_VERSION_MAJOR was bumped for an incompatible change; the
#     SONAME changes with it, so the old baseline cannot be kept.
# Then: scripts/check-abi.sh --update, review `git diff abi/`, commit.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
update=0
if [ "${1:-}" = "--update" ]; then
    update=1
    shift
fi
BUILD=${1:-build-abi}

for tool in abidw abidiff readelf; do
    command -v "$tool" >/dev/null 2>&1 || {
        echo "check-abi: $tool not found (apt-get install abigail-tools binutils)" >&2
        exit 2
    }
done

if [ ! -e "$BUILD/build.ninja" ]; then
    meson setup "$BUILD" "$ROOT" -Ddebug=true -Dtests=false -Dexamples=false -Dbench=false
fi
debug=$(meson introspect --buildoptions "$BUILD" |
        python3 -c 'import json,sys; print([o["value"] for o in json.load(sys.stdin) if o["name"] == "debug"][0])')
if [ "$debug" != "True" ]; then
    echo "check-abi: $BUILD has no debug information; configure it with -Ddebug=true" >&2
    exit 2
fi
meson compile -C "$BUILD" >/dev/null

VERSION=$(python3 "$ROOT/scripts/version.py")
MAJOR=${VERSION%%.*}
HEADERS="$ROOT/include/mmoe"
status=0

check_one() { # $1: library path, $2: baseline path
    local lib=$1 base=$2 name
    name=$(basename "$lib")
    if [ ! -e "$lib" ]; then
        echo "check-abi: $lib not built" >&2
        status=1
        return
    fi
    if [ "$update" -eq 1 ]; then
        mkdir -p "$(dirname "$base")"
        abidw --headers-dir "$HEADERS" --drop-private-types --no-corpus-path \
              --no-comp-dir-path --short-locs --out-file "$base" "$lib"
        echo "check-abi: wrote $base from $name $VERSION"
        return
    fi
    if [ ! -e "$base" ]; then
        echo "check-abi: no baseline $base; create it with scripts/check-abi.sh --update" >&2
        status=1
        return
    fi
    # The baseline's SONAME names the major version it records.
    local base_soname
    base_soname=$(sed -n 's/.*<abi-corpus [^>]*soname=.\([^"'"'"']*\).*/\1/p' "$base" | head -n1)
    local rc=0
    abidiff --headers-dir2 "$HEADERS" --drop-private-types "$base" "$lib" \
        >"$BUILD/abidiff-$name.txt" 2>&1 || rc=$?
    # libabigail sets bit 8 only for removed symbols; a changed signature,
    # return type or enumerator value of an existing function sets bit 4
    # and counts as "Changed" in the summary. The policy allows additions
    # only, so changed functions or variables fail as well.
    local changed
    changed=$(sed -n 's/^\(Functions\|Variables\) changes summary: [0-9]* Removed, \([0-9]*\) Changed.*/\2/p' \
              "$BUILD/abidiff-$name.txt" | awk '{ n += $1 } END { print n + 0 }')
    if [ $((rc & 4)) -ne 0 ] && [ "$changed" -gt 0 ]; then
        rc=$((rc | 8))
    fi
    if [ $((rc & 3)) -ne 0 ]; then
        cat "$BUILD/abidiff-$name.txt" >&2
        echo "check-abi: abidiff could not compare $name (exit $rc)" >&2
        status=1
    elif [ $((rc & 8)) -ne 0 ]; then
        cat "$BUILD/abidiff-$name.txt" >&2
        echo "check-abi: FAIL: $name $VERSION breaks the ABI recorded in $(basename "$base")" \
             "(${base_soname:-unknown SONAME})." >&2
        echo "  Undo the incompatible change, or bump MMOE_VERSION_MAJOR in include/mmoe/version.h" \
             "and renew the baseline: scripts/check-abi.sh --update" >&2
        status=1
    elif [ $((rc & 4)) -ne 0 ]; then
        cat "$BUILD/abidiff-$name.txt"
        echo "check-abi: $name: compatible ABI changes (allowed in a minor release)"
    else
        echo "check-abi: $name: ABI identical to $(basename "$base")"
    fi
    local want="${name}.${MAJOR}"
    if [ -n "$base_soname" ] && [ "$base_soname" != "$want" ] && [ $((rc & 8)) -eq 0 ]; then
        echo "check-abi: FAIL: baseline records $base_soname but this build is $want" >&2
        status=1
    fi
}

check_one "$BUILD/lib/libmmoe.so" "$ROOT/abi/libmmoe.abi"
if [ -e "$BUILD/lib/synth/libmmoe-synth.so" ] || [ -e "$ROOT/abi/libmmoe-synth.abi" ]; then
    check_one "$BUILD/lib/synth/libmmoe-synth.so" "$ROOT/abi/libmmoe-synth.abi"
fi

if [ "$status" -ne 0 ]; then
    echo "check-abi: FAILED" >&2
elif [ "$update" -eq 0 ]; then
    echo "check-abi: OK"
fi
exit "$status"
