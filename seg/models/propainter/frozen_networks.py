"""Frozen helper networks of ProPainter's training models: RAFT and the flow completion net, loaded from files.

They are measuring instruments, not trained parts: kept outside the module tree
(no state_dict entries, no optimiser, no DDP), always in eval mode, and run in
float32 even under AMP, as the official trainers run them.
"""
import os.path as osp
from typing import Callable, Dict, Optional, Tuple

import torch
import torch.nn as nn
from mmdet.utils import ConfigType
from mmengine.logging import print_log
from torch import Tensor

from seg.fileio.errors import InputError
from seg.models.flow.raft import load_raft
from seg.models.flow.recurrent_flow_complete_net import load_flow_completion
from seg.registry import MODELS

#: Where the released weights come from (ProPainter v0.1.0); we never download them.
RELEASE_URL = 'https://github.com/sczhou/ProPainter/releases/download/v0.1.0/'
RAFT_RELEASE = 'raft-things.pth'
FLOW_COMPLETION_RELEASE = 'recurrent_flow_completion.pth'


class MissingWeightsError(InputError):
    """A weights file a config names does not exist."""


def check_weights_file(path: str, config_key: str, release_file: str) -> None:
    """Raise :class:`MissingWeightsError` naming ``config_key`` and the release file when ``path`` is missing."""
    if not osp.isfile(path):
        raise MissingWeightsError(
            f'{config_key}={path!r} does not exist. Download {RELEASE_URL}{release_file} (or train it) and put it '
            f'there, or point {config_key} at your copy. Nothing is downloaded at run time.')


def build_flow_estimator(config: ConfigType, checkpoint: Optional[str], config_key: str) -> nn.Module:
    """A frozen ``BidirectionalRAFT`` from ``config``, its RAFT loaded from ``checkpoint``.

    Args:
        config: ``BidirectionalRAFT`` config (its ``raft`` says raft-things or raft-small).
        checkpoint: local RAFT weights (:data:`RAFT_RELEASE`); None keeps the
            random initialisation (toys and tests only; logged).
        config_key: the config field of ``checkpoint``, for messages.
    """
    estimator = MODELS.build(config)
    if checkpoint is None:
        print_log(f'{config_key} is None: RAFT keeps random weights, so the "ground-truth" flows are those of a '
                  'random RAFT (fine for toys and tests, meaningless for real training)', logger='current',
                  level=30)
    else:
        check_weights_file(checkpoint, config_key, RAFT_RELEASE)
        small = dict(config.get('raft', {})).get('small', False)
        estimator.raft.load_state_dict(load_raft(checkpoint, small=small).state_dict())
    return estimator.requires_grad_(False).eval()


def build_flow_completion(config: ConfigType, checkpoint: str, config_key: str) -> nn.Module:
    """A frozen ``RecurrentFlowCompleteNet`` built from ``config`` and loaded (strictly) from ``checkpoint``.

    Args:
        config: ``RecurrentFlowCompleteNet`` config.
        checkpoint: the released :data:`FLOW_COMPLETION_RELEASE` or a stage-1
            (``FlowCompletionModel``) checkpoint, whose ``flow_net.*`` entries are read
            (:func:`~seg.models.flow.recurrent_flow_complete_net.load_flow_completion`).
        config_key: the config field of ``checkpoint``, for messages.
    """
    check_weights_file(checkpoint, config_key, FLOW_COMPLETION_RELEASE)
    network = MODELS.build(config)
    network.load_state_dict(load_flow_completion(checkpoint).state_dict())
    return network.requires_grad_(False).eval()


class FrozenNetworks:
    """Named frozen networks that follow their owner's ``_apply`` (device and dtype moves) and stay in eval mode."""

    def __init__(self) -> None:
        self._networks: Dict[str, nn.Module] = {}

    def __setitem__(self, name: str, network: nn.Module) -> None:
        self._networks[name] = network

    def __getitem__(self, name: str) -> nn.Module:
        return self._networks[name]

    def __contains__(self, name: str) -> bool:
        return name in self._networks

    def apply(self, fn: Callable[[Tensor], Tensor]) -> None:
        """Apply a module ``_apply`` function (``.to``, ``.cuda``, ``.half``) to every network."""
        for network in self._networks.values():
            network._apply(fn)

    def parameters(self) -> Tuple[nn.Parameter, ...]:
        """Every parameter of every network (all frozen)."""
        return tuple(p for network in self._networks.values() for p in network.parameters())


def estimate_flows(estimator: nn.Module, frames: Tensor) -> Tuple[Tensor, Tensor]:
    """Forward and backward flows of consecutive frames, in float32 without autocast and without gradients.

    Args:
        estimator: a ``BidirectionalRAFT``.
        frames: (B, T, 3, H, W) in [-1, 1].

    Returns:
        tuple: ``(flows_forward, flows_backward)``, each (B, T-1, 2, H, W) px.
    """
    with torch.no_grad(), torch.autocast(frames.device.type, enabled=False):
        return estimator(frames.float())
