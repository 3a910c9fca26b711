"""Tensor types known at compile time: a per-sample shape, or class labels."""

from __future__ import annotations

from dataclasses import dataclass
from math import prod


@dataclass(frozen=True)
class TensorType:
    """The type of one sample of a tensor; the batch dimension is implicit.

    `classes` is set for integer class labels (shape `()`), which only
    `embedding`, `onehot` and `cross_entropy` accept.
    """

    shape: tuple[int, ...]
    classes: int | None = None

    @property
    def is_label(self) -> bool:
        return self.classes is not None

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def numel(self) -> int:
        return prod(self.shape)

    def __str__(self) -> str:
        if self.is_label:
            return f"label[{self.classes}]"
        return fmt_shape(self.shape)


def fmt_shape(shape: tuple[int, ...]) -> str:
    if len(shape) == 1:
        return f"({shape[0]},)"
    return "(" + ", ".join(str(d) for d in shape) + ")"
