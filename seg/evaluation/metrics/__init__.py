"""Evaluation metrics registered in :data:`seg.registry.METRICS`."""
from .coco_panoptic_metric import CocoPanopticMetric
from .davis_metric import DAVISMetric
from .flow_completion_metric import FlowCompletionMetric
from .interactive_prompt_metric import InteractivePromptMetric
from .referring_metric import ReferringMetric
from .task_filtered_metric import TaskFilteredMetric
from .video_inpainting_metric import VideoInpaintingMetric
from .youtube_vis_metric import YouTubeVISMetric
from .ytvos_submission_metric import YTVOSSubmissionMetric

__all__ = ['CocoPanopticMetric', 'DAVISMetric', 'FlowCompletionMetric', 'InteractivePromptMetric', 'ReferringMetric', 'TaskFilteredMetric',
           'VideoInpaintingMetric', 'YouTubeVISMetric', 'YTVOSSubmissionMetric']
