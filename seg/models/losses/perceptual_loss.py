"""Perceptual and style losses on VGG19 features, with the VGG weights read from a local file."""
import os.path as osp
from typing import Dict, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor
from torchvision.models import vgg19

from seg.fileio.checkpoint import load_local_checkpoint
from seg.fileio.errors import InputError
from seg.registry import MODELS

#: torchvision's ImageNet VGG19 (``weights=VGG19_Weights.IMAGENET1K_V1``); we never download it.
VGG19_URL = 'https://download.pytorch.org/models/vgg19-dcbb9e9d.pth'
DEFAULT_VGG19_CHECKPOINT = 'checkpoints/vgg19-dcbb9e9d.pth'
#: Names of ``vgg19().features`` entries, in order (``conv<block>_<i>`` before its ReLU).
VGG19_LAYERS = ('conv1_1', 'relu1_1', 'conv1_2', 'relu1_2', 'pool1',
                'conv2_1', 'relu2_1', 'conv2_2', 'relu2_2', 'pool2',
                'conv3_1', 'relu3_1', 'conv3_2', 'relu3_2', 'conv3_3', 'relu3_3', 'conv3_4', 'relu3_4', 'pool3',
                'conv4_1', 'relu4_1', 'conv4_2', 'relu4_2', 'conv4_3', 'relu4_3', 'conv4_4', 'relu4_4', 'pool4',
                'conv5_1', 'relu5_1', 'conv5_2', 'relu5_2', 'conv5_3', 'relu5_3', 'conv5_4', 'relu5_4', 'pool5')
#: The layers and weights of ProPainter's ``PerceptualLoss`` set-up (BasicSR's).
DEFAULT_LAYER_WEIGHTS = dict(conv3_4=0.25, conv4_4=0.25, conv5_4=0.5)
#: Prefix of the convolution entries in torchvision's VGG19 state_dict (the classifier is not needed).
FEATURES_PREFIX = 'features.'
#: ImageNet statistics of frames in [0, 1].
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class MissingVGGWeightsError(InputError):
    """The VGG19 weights file a config names does not exist or lacks the layers the loss needs."""


def check_vgg_weights(path: str, config_key: str) -> None:
    """Raise :class:`MissingVGGWeightsError` naming ``config_key`` and the download when ``path`` is missing."""
    if not osp.isfile(path):
        raise MissingVGGWeightsError(
            f'VGG19 weights {path} ({config_key}) not found. Download {VGG19_URL} (torchvision\'s ImageNet VGG19) '
            f'to {path} (default {DEFAULT_VGG19_CHECKPOINT}), or set {config_key}=None to train without the '
            'perceptual and style terms. Nothing is downloaded at run time.')


@MODELS.register_module()
class PerceptualLoss(nn.Module):
    """L1 between VGG19 features of prediction and target (perceptual) and between their Gram matrices (style).

    As BasicSR's / ProPainter's ``PerceptualLoss`` with ``criterion='l1'``: the
    frames are mapped from [-1, 1] to [0, 1] and ImageNet-normalised, features are
    taken before the ReLU of each named layer, and each layer's term is weighted.
    The VGG19 is torchvision's architecture with its state_dict loaded from a local
    file; it is frozen and kept out of the module tree (no state_dict entries, no
    optimiser), and follows the loss on ``.to(...)``.

    Args:
        vgg_weights: local torchvision ``vgg19`` state_dict file
            (:data:`DEFAULT_VGG19_CHECKPOINT`); only the ``features.*`` entries up
            to the deepest layer used are read.
        layer_weights: layer name (:data:`VGG19_LAYERS`) -> weight.
        perceptual_weight: weight of the perceptual term; 0 skips it.
        style_weight: weight of the style term; 0 skips it.
        config_key: where ``vgg_weights`` comes from, for error messages.
    """

    def __init__(self, vgg_weights: str, layer_weights: Optional[Dict[str, float]] = None,
                 perceptual_weight: float = 1.0, style_weight: float = 0.0,
                 config_key: str = 'vgg_weights') -> None:
        super().__init__()
        layer_weights = dict(layer_weights or DEFAULT_LAYER_WEIGHTS)
        unknown = sorted(set(layer_weights) - set(VGG19_LAYERS))
        if unknown:
            raise ValueError(f'unknown VGG19 layers {unknown}; choose from {VGG19_LAYERS}')
        check_vgg_weights(vgg_weights, config_key)
        last = max(VGG19_LAYERS.index(name) for name in layer_weights)
        features = vgg19(weights=None).features[:last + 1]
        state = load_local_checkpoint(vgg_weights, map_location='cpu')
        state = state.get('state_dict', state)
        wanted = {f'{FEATURES_PREFIX}{key}' for key in features.state_dict()}
        missing = sorted(wanted - set(state))
        if missing:
            raise MissingVGGWeightsError(f'{vgg_weights} ({config_key}) is not a torchvision VGG19 state_dict: it '
                                         f'lacks {missing[:4]}. Download {VGG19_URL}')
        features.load_state_dict({key[len(FEATURES_PREFIX):]: state[key] for key in wanted})
        features = features.requires_grad_(False).eval()
        self._features = (features, )
        self.layer_weights = layer_weights
        self.perceptual_weight = perceptual_weight
        self.style_weight = style_weight
        self.register_buffer('mean', torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer('std', torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def _apply(self, fn, recurse: bool = True) -> 'PerceptualLoss':
        """Move / cast the hidden VGG19 together with this module."""
        super()._apply(fn, recurse)
        self._features[0]._apply(fn, recurse)
        return self

    def _layer_features(self, frames: Tensor) -> Dict[str, Tensor]:
        x = ((frames + 1) / 2 - self.mean) / self.std
        found = {}
        for name, layer in zip(VGG19_LAYERS, self._features[0]):
            x = layer(x)
            if name in self.layer_weights:
                found[name] = x
        return found

    @staticmethod
    def _gram(features: Tensor) -> Tensor:
        n, c, h, w = features.shape
        flat = features.reshape(n, c, h * w)
        return flat @ flat.transpose(1, 2) / (c * h * w)

    def forward(self, pred: Tensor, target: Tensor) -> Tuple[Optional[Tensor], Optional[Tensor]]:
        """Weighted perceptual and style terms.

        Args:
            pred: (N, 3, H, W) frames in [-1, 1].
            target: (N, 3, H, W) frames in [-1, 1] (no gradient flows into them).

        Returns:
            tuple: ``(perceptual, style)`` scalars, None for a term whose weight is 0.
        """
        pred_features = self._layer_features(pred)
        target_features = self._layer_features(target.detach())
        perceptual = style = None
        if self.perceptual_weight > 0:
            perceptual = sum(F.l1_loss(pred_features[k], target_features[k]) * w
                             for k, w in self.layer_weights.items()) * self.perceptual_weight
        if self.style_weight > 0:
            style = sum(F.l1_loss(self._gram(pred_features[k]), self._gram(target_features[k])) * w
                        for k, w in self.layer_weights.items()) * self.style_weight
        return perceptual, style
