"""The worker's cold path, the part of a Lambda cold start this code controls.

For a W=64 shard of the paper's instance (9,375 of 600,000 rows, d = 10,000), a fresh
interpreter (as a local worker process or a new Lambda sandbox) does, in order: start, import
the worker's runtime (``runtime.worker``: numpy, scipy.sparse, zmq, msgpack, pydantic), generate
its rows, and compute its first x-update from z = 0 (the default Newton-CG). Each step is timed
inside the child with ``time.perf_counter`` from the interpreter's start; the import time is also
reported alone (``python -c 'import runtime.worker'``), next to a bare interpreter's start in
the same run as the baseline. No ZMQ traffic: the network part of a join is the scheduler's.
Goal (issue 9): the whole path ≤ 0.5 s locally.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time

REPEATS = 5
CHILD = r"""
import json, time
began = time.perf_counter()
import numpy as np
from runtime.worker import run_worker  # noqa: F401  (the worker's whole import closure)
from runtime.generator import generate_rows
from runtime.losses import LogisticLoss
from runtime.specs import LocalSolverSpec
from runtime.x_update import XUpdate
imported = time.perf_counter()
rows = generate_rows(samples=600_000, features=10_000, density=0.001, seed=0, start=0, stop=9_375)
generated = time.perf_counter()
zero = np.zeros(10_000)
XUpdate(LocalSolverSpec(), LogisticLoss()).solve(rows, rho=1.0, center=zero, x0=zero)
updated = time.perf_counter()
print(json.dumps({"import": imported - began, "generate": generated - imported,
                  "first_update": updated - generated}))
"""


def _seconds(*arguments: str) -> float:
    began = time.perf_counter()
    subprocess.run([sys.executable, *arguments], check=True, capture_output=True)
    return time.perf_counter() - began


def run() -> dict[str, object]:
    bare = [_seconds("-c", "pass") for _ in range(REPEATS)]
    imports = [_seconds("-c", "import runtime.worker") for _ in range(REPEATS)]
    paths = []
    for _ in range(REPEATS):
        began = time.perf_counter()
        child = subprocess.run(
            [sys.executable, "-c", CHILD], check=True, capture_output=True, text=True
        )
        parts = json.loads(child.stdout)
        parts["whole"] = time.perf_counter() - began
        paths.append(parts)
    median = {key: statistics.median(path[key] for path in paths) for key in paths[0]}
    return {
        "bare_interpreter_seconds": statistics.median(bare),
        "import_runtime_worker_seconds": statistics.median(imports),
        "cold_path_median_seconds": median,
        "whole_over_bare_interpreter": median["whole"] / statistics.median(bare),
        "runs": paths,
    }
