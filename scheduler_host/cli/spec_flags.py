"""The solve-spec flags, shared by ``solve`` and ``submit``, and their validation."""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import ValidationError

from runtime.registry import loss_names
from scheduler_host.solve_spec import SolveSpec, describe_validation_error

if TYPE_CHECKING:
    from runtime.svmlight import ZeroBased

_FLAG_OF_FIELD = {
    "box_lower": "--box",
    "box_upper": "--box",
    "penalty.group_lasso.weight": "--group-lasso",
    "penalty.group_lasso.group_size": "--group-size",
}


def flag_of(field: str) -> str:
    return _FLAG_OF_FIELD.get(field, "--" + field.replace("_", "-"))


def _default(field: str) -> Any:
    """SolveSpec's default of ``field``: the flags never restate a default of their own."""
    return SolveSpec.model_fields[field].default


def _option(field: str, fallback: str | None = None) -> Any:
    """A flag for ``field``, explained by the field's description (else by ``fallback``)."""
    return typer.Option(help=SolveSpec.model_fields[field].description or fallback)


#: Said of the paper generator's flags.
IGNORED_WITH_DATA = "(ignored with --data and --shards: the data decide)"

#: What --zero-based means (``data prepare`` has it too).
ZERO_BASED_HELP = "auto | true | false: is index 0 the first column (auto: if the file uses 0)"

#: Flags that are fields of SolveSpec but default differently: no --problem means "whatever
#: --data or --shards imply", which a default of "paper" could not tell from "--problem paper";
#: no --l1 means the model's 1.0, or 0 with --group-lasso; no --features means the paper's
#: 10,000, or what --data's indices imply.
NOT_THE_MODEL_DEFAULT = frozenset({"problem", "l1", "features"})


