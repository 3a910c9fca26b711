"""Markers that let a change run only the tests it can break.

- `torch`: the test runs torch code (it imports torch, or it sits in tests/runtime or tests/generated).
- `slow`: the test trains generated models or runs whole scripts (tests/generated, the bench smoke runs,
  the fuzzer).

`python -m pytest -m "not torch and not slow"` runs the compiler's tests alone, without torch or training.
"""

from __future__ import annotations

from pathlib import Path

import pytest

TORCH_STAGES = {"runtime", "generated"}
SLOW_STAGES = {"generated"}
SLOW_MODULES = {"test_bench_quality", "test_bench_smoke", "test_fuzz"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        stage = Path(str(item.fspath)).parent.name
        module = getattr(item, "module", None)
        if stage in TORCH_STAGES or (module is not None and hasattr(module, "torch")):
            item.add_marker(pytest.mark.torch)
        if stage in SLOW_STAGES or (module is not None and module.__name__.rsplit(".", 1)[-1] in SLOW_MODULES):
            item.add_marker(pytest.mark.slow)
