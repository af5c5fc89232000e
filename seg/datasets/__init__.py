"""Datasets and transforms; importing registers them in ``seg.registry``.

``seg.toy_data`` writes the deterministic toy datasets the tests and
toy configs use (``tools/data/make_toy_data.py``).
"""
from . import samplers, transforms  # noqa: F401
from .video_inpainting_dataset import VideoInpaintingDataset  # noqa: F401
from .propainter_dataset import ProPainterDataset  # noqa: F401
from .vos_clip_dataset import VOSClipDataset  # noqa: F401
from .vos_track_dataset import VOSTrackDataset  # noqa: F401
from .davis_eval_dataset import DAVISEvalDataset  # noqa: F401
from .davis16_eval_dataset import DAVIS16EvalDataset  # noqa: F401
from .vocabulary_concat_dataset import VocabularyConcatDataset  # noqa: F401
from .youtube_vis_dataset import YouTubeVISDataset  # noqa: F401
from .video_collate import video_collate  # noqa: F401
from .ytvos_eval_dataset import YTVOSEvalDataset  # noqa: F401
from .static_clip_dataset import StaticClipDataset  # noqa: F401
from .ref_coco_dataset import RefCOCODataset  # noqa: F401