def spec_flags(
    problem: Annotated[str | None, typer.Option(help="'paper': the paper's generator")] = None,
    samples: Annotated[
        int, _option("samples", f"N, the paper generator's samples {IGNORED_WITH_DATA}")
    ] = _default("samples"),
    features: Annotated[
        int | None,
        typer.Option(
            help=f"d, the length of x (default {_default('features')}; with --data: the file's "
            "largest index, or this, keeping trailing all-zero columns; not with --shards, "
            "whose manifest has d)"
        ),
    ] = None,
    density: Annotated[
        float, _option("density", f"p in (0, 1], the generator's density {IGNORED_WITH_DATA}")
    ] = _default("density"),
    seed: Annotated[int, _option("seed", f"the generator's seed {IGNORED_WITH_DATA}")] = _default(
        "seed"
    ),
    data: Annotated[Path | None, typer.Option(help="an svmlight/LIBSVM file")] = None,
    zero_based: Annotated[
        str | None,
        typer.Option(help=f"--data: {ZERO_BASED_HELP}"),
    ] = None,
    shards: Annotated[str | None, _option("shards", "prepared shards: DIR or s3://")] = _default(
        "shards"
    ),
    loss: Annotated[str, typer.Option(help=" | ".join(loss_names()))] = _default("loss"),
    l1: Annotated[
        float | None,
        typer.Option(help=f"λ1 >= 0 (default {_default('l1')}; 0 with --group-lasso)"),
    ] = None,
    l2: Annotated[float, _option("l2", "λ2 >= 0")] = _default("l2"),
    box: Annotated[
        str | None,
        typer.Option(help="box constraint lo <= x_i <= hi, as 'lo,hi'; inf opens a side (0,inf)"),
    ] = None,
    group_lasso: Annotated[
        float | None, typer.Option(help="λ > 0: penalty λ Σ_g ‖x_g‖₂ instead of --l1/--l2/--box")
    ] = None,
    group_size: Annotated[
        int | None, typer.Option(help="G >= 1 features per group (the last group may be shorter)")
    ] = None,
    sample_weights: Annotated[str, _option("sample_weights", "none | uniform (1/N)")] = _default(
        "sample_weights"
    ),
    fit_intercept: Annotated[bool, _option("fit_intercept")] = _default("fit_intercept"),
    scale_columns: Annotated[str, _option("scale_columns")] = _default("scale_columns"),
    workers: Annotated[int, _option("workers", "W, number of workers")] = _default("workers"),
    workers_per_master: Annotated[
        int, _option("workers_per_master", "W̄, workers per master thread")
    ] = _default("workers_per_master"),
    rho0: Annotated[float, _option("rho0", "initial penalty ρ0 > 0")] = _default("rho0"),
    max_iter: Annotated[int, _option("max_iter", "K, maximum ADMM iterations")] = _default(
        "max_iter"
    ),
    eps_primal: Annotated[
        float,
        _option(
            "eps_primal",
            "ε_r: stop once r = (Σ_w ‖x_w − z‖²)^½ <= ε_r (and s <= ε_s); absolute, not "
            "relative to ‖z‖ or N",
        ),
    ] = _default("eps_primal"),
    eps_dual: Annotated[
        float,
        _option(
            "eps_dual",
            "ε_s: stop once s (--dual-residual) <= ε_s (and r <= ε_r); absolute, not relative "
            "to ‖ρu‖ or N",
        ),
    ] = _default("eps_dual"),
    eps_kkt: Annotated[float, _option("eps_kkt")] = _default("eps_kkt"),
    stop_rule: Annotated[str, _option("stop_rule")] = _default("stop_rule"),
    tol_abs: Annotated[float, _option("tol_abs")] = _default("tol_abs"),
    tol_rel: Annotated[float, _option("tol_rel")] = _default("tol_rel"),
    tol_objective: Annotated[float, _option("tol_objective")] = _default("tol_objective"),
    objective_window: Annotated[int, _option("objective_window")] = _default("objective_window"),
    acceleration: Annotated[str, _option("acceleration")] = _default("acceleration"),
    anderson_memory: Annotated[int, _option("anderson_memory")] = _default("anderson_memory"),
    dual_residual: Annotated[
        str, _option("dual_residual", "consensus (ρ√W‖Δz‖) | paper (ρ‖Δz‖)")
    ] = _default("dual_residual"),
    rho_rule: Annotated[str, _option("rho_rule")] = _default("rho_rule"),
    relaxation: Annotated[float, _option("relaxation")] = _default("relaxation"),
    mode: Annotated[str, _option("mode", "sync (the paper) | async (bounded delay)")] = _default(
        "mode"
    ),
    async_fraction: Annotated[
        float, _option("async_fraction", "async: share of workers a global step waits for")
    ] = _default("async_fraction"),
    max_delay: Annotated[
        int, _option("max_delay", "async: τ, max age of a contribution")
    ] = _default("max_delay"),
    # The local solver's flags are explained by their fields' descriptions (runtime.specs).
    local_solver: Annotated[str, _option("local_solver")] = _default("local_solver"),
    newton_tol: Annotated[float, _option("newton_tol")] = _default("newton_tol"),
    min_local_iter: Annotated[int, _option("min_local_iter")] = _default("min_local_iter"),
    max_local_iter: Annotated[int, _option("max_local_iter")] = _default("max_local_iter"),
    eps_grad: Annotated[float, _option("eps_grad")] = _default("eps_grad"),
    eps_rel: Annotated[float, _option("eps_rel")] = _default("eps_rel"),
) -> dict[str, Any]:
    """The flags as given (the signature is what matters: commands borrow it)."""
    return dict(locals())


_SPEC_PARAMETERS = list(inspect.signature(spec_flags, eval_str=True).parameters.values())


def with_spec_flags(command: Callable[..., None]) -> Callable[..., None]:
    """Give a command every spec flag; it receives them as one dict, ``flags``."""
    own = [
        parameter
        for parameter in inspect.signature(command, eval_str=True).parameters.values()
        if parameter.name != "flags"
    ]
    own_names = {parameter.name for parameter in own}

    @functools.wraps(command)
    def wrapper(**given: Any) -> None:
        flags = {name: value for name, value in given.items() if name not in own_names}
        command(flags=flags, **{name: given[name] for name in own_names})

    parameters = [
        parameter.replace(kind=inspect.Parameter.KEYWORD_ONLY)
        for parameter in [*_SPEC_PARAMETERS, *own]
    ]
    wrapper.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    return wrapper


def build_spec(fields: dict[str, Any]) -> SolveSpec:
    """A validated spec, or a usage error naming the offending flags (nothing is started)."""
    try:
        return SolveSpec(**fields)
    except ValidationError as error:
        raise typer.BadParameter(describe_validation_error(error, field_label=flag_of)) from None


