"""An estimator from a result directory: ``ADMMLasso.from_model_dir("results/run")``.

The directory's ``model.json`` (:mod:`scheduler_host.model_file`) gives the coefficients,
the intercept, the classes and the spec; the spec's ``l1``/``l2`` are converted back to the
estimator's parameters (the inverse of each estimator's ``_penalty_weights``), so that
``get_params()`` describes the model and a refit solves the same problem.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from scheduler_host.model_file import Model, read_model


def averaged_weights(spec: dict[str, Any]) -> tuple[float, float]:
    """``(l1, l2)`` of the spec's problem written as an average loss (w_n = 1/N)."""
    per_sample = 1.0 if spec.get("sample_weights") == "uniform" else float(spec["samples"])
    return float(spec["l1"]) / per_sample, float(spec["l2"]) / per_sample


def check_representable(model: Model, owner: str) -> None:
    """Refuse penalties no estimator parameter expresses: a tagged penalty (group lasso), a box.

    Raises
    ------
    ValueError
        ``"<owner>: the model's group_lasso penalty has no <owner> parameters (allowed:
        the elastic net without a box; use lambda-admm predict)"``.
    """
    spec = model.file.spec
    if spec.get("penalty") is not None:
        kind = spec["penalty"].get("kind")
        found = f"the model's {kind} penalty"
    elif spec.get("box_lower") is not None or spec.get("box_upper") is not None:
        found = "the model's box constraint"
    else:
        return
    raise ValueError(
        f"{owner}: {found} has no {owner} parameters (allowed: the elastic net without a box; "
        "use lambda-admm predict)"
    )


def load_model_for(cls: type, directory: Path | str, loss: str) -> Model:
    """The model in ``directory``, checked to be of ``loss`` and expressible by ``cls``.

    Raises
    ------
    ValueError
        From :func:`scheduler_host.model_file.read_model`, or ``"<cls>: the model in DIR is
        a squared model (allowed: logistic)"``.
    """
    model = read_model(Path(directory))
    if model.file.loss != loss:
        raise ValueError(
            f"{cls.__name__}: the model in {directory} is a {model.file.loss} model "
            f"(allowed: {loss})"
        )
    check_representable(model, cls.__name__)
    return model


def classes_of(model: Model) -> np.ndarray:
    """A classifier's ``classes_``: ``[negative, positive]`` labels, shape (2,)."""
    labels = model.file.labels
    if labels is None:
        raise ValueError("model: a classifier's model.json must hold its labels")
    return np.array([labels.negative, labels.positive])
