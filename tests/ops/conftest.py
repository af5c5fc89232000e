"""Shared setup for the ops tests: select the ops backend, seed, give compiled ops to compare with."""
import pytest
import torch

import seg  # noqa: F401  (selects the ops backend, making ``mmcv.ops`` importable)
from seg.ops.backend import compiled_ops


@pytest.fixture
def mmcv_ops():
    """Compiled ``mmcv.ops`` to compare against; skips the test where it is not the backend."""
    ops = compiled_ops()
    if ops is None:
        pytest.skip('compiled mmcv ops are not loaded (fallback backend in use)')
    return ops


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
