"""``lambda-admm data prepare``: an svmlight file split into per-worker shards."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from scheduler_host.cli.spec_flags import ZERO_BASED_HELP
from scheduler_host.solve_spec import MAX_FEATURES

app = typer.Typer(
    help="Prepare datasets into per-worker shards.",
    no_args_is_help=True,
    rich_markup_mode=None,
    add_completion=False,
)


@app.callback()
def data() -> None:
    """Prepare datasets into per-worker shards."""


@app.command("prepare")
def data_prepare(
    source: Annotated[
        Path,
        typer.Argument(
            metavar="SOURCE", help="svmlight/LIBSVM file (.gz, .bz2), .npz CSR or long Parquet"
        ),
    ],
    destination: Annotated[
        str, typer.Argument(metavar="DESTINATION", help="DIR or s3://bucket/datasets/NAME")
    ],
    workers: Annotated[int, typer.Option(help="W, one shard per worker")] = 4,
    features: Annotated[
        int | None,
        typer.Option(help="d (default: the largest index; this keeps trailing all-zero columns)"),
    ] = None,
    zero_based: Annotated[str, typer.Option(help=ZERO_BASED_HELP)] = "auto",
) -> None:
    """Split an svmlight file into W contiguous CSR shards plus a manifest (with the labels'
    classes and, for two classes, their mapping to ±1: the smaller -1, the larger +1)."""
    from scheduler_host.cli.datasets import prepare_data_file, zero_based_choice

    if workers < 1:
        raise typer.BadParameter(f"got {workers} (allowed: >= 1)", param_hint="--workers")
    if features is not None and not 1 <= features <= MAX_FEATURES:
        raise typer.BadParameter(
            f"got {features} (allowed: 1 to {MAX_FEATURES:,})", param_hint="--features"
        )
    try:
        prepared = prepare_data_file(
            source,
            destination,
            num_workers=workers,
            num_features=features,
            zero_based=zero_based_choice(zero_based),
            loss=None,
            source_flag="SOURCE",
        )
    except (ValueError, OSError) as error:
        raise typer.BadParameter(str(error), param_hint="DESTINATION") from None
    manifest = prepared.manifest
    typer.echo(
        f"wrote {manifest.num_workers} shards of {manifest.num_samples} x "
        f"{manifest.num_features} to {destination}"
    )
    if manifest.labels is not None:
        binary = manifest.labels.binary
        mapping = f" ({binary.describe()} for a classification loss)" if binary else ""
        typer.echo(f"labels: {manifest.labels.describe()}{mapping}")
