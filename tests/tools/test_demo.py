"""demo/demo.py on a toy image with RapSAM and FastSAM2: panoptic picture, prompted picture, clear errors."""
import importlib.util
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from seg.toy_data import COCO_PANOPTIC_CLASSES, make_coco_panoptic
from seg.visualization import overlay_masks, overlay_panoptic

REPO = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location('demo_script', REPO / 'demo' / 'demo.py')
demo = importlib.util.module_from_spec(spec)
spec.loader.exec_module(demo)
CONFIG = str(REPO / 'configs' / 'rapsam' / 'rapsam_r18_toy.py')
FASTSAM2 = str(REPO / 'configs' / 'fastsam2' / 'fastsam2_r18_toy.py')
#: The toy model's VOID segment id: its vocabulary size.
VOID = len(COCO_PANOPTIC_CLASSES)


@pytest.fixture(scope='module')
def image(tmp_path_factory):
    root = tmp_path_factory.mktemp('toy')
    make_coco_panoptic(root, num_train=1, num_val=1)
    return str(next((root / 'val2017').glob('*.jpg')))


def _blocks(count: int, height: int, width: int) -> np.ndarray:
    """(count, H, W) bool, disjoint: block k covers rows 10+30k..29+30k and columns 10+20k..49+20k."""
    masks = np.zeros((count, height, width), bool)
    for k in range(count):
        masks[k, 10 + 30 * k:30 + 30 * k, 10 + 20 * k:50 + 20 * k] = True
    return masks


@pytest.fixture
def predictions(monkeypatch):
    """The results ``segment_image`` gives the demo, their masks replaced by :func:`_blocks`.

    The untrained toy model predicts empty masks, which would leave nothing to
    check in the picture; the model still runs, only what it found is replaced.
    """
    import seg.apis
    recorded, segment_image = [], seg.apis.segment_image

    def known(*args, **kwargs):
        result = segment_image(*args, **kwargs)
        if 'pred_panoptic_seg' in result:  # no prompts
            pan_seg = np.full(result.pred_panoptic_seg.sem_seg.shape[1:], VOID, np.int64)
            for k, block in enumerate(_blocks(2, *pan_seg.shape)):
                pan_seg[block] = k + 1
            result.pred_panoptic_seg.sem_seg = torch.from_numpy(pan_seg)[None]
        else:
            result.pred_instances.masks = torch.from_numpy(_blocks(*result.pred_instances.masks.shape))
        recorded.append(result)
        return result

    monkeypatch.setattr(seg.apis, 'segment_image', known)
    return recorded


def _halves(out: Path, image: str):
    """(source, left half, right half) of the demo picture, all (H, W, 3) uint8 BGR."""
    picture, source = cv2.imread(str(out)), cv2.imread(image)
    assert picture.shape == (source.shape[0], 2 * source.shape[1], 3)
    return source, picture[:, :source.shape[1]], picture[:, source.shape[1]:]


def _painted_only_inside(source: np.ndarray, overlay: np.ndarray, inside: np.ndarray) -> None:
    """The overlay equals the input outside ``inside`` (H, W) bool and differs from it at almost every pixel in it."""
    assert inside.any(), 'the prediction has something to draw'
    assert np.array_equal(overlay[~inside], source[~inside])
    assert (overlay[inside] != source[inside]).any(-1).mean() > 0.9


def test_prompted_picture_is_input_beside_overlay(image, tmp_path, predictions):
    out = tmp_path / 'prompt.png'
    points = [[20.0, 30.0], [40.0, 50.0]]
    assert demo.main([image, CONFIG, '--untrained', '--points', '20,30', '40,50', '--boxes', '5,5,60,60', '--out',
                      str(out)]) == 0
    source, left, overlay = _halves(out, image)
    assert np.array_equal(left, source)
    masks = predictions[0].pred_instances.masks.numpy()
    assert masks.shape == (3, *source.shape[:2])  # points first, then the box
    assert np.array_equal(overlay, overlay_masks(source, masks, points=points))
    clicks = np.zeros(source.shape[:2], np.uint8)
    for x, y in points:
        cv2.circle(clicks, (int(x), int(y)), 4, 1, -1)
    without_clicks = overlay_masks(source, masks)
    _painted_only_inside(source, without_clicks, masks.any(0))
    assert np.array_equal(overlay[clicks == 0], without_clicks[clicks == 0])


@pytest.mark.parametrize('config', [CONFIG, FASTSAM2], ids=['rapsam', 'fastsam2'])
def test_panoptic_picture(image, tmp_path, predictions, config):
    out = tmp_path / 'pan.png'
    assert demo.main([image, config, '--untrained', '--out', str(out)]) == 0
    source, left, overlay = _halves(out, image)
    assert np.array_equal(left, source)
    pan_seg = predictions[0].pred_panoptic_seg.sem_seg[0].numpy()
    assert np.array_equal(overlay, overlay_panoptic(source, pan_seg, VOID))
    _painted_only_inside(source, overlay, pan_seg != VOID)


def _one_error_line(capsys) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('demo.py: error: '), lines
    return lines[0]


