"""End to end on CPU: configs/xmem/xmem_toy.py through tools/train.py lowers the loss and raises toy J&F."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CONFIG = 'configs/xmem/xmem_toy.py'


@pytest.mark.slow
def test_toy_training_beats_the_untrained_model(tmp_path):
    """Measured (seed 0, 300 iterations, 3.5 min in all on 2 idle CPU cores): J&F 0.191 vs 0.026 untrained."""
    from seg.apis import load_config
    from seg.apis.runner import adapt_to_machine, build_runner
    from seg.toy_data import make_all
    make_all(REPO / 'data' / 'toy', layouts=('davis', ))

    def evaluate(work_dir, checkpoint=None):
        cfg = adapt_to_machine(load_config(str(REPO / CONFIG), work_dir=str(work_dir)), 'none')
        cfg.load_from = checkpoint
        return build_runner(cfg).test()['davis/J&F-Mean']

    untrained = evaluate(tmp_path / 'untrained')
    run = tmp_path / 'run'
    proc = subprocess.run([sys.executable, 'tools/train.py', CONFIG, '--work-dir', str(run)], cwd=REPO,
                          capture_output=True, text=True, timeout=7200)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    records = [json.loads(line) for path in run.glob('*/vis_data/scalars.json')
               for line in path.read_text().splitlines() if '"loss_dice"' in line]
    # dice, not the total: the bootstrapped CE keeps only the hardest pixels after its warm-up, so it rises
    assert sum(r['loss_dice'] for r in records[-5:]) < sum(r['loss_dice'] for r in records[:5])
    trained = evaluate(tmp_path / 'trained', str(run / 'iter_300.pth'))
    assert trained > untrained + 0.1, (untrained, trained)
