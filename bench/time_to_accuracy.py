"""Time to accuracy on the paper's instance: ``lambda-admm solve`` against liblinear, one run.

liblinear (``penalty='l1'``, ``fit_intercept=False``, its default tolerance) is timed on the
whole instance in the same run: its fit time (the data already in memory) and its gap against
a tight optimum, computed once here (liblinear at tol 1e-10). For W = 2 (the cores) and 4,
``lambda-admm solve`` runs as a user runs it, with ``--max-iter k`` for k = 1, 2, ... (each a
fresh CLI process: imports, worker start-up and data generation included, result writing too);
the time to a target gap is the wall time of the first k whose answer is that close. Reported:
those times and their ratio to liblinear's fit time, for gaps 1e-3, 1e-4 and 1e-6.
"""

from __future__ import annotations

from bench.cli_runs import relative_gap, timed_solve
from bench.paper_solve import DENSITY, FEATURES, L1, SAMPLES, serial_optimum

TARGETS = (1e-3, 1e-4, 1e-6)
MAX_ITERATIONS = 40


def _ours(workers: int, optimum: float, liblinear_seconds: float) -> dict[str, object]:
    instance = ["--problem", "paper", "--samples", str(SAMPLES), "--features", str(FEATURES)]
    instance += ["--density", str(DENSITY), "--l1", str(L1), "--workers", str(workers)]
    reached: dict[str, object] = {}
    runs = []
    for max_iter in range(1, MAX_ITERATIONS + 1):
        run = timed_solve(
            *instance, "--max-iter", str(max_iter), "--eps-primal", "1e-12", "--eps-dual", "1e-12"
        )
        gap = relative_gap(float(run.result["objective"]), optimum)
        runs.append({"max_iter": max_iter, "wall_seconds": run.wall_seconds, "gap": gap})
        for target in TARGETS:
            key = f"{target:.0e}"
            if key not in reached and gap <= target:
                reached[key] = {
                    "iterations": max_iter,
                    "wall_seconds": run.wall_seconds,
                    "over_liblinear": run.wall_seconds / liblinear_seconds,
                }
        if all(f"{target:.0e}" in reached for target in TARGETS):
            break
    return {"workers": workers, "reached": reached, "runs": runs}


def run(workers: tuple[int, ...] = (2, 4)) -> dict[str, object]:
    optimum, tight_seconds = serial_optimum(tol=1e-10, max_iter=10_000)
    default_objective, liblinear_seconds = serial_optimum(tol=1e-4)  # scikit-learn's defaults
    return {
        "optimum": optimum,
        "optimum_seconds": tight_seconds,
        "liblinear": {
            "fit_seconds": liblinear_seconds,
            "gap": relative_gap(default_objective, optimum),
        },
        "ours": [_ours(count, optimum, liblinear_seconds) for count in workers],
    }
