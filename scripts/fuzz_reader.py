"""Mutation fuzzing of loratool's readers through the built binary.

Usage: python3 scripts/fuzz_reader.py path/to/loratool [SEED] [CASES]

Takes checkpoints written by real torch and safetensors (the shared and generated fixtures), damages
them (flipped, deleted and inserted bytes; for zip files also a re-zipped archive whose data.pkl
alone is damaged, so the pickle reader is reached past the CRC check), and runs `inspect --json`
and `convert` on each. Every run must exit 0 or 2 with an `error:` line; anything else (a signal, a
trap, another status, a hang over 20 s) is kept under /tmp/loratool-fuzz/ and counted. Prints
"N passed, M failed" and exits 1 on any failure. Needs only the Python standard library.
"""

import io
import os
import random
import shutil
import subprocess
import sys
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEEDS = [
    os.path.join(ROOT, "..", "shared", "fixtures", "edge.pth"),
    os.path.join(ROOT, "..", "shared", "fixtures", "edge_legacy.pth"),
    os.path.join(ROOT, "Tests", "Fixtures", "safetensors", "mixed.safetensors"),
    os.path.join(ROOT, "Tests", "Fixtures", "matrix", "p4_legacy.pth"),
    os.path.join(ROOT, "Tests", "Fixtures", "matrix", "p5_zip.pth"),
    os.path.join(ROOT, "Tests", "Fixtures", "matrix", "nested_p2.pth"),
    os.path.join(ROOT, "Tests", "Fixtures", "matrix", "strides.pth"),
]
WORK = "/tmp/loratool-fuzz"


def damage(data: bytearray, rng: random.Random) -> bytearray:
    for _ in range(rng.choice([1, 1, 2, 4, 8])):
        pos = rng.randrange(len(data))
        kind = rng.random()
        if kind < 0.6:
            data[pos] = rng.randrange(256)
        elif kind < 0.8:
            del data[pos:pos + rng.randrange(1, 16)]
        else:
            data[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 8)))
    return data


def damage_pickle_in_zip(raw: bytes, rng: random.Random) -> bytes:
    """Re-zips the archive with only its data.pkl damaged (valid CRCs throughout)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(raw)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            body = src.read(info.filename)
            if info.filename.endswith("data.pkl"):
                body = bytes(damage(bytearray(body), rng))
            dst.writestr(info.filename, body)
    return out.getvalue()


def main() -> int:
    binary = sys.argv[1]
    rng = random.Random(int(sys.argv[2]) if len(sys.argv) > 2 else 1)
    cases = int(sys.argv[3]) if len(sys.argv) > 3 else 500
    os.makedirs(WORK, exist_ok=True)
    seeds = [s for s in SEEDS if os.path.exists(s)]
    passed = failed = 0
    for i in range(cases):
        src = rng.choice(seeds)
        raw = open(src, "rb").read()
        if raw[:2] == b"PK" and rng.random() < 0.5:
            data = damage_pickle_in_zip(raw, rng)
        else:
            data = bytes(damage(bytearray(raw), rng))
        ext = os.path.splitext(src)[1]
        path = os.path.join(WORK, "case" + ext)
        with open(path, "wb") as f:
            f.write(data)
        ok = True
        for args in (["inspect", "--json", path], ["convert", path, "-o", os.path.join(WORK, "out.safetensors")]):
            try:
                r = subprocess.run([binary] + args, capture_output=True, timeout=20)
                good = r.returncode == 0 or (r.returncode == 2 and r.stderr.startswith(b"error: "))
                detail = f"status {r.returncode}: {r.stderr[-200:]!r}"
            except subprocess.TimeoutExpired:
                good, detail = False, "hang"
            if not good:
                ok = False
                keep = os.path.join(WORK, f"failure{i}{ext}")
                shutil.copy(path, keep)
                print(f"FAIL {args[0]} {keep}: {detail}")
        passed += ok
        failed += not ok
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
