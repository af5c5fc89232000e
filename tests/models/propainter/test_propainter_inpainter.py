"""ProPainterInpainter: one self-contained window (RAFT, flow completion, propagation, generator), weights loading."""

import pytest
import torch

from seg.fileio import InputError
from seg.models.propainter.propainter_inpainter import WEIGHT_FILES, ProPainterInpainter, ProPainterWeightsError

HEIGHT, WIDTH = 100, 180  # neither a multiple of 8: padded to 104 x 184 and cropped back


@pytest.fixture(scope='module')
def inpainter():
    torch.manual_seed(0)
    return ProPainterInpainter(raft_iters=2).eval()


def window(num_frames: int, seed: int = 0, height: int = HEIGHT, width: int = WIDTH):
    """(T, 3, H, W) frames in [0, 1] and (T, 1, H, W) 0/1 holes: a box moving right."""
    generator = torch.Generator().manual_seed(seed)
    frames = torch.rand(num_frames, 3, height, width, generator=generator)
    masks = torch.zeros(num_frames, 1, height, width)
    for t in range(num_frames):
        masks[t, :, 30:60, 40 + 3 * t:90 + 3 * t] = 1
    return frames, masks


def test_window_shapes_known_pixels_and_padding_to_multiples_of_8(inpainter):
    frames, masks = window(8)
    seen = {}

    def record(name):
        def hook(module, args):
            seen.setdefault(name, args[0].shape)
        return hook

    hooks = [inpainter.generator.register_forward_pre_hook(record('gen')),
             inpainter.flow_completion.register_forward_pre_hook(record('rfc'))]
    try:
        out = inpainter.inpaint_window(frames, masks, num_local_frames=5)
    finally:
        for hook in hooks:
            hook.remove()
    assert out.shape == (5, 3, HEIGHT, WIDTH) and out.dtype == torch.float32
    assert seen['gen'] == (1, 8, 3, 104, 184)  # 5 local + 3 reference frames, padded
    assert seen['rfc'][-2:] == (104, 184) and seen['rfc'][1] == 4  # 4 flows between the 5 local frames
    known = masks[:5].expand_as(out) == 0
    assert torch.equal(out[known], frames[:5][known])
    assert torch.isfinite(out).all() and out.min() >= 0 and out.max() <= 1
    assert not torch.allclose(out[~known], frames[:5][~known], atol=1e-3)  # the holes were filled


def test_single_local_frame_and_tiny_frames(inpainter):
    frames, masks = window(3, height=40, width=66)
    masks[:, :, 5:20, 10:30] = 1
    out = inpainter.inpaint_window(frames, masks, num_local_frames=1)
    assert out.shape == (1, 3, 40, 66)
    assert torch.equal(out[masks[:1].expand_as(out) == 0], frames[:1][masks[:1].expand_as(out) == 0])


def test_flows_of_frames_shared_with_the_last_window_are_reused_with_the_same_result(inpainter):
    frames, masks = window(9, seed=1, height=48, width=80)
    first, second = list(range(0, 6)), list(range(3, 9))
    pairs = []

    def count_pairs(module, args):
        pairs.append(args[0].shape[1] - 1)

    hook = inpainter.flow_estimator.register_forward_pre_hook(count_pairs)
    try:
        inpainter._flow_cache = None
        inpainter.inpaint_window(frames[first], masks[first], 6)
        streamed = inpainter.inpaint_window(frames[second], masks[second], 6)
        inpainter._flow_cache = None
        fresh = inpainter.inpaint_window(frames[second], masks[second], 6)
    finally:
        hook.remove()
    assert pairs == [5, 3, 5]  # the second window computes only its 3 new pairs
    torch.testing.assert_close(streamed, fresh, rtol=0, atol=1e-6)


def test_bfloat16_autocast_runs_and_stays_close_to_float32(inpainter):
    frames, masks = window(4, seed=2, height=40, width=64)
    inpainter._flow_cache = None
    reference = inpainter.inpaint_window(frames, masks, 3)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        reduced = inpainter.inpaint_window(frames, masks, 3)
    assert reduced.dtype == torch.float32 and reduced.shape == reference.shape
    torch.testing.assert_close(reduced, reference, rtol=0, atol=0.1)


def test_bad_window_is_refused(inpainter):
    frames, masks = window(4)
    with pytest.raises(ValueError, match='num_local_frames'):
        inpainter.inpaint_window(frames, masks, 5)
    with pytest.raises(ValueError, match=r'masks \(T, 1, H, W\)'):
        inpainter.inpaint_window(frames, masks[:3], 2)


# ----------------------------------------------------------------------------------------------
# Weights
# ----------------------------------------------------------------------------------------------
@pytest.fixture(scope='module')
def release_dir(tmp_path_factory):
    """A folder laid out as the release, holding the weights of a seeded random ProPainterInpainter."""
    torch.manual_seed(1)
    source = ProPainterInpainter()
    folder = tmp_path_factory.mktemp('propainter')
    # raft-things.pth was saved from DataParallel, hence the `module.` prefixes.
    torch.save({f'module.{k}': v for k, v in source.flow_estimator.raft.state_dict().items()},
               folder / WEIGHT_FILES['raft'])
    torch.save(source.flow_completion.state_dict(), folder / WEIGHT_FILES['flow_completion'])
    torch.save(source.generator.state_dict(), folder / WEIGHT_FILES['generator'])
    return folder, source


def test_release_files_load_strictly(release_dir):
    folder, source = release_dir
    torch.manual_seed(2)
    target = ProPainterInpainter()
    target.load_weights(folder)
    for theirs, ours in zip(source.state_dict().values(), target.state_dict().values()):
        assert torch.equal(theirs, ours)


def test_missing_folder_names_the_three_files(tmp_path):
    with pytest.raises(ProPainterWeightsError) as info:
        ProPainterInpainter().load_weights(tmp_path / 'nowhere')
    message = str(info.value)
    assert isinstance(info.value, InputError) and 'nowhere' in message
    assert all(name in message for name in WEIGHT_FILES.values())


def test_missing_files_are_all_named(release_dir, tmp_path):
    folder, _ = release_dir
    (tmp_path / WEIGHT_FILES['raft']).symlink_to(folder / WEIGHT_FILES['raft'])
    with pytest.raises(ProPainterWeightsError) as info:
        ProPainterInpainter().load_weights(tmp_path)
    lacking = str(info.value).split('; ')[0]
    assert 'recurrent_flow_completion.pth' in lacking and 'ProPainter.pth' in lacking
    assert 'raft-things.pth' not in lacking


@pytest.mark.parametrize('part', ['flow_completion', 'generator'])
def test_a_file_of_another_network_is_named(release_dir, tmp_path, part):
    folder, _ = release_dir
    for other in WEIGHT_FILES.values():
        (tmp_path / other).symlink_to(folder / other)
    wrong = tmp_path / WEIGHT_FILES[part]
    wrong.unlink()
    wrong.symlink_to(folder / WEIGHT_FILES['raft'])  # RAFT's weights under the other name
    with pytest.raises(InputError, match=WEIGHT_FILES[part].replace('.', r'\.')):
        ProPainterInpainter().load_weights(tmp_path)
