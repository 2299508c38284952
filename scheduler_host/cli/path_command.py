"""``lambda-admm path``: a regularization path over λ1 on one set of warm workers."""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer

from scheduler_host.cli.out_dir import check_out, make_out
from scheduler_host.cli.spec_flags import spec_from_flags, with_spec_flags
from scheduler_host.cli.verdict import AllowUnconverged, exit_unless_converged


def _l1_values(text: str | None) -> list[float] | None:
    if text is None:
        return None
    try:
        return [float(part) for part in text.split(",")]
    except ValueError:
        raise typer.BadParameter(
            f"must be numbers separated by commas, got {text!r}", param_hint="--l1-values"
        ) from None


def _l1_max(text: str) -> float | None:
    if text == "auto":
        return None
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not (value > 0 and value < float("inf")):
        raise typer.BadParameter(
            f"must be 'auto' or a finite number > 0, got {text!r}", param_hint="--l1-max"
        )
    return value


#: The run_path argument of each flag, for its errors.
_PATH_FLAGS = {"l1_values": "--l1-values", "count": "--n-lambdas", "min_ratio": "--l1-min-ratio"}


def register(app: typer.Typer) -> None:
    @app.command()
    @with_spec_flags
    def path(
        flags: dict[str, Any],
        out: Annotated[Path, typer.Option(help="result directory, new or empty")] = Path(
            "results/path"
        ),
        overwrite: Annotated[bool, typer.Option(help="use a non-empty --out")] = False,
        l1_max: Annotated[
            str, typer.Option(help="auto (from the data: ‖∇loss(0)‖∞) or the largest λ1")
        ] = "auto",
        n_lambdas: Annotated[int, typer.Option(help="number of λ1 values, 1 to 1000")] = 20,
        l1_min_ratio: Annotated[
            float, typer.Option(help="smallest λ1 / largest, in (0, 1)")
        ] = 1e-3,
        l1_values: Annotated[
            str | None, typer.Option(help="explicit decreasing λ1 values 'a,b,c' instead")
        ] = None,
        cv: Annotated[
            int, typer.Option(help="K-fold cross-validation over the path (0: none; 2 to 100)")
        ] = 0,
        allow_unconverged: AllowUnconverged = False,
    ) -> None:
        """A regularization path over λ1 on one set of warm workers (and k-fold CV).

        λ1 from large to small, each λ warm-started from the last, on the same local workers
        (their start-up and data loading paid once); --max-iter is per λ.
        """
        from scheduler_host.cli.path_output import write_path
        from scheduler_host.solve import SolveFailed
        from scheduler_host.solve.path import check_path_request, geometric_lambdas, run_path
        from scheduler_host.spawners.local import LocalProcessSpawner

        if flags["l1"] is not None:
            raise typer.BadParameter(
                "a path takes --l1-max, --n-lambdas, --l1-min-ratio or --l1-values",
                param_hint="--l1",
            )
        if flags["group_lasso"] is not None:
            raise typer.BadParameter(
                "a path is over λ1 of the elastic net (allowed: --l1-max, --l2, --box)",
                param_hint="--group-lasso",
            )
        values = _l1_values(l1_values)
        top = _l1_max(l1_max)
        if values is None and top is not None:
            values = geometric_lambdas(top, count=n_lambdas, min_ratio=l1_min_ratio)
        try:
            check_path_request(l1_values=values, count=n_lambdas, min_ratio=l1_min_ratio)
        except ValueError as error:
            field, _, detail = str(error).partition(": ")
            raise typer.BadParameter(detail, param_hint=_PATH_FLAGS[field]) from None
        if cv != 0 and not 2 <= cv <= 100:
            raise typer.BadParameter(f"must be 0 or between 2 and 100, got {cv}", param_hint="--cv")
        check_out(out, overwrite=overwrite)
        with contextlib.ExitStack() as cleanup:
            shard_directory = None
            if flags["data"] is not None:
                temporary = tempfile.TemporaryDirectory(prefix="lambda-admm-shards-")
                shard_directory = Path(cleanup.enter_context(temporary))
            spec = spec_from_flags(flags, shard_directory=shard_directory)
            make_out(out, overwrite=overwrite)
            try:
                result = run_path(
                    spec,
                    spawner=LocalProcessSpawner(log_directory=out / "logs"),
                    l1_values=values,
                    count=n_lambdas,
                    min_ratio=l1_min_ratio,
                )
            except SolveFailed as error:
                typer.echo(f"solve failed: {error}", err=True)
                raise typer.Exit(code=1) from None
            validation = None
            if cv:
                validation = _cross_validate(spec, result, folds=cv, logs=out / "logs")
            from scheduler_host.assignments import spec_as_json

            write_path(out, result, spec=spec_as_json(spec), validation=validation)
        for point in result.points:
            state = "converged" if point.converged else f"NOT converged ({point.reason})"
            typer.echo(
                f"λ1={point.l1:.6g}: {point.nonzeros} nonzeros, objective {point.objective:.10g}, "
                f"{point.iterations} iterations, {state}"
            )
        typer.echo(
            f"{len(result.points)} values of λ1 in {result.path_seconds:.2f} s on "
            f"{result.workers_spawned} workers (+{result.setup_seconds:.2f} s start-up); "
            f"results in {out}/ (path.json, coefficients.npy, path.png)"
        )
        converged = all(point.converged for point in result.points)
        if validation is not None:
            typer.echo(
                f"{cv}-fold cross-validation: λ_min={validation.lambda_min:.6g}, "
                f"λ_1se={validation.lambda_1se:.6g}"
                + ("" if validation.converged else " (some fold solves NOT converged)")
            )
            converged = converged and validation.converged
        exit_unless_converged(converged, allow_unconverged=allow_unconverged)


def _cross_validate(spec: Any, result: Any, *, folds: int, logs: Path) -> Any:
    """The folds' paths at the path's λ values, each on its own local workers."""
    from scheduler_host.solve import SolveFailed
    from scheduler_host.solve.cross_validation import cross_validate
    from scheduler_host.spawners.local import LocalProcessSpawner

    try:
        return cross_validate(
            spec,
            lambdas=[point.l1 for point in result.points],
            folds=folds,
            spawner_for=lambda fold: LocalProcessSpawner(log_directory=logs / f"fold-{fold}"),
        )
    except ValueError as error:
        raise typer.BadParameter(str(error).removeprefix("cv: "), param_hint="--cv") from None
    except SolveFailed as error:
        typer.echo(f"solve failed: {error}", err=True)
        raise typer.Exit(code=1) from None


#: The command's app (the root loads it when ``path`` runs or shows its help).
app = typer.Typer(rich_markup_mode=None, add_completion=False)
register(app)
