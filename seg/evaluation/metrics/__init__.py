"""Evaluation metrics registered in :data:`seg.registry.METRICS`."""
from .coco_panoptic_metric import CocoPanopticMetric
from .interactive_metric import InteractivePromptMetric
from .youtube_vis_metric import YouTubeVISMetric

__all__ = ['CocoPanopticMetric', 'InteractivePromptMetric', 'YouTubeVISMetric']
