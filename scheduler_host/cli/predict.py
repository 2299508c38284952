"""``lambda-admm predict``: a result directory's model applied to an svmlight file.

Writes one CSV row per sample (``prediction,margin``, and for the logistic loss the
probability of the positive class) and prints the accuracy (classifiers) or the RMSE
(regression) against the file's labels. A classifier's file whose labels are not the
model's two classes (e.g. placeholders) gets predictions and no accuracy.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import typer
from scipy.special import expit

from runtime.svmlight import SvmlightError, ZeroBased, read_svmlight
from scheduler_host.model_file import Model, read_model
from scheduler_host.results import write_atomically


@dataclass(frozen=True)
class Predictions:
    """What a model says of n rows, and how it scored against their labels."""

    table: list[list[str]]
    header: list[str]
    score_name: str
    score: float | None


def predictions_for(model: Model, features: object, labels: np.ndarray) -> Predictions:
    """The CSV table and the score of ``features`` (n, d) with labels (n,)."""
    margins = model.margins(features)
    file = model.file
    if file.labels is None:
        rmse = math.sqrt(float(np.mean((margins - labels) ** 2)))
        table = [[repr(float(value))] for value in margins]
        return Predictions(table=table, header=["prediction"], score_name="RMSE", score=rmse)
    mapping = file.labels
    predicted = np.where(margins > 0, mapping.positive, mapping.negative)
    columns = [[f"{value:g}" for value in predicted], [repr(float(m)) for m in margins]]
    header = ["prediction", "margin"]
    if file.loss == "logistic":
        columns.append([repr(float(p)) for p in expit(margins)])
        header.append(f"probability_{mapping.positive:g}")
    known = np.isin(labels, [mapping.negative, mapping.positive])
    accuracy = float(np.mean(predicted == labels)) if known.all() else None
    return Predictions(
        table=[list(row) for row in zip(*columns, strict=True)],
        header=header,
        score_name="accuracy",
        score=accuracy,
    )


def predict_file(
    *, model_dir: Path, data: Path, out: Path, overwrite: bool, zero_based: ZeroBased | None
) -> str:
    """Predict, write ``out``, and return the line to print.

    Raises
    ------
    typer.BadParameter
        Naming ``--model``, ``--data`` or ``--out``; nothing is written then.
    """
    try:
        model = read_model(model_dir)
    except (ValueError, OSError) as error:
        raise typer.BadParameter(str(error), param_hint="--model") from None
    if out.exists() and not overwrite:
        raise typer.BadParameter(
            f"{out} exists (allowed: a new file, or --overwrite)", param_hint="--out"
        )
    base = zero_based or _base_of(model)
    try:
        loaded = read_svmlight(
            data,
            num_features=model.file.num_features,
            zero_based=base,
            features_name="the model's number of features,",
        )
    except SvmlightError as error:
        raise typer.BadParameter(str(error), param_hint="--data") from None
    except OSError as error:
        raise typer.BadParameter(str(error), param_hint="--data") from None
    result = predictions_for(model, loaded.data.features, loaded.data.labels)
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(result.header)
    writer.writerows(result.table)
    try:
        write_atomically(out, lambda stream: stream.write(text.getvalue().encode()))
    except OSError as error:
        raise typer.BadParameter(str(error), param_hint="--out") from None
    count = len(result.table)
    if result.score is None:
        scored = f"no {result.score_name}: the labels are not the model's two classes"
    else:
        scored = f"{result.score_name} {result.score:.6g}"
    return f"wrote {count} predictions to {out}; {scored}"


def _base_of(model: Model) -> ZeroBased:
    """The training file's index base, else scikit-learn's 'auto'."""
    if model.file.zero_based is None:
        return "auto"
    return "true" if model.file.zero_based else "false"
