/// One low-rank adapter beside a linear layer: the layer computes `W x + scale · B (A x)`.
///
/// Layout as torch stores it: `a` is `[r, in_features]` (`lora.A.weight`, PEFT's `lora_A.weight`),
/// `b` is `[out_features, r]`. Merging folds it in as `W' = W + scale · B·A`. MiniMind's own
/// adapters use scale 1; PEFT uses `lora_alpha / r` (or `lora_alpha / sqrt(r)` with rsLoRA).
/// What the pair does to a tensor (LoRA, DoRA, embedding) is said by the `AdapterDelta` holding it.
public struct LoRAPair: Sendable, Equatable {
    public var a: Tensor
    public var b: Tensor
    public var scale: Float

    public init(a: Tensor, b: Tensor, scale: Float) {
        precondition(a.shape.count == 2 && b.shape.count == 2 && a.shape[0] == b.shape[1], "LoRA A [r, in] and B [out, r] must agree on r")
        self.a = a
        self.b = b
        self.scale = scale
    }

    public var rank: Int { a.shape[0] }
    public var inFeatures: Int { a.shape[1] }
    public var outFeatures: Int { b.shape[0] }
}
