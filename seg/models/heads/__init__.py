from .query_fusion_head import QueryFusionHead
from .rapsam_video_head import RapSAMVideoHead

__all__ = ['QueryFusionHead', 'RapSAMVideoHead']
