"""demo/demo.py on a toy image: panoptic picture, prompted picture, clear errors."""
import importlib.util
from pathlib import Path

import cv2
import numpy as np
import pytest

from seg.toy_data import make_coco_panoptic

REPO = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location('demo_script', REPO / 'demo' / 'demo.py')
demo = importlib.util.module_from_spec(spec)
spec.loader.exec_module(demo)
CONFIG = str(REPO / 'configs' / 'rapsam' / 'rapsam_r18_toy.py')


@pytest.fixture(scope='module')
def image(tmp_path_factory):
    root = tmp_path_factory.mktemp('toy')
    make_coco_panoptic(root, num_train=1, num_val=1)
    return str(next((root / 'val2017').glob('*.jpg')))


def test_prompted_picture_is_input_beside_overlay(image, tmp_path):
    out = tmp_path / 'prompt.png'
    assert demo.main([image, CONFIG, '--points', '20,30', '40,50', '--boxes', '5,5,60,60', '--out', str(out)]) == 0
    picture = cv2.imread(str(out))
    source = cv2.imread(image)
    assert picture.shape == (source.shape[0], 2 * source.shape[1], 3)
    assert np.array_equal(picture[:, :source.shape[1]], source)
    assert not np.array_equal(picture[:, source.shape[1]:], source), 'the overlay draws something (clicks at least)'


def test_panoptic_picture(image, tmp_path):
    out = tmp_path / 'pan.png'
    assert demo.main([image, CONFIG, '--out', str(out)]) == 0
    assert cv2.imread(str(out)) is not None


def test_bad_inputs_fail_clearly(image, tmp_path):
    with pytest.raises(FileNotFoundError, match='not found'):
        demo.main([str(tmp_path / 'nope.jpg'), CONFIG, '--out', str(tmp_path / 'x.png')])
    broken = tmp_path / 'broken.jpg'
    broken.write_bytes(b'not a jpeg')
    with pytest.raises(ValueError, match='cannot decode'):
        demo.main([str(broken), CONFIG, '--out', str(tmp_path / 'x.png')])
    with pytest.raises(SystemExit):
        demo.main([image, CONFIG, '--points', '1,2,3', '--out', str(tmp_path / 'x.png')])
    with pytest.raises(FileNotFoundError, match='weights'):
        demo.main([image, CONFIG, '--weights', str(tmp_path / 'w.pth'), '--out', str(tmp_path / 'x.png')])
