from .video_inpainting_data_preprocessor import VideoInpaintingDataPreprocessor
from .video_seg_data_preprocessor import VideoSegDataPreprocessor

__all__ = ['VideoInpaintingDataPreprocessor', 'VideoSegDataPreprocessor']
