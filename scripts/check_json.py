#!/usr/bin/env python3
"""Runs every loratool command with --json, on success and on failure, and validates what it prints
against the JSON Schemas in docs/json.md (with the pinned `jsonschema`).

Usage: check_json.py LORATOOL_BINARY. Prints one line per case and a closing 'N passed, N failed'.
Each case also checks the exit status, that an error object's exit_status is the process's, that
stderr then holds exactly one 'error:' line, and that no top-level key is undocumented.
"""
import json
import os
import re
import subprocess
import sys
import tempfile

import jsonschema

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(ROOT), "shared", "fixtures")
ENVELOPE_KEYS = {"schema_version", "command", "inputs", "options", "error"}


def schemas():
    """The schemas of docs/json.md: each ```json block preceded by '<!-- schema: NAME -->'."""
    text = open(os.path.join(ROOT, "docs", "json.md"), encoding="utf-8").read()
    found = {}
    for name, body in re.findall(r"<!-- schema: ([a-z-]+) -->\s*```json\n(.*?)```", text, re.S):
        schema = json.loads(body)
        jsonschema.Draft202012Validator.check_schema(schema)
        found[name] = schema
    return found


def subcommands(binary):
    """The subcommands `loratool --help` lists."""
    text = subprocess.run([binary, "--help"], capture_output=True, text=True).stdout
    section = text.split("SUBCOMMANDS:", 1)[1]
    return [m.group(1) for m in re.finditer(r"^  ([a-z][a-z-]*)\b", section, re.M) if m.group(1) != "help"]


def cases(tmp):
    """(command, arguments, expected exit status)."""
    f = lambda rel: os.path.join(SHARED, rel)
    base, lora, peft = f("v1_tiny/base.pth"), f("v1_tiny/lora.pth"), f("hf_tiny_peft/adapter")
    merged = os.path.join(tmp, "merged.safetensors")
    blocker = os.path.join(tmp, "a-file")
    open(blocker, "w").close()
    return [
        ("inspect", ["inspect", base], 0),
        ("inspect", ["inspect", peft], 0),
        ("inspect", ["inspect", os.path.join(ROOT, "Tests/Fixtures/dirs/hf_sharded")], 0),
        ("inspect", ["inspect", f("bad/evil.pth")], 2),
        ("inspect", ["inspect", f("does/not/exist.pth")], 2),
        ("inspect", ["inspect", base, "--no-such-flag"], 64),
        ("targets", ["targets", base, "--rank", "8"], 0),
        ("targets", ["targets", base, "--modules", "no_such_module"], 3),
        ("targets", ["targets", base, "--rank", "0"], 64),
        ("targets", ["targets", lora], 2),
        ("merge", ["merge", base, lora, "-o", merged, "--dtype", "bf16"], 0),
        ("merge", ["merge", base, lora, "-o", merged], 2),  # exists, no --force
        ("merge", ["merge", base, lora, "-o", os.path.join(tmp, "dry.pth"), "--dry-run"], 0),
        ("merge", ["merge", base, peft, "-o", os.path.join(tmp, "x.pth")], 3),
        ("merge", ["merge", base, lora, "-o", os.path.join(blocker, "x.pth")], 4),
        ("convert", ["convert", base, "-o", os.path.join(tmp, "c.safetensors"), "--dtype", "fp16"], 0),
        ("merge", ["merge", f("mm3_tiny/base.pth"), f("mm3_tiny/lora.pth"), "-o", os.path.join(tmp, "hf"), "--format", "hf"], 0),
        ("merge", ["merge", f("mm3_tiny/base.pth"), f("mm3_tiny/lora.pth"), "-o", os.path.join(tmp, "m.gguf")], 0),
        ("convert", ["convert", f("mm3_tiny/base.pth"), "-o", os.path.join(tmp, "c.gguf"), "--dtype", "q8_0"], 0),
        ("combine", ["combine", lora, f("bad/evil.pth"), "--weights", "0.5,0.5", "-o", os.path.join(tmp, "comb2")], 2),
        ("convert", ["convert", base, "-o", os.path.join(tmp, "c2.pth"), "--dry-run"], 0),
        ("convert", ["convert", lora, "-o", os.path.join(tmp, "lora_peft"), "--format", "peft"], 0),
        ("convert", ["convert", peft, "-o", os.path.join(tmp, "lora_mm.pth")], 0),
        ("convert", ["convert", f("bad/evil.pth"), "-o", os.path.join(tmp, "e.pth")], 2),
        ("convert", ["convert", base, "-o", os.path.join(tmp, "x.ckpt")], 64),
        ("unmerge", ["unmerge", merged, lora, "-o", os.path.join(tmp, "u.safetensors")], 0),
        ("unmerge", ["unmerge", merged, peft, "-o", os.path.join(tmp, "u2.safetensors")], 3),
        ("logits", ["logits", base, "--tokens", "1,2,3", "--top", "3", "--decode", "2", "-o", os.path.join(tmp, "l.npy")], 0),
        ("logits", ["logits", base, "--tokens", "1,99999"], 2),
        ("logits", ["logits", base, "--tokens", "1,2", "--heads", "6"], 3),
        ("generate", ["generate", f("mm3_tiny/base.pth"), "--tokenizer", f("tokenizer.json"), "--prompt", "hi",
                      "--max-tokens", "3", "--temperature", "0"], 0),
        ("generate", ["generate", f("mm3_tiny/base.pth"), "--tokenizer", f("tokenizer.json"), "--prompt", "hi",
                      "--max-tokens", "3", "--lora", lora, "--merged", base, "--compare", "--temperature", "0"], 3),
        ("generate", ["generate", base, "--max-tokens", "0", "--prompt", "x"], 64),
        ("verify", ["verify", base, lora, "--merged", f("v1_tiny/merged_ref.pth")], 0),
        ("verify", ["verify", base, lora, "--merged", base], 1),
        ("verify", ["verify", base, peft], 3),
        ("combine", ["combine", lora, lora, "--weights", "0.5,0.5", "--method", "linear", "-o", os.path.join(tmp, "comb.pth")], 0),
        ("combine", ["combine", lora, "--weights", "1,2", "--method", "linear", "-o", os.path.join(tmp, "comb2.pth")], 64),
        ("extract", ["extract", base, f("v1_tiny/merged_ref.pth"), "--rank", "4", "-o", os.path.join(tmp, "ex.pth")], 0),
        ("extract", ["extract", base, f("hf_tiny_peft/base.pth"), "--rank", "4", "-o", os.path.join(tmp, "ex2.pth")], 2),
        ("diff", ["diff", base, f("v1_tiny/merged_ref.pth")], 0),
    ]


