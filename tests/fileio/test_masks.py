"""Binary masks read by one rule whatever the file's mode."""
import numpy as np
import pytest
from PIL import Image

from seg.fileio.masks import MaskReadError, read_binary_mask

H, W = 12, 16


@pytest.fixture
def obj():
    mask = np.zeros((H, W), bool)
    mask[3:7, 4:11] = True
    return mask


def save(tmp_path, image, name='m.png'):
    path = tmp_path / name
    image.save(path)
    return path


def test_palette_masks_are_read_by_index_not_colour(tmp_path, obj):
    image = Image.fromarray(obj.astype(np.uint8) * 3, mode='P')
    image.putpalette([255, 255, 255] + [0, 0, 0] * 255)  # index 0 is white, the object's index 3 black
    assert np.array_equal(read_binary_mask(save(tmp_path, image)), obj)


@pytest.mark.parametrize('mode', ['L', 'I;16', '1'])
def test_one_channel_masks_are_value_above_zero(tmp_path, obj, mode):
    values = obj.astype(np.uint16 if mode == 'I;16' else np.uint8) * (1000 if mode == 'I;16' else 255)
    image = Image.fromarray(values).convert(mode) if mode == '1' else Image.fromarray(values)
    assert image.mode == mode
    assert np.array_equal(read_binary_mask(save(tmp_path, image)), obj)


def test_rgb_masks_take_any_channel(tmp_path, obj):
    rgb = np.zeros((H, W, 3), np.uint8)
    rgb[obj] = (0, 0, 9)
    assert np.array_equal(read_binary_mask(save(tmp_path, Image.fromarray(rgb))), obj)


def test_rgba_object_in_the_alpha_channel(tmp_path, obj):
    rgba = np.full((H, W, 4), 255, np.uint8)  # white everywhere, the object only in alpha
    rgba[..., 3] = obj * 255
    assert np.array_equal(read_binary_mask(save(tmp_path, Image.fromarray(rgba, 'RGBA'))), obj)


def test_opaque_rgba_falls_back_to_colour(tmp_path, obj):
    rgba = np.zeros((H, W, 4), np.uint8)
    rgba[..., 3] = 255
    rgba[obj, :3] = 255
    assert np.array_equal(read_binary_mask(save(tmp_path, Image.fromarray(rgba, 'RGBA'))), obj)


def test_missing_or_corrupt_masks_are_named(tmp_path):
    with pytest.raises(MaskReadError, match='not found'):
        read_binary_mask(tmp_path / 'nope.png')
    bad = tmp_path / 'bad.png'
    bad.write_bytes(b'not a png')
    with pytest.raises(MaskReadError, match='cannot read mask .*bad.png'):
        read_binary_mask(bad)
