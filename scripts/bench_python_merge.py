"""The seed's Python merge path, for scripts/bench.py to time: torch.load base and adapter,
W += B @ A in float16 for every adapted module (as MiniMind's merge_lora does), torch.save.

Usage: python bench_python_merge.py BASE LORA OUT
"""

import sys

import torch


def main() -> None:
    base_path, lora_path, out_path = sys.argv[1:4]
    state = torch.load(base_path, map_location="cpu", weights_only=True)
    lora = torch.load(lora_path, map_location="cpu", weights_only=True)
    for key in list(lora):
        if not key.endswith(".lora.A.weight"):
            continue
        module = key[: -len(".lora.A.weight")]
        a = lora[key]
        b = lora[module + ".lora.B.weight"]
        weight = state[module + ".weight"]
        state[module + ".weight"] = weight + (b @ a).to(weight.dtype)
    torch.save(state, out_path)


if __name__ == "__main__":
    main()
