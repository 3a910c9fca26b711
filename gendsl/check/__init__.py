"""Check: resolve names, infer shapes, verify contracts; produce a CheckedModel."""

from gendsl.check.model import check

__all__ = ["check"]
