extension Architecture {
    /// Every supported family, tried in this order; the first whose `matches` holds is used.
    /// Adding a family: one file in this folder defining `static let yourFamily`, plus one line here.
    public static let all: [Architecture] = [
        .miniMindV1,
        .miniMind3,
        .miniMind2,
        .qwen3MoE,
        .qwen3,
        .qwen2,
        .llama,
    ]

    /// The family with this name (`minimind-v1`, `qwen2`, ...).
    public static func named(_ name: String) -> Architecture? {
        all.first { $0.name == name }
    }
}
