"""The command line's fixed costs: ``lambda-admm --help`` and a tiny solve, end to end.

Each repeat runs, one after another, a bare interpreter (``python -c pass``, the baseline),
``lambda-admm --help``, ``lambda-admm solve --help`` and a tiny solve (N=1000, d=50, W=4,
the paper's generator) with CURVE and with ``--insecure``, each a fresh process timed from
its start to its exit; the medians and their ratios to the baseline are reported, with the
tiny solve's own split (result.json's start-up and solving seconds). Goals (issue 11):
``--help`` ≤ 0.3 s, the tiny solve ≤ 2 s.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPEATS = 7
LAMBDA_ADMM = str(Path(sys.executable).parent / "lambda-admm")
TINY = ["solve", "--samples", "1000", "--features", "50", "--workers", "4"]
COMMANDS = {
    "bare_python": [sys.executable, "-c", "pass"],
    "help": [LAMBDA_ADMM, "--help"],
    "solve_help": [LAMBDA_ADMM, "solve", "--help"],
    "tiny_solve": [LAMBDA_ADMM, *TINY],
    "tiny_solve_insecure": [LAMBDA_ADMM, *TINY, "--insecure"],
}


def _timed(command: list[str], scratch: Path) -> tuple[float, dict[str, float]]:
    """Wall seconds of one run, and (for a solve) result.json's start-up and solve seconds."""
    solving = command[1:2] == ["solve"] and "--help" not in command
    out = scratch / f"out-{time.monotonic_ns()}"
    arguments = [*command, "--out", str(out)] if solving else command
    began = time.perf_counter()
    completed = subprocess.run(arguments, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - began
    if completed.returncode != 0:
        raise RuntimeError(f"{arguments} exited {completed.returncode}: {completed.stderr[-2000:]}")
    if not solving:
        return wall, {}
    body = json.loads((out / "result.json").read_text())
    return wall, {"setup": body["setup_seconds"], "solve": body["solve_seconds"]}


def run() -> dict[str, object]:
    walls: dict[str, list[float]] = {name: [] for name in COMMANDS}
    splits: dict[str, list[dict[str, float]]] = {name: [] for name in COMMANDS}
    with tempfile.TemporaryDirectory(prefix="bench-cli-startup-") as scratch:
        for _ in range(REPEATS):
            for name, command in COMMANDS.items():
                wall, split = _timed(command, Path(scratch))
                walls[name].append(wall)
                if split:
                    splits[name].append(split)
    bare = statistics.median(walls["bare_python"])
    report: dict[str, object] = {"repeats": REPEATS, "bare_python_seconds": bare}
    for name in COMMANDS:
        if name == "bare_python":
            continue
        median = statistics.median(walls[name])
        entry: dict[str, object] = {
            "median_seconds": median,
            "min_seconds": min(walls[name]),
            "max_seconds": max(walls[name]),
            "ratio_to_bare_python": median / bare,
        }
        if splits[name]:
            for part in ("setup", "solve"):
                entry[f"median_{part}_seconds"] = statistics.median(s[part] for s in splits[name])
        report[name] = entry
    report["goals"] = {
        "help_seconds_at_most": 0.3,
        "help_met": statistics.median(walls["help"]) <= 0.3,
        "tiny_solve_seconds_at_most": 2.0,
        "tiny_solve_met": statistics.median(walls["tiny_solve"]) <= 2.0,
    }
    return report
