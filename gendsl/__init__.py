"""gendsl: a compiler from .gen model specs to standalone PyTorch code."""

__version__ = "0.1.0"