def main():
    binary = os.path.abspath(sys.argv[1])
    found = schemas()
    passed = failed = 0

    def record(ok, label, why=""):
        nonlocal passed, failed
        passed, failed = passed + ok, failed + (not ok)
        print(("ok   " if ok else "FAIL ") + label + ("" if ok else ": " + why))

    with tempfile.TemporaryDirectory() as tmp:
        run_cases = cases(tmp)
        for name in subcommands(binary):
            ok = name in found and any(c == name and s in (0, 1) for c, _, s in run_cases)
            record(ok, f"{name}: documented in docs/json.md and exercised", "no schema or no successful case")
        statuses = set()
        for command, args, status in run_cases:
            label = " ".join(a.replace(SHARED, "$FIXTURES").replace(tmp, "$TMP") for a in args) + " --json"
            p = subprocess.run([binary] + args + ["--json"], capture_output=True, text=True, cwd=ROOT)
            try:
                obj = json.loads(p.stdout)
                assert p.returncode == status, f"exit {p.returncode}, expected {status}: {p.stderr.strip()}"
                jsonschema.validate(obj, found["envelope"])
                assert obj["command"] == command, f"command is {obj['command']!r}"
                if "error" in obj:
                    jsonschema.validate(obj, found["error"])
                    assert obj["error"]["exit_status"] == p.returncode, "exit_status differs from the exit status"
                    # Notes (assumed hyper-parameters) may come first; the error is one line, the last.
                    errors = [line for line in p.stderr.splitlines() if line.startswith("error:")]
                    assert len(errors) == 1 and p.stderr.endswith(errors[0] + "\n"), f"stderr is not one error line: {p.stderr!r}"
                    extra = set(obj) - ENVELOPE_KEYS
                else:
                    schema = found[command]
                    jsonschema.validate(obj, schema)
                    extra = set(obj) - ENVELOPE_KEYS - set(schema.get("properties", {}))
                assert not extra, f"undocumented top-level keys {sorted(extra)}"
                statuses.add(p.returncode)
                record(True, label)
            except (AssertionError, ValueError, KeyError, jsonschema.ValidationError) as e:
                record(False, label, str(e).splitlines()[0] if str(e) else repr(e))
        for status in (0, 1, 2, 3, 4, 64):
            record(status in statuses, f"exit status {status} produced", "no case produced it")
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
