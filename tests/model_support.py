"""Reading a generated model.py in tests: its model class, and the networks it owns."""

from __future__ import annotations


def model_class(module):
    """The model class of a generated model.py: the last nn.Module class it defines."""
    import torch

    return [v for v in vars(module).values() if isinstance(v, type) and issubclass(v, torch.nn.Module)
            and v.__module__ == module.__name__][-1]


def networks_of(module) -> dict:
    """{network name: network} of a freshly built model (networks built in spec order)."""
    return dict(model_class(module)().named_children())
