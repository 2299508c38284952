"""A 20-value path of λ1 on warm workers against 20 separate solves, on the paper's instance.

L1-logistic regression, N = 600,000, d = 10,000, p = 0.001, W = 4 local worker processes,
the default stopping rule and max_iter (per λ). The path (``run_path``) starts its workers
once; each separate solve (``run_solve``) starts its own, cold, at the path's λ values.
Reported: both wall times (worker start-up included) and their ratio, the iterations, and the
largest relative difference between the two answers' objectives at the same λ.
"""

from __future__ import annotations

import time

from scheduler_host.solve import run_solve
from scheduler_host.solve.path import run_path
from scheduler_host.solve_spec import SolveSpec
from scheduler_host.spawners.local import LocalProcessSpawner

SAMPLES, FEATURES, DENSITY, WORKERS, COUNT, MIN_RATIO = 600_000, 10_000, 0.001, 4, 20, 1e-3


def run() -> dict[str, object]:
    spec = SolveSpec(samples=SAMPLES, features=FEATURES, density=DENSITY, workers=WORKERS)
    began = time.perf_counter()
    path = run_path(spec, spawner=LocalProcessSpawner(), count=COUNT, min_ratio=MIN_RATIO)
    path_seconds = time.perf_counter() - began
    separate = []
    began = time.perf_counter()
    for point in path.points:
        cold = run_solve(spec.model_copy(update={"l1": point.l1}), spawner=LocalProcessSpawner())
        separate.append(cold)
    separate_seconds = time.perf_counter() - began
    gaps = [
        abs(point.objective - cold.objective) / abs(cold.objective)
        for point, cold in zip(path.points, separate, strict=True)
    ]
    return {
        "workers": WORKERS,
        "lambdas": [point.l1 for point in path.points],
        "lambda_max": path.lambda_max,
        "path_wall_seconds": path_seconds,
        "path_setup_seconds": path.setup_seconds,
        "path_iterations": [point.iterations for point in path.points],
        "path_converged": sum(point.converged for point in path.points),
        "separate_wall_seconds": separate_seconds,
        "separate_iterations": [cold.iterations for cold in separate],
        "separate_converged": sum(cold.converged for cold in separate),
        "separate_over_path": separate_seconds / path_seconds,
        "largest_relative_objective_difference": max(gaps),
    }
