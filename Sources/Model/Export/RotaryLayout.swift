/// Moves the rows of a query or key projection between the two RoPE layouts.
///
/// Within each head of size `d`, the adjacent-pair layout (MiniMind2 `.pth`, llama.cpp's `llama`)
/// rotates rows `(2i, 2i+1)` together; the rotate-half layout (Hugging Face Llama, Qwen) rotates
/// rows `(i, i + d/2)`. Both use frequency `i`, so moving row `2i` to `i` and `2i+1` to `i + d/2`
/// in the query and the key projections (with the matching RoPE) leaves attention unchanged.
public enum RotaryLayout {
    /// Reorders the rows of `[heads·d, columns]` from adjacent pairs to rotate-half.
    public static func adjacentToHalf(_ values: [Float], heads: Int, headDim: Int) -> [Float] {
        permute(values, heads: heads, headDim: headDim) { i in i < headDim / 2 ? 2 * i : 2 * (i - headDim / 2) + 1 }
    }

    /// Reorders the rows of `[heads·d, columns]` from rotate-half to adjacent pairs.
    public static func halfToAdjacent(_ values: [Float], heads: Int, headDim: Int) -> [Float] {
        permute(values, heads: heads, headDim: headDim) { i in i % 2 == 0 ? i / 2 : i / 2 + headDim / 2 }
    }

    /// Output row `i` of each head is input row `source(i)` of that head.
    private static func permute(_ values: [Float], heads: Int, headDim: Int, source: (Int) -> Int) -> [Float] {
        let rows = heads * headDim
        guard rows > 0, values.count % rows == 0 else { return values }
        let columns = values.count / rows
        var out = [Float](repeating: 0, count: values.count)
        for h in 0..<heads {
            for i in 0..<headDim {
                let from = (h * headDim + source(i)) * columns, to = (h * headDim + i) * columns
                out.replaceSubrange(to..<(to + columns), with: values[from..<(from + columns)])
            }
        }
        return out
    }
}
