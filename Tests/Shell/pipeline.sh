#!/usr/bin/env bash
# A scripted conversion pipeline, as a user would write it: convert a directory of checkpoints,
# merge an adapter, verify the merge, branch on loratool's exit statuses and read its --json with jq.
# Usage: Tests/Shell/pipeline.sh LORATOOL [FIXTURES]. Ends with 'N passed, N failed'; exits 1 on a failure.
set -uo pipefail

LORATOOL="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
FIXTURES="${2:-$ROOT/../shared/fixtures}"
command -v jq >/dev/null || { echo "pipeline.sh: jq is missing (scripts/install_deps.sh installs it)" >&2; exit 1; }
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
passed=0
failed=0

check() { # check DESCRIPTION CONDITION...
    local what="$1"; shift
    if "$@"; then passed=$((passed + 1)); echo "ok   $what"; else failed=$((failed + 1)); echo "FAIL $what"; fi
}

# 1. A directory of checkpoints (links to the shared fixtures), converted one by one to float16 safetensors.
mkdir -p "$WORK/checkpoints"
for name in v1_tiny/base.pth mm3_tiny/base.pth hf_tiny_peft/base.pth; do
    ln -s "$FIXTURES/$name" "$WORK/checkpoints/$(dirname "$name").pth"
done
converted=0
for ckpt in "$WORK"/checkpoints/*.pth; do
    out="$WORK/converted/$(basename "${ckpt%.pth}").safetensors"
    if summary=$("$LORATOOL" convert "$ckpt" -o "$out" --dtype fp16 --json); then
        tensors=$(jq -r '.tensors' <<<"$summary")
        source_tensors=$("$LORATOOL" inspect "$ckpt" --json | jq '.tensors | length')
        [ "$tensors" = "$source_tensors" ] && [ "$(jq -r '.options.dtype' <<<"$summary")" = float16 ] && converted=$((converted + 1))
    fi
done
check "convert a directory of 3 checkpoints to float16 safetensors (tensor counts match inspect)" [ "$converted" -eq 3 ]
check "converted files carry float16 weights" \
    [ "$("$LORATOOL" inspect "$WORK/converted/v1_tiny.safetensors" --json | jq -r '[.tensors[].dtype] | unique | join(",")')" = float16 ]

# 2. Merge, then verify; the script branches on verify's exit status.
BASE="$FIXTURES/v1_tiny/base.pth"
LORA="$FIXTURES/v1_tiny/lora.pth"
merged_count=$("$LORATOOL" merge "$BASE" "$LORA" -o "$WORK/out/merged.safetensors" --json | jq '.merged_tensors | length')
check "merge reports the 4 adapted weights" [ "$merged_count" = 4 ]
if "$LORATOOL" verify "$BASE" "$LORA" --merged "$WORK/out/merged.safetensors" --quiet; then status=0; else status=$?; fi
check "verify of the merge exits 0" [ "$status" -eq 0 ]
if report=$("$LORATOOL" verify "$BASE" "$LORA" --merged "$BASE" --json); then status=0; else status=$?; fi
check "verify of an unmerged model exits 1 and says passed=false" [ "$status" -eq 1 -a "$(jq -r .passed <<<"$report")" = false ]

# 3. Each failure has its own exit status, and its JSON error names the kind and the file.
"$LORATOOL" merge "$BASE" "$LORA" -o "$WORK/out/merged.safetensors" --json >"$WORK/err.json" 2>"$WORK/err.txt"; status=$?
check "an existing output exits 2 and names --force" [ "$status" -eq 2 -a "$(jq -r .error.kind "$WORK/err.json")" = output_exists ]
check "stderr holds one error: line, naming --force" [ "$(grep -c "^error: .*--force" "$WORK/err.txt")" -eq 1 ]
check "--force overwrites" "$LORATOOL" merge "$BASE" "$LORA" -o "$WORK/out/merged.safetensors" --force --quiet
"$LORATOOL" merge "$BASE" "$FIXTURES/hf_tiny_peft/adapter" -o "$WORK/out/x.pth" --json >"$WORK/err.json" 2>/dev/null; status=$?
check "an adapter that does not fit exits 3 (adapter_mismatch)" [ "$status" -eq 3 -a "$(jq -r .error.kind "$WORK/err.json")" = adapter_mismatch ]
check "a failed merge leaves no output" [ ! -e "$WORK/out/x.pth" ]
touch "$WORK/a-file"
"$LORATOOL" convert "$BASE" -o "$WORK/a-file/x.pth" --json >"$WORK/err.json" 2>/dev/null; status=$?
check "an output that cannot be created exits 4 (io)" [ "$status" -eq 4 -a "$(jq -r .error.kind "$WORK/err.json")" = io ]
"$LORATOOL" inspect "$FIXTURES/bad/evil.pth" --json >"$WORK/err.json" 2>/dev/null; status=$?
check "a refused pickle exits 2 and names the file" [ "$status" -eq 2 -a "$(jq -r .error.file "$WORK/err.json")" = "$FIXTURES/bad/evil.pth" ]
"$LORATOOL" convert "$BASE" --no-such-flag >/dev/null 2>&1; status=$?
check "a usage error exits 64" [ "$status" -eq 64 ]

# 4. A dry run checks a merge without writing.
dry=$("$LORATOOL" merge "$BASE" "$LORA" -o "$WORK/dry/m.pth" --dry-run --json)
check "merge --dry-run plans 4 merged tensors and writes nothing" \
    [ "$(jq '.merged_tensors | length' <<<"$dry")" = 4 -a ! -e "$WORK/dry" ]

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
