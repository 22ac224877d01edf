import Foundation

/// Element-wise float32 kernels for the forward pass (softmax, SiLU), written as plain loops
/// without calls so the compiler vectorises them: calling `expf` per element would cost a
/// sizeable part of a prefill.
enum VectorMath {
    private static let magic: Float = 12_582_912 // 1.5 · 2²³: adding it rounds to an integer kept in the low mantissa bits

    /// `exp(x)`: Cody–Waite range reduction `x = n·ln2 + r`, Cephes' degree-6 polynomial for
    /// `exp(r)`, scaling by `2ⁿ` through the exponent bits. Within ~2 ulp over `[-87, 88]`;
    /// smaller inputs give ~1e-38 (0 for softmax purposes), larger are clamped.
    @inline(__always)
    static func exp(_ value: Float) -> Float {
        var x = value < -87.3 ? -87.3 : value
        x = x > 88.3 ? 88.3 : x
        let t = x * 1.44269504088896341 + magic
        let n = t - magic
        var r = x - n * 0.693359375
        r = r - n * -2.12194440e-4
        var p: Float = 1.9875691500e-4
        p = p * r + 1.3981999507e-3
        p = p * r + 8.3334519073e-3
        p = p * r + 4.1665795894e-2
        p = p * r + 1.6666665459e-1
        p = p * r + 5.0000001201e-1
        let y = p * (r * r) + r + 1
        let scale = Float(bitPattern: (t.bitPattern &- 0x4B40_0000 &+ 127) &<< 23)
        return y * scale
    }

    /// `x[i] = exp(x[i] - shift)` for `count` values; returns their sum.
    @inline(__always)
    static func expShifted(_ x: UnsafeMutablePointer<Float>, count: Int, shift: Float) -> Float {
        for i in 0..<count { x[i] = exp(x[i] - shift) }
        var lanes = SIMD8<Float>()
        var i = 0
        let raw = UnsafeRawPointer(x)
        while i + 8 <= count {
            lanes += raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
            i += 8
        }
        var total = lanes.sum()
        while i < count {
            total += x[i]
            i += 1
        }
        return total
    }

    /// `out[i] = silu(gate[i]) · up[i]` with `silu(a) = a / (1 + exp(-a))`.
    @inline(__always)
    static func swiGLU(gate: UnsafePointer<Float>, up: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count {
            let a = gate[i]
            out[i] = a / (1 + exp(-a)) * up[i]
        }
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
