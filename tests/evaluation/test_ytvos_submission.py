"""The YouTube-VOS server zip: layout, and nothing left behind when a video folder is empty."""
import zipfile

import numpy as np
import pytest

from seg.fileio.palette import write_palette_png
from seg.toy_data import davis_palette
from seg.evaluation.vos_folders import VOSEvaluationError
from seg.evaluation.ytvos_submission import zip_ytvos_predictions


def test_layout_and_atomicity(tmp_path):
    for video in ('a1', 'b2'):
        for t in (0, 5):
            write_palette_png(tmp_path / 'pred' / video / f'{t:05d}.png', np.full((4, 6), t % 3, np.uint8),
                              davis_palette())
    assert zip_ytvos_predictions(tmp_path / 'pred', tmp_path / 'out' / 'sub.zip') == 4
    with zipfile.ZipFile(tmp_path / 'out' / 'sub.zip') as archive:
        assert sorted(archive.namelist()) == ['Annotations/a1/00000.png', 'Annotations/a1/00005.png',
                                              'Annotations/b2/00000.png', 'Annotations/b2/00005.png']
    (tmp_path / 'pred' / 'c3').mkdir()
    with pytest.raises(VOSEvaluationError, match='c3 holds no PNG'):
        zip_ytvos_predictions(tmp_path / 'pred', tmp_path / 'out' / 'new.zip')
    assert sorted(p.name for p in (tmp_path / 'out').iterdir()) == ['sub.zip']
