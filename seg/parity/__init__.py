"""Parity with official implementations: fixture format and per-kind runners."""
from .fixture import compare_outputs, derived_tensor, fixture_state_dict, load_fixture
from .runner import UnknownFixtureKind, run_fixture, supported_kinds
from . import (e2fgvi, flow_complete, propainter, raft, rapsam, sam_prompt_encoder, tmo,  # noqa: F401,E402  (register their parity runners)
               xmem_inference, xmem_network)

__all__ = ['compare_outputs', 'derived_tensor', 'fixture_state_dict', 'load_fixture', 'UnknownFixtureKind',
           'run_fixture', 'supported_kinds']
