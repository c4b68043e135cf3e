#!/usr/bin/env bash
# Check that every C/C++ source and header the repository tracks is formatted
# as .clang-format says (clang-format 14, Debian 12: package clang-format).
#
# Usage: scripts/check-format.sh          check; lists the files that differ
#        scripts/check-format.sh --fix    reformat them in place
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
command -v clang-format >/dev/null 2>&1 || {
    echo "check-format: clang-format not found (apt-get install clang-format)" >&2
    exit 2
}
# tests/headers/header.c.in is a template, not C.
mapfile -t files < <(git ls-files '*.c' '*.h' '*.cpp')
if [ "${1:-}" = "--fix" ]; then
    clang-format -i "${files[@]}"
    exit 0
fi
bad=()
for f in "${files[@]}"; do
    if ! clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then
        bad+=("$f")
    fi
done
if [ "${#bad[@]}" -gt 0 ]; then
    echo "check-format: not formatted as .clang-format says (scripts/check-format.sh --fix):"
    printf '  %s\n' "${bad[@]}"
    exit 1
fi
echo "check-format: ${#files[@]} files formatted ($(clang-format --version))"
