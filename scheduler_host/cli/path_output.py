"""What ``lambda-admm path`` writes: ``path.json``, ``coefficients.npy`` and ``path.png``."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from scheduler_host.results import finite_or_none, write_atomically
from scheduler_host.solve.path import PathResult


def path_document(result: PathResult, spec: dict[str, Any]) -> dict[str, Any]:
    """``path.json``: per λ1 the objective, nonzeros, iterations and the check at its stop."""
    return {
        "spec": spec,
        "solve_id": result.solve_id,
        "lambda_max": result.lambda_max,
        "setup_seconds": result.setup_seconds,
        "path_seconds": result.path_seconds,
        "workers_spawned": result.workers_spawned,
        "points": [
            {
                "l1": point.l1,
                "objective": point.objective,
                "nonzeros": point.nonzeros,
                "iterations": point.iterations,
                "converged": point.converged,
                "reason": point.reason,
                "optimality": finite_or_none(point.optimality),
                "intercept": point.intercept,
                "seconds": point.seconds,
            }
            for point in result.points
        ],
    }


def write_path(directory: Path, result: PathResult, *, spec: dict[str, Any]) -> None:
    """The three files, each atomically."""
    text = (json.dumps(path_document(result, spec), indent=2) + "\n").encode()
    write_atomically(directory / "path.json", lambda stream: stream.write(text))
    matrix = np.vstack([point.x for point in result.points])
    buffer = io.BytesIO()
    np.save(buffer, matrix)
    write_atomically(directory / "coefficients.npy", lambda stream: stream.write(buffer.getvalue()))
    plot_path(result, directory / "path.png")


def plot_path(result: PathResult, path: Path) -> Path:
    """Each coefficient against λ1 (log scale, decreasing to the right), nonzeros on top."""
    lambdas = [point.l1 for point in result.points]
    matrix = np.vstack([point.x for point in result.points])
    figure, axes = plt.subplots(figsize=(7, 4.2), layout="constrained")
    shown = [value if value > 0 else math.nan for value in lambdas]
    axes.plot(shown, matrix, linewidth=1)
    axes.set_xscale("log")
    axes.invert_xaxis()
    axes.set_xlabel("λ1")
    axes.set_ylabel("coefficient")
    step = max(1, len(shown) // 6)
    top = axes.secondary_xaxis("top")
    top.set_xticks(shown[::step], labels=[str(point.nonzeros) for point in result.points][::step])
    top.set_xlabel("nonzeros")
    axes.set_title(f"regularization path, {len(lambdas)} values of λ1")
    try:
        write_atomically(path, lambda stream: figure.savefig(stream, format="png", dpi=120))
    finally:
        plt.close(figure)
    return path
