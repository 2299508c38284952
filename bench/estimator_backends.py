"""Estimator fits with workers on threads against workers in processes, by data size.

``ADMMLogisticRegression(l1_ratio=1).fit`` on the paper's generator (density 0.01, d =
1,000) at W = 2, N from 1,000 to 400,000 rows (10^4 to 4·10^6 stored values), once with
each backend in the same run. Reported: seconds of each and their ratio; the ``local``
backend's switch (``THREADS_UP_TO_NONZEROS``) should sit where the ratio crosses 1.
"""

from __future__ import annotations

import time

from runtime.generator import generate_rows
from scheduler_host.estimators import ADMMLogisticRegression
from scheduler_host.estimators.backends import THREADS_UP_TO_NONZEROS

FEATURES, DENSITY, WORKERS = 1_000, 0.01, 2


def _seconds(backend: str, features: object, labels: object) -> tuple[float, int]:
    model = ADMMLogisticRegression(C=1.0, l1_ratio=1.0, n_workers=WORKERS, backend=backend)
    began = time.perf_counter()
    model.fit(features, labels)
    return time.perf_counter() - began, int(model.n_iter_[0])


def run(samples: tuple[int, ...] = (1_000, 10_000, 100_000, 400_000)) -> dict[str, object]:
    rows = []
    for count in samples:
        data = generate_rows(
            samples=count, features=FEATURES, density=DENSITY, seed=0, start=0, stop=count
        )
        threads, iterations = _seconds("threads", data.features, data.labels)
        processes, _ = _seconds("processes", data.features, data.labels)
        rows.append(
            {
                "samples": count,
                "nonzeros": data.nnz,
                "iterations": iterations,
                "threads_seconds": threads,
                "processes_seconds": processes,
                "threads_over_processes": threads / processes,
            }
        )
    return {"workers": WORKERS, "threads_up_to_nonzeros": THREADS_UP_TO_NONZEROS, "runs": rows}
