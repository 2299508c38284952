"""Timing the real command line: ``lambda-admm solve`` as a user runs it, start-up included."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LAMBDA_ADMM = str(Path(sys.executable).parent / "lambda-admm")


@dataclass(frozen=True)
class CliRun:
    """One ``lambda-admm solve``: its wall time from process start to exit, and result.json."""

    wall_seconds: float
    result: dict[str, Any]


def timed_solve(*arguments: str) -> CliRun:
    """Run ``lambda-admm solve ARGUMENTS --out TMP --allow-unconverged``; its wall and result."""
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as scratch:
        out = Path(scratch) / "out"
        command = [LAMBDA_ADMM, "solve", *arguments, "--out", str(out), "--allow-unconverged"]
        began = time.perf_counter()
        completed = subprocess.run(command, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - began
        if completed.returncode != 0:
            raise RuntimeError(
                f"{' '.join(command)} exited {completed.returncode}:\n{completed.stderr[-2000:]}"
            )
        result = json.loads((out / "result.json").read_text())
    return CliRun(wall_seconds=wall, result=result)


def relative_gap(objective: float, optimum: float) -> float:
    return (objective - optimum) / abs(optimum)
