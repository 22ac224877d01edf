"""The check harness shared by the interop scripts (interop.py, export_interop.py, llama_cpp_check.py).

`Runner.check(name, fn)` runs one check and prints `PASS name (detail)` or `FAIL name: why`, counting
both; a check fails by raising `CheckFailed` (or anything else: a crash in a check is a failure of
that check, not of the run). `Runner.run(*args)` runs loratool in the work directory.
"""

from __future__ import annotations

import os
import subprocess
import traceback


class CheckFailed(Exception):
    pass


class Output(str):
    """What loratool printed on stdout, as a string, with the process's `returncode`, `stdout` and `stderr`."""

    returncode: int
    stdout: str
    stderr: str

    def __new__(cls, proc: subprocess.CompletedProcess) -> "Output":
        out = super().__new__(cls, proc.stdout)
        out.returncode, out.stdout, out.stderr = proc.returncode, proc.stdout, proc.stderr
        return out


class Runner:
    def __init__(self, loratool: str, workdir: str):
        self.loratool = loratool
        self.workdir = workdir
        self.passed = 0
        self.failed = 0

    def check(self, name: str, fn) -> bool:
        try:
            detail = fn()
        except CheckFailed as e:
            self.failed += 1
            print(f"FAIL {name}: {e}", flush=True)
            return False
        except Exception as e:  # a crash in a check is a failure of that check, not of the run
            self.failed += 1
            last = traceback.format_exception_only(type(e), e)[-1].strip()
            print(f"FAIL {name}: {last}", flush=True)
            return False
        self.passed += 1
        print(f"PASS {name}" + (f" ({detail})" if detail else ""), flush=True)
        return True

    def run(self, *args: str, ok: bool = True) -> Output:
        """Runs loratool; with `ok` (the default) raises CheckFailed with the tail of stderr on a non-zero exit."""
        cmd = [self.loratool, *args]
        try:
            proc = subprocess.run(cmd, cwd=self.workdir, capture_output=True, text=True, timeout=600)
        except FileNotFoundError:
            raise CheckFailed(f"cannot execute {self.loratool}")
        except subprocess.TimeoutExpired:
            raise CheckFailed(f"timed out: {' '.join(cmd)}")
        if ok and proc.returncode != 0:
            tail = (proc.stderr.strip() or proc.stdout.strip()).splitlines()[-3:]
            raise CheckFailed(f"`loratool {' '.join(args)}` exited {proc.returncode}: " + " | ".join(tail))
        return Output(proc)

    def out(self, name: str) -> str:
        """A path in the work directory."""
        return os.path.join(self.workdir, name)
