"""ProPainter flow completion parity: RecurrentFlowCompleteNet against the official fixture (strict load)."""
import seg.parity.flow_complete as runner
from seg.models.flow import RecurrentFlowCompleteNet
from seg.parity import compare_outputs, fixture_state_dict
from seg.registry import PARITY_RUNNERS


def test_matches_official_outputs(official_run):
    fixture, outputs = official_run('flow_complete')
    assert fixture['meta']['kind'] == 'flow_complete'
    ok, checks = compare_outputs(outputs, fixture)
    assert set(checks) == set(fixture['outputs']) == set(outputs)
    assert ok, {key: (check.max_abs_diff, check.detail) for key, check in checks.items() if not check.ok}


def test_runner_is_registered():
    assert PARITY_RUNNERS.get('flow_complete') is runner.run_flow_complete


def test_state_dict_names_and_shapes_are_the_manifest(parity_fixture):
    fixture = parity_fixture('flow_complete')
    ours = {name: tuple(value.shape) for name, value in RecurrentFlowCompleteNet().state_dict().items()}
    assert ours == {entry['name']: tuple(entry['shape']) for entry in fixture['manifest']}


def test_swapped_directions_are_caught(official_run):
    """Forward and backward predictions are told apart; so are edges left in reversed time order."""
    fixture, outputs = official_run('flow_complete')
    swapped = dict(outputs, pred_flows_forward=outputs['pred_flows_backward'],
                   pred_flows_backward=outputs['pred_flows_forward'])
    ok, checks = compare_outputs(swapped, fixture)
    assert not ok and not checks['pred_flows_forward'].ok and not checks['pred_flows_backward'].ok
    unflipped = dict(outputs, **{'train.pred_edges_backward': outputs['train.pred_edges_backward'].flip(1)})
    ok, checks = compare_outputs(unflipped, fixture)
    assert not ok and not checks['train.pred_edges_backward'].ok


def test_a_perturbed_offset_bias_is_caught(parity_fixture, monkeypatch):
    """A small change to the backward pass's DCN offsets changes every prediction the propagation feeds."""
    fixture = parity_fixture('flow_complete')

    def perturbed(fx):
        state = fixture_state_dict(fx)
        key = 'feat_prop_module.deform_align.backward_.conv_offset.6.bias'
        state[key] = state[key] + 0.05
        return state

    monkeypatch.setattr(runner, 'fixture_state_dict', perturbed)
    ok, checks = compare_outputs(runner.run_flow_complete(fixture), fixture)
    assert not ok and not checks['pred_flows_forward'].ok and not checks['pred_flows_backward'].ok
    assert not checks['train.pred_edges_forward'].ok
