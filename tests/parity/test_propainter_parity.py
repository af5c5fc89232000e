"""ProPainter generator parity: our generator against the official eval and train fixtures (strict loads)."""
import pytest
import torch

import seg.parity.propainter as runners
from seg.models.propainter import ProPainterGenerator
from seg.parity import compare_outputs, fixture_state_dict
from seg.registry import PARITY_RUNNERS

# conftest.official_run runs each kind once per session: eval 5 s, train (with backward) 10 s on two CPU cores.
KINDS = ('propainter_eval', 'propainter_train')


@pytest.mark.parametrize('kind', KINDS)
def test_matches_official_outputs(official_run, kind):
    fixture, outputs = official_run(kind)
    assert fixture['meta']['kind'] == kind
    ok, checks = compare_outputs(outputs, fixture)
    assert set(checks) == set(fixture['outputs']) == set(outputs)
    assert ok, {key: (check.max_abs_diff, check.detail) for key, check in checks.items() if not check.ok}


def test_runners_are_registered():
    assert PARITY_RUNNERS.get('propainter_eval') is runners.run_propainter_eval
    assert PARITY_RUNNERS.get('propainter_train') is runners.run_propainter_train


@pytest.mark.parametrize('kind', KINDS)
def test_fixture_weights_load_strictly(parity_fixture, kind):
    fixture = parity_fixture(kind)
    state = fixture_state_dict(fixture)
    assert len(state) == 216
    ProPainterGenerator(init_weights=False).load_state_dict(state, strict=True)


@pytest.mark.parametrize('fault', ['swapped_flows', 'bilinear'])
def test_pixel_propagation_faults_are_caught(official_run, fault):
    """Two faults the fixture notes list, on the parameter-free propagation (cheap to re-run)."""
    fixture, outputs = official_run('propainter_eval')
    inputs = fixture['inputs']
    flows = inputs['flows_forward'], inputs['flows_backward']
    interpolation = 'bilinear' if fault == 'bilinear' else 'nearest'
    if fault == 'swapped_flows':
        flows = flows[::-1]
    with torch.no_grad():
        prop_frames, prop_masks = ProPainterGenerator(init_weights=False).img_propagation(
            inputs['masked_frames'], flows, inputs['masks'], interpolation)
    ok, checks = compare_outputs(dict(outputs, prop_frames=prop_frames, prop_masks=prop_masks), fixture)
    assert not ok and not checks['prop_frames'].ok
    assert checks['pred_img'].ok


def test_unscaled_gradients_fail(official_run):
    """The stored gradients carry ``grad_scale``; comparing raw gradients must fail."""
    fixture, outputs = official_run('propainter_train')
    scales = fixture['inputs']['grad_scale']
    raw = {key: value / scales[key[len('grad.'):]] if key.startswith('grad.') else value
           for key, value in outputs.items()}
    ok, checks = compare_outputs(raw, fixture)
    assert not ok and checks['pred_img'].ok
    assert all(not check.ok for key, check in checks.items() if key.startswith('grad.'))