def _parse_box(box: str | None) -> tuple[float | None, float | None]:
    """``'lo,hi'``; ``inf`` on a side leaves it open (``0,inf``: nonnegativity)."""
    if box is None:
        return None, None
    try:
        lower, upper = (float(part) for part in box.split(","))
    except ValueError:
        raise typer.BadParameter(
            f"got {box!r} (allowed: 'lo,hi', two numbers; inf opens a side, as in 0,inf)",
            param_hint="--box",
        ) from None
    if math.isnan(lower) or math.isnan(upper) or lower == math.inf or upper == -math.inf:
        raise typer.BadParameter(
            f"got {box!r} (allowed: -inf <= lo <= hi <= inf, with lo < inf and hi > -inf)",
            param_hint="--box",
        )
    return (None if lower == -math.inf else lower), (None if upper == math.inf else upper)


def _penalty_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """``--group-lasso``/``--group-size`` as a tagged penalty; an unset ``--l1`` left out."""
    fields = dict(fields)
    weight, group_size = fields.pop("group_lasso"), fields.pop("group_size")
    if fields["l1"] is None:
        del fields["l1"]  # the spec's default: 1.0, or 0 under a tagged penalty
    if weight is not None:
        penalty: dict[str, Any] = {"kind": "group_lasso", "weight": weight}
        if group_size is not None:
            penalty["group_size"] = group_size
        fields["penalty"] = penalty
    elif group_size is not None:
        raise typer.BadParameter("only with --group-lasso", param_hint="--group-size")
    return fields


def _from_data_file(
    data: Path, shard_directory: Path, zero_based: ZeroBased, fields: dict[str, Any]
) -> dict[str, Any]:
    """Prepare an svmlight file into shards in ``shard_directory`` (the caller's to remove)."""
    from scheduler_host.cli.datasets import prepare_data_file

    # Validate the other flags first (N is the file's, d the file's unless --features).
    build_spec({**fields, "samples": max(fields["workers"], 1)})
    try:
        prepared = prepare_data_file(
            data,
            str(shard_directory),
            num_workers=fields["workers"],
            num_features=fields.get("features"),
            zero_based=zero_based,
            loss=fields["loss"],
            source_flag="--data",
        )
    except OSError as error:  # the temporary directory, not a flag, is to blame
        raise typer.BadParameter(f"cannot write the shards to {shard_directory}: {error}") from None
    return {
        **fields,
        "problem": "shards",
        "shards": str(shard_directory),
        "samples": prepared.manifest.num_samples,
        "features": prepared.manifest.num_features,
    }


def spec_from_flags(flags: dict[str, Any], *, shard_directory: Path | None = None) -> SolveSpec:
    """Validate the flags into a spec whose dataset is ready (shards prepared, manifest read).

    ``--data``'s file is prepared into ``shard_directory``, which the caller removes.
    """
    from scheduler_host.assignments import resolve_dataset

    fields = dict(flags)
    problem, data, shards = fields.pop("problem"), fields.pop("data"), fields.pop("shards")
    zero_based = fields.pop("zero_based")
    if zero_based is not None and data is None:
        raise typer.BadParameter("only with --data", param_hint="--zero-based")
    if fields["features"] is None:
        del fields["features"]  # the spec's default, or --data's inferred d
    fields["box_lower"], fields["box_upper"] = _parse_box(fields.pop("box"))
    fields = _penalty_fields(fields)
    if problem not in (None, "paper"):
        raise typer.BadParameter(f"got {problem!r} (allowed: paper)", param_hint="--problem")
    if sum(option is not None for option in (problem, data, shards)) > 1:
        raise typer.BadParameter(
            "--problem, --data and --shards are mutually exclusive (allowed: one of them)"
        )
    if data is not None:
        assert shard_directory is not None, "--data needs a directory for its shards"
        from scheduler_host.cli.datasets import zero_based_choice

        base = zero_based_choice(zero_based or "auto")
        fields = _from_data_file(data, shard_directory, base, fields)
    elif shards is not None:
        if "features" in fields:
            raise typer.BadParameter(
                "not with --shards: d is the manifest's (allowed: --features with --data or "
                "the paper generator)",
                param_hint="--features",
            )
        # N and d come from the manifest, which resolve_dataset reads.
        fields = {key: value for key, value in fields.items() if key not in ("samples", "features")}
        fields.update(problem="shards", shards=shards)
    spec = build_spec(fields)
    try:
        return resolve_dataset(spec)[0]
    except (ValueError, OSError) as error:  # "workers: the dataset ... is prepared for 3 ..."
        field, _, detail = str(error).partition(": ")
        raise typer.BadParameter(detail, param_hint=flag_of(field)) from None
