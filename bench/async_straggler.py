"""Sync vs async ADMM when one worker is consistently 5× slower than the others.

The straggler's extra time is measured, not guessed: a clean sync run gives the
median worker compute time c, and worker 0 then sleeps 4c per iteration (5c in
all).  Reported: wall time of the solve phase for sync and async, their ratio,
and both objectives (async must reach the same optimum).
"""

from __future__ import annotations

import statistics

from runtime.specs import FaultPlan, FaultRule
from scheduler_host.solve import SchedulerOptions, run_solve
from scheduler_host.solve_spec import SolveSpec
from scheduler_host.spawners.local import LocalProcessSpawner

PROBLEM = {"samples": 200_000, "features": 10_000, "density": 0.001, "l1": 1.0, "workers": 4}
TIGHT = {"eps_primal": 1e-3, "eps_dual": 1e-3, "max_iter": 1000}


def run() -> dict[str, object]:
    clean = run_solve(SolveSpec(**PROBLEM, **TIGHT), spawner=LocalProcessSpawner())
    compute = statistics.median(w.compute_seconds for w in clean.worker_iterations)
    straggler = FaultPlan(rules=(FaultRule(kind="delay", worker=0, seconds=4 * compute),))
    options = SchedulerOptions(faults=straggler)
    outcomes = {}
    for mode in ("sync", "async"):
        spec = SolveSpec(**PROBLEM, **TIGHT, mode=mode, async_fraction=0.75, max_delay=4)
        result = run_solve(spec, spawner=LocalProcessSpawner(), options=options)
        outcomes[mode] = {
            "iterations": result.iterations,
            "converged": result.converged,
            "objective": result.objective,
            "solve_seconds": result.solve_seconds,
        }
    sync_seconds = outcomes["sync"]["solve_seconds"]
    async_seconds = outcomes["async"]["solve_seconds"]
    assert isinstance(sync_seconds, float) and isinstance(async_seconds, float)
    return {
        "median_compute_seconds": compute,
        "straggler_delay_seconds": 4 * compute,
        "clean_sync": {"iterations": clean.iterations, "solve_seconds": clean.solve_seconds},
        **outcomes,
        "async_over_sync_seconds": async_seconds / sync_seconds,
    }
