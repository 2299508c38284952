"""Time :func:`runtime.local_solver.solve_local` on one worker's share of the paper instance.

The paper instance is N = 600,000 rows, d = 10,000 features, density 0.001 (`make demo`); at
W = 4 a worker holds 150,000 rows. Two solves with ρ = 1, logistic loss, default options:

* cold: ``x0 = 0``, ``center = 0`` (ADMM's first iteration, z = u = 0);
* warm: ``x0`` = the cold solution, ``center`` = the cold center plus a small perturbation,
  and the cold solve's Lipschitz estimate (a later ADMM iteration, where ``z - u_w`` moved).
"""

from __future__ import annotations

import time

import numpy as np

from runtime.generator import generate_rows, row_ranges
from runtime.local_solver import solve_local
from runtime.losses import LogisticLoss
from runtime.specs import LocalSolverSpec

SAMPLES = 600_000
FEATURES = 10_000
DENSITY = 0.001
WORKERS = 4
SEED = 0
RHO = 1.0
PERTURBATION = 1e-2  # standard deviation of the change of center between the two solves


def run() -> dict[str, float | int]:
    """Generate worker 0's share, solve cold then warm; seconds and iterations of each."""
    start, stop = row_ranges(SAMPLES, WORKERS)[0]
    began = time.perf_counter()
    data = generate_rows(
        samples=SAMPLES, features=FEATURES, density=DENSITY, seed=SEED, start=start, stop=stop
    )
    generate_seconds = time.perf_counter() - began
    loss = LogisticLoss()
    options = LocalSolverSpec()
    zeros = np.zeros(FEATURES)

    began = time.perf_counter()
    cold = solve_local(data, loss, rho=RHO, center=zeros, x0=zeros, options=options)
    cold_seconds = time.perf_counter() - began

    perturbation = np.random.default_rng(1).normal(scale=PERTURBATION, size=FEATURES)
    began = time.perf_counter()
    warm = solve_local(
        data,
        loss,
        rho=RHO,
        center=zeros + perturbation,
        x0=cold.x,
        options=options,
        lipschitz0=cold.lipschitz,
    )
    warm_seconds = time.perf_counter() - began
    return {
        "rows": stop - start,
        "generate_seconds": generate_seconds,
        "cold_seconds": cold_seconds,
        "cold_iterations": cold.iterations,
        "cold_gradient_norm": cold.gradient_norm,
        "warm_seconds": warm_seconds,
        "warm_iterations": warm.iterations,
        "warm_gradient_norm": warm.gradient_norm,
    }


if __name__ == "__main__":
    for key, value in run().items():
        print(f"{key}: {value}")
