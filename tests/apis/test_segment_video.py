"""seg.apis.segment_video with an untrained toy FastSAM2: objects from any frame, removals, checks before decoding."""
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from seg.apis import VideoPromptError, init_model, segment_image, segment_video
from seg.fileio import InputError
from seg.fileio.frames import open_frames
from seg.models.fastsam2 import PromptError
from seg.toy_data import render_video

REPO = Path(__file__).resolve().parents[2]
CONFIG = str(REPO / 'configs' / 'fastsam2' / 'fastsam2_r18_toy.py')
T, H, W = 6, 64, 96
CLICK = {2: {7: dict(points=[[40, 30]])}}


@pytest.fixture(scope='module')
def model():
    torch.manual_seed(0)
    return init_model(CONFIG)


@pytest.fixture(scope='module')
def frames():
    """(T, H, W, 3) uint8 RGB toy frames."""
    return render_video(3, num_frames=T, height=H, width=W).frames


@pytest.fixture
def decoded(model, monkeypatch):
    """Frames the model has looked at (a spy on ``extract_feat``)."""
    seen = []
    extract_feat = model.extract_feat

    def spy(inputs):
        seen.append(inputs.shape)
        return extract_feat(inputs)

    monkeypatch.setattr(model, 'extract_feat', spy)
    return seen


def _run(model, frames, prompts, **kwargs):
    return list(segment_video(model, frames, prompts, **kwargs))


def _generator(frames):
    yield from frames


def test_a_click_on_frame_2_adds_the_object_there(model, frames):
    out = _run(model, list(frames), CLICK)
    assert [t for t, _, _ in out] == list(range(T))
    for t, ids, masks in out:
        assert masks.dtype == np.bool_
        assert ids == ([] if t < 2 else [7])
        assert masks.shape == ((0, H, W) if t < 2 else (1, H, W))
    # the prompted frame is decoded as the single-image path decodes the same click
    image = segment_image(model, np.ascontiguousarray(frames[2][..., ::-1]), points=[[40, 30]])
    np.testing.assert_array_equal(out[2][2], image.pred_instances.masks.cpu().numpy())
    assert not model.memory.object_ids


def test_a_removed_object_is_gone_from_that_frame_on(model, frames):
    kept = _run(model, list(frames), CLICK)
    out = _run(model, list(frames), CLICK, remove={4: [7]})
    assert [ids for _, ids, _ in out] == [[], [], [7], [7], [], []]
    for t in (2, 3):
        np.testing.assert_array_equal(out[t][2], kept[t][2])
    assert out[4][2].shape == out[5][2].shape == (0, H, W)


def test_objects_with_different_prompts_on_one_frame(model, frames):
    prompts = {1: {3: dict(boxes=[10, 10, 50, 40], text='the square'), 7: dict(points=[[40, 30], [60, 20]])},
               3: {9: dict(mask=frames[3].sum(-1) > 300, point_labels=[1, 0], points=[[5, 5], [90, 60]])}}
    out = _run(model, list(frames), prompts)
    assert [ids for _, ids, _ in out] == [[], [3, 7], [3, 7], [3, 7, 9], [3, 7, 9], [3, 7, 9]]
    assert all(masks.shape == (len(ids), H, W) for _, ids, masks in out)


def test_a_prompt_beyond_the_video_is_refused_before_any_frame(model, frames, decoded, tmp_path):
    beyond = {50: {7: dict(points=[[40, 30]])}}
    with pytest.raises(VideoPromptError, match=r'frame\(s\) \[50\], but the video has 6 frames'):
        segment_video(model, list(frames), beyond)
    for t, rgb in enumerate(frames):
        cv2.imwrite(str(tmp_path / f'{t:05d}.jpg'), rgb[..., ::-1])
    with pytest.raises(VideoPromptError, match=r'frame\(s\) \[50\]'):
        segment_video(model, tmp_path, beyond)
    with pytest.raises(VideoPromptError, match=r'frame\(s\) \[4\]'):
        segment_video(model, list(frames[:3]), CLICK, remove={4: [7]})
    assert decoded == []


def test_a_generator_s_missing_frame_is_named_at_its_end(model, frames):
    yielded = []
    with pytest.raises(VideoPromptError, match=r'frame\(s\) \[50\], but the video has 6 frames'):
        for t, ids, _ in segment_video(model, _generator(frames), {1: CLICK[2], 50: CLICK[2]}):
            yielded.append((t, ids))
    assert yielded == [(0, [])] + [(t, [7]) for t in range(1, T)]
    assert not model.memory.object_ids


