"""J&F for tools/test.py on VOS models, exactly as :mod:`seg.evaluation.vos_folders` (the DAVIS 2017 toolkit)."""
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric

from seg.fileio.palette import write_palette_png
from seg.fileio.palette import davis_palette
from seg.registry import METRICS
from ..vos_folders import sequence_measures, summarise


@METRICS.register_module()
class DAVISMetric(BaseMetric):
    """Per-video J and F, summarised over objects.

    Each result (from the model's predict) is a dict with ``name``, ``pred`` (T, H, W) uint8 ids,
    ``gt`` (T, H, W) uint8 ids, and optionally ``palette`` / ``frame_names`` for ``out_dir``.

    Args:
        task: ``semi-supervised`` or ``binary``.
        out_dir: also write the predictions as palette PNGs in the DAVIS layout (``<out_dir>/<video>/<frame>.png``).
    """

    default_prefix = 'davis'

    def __init__(self, task: str = 'semi-supervised', out_dir: Optional[str] = None, **kwargs):
        super().__init__(**kwargs)
        self.task, self.out_dir = task, out_dir

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            if self.out_dir:
                palette = sample.get('palette')
                palette = davis_palette() if palette is None else palette
                for name, ids in zip(sample['frame_names'], sample['pred']):
                    write_palette_png(Path(self.out_dir) / sample['name'] / f'{name}.png', ids, palette)
            j, f = sequence_measures(np.asarray(sample['gt']), np.asarray(sample['pred']), self.task, sample['name'])
            self.results.append((sample['name'], j, f))

    def compute_metrics(self, results: List) -> Dict[str, float]:
        return summarise({name: (j, f) for name, j, f in results})['global']
