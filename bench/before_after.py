"""scheduler_round against a baseline commit, interleaved in one run (``make bench
BENCH=before_after``; ``BEFORE_AFTER_BASE=<commit>``, default ``main``).

The baseline is exported with ``git archive`` into a temporary directory; each case runs
:mod:`bench.round_driver` in a fresh process against either tree, alternating before and
after, so both see the same machine load.  Also, for this tree only: the CURVE broadcast
per connection (the sealed broadcast's baseline), one master (W̄ = W), and W = 2,048.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DRIVER = ROOT / "bench" / "round_driver.py"
WORKERS = (64, 256, 1024)
REPEATS = 2
CASE_SECONDS = 600


def _case(tree: Path, *arguments: object) -> dict[str, Any]:
    completed = subprocess.run(
        [sys.executable, str(DRIVER), *map(str, arguments)],
        cwd=tree,
        env={**os.environ, "PYTHONPATH": str(tree)},
        capture_output=True,
        text=True,
        timeout=CASE_SECONDS,
        check=False,
    )
    if completed.returncode != 0:
        return {"arguments": list(map(str, arguments)), "error": completed.stderr[-2000:]}
    return json.loads(completed.stdout.strip().splitlines()[-1])


def run() -> dict[str, Any]:
    base = os.environ.get("BEFORE_AFTER_BASE", "main")
    commit = subprocess.run(
        ["git", "rev-parse", base], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    cases: list[dict[str, Any]] = []

    def record(label: str, tree: Path, *arguments: object) -> None:
        result = {"tree": label, **_case(tree, *arguments)}
        cases.append(result)
        ratio = result.get("round_over_transport_floor")
        print(f"{label} {arguments}: {ratio if ratio is None else round(ratio, 2)}", flush=True)

    with tempfile.TemporaryDirectory(prefix="before-after-") as directory:
        before = Path(directory)
        archive = subprocess.run(
            ["git", "archive", commit], cwd=ROOT, capture_output=True, check=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(before)], input=archive, check=True)
        for _ in range(REPEATS):
            for workers in WORKERS:
                for mode in ("insecure", "curve"):
                    record("before", before, workers, mode, 16)
                    record("after", ROOT, workers, mode, 16)
                    if mode == "curve":
                        record("after", ROOT, workers, mode, 16, "curve-pub")
            for mode in ("insecure", "curve"):
                record("after", ROOT, 1024, mode, 1024)
        for mode in ("insecure", "curve"):
            record("after", ROOT, 2048, mode, 16)
    return {"base": commit, "cases": cases, "cpus": os.cpu_count()}
