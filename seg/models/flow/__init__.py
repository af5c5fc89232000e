"""Optical flow estimators and warping; importing registers them in ``seg.registry.MODELS``."""
from .bidirectional_raft import BidirectionalRAFT
from .flow_warp import flow_warp
from .raft import RAFT, RAFTCheckpointError, load_raft, raft_state_dict
from .spynet import SPyNet

__all__ = ['BidirectionalRAFT', 'RAFT', 'RAFTCheckpointError', 'SPyNet', 'flow_warp', 'load_raft', 'raft_state_dict']
