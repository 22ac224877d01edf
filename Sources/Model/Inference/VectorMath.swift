import CHalfKernels
import Foundation

/// Element-wise float32 kernels for the forward pass. Those built on exp (SwiGLU, the softmax's
/// exponentials) are C kernels of `CHalfKernels` (AVX2/FMA when the CPU has them): compiled for
/// baseline x86-64, Swift's loops ran four lanes wide without FMA, a sizeable part of a prefill.
enum VectorMath {
    /// `exp(x)`: range reduction `x = n·ln2 + r`, a degree-6 polynomial for `exp(r)`, scaling by
    /// `2ⁿ` through the exponent bits (`float_exp`). Within ~2 ulp over `[-87, 88]`; smaller
    /// inputs give ~1e-38 (0 for softmax purposes), larger are clamped.
    @inline(__always)
    static func exp(_ value: Float) -> Float {
        float_exp(value)
    }

    /// `x[i] = exp(x[i] - shift)` for `count` values; returns their sum.
    @inline(__always)
    static func expShifted(_ x: UnsafeMutablePointer<Float>, count: Int, shift: Float) -> Float {
        float_exp_shifted(x, count, shift)
    }

    /// `out[i] = silu(gate[i]) · up[i]` with `silu(a) = a / (1 + exp(-a))`.
    @inline(__always)
    static func swiGLU(gate: UnsafePointer<Float>, up: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, count: Int) {
        float_swiglu(gate, up, out, count)
    }

    /// `Σ a[i] · b[i]` over `count` values, in eight float32 lanes.
    @inline(__always)
    static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Float {
        let ra = UnsafeRawPointer(a), rb = UnsafeRawPointer(b)
        var lanes = SIMD8<Float>()
        var i = 0
        while i + 8 <= count {
            lanes += ra.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
                * rb.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
            i += 8
        }
        var total = lanes.sum()
        while i < count {
            total += a[i] * b[i]
            i += 1
        }
        return total
    }

    /// `Σ x[i]²` over `count` values, each square and sum in float64 (eight lanes, so the
    /// additions do not wait on one another).
    @inline(__always)
    static func sumOfSquares(_ x: UnsafePointer<Float>, count: Int) -> Double {
        var low = SIMD4<Double>(), high = SIMD4<Double>()
        var i = 0
        while i + 8 <= count {
            let a = SIMD4<Double>(Double(x[i]), Double(x[i + 1]), Double(x[i + 2]), Double(x[i + 3]))
            let b = SIMD4<Double>(Double(x[i + 4]), Double(x[i + 5]), Double(x[i + 6]), Double(x[i + 7]))
            low += a * a
            high += b * b
            i += 8
        }
        var total = (low + high).sum()
        while i < count {
            total += Double(x[i]) * Double(x[i])
            i += 1
        }
        return total
    }

    /// `y[i] += alpha · x[i]` for `count` values.
    @inline(__always)
    static func addScaled(_ alpha: Float, _ x: UnsafePointer<Float>, to y: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { y[i] += alpha * x[i] }
    }
}
