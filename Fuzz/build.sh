#!/bin/sh
# Builds the libFuzzer targets of Fuzz/Targets/*.swift against the PthReader and Model sources,
# compiled with coverage instrumentation (swiftc -sanitize=fuzzer). Output: .build/fuzz/<target>.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${FUZZ_BUILD:-$ROOT/.build/fuzz}
# The package's own C targets (every .c file of each): compiled with the fuzzer's coverage and exposed
# to Swift by small module maps. A new C target in Package.swift must be added to C_TARGETS.
C_TARGETS="CFloat16 CCleanup CFileCopy CHalfKernels"
mkdir -p "$OUT"
cd "$OUT"
C_OBJECTS=""
INCLUDES="-I $ROOT/Sources/CLibzip -I $ROOT/Sources/CISAL -I $ROOT/Sources/COpenBLAS -I $ROOT/Sources/CLapack"
for c in $C_TARGETS; do
    mkdir -p "include/$c"
    for src in "$ROOT/Sources/$c"/*.c; do
        obj="$c-$(basename "$src" .c).o"
        clang -O2 -g -fsanitize=fuzzer-no-link -c "$src" -I "$ROOT/Sources/$c/include" -o "$obj"
        C_OBJECTS="$C_OBJECTS $obj"
    done
    header=$(cd "$ROOT/Sources/$c/include" && ls *.h | head -n 1)
    cp "$ROOT/Sources/$c/include/$header" "include/$c/"
    printf 'module %s {\n    header "%s"\n    export *\n}\n' "$c" "$header" > "include/$c/module.modulemap"
    INCLUDES="$INCLUDES -I include/$c"
done
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
        libModel.a libPthReader.a $C_OBJECTS -lzip -lisal -lopenblas -lpthread
done
echo "fuzz targets in $OUT"
