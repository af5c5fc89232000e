from .video_inpainting_data_preprocessor import VideoInpaintingDataPreprocessor
from .video_seg_data_preprocessor import VideoSegDataPreprocessor
from .vos_data_preprocessor import VOSDataPreprocessor

__all__ = ['VideoInpaintingDataPreprocessor', 'VideoSegDataPreprocessor', 'VOSDataPreprocessor']
