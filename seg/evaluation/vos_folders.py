"""J&F of a folder of predicted masks against a DAVIS-layout dataset, as the DAVIS 2017 toolkit scores it.

Layout: ``ROOT/ImageSets/2017/<set>.txt`` lists the sequences,
``ROOT/Annotations/480p/<seq>/<frame>.png`` are palette masks (255 = void) and
``PRED/<seq>/<frame>.png`` the predictions, one palette PNG per annotated frame.

Semi-supervised (the toolkit's task): objects are 1..K, K the highest id of the
first frame's mask; the first and last frames are not scored; void pixels are
not used (the toolkit passes none for this task); missing objects score as
empty masks. Each object gives J/F mean, recall and decay; the global numbers
average over all objects, and J&F-Mean = (J-Mean + F-Mean) / 2.

Objects that first appear after frame 0 (ids above K in later ground-truth
frames, as in YouTube-VOS-style data) are not scored, as in the toolkit: the
task gives the tracker only the first frame. The toolkit then stops on a
prediction holding their ids ("an index higher than the number of objects");
here those ids are ignored, so an exact copy of the ground truth scores
J&F = 1, and :func:`evaluate_davis_folder` lists them under ``not_scored``
(:func:`late_objects`). A predicted id that is no object of the ground truth
at all is an error.

``binary`` (DAVIS-2016 style, single salient object, e.g. TMO): every non-zero,
non-void ground-truth pixel is the object and every non-zero predicted pixel is
foreground; frames and statistics as above.
"""
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Tuple, Union

import numpy as np

from seg.fileio.errors import InputError
from seg.fileio.palette import PaletteMaskError, read_palette_png
from .functional.davis_measures import boundary_f_frames, region_similarity, statistics

#: Ground-truth value of void pixels.
VOID_ID = 255
#: Names of the global measures, in the toolkit's order.
GLOBAL_MEASURES = ('J&F-Mean', 'J-Mean', 'J-Recall', 'J-Decay', 'F-Mean', 'F-Recall', 'F-Decay')
TASKS = ('semi-supervised', 'binary')


class VOSEvaluationError(InputError):
    """Predictions or ground truth are missing or do not fit each other."""


def _read_ids(path: Path) -> np.ndarray:
    try:
        return read_palette_png(path)[0]
    except PaletteMaskError as err:
        raise VOSEvaluationError(str(err)) from None


def late_objects(gt: np.ndarray) -> Dict[int, int]:
    """Objects of a semi-supervised sequence that are not scored: ids above the first frame's highest.

    Args:
        gt: (T, H, W) ground-truth ids (255 void).

    Returns:
        {object id: index of the first frame showing it}, ascending ids.
    """
    gt = np.where(gt == VOID_ID, 0, gt)
    num_objects = int(gt[0].max())
    late = {}
    for t, frame in enumerate(gt):
        for object_id in np.unique(frame[frame > num_objects]):
            late.setdefault(int(object_id), t)
    return dict(sorted(late.items()))


def sequence_measures(gt: np.ndarray, pred: np.ndarray, task: str = 'semi-supervised',
                      sequence: str = '') -> Tuple[np.ndarray, np.ndarray]:
    """Per-object, per-frame J and F of one sequence.

    Args:
        gt: (T, H, W) ground-truth ids (255 void), all annotated frames.
        pred: (T, H, W) predicted ids for the same frames.
        task: ``semi-supervised`` or ``binary``.

    Returns:
        J and F, each (num_objects, T − 2): the first and last frames are not scored, nor are objects that
        first appear after frame 0 (:func:`late_objects`; their predicted ids are ignored).

    Raises:
        VOSEvaluationError: shapes differ, a predicted id is no object of the ground truth, an unknown task.
    """
    if gt.shape != pred.shape:
        raise VOSEvaluationError(f'{sequence}: predictions are {pred.shape[1:]} x {pred.shape[0]} frames, ground truth '
                                 f'{gt.shape[1:]} x {gt.shape[0]}; predict at the annotation size, one mask per frame')
    gt = np.where(gt == VOID_ID, 0, gt)
    if task == 'binary':
        gt_objects, pred_objects = (gt > 0)[None], (pred > 0)[None]
    elif task == 'semi-supervised':
        num_objects = int(gt[0].max())
        late = late_objects(gt)
        unknown = [int(i) for i in np.unique(pred) if i > num_objects and int(i) not in late]
        if unknown:
            later = f' (and objects {sorted(late)} appearing later, not scored)' if late else ''
            raise VOSEvaluationError(f'{sequence}: predictions hold id {unknown[0]} but the first frame has '
                                     f'{num_objects} objects{later}; predict the ids of the first frame\'s mask')
        ids = np.arange(1, num_objects + 1)[:, None, None, None]
        gt_objects, pred_objects = gt[None] == ids, pred[None] == ids
    else:
        raise VOSEvaluationError(f'task must be one of {TASKS}, got {task!r}')
    gt_objects, pred_objects = gt_objects[:, 1:-1], pred_objects[:, 1:-1]
    j = np.stack([region_similarity(g, p) for g, p in zip(gt_objects, pred_objects)]) if len(gt_objects) else \
        np.zeros((0, gt_objects.shape[1]))
    f = np.stack([boundary_f_frames(g, p) for g, p in zip(gt_objects, pred_objects)]) if len(gt_objects) else \
        np.zeros((0, gt_objects.shape[1]))
    return j, f


