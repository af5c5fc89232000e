"""Evaluation metrics registered in :data:`seg.registry.METRICS`."""
from .coco_panoptic_metric import CocoPanopticMetric

__all__ = ['CocoPanopticMetric']
