"""RAP-SAM parity: our neck, head and full model against the official fixtures (strict loads)."""
import pytest

from seg.parity import compare_outputs, fixture_state_dict, supported_kinds
from seg.parity.rapsam import rapsam_model_config
from seg.registry import MODELS, PARITY_RUNNERS


@pytest.mark.parametrize('name', ['rapsam_neck', 'rapsam_head', 'rapsam_model'])
def test_matches_official_outputs(parity_fixture, name):
    fixture = parity_fixture(name)
    assert fixture['meta']['kind'] in supported_kinds()
    ok, checks = compare_outputs(PARITY_RUNNERS.get(fixture['meta']['kind'])(fixture), fixture)
    assert set(checks) == set(fixture['outputs'])
    assert ok, {key: (check.max_abs_diff, check.detail) for key, check in checks.items() if not check.ok}


def test_full_model_state_dict_is_the_official_layout(parity_fixture):
    fixture = parity_fixture('rapsam_model')
    model = MODELS.build(rapsam_model_config(fixture))
    ours = model.state_dict()
    assert list(ours) == [e['name'] for e in fixture['manifest']]
    assert all(list(ours[e['name']].shape) == e['shape'] for e in fixture['manifest'])


def test_a_wrong_weight_is_caught(parity_fixture, monkeypatch):
    """The comparison is sharp enough to see one perturbed parameter of the head's second stage."""
    import seg.parity.rapsam as runners
    fixture = parity_fixture('rapsam_head')

    def perturbed(fx):
        state = fixture_state_dict(fx)
        state['mask_heads.1.fc_mask.bias'] = state['mask_heads.1.fc_mask.bias'] + 1e-2
        return state

    monkeypatch.setattr(runners, 'fixture_state_dict', perturbed)
    ok, checks = compare_outputs(runners.run_rapsam_head(fixture), fixture)
    assert not ok and not checks['pan_mask_1'].ok and checks['pan_mask_0'].ok
