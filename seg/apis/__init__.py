"""What a person calls from Python; the tools are thin shells over these."""
from .image_inference import ImageReadError, init_model, read_image, segment_image
from .inpaint import InpaintInputError, init_inpainter, inpaint_video
from .runner import load_config, test, train
from .segment_video import VideoPromptError, segment_video
from .track import init_tracker, track, track_to_folder
from .video_session import SessionBusyError, VideoSession, VideoSessionError

__all__ = ['ImageReadError', 'InpaintInputError', 'SessionBusyError', 'VideoPromptError', 'VideoSession',
           'VideoSessionError', 'init_inpainter', 'init_model', 'inpaint_video', 'load_config', 'read_image',
           'segment_image', 'segment_video', 'test', 'track', 'track_to_folder', 'init_tracker', 'train']
