import ArgumentParser

@main
struct LoraTool: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "loratool",
        abstract: "Inspect, merge, convert and verify LoRA adapters on PyTorch checkpoints.",
        subcommands: []
    )
}
