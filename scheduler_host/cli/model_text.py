"""The objective a spec solves, in words and symbols, for the summary and ``result.json``.

``minimize <loss> + <each penalty term with its weight> [subject to <the box>]``, e.g.
``minimize logistic loss Σ_n log(1 + exp(−b_n·a_nᵀx)) + 1·‖x‖₁``. The weights are exactly
the spec's: λ is not divided by N, and ``--sample-weights uniform`` puts the 1/N on the loss.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from runtime.penalty_specs import ElasticNetSpec, GroupLassoSpec
from runtime.specs import ModelSpec

#: Each registered loss: its name in words, and the term summed over the samples n.
LOSS_TERMS = {
    "logistic": ("logistic loss", "log(1 + exp(−b_n·a_nᵀx))"),
    "squared": ("squared loss", "½(a_nᵀx − b_n)²"),
    "squared_hinge": ("squared hinge loss", "max(0, 1 − b_n·a_nᵀx)²"),
}


def _loss_text(loss: str, sample_weights: str) -> str:
    name, term = LOSS_TERMS.get(loss, (f"{loss} loss", f"{loss}(b_n, a_nᵀx)"))
    weight = "(1/N)" if sample_weights == "uniform" else ""
    return f"{name} {weight}Σ_n {term}"


def _box_text(lower: float | None, upper: float | None) -> str | None:
    if lower is not None and upper is not None:
        return f"{lower:g} ≤ x_i ≤ {upper:g}"
    if lower is not None:
        return f"x_i ≥ {lower:g}"
    if upper is not None:
        return f"x_i ≤ {upper:g}"
    return None


def _penalty_terms(penalty: BaseModel) -> tuple[list[str], str | None]:
    """The penalty's terms with their weights, and its constraint (None: unconstrained)."""
    if isinstance(penalty, ElasticNetSpec):
        terms = []
        if penalty.l1:
            terms.append(f"{penalty.l1:g}·‖x‖₁")
        if penalty.l2:
            terms.append(f"({penalty.l2:g}/2)·‖x‖₂²")
        return terms, _box_text(penalty.box_lower, penalty.box_upper)
    if isinstance(penalty, GroupLassoSpec):
        groups = f"groups of {penalty.group_size} contiguous features"
        return [f"{penalty.weight:g}·Σ_g ‖x_g‖₂ ({groups})"], None
    parameters = ", ".join(f"{k}={v}" for k, v in penalty.model_dump().items() if k != "kind")
    return [f"{getattr(penalty, 'kind', 'penalty')}({parameters})"], None


def describe_model(model: ModelSpec) -> str:
    """``minimize <loss> + <terms> [subject to <box>]``: the objective exactly as solved."""
    terms, constraint = _penalty_terms(model.penalty)
    text = " + ".join(["minimize " + _loss_text(model.loss, model.sample_weights), *terms])
    return f"{text} subject to {constraint}" if constraint else text


def model_json(model: ModelSpec) -> dict[str, Any]:
    """``result.json``'s ``model``: the text, and the loss, weights and penalty it shows."""
    return {
        "objective": describe_model(model),
        "loss": model.loss,
        "sample_weights": model.sample_weights,
        "penalty": model.penalty.model_dump(mode="json"),
    }
