"""Dispatch a parity fixture to the registered runner of its kind.

A model issue registers, for each fixture kind it supports, a function
``runner(fixture) -> dict`` that builds our implementation, loads
:func:`~seg.parity.fixture.fixture_state_dict` strictly (through a converter
if names differ), runs it on ``fixture['inputs']`` with every setting read from
the fixture, and returns the outputs keyed like ``fixture['outputs']``::

    @PARITY_RUNNERS.register_module('rapsam_neck')
    def run_rapsam_neck(fixture): ...
"""
from typing import Dict, List, Tuple

from seg.registry import PARITY_RUNNERS

from .fixture import OutputCheck, compare_outputs


class UnknownFixtureKind(KeyError):
    """No runner is registered for a fixture's ``meta['kind']``."""


def supported_kinds() -> List[str]:
    """Fixture kinds that have a registered runner."""
    PARITY_RUNNERS.import_from_location()
    return sorted(PARITY_RUNNERS.module_dict)


def run_fixture(fixture: dict) -> Tuple[bool, Dict[str, OutputCheck]]:
    """Run our implementation on ``fixture`` and compare with the official outputs."""
    kind = fixture.get('meta', {}).get('kind')
    if kind not in supported_kinds():
        raise UnknownFixtureKind(f'no parity runner for fixture kind {kind!r}; supported: {supported_kinds()}')
    outputs = PARITY_RUNNERS.get(kind)(fixture)
    return compare_outputs(outputs, fixture)
