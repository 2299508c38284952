"""Field checks for decoded wire messages: each raises ProtocolError naming the field and range."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


class ProtocolError(ValueError):
    """A message that must be dropped; the text says why."""


def int_field(body: dict[str, Any], name: str, *, low: int, high: int) -> int:
    value = body.get(name)
    if type(value) is not int or not low <= value <= high:
        raise ProtocolError(f"field {name!r} must be an integer in [{low}, {high}], got {value!r}")
    return value


def float_field(body: dict[str, Any], name: str, *, low: float = -math.inf) -> float:
    value: Any = body.get(name)
    if type(value) not in (float, int) or not math.isfinite(value) or value < low:
        raise ProtocolError(f"field {name!r} must be a finite number >= {low}, got {value!r}")
    return float(value)


def positive_field(body: dict[str, Any], name: str) -> float:
    value = float_field(body, name)
    if value <= 0.0:
        raise ProtocolError(f"field {name!r} must be a finite number > 0, got {value!r}")
    return value


def bool_field(body: dict[str, Any], name: str) -> bool:
    value = body.get(name, False)
    if type(value) is not bool:
        raise ProtocolError(f"field {name!r} must be a boolean, got {value!r}")
    return value


def _array(body: dict[str, Any], name: str) -> np.ndarray:
    value = body.get(name)
    if not isinstance(value, np.ndarray):
        raise ProtocolError(f"field {name!r} must be an array, got {type(value).__name__}")
    return value


def _finite(value: np.ndarray, name: str) -> np.ndarray:
    if not np.isfinite(value).all():
        raise ProtocolError(f"field {name!r} has non-finite entries")
    return value


def vector_field(body: dict[str, Any], name: str, *, length: int) -> np.ndarray:
    value = _array(body, name)
    if value.dtype != np.float64 or value.shape != (length,):
        raise ProtocolError(
            f"field {name!r} must be float64 of shape ({length},), "
            f"got {value.dtype} of shape {value.shape}"
        )
    return _finite(value, name)


def short_vector_field(body: dict[str, Any], name: str, *, max_length: int) -> np.ndarray:
    """A float64 vector of at most ``max_length`` finite entries (possibly empty)."""
    value = _array(body, name)
    if value.dtype != np.float64 or value.ndim != 1 or value.shape[0] > max_length:
        raise ProtocolError(
            f"field {name!r} must be float64 of at most {max_length} entries, "
            f"got {value.dtype} of shape {value.shape}"
        )
    return _finite(value, name)


def str_field(body: dict[str, Any], name: str, *, max_length: int = 4096) -> str:
    value = body.get(name)
    if not isinstance(value, str) or len(value) > max_length:
        raise ProtocolError(
            f"field {name!r} must be a string of at most {max_length} characters, got {value!r:.80}"
        )
    return value
