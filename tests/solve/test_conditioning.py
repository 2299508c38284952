"""The scheduler's view of the data's conditioning: column scaling and the ρ bounds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from runtime.column_stats import ColumnStats
from runtime.generator import generate_rows
from runtime.local_data import LocalData
from runtime.shards import write_shards
from runtime.storage import LocalStorage
from scheduler_host.assignments import resolve_dataset
from scheduler_host.solve.conditioning import conditioning_of
from scheduler_host.solve_spec import SolveSpec


def test_paper_data_is_never_scaled_and_its_bounds_follow_the_generator() -> None:
    spec, _ = resolve_dataset(SolveSpec(samples=4000, features=200, density=0.05, workers=4))
    assert spec.scale_columns == "auto"
    conditioning = conditioning_of(spec)
    assert conditioning.scaling is None and conditioning.rho_bounds is not None
    rows = generate_rows(samples=4000, features=200, density=0.05, seed=0, start=0, stop=4000)
    measured = 0.25 * ColumnStats.of(rows).sum_of_squares.sum() / (200 * 4)
    assert conditioning.rho_bounds.lower == pytest.approx(measured / 1e4, rel=0.03)
    assert conditioning.rho_bounds.upper == pytest.approx(measured * 1e4, rel=0.03)


def test_the_paper_demo_bounds_leave_its_rho_sequence_alone() -> None:
    # The demo (N=600,000, d=10,000, p=0.001, W=4) moves ρ between 0.5 and 8.
    bounds = conditioning_of(SolveSpec(workers=4)).rho_bounds
    assert bounds is not None
    assert (bounds.lower, bounds.upper) == pytest.approx((5e-3, 5e5))


def test_scaled_bounds_use_the_scaled_columns(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    dense = rng.standard_normal((100, 5)) * np.array([1e-3, 1.0, 1e3, 1.0, 10.0])
    write_shards(
        LocalData.from_arrays(dense, np.sign(rng.standard_normal(100))),
        LocalStorage(tmp_path),
        2,
        source_name="x.svm",
    )
    spec, _ = resolve_dataset(
        SolveSpec(problem="shards", shards=str(tmp_path), workers=2, sample_weights="uniform")
    )
    assert spec.scale_columns == "on"
    conditioning = conditioning_of(spec)
    assert conditioning.scaling is not None and conditioning.rho_bounds is not None
    # Every scaled column has Σ_n a_nj² = N g² (g: the geometric mean of the columns' RMS), so
    # κ = ℓ''_max · (1/N) · N g² d / (d W) = 0.25 g² / 2.
    g_squared = np.exp(np.mean(np.log(np.mean(dense**2, axis=0))))
    assert conditioning.rho_bounds.lower == pytest.approx(0.125e-4 * g_squared, rel=1e-12)
    off = conditioning_of(spec.model_copy(update={"scale_columns": "off"}))
    assert off.scaling is None and off.rho_bounds is not None
    assert off.rho_bounds.lower == pytest.approx(0.25 * np.sum(dense**2) / 100 / 10 / 1e4)


def test_scale_columns_is_validated_naming_the_field() -> None:
    with pytest.raises(ValueError, match="scale_columns\n  Input should be 'auto', 'on' or 'off'"):
        SolveSpec(scale_columns="yes")
    with pytest.raises(ValueError, match="scale_columns: 'on' needs a dataset with column stat"):
        SolveSpec(scale_columns="on")
    with pytest.raises(
        ValueError,
        match="scale_columns: 'on' needs a coordinate-separable penalty; group_lasso couples",
    ):
        SolveSpec(
            problem="shards",
            shards="/nowhere",
            scale_columns="on",
            penalty={"kind": "group_lasso", "weight": 1.0, "group_size": 2},
        )


def test_auto_leaves_a_group_lasso_solve_unscaled(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rows = generate_rows(samples=50, features=6, density=0.5, seed=0, start=0, stop=50)
    write_shards(rows, LocalStorage(tmp_path), 2, source_name="x.svm")
    spec = SolveSpec(
        problem="shards",
        shards=str(tmp_path),
        workers=2,
        penalty={"kind": "group_lasso", "weight": 1.0, "group_size": 2},
    )
    with caplog.at_level("WARNING", logger="lambda_admm.scheduler"):
        resolved, _ = resolve_dataset(spec)
    assert resolved.scale_columns == "off"
    assert "column scaling is off: the group_lasso penalty is not coordinate-separable" in (
        caplog.text
    )
    assert conditioning_of(resolved).scaling is None
