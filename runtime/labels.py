"""The label classes of a data set, and the one mapping of two classes to ±1.

Classification losses (``signed_labels``: logistic, squared hinge) need labels ±1. A file's
two classes are mapped once, for the whole data set, before any worker starts: the smaller
value becomes −1 and the larger +1, so {0, 1} and {−1, 1} map as expected, and {2, 4}
(e.g. the breast-cancer coding) maps 2 → −1, 4 → +1. Anything but two classes is refused.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: At most this many distinct labels are listed (regression targets are counted only).
MAX_LISTED_CLASSES = 10


def format_label(value: float) -> str:
    """``1`` for 1.0, ``0.5`` for 0.5: labels as a file would write them."""
    return f"{value:g}"


@dataclass(frozen=True)
class BinaryLabels:
    """The two classes of a data set: ``negative`` becomes −1, ``positive`` +1."""

    negative: float
    positive: float

    def apply(self, labels: np.ndarray) -> np.ndarray:
        """``labels`` (n,) mapped to ±1 (float64).

        Raises
        ------
        ValueError
            If a label is neither class (the rows do not belong to this data set).
        """
        stray = labels[(labels != self.negative) & (labels != self.positive)]
        if stray.size:
            raise ValueError(
                f"label {format_label(float(stray[0]))} is neither class of the data set "
                f"({self.describe()})"
            )
        return np.where(labels == self.positive, 1.0, -1.0)

    def describe(self) -> str:
        """``0 → -1, 1 → +1``."""
        return f"{format_label(self.negative)} → -1, {format_label(self.positive)} → +1"


@dataclass(frozen=True)
class LabelClasses:
    """The distinct labels of a whole data set.

    Parameters
    ----------
    listed : tuple of float
        The smallest distinct labels, ascending, at most :data:`MAX_LISTED_CLASSES`.
    count : int
        How many distinct labels there are in all.
    """

    listed: tuple[float, ...]
    count: int

    @classmethod
    def of(cls, labels: np.ndarray) -> LabelClasses:
        """The classes of ``labels`` (n,)."""
        distinct = np.unique(labels)
        return cls(
            listed=tuple(float(v) for v in distinct[:MAX_LISTED_CLASSES]), count=distinct.size
        )

    @property
    def binary(self) -> BinaryLabels | None:
        """The ±1 mapping if there are exactly two classes (the larger is +1), else None."""
        if self.count != 2:
            return None
        return BinaryLabels(negative=self.listed[0], positive=self.listed[1])

    def describe(self) -> str:
        """``3: -1, 0, 1``, or ``57: 0, 1, 2, ...`` when not all are listed."""
        values = ", ".join(format_label(value) for value in self.listed)
        return f"{self.count}: {values}" + (", ..." if self.count > len(self.listed) else "")


def signed_labels_for(loss: str, classes: LabelClasses) -> BinaryLabels:
    """The ±1 mapping a classification loss uses, or a refusal naming the classes found.

    Raises
    ------
    ValueError
        ``"the logistic loss needs two label classes, found 3: -1, 0, 1 (allowed: any two
        classes; the smaller becomes -1, the larger +1)"``.
    """
    mapping = classes.binary
    if mapping is None:
        raise ValueError(
            f"the {loss} loss needs two label classes, found {classes.describe()} "
            "(allowed: any two classes; the smaller becomes -1, the larger +1)"
        )
    return mapping
