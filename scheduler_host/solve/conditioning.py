"""What the scheduler knows of the data's conditioning: column scaling and the ρ bounds.

Both come from the dataset's column statistics ``S_j = Σ_n a_nj²`` (the sidecar that
``data prepare`` writes, read here through the same storage as the shards), or, for the
paper's generated data, from the generator's distribution.

The ρ bounds (residual balancing's safeguard, :class:`RhoBounds`) are relative to the
curvature of the local losses: the mean diagonal of the bound ``ℓ''_max · Σ_{n∈w} w_n a_n a_nᵀ``
of worker w's Hessian, averaged over the workers and taken in the coordinates the workers
solve in (scaled or not),

    κ = ℓ''_max · w̄ · Σ_j S̃_j / (d · W),   S̃_j = S_j / d_j² when scaled, else S_j,

with ``w̄ = 1/N`` for ``sample_weights='uniform'``, else 1 (weights stored in the shards are
not counted). ρ far below κ leaves the x-update without the strong convexity ADMM relies on;
far above it, ``x_w`` no longer moves from ``z``. ρ is kept in ``[κ/10⁴, κ·10⁴]``.

For the paper's instance each row holds ``k = max(1, round(p d))`` values ``N(ν, 1)`` with
``ν ~ U[-1, 1]`` in magnitude, so ``E Σ_j S_j = N k (1 + 1/3)``; for N=600,000, d=10,000,
p=0.001, W=4 that is κ = 50, bounds [0.005, 5e5], and the paper demo's ρ (0.5 to 8) stays
well inside them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from runtime.column_scaling import ColumnScaling
from runtime.column_stats import ColumnStats
from runtime.generator import nonzeros_per_row
from runtime.registry import get_loss
from runtime.shards import read_manifest, read_manifest_column_stats
from runtime.storage import storage_for
from scheduler_host.solve.global_step import RhoBounds
from scheduler_host.solve_spec import SolveSpec

log = logging.getLogger("lambda_admm.scheduler")

#: E[v²] of a paper generator value v ~ N(ν, 1), ν ~ U[0, 1] or U[-1, 0]: 1 + 1/3.
PAPER_SECOND_MOMENT = 4.0 / 3.0


@dataclass(frozen=True)
class Conditioning:
    """The column scaling of a solve's x (None: unscaled; with an intercept, of length
    d + 1, the intercept's scale 1) and its ρ bounds (None: unknown)."""

    scaling: ColumnScaling | None
    rho_bounds: RhoBounds | None

    def initial_rho(self, rho0: float) -> float:
        """``rho0``, moved into the bounds if it lies outside them."""
        return rho0 if self.rho_bounds is None else self.rho_bounds.clip(rho0)


def curvature(spec: SolveSpec, total_sum_of_squares: float) -> float:
    """κ of the module docstring, for ``Σ_j S̃_j = total_sum_of_squares`` over the d data
    columns; an intercept's column of ones adds N to the sum and 1 to d."""
    weight = 1.0 / spec.samples if spec.sample_weights == "uniform" else 1.0
    bound = get_loss(spec.loss).curvature_bound
    total = total_sum_of_squares + (spec.samples if spec.fit_intercept else 0)
    return bound * weight * total / (spec.dimension * spec.workers)


def _dataset_stats(spec: SolveSpec) -> ColumnStats | None:
    assert spec.shards is not None
    source = storage_for(spec.shards, field="shards")
    return read_manifest_column_stats(source, read_manifest(source))


def conditioning_of(spec: SolveSpec) -> Conditioning:
    """The conditioning of a resolved spec (``scale_columns`` 'on' or 'off' for shards; the
    paper's generated data is never scaled).

    Raises
    ------
    ValueError
        If the column statistics fail their check (``"column statistics ... failed its
        sha256 check: ..."``), or 'on' was decided for a dataset without them.
    """
    if spec.problem == "paper":
        per_row = nonzeros_per_row(spec.features, spec.density)
        total = spec.samples * per_row * PAPER_SECOND_MOMENT
        return Conditioning(scaling=None, rho_bounds=RhoBounds.around(curvature(spec, total)))
    stats = _dataset_stats(spec)
    if stats is None:
        if spec.scale_columns == "on":
            raise ValueError(
                f"scale_columns: the dataset at {spec.shards} has no column statistics"
            )
        log.warning("the dataset at %s has no column statistics: rho is not bounded", spec.shards)
        return Conditioning(scaling=None, rho_bounds=None)
    scaling = ColumnScaling.from_stats(stats) if spec.scale_columns == "on" else None
    sums = stats.sum_of_squares if scaling is None else scaling.sum_of_squares(stats)
    total = float(sums.sum())
    bounds = RhoBounds.around(curvature(spec, total)) if total > 0 else None
    if scaling is not None and spec.fit_intercept:
        scaling = scaling.with_intercept()  # the scaling of x = (β, β₀)
    return Conditioning(scaling=scaling, rho_bounds=bounds)
