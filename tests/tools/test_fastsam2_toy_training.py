"""The FastSAM2 toy run: four tasks mixed in every batch, trained from scratch on CPU, beat the untrained model."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CONFIG = 'configs/fastsam2/fastsam2_r18_toy.py'
METRICS = ('coco_panoptic/PQ', 'prompt/mIoU', 'davis/J&F-Mean', 'refcoco/cIoU', 'refcoco/mIoU')


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_toy_training_beats_the_untrained_model_on_every_task(tmp_path):
    """1500 iterations of mixed-task batches from scratch: the loss falls and every metric clearly beats the untrained.

    Measured (seed 0, 14.5 min of training on 2 CPU cores): PQ 2.4 vs 0.0 untrained, prompt mIoU 0.137 vs
    0.054, J&F 0.105 vs 0.042, referring cIoU 0.154 vs 0.047 and mIoU 0.148 vs 0.049. The bounds below
    ask for about half of each measured gain (float summation order varies with the thread count).
    """
    from seg.apis import load_config
    from seg.apis.runner import adapt_to_machine, build_runner
    from seg.toy_data import make_all

    make_all(REPO / 'data' / 'toy', layouts=('coco_panoptic', 'davis', 'refcoco'))

    def evaluate(work_dir, checkpoint=None):
        cfg = adapt_to_machine(load_config(str(REPO / CONFIG), work_dir=str(work_dir)), 'none')
        cfg.load_from = checkpoint
        return build_runner(cfg).test()

    untrained = evaluate(tmp_path / 'untrained')
    run = tmp_path / 'run'
    proc = subprocess.run([sys.executable, 'tools/train.py', CONFIG, '--work-dir', str(run)], cwd=REPO,
                          capture_output=True, text=True, timeout=3600)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    records = [json.loads(line) for path in run.glob('*/vis_data/scalars.json')
               for line in path.read_text().splitlines() if '"loss"' in line]
    first, last = records[:30], records[-30:]
    assert sum(r['loss'] for r in last) < 0.5 * sum(r['loss'] for r in first)
    trained = evaluate(tmp_path / 'trained', str(run / 'iter_1500.pth'))
    report = {key: (untrained[key], trained[key]) for key in METRICS}
    assert trained['coco_panoptic/PQ'] > untrained['coco_panoptic/PQ'] + 1.0, report
    for key in METRICS[1:]:
        assert trained[key] > 1.8 * untrained[key] and trained[key] > untrained[key] + 0.03, report
