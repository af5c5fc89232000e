"""Optical flow estimators, warping and completion; importing registers them in ``seg.registry.MODELS``."""
from .bidirectional_raft import BidirectionalRAFT
from .flow_edge_detector import FlowEdgeDetector
from .flow_warp import flow_warp
from .raft import RAFT, RAFTCheckpointError, load_raft, raft_state_dict
from .recurrent_flow_complete_net import (DEFAULT_FLOW_COMPLETION_CHECKPOINT, FlowCompletionCheckpointError,
                                          RecurrentFlowCompleteNet, load_flow_completion)
from .spynet import SPyNet
from .unguided_deform_propagation import UnguidedDeformPropagation
from .unguided_second_order_alignment import UnguidedSecondOrderAlignment

__all__ = ['BidirectionalRAFT', 'DEFAULT_FLOW_COMPLETION_CHECKPOINT', 'FlowCompletionCheckpointError',
           'FlowEdgeDetector', 'RAFT', 'RAFTCheckpointError', 'RecurrentFlowCompleteNet', 'SPyNet',
           'UnguidedDeformPropagation', 'UnguidedSecondOrderAlignment', 'flow_warp', 'load_flow_completion',
           'load_raft', 'raft_state_dict']
