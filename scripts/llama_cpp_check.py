"""Runs loratool's GGUF files in llama.cpp and compares its logits (and tokenization) with loratool's.

Usage (with the project venv, see scripts/ensure_venv.sh):
    $(scripts/ensure_venv.sh) scripts/llama_cpp_check.py [path/to/loratool] [--shared DIR] [--tolerance 5e-2]

llama.cpp comes from, in this order: LLAMA_CPP_LIB_PATH and PYTHONPATH when both are set; the prebuilt
copy in `../shared/tools/llama_cpp` (llama-cpp-python 0.3.36; its env.sh unpacks it into ~/.cache); a
build of our own in `.cache/llama_cpp-0.3.36/` (git-ignored), made the first time neither is there:
`pip download` of the pinned sdist (llama-cpp-python==0.3.36), its vendored llama.cpp built with
CMake as the prebuilt copy was (shared libraries, Release, no -march=native, AVX2/FMA/F16C, no tools;
about 20 minutes on 2 cores, niced, logged to `.cache/llama_cpp-0.3.36/build.log`), and its Python
bindings beside the libraries; later runs reuse it. When it cannot be built (no cmake or C++ compiler
on PATH, no network, a failed build) or `--no-build` is given, the script prints "SKIP ..." with the
reason and exits 0: nothing in the project depends on llama.cpp.

For every model family (MiniMind2 v1 .pth, MiniMind2 HF-era + PEFT, minimind-3 dense and MoE, and the
project's Qwen2 fixture with q/k/v biases, written without a tokenizer as llama.cpp's `no_vocab`), merged
with its adapter to GGUF f16 (and f32, q8_0): llama.cpp's logits on the fixture tokens against
loratool's own logits of the same GGUF (`loratool logits model.gguf`) and torch's adapter-wrapped
logits; llama.cpp's tokenizer (vocab-only load) against `tokenizers` on mixed texts.
Prints one line per check and "N passed, M failed"; exits 1 on any failure.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from check_harness import CheckFailed, Runner  # noqa: E402
from export_interop import FAMILIES, ROPE_FIXTURES, SAMPLE_TEXTS, fx, tokenizer_args, tokens_file  # noqa: E402


def llama_cpp_environment(shared_tools: str) -> dict | None:
    """The environment variables that make `llama_cpp` importable, or None when no copy is found."""
    if os.environ.get("LLAMA_CPP_LIB_PATH") and os.environ.get("PYTHONPATH"):
        return {}
    env_sh = os.path.join(shared_tools, "llama_cpp", "env.sh")
    if not os.path.exists(env_sh):
        return None
    out = subprocess.run(["bash", env_sh], capture_output=True, text=True, check=True).stdout
    env = {}
    for part in out.replace("export ", "").split():
        key, _, value = part.partition("=")
        value = value.strip("'")
        value = value.replace("${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}", "").replace("${PYTHONPATH:+:$PYTHONPATH}", "")
        env[key] = value.strip("'")
    return env


LLAMA_CPP_PYTHON_VERSION = "0.3.36"
BUILD_CACHE = os.path.join(ROOT, ".cache", f"llama_cpp-{LLAMA_CPP_PYTHON_VERSION}")
# As the prebuilt copy (../shared/tools/llama_cpp/README.md): shared libraries for any x86-64 with
# AVX2/FMA/F16C, no -march=native, only the library (no tools, examples, tests, server, curl).
CMAKE_ARGS = ["-DCMAKE_BUILD_TYPE=Release", "-DBUILD_SHARED_LIBS=ON", "-DGGML_NATIVE=OFF", "-DGGML_AVX=ON",
              "-DGGML_AVX2=ON", "-DGGML_FMA=ON", "-DGGML_F16C=ON", "-DLLAMA_CURL=OFF", "-DLLAMA_BUILD_TESTS=OFF",
              "-DLLAMA_BUILD_EXAMPLES=OFF", "-DLLAMA_BUILD_TOOLS=OFF", "-DLLAMA_BUILD_SERVER=OFF", "-DLLAMA_BUILD_COMMON=OFF"]


def built_environment(cache: str) -> dict:
    """The environment that imports the bindings built into `cache`."""
    lib = os.path.join(cache, "lib")
    return {"LLAMA_CPP_LIB_PATH": lib, "LD_LIBRARY_PATH": lib, "PYTHONPATH": cache}


def build_from_sdist(cache: str, jobs: int = 2) -> tuple[dict | None, str]:
    """Builds llama-cpp-python's vendored llama.cpp from the pinned sdist into `cache` (reused when complete).

    Returns (environment, how) on success, (None, why not) when it cannot be built."""
    done = os.path.join(cache, "COMPLETE")
    if os.path.exists(done):
        return built_environment(cache), f"built earlier in {cache}"
    cmake, compiler = shutil.which("cmake"), shutil.which("c++") or shutil.which("g++") or shutil.which("clang++")
    if not cmake or not compiler:
        return None, f"cannot build it: no {'cmake' if not cmake else 'C++ compiler'} on PATH"
    os.makedirs(cache, exist_ok=True)
    log_path = os.path.join(cache, "build.log")
    with open(log_path, "a") as log:
        def step(cmd: list, **kw) -> bool:
            log.write("$ " + " ".join(cmd) + "\n")
            log.flush()
            return subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, **kw).returncode == 0

        sdist_dir = os.path.join(cache, "sdist")
        name = f"llama_cpp_python-{LLAMA_CPP_PYTHON_VERSION}"
        archive = os.path.join(sdist_dir, name + ".tar.gz")
        if not os.path.exists(archive):
            # The sdist only (no build of it by pip, no dependencies): pip's ordinary download.
            ok = step([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", "llama-cpp-python",
                       f"llama-cpp-python=={LLAMA_CPP_PYTHON_VERSION}", "-d", sdist_dir])
            if not ok or not os.path.exists(archive):
                return None, f"cannot build it: pip could not download the llama-cpp-python {LLAMA_CPP_PYTHON_VERSION} sdist (no network?), see {log_path}"
        source = os.path.join(cache, "src")
        if not os.path.isdir(os.path.join(source, name)):
            import tarfile
            with tarfile.open(archive) as tar:
                tar.extractall(source, filter="data")
        root = os.path.join(source, name)
        build = os.path.join(cache, "build")
        nice = ["nice", "-n", "19"] if shutil.which("nice") else []
        if not step(nice + [cmake, "-S", os.path.join(root, "vendor", "llama.cpp"), "-B", build, *CMAKE_ARGS]):
            return None, f"cannot build it: cmake configure failed, see {log_path}"
        if not step(nice + [cmake, "--build", build, "--target", "llama", "-j", str(jobs)]):
            return None, f"cannot build it: the build failed, see {log_path}"
        lib = os.path.join(cache, "lib")
        os.makedirs(lib, exist_ok=True)
        libraries = [os.path.join(d, f) for d, _, files in os.walk(build) for f in files
                     if f.startswith(("libllama.so", "libggml")) and ".so" in f]
        for path in libraries:
            target = os.path.join(lib, os.path.basename(path))
            if os.path.islink(path):
                if os.path.lexists(target):
                    os.remove(target)
                os.symlink(os.readlink(path), target)
            else:
                shutil.copy2(path, target)
        if not os.path.exists(os.path.join(lib, "libllama.so")):
            return None, f"cannot build it: no libllama.so after the build, see {log_path}"
        shutil.rmtree(os.path.join(cache, "llama_cpp"), ignore_errors=True)
        shutil.copytree(os.path.join(root, "llama_cpp"), os.path.join(cache, "llama_cpp"))
        open(done, "w").write(f"llama-cpp-python {LLAMA_CPP_PYTHON_VERSION} sdist, cmake {' '.join(CMAKE_ARGS)}\n")
    return built_environment(cache), f"built from the sdist into {cache}"



def llama_logits(Llama, path: str, tokens: list) -> "np.ndarray":
    """llama.cpp's logits for every position of tokens, run on the GGUF at path (2 threads)."""
    model = Llama(model_path=path, logits_all=True, verbose=False, n_ctx=max(64, len(tokens) + 8), n_threads=2)
    model.eval(tokens)
    return np.array(model.scores[: len(tokens)], dtype=np.float32)

