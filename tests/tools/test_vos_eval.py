"""tools/analysis/vos_eval.py on the toy DAVIS split: perfect, degraded and broken prediction folders."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from seg.fileio.palette import read_palette_png, write_palette_png
from seg.toy_data import davis_palette, make_davis

REPO = Path(__file__).resolve().parents[2]
TOOL = REPO / 'tools' / 'analysis' / 'vos_eval.py'


@pytest.fixture(scope='module')
def davis(tmp_path_factory):
    root = tmp_path_factory.mktemp('davis')
    make_davis(root / 'davis', num_train=1, num_val=2, num_frames=6)
    return root / 'davis'


def write_predictions(davis, out, degrade=False):
    for seq in (davis / 'ImageSets' / '2017' / 'val.txt').read_text().split():
        paths = sorted((davis / 'Annotations' / '480p' / seq).glob('*.png'))
        first = read_palette_png(paths[0])[0].max()
        for t, path in enumerate(paths):
            ids = read_palette_png(path)[0].copy()
            ids[ids > first] = 0  # objects that appear later are not tracked from the first frame
            if degrade:
                ids = np.roll(ids, 4, axis=1)
            write_palette_png(out / seq / path.name, ids, davis_palette())


def run(*args):
    return subprocess.run([sys.executable, str(TOOL), *map(str, args)], capture_output=True, text=True, cwd=REPO)


def test_perfect_and_degraded_predictions(davis, tmp_path):
    write_predictions(davis, tmp_path / 'perfect')
    write_predictions(davis, tmp_path / 'shifted', degrade=True)
    proc = run('--davis-root', davis, '--pred', tmp_path / 'perfect', '--json', tmp_path / 'p.json', '-v')
    assert proc.returncode == 0, proc.stderr
    perfect = json.loads((tmp_path / 'p.json').read_text())
    assert perfect['global']['J&F-Mean'] == 1.0 and 'vid_001' in proc.stdout and 'J-Decay' in proc.stdout
    proc = run('--davis-root', davis, '--pred', tmp_path / 'shifted', '--json', tmp_path / 's.json')
    shifted = json.loads((tmp_path / 's.json').read_text())['global']
    assert 0 < shifted['J-Mean'] < 1 and shifted['J&F-Mean'] == pytest.approx((shifted['J-Mean'] +
                                                                                shifted['F-Mean']) / 2)


def test_missing_sequence_and_frame_are_named(davis, tmp_path):
    write_predictions(davis, tmp_path / 'pred')
    seqs = (davis / 'ImageSets' / '2017' / 'val.txt').read_text().split()
    next((tmp_path / 'pred' / seqs[0]).glob('*.png')).unlink()
    proc = run('--davis-root', davis, '--pred', tmp_path / 'pred', '--json', tmp_path / 'x.json')
    assert proc.returncode == 2 and 'predicted frames missing' in proc.stderr and not (tmp_path / 'x.json').exists()
    for path in (tmp_path / 'pred' / seqs[1]).glob('*.png'):
        path.unlink()
    (tmp_path / 'pred' / seqs[1]).rmdir()
    proc = run('--davis-root', davis, '--pred', tmp_path / 'pred')
    assert proc.returncode == 2 and 'predicted frames missing' in proc.stderr or seqs[1] in proc.stderr
