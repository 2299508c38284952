"""``make bench``: run the benchmarks, write one JSON per benchmark under bench/results/.

Machines are shared and noisy: every benchmark reports ratios against a
baseline measured in the same run, next to the raw seconds.
"""

from __future__ import annotations

import importlib
import json
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

BENCHMARKS = (
    "local_solver",
    "paper_solve",
    "dual_residual",
    "async_straggler",
    "penalty_rules",
)
RESULTS = Path(__file__).resolve().parent / "results"


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
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
            "seconds": time.perf_counter() - began,
            "result": outcome,
        }
        path = RESULTS / f"{name}-{stamp}.json"
        path.write_text(json.dumps(record, indent=2) + "\n")
        print(f"{name}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