def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("loratool", nargs="?", default=os.environ.get("LORATOOL", os.path.join(ROOT, ".build/debug/loratool")))
    parser.add_argument("--shared", default=os.path.join(os.path.dirname(ROOT), "shared"))
    parser.add_argument("--tolerance", type=float, default=5e-2)
    parser.add_argument("--no-build", action="store_true", help="skip instead of building llama.cpp when no copy is found")
    parser.add_argument("--build-cache", default=BUILD_CACHE, help=argparse.SUPPRESS)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if not args.child:
        env = llama_cpp_environment(os.path.join(args.shared, "tools"))
        if env is None:
            prebuilt = os.path.join(args.shared, "tools/llama_cpp")
            if args.no_build:
                print(f"SKIP llama.cpp check: no prebuilt llama.cpp at {prebuilt} and --no-build")
                return 0
            env, how = build_from_sdist(args.build_cache)
            if env is None:
                print(f"SKIP llama.cpp check: no prebuilt llama.cpp at {prebuilt}, and {how}")
                return 0
            print(f"llama.cpp: {how}")
        # Re-run in a child whose environment has the library path set before the bindings load.
        child_env = dict(os.environ)
        for key, value in env.items():
            child_env[key] = value + ((":" + os.environ[key]) if os.environ.get(key) and key != "LLAMA_CPP_LIB_PATH" else "")
        return subprocess.run([sys.executable, __file__, args.loratool, "--shared", args.shared, "--tolerance",
                               str(args.tolerance), "--child"], env=child_env).returncode

    from llama_cpp import Llama
    fixtures = os.path.join(args.shared, "fixtures")
    workdir = tempfile.mkdtemp(prefix="loratool-llama-cpp-")
    r = Runner(os.path.abspath(args.loratool), workdir)
    rows = []
    try:
        for family in FAMILIES:
            name, base, adapter, data = family
            base_path, adapter_path = fx(fixtures, base), fx(fixtures, adapter)
            tokens_path = tokens_file(fixtures, family)
            tokens = [int(t) for t in np.load(tokens_path).reshape(-1)]
            wrapped = np.load(os.path.join(fx(fixtures, data), "logits_wrapped.npy"))
            for gtype in ("f16", "f32", "q8_0"):
                out = r.out(f"{name}-{gtype}.gguf")

                def run_family(out=out, gtype=gtype, name=name, family=family, base_path=base_path, adapter_path=adapter_path,
                               tokens_path=tokens_path, tokens=tokens, wrapped=wrapped):
                    r.run("merge", base_path, adapter_path, "-o", out, "--dtype", gtype, *tokenizer_args(fixtures, family))
                    ours_path = r.out(f"{name}-{gtype}-ours.npy")
                    r.run("logits", out, "--tokens", tokens_path, "-o", ours_path)
                    ours = np.load(ours_path)
                    theirs = llama_logits(Llama, out, tokens)
                    d_ours = float(np.abs(theirs - ours).max())
                    d_torch = float(np.abs(theirs - wrapped).max())
                    rows.append((name, gtype, d_ours, d_torch))
                    limit = args.tolerance if gtype != "q8_0" else max(args.tolerance, 4 / 127 * max(1.0, float(np.abs(ours).max())))
                    if d_ours > limit:
                        raise CheckFailed(f"llama.cpp vs loratool on the GGUF: max |Δ| {d_ours:.3g} > {limit:.3g}")
                    return f"vs loratool {d_ours:.2g}, vs torch wrapped {d_torch:.2g} (limit {limit:.2g})"

                r.check(f"llama.cpp {name} {gtype}: logits", run_family)

            if name == "minimind-v1":
                def tokenize(out=r.out(f"{name}-f16.gguf")):
                    from tokenizers import Tokenizer
                    source = Tokenizer.from_file(os.path.join(fixtures, "tokenizer.json"))
                    vocab_only = Llama(model_path=out, vocab_only=True, verbose=False)
                    for text in SAMPLE_TEXTS:
                        want = source.encode(text, add_special_tokens=False).ids
                        got = vocab_only.tokenize(text.encode("utf-8"), add_bos=False, special=True)
                        if got != want:
                            raise CheckFailed(f"llama.cpp splits {text!r} differently: {got[:16]} vs {want[:16]}")
                    return f"{len(SAMPLE_TEXTS)} mixed Chinese/English/code/digit texts, tokenizer.ggml.pre = gpt-2"

                r.check("llama.cpp tokenizer = tokenizers", tokenize)

        # Rotary scaling (llama3 as rope_freqs, yarn as rope.scaling.*): llama.cpp against transformers'
        # logits of the source model (the fixture's logits.npy) and loratool's of the source directory.
        for name, rel in ROPE_FIXTURES:
            src = fx(fixtures, "local:" + rel)
            tokens_path = os.path.join(src, "tokens.npy")
            tokens = [int(t) for t in np.load(tokens_path).reshape(-1)]
            source = np.load(os.path.join(src, "logits.npy")).reshape(len(tokens), -1)
            for gtype in ("f32", "f16"):
                def run_rope(name=name, src=src, gtype=gtype, tokens=tokens, tokens_path=tokens_path, source=source):
                    out = r.out(f"{name}-{gtype}.gguf")
                    r.run("convert", src, "-o", out, "--dtype", gtype)
                    ours_path = r.out(f"{name}-{gtype}-ours.npy")
                    r.run("logits", src, "--tokens", tokens_path, "-o", ours_path)
                    ours = np.load(ours_path)
                    theirs = llama_logits(Llama, out, tokens)
                    d_source, d_ours = float(np.abs(theirs - source).max()), float(np.abs(theirs - ours).max())
                    rows.append((name, gtype, d_ours, d_source))
                    # These logits are small (|logit| < 1) and the same weights with plain RoPE move them by
                    # 2.4e-3 (yarn) and 4.0e-3 (llama3) (scripts/export_interop.py): a limit that sees a dropped scaling.
                    limit = 1e-3
                    if max(d_source, d_ours) > limit:
                        raise CheckFailed(f"llama.cpp vs transformers {d_source:.3g}, vs loratool {d_ours:.3g} (> {limit:.3g})")
                    return f"vs transformers {d_source:.2g}, vs loratool {d_ours:.2g} (limit {limit:.2g}, max |logit| {np.abs(source).max():.2g})"

                r.check(f"llama.cpp {name} {gtype}: logits with the scaling", run_rope)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if rows:
        print("\n| family | GGUF type | llama.cpp vs loratool | llama.cpp vs torch (adapter-wrapped; rope fixtures: transformers) |")
        print("| --- | --- | --- | --- |")
        for name, gtype, d_ours, d_torch in rows:
            print(f"| {name} | {gtype} | {d_ours:.2e} | {d_torch:.2e} |")
    print(f"{r.passed} passed, {r.failed} failed")
    return 1 if r.failed else 0


if __name__ == "__main__":
    sys.exit(main())
