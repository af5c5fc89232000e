"""XMem network parity: our modules against the official XMem call sequence (strict load, every output)."""
import pytest
import torch

import seg.parity.xmem_network as runner_module
from seg.models.xmem import XMem, XMemCheckpointError
from seg.parity import compare_outputs, fixture_state_dict, run_fixture


@pytest.fixture(scope='module')
def fixture(parity_fixture) -> dict:
    return parity_fixture('xmem_network')


def test_every_output_matches(fixture):
    ok, checks = run_fixture(fixture)
    assert set(checks) == set(fixture['outputs'])
    assert ok, {k: c.max_abs_diff for k, c in checks.items() if not c.ok}


def test_state_dict_is_the_official_layout_in_order(fixture):
    state_dict = fixture_state_dict(fixture)
    model = XMem(**XMem.dims_from_state_dict(state_dict))
    assert list(model.state_dict()) == list(state_dict)
    assert XMem.dims_from_state_dict(state_dict) == dict(key_dim=64, value_dim=512, hidden_dim=64)


def test_a_perturbed_decoder_weight_is_caught(fixture, monkeypatch):
    def perturbed(fx):
        state_dict = fixture_state_dict(fx)
        state_dict['decoder.pred.weight'] = state_dict['decoder.pred.weight'] * 1.01
        return state_dict

    monkeypatch.setattr(runner_module, 'fixture_state_dict', perturbed)
    ok, checks = compare_outputs(runner_module.run_xmem_network(fixture), fixture)
    assert not ok
    assert checks['encode_key.key'].ok and not checks['segment.t1.logits'].ok


def test_single_object_stem_is_zero_padded(fixture):
    state_dict = fixture_state_dict(fixture)
    state_dict['value_encoder.conv1.weight'] = state_dict['value_encoder.conv1.weight'][:, :4].clone()
    model = XMem.from_state_dict(state_dict)
    stem = model.value_encoder.conv1.weight
    assert stem.shape[1] == 5 and torch.equal(stem[:, 4], torch.zeros_like(stem[:, 4]))


def test_key_mismatches_are_listed(fixture):
    state_dict = fixture_state_dict(fixture)
    state_dict['module.extra'] = state_dict.pop('decoder.pred.bias')
    with pytest.raises(XMemCheckpointError, match=r"1 missing \['decoder.pred.bias'\], 1 unexpected"):
        XMem.from_state_dict(state_dict)
