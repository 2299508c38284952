"""The worker's x-update, by the method its assignment names (Algorithm 2, step 3).

``newton`` (the default): :func:`runtime.newton_solver.solve_local_newton`, stopped when
``||∇F|| <= newton_tol · ||∇F(x_start)||`` (or at an absolute floor, or when no step
decreases ``F`` any more). The start is the previous ``x``, so the tolerance shrinks as the
ADMM iterates settle: a relative-error inexact ADMM. The solver keeps no state between
calls, so a replacement that resumes from ``(x, u)`` computes exactly what its
predecessor would have.

``fista``: the paper's :func:`runtime.local_solver.solve_local` with its ε_g / ε_f / K_w
rule, as before; its Lipschitz estimate is carried from one call to the next (and a
replacement starts without it, which changes its path only within the tolerances).
"""

from __future__ import annotations

import numpy as np

from runtime.local_data import LocalData
from runtime.local_solver import LocalSolveReport, solve_local
from runtime.losses import SOLVER_NEEDS, Loss
from runtime.newton_solver import NEWTON_NEEDS, NewtonOptions, solve_local_newton
from runtime.registry import require
from runtime.specs import LocalSolverSpec

#: Newton's absolute floor on ``||∇F||``, below which a relative target need not be chased
#: (it would be rounding): far below any residual tolerance ADMM is run with.
NEWTON_GRADIENT_FLOOR = 1e-10


class XUpdate:
    """One worker's x-update: the chosen solver, and what it carries between calls.

    Parameters
    ----------
    spec : LocalSolverSpec
        The method and its stopping rule.
    loss : Loss
        Checked here, before any solve, for what the method needs of it.
    """

    def __init__(self, spec: LocalSolverSpec, loss: Loss) -> None:
        self._spec, self._loss = spec, loss
        if spec.method == "newton":
            require(loss, NEWTON_NEEDS, role="loss", solver="the local Newton-CG solver")
        else:
            require(loss, SOLVER_NEEDS, role="loss", solver="the local FISTA solver")
        self._newton = NewtonOptions(grad_tol=NEWTON_GRADIENT_FLOOR, relative_tol=spec.newton_tol)
        self._lipschitz: float | None = None  # FISTA's last estimate

    def solve(
        self, data: LocalData, *, rho: float, center: np.ndarray, x0: np.ndarray
    ) -> LocalSolveReport:
        """``argmin_x Σ_n w_n ℓ(b_n, <a_n, x>) + (ρ/2)||x - c||²`` from ``x0``; shapes (d,)."""
        if self._spec.method == "newton":
            return solve_local_newton(
                data, self._loss, rho=rho, center=center, x0=x0, options=self._newton
            )
        report = solve_local(
            data,
            self._loss,
            rho=rho,
            center=center,
            x0=x0,
            options=self._spec,
            lipschitz0=self._lipschitz,
        )
        self._lipschitz = report.lipschitz
        return report
