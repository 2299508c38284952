"""The convergence plot written next to ``result.json``."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from scheduler_host.results import SolveResult, write_atomically


def plot_convergence(
    result: SolveResult, path: Path, *, eps_primal: float, eps_dual: float
) -> Path:
    """Residuals r and s per iteration on a log scale, with the stopping tolerances."""
    iterations = [record.iteration for record in result.history]
    figure, axes = plt.subplots(figsize=(7, 4.2), layout="constrained")
    # r is 0 at iteration 1 by construction; a gap reads better than a plunge to 1e-300.
    primal = [r.primal_residual or math.nan for r in result.history]
    dual = [r.dual_residual or math.nan for r in result.history]
    axes.semilogy(iterations, primal, marker=".", label="r (primal)")
    axes.semilogy(iterations, dual, marker=".", label="s (dual)")
    axes.axhline(eps_primal, color="C0", linestyle=":", label="ε_primal")
    axes.axhline(eps_dual, color="C1", linestyle="--", label="ε_dual")
    axes.set_xlabel("iteration")
    axes.set_ylabel("residual")
    axes.set_title(f"consensus ADMM, objective {result.objective:.8g}")
    axes.legend()
    try:
        write_atomically(path, lambda stream: figure.savefig(stream, format="png", dpi=120))
    finally:
        plt.close(figure)
    return path
