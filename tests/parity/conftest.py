"""Fixtures for the parity tests: the official fixtures in ``../shared/parity/fixtures``, skipped where absent."""
from pathlib import Path
from typing import Callable, Dict, Tuple

import pytest
import torch

from seg.parity import load_fixture
from seg.registry import PARITY_RUNNERS

FIXTURES = Path(__file__).resolve().parents[2].parent / 'shared' / 'parity' / 'fixtures'


@pytest.fixture(scope='session')
def parity_fixture() -> Callable[[str], dict]:
    """``load(name)``: the fixture ``<name>.pt``, loaded afresh (a test may change it); skips the test if absent."""

    def load(name: str) -> dict:
        path = FIXTURES / f'{name}.pt'
        if not path.is_file():
            pytest.skip(f'parity fixture {path} not found')
        return load_fixture(path)

    return load


@pytest.fixture(scope='session')
def official_run(parity_fixture) -> Callable[[str], Tuple[dict, Dict[str, torch.Tensor]]]:
    """``run(kind)``: the fixture of that kind and our registered runner's outputs on its inputs.

    Each kind runs once per session (the inpainting and flow runs take 5-15 s on two cores); tests must not
    change what they get.
    """
    cache = {}

    def run(kind: str) -> Tuple[dict, Dict[str, torch.Tensor]]:
        if kind not in cache:
            fixture = parity_fixture(kind)
            cache[kind] = fixture, PARITY_RUNNERS.get(kind)(fixture)
        return cache[kind]

    return run
