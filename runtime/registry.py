"""The one registry of losses and penalties: names, parameter models, implementations.

Adding a loss is one module (a class with the :class:`runtime.losses.Loss` attributes) and
one line in :data:`LOSSES`; adding a penalty is one module (a class with the
:class:`runtime.penalties.ProximalPenalty` attributes and a ``from_spec`` constructor), its
parameter model in :mod:`runtime.penalty_specs`, and one line in :data:`PENALTIES` and
:data:`PenaltySpec`. Everything else (spec validation, CLI help, error messages, the
workers' losses, the scheduler's z-step) asks this module.

Implementations are named as ``"module:Class"`` and imported on first use, so the module
stays pure Python + pydantic: the intake and the CLI validate names without numpy.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import AfterValidator, BaseModel, Field, WithJsonSchema
from pydantic_core import PydanticCustomError

from runtime.penalty_specs import ElasticNetSpec, GroupLassoSpec

if TYPE_CHECKING:
    from runtime.losses import Loss
    from runtime.penalties import ProximalPenalty

#: Loss name -> implementing class.
LOSSES: Mapping[str, str] = {
    "logistic": "runtime.losses:LogisticLoss",
    "squared": "runtime.losses:SquaredLoss",
    "squared_hinge": "runtime.squared_hinge:SquaredHingeLoss",
}

#: Penalty kind -> (its parameter model, implementing class).
PENALTIES: Mapping[str, tuple[type[BaseModel], str]] = {
    "elastic_net": (ElasticNetSpec, "runtime.penalties:Penalty"),
    "group_lasso": (GroupLassoSpec, "runtime.group_lasso:GroupLasso"),
}

#: The tagged ``penalty`` of a spec, told apart by ``kind`` (one member per PENALTIES entry).
PenaltySpec = Annotated[ElasticNetSpec | GroupLassoSpec, Field(discriminator="kind")]


def loss_names() -> tuple[str, ...]:
    """The registered loss names, in registration order."""
    return tuple(LOSSES)


def penalty_kinds() -> tuple[str, ...]:
    """The registered penalty kinds, in registration order."""
    return tuple(PENALTIES)


def one_of(names: Iterable[str]) -> str:
    """``'a', 'b' or 'c'``: pydantic's phrasing of a choice, for messages and help."""
    quoted = [repr(name) for name in names]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"


def _known_loss(name: str) -> str:
    if name not in LOSSES:
        raise PydanticCustomError(
            "literal_error", "Input should be {expected}", {"expected": one_of(LOSSES)}
        )
    return name


#: A spec field holding a registered loss name (validated like a ``Literal`` of them).
LossName = Annotated[
    str,
    AfterValidator(_known_loss),
    WithJsonSchema({"type": "string", "enum": list(LOSSES)}),
]


def _load(path: str) -> Any:
    module_name, _, class_name = path.partition(":")
    return getattr(importlib.import_module(module_name), class_name)


def get_loss(name: str) -> Loss:
    """A new loss object of the registered name.

    Raises
    ------
    ValueError
        For a name not in :data:`LOSSES`, listing the registered ones.
    """
    if name not in LOSSES:
        allowed = ", ".join(repr(known) for known in LOSSES)
        raise ValueError(f"loss must be one of {allowed}, got {name!r}")
    loss: Loss = _load(LOSSES[name])()
    return loss


def build_penalty(spec: BaseModel) -> ProximalPenalty:
    """The penalty object of a validated tagged penalty (e.g. an :class:`ElasticNetSpec`).

    Raises
    ------
    ValueError
        If ``spec`` is not the parameter model of a registered kind.
    """
    kind = str(getattr(spec, "kind", ""))
    if kind not in PENALTIES or not isinstance(spec, PENALTIES[kind][0]):
        raise ValueError(
            f"penalty kind must be one of {one_of(PENALTIES)}, got {type(spec).__name__}"
        )
    penalty: ProximalPenalty = _load(PENALTIES[kind][1]).from_spec(spec)
    return penalty


def require(component: object, attributes: Sequence[str], *, role: str, solver: str) -> None:
    """Check, before solving, that ``component`` has what ``solver`` uses of it.

    Raises
    ------
    TypeError
        Naming the solver, the component's class and every missing attribute.
    """
    missing = [name for name in attributes if not hasattr(component, name)]
    if missing:
        needed = ", ".join(f"{role}.{name}" for name in missing)
        raise TypeError(f"{solver} needs {needed}, which {type(component).__name__} lacks")
