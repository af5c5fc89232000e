"""Interactive segmenters: one object's mask on one frame from clicks, a box, a rough mask or a text.

Each has ``segment(frame (H, W, 3) uint8 RGB, points=None, labels=None, box=None, mask=None, text=None)
-> (H, W) bool``: :class:`GrabCutSegmenter` without weights, :class:`FastSAM2Segmenter` with a model.
"""
from .fastsam2_segmenter import FastSAM2Segmenter
from .grab_cut_segmenter import GrabCutSegmenter, keep_clicked
from .segmenter_prompt import PromptNotSupportedError, SegmenterPromptError, check_segmenter_prompt

__all__ = ['FastSAM2Segmenter', 'GrabCutSegmenter', 'PromptNotSupportedError', 'SegmenterPromptError',
           'check_segmenter_prompt', 'keep_clicked']
