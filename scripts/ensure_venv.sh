#!/usr/bin/env bash
# Creates (idempotently) a throwaway Python venv with the pinned torch / numpy /
# safetensors / tokenizers / transformers / peft / gguf used by scripts/make_fixtures.py,
# scripts/interop.py and scripts/bench.py. Usage: scripts/ensure_venv.sh [DIR]
# DIR defaults to .venv-interop in the package root. Quiet on success; the last
# stdout line is the venv's python path. A complete venv is a fast no-op.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="${1:-$ROOT/.venv-interop}"
PY="$DIR/bin/python"

TORCH_PIN="torch==2.13.0+cpu"
SAFETENSORS_PIN="safetensors==0.8.0"
TOKENIZERS_PIN="tokenizers==0.23.3"
# The reference libraries the interop tests judge us against (CPU, no network at run time), and
# jsonschema, which validates every command's --json against docs/json.md (scripts/check_json.py).
REFERENCE_PINS=("transformers==5.24.0" "peft==0.21.2" "gguf==0.19.0" "jinja2==3.1.6" "diskcache==5.6.3"
    "jsonschema==4.26.0")

is_complete() {
    [ -x "$PY" ] && "$PY" - <<'PYEOF' >/dev/null 2>&1
import sys, torch, numpy, safetensors, tokenizers, transformers, peft, gguf, jinja2, jsonschema
from importlib.metadata import version
ok = (torch.__version__ in ("2.13.0+cpu", "2.13.0") and safetensors.__version__ == "0.8.0"
      and tokenizers.__version__ == "0.23.3" and transformers.__version__ == "5.24.0"
      and peft.__version__ == "0.21.2" and version("gguf") == "0.19.0"
      and version("jsonschema") == "4.26.0")
sys.exit(0 if ok else 1)
PYEOF
}

if ! is_complete; then
    PYTHON3="${PYTHON3:-python3}"
    if [ ! -x "$PY" ]; then
        "$PYTHON3" -m venv "$DIR" >&2
    fi
    LOG="$(mktemp)"
    trap 'rm -f "$LOG"' EXIT
    # The CPU-only wheel (a local version, served through this machine's pip find-links) is small;
    # where it is not available, PyPI's default build of the same torch version is used instead.
    if ! "$PY" -m pip install --quiet --disable-pip-version-check \
        "$TORCH_PIN" numpy "$SAFETENSORS_PIN" "$TOKENIZERS_PIN" "${REFERENCE_PINS[@]}" >"$LOG" 2>&1; then
        echo "ensure_venv: $TORCH_PIN unavailable, trying torch==2.13.0" >&2
        if ! "$PY" -m pip install --quiet --disable-pip-version-check \
            "torch==2.13.0" numpy "$SAFETENSORS_PIN" "$TOKENIZERS_PIN" "${REFERENCE_PINS[@]}" >>"$LOG" 2>&1; then
            cat "$LOG" >&2
            echo "ensure_venv: pip install failed in $DIR" >&2
            exit 1
        fi
    fi
    if ! is_complete; then
        echo "ensure_venv: $DIR still lacks a working torch/numpy/safetensors/tokenizers/transformers/peft/gguf" >&2
        exit 1
    fi
fi
echo "$PY"
