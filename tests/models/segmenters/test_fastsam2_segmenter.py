"""FastSAM2Segmenter on the toy FastSAM2 config with random weights: the interface, weights loading, text."""
import numpy as np
import pytest
import torch

from seg.apis import load_config
from seg.models.segmenters import FastSAM2Segmenter, SegmenterPromptError


@pytest.fixture(scope='module')
def segmenter():
    torch.manual_seed(0)
    return FastSAM2Segmenter(load_config('configs/fastsam2/fastsam2_r18_toy.py').model)


def test_every_prompt_kind_gives_one_mask_at_the_frame_size(segmenter):
    frame = np.random.default_rng(0).integers(0, 255, (70, 90, 3), dtype=np.uint8)
    rough = np.zeros((70, 90), bool)
    rough[10:30, 20:50] = True
    for prompt in (dict(points=[(20, 30), (60, 10)], labels=[1, 0]), dict(box=(5, 5, 40, 50)), dict(mask=rough),
                   dict(text='the left square'), dict(points=[(20, 30)], box=(5, 5, 40, 50), text='a square')):
        mask = segmenter.segment(frame, **prompt)
        assert mask.shape == (70, 90) and mask.dtype == bool
    assert segmenter.takes_text


def test_weights_load_strictly(segmenter, tmp_path):
    torch.save(segmenter.model.state_dict(), tmp_path / 'fastsam2.pth')
    cfg = load_config('configs/fastsam2/fastsam2_r18_toy.py').model
    loaded = FastSAM2Segmenter(cfg, tmp_path / 'fastsam2.pth')
    frame = np.random.default_rng(1).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    assert np.array_equal(loaded.segment(frame, box=(5, 5, 40, 50)), segmenter.segment(frame, box=(5, 5, 40, 50)))
    with pytest.raises(FileNotFoundError, match='not found'):
        FastSAM2Segmenter(cfg, tmp_path / 'missing.pth')


def test_a_prompt_outside_the_frame_is_named(segmenter):
    with pytest.raises(SegmenterPromptError, match='outside'):
        segmenter.segment(np.zeros((32, 32, 3), np.uint8), points=[(40, 3)])
