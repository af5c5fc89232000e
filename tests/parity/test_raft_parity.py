"""RAFT parity: our raft-things against the official fixture (strict load through raft_state_dict)."""
import pytest
import torch

import seg.parity.raft as runners
from seg.models.flow import RAFT, load_raft, raft_state_dict
from seg.parity import compare_outputs, fixture_state_dict
from seg.registry import PARITY_RUNNERS


@pytest.fixture(scope='module')
def fixture(parity_fixture) -> dict:
    return parity_fixture('raft')


@pytest.fixture(scope='module')
def outputs(official_run):
    """Our runner's outputs (2 pairs at 128x192, 6 iterations: a few seconds; once per session)."""
    return official_run('raft')[1]


def test_matches_official_outputs(fixture, outputs):
    assert fixture['meta']['kind'] == 'raft'
    ok, checks = compare_outputs(outputs, fixture)
    assert set(checks) == set(fixture['outputs']) == set(outputs)
    assert ok, {key: (check.max_abs_diff, check.detail) for key, check in checks.items() if not check.ok}


def test_runner_is_registered():
    assert PARITY_RUNNERS.get('raft') is runners.run_raft


def test_swapped_directions_are_caught(fixture, outputs):
    """Item 0 is the forward and item 1 the backward flow of one pair; the comparison tells them apart."""
    swapped = {key: value.flip(0) for key, value in outputs.items()}
    ok, checks = compare_outputs(swapped, fixture)
    assert not ok and not checks['flow_low'].ok and not checks['flow_up'].ok


def test_aliased_norm_is_read_once(fixture):
    """The fixture carries both names of the aliased BatchNorm; our RAFT has one, and takes strictly what is left."""
    official = fixture_state_dict(fixture)
    aliases = fixture['meta']['aliased_keys']
    converted = raft_state_dict(official)
    assert set(converted) == set(official) - set(aliases.values())
    assert set(RAFT().state_dict()) == set(converted)
    for twin, name in aliases.items():
        assert torch.equal(converted[twin], official[name])


def test_data_parallel_checkpoint_loads_strictly(fixture, tmp_path):
    """The released raft-things.pth layout: every key prefixed with ``module.``, both alias names present."""
    official = fixture_state_dict(fixture)
    prefixed = {f'module.{key}': value for key, value in official.items()}
    model = RAFT()
    model.load_state_dict(raft_state_dict(prefixed), strict=True)
    model.load_state_dict(raft_state_dict({'state_dict': prefixed}), strict=True)
    path = tmp_path / 'raft-things.pth'
    torch.save(prefixed, path)
    loaded = load_raft(path)
    assert not loaded.training
    for key, value in loaded.state_dict().items():
        assert torch.equal(value, official[key]), key
