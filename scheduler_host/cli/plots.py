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
    """What the plot shows: r and s per iteration (NaN where 0), the tolerances, a title."""

    iterations: list[int]
    primal: list[float]
    dual: list[float]
    eps_primal: float
    eps_dual: float
    title: str

    @classmethod
    def of(cls, result: SolveResult, *, eps_primal: float, eps_dual: float) -> ConvergencePlot:
        # r is 0 at iteration 1 by construction; a gap reads better than a plunge to 1e-300.
        return cls(
            iterations=[record.iteration for record in result.history],
            primal=[record.primal_residual or math.nan for record in result.history],
            dual=[record.dual_residual or math.nan for record in result.history],
            eps_primal=eps_primal,
            eps_dual=eps_dual,
            title=f"consensus ADMM, {result.status}, objective {result.objective:.8g}",
        )


def draw(plot: ConvergencePlot, path: Path) -> Path:
    """Write ``plot`` to ``path`` as a PNG (atomically), in this process."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(7, 4.2))
    FigureCanvasAgg(figure)
    figure.subplots_adjust(left=0.11, right=0.97, bottom=0.12, top=0.91)
    axes = figure.add_subplot()
    axes.semilogy(plot.iterations, plot.primal, marker=".", label="r (primal)")
    axes.semilogy(plot.iterations, plot.dual, marker=".", label="s (dual)")
    axes.axhline(plot.eps_primal, color="C0", linestyle=":", label="ε_primal")
    axes.axhline(plot.eps_dual, color="C1", linestyle="--", label="ε_dual")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("iteration")
    axes.set_ylabel("residual")
    axes.set_title(plot.title)
    axes.legend()
    write_atomically(path, lambda stream: figure.savefig(stream, format="png", dpi=120))
    return path
