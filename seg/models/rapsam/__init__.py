"""RapSAM: YOSO neck, RapSAM video head, query fusion post-processing, image and video detectors."""
from .query_fusion_head import QueryFusionHead
from .rapsam import RapSAM
from .rapsam_video import RapSAMVideo
from .rapsam_video_head import RapSAMVideoHead
from .yoso_neck import YOSONeck

__all__ = ['QueryFusionHead', 'RapSAM', 'RapSAMVideo', 'RapSAMVideoHead', 'YOSONeck']
