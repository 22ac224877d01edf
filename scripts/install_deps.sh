#!/usr/bin/env bash
# Installs the C libraries loratool links (libzip, OpenBLAS, ISA-L for CRC-32), pkg-config, and jq
# (Tests/Shell/pipeline.sh reads --json with it), from Debian's packages, when they are missing.
# A no-op when pkg-config already finds all three libraries and jq is there.
set -euo pipefail

if command -v pkg-config >/dev/null 2>&1 && pkg-config --exists libzip openblas libisal \
    && command -v jq >/dev/null 2>&1; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install_deps: installing libzip-dev libopenblas-dev libisal-dev pkg-config jq with apt-get" >&2
$SUDO apt-get update -qq >&2
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq libzip-dev libopenblas-dev libisal-dev pkg-config jq >&2
pkg-config --exists libzip openblas libisal || { echo "install_deps: pkg-config still cannot find libzip, openblas and libisal" >&2; exit 1; }