def test_bad_inputs_fail_clearly(image, tmp_path, capsys):
    out = tmp_path / 'x.png'
    assert demo.main([str(tmp_path / 'nope.jpg'), CONFIG, '--untrained', '--out', str(out)]) == 2
    assert 'nope.jpg not found' in _one_error_line(capsys)
    broken = tmp_path / 'broken.jpg'
    broken.write_bytes(b'not a jpeg')
    assert demo.main([str(broken), CONFIG, '--untrained', '--out', str(out)]) == 2
    assert 'cannot decode' in _one_error_line(capsys)
    with pytest.raises(SystemExit):
        demo.main([image, CONFIG, '--points', '1,2,3', '--out', str(out)])
    assert 'expected 2 comma-separated numbers' in capsys.readouterr().err
    assert demo.main([image, CONFIG, '--weights', str(tmp_path / 'w.pth'), '--out', str(out)]) == 2
    assert 'weights file' in _one_error_line(capsys)
    with pytest.raises(FileNotFoundError, match='weights'):
        demo.main([image, CONFIG, '--weights', str(tmp_path / 'w.pth'), '--out', str(out), '--debug'])
    assert not out.exists()


def test_no_weights_is_refused_unless_asked_for(image, tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        demo.main([image, CONFIG, '--out', str(tmp_path / 'x.png')])
    assert info.value.code == 2 and 'meaningless masks' in capsys.readouterr().err
    assert not (tmp_path / 'x.png').exists()


# ---------------------------------------------------------------------------- FastSAM2
def test_fastsam2_text_alone_is_one_object(image, tmp_path, predictions):
    out = tmp_path / 'text.png'
    assert demo.main([image, FASTSAM2, '--untrained', '--text', 'the dog on the left', '--out', str(out)]) == 0
    source, left, overlay = _halves(out, image)
    assert np.array_equal(left, source)
    result = predictions[0]
    assert result.metainfo['task'] == 'referring'
    assert set(result.prompts.keys()) == {'texts'} and result.prompts.texts == ['the dog on the left']
    masks = result.pred_instances.masks.numpy()
    assert masks.shape == (1, *source.shape[:2])
    assert np.array_equal(overlay, overlay_masks(source, masks))
    _painted_only_inside(source, overlay, masks.any(0))


def test_fastsam2_one_object_per_box_with_every_point_and_the_text(image, tmp_path, predictions):
    out = tmp_path / 'all.png'
    points = [[20.0, 30.0], [40.0, 50.0]]
    assert demo.main([image, FASTSAM2, '--untrained', '--points', '20,30', '40,50', '--boxes', '5,5,60,60',
                      '10,20,90,100', '--text', 'the dog on the left', '--out', str(out)]) == 0
    source, left, overlay = _halves(out, image)
    assert np.array_equal(left, source)
    prompts = predictions[0].prompts
    assert prompts.boxes.tolist() == [[5, 5, 60, 60], [10, 20, 90, 100]]
    assert prompts.points.tolist() == [points, points] and prompts.point_labels.tolist() == [[1, 1], [1, 1]]
    assert prompts.texts == ['the dog on the left'] * 2
    masks = predictions[0].pred_instances.masks.numpy()
    assert masks.shape == (2, *source.shape[:2])  # one per box
    assert np.array_equal(overlay, overlay_masks(source, masks, points=points))


def test_fastsam2_points_without_boxes_are_one_object(image, tmp_path, predictions):
    assert demo.main([image, FASTSAM2, '--untrained', '--points', '20,30', '40,50', '--out',
                      str(tmp_path / 'p.png')]) == 0
    prompts = predictions[0].prompts
    assert prompts.points.tolist() == [[[20, 30], [40, 50]]] and set(prompts.keys()) == {'points', 'point_labels'}
    assert predictions[0].pred_instances.masks.shape[0] == 1


@pytest.mark.parametrize('prompt,words', [
    (['--points', '20,30', '500,10'], 'the prompt: point 1 at (x, y) = (500, 10) lies outside the image'),
    (['--text', '  '], "the prompt: text '  ' is empty or only whitespace"),
    (['--boxes', '5,5,60,60', '30,10,20,40'], 'box 1: box (x1, y1, x2, y2) = (30.0, 10.0, 20.0, 40.0) has x2 < x1'),
    (['--text', ''], "text '' is empty"),
], ids=['point-outside', 'blank-text', 'box-x2-before-x1', 'empty-text'])
def test_fastsam2_bad_prompts_are_one_error_line_and_no_picture(image, tmp_path, capsys, prompt, words):
    out = tmp_path / 'bad.png'
    assert demo.main([image, FASTSAM2, '--untrained', *prompt, '--out', str(out)]) == 2
    assert words in _one_error_line(capsys)
    assert not out.exists()


def test_text_on_a_rapsam_config_is_one_error_line(image, tmp_path, capsys):
    out = tmp_path / 'bad.png'
    assert demo.main([image, CONFIG, '--untrained', '--points', '20,30', '--text', 'the dog', '--out', str(out)]) == 2
    assert 'RapSAM takes no text prompt' in _one_error_line(capsys)
    assert not out.exists()


def test_help_states_the_prompt_rule(capsys):
    with pytest.raises(SystemExit):
        demo.main(['--help'])
    text = ' '.join(capsys.readouterr().out.split())
    assert 'one object per box, each with its box, all the --points and the --text' in text
    assert 'without --boxes, one object from the --points and/or the --text together' in text