@pytest.mark.parametrize('prompts,remove,match', [
    ({2: {7: dict(scribble=[[1, 2]])}}, None, r"object 7 on frame 2 has keys \['scribble'\]"),
    ({2: {7: dict()}}, None, 'has nothing'),
    ({2: {7: dict(points=[[40, 30]], point_labels=[1, 1])}}, None, '1 points but 2 point_labels'),
    ({2: {7: dict(boxes=[1, 2, 3])}}, None, r'one \[x1, y1, x2, y2\]'),
    ({'two': {7: dict(points=[[40, 30]])}}, None, 'frame index of prompts must be an int'),
    ({2: [dict(points=[[40, 30]])]}, None, r'prompts\[2\] must be a dict'),
    (CLICK, {2: [7]}, r'remove on frame 2 names object\(s\) \[7\], not tracked'),
    (CLICK, {3: [8]}, r'\[8\], not tracked on that frame \(tracked: \[7\]\)'),
])
def test_malformed_prompts_and_removals_are_named(model, frames, decoded, prompts, remove, match):
    with pytest.raises(VideoPromptError, match=match):
        segment_video(model, list(frames), prompts, remove=remove)
    assert decoded == []


@pytest.mark.parametrize('prompt,match', [
    (dict(points=[[100, 30]]), r'object 7 on frame 2: point 0 at \(x, y\) = \(100, 30\) lies outside the image'),
    (dict(boxes=[30, 10, 20, 40]), 'object 7 on frame 2: box .* has x2 < x1'),
    (dict(text='  '), 'object 7 on frame 2: text .* is empty'),
    (dict(mask=np.ones((32, 32), bool)), 'object 7 on frame 2: masks are'),
])
def test_a_prompt_the_frame_cannot_take_is_a_prompt_error(model, frames, decoded, prompt, match):
    with pytest.raises(PromptError, match=match) as error:
        segment_video(model, list(frames), {2: {7: prompt}})
    assert isinstance(error.value, InputError) and decoded == []
    # frames of unknown size: checked on the frame itself, before the model sees it
    stream = segment_video(model, _generator(frames), {2: {7: prompt}})
    assert [t for t, _, _ in (next(stream), next(stream))] == [0, 1]
    with pytest.raises(PromptError, match=match):
        next(stream)
    assert len(decoded) == 2 and not model.memory.object_ids


def test_a_jpeg_folder_and_its_frames_as_arrays_give_the_same_result(model, frames, tmp_path):
    for t, rgb in enumerate(frames):
        cv2.imwrite(str(tmp_path / f'{t:05d}.jpg'), rgb[..., ::-1])
    arrays = list(open_frames(tmp_path))  # the decoded JPEGs, (H, W, 3) uint8 RGB
    assert not np.array_equal(arrays[0], frames[0])  # JPEG is lossy: the comparison below is not trivial
    prompts = {0: {1: dict(boxes=[10, 10, 50, 40])}, 2: {7: dict(points=[[40, 30]]), 1: dict(points=[[20, 20]])}}
    from_folder = _run(model, tmp_path, prompts, remove={4: [1]})
    from_arrays = _run(model, arrays, prompts, remove={4: [1]})
    from_generator = _run(model, _generator(arrays), prompts, remove={4: [1]})
    assert [ids for _, ids, _ in from_folder] == [[1], [1], [1, 7], [1, 7], [7], [7]]
    for a, b, c in zip(from_folder, from_arrays, from_generator):
        assert a[:2] == b[:2] == c[:2]
        np.testing.assert_array_equal(a[2], b[2])
        np.testing.assert_array_equal(a[2], c[2])


def test_memory_is_reset_when_the_video_ends_or_the_caller_stops(model, frames):
    model.memory.reset()
    _run(model, list(frames), CLICK)
    assert not model.memory.object_ids
    stream = segment_video(model, list(frames), CLICK)
    for _ in range(3):
        next(stream)
    assert model.memory.object_ids == [7]  # the stream is tracking
    stream.close()
    assert not model.memory.object_ids
    for t, ids, _ in segment_video(model, list(frames), CLICK):
        if t == 3:
            break
    assert not model.memory.object_ids
    bad = list(frames[:3]) + [frames[3][..., 0]]  # frame 3 is grey
    with pytest.raises(InputError, match=r'frame 3 must be \(H, W, 3\) uint8 RGB'):
        _run(model, bad, CLICK)
    assert not model.memory.object_ids


def test_only_fastsam2_models(frames):
    with pytest.raises(TypeError, match='needs a FastSAM2 model'):
        segment_video(torch.nn.Linear(2, 2), list(frames), CLICK)
