"""XMem network: checkpoint files, BN freezing, shapes of clip and frame calls."""
import pytest
import torch

from seg.models.xmem import XMem, XMemCheckpointError, load_xmem_checkpoint
from seg.models.xmem.aggregate import aggregate

SMALL = dict(key_dim=16, value_dim=32, hidden_dim=8)


@pytest.fixture(scope='module')
def model():
    torch.manual_seed(0)
    return XMem(**SMALL).eval()


def test_released_training_and_prefixed_files_load(tmp_path, model):
    state_dict = model.state_dict()
    torch.save(state_dict, tmp_path / 'XMem.pth')
    torch.save({'it': 3, 'network': state_dict, 'optimizer': {}, 'scheduler': {}}, tmp_path / 'run_checkpoint_3.pth')
    torch.save({f'module.{k}': v for k, v in state_dict.items()}, tmp_path / 'ddp.pth')
    for name in ('XMem.pth', 'run_checkpoint_3.pth', 'ddp.pth'):
        loaded = XMem.from_state_dict(load_xmem_checkpoint(tmp_path / name))
        assert (loaded.key_dim, loaded.value_dim, loaded.hidden_dim) == (16, 32, 8)
        assert torch.equal(loaded.decoder.pred.weight, model.decoder.pred.weight)


def test_missing_and_corrupt_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match='XMem.pth'):
        load_xmem_checkpoint(tmp_path / 'XMem.pth')
    (tmp_path / 'bad.pth').write_bytes(b'not a zip')
    with pytest.raises(XMemCheckpointError, match='bad.pth'):
        load_xmem_checkpoint(tmp_path / 'bad.pth')
    with pytest.raises(XMemCheckpointError, match='not an XMem state dict'):
        XMem.from_state_dict({'conv.weight': torch.zeros(1)})


def test_freeze_bn_keeps_running_stats(model):
    model.train()
    model.freeze_bn()
    before = model.key_encoder.bn1.running_mean.clone()
    model.encode_key(torch.randn(1, 3, 32, 32))
    assert torch.equal(model.key_encoder.bn1.running_mean, before)
    model.eval()


def test_clip_and_frame_shapes(model):
    frames = torch.randn(2, 3, 3, 32, 48)
    key, shrinkage, selection, f16, f8, f4 = model.encode_key(frames)
    assert key.shape == (2, 16, 3, 2, 3) and shrinkage.shape == (2, 1, 3, 2, 3) and selection.shape == key.shape
    assert f16.shape == (2, 3, 1024, 2, 3) and f8.shape == (2, 3, 512, 4, 6) and f4.shape == (2, 3, 256, 8, 12)
    key1, no_s, no_e, *_ = model.encode_key(frames[:, 0], need_sk=False, need_ek=False)
    assert no_s is None and no_e is None and torch.allclose(key1, key[:, :, 0], atol=1e-5)
    masks = torch.rand(2, 3, 32, 48)
    hidden = torch.zeros(2, 3, 8, 2, 3)
    value, new_hidden = model.encode_value(frames[:, 0], f16[:, 0], hidden, masks)
    assert value.shape == (2, 3, 32, 2, 3) and not torch.equal(new_hidden, hidden)
    readout = model.read_memory(key[:, :, 1], selection[:, :, 1], key[:, :, :1], shrinkage[:, :, :1],
                                value.unsqueeze(3))
    _, logits, prob = model.segment((f16[:, 1], f8[:, 1], f4[:, 1]), readout, new_hidden, h_out=False)
    assert logits.shape == (2, 4, 32, 48) and prob.shape == (2, 3, 32, 48)


def test_aggregate_is_a_distribution_with_background_first():
    prob = torch.tensor([[[[0.9]], [[0.0]]]])
    logits, out = aggregate(prob, dim=1, return_logits=True)
    assert out.shape == (1, 3, 1, 1) and torch.allclose(out.sum(1), torch.ones(1, 1, 1))
    assert out[0, 1] > out[0, 0] > out[0, 2]
    assert torch.isclose(logits.min(), torch.log(torch.tensor(1e-7 / (1 - 1e-7))))
