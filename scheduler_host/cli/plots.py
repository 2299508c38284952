"""The convergence plot written next to ``result.json``.

Drawn with matplotlib's object API on its Agg canvas (no pyplot, no GUI backend, no global
figure state) and fixed margins (no layout engine), and matplotlib is imported only when
the plot is drawn. Its import is still most of the plot's cost (0.6-1.1 s of CPU). Loading
it while the solve runs, on a thread or in a process of its own, was measured and made a
tiny solve slower on this shared 2-core machine (2.69 s against 2.55 s median, 6 runs each
at load 4): the cores were busy with the workers' start.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from scheduler_host.results import SolveResult, write_atomically


@dataclass(frozen=True)
class ConvergencePlot:
    """What the plot shows: r and s per iteration (NaN where 0) against the stopping rule's
    targets (per iteration: the relative rule's move with the iterates), and the objective's
    relative distance to the returned one, ``(F(z_k) - F) / |F|`` (NaN where not above it, or
    unknown: async mode)."""

    iterations: list[int]
    primal: list[float]
    dual: list[float]
    primal_target: list[float]
    dual_target: list[float]
    objective_gap: list[float]
    title: str

    @classmethod
    def of(cls, result: SolveResult, *, eps_primal: float, eps_dual: float) -> ConvergencePlot:
        history = result.history
        final = result.objective

        def gap(value: float | None) -> float:
            if value is None or not math.isfinite(final) or value <= final:
                return math.nan
            return (value - final) / max(abs(final), 1e-300)

        # r is 0 at iteration 1 by construction; a gap reads better than a plunge to 1e-300.
        return cls(
            iterations=[record.iteration for record in history],
            primal=[record.primal_residual or math.nan for record in history],
            dual=[record.dual_residual or math.nan for record in history],
            primal_target=[
                eps_primal if r.primal_tolerance is None else r.primal_tolerance for r in history
            ],
            dual_target=[
                eps_dual if r.dual_tolerance is None else r.dual_tolerance for r in history
            ],
            objective_gap=[gap(record.objective) for record in history],
            title=f"consensus ADMM, {result.status}, objective {result.objective:.8g}",
        )


def draw(plot: ConvergencePlot, path: Path) -> Path:
    """Write ``plot`` to ``path`` as a PNG (atomically), in this process."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(7, 6.4))
    FigureCanvasAgg(figure)
    figure.subplots_adjust(left=0.12, right=0.97, bottom=0.08, top=0.94, hspace=0.28)
    residuals, objective = figure.subplots(2, 1, sharex=True)
    residuals.semilogy(plot.iterations, plot.primal, marker=".", label="r (primal)")
    residuals.semilogy(plot.iterations, plot.dual, marker=".", label="s (dual)")
    residuals.step(
        plot.iterations,
        plot.primal_target,
        where="mid",
        color="C0",
        linestyle=":",
        label="target for r",
    )
    residuals.step(
        plot.iterations,
        plot.dual_target,
        where="mid",
        color="C1",
        linestyle="--",
        label="target for s",
    )
    residuals.set_ylabel("residual")
    residuals.set_title(plot.title)
    residuals.legend()
    if any(math.isfinite(value) for value in plot.objective_gap):
        objective.semilogy(plot.iterations, plot.objective_gap, marker=".", color="C2")
    objective.set_ylabel("(F(z_k) − F) / |F|")
    objective.set_xlabel("iteration")
    objective.xaxis.set_major_locator(MaxNLocator(integer=True))
    objective.set_title("objective at each iteration's z, relative to the returned one")
    write_atomically(path, lambda stream: figure.savefig(stream, format="png", dpi=120))
    return path
