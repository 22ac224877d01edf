#!/usr/bin/env bash
# Checks `make install`: the installed binary links no Swift runtime library (ldd), shell completions
# and docs are installed, and the binary copied ALONE to a fresh directory runs inspect, merge and
# verify with the Swift toolchain's library directory hidden (an empty directory bind-mounted over it
# in a private mount namespace, so its RUNPATH finds nothing). The same run of the dynamically linked
# debug binary must fail, which shows the hiding works. Usage: scripts/check_install.sh [FIXTURES]
# Ends with 'N passed, N failed'.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FIXTURES="${1:-$ROOT/../shared/fixtures}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
passed=0
failed=0
check() {
    local what="$1"; shift
    if "$@"; then passed=$((passed + 1)); echo "ok   $what"; else failed=$((failed + 1)); echo "FAIL $what"; fi
}

make -C "$ROOT" --no-print-directory install PREFIX="$WORK/prefix" >"$WORK/install.log" 2>&1 || { cat "$WORK/install.log"; echo "0 passed, 1 failed"; exit 1; }
BIN="$WORK/prefix/bin/loratool"
check "make install PREFIX=... installs bin/loratool" [ -x "$BIN" ]
check "ldd: no Swift runtime or Foundation library is linked" bash -c "! ldd '$BIN' | grep -Eq 'libswift|libFoundation|libdispatch|libBlocksRuntime|/opt/swift'"
check "bash, zsh and fish completions are installed" bash -c "grep -q loratool '$WORK/prefix/share/bash-completion/completions/loratool' && [ -s '$WORK/prefix/share/zsh/site-functions/_loratool' ] && [ -s '$WORK/prefix/share/fish/vendor_completions.d/loratool.fish' ]"
check "the docs are installed where --help says" bash -c "[ -f '$WORK/prefix/share/doc/loratool/json.md' ] && '$BIN' --help | grep -q 'share/doc/loratool'"

# The toolchain's runtime directory: where the debug binary finds libswiftCore.so.
SWIFT_LIBS="$(dirname "$(ldd "$(swift build --package-path "$ROOT" --show-bin-path)/loratool" | awk '/libswiftCore.so/ {print $3}')")"
mkdir -p "$WORK/fresh" "$WORK/empty"
cp "$BIN" "$WORK/fresh/loratool"
B="$WORK/fresh/loratool"
cat >"$WORK/run.sh" <<SH
set -e
mount --bind "$WORK/empty" "$SWIFT_LIBS"
cd "$WORK/fresh"
unset LD_LIBRARY_PATH
"$B" inspect "$FIXTURES/v1_tiny/base.pth" >/dev/null
"$B" merge "$FIXTURES/v1_tiny/base.pth" "$FIXTURES/v1_tiny/lora.pth" -o merged.safetensors --quiet
"$B" verify "$FIXTURES/v1_tiny/base.pth" "$FIXTURES/v1_tiny/lora.pth" --merged merged.safetensors --quiet
SH
if [ -d "$SWIFT_LIBS" ] && unshare --mount true 2>/dev/null; then
    check "copied alone, with $SWIFT_LIBS hidden: inspect, merge, verify succeed" unshare --mount bash "$WORK/run.sh"
    DEBUG_BIN="$(swift build --package-path "$ROOT" --show-bin-path)/loratool"
    check "control: the dynamically linked debug binary fails with the same directory hidden" \
        bash -c "! unshare --mount bash -c 'mount --bind \"$WORK/empty\" \"$SWIFT_LIBS\" && \"$DEBUG_BIN\" --version' >/dev/null 2>&1"
else
    check "unshare --mount is available to hide the toolchain's libraries (needs root)" false
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
