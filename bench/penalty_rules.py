"""ρ's rules and over-relaxation: ADMM iterations to a 1e-3 / 1e-4 / 1e-6 relative gap.

For each rule (``balance``: the paper's residual balancing; ``spectral``: Xu et al. 2017)
with and without over-relaxation (α = 1.6), the solve runs a fixed number of iterations
(the residual stop switched off) and the objective of every iterate z is measured against a
tight optimum computed here:

* scikit-learn's breast_cancer *unscaled* (569 x 30, L1-logistic, λ1 = 1, column scaling
  'auto', i.e. on), W = 1, 2, 4, in-process workers; optimum: liblinear at tol 1e-10;
* the paper's instance (N=600,000, d=10,000, p=0.001, λ1 = 1), W = 4 and 2, local
  processes; optimum: liblinear at tol 1e-8.

The z's are taken from the global steps as the penalty rule sees them (the one piece of
instrumentation: :meth:`PenaltyRule.next_rho` is wrapped to record ``step.z``). Iteration
counts, not seconds, are the result; a None means the threshold was not reached.
"""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.datasets import dump_svmlight_file, load_breast_cancer
from sklearn.linear_model import LogisticRegression

from runtime.generator import generate_rows
from scheduler_host.cli.datasets import prepare_dataset
from scheduler_host.solve import SchedulerOptions, run_solve
from scheduler_host.solve.penalty_rule import PenaltyRule
from scheduler_host.solve_spec import PAPER_DENSITY, PAPER_FEATURES, PAPER_SAMPLES, SolveSpec
from scheduler_host.spawners.local import LocalProcessSpawner
from scheduler_host.spawners.threads import ThreadSpawner

THRESHOLDS = (1e-3, 1e-4, 1e-6)
#: (rho_rule, relaxation): today's paper rule first.
CONFIGURATIONS = (("balance", 1.0), ("balance", 1.6), ("spectral", 1.0), ("spectral", 1.6))
IN_PROCESS = SchedulerOptions(
    bind_host="inproc", secure=False, scheduler_silence_seconds=5.0, max_rebroadcast_seconds=1.0
)
#: The residual stop, out of the way: every run goes to max_iter.
NEVER = 1e-300


def l1_logistic(features: Any, labels: np.ndarray, x: np.ndarray) -> float:
    return float(np.logaddexp(0.0, -labels * (features @ x)).sum() + np.abs(x).sum())


def liblinear_optimum(features: Any, labels: np.ndarray, *, tol: float) -> float:
    model = LogisticRegression(
        l1_ratio=1.0, C=1.0, fit_intercept=False, solver="liblinear", tol=tol, max_iter=10_000
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(features, labels)
    return l1_logistic(features, labels, model.coef_.ravel())


@contextmanager
def recorded_iterates() -> Iterator[list[np.ndarray]]:
    """The z of every global step of the solves run inside."""
    zs: list[np.ndarray] = []
    original: Callable[..., float] = PenaltyRule.next_rho

    def recording(self: PenaltyRule, **arguments: Any) -> float:
        zs.append(arguments["step"].z.copy())
        return original(self, **arguments)

    PenaltyRule.next_rho = recording  # type: ignore[method-assign]
    try:
        yield zs
    finally:
        PenaltyRule.next_rho = original  # type: ignore[method-assign]


def first_reaching(gaps: list[float]) -> dict[str, int | None]:
    hits: dict[str, int | None] = {}
    for threshold in THRESHOLDS:
        hit = next((k + 1 for k, gap in enumerate(gaps) if gap <= threshold), None)
        hits[f"{threshold:g}"] = hit
    return hits


def trace(
    spec: SolveSpec, *, objective: Callable[[np.ndarray], float], optimum: float, **solve: Any
) -> dict[str, object]:
    with recorded_iterates() as zs:
        result = run_solve(spec, **solve)
    gaps = [(objective(z) - optimum) / abs(optimum) for z in zs]
    return {
        "rho_rule": spec.rho_rule,
        "relaxation": spec.relaxation,
        "workers": spec.workers,
        "iterations_to_gap": first_reaching(gaps),
        "final_gap": gaps[-1],
        "final_rho": result.rho,
    }


def over_configurations(
    fields: dict[str, Any], *, max_iter: int, **trace_arguments: Any
) -> list[dict[str, object]]:
    """One traced solve of ``fields`` per configuration, to ``max_iter`` iterations."""
    runs = []
    for rule, alpha in CONFIGURATIONS:
        spec = SolveSpec(
            **fields,
            eps_primal=NEVER,
            eps_dual=NEVER,
            max_iter=max_iter,
            rho_rule=rule,
            relaxation=alpha,
        )
        runs.append(trace(spec, **trace_arguments))
        print(runs[-1], flush=True)
    return runs


def breast_cancer(max_iter: int = 3000) -> list[dict[str, object]]:
    features, classes = load_breast_cancer(return_X_y=True)
    labels = np.where(classes > 0, 1.0, -1.0)
    optimum = liblinear_optimum(features, labels, tol=1e-10)
    # the workers' coordinates: y = D x, D the column RMS (runtime.column_scaling)
    scale = np.sqrt((features**2).mean(axis=0))
    runs = []
    with tempfile.TemporaryDirectory() as directory:
        source = Path(directory) / "bc.svm"
        dump_svmlight_file(features, labels.astype(int), str(source))
        for workers in (1, 2, 4):
            shards = str(Path(directory) / f"w{workers}")
            prepare_dataset(source, shards, num_workers=workers)
            runs += over_configurations(
                {"problem": "shards", "shards": shards, "workers": workers, "l1": 1.0},
                max_iter=max_iter,
                objective=lambda y: l1_logistic(features, labels, y / scale),
                optimum=optimum,
                spawner=ThreadSpawner(),
                options=IN_PROCESS,
            )
    return runs


def paper(max_iter: int = 60, workers: tuple[int, ...] = (4, 2)) -> list[dict[str, object]]:
    data = generate_rows(
        samples=PAPER_SAMPLES,
        features=PAPER_FEATURES,
        density=PAPER_DENSITY,
        seed=0,
        start=0,
        stop=PAPER_SAMPLES,
    )
    features, labels = sp.csr_matrix(data.features), np.asarray(data.labels)
    optimum = liblinear_optimum(features, labels, tol=1e-8)
    runs = []
    for count in workers:
        runs += over_configurations(
            {"workers": count},
            max_iter=max_iter,
            objective=lambda z: l1_logistic(features, labels, z),
            optimum=optimum,
            spawner=LocalProcessSpawner(),
        )
    return runs


def run() -> dict[str, object]:
    return {"breast_cancer_unscaled": breast_cancer(), "paper": paper()}
