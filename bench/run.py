"""``make bench``: run the benchmarks, write one JSON per benchmark under bench/results/.

Machines are shared and noisy: every benchmark reports ratios against a
baseline measured in the same run, next to the raw seconds.
"""

from __future__ import annotations

import importlib
import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

BENCHMARKS = (
    "local_solver",
    "paper_solve",
    "dual_residual",
    "async_straggler",
    "scheduler_round",
    "spawn_rate",
    "before_after",
    "broadcast_bytes",
    "broadcast_fanout",
    "time_to_accuracy",
    "ill_conditioned",
    "cold_path",
    "penalty_rules",
    "cli_startup",
    "estimator_backends",
    "prepare_stream",
    "path_vs_solves",
)
RESULTS = Path(__file__).resolve().parent / "results"


def _commit() -> str | None:
    """The checked-out commit (with ``+dirty`` for uncommitted changes), to tell runs apart."""
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None  # not a git checkout (an archive)
    return head + ("+dirty" if dirty else "")


def main(names: list[str]) -> int:
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        print(f"unknown benchmarks {unknown}; choose from {list(BENCHMARKS)}", file=sys.stderr)
        return 2
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    for name in names or BENCHMARKS:
        began = time.perf_counter()
        outcome = importlib.import_module(f"bench.{name}").run()
        record = {
            "benchmark": name,
            "when": stamp,
            "machine": {
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "load_average": os.getloadavg(),
            },
            "commit": _commit(),
            "seconds": time.perf_counter() - began,
            "result": outcome,
        }
        path = RESULTS / f"{name}-{stamp}.json"
        path.write_text(json.dumps(record, indent=2) + "\n")
        print(f"{name}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
