"""YouTube-VOS predictions for the evaluation server: palette PNGs of the required frames, zipped."""
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from mmengine.evaluator import BaseMetric

from seg.fileio.palette import write_palette_png
from seg.fileio.palette import davis_palette
from seg.registry import METRICS
from ..ytvos_submission import zip_ytvos_predictions


@METRICS.register_module()
class YTVOSSubmissionMetric(BaseMetric):
    """Write ``<out_dir>/Annotations/<video>/<frame>.png`` and, once all videos are done, ``zip_path``.

    Each result is a dict with ``name``, ``pred`` (T', H, W) uint8 ids of the frames in ``save_names``,
    ``save_names`` and ``palette`` (the input annotations' palette, kept). There is no ground truth:
    the numbers reported are counts; the server computes J&F.

    Args:
        out_dir: folder of the PNGs.
        zip_path: the zip for the server (default ``<out_dir>/submission.zip``).
    """

    default_prefix = 'ytvos'

    def __init__(self, out_dir: str, zip_path: Optional[str] = None, **kwargs):
        super().__init__(**kwargs)
        self.png_dir = Path(out_dir) / 'Annotations'
        self.zip_path = Path(zip_path) if zip_path else Path(out_dir) / 'submission.zip'

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            names, preds = sample['save_names'], sample['pred']
            if len(names) != len(preds):
                raise ValueError(f'{sample["name"]}: {len(preds)} predicted frames for {len(names)} frames to save')
            palette = sample.get('palette')
            palette = davis_palette() if palette is None else palette
            for frame, ids in zip(names, preds):
                write_palette_png(self.png_dir / sample['name'] / f'{frame}.png', ids, palette)
            self.results.append(len(names))

    def compute_metrics(self, results: List[int]) -> Dict[str, float]:
        written = zip_ytvos_predictions(self.png_dir, self.zip_path)
        return dict(videos=len(results), frames=written)
