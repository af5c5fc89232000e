"""E2FGVI / E2FGVI-HQ parity: our generators against the official fixtures (strict loads, exact settings)."""
import pytest

import seg.parity.e2fgvi as runners
from seg.models.e2fgvi import E2FGVIHQGenerator
from seg.parity import compare_outputs, fixture_state_dict
from seg.registry import PARITY_RUNNERS

# conftest.official_run runs each kind once per session: 240x432 E2FGVI 15 s on two CPU cores, 120x216 HQ 5 s.
KINDS = ('e2fgvi', 'e2fgvi_hq')


@pytest.mark.parametrize('kind', KINDS)
def test_matches_official_outputs(official_run, kind):
    fixture, outputs = official_run(kind)
    assert fixture['meta']['kind'] == kind
    ok, checks = compare_outputs(outputs, fixture)
    assert set(checks) == set(fixture['outputs']) == set(outputs)
    assert ok, {key: (check.max_abs_diff, check.detail) for key, check in checks.items() if not check.ok}


def test_runners_are_registered():
    assert PARITY_RUNNERS.get('e2fgvi') is runners.run_e2fgvi
    assert PARITY_RUNNERS.get('e2fgvi_hq') is runners.run_e2fgvi_hq


@pytest.mark.parametrize('kind', KINDS)
def test_swapped_flows_are_caught(official_run, kind):
    """Forward and backward flows are close mirror images; the comparison must still tell them apart."""
    fixture, outputs = official_run(kind)
    swapped = dict(outputs, flow_forward=outputs['flow_backward'], flow_backward=outputs['flow_forward'])
    ok, checks = compare_outputs(swapped, fixture)
    assert not ok and not checks['flow_forward'].ok and not checks['flow_backward'].ok
    assert checks['pred_img'].ok


def test_a_perturbed_layer_norm_weight_is_caught(parity_fixture, monkeypatch):
    """One transformer LayerNorm weight +1e-3 (a fault the fixture notes list) changes the prediction."""
    fixture = parity_fixture('e2fgvi_hq')

    def perturbed(fx):
        state = fixture_state_dict(fx)
        state['transformer.3.norm1.weight'] = state['transformer.3.norm1.weight'] + 1e-3
        return state

    monkeypatch.setattr(runners, 'fixture_state_dict', perturbed)
    ok, checks = compare_outputs(runners.run_e2fgvi_hq(fixture), fixture)
    assert not ok and not checks['pred_img'].ok
    assert checks['flow_forward'].max_abs_diff == 0 and checks['flow_backward'].max_abs_diff == 0


def test_load_is_strict_about_the_layout(parity_fixture):
    """The HQ generator refuses the non-HQ checkpoint (``sc.bias`` instead of ``sc.bias_conv``)."""
    fixture = parity_fixture('e2fgvi')
    with pytest.raises(RuntimeError, match=r'sc\.bias_conv\.weight[\s\S]*sc\.bias'):
        E2FGVIHQGenerator(init_weights=False).load_state_dict(fixture_state_dict(fixture), strict=True)