def summarise(measures: Dict[str, Tuple[np.ndarray, np.ndarray]]) -> Dict:
    """Global and per-object numbers from :func:`sequence_measures` outputs keyed by sequence.

    Returns:
        ``{'global': {measure: value}, 'per_object': {'<seq>_<k>': {'J-Mean', 'F-Mean'}},
        'per_sequence': {seq: {'J&F-Mean', 'J-Mean', 'F-Mean'}}}``.
    """
    stats = {'J': [], 'F': []}
    per_object, per_sequence = {}, {}
    for seq, (j, f) in measures.items():
        seq_j, seq_f = [], []
        for k in range(j.shape[0]):
            j_stats, f_stats = statistics(j[k]), statistics(f[k])
            stats['J'].append(j_stats)
            stats['F'].append(f_stats)
            per_object[f'{seq}_{k + 1}'] = {'J-Mean': j_stats[0], 'F-Mean': f_stats[0]}
            seq_j.append(j_stats[0])
            seq_f.append(f_stats[0])
        if seq_j:
            per_sequence[seq] = {'J&F-Mean': (np.mean(seq_j) + np.mean(seq_f)) / 2, 'J-Mean': float(np.mean(seq_j)),
                                 'F-Mean': float(np.mean(seq_f))}
    if not stats['J']:
        raise VOSEvaluationError('no object was scored: the sequences hold no annotated object')
    j_m, j_r, j_d = np.mean(np.array(stats['J']), axis=0)
    f_m, f_r, f_d = np.mean(np.array(stats['F']), axis=0)
    values = ((j_m + f_m) / 2, j_m, j_r, j_d, f_m, f_r, f_d)
    return {'global': {k: float(v) for k, v in zip(GLOBAL_MEASURES, values)}, 'per_object': per_object,
            'per_sequence': per_sequence}


def davis_sequences(davis_root: Union[str, Path], subset: str = 'val') -> List[str]:
    """Sequence names of ``ImageSets/2017/<subset>.txt``."""
    listing = Path(davis_root) / 'ImageSets' / '2017' / f'{subset}.txt'
    if not listing.is_file():
        raise VOSEvaluationError(f'{listing} not found: is {davis_root} a DAVIS 2017 root (ImageSets/, '
                                 f'Annotations/480p/)?')
    return [line.strip() for line in listing.read_text().splitlines() if line.strip()]


def evaluate_davis_folder(davis_root: Union[str, Path], pred_dir: Union[str, Path], subset: str = 'val',
                          task: str = 'semi-supervised', resolution: str = '480p',
                          sequences: Optional[Iterable[str]] = None) -> Dict:
    """Score ``pred_dir`` against the DAVIS annotations; see the module docstring.

    Returns:
        :func:`summarise`'s dict plus ``not_scored``: ``{sequence: {object id (str): first frame index}}``
        of the objects that first appear after frame 0 (semi-supervised task; empty when there are none).
    """
    davis_root, pred_dir = Path(davis_root), Path(pred_dir)
    if not pred_dir.is_dir():
        raise VOSEvaluationError(f'prediction folder {pred_dir} not found')
    names = list(sequences) if sequences is not None else davis_sequences(davis_root, subset)
    results, not_scored = {}, {}
    for seq in names:
        gt_paths = sorted((davis_root / 'Annotations' / resolution / seq).glob('*.png'))
        if not gt_paths:
            raise VOSEvaluationError(f'no annotations for sequence {seq} under {davis_root}/Annotations/{resolution}')
        if not (pred_dir / seq).is_dir():
            raise VOSEvaluationError(f'no predictions for sequence {seq}: {pred_dir / seq} is missing')
        missing = [p.name for p in gt_paths if not (pred_dir / seq / p.name).is_file()]
        if missing:
            raise VOSEvaluationError(f'{seq}: {len(missing)} predicted frames missing, e.g. {missing[:3]}; write one '
                                     f'PNG per annotated frame, named like the annotations')
        gt = np.stack([_read_ids(p) for p in gt_paths])
        pred_frames = [_read_ids(pred_dir / seq / p.name) for p in gt_paths]
        shapes = {f.shape for f in pred_frames}
        if len(shapes) != 1:
            raise VOSEvaluationError(f'{seq}: predicted frames have different sizes {sorted(shapes)}')
        results[seq] = sequence_measures(gt, np.stack(pred_frames), task, seq)
        late = late_objects(gt) if task == 'semi-supervised' else {}
        if late:
            not_scored[seq] = {str(i): t for i, t in late.items()}
    return {**summarise(results), 'not_scored': not_scored}
