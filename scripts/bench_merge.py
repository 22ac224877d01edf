"""Merge benchmarks for scripts/bench.py: loratool merge side by side with cp (the floor) and the
seed's Python path, medians of interleaved rounds, time ratios and peak RSS.

Inputs, built with real torch in a temporary directory:
* small: MiniMind2-Small-shaped (dim 512, 8 layers, float16, tied head; 51.7 MB), rank-16 MiniMind
  adapter on the square linears (the same model bench.py times the forward pass on);
* medium: MiniMind-shaped, 775 MB class (dim 1536, 15 layers, 12 heads, 2 kv heads, hidden 4096,
  vocab 6400, float16), rank-16 MiniMind adapter on wq/wo;
* big (`--big`, which `make bench` passes; skipped with a note without the disk it needs):
  Llama-7B-shaped (hidden 4096, intermediate 11008, 32 heads, vocab 32000, float16, untied head)
  with 10 layers, 4.57 GB (past 4 GiB: the output needs ZIP64), with a rank-16 PEFT adapter on
  q/k/v/o_proj; also as a sharded safetensors directory (4 shards).

Each round runs every command once, interleaved (cp, merge to .pth, merge to .safetensors, ...),
with the output deleted first; the median over rounds counts (at least BIG_ROUNDS for an input
over 1 GB, whose runs the disk's writeback makes vary by half). Hot cache: the inputs were just
written or read. Cold cache (`--cold`, needs root): `sync; echo 3 > /proc/sys/vm/drop_caches`
before each command, which also hits other processes on the machine for a moment.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def build_minimind_direct(work: str, name: str, dim: int, layers: int, kv_dim: int, hidden: int) -> dict:
    """A MiniMind-named float16 state dict with random weights drawn straight in float16 (building
    the nn.Module would take minutes at this size), tied head, and a rank-16 MiniMind adapter on
    the square linears (wq, wo)."""
    import torch

    g = torch.Generator().manual_seed(0)

    def w(*shape):
        t = torch.empty(*shape, dtype=torch.float16)
        t.normal_(0.0, 0.02, generator=g)
        return t

    state = {"tok_embeddings.weight": w(6400, dim)}
    lora = {}
    for i in range(layers):
        p = f"layers.{i}."
        state[p + "attention.wq.weight"] = w(dim, dim)
        state[p + "attention.wk.weight"] = w(kv_dim, dim)
        state[p + "attention.wv.weight"] = w(kv_dim, dim)
        state[p + "attention.wo.weight"] = w(dim, dim)
        state[p + "attention_norm.weight"] = torch.ones(dim, dtype=torch.float16)
        state[p + "feed_forward.w1.weight"] = w(hidden, dim)
        state[p + "feed_forward.w2.weight"] = w(dim, hidden)
        state[p + "feed_forward.w3.weight"] = w(hidden, dim)
        state[p + "ffn_norm.weight"] = torch.ones(dim, dtype=torch.float16)
        for m in ("wq", "wo"):
            lora[p + f"attention.{m}.lora.A.weight"] = torch.randn(16, dim, generator=g) * 0.02
            lora[p + f"attention.{m}.lora.B.weight"] = torch.randn(dim, 16, generator=g) * 0.02
    state["norm.weight"] = torch.ones(dim, dtype=torch.float16)
    state["output.weight"] = state["tok_embeddings.weight"]
    base = os.path.join(work, f"{name}.pth")
    torch.save(state, base)
    adapter = os.path.join(work, f"{name}_lora.pth")
    torch.save(lora, adapter)
    largest = max(v.numel() * v.element_size() for v in state.values())
    params = sum(v.numel() for k, v in state.items() if k != "output.weight")
    return {"base": base, "adapter": adapter, "params": params, "targets": 2 * layers, "largest": largest}


def build_llama(work: str, layers: int = 10) -> dict:
    """Llama-7B-shaped float16 state dict (HF names) + rank-16 PEFT adapter, as .pth and sharded safetensors."""
    import torch
    from safetensors.torch import save_file

    g = torch.Generator().manual_seed(0)
    h, inter, vocab, r = 4096, 11008, 32000, 16

    def w(*shape):
        t = torch.empty(*shape, dtype=torch.float16)
        t.normal_(0.0, 0.02, generator=g)
        return t

    state = {"model.embed_tokens.weight": w(vocab, h)}
    for i in range(layers):
        p = f"model.layers.{i}."
        for proj in ("q_proj", "k_proj", "v_proj", "o_proj"):
            state[p + f"self_attn.{proj}.weight"] = w(h, h)
        state[p + "mlp.gate_proj.weight"] = w(inter, h)
        state[p + "mlp.up_proj.weight"] = w(inter, h)
        state[p + "mlp.down_proj.weight"] = w(h, inter)
        state[p + "input_layernorm.weight"] = torch.ones(h, dtype=torch.float16)
        state[p + "post_attention_layernorm.weight"] = torch.ones(h, dtype=torch.float16)
    state["model.norm.weight"] = torch.ones(h, dtype=torch.float16)
    state["lm_head.weight"] = w(vocab, h)
    base = os.path.join(work, "llama.pth")
    torch.save(state, base)

    config = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": h,
              "intermediate_size": inter, "num_attention_heads": 32, "num_key_value_heads": 32,
              "num_hidden_layers": layers, "vocab_size": vocab, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
              "max_position_embeddings": 4096, "hidden_act": "silu", "tie_word_embeddings": False,
              "torch_dtype": "float16"}
    sharded = os.path.join(work, "llama_st")
    os.makedirs(sharded)
    json.dump(config, open(os.path.join(sharded, "config.json"), "w"), indent=1)
    names = list(state)
    shards, current, size = [], [], 0
    for n in names:
        current.append(n)
        size += state[n].numel() * 2
        if size > 1.2e9:
            shards.append(current)
            current, size = [], 0
    if current:
        shards.append(current)
    weight_map = {}
    for i, group in enumerate(shards):
        fname = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
        save_file({n: state[n] for n in group}, os.path.join(sharded, fname), metadata={"format": "pt"})
        weight_map.update({n: fname for n in group})
    total = sum(v.numel() * 2 for v in state.values())
    json.dump({"metadata": {"total_size": total}, "weight_map": weight_map},
              open(os.path.join(sharded, "model.safetensors.index.json"), "w"), indent=1)

    adapter = os.path.join(work, "llama_adapter")
    os.makedirs(adapter)
    lora = {}
    for i in range(layers):
        for proj in ("q_proj", "k_proj", "v_proj", "o_proj"):
            k = f"base_model.model.model.layers.{i}.self_attn.{proj}"
            lora[k + ".lora_A.weight"] = (torch.randn(r, h, generator=g) * 0.01)
            lora[k + ".lora_B.weight"] = (torch.randn(h, r, generator=g) * 0.01)
    save_file(lora, os.path.join(adapter, "adapter_model.safetensors"), metadata={"format": "pt"})
    json.dump({"peft_type": "LORA", "r": r, "lora_alpha": 32, "lora_dropout": 0.0, "bias": "none",
               "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"], "fan_in_fan_out": False,
               "task_type": "CAUSAL_LM", "base_model_name_or_path": "synthetic-llama"},
              open(os.path.join(adapter, "adapter_config.json"), "w"), indent=1)
    largest = max(v.numel() * v.element_size() for v in state.values())
    return {"base": base, "sharded": sharded, "adapter": adapter, "layers": layers,
            "params": sum(v.numel() for v in state.values()), "largest": largest}


def check_big_output(out_pth: str, base: str, adapter: str) -> str:
    """The 4 GB output loads with torch.load(mmap=True) and holds W + 2·B@A for one merged weight."""
    import torch
    from safetensors.torch import load_file

    got = torch.load(out_pth, weights_only=True, mmap=True)
    want = torch.load(base, weights_only=True, mmap=True)
    lora = load_file(os.path.join(adapter, "adapter_model.safetensors"))
    k = "model.layers.9.self_attn.o_proj"
    a, b = lora[f"base_model.model.{k}.lora_A.weight"], lora[f"base_model.model.{k}.lora_B.weight"]
    expected = (want[k + ".weight"].float() + 2.0 * (b @ a)).half()
    diff = (got[k + ".weight"].float() - expected.float()).abs().max().item()
    same = torch.equal(got["lm_head.weight"], want["lm_head.weight"])
    return f"torch.load(mmap=True) of the merged 4 GB .pth: {len(got)} tensors, {k} max |diff| {diff:.3g} vs torch, lm_head identical: {same}"


# Disk the big input needs: its .pth and sharded copy (9.2 GB) when built, plus a cp copy and one
# output (9.2 GB) while measured, and a margin.
BIG_KEPT_BYTES = 10 * 10**9
BIG_BUILD_BYTES = 19 * 10**9
# Rounds at least, for an input over 1 GB.
BIG_ROUNDS = 7


def build_input(kind: str, work: str) -> dict:
    """Builds one merge input (run in a child process so the bench itself stays small)."""
    if kind == "small":
        return build_minimind_direct(work, "small", dim=512, layers=8, kv_dim=128, hidden=1408)
    if kind == "medium":
        return build_minimind_direct(work, "medium", dim=1536, layers=15, kv_dim=256, hidden=4096)
    if kind == "big":
        return build_llama(work)
    raise ValueError(kind)


def median(xs):
    return statistics.median(xs) if xs else None


def drop_caches() -> bool:
    try:
        subprocess.run(["sync"], check=True)
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
        return True
    except OSError:
        return False


def run(loratool: str, work: str, run_once, env: dict, rounds: int, big: bool, cold: bool,
        inputs_dir: str | None = None) -> tuple:
    """Builds the inputs (or reuses those kept in inputs_dir), measures, returns (rows, notes).
    rows: (input, what, median s, peak RSS, note)."""
    py = sys.executable
    rows, notes = [], []

    def built(kind: str) -> dict:
        where = inputs_dir or work
        kept = os.path.join(where, f"{kind}.json")
        if os.path.exists(kept):
            return json.load(open(kept))
        os.makedirs(where, exist_ok=True)
        made = subprocess.run([py, "-c", "import sys, json; sys.path.insert(0, sys.argv[1]); import bench_merge as b; "
                               "print(json.dumps(b.build_input(sys.argv[2], sys.argv[3])))", HERE, kind, where],
                              capture_output=True, text=True)
        if made.returncode != 0:
            raise RuntimeError(f"building the {kind} input failed: {made.stderr.strip().splitlines()[-1:]}")
        info = json.loads(made.stdout.strip().splitlines()[-1])
        if inputs_dir:
            json.dump(info, open(kept, "w"))
        return info

    inputs = [("MiniMind2-Small", built("small"), True), ("MiniMind 775 MB class", built("medium"), False)]
    if big:
        # The 4.57 GB input is kept twice (.pth and sharded safetensors) beside a cp copy and an
        # output: about 19 GB when built here, 10 GB when kept inputs are reused.
        where = inputs_dir or work
        kept = os.path.exists(os.path.join(where, "big.json"))
        need = BIG_KEPT_BYTES if kept else BIG_BUILD_BYTES
        free = min(shutil.disk_usage(where).free, shutil.disk_usage(work).free)   # inputs, outputs
        if free < need:
            notes.append(f"Llama-7B-shaped input skipped: {free / 1e9:.1f} GB free under {where}, "
                         f"it needs {need / 1e9:.0f} GB")
        else:
            inputs.append(("Llama-7B-shaped, 10 layers", built("big"), False))

    for label, info, with_python in inputs:
        base, adapter = info["base"], info["adapter"]
        size = os.path.getsize(base)
        out_pth, out_st = os.path.join(work, "out.pth"), os.path.join(work, "out.safetensors")
        copy = os.path.join(work, "copy.pth")
        cmds = {
            "cp": ["cp", base, copy],
            "merge .pth": [loratool, "merge", base, adapter, "-o", out_pth],
            "merge .safetensors": [loratool, "merge", base, adapter, "-o", out_st],
        }
        if "sharded" in info:
            cmds["merge sharded dir → .safetensors"] = [loratool, "merge", info["sharded"], adapter, "-o", out_st]
        if with_python:
            cmds["python"] = [py, os.path.join(HERE, "bench_python_merge.py"), base, adapter, os.path.join(work, "py.pth")]
        outputs = {"cp": copy, "merge .pth": out_pth, "merge .safetensors": out_st,
                   "merge sharded dir → .safetensors": out_st, "python": os.path.join(work, "py.pth")}
        times = {k: [] for k in cmds}
        rss = {k: 0 for k in cmds}
        faults = {k: [] for k in cmds}
        errors = {}
        # Over 1 GB the output crosses the kernel's dirty-page limits and the disk's writeback sets
        # the pace: single runs of cp and merge vary by half or more, so more rounds, not fewer.
        n_rounds = rounds if size < 1e9 else max(rounds, BIG_ROUNDS)
        for key, cmd in cmds.items():      # warm-up: page cache holds the inputs
            run_once(cmd, env)
        for _ in range(n_rounds):
            for key, cmd in cmds.items():
                # Every output of this input removed and written back first: otherwise a 4 GB
                # input's earlier outputs crowd it out of the page cache and their writeback
                # lands on whichever command runs next.
                for path in set(outputs.values()):
                    if os.path.exists(path):
                        os.remove(path)
                os.sync()
                m = run_once(cmd, env)
                if m.rc != 0:
                    errors[key] = (m.err.strip().splitlines() or ["?"])[-1]
                    continue
                times[key].append(m.wall)
                rss[key] = max(rss[key], m.rss)
                faults[key].append(m.faults)
        cold_times = {}
        if cold:
            for key in ("cp", "merge .pth", "merge .safetensors"):
                if os.path.exists(outputs[key]):
                    os.remove(outputs[key])
                if not drop_caches():
                    notes.append("cold cache: cannot write /proc/sys/vm/drop_caches (not root); skipped")
                    break
                m = run_once(cmds[key], env)
                if m.rc == 0:
                    cold_times[key] = m.wall
        if label.startswith("Llama"):
            if os.path.exists(out_pth):
                os.remove(out_pth)
            run_once(cmds["merge .pth"], env)
            check = subprocess.run([py, "-c", "import sys; sys.path.insert(0, sys.argv[1]); import bench_merge as b; "
                                    "print(b.check_big_output(*sys.argv[2:]))", HERE, out_pth, base, adapter],
                                   capture_output=True, text=True)
            notes.append(check.stdout.strip() or ("big output check FAILED: " + check.stderr.strip()[-300:]))
        t_cp = median(times["cp"])
        bound = 3 * info["largest"] + 64 * 2 ** 20
        for key in cmds:
            t = median(times[key])
            note = ""
            if key in errors:
                note = f"FAILED: {errors[key]}"
            elif key == "cp":
                note = "floor"
            elif key == "python":
                lt = median(times["merge .pth"])
                note = f"python/loratool {t / lt:.1f}x (target >= 20x)" if t and lt else ""
            elif t and t_cp:
                target = "1.5x" if key == "merge .pth" else "1.3x"
                note = f"{t / t_cp:.2f}x cp (target <= {target})"
                if key.startswith("merge"):
                    note += f"; RSS {'within' if rss[key] <= bound else 'ABOVE'} the bound 3 x {info['largest'] / 1e6:.0f} MB + 64 MiB"
                    # Freed tensor buffers reused (StreamingMemory): about one fault per 4 KiB of the
                    # buffers live at once, not per 4 KiB of every tensor merged.
                    note += f"; {median(faults[key]) / 1e3:.0f}k page faults ({median(faults[key]) * 4096 / size:.2f} per 4 KiB of input)"
            if key in cold_times:
                c = cold_times["cp"] if "cp" in cold_times else None
                note += f"; cold {cold_times[key]:.2f} s" + (f" ({cold_times[key] / c:.2f}x cold cp)" if c and key != "cp" else "")
            rows.append((label, f"{key}", t, rss[key] or None, note))
        notes.append(f"{label}: {os.path.basename(base)} {size / 1e6:.0f} MB, {info['params'] / 1e6:.0f} M params, "
                     f"largest tensor {info['largest'] / 1e6:.0f} MB; median of {n_rounds} rounds")
        for path in (out_pth, out_st, copy, os.path.join(work, "py.pth")):
            if os.path.exists(path):
                os.remove(path)
    return rows, notes
