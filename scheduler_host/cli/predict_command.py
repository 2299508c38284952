"""``lambda-admm predict``: a solved model applied to a data file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from scheduler_host.cli.spec_flags import ZERO_BASED_HELP

app = typer.Typer(rich_markup_mode=None, add_completion=False)


@app.command()
def predict(
    model: Annotated[Path, typer.Option(help="a result directory (with model.json and x.npy)")],
    data: Annotated[Path, typer.Option(help="an svmlight/LIBSVM file to predict")],
    out: Annotated[Path, typer.Option(help="the predictions, as CSV")] = Path("predictions.csv"),
    overwrite: Annotated[bool, typer.Option(help="replace an existing --out")] = False,
    zero_based: Annotated[
        str | None,
        typer.Option(help=f"{ZERO_BASED_HELP} (default: as the training file was read)"),
    ] = None,
) -> None:
    """Predict with a solved model; prints the accuracy (classifiers) or the RMSE."""
    from scheduler_host.cli.datasets import zero_based_choice
    from scheduler_host.cli.predict import predict_file

    base = None if zero_based is None else zero_based_choice(zero_based)
    line = predict_file(model_dir=model, data=data, out=out, overwrite=overwrite, zero_based=base)
    typer.echo(line)
