"""The model file of a result directory: what ``predict`` and the estimators load.

A solve's directory holds ``x.npy`` (the d coefficients) and ``model.json``, a
:class:`ModelFile`: the intercept, d, the loss, the label mapping of a classifier (which
label is −1, which +1), how the training file's indices were read, the spec, and the sha256
of ``x.npy``. No pickle: the coefficients load with ``allow_pickle=False`` and the rest is
validated JSON.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from runtime.labels import BinaryLabels
from runtime.registry import LossName, get_loss
from runtime.shards import read_manifest
from runtime.storage import storage_for
from scheduler_host.results import SolveResult, write_atomically
from scheduler_host.solve_spec import SolveSpec, describe_validation_error

MODEL_FILE_NAME = "model.json"
COEFFICIENTS_NAME = "x.npy"


class LabelMapping(BaseModel):
    """A classifier's two classes: ``negative`` is the label of −1, ``positive`` of +1."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    negative: float = Field(allow_inf_nan=False)
    positive: float = Field(allow_inf_nan=False)

    @property
    def binary(self) -> BinaryLabels:
        return BinaryLabels(negative=self.negative, positive=self.positive)


class ModelFile(BaseModel):
    """``model.json``: everything besides the coefficients that predicting needs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format_version: Literal[1] = 1
    loss: LossName
    num_features: int = Field(ge=1, description="d, the length of x.npy")
    intercept: float | None = Field(allow_inf_nan=False, description="None: fitted without one")
    labels: LabelMapping | None = Field(description="a classifier's classes; None: regression")
    zero_based: bool | None = Field(
        default=None, description="how the training file's indices were read (None: unknown)"
    )
    coefficients_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    converged: bool
    iterations: int = Field(ge=0)
    spec: dict[str, Any]

    @property
    def is_classifier(self) -> bool:
        return get_loss(self.loss).signed_labels


@dataclass(frozen=True, eq=False)
class Model:
    """A loaded model: its file and its coefficients, shape (d,)."""

    file: ModelFile
    coefficients: np.ndarray

    def margins(self, features: Any) -> np.ndarray:
        """``X β + β₀`` for ``features`` (n, d), dense or sparse; shape (n,)."""
        margins = np.asarray(features @ self.coefficients, dtype=np.float64).ravel()
        return margins + (self.file.intercept or 0.0)


def coefficients_bytes(coefficients: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(coefficients, dtype=np.float64))
    return buffer.getvalue()


def model_file_for(
    *,
    coefficients: np.ndarray,
    intercept: float | None,
    loss: str,
    labels: BinaryLabels | None,
    zero_based: bool | None,
    converged: bool,
    iterations: int,
    spec: dict[str, Any],
) -> ModelFile:
    """The model file of a result (its ``x.npy`` hashed as :func:`write_model` writes it)."""
    return ModelFile(
        loss=loss,
        num_features=int(coefficients.shape[0]),
        intercept=intercept,
        labels=None
        if labels is None
        else LabelMapping(negative=labels.negative, positive=labels.positive),
        zero_based=zero_based,
        coefficients_sha256=hashlib.sha256(coefficients_bytes(coefficients)).hexdigest(),
        converged=converged,
        iterations=iterations,
        spec=spec,
    )


def model_file_of(result: SolveResult, spec: SolveSpec) -> ModelFile:
    """The model file of a finished solve of ``spec`` (resolved: a shard dataset's manifest,
    which holds its label classes and index base, is read again here)."""
    labels: BinaryLabels | None = None
    zero_based: bool | None = None
    if spec.problem == "shards":
        assert spec.shards is not None
        manifest = read_manifest(storage_for(spec.shards, field="shards"))
        zero_based = manifest.zero_based
        if get_loss(spec.loss).signed_labels and manifest.labels is not None:
            labels = manifest.labels.binary
    elif get_loss(spec.loss).signed_labels:
        labels = BinaryLabels(negative=-1.0, positive=1.0)  # the generator's labels
    return model_file_for(
        coefficients=result.x,
        intercept=result.intercept,
        loss=spec.loss,
        labels=labels,
        zero_based=zero_based,
        converged=result.converged,
        iterations=result.iterations,
        spec=json.loads(spec.model_dump_json()),
    )


def write_model_file(directory: Path, model: ModelFile) -> None:
    """``model.json`` in ``directory``, atomically; ``x.npy`` is written beside it by
    :func:`scheduler_host.results.write_result` (the sha256 names its bytes)."""
    text = (model.model_dump_json(indent=2) + "\n").encode()
    write_atomically(directory / MODEL_FILE_NAME, lambda stream: stream.write(text))


def read_model(directory: Path) -> Model:
    """The model in ``directory``, checked: its JSON, the sha256 and the shape of ``x.npy``.

    Raises
    ------
    ValueError
        ``"DIR has no model.json (...)"``, ``"DIR/model.json: <field>: <problem>"``, or
        ``"DIR/x.npy failed its sha256 check: ..."`` / ``"... holds shape ..."``.
    """
    path = directory / MODEL_FILE_NAME
    if not path.is_file():
        raise ValueError(
            f"{directory} has no {MODEL_FILE_NAME} (allowed: a result directory of "
            "`lambda-admm solve`, from this version on)"
        )
    try:
        model = ModelFile.model_validate(json.loads(path.read_text()))
    except ValidationError as error:
        raise ValueError(f"{path}: {describe_validation_error(error)}") from None
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not JSON ({error})") from None
    blob = (directory / COEFFICIENTS_NAME).read_bytes()
    actual = hashlib.sha256(blob).hexdigest()
    if actual != model.coefficients_sha256:
        raise ValueError(
            f"{directory / COEFFICIENTS_NAME} failed its sha256 check: {MODEL_FILE_NAME} says "
            f"{model.coefficients_sha256}, file has {actual}"
        )
    coefficients = np.load(io.BytesIO(blob), allow_pickle=False)
    if coefficients.shape != (model.num_features,) or coefficients.dtype != np.float64:
        raise ValueError(
            f"{directory / COEFFICIENTS_NAME} holds {coefficients.dtype} {coefficients.shape}; "
            f"{MODEL_FILE_NAME} says float64 ({model.num_features},)"
        )
    return Model(file=model, coefficients=coefficients)
