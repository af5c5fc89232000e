"""TMO: unsupervised video object segmentation from RGB frames and optical-flow images."""
from .tmo import TMO, TMOCheckpointError, convert_tmo_state_dict, load_tmo_checkpoint

__all__ = ['TMO', 'TMOCheckpointError', 'convert_tmo_state_dict', 'load_tmo_checkpoint']
