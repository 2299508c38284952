"""A solve's result directory: checked before anything starts, and a result never lost.

Without ``--out`` a solve's results go to ``results/<solve id>/`` under the current
directory. A directory that is not empty is used only with ``--overwrite``, which first
removes what an earlier solve wrote there (:data:`RESULT_ENTRIES`) and nothing else. If
writing the result fails after all (a full disk, ``result.json`` made a directory meanwhile),
it is written to a fallback directory instead, and the error says where.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from scheduler_host.model_file import ModelFile
    from scheduler_host.results import SolveResult

#: What a solve writes into its directory (``shards`` only ever by older versions).
RESULT_ENTRIES = (
    "result.json",
    "x.npy",
    "model.json",
    "convergence.png",
    "logs",
    "shards",
    "path.json",
    "coefficients.npy",
    "path.png",
)


def default_out(solve_id: str) -> Path:
    """``results/<solve id>``, relative to the current directory."""
    return Path("results") / solve_id


def _nearest_existing(path: Path) -> Path:
    for candidate in [path, *path.parents]:
        if candidate.exists() or candidate.is_symlink():
            return candidate
    return Path(".")  # pragma: no cover (a relative path's parents end at ".")


def _writable(directory: Path) -> str | None:
    """None if a file can be created in ``directory``, else why not (a real probe: root
    ignores permission bits, and a read-only mount is invisible to them)."""
    try:
        descriptor, probe = tempfile.mkstemp(dir=directory, prefix=".lambda-admm-probe-")
    except OSError as error:
        return error.strerror or str(error)
    os.close(descriptor)
    os.unlink(probe)
    return None


def check_out(out: Path, *, overwrite: bool) -> None:
    """Refuse ``out`` unless a solve can write its results there; nothing is created.

    Raises
    ------
    typer.BadParameter
        Naming ``--out``: ``"OUT exists and is not a directory"``, ``"OUT is not empty
        (allowed: ...)"``, ``"cannot create OUT: DIR is not writable (...)"``.
    """
    existing = _nearest_existing(out)
    if existing == out:
        if not out.is_dir():
            raise typer.BadParameter(f"{out} exists and is not a directory", param_hint="--out")
        problem = _writable(out)
        if problem is not None:
            raise typer.BadParameter(f"{out} is not writable ({problem})", param_hint="--out")
        if not overwrite and any(out.iterdir()):
            raise typer.BadParameter(
                f"{out} is not empty (allowed: a new or empty directory, or --overwrite to "
                "replace an earlier result there)",
                param_hint="--out",
            )
        return
    if not existing.is_dir():
        raise typer.BadParameter(
            f"cannot create {out}: {existing} is not a directory", param_hint="--out"
        )
    problem = _writable(existing)
    if problem is not None:
        raise typer.BadParameter(
            f"cannot create {out}: {existing} is not writable ({problem})", param_hint="--out"
        )


def make_out(out: Path, *, overwrite: bool) -> None:
    """Create ``out``; with ``overwrite``, first remove an earlier solve's entries in it.

    Raises ``typer.BadParameter`` naming ``--out`` if either fails (nothing has started).
    """
    try:
        if overwrite:
            for name in RESULT_ENTRIES:
                entry = out / name
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                elif entry.exists() or entry.is_symlink():
                    entry.unlink()
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise typer.BadParameter(f"cannot prepare {out}: {error}", param_hint="--out") from None


@dataclass(frozen=True)
class SavedResult:
    """Where the result went; ``failure`` says why not to the destination (then a fallback)."""

    directory: Path
    failure: str | None = None


def _write_all(
    directory: Path,
    result: SolveResult,
    spec: dict[str, Any],
    extra: dict[str, Any],
    model: ModelFile | None,
) -> None:
    from scheduler_host.cli import plots
    from scheduler_host.model_file import write_model_file
    from scheduler_host.results import write_result

    write_result(directory, result, spec=spec, extra=extra)
    if model is not None:
        write_model_file(directory, model)
    plot = plots.ConvergencePlot.of(
        result, eps_primal=float(spec["eps_primal"]), eps_dual=float(spec["eps_dual"])
    )
    plots.draw(plot, directory / "convergence.png")


def save_result(
    out: Path,
    result: SolveResult,
    *,
    spec: dict[str, Any],
    extra: dict[str, Any] | None = None,
    model: ModelFile | None = None,
) -> SavedResult:
    """Write ``result.json`` (with ``extra``'s entries), ``x.npy``, ``model.json`` (given
    ``model``) and ``convergence.png`` into ``out``, or a fallback.

    The fallbacks are ``results/<solve id>`` (unless that is ``out``), then
    ``<temp dir>/lambda-admm-rescued-<solve id>``. Raises ``OSError`` only if all fail.
    """
    try:
        _write_all(out, result, spec, extra or {}, model)
        return SavedResult(directory=out)
    except OSError as error:
        failure = f"cannot write the result to {out}: {error}"
    fallbacks = [
        default_out(result.solve_id),
        Path(tempfile.gettempdir()) / f"lambda-admm-rescued-{result.solve_id}",
    ]
    for fallback in fallbacks:
        if fallback.resolve() == out.resolve():
            continue
        try:
            fallback.mkdir(parents=True, exist_ok=True)
            _write_all(fallback, result, spec, extra or {}, model)
        except OSError:
            continue
        return SavedResult(directory=fallback, failure=failure)
    raise OSError(f"{failure}, nor to {' or '.join(str(path) for path in fallbacks)}")
