#!/bin/sh
# Builds the libFuzzer targets of Fuzz/Targets/*.swift against the PthReader and Model sources,
# compiled with coverage instrumentation (swiftc -sanitize=fuzzer). Output: .build/fuzz/<target>.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${FUZZ_BUILD:-$ROOT/.build/fuzz}
mkdir -p "$OUT/include/CFloat16" "$OUT/include/CCleanup"
cd "$OUT"
# C targets: compiled with the fuzzer's coverage, exposed to Swift by small module maps.
for c in CFloat16 CCleanup; do
    lower=$(echo "$c" | tr 'A-Z' 'a-z')
    clang -O1 -g -fsanitize=fuzzer-no-link -c "$ROOT/Sources/$c/$lower.c" -I "$ROOT/Sources/$c/include" -o "$c.o"
    cp "$ROOT/Sources/$c/include/$lower.h" "include/$c/"
    printf 'module %s {\n    header "%s.h"\n    export *\n}\n' "$c" "$lower" > "include/$c/module.modulemap"
done
INCLUDES="-I $ROOT/Sources/CLibzip -I $ROOT/Sources/CISAL -I $ROOT/Sources/COpenBLAS -I $ROOT/Sources/CLapack -I include/CFloat16 -I include/CCleanup"
SWIFT_FLAGS="-O -g -sanitize=fuzzer -parse-as-library -enable-testing $INCLUDES"
# shellcheck disable=SC2086
swiftc $SWIFT_FLAGS -module-name PthReader -emit-module -emit-library -static -o libPthReader.a \
    $(find "$ROOT/Sources/PthReader" -name '*.swift') -package-name loratool
# shellcheck disable=SC2086
swiftc $SWIFT_FLAGS -I . -module-name Model -emit-module -emit-library -static -o libModel.a \
    $(find "$ROOT/Sources/Model" -name '*.swift') -package-name loratool
for target in "$ROOT"/Fuzz/Targets/*.swift; do
    name=$(basename "$target" .swift)
    # shellcheck disable=SC2086
    swiftc $SWIFT_FLAGS -I . -package-name loratool "$target" "$ROOT/Fuzz/FuzzSupport.swift" -o "$name" \
        libModel.a libPthReader.a CFloat16.o CCleanup.o -lzip -lisal -lopenblas
done
echo "fuzz targets in $OUT"
