"""Which dual residual to stop on: the paper's ``ρ‖Δz‖`` or the consensus form ``ρ√W‖Δz‖``.

Both runs of a pair solve the same paper instance with the same W; reported are
the iterations to the stopping rule, the relative objective gap there (against
liblinear, measured in the same run), the final ρ, and the wall-time ratio of
the consensus form to the paper's.
"""

from __future__ import annotations

import os

from bench.paper_solve import serial_optimum
from scheduler_host.solve import run_solve
from scheduler_host.solve_spec import SolveSpec
from scheduler_host.spawners.local import LocalProcessSpawner


def run() -> dict[str, object]:
    worker_counts = tuple(int(w) for w in os.environ.get("BENCH_WORKERS", "4,16,64").split(","))
    optimum, _ = serial_optimum()
    pairs = []
    for workers in worker_counts:
        pair: dict[str, object] = {"workers": workers}
        for form in ("paper", "consensus"):
            spec = SolveSpec(workers=workers, dual_residual=form, max_iter=150)
            result = run_solve(spec, spawner=LocalProcessSpawner())
            pair[form] = {
                "iterations": result.iterations,
                "converged": result.converged,
                "relative_gap": (result.objective - optimum) / abs(optimum),
                "final_rho": result.rho,
                "solve_seconds": result.solve_seconds,
            }
        paper, consensus = pair["paper"], pair["consensus"]
        assert isinstance(paper, dict) and isinstance(consensus, dict)
        pair["consensus_over_paper_seconds"] = consensus["solve_seconds"] / paper["solve_seconds"]
        pairs.append(pair)
    return {"serial_objective": optimum, "pairs": pairs}
