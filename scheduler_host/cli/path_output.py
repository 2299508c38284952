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
from scheduler_host.solve.cross_validation import CrossValidation
from scheduler_host.solve.path import PathResult


def cv_document(validation: CrossValidation) -> dict[str, Any]:
    """``path.json``'s ``cv``: glmnet's summary and every fold's errors."""
    return {
        "folds": validation.folds,
        "lambda_min": validation.lambda_min,
        "lambda_1se": validation.lambda_1se,
        "cvm": validation.cvm.tolist(),
        "cvsd": validation.cvsd.tolist(),
        "fold_errors": validation.errors.tolist(),
        "converged": validation.converged,
    }


def path_document(
    result: PathResult, spec: dict[str, Any], validation: CrossValidation | None = None
) -> dict[str, Any]:
    """``path.json``: per λ1 the objective, nonzeros, iterations and the check at its stop;
    with cross-validation its summary (``cv``)."""
    return {
        "cv": None if validation is None else cv_document(validation),
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


def write_path(
    directory: Path,
    result: PathResult,
    *,
    spec: dict[str, Any],
    validation: CrossValidation | None = None,
) -> None:
    """The three files, each atomically."""
    text = (json.dumps(path_document(result, spec, validation), indent=2) + "\n").encode()
    write_atomically(directory / "path.json", lambda stream: stream.write(text))
    matrix = np.vstack([point.x for point in result.points])
    buffer = io.BytesIO()
    np.save(buffer, matrix)
    write_atomically(directory / "coefficients.npy", lambda stream: stream.write(buffer.getvalue()))
    plot_path(result, directory / "path.png", validation=validation)


def plot_path(result: PathResult, path: Path, *, validation: CrossValidation | None = None) -> Path:
    """Each coefficient against λ1 (log scale, decreasing to the right), nonzeros on top;
    with cross-validation a second panel: cvm ± cvsd, λ_min and λ_1se marked."""
    lambdas = [point.l1 for point in result.points]
    matrix = np.vstack([point.x for point in result.points])
    if validation is None:
        figure, axes = plt.subplots(figsize=(7, 4.2), layout="constrained")
    else:
        figure, (axes, errors) = plt.subplots(
            2, 1, figsize=(7, 7.5), layout="constrained", sharex=True
        )
        errors.errorbar(lambdas, validation.cvm, yerr=validation.cvsd, fmt=".", capsize=2)
        for value, style in ((validation.lambda_min, "--"), (validation.lambda_1se, ":")):
            errors.axvline(value, color="grey", linestyle=style)
        errors.set_ylabel(f"held-out loss per row ({validation.folds}-fold)")
        errors.set_xlabel("λ1 (dashed: λ_min, dotted: λ_1se)")
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
