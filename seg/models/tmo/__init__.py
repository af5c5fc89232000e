"""TMO: unsupervised video object segmentation from RGB frames and optical-flow images."""
from .tmo import TMO, TMOCheckpointError, convert_tmo_state_dict, load_tmo_checkpoint
from .tmo_vos import TMOVOS

__all__ = ['TMO', 'TMOCheckpointError', 'TMOVOS', 'convert_tmo_state_dict', 'load_tmo_checkpoint']
