import numpy as np
import pytest
from PIL import Image

from seg.fileio.palette import PaletteMaskError, read_palette_png, write_palette_png
from seg.toy_data import davis_palette


def test_round_trip_keeps_ids_and_palette(tmp_path):
    ids = np.random.default_rng(0).integers(0, 5, (9, 13)).astype(np.uint8)
    palette = davis_palette()
    palette[3] = (1, 2, 3)
    write_palette_png(tmp_path / 'sub' / '00000.png', ids, palette)
    got, got_palette = read_palette_png(tmp_path / 'sub' / '00000.png')
    np.testing.assert_array_equal(got, ids)
    np.testing.assert_array_equal(got_palette, palette)
    assert [p.name for p in (tmp_path / 'sub').iterdir()] == ['00000.png']


def test_grey_png_has_no_palette(tmp_path):
    Image.fromarray(np.full((4, 4), 2, np.uint8), mode='L').save(tmp_path / 'a.png')
    ids, palette = read_palette_png(tmp_path / 'a.png')
    assert palette is None and (ids == 2).all()


@pytest.mark.parametrize('bad', ['missing', 'rgb', 'corrupt'])
def test_bad_masks_are_named(tmp_path, bad):
    path = tmp_path / 'm.png'
    if bad == 'rgb':
        Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(path)
    elif bad == 'corrupt':
        path.write_bytes(b'\x89PNG not really')
    with pytest.raises(PaletteMaskError, match='m.png'):
        read_palette_png(path)


def test_out_of_range_ids_are_refused(tmp_path):
    with pytest.raises(PaletteMaskError, match=r'\[0, 255\]'):
        write_palette_png(tmp_path / 'x.png', np.full((2, 2), 300), davis_palette())
    assert not list(tmp_path.iterdir())
