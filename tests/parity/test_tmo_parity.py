"""TMO parity: soft scores and the adaptive-output-selection masks against the official forward."""
import pytest

import seg.parity.tmo as runner_module
from seg.parity import compare_outputs, fixture_state_dict


@pytest.fixture(scope='module')
def fixture(parity_fixture) -> dict:
    return parity_fixture('tmo')


def test_scores_and_aos_masks_match(fixture):
    ok, checks = compare_outputs(runner_module.run_tmo(fixture), fixture)
    assert set(checks) == {'scores', 'aos_masks'}
    assert ok, {k: c.max_abs_diff for k, c in checks.items()}


def test_a_perturbed_predictor_is_caught(fixture, monkeypatch):
    def perturbed(fx):
        state_dict = fixture_state_dict(fx)
        state_dict['vos.decoder.predictor.conv.bias'] = state_dict['vos.decoder.predictor.conv.bias'] + 0.01
        return state_dict

    monkeypatch.setattr(runner_module, 'fixture_state_dict', perturbed)
    fixture = dict(fixture, inputs={k: v for k, v in fixture['inputs'].items() if not k.startswith('aos_')},
                   outputs={'scores': fixture['outputs']['scores']})
    ok, _ = compare_outputs(runner_module.run_tmo(fixture), fixture)
    assert not ok
