"""Config and data mistakes in tools/train.py: one line naming the key or file, never a deep traceback."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from mmengine.config import Config

from seg.apis.runner import _annotation_files

REPO = Path(__file__).resolve().parents[2]
CONFIG = 'configs/toy/mask2former_r18_toy_panoptic.py'


def train(tmp_path, *options):
    return subprocess.run([sys.executable, 'tools/train.py', CONFIG, '--work-dir', str(tmp_path / 'w'), '--cfg-options',
                           'train_cfg.max_iters=1', *options], cwd=REPO, capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, PYTHONUNBUFFERED='1'))


def one_line_error(proc, *needles):
    lines = [line for line in proc.stderr.splitlines() if 'error:' in line]
    assert proc.returncode == 2 and len(lines) == 1 and 'Traceback' not in proc.stderr, proc.stderr[-3000:]
    assert all(needle in lines[0] for needle in needles), lines[0]


@pytest.fixture(scope='module')
def toy_coco():
    from seg.toy_data import make_all
    make_all(REPO / 'data' / 'toy', layouts=('coco_panoptic', ))
    return REPO / 'data' / 'toy' / 'coco_panoptic'


def test_annotation_files_of_a_config_are_found_with_their_data_root():
    cfg = Config(dict(train_dataloader=dict(dataset=dict(data_root='data/a/', ann_file='ann/train.json')),
                      val_dataloader=dict(dataset=dict(type='X', datasets=[dict(data_root='b', ann_file='v.json'),
                                                                           dict(ann_file='/abs/t.json')]))))
    assert _annotation_files(cfg.to_dict()) == ['data/a/ann/train.json', 'b/v.json', '/abs/t.json']


def test_a_corrupt_annotation_file_is_named(toy_coco, tmp_path):
    root = tmp_path / 'coco'
    shutil.copytree(toy_coco, root)
    broken = root / 'annotations' / 'panoptic_train2017.json'
    broken.write_text('{"images": [')
    one_line_error(train(tmp_path, f'train_dataloader.dataset.data_root={root}/'), str(broken), 'not valid JSON')


def test_a_missing_data_root_is_named(toy_coco, tmp_path):
    one_line_error(train(tmp_path, f'train_dataloader.dataset.data_root={tmp_path}/nope/'), str(tmp_path / 'nope'),
                   'No such file')


def test_a_wrong_loop_key_names_the_right_one(toy_coco, tmp_path):
    one_line_error(train(tmp_path, 'train_cfg.max_iter=5'), "'max_iter'", 'max_iters')
