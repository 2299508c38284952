"""``lambda-admm data prepare`` streaming a large svmlight file: peak memory and throughput.

Two files are written in the run: a small one (``SMALL_BYTES``, which fits in memory) and a
large one (``LARGE_BYTES``, 2 GB by default), both repeats of one block of random rows
(d = 100,000, 20 values per row, labels ±1; parsing cost does not depend on the values being
new). Measured, each in a child process so that its peak RSS is its own
(``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss`` after it exits):

* the small file loaded by scikit-learn's ``load_svmlight_file`` (the baseline), and
  prepared by ``lambda-admm data prepare`` into 64 shards: MB/s of each and the ratio;
* the large file prepared into 64 shards: MB/s and peak RSS (the goal: ≤ 500 MB).
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SMALL_BYTES = 200 * 2**20
LARGE_BYTES = 2 * 2**30
FEATURES, PER_ROW, WORKERS = 100_000, 20, 64
LOAD_WITH_SKLEARN = (
    "import sys; from sklearn.datasets import load_svmlight_file; load_svmlight_file(sys.argv[1])"
)


def _block(rows: int = 40_000, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    lines = []
    for _ in range(rows):
        columns = np.sort(rng.choice(FEATURES, PER_ROW, replace=False)) + 1
        values = rng.standard_normal(PER_ROW)
        pairs = " ".join(f"{c}:{v:.6g}" for c, v in zip(columns, values, strict=True))
        lines.append(f"{rng.choice([-1, 1])} {pairs}\n")
    return "".join(lines).encode()


def write_file(path: Path, size: int) -> int:
    """Repeats of one block until ``size`` bytes; returns the bytes written."""
    block, written = _block(), 0
    with path.open("wb") as stream:
        while written < size:
            stream.write(block)
            written += len(block)
    return written


def _child(command: list[str]) -> tuple[float, float]:
    """(seconds, peak RSS in MB) of a child process (the largest of any child so far, so
    children run from the smallest expected peak up)."""
    began = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - began
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return seconds, peak_kb / 1024


def _prepare(source: Path, destination: Path) -> list[str]:
    cli = str(Path(sys.executable).with_name("lambda-admm"))
    return [cli, "data", "prepare", str(source), str(destination), "--workers", str(WORKERS)]


def run(large_bytes: int = LARGE_BYTES) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="bench-prepare-", dir=os.environ.get("BENCH_TMP")) as t:
        scratch = Path(t)
        small = scratch / "small.svm"
        small_mb = write_file(small, SMALL_BYTES) / 2**20
        ours_small, ours_small_rss = _child(_prepare(small, scratch / "small-shards"))
        large = scratch / "large.svm"
        large_mb = write_file(large, large_bytes) / 2**20
        ours_large, ours_large_rss = _child(_prepare(large, scratch / "large-shards"))
        # scikit-learn last: its peak (the whole file in memory) would mask ours above.
        sklearn_small, sklearn_small_rss = _child(
            [sys.executable, "-c", LOAD_WITH_SKLEARN, str(small)]
        )
    return {
        "small_file_mb": small_mb,
        "sklearn_load_mb_per_s": small_mb / sklearn_small,
        "sklearn_peak_rss_mb_at_most": sklearn_small_rss,
        "prepare_small_mb_per_s": small_mb / ours_small,
        "prepare_small_peak_rss_mb": ours_small_rss,
        "prepare_over_sklearn_throughput": (small_mb / ours_small) / (small_mb / sklearn_small),
        "large_file_mb": large_mb,
        "prepare_large_mb_per_s": large_mb / ours_large,
        "prepare_large_peak_rss_mb": ours_large_rss,
        "workers": WORKERS,
        "goal_peak_rss_mb": 500,
    }
