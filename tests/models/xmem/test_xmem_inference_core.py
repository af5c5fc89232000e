"""XMem inference core beyond the official code: later objects with long-term removal, LT_max = k·P, large frames, errors."""
import pytest
import torch

from seg.models.xmem import XMem
from seg.models.xmem.inference import TrackingInputError, XMemInferenceCore
from seg.models.xmem.inference.inference_core import pad_to_multiple, unpad

SIZE = (48, 64)  # 3x4 tokens per frame


@pytest.fixture(scope='module')
def network():
    torch.manual_seed(0)
    return XMem(key_dim=16, value_dim=32, hidden_dim=8).eval()


def blob(cy, cx, size=SIZE, r=10):
    y, x = torch.meshgrid(torch.arange(size[0]), torch.arange(size[1]), indexing='ij')
    return (((y - cy)**2 + (x - cx)**2) < r * r).float()


def run(network, config, num_frames=14, new_object_at=3, size=SIZE):
    torch.manual_seed(1)
    frames = torch.randn(num_frames, 3, *size)
    core = XMemInferenceCore(network, config)
    probs = []
    with torch.no_grad():
        for t in range(num_frames):
            if t == 0:
                core.set_all_labels([1, 2])
                prob = core.step(frames[t], torch.stack([blob(12, 12, size), blob(30, 40, size)]))
            elif t == new_object_at:
                core.set_all_labels([1, 2, 3])
                mask = torch.stack([torch.zeros(size), torch.zeros(size), blob(20, 50, size, r=6)])
                prob = core.step(frames[t], mask, valid_labels=[3])
            else:
                prob = core.step(frames[t], end=t == num_frames - 1)
            probs.append(prob)
    return core, probs


def small_long_term(**kw):
    return dict(mem_every=1, max_mid_term_frames=3, min_mid_term_frames=2, num_prototypes=4, top_k=8, **kw)


def test_later_object_with_obsolete_removal(network):
    """The official code raises NotImplementedError here (removal with two object groups)."""
    core, probs = run(network, small_long_term(max_long_term_elements=10))
    memory = core.memory
    assert memory.long_mem.num_groups == 2 and memory.long_mem.size <= 10
    assert all(v.shape[-1] <= memory.long_mem.size for v in memory.long_mem.value)
    assert [p.shape[0] for p in probs] == [3, 3, 3] + [4] * 11
    for prob in probs:
        assert torch.allclose(prob.sum(0), torch.ones(SIZE), atol=1e-5)
    # the later object is segmented where it was given
    assert probs[3][3, 20, 50] > 0.5


def test_long_term_budget_a_multiple_of_the_prototypes(network):
    """LT_max = 3·P: the official removal hits top-k with k = 0 (IndexError) once LT holds LT_max − P."""
    core, _ = run(network, small_long_term(max_long_term_elements=12), new_object_at=-1)
    assert 0 < core.memory.long_mem.size <= 12


def test_non_synchronised_deep_updates_run(network):
    _, probs = run(network, dict(mem_every=2, deep_update_every=3))
    assert len(probs) == 14


def test_max_internal_size_returns_input_size(network):
    size = (96, 128)
    core, probs = run(network, dict(max_internal_size=48), num_frames=4, size=size)
    assert all(p.shape[-2:] == size for p in probs)
    assert core.memory.hw == 3 * 4  # processed at 48x64
    assert torch.allclose(probs[-1].sum(0), torch.ones(size), atol=1e-4)


def test_padding_is_split_floor_first():
    x = torch.ones(1, 3, 5)
    padded, pad = pad_to_multiple(x, 4)
    assert padded.shape == (1, 4, 8) and pad == (1, 2, 0, 1)
    assert torch.equal(unpad(padded, pad), x)


@pytest.mark.parametrize('case,match', [
    ('no_first_mask', 'first frame needs a mask'),
    ('mask_size', r'must be \(N, 48, 64\)'),
    ('channels', '1 channels for 2 labels'),
    ('valid_labels', 'not in'),
    ('labels', '1..N in order'),
    ('frame_size', 'resize frames to one size'),
])
def test_bad_input_is_named(network, case, match):
    core = XMemInferenceCore(network)
    frame = torch.randn(3, *SIZE)
    masks = torch.stack([blob(12, 12), blob(30, 40)])
    with pytest.raises(TrackingInputError, match=match):
        if case == 'no_first_mask':
            core.step(frame)
        elif case == 'labels':
            core.set_all_labels([1, 3])
        else:
            core.set_all_labels([1, 2])
            if case == 'mask_size':
                core.step(frame, masks[:, :40])
            elif case == 'channels':
                core.step(frame, masks[:1])
            elif case == 'valid_labels':
                core.step(frame, masks, valid_labels=[5])
            else:
                core.step(frame, masks)
                core.step(torch.randn(3, 32, 32))


def test_unknown_settings_are_refused(network):
    with pytest.raises(TrackingInputError, match='mem_evry'):
        XMemInferenceCore(network, dict(mem_evry=3))
