"""The solve specs the integration tests submit."""

from __future__ import annotations

from scheduler_host.solve_spec import SolveSpec

#: The paper's generator, small: N=4000, d=200, W=4.
SMALL = SolveSpec(samples=4000, features=200, workers=4)
#: About a hundred iterations (tight tolerances): a solve still running when a test interferes.
LONG = SolveSpec(
    samples=200_000,
    features=5_000,
    density=0.002,
    workers=4,
    eps_primal=1e-9,
    eps_dual=1e-9,
    max_iter=300,
)
