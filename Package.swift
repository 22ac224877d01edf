// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "loratool",
    products: [
        .executable(name: "loratool", targets: ["LoraTool"]),
        .library(name: "PthReader", targets: ["PthReader"]),
        .library(name: "Model", targets: ["Model"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CLibzip",
            pkgConfig: "libzip",
            providers: [.apt(["libzip-dev"])]
        ),
        .systemLibrary(
            name: "COpenBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]
        ),
        .systemLibrary(
            name: "CISAL",
            pkgConfig: "libisal",
            providers: [.apt(["libisal-dev"])]
        ),
        // OpenBLAS's bundled LAPACK (sgesdd, sgeqrf, sorgqr) through our own declarations.
        .systemLibrary(
            name: "CLapack",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]
        ),
        .target(name: "CFloat16"),
        // float16/bfloat16 matrix-vector products for the forward pass (AVX2/FMA/F16C when present).
        .target(name: "CHalfKernels", linkerSettings: [.linkedLibrary("pthread")]),
        .target(name: "CCleanup"),
        .target(name: "CFileCopy"),
        .target(
            name: "PthReader",
            dependencies: ["CLibzip", "CISAL", "CFloat16", "CCleanup", "CFileCopy"]
        ),
        .target(
            name: "Model",
            dependencies: ["PthReader", "COpenBLAS", "CLapack", "CHalfKernels"]
        ),
        .executableTarget(
            name: "LoraTool",
            dependencies: [
                "PthReader", "Model",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "PthReaderTests", dependencies: ["PthReader", "CCleanup", "TestSupport"]),
        .testTarget(name: "ModelTests", dependencies: ["Model", "PthReader", "TestSupport"]),
        .testTarget(name: "LoraToolTests", dependencies: ["LoraTool", "Model", "PthReader", "TestSupport"]),
    ]
)
