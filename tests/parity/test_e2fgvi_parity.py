"""E2FGVI / E2FGVI-HQ parity: our generators against the official fixtures (strict loads, exact settings)."""
from pathlib import Path
from typing import Dict, Tuple

import pytest
import torch

import seg.parity.e2fgvi as runners
from seg.models.e2fgvi import E2FGVIHQGenerator
from seg.parity import compare_outputs, fixture_state_dict, load_fixture
from seg.registry import PARITY_RUNNERS

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO.parent / 'shared' / 'parity' / 'fixtures'
# Each official run happens once per module: 240x432 E2FGVI about 15 s on two CPU cores, 120x216 HQ about 5 s.
KINDS = ('e2fgvi', 'e2fgvi_hq')


def fixture_or_skip(kind: str) -> dict:
    path = FIXTURES / f'{kind}.pt'
    if not path.is_file():
        pytest.skip(f'parity fixture {path} not found')
    return load_fixture(path)


@pytest.fixture(scope='module')
def official_runs() -> Dict[str, Tuple[dict, Dict[str, torch.Tensor]]]:
    """Each fixture with our runner's outputs, computed once per module (the runs take seconds)."""
    cache = {}

    def run(kind: str):
        if kind not in cache:
            fixture = fixture_or_skip(kind)
            cache[kind] = fixture, PARITY_RUNNERS.get(kind)(fixture)
        return cache[kind]

    return run


@pytest.mark.parametrize('kind', KINDS)
def test_matches_official_outputs(official_runs, kind):
    fixture, outputs = official_runs(kind)
    assert fixture['meta']['kind'] == kind
    ok, checks = compare_outputs(outputs, fixture)
    assert set(checks) == set(fixture['outputs']) == set(outputs)
    assert ok, {key: (check.max_abs_diff, check.detail) for key, check in checks.items() if not check.ok}


def test_runners_are_registered():
    assert PARITY_RUNNERS.get('e2fgvi') is runners.run_e2fgvi
    assert PARITY_RUNNERS.get('e2fgvi_hq') is runners.run_e2fgvi_hq


@pytest.mark.parametrize('kind', KINDS)
def test_swapped_flows_are_caught(official_runs, kind):
    """Forward and backward flows are close mirror images; the comparison must still tell them apart."""
    fixture, outputs = official_runs(kind)
    swapped = dict(outputs, flow_forward=outputs['flow_backward'], flow_backward=outputs['flow_forward'])
    ok, checks = compare_outputs(swapped, fixture)
    assert not ok and not checks['flow_forward'].ok and not checks['flow_backward'].ok
    assert checks['pred_img'].ok


def test_a_perturbed_layer_norm_weight_is_caught(monkeypatch):
    """One transformer LayerNorm weight +1e-3 (a fault the fixture notes list) changes the prediction."""
    fixture = fixture_or_skip('e2fgvi_hq')

    def perturbed(fx):
        state = fixture_state_dict(fx)
        state['transformer.3.norm1.weight'] = state['transformer.3.norm1.weight'] + 1e-3
        return state

    monkeypatch.setattr(runners, 'fixture_state_dict', perturbed)
    ok, checks = compare_outputs(runners.run_e2fgvi_hq(fixture), fixture)
    assert not ok and not checks['pred_img'].ok
    assert checks['flow_forward'].max_abs_diff == 0 and checks['flow_backward'].max_abs_diff == 0


def test_load_is_strict_about_the_layout():
    """The HQ generator refuses the non-HQ checkpoint (``sc.bias`` instead of ``sc.bias_conv``)."""
    fixture = fixture_or_skip('e2fgvi')
    with pytest.raises(RuntimeError, match=r'sc\.bias_conv\.weight[\s\S]*sc\.bias'):
        E2FGVIHQGenerator(init_weights=False).load_state_dict(fixture_state_dict(fixture), strict=True)
