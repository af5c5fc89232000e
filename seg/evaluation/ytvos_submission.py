"""Pack VOS predictions for the YouTube-VOS evaluation server: ``Annotations/<video>/<frame>.png`` in one zip."""
import zipfile
from pathlib import Path
from typing import Union

from seg.fileio.atomic import atomic_path

from .vos_folders import VOSEvaluationError

#: Folder the server expects at the root of the zip.
SUBMISSION_ROOT = 'Annotations'


def zip_ytvos_predictions(pred_dir: Union[str, Path], out_zip: Union[str, Path]) -> int:
    """Zip ``pred_dir/<video>/<frame>.png`` as ``Annotations/<video>/<frame>.png``; the zip appears whole or not at all.

    Returns:
        the number of PNGs written.
    """
    pred_dir, out_zip = Path(pred_dir), Path(out_zip)
    videos = sorted(p for p in pred_dir.iterdir() if p.is_dir()) if pred_dir.is_dir() else []
    if not videos:
        raise VOSEvaluationError(f'{pred_dir} holds no video folders of PNG predictions')
    count = 0
    with atomic_path(out_zip) as tmp:
        with zipfile.ZipFile(tmp, 'w', zipfile.ZIP_DEFLATED) as archive:
            for video in videos:
                frames = sorted(video.glob('*.png'))
                if not frames:
                    raise VOSEvaluationError(f'{video} holds no PNG predictions')
                for frame in frames:
                    archive.write(frame, f'{SUBMISSION_ROOT}/{video.name}/{frame.name}')
                    count += 1
    return count
