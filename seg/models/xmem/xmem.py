"""XMem (Cheng & Schwing, ECCV 2022): the network, with the official checkpoint layout.

Keys equal the released ``XMem.pth`` / ``XMem-s012.pth`` (no ``module.`` prefix):
``key_encoder.*`` (ResNet-50 to layer3, ``layer1`` named ``res2``),
``value_encoder.*`` (ResNet-18 to layer3 on 5 input channels, fusion, hidden
reinforcer), ``key_proj.*``, ``decoder.*``. Memory bookkeeping lives apart, in
:mod:`seg.models.xmem.inference`; training reads memory with
:meth:`XMem.read_memory`.
"""
from pathlib import Path
from typing import Dict, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from torch import Tensor

from seg.fileio.checkpoint import CorruptCheckpointError, UntrustedCheckpointError, load_local_checkpoint
from seg.registry import MODELS
from .aggregate import aggregate
from .key_encoder import KeyEncoder
from .key_projection import KeyProjection
from .memory_util import get_affinity, readout
from .value_encoder import KEY_FEATURE_DIM, ValueEncoder
from .xmem_decoder import XMemDecoder

#: State-dict entries the dimensions are read from.
KEY_DIM_KEY = 'key_proj.key_proj.weight'
VALUE_DIM_KEY = 'value_encoder.fuser.block2.conv2.weight'
HIDDEN_DIM_KEY = 'decoder.hidden_update.transform.weight'
VALUE_STEM_KEY = 'value_encoder.conv1.weight'
#: Keys of an official training checkpoint (``*_checkpoint_*.pth``) that wrap the network's state dict.
TRAINING_CHECKPOINT_KEYS = {'it', 'network', 'optimizer', 'scheduler'}
#: Prefix of the network's weights in this project's mmengine checkpoints of ``XMemVOS`` (``state_dict``).
VOS_NETWORK_PREFIX = 'network.'


class XMemCheckpointError(ValueError):
    """A checkpoint does not fit XMem's layout."""


@MODELS.register_module()
class XMem(nn.Module):
    """Key encoder, value encoder, key projection and decoder.

    Args:
        key_dim: key channels (64 in the releases).
        value_dim: value channels (512).
        hidden_dim: sensory-memory channels (64); 0 disables it.
        single_object: value encoder input without the "other objects" channel.
    """

    def __init__(self, key_dim: int = 64, value_dim: int = 512, hidden_dim: int = 64, single_object: bool = False):
        super().__init__()
        self.key_dim, self.value_dim, self.hidden_dim = key_dim, value_dim, hidden_dim
        self.single_object = single_object
        self.key_encoder = KeyEncoder()
        self.value_encoder = ValueEncoder(value_dim, hidden_dim, single_object)
        self.key_proj = KeyProjection(KEY_FEATURE_DIM, key_dim)
        self.decoder = XMemDecoder(value_dim, hidden_dim)

    # ------------------------------------------------------------------ building
    @staticmethod
    def dims_from_state_dict(state_dict: Dict[str, Tensor]) -> Dict[str, int]:
        """key_dim / value_dim / hidden_dim of a checkpoint, as the official loader reads them."""
        missing = [k for k in (KEY_DIM_KEY, VALUE_DIM_KEY) if k not in state_dict]
        if missing:
            raise XMemCheckpointError(f'not an XMem state dict: {missing} missing (expected the official XMem.pth '
                                      f'layout: key_encoder.*, value_encoder.*, key_proj.*, decoder.*, or an '
                                      f'XMemVOS training checkpoint of this project: network.*)')
        hidden = state_dict[HIDDEN_DIM_KEY].shape[0] // 3 if HIDDEN_DIM_KEY in state_dict else 0
        return dict(key_dim=state_dict[KEY_DIM_KEY].shape[0], value_dim=state_dict[VALUE_DIM_KEY].shape[0],
                    hidden_dim=hidden)

    @classmethod
    def from_state_dict(cls, state_dict: Dict[str, Tensor], single_object: bool = False) -> 'XMem':
        """Build with the checkpoint's dimensions and load it strictly (see :meth:`load_official`)."""
        model = cls(**cls.dims_from_state_dict(state_dict), single_object=single_object)
        model.load_official(state_dict)
        return model

    def load_official(self, state_dict: Dict[str, Tensor]) -> None:
        """Strict load; a single-object stem (4 input channels) is zero-padded to 5 as XMem does.

        Raises:
            XMemCheckpointError: missing / unexpected keys or shapes, listed.
        """
        state_dict = dict(state_dict)
        self._pad_single_object_stem(state_dict, '')
        own = self.state_dict()
        missing = sorted(set(own) - set(state_dict))
        unexpected = sorted(set(state_dict) - set(own))
        wrong = sorted(k for k in set(own) & set(state_dict) if own[k].shape != state_dict[k].shape)
        if missing or unexpected or wrong:
            raise XMemCheckpointError(
                'checkpoint does not match XMem(key_dim={}, value_dim={}, hidden_dim={}): {} missing {}, {} unexpected '
                '{}, {} with other shapes {}. Expected the official layout (XMem.pth; strip a "module." prefix, '
                'or pass the "network" entry of a training checkpoint).'.format(
                    self.key_dim, self.value_dim, self.hidden_dim, len(missing), missing[:5], len(unexpected),
                    unexpected[:5], len(wrong), wrong[:5]))
        self.load_state_dict(state_dict)

    def _pad_single_object_stem(self, state_dict: Dict[str, Tensor], prefix: str) -> None:
        """Zero-pad a stage-0 (single-object) value stem from 4 to 5 input channels, in place."""
        stem = state_dict.get(prefix + VALUE_STEM_KEY)
        if stem is not None and not self.single_object and stem.dim() == 4 and stem.shape[1] == 4:
            state_dict[prefix + VALUE_STEM_KEY] = torch.cat(
                [stem, stem.new_zeros(stem.shape[0], 1, *stem.shape[2:])], 1)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # Also when XMem is loaded as a submodule (mmengine's load_from of stage-0 weights into stage 3).
        self._pad_single_object_stem(state_dict, prefix)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def freeze_bn(self) -> None:
        """Put every BatchNorm in eval mode, as the official trainer keeps the whole network in ``eval()``.

        Call after ``train()``; the training wrapper does so on every ``train()``.
        """
        for module in self.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.eval()

    # ------------------------------------------------------------------ network calls
    def encode_key(self, frame: Tensor, need_sk: bool = True, need_ek: bool = True
                   ) -> Tuple[Tensor, Optional[Tensor], Optional[Tensor], Tensor, Tensor, Tensor]:
        """Keys and image features.

        Args:
            frame: (B, 3, H, W) or (B, T, 3, H, W) normalised RGB, H and W multiples of 16.
            need_sk / need_ek: compute the shrinkage / the selection.

        Returns:
            key (B, CK, [T,] h, w), shrinkage (B, 1, [T,] h, w), selection (B, CK, [T,] h, w) (h = H/16;
            channels before time), then f16 / f8 / f4 ((B, [T,] C, H/s, W/s), time before channels).
        """
        if frame.dim() not in (4, 5):
            raise ValueError(f'frame must be (B, 3, H, W) or (B, T, 3, H, W), got shape {tuple(frame.shape)}')
        clip = frame.shape[:2] if frame.dim() == 5 else None
        f16, f8, f4 = self.key_encoder(frame.flatten(0, 1) if clip else frame)
        key, shrinkage, selection = self.key_proj(f16, need_sk, need_ek)
        if clip:
            def to_clip(x: Optional[Tensor]) -> Optional[Tensor]:
                return None if x is None else x.unflatten(0, clip).transpose(1, 2).contiguous()

            key, shrinkage, selection = to_clip(key), to_clip(shrinkage), to_clip(selection)
            f16, f8, f4 = (f.unflatten(0, clip) for f in (f16, f8, f4))
        return key, shrinkage, selection, f16, f8, f4

    def encode_value(self, frame: Tensor, image_feat_f16: Tensor, h16: Optional[Tensor], masks: Tensor,
                     is_deep_update: bool = True) -> Tuple[Tensor, Optional[Tensor]]:
        """Values of N objects: (B, N, CV, h, w), and the hidden state (updated iff ``is_deep_update``).

        ``masks`` (B, N, H, W) are object probabilities; each object also sees the sum of the others.
        """
        num_objects = masks.shape[1]
        if num_objects == 1:
            others = torch.zeros_like(masks)
        else:
            others = torch.cat([masks[:, [j for j in range(num_objects) if j != i]].sum(dim=1, keepdim=True)
                                for i in range(num_objects)], dim=1)
        return self.value_encoder(frame, image_feat_f16, h16, masks, others, is_deep_update)

    def read_memory(self, query_key: Tensor, query_selection: Optional[Tensor], memory_key: Tensor,
                    memory_shrinkage: Optional[Tensor], memory_value: Tensor) -> Tensor:
        """Training-time readout (plain softmax).

        Args:
            query_key, query_selection: (B, CK, h, w).
            memory_key: (B, CK, T, h, w); memory_shrinkage (B, 1, T, h, w).
            memory_value: (B, N, CV, T, h, w).

        Returns:
            (B, N, CV, h, w).
        """
        batch, num_objects = memory_value.shape[:2]
        affinity = get_affinity(memory_key, memory_shrinkage, query_key, query_selection)
        out = readout(affinity, memory_value.flatten(1, 2))
        return out.view(batch, num_objects, self.value_dim, *out.shape[-2:])

    def segment(self, multi_scale_features: Sequence[Tensor], memory_readout: Tensor, hidden_state: Optional[Tensor],
                selector: Optional[Tensor] = None, h_out: bool = True, strip_bg: bool = True
                ) -> Tuple[Optional[Tensor], Tensor, Tensor]:
        """Decode masks.

        Args:
            multi_scale_features: (f16, f8, f4) of the query frame.
            memory_readout: (B, N, CV, h, w).
            hidden_state: (B, N, CH, h, w).
            selector: (B, N, 1, 1) 0/1, objects that exist in each sample.
            h_out: return the new hidden state.
            strip_bg: drop the background channel from the probabilities.

        Returns:
            hidden state, aggregated log-odds (B, 1 + N, H, W) and probabilities
            (B, N, H, W), or (B, 1 + N, H, W) without ``strip_bg``.
        """
        hidden_state, logits = self.decoder(*multi_scale_features, hidden_state, memory_readout, h_out=h_out)
        prob = torch.sigmoid(logits)
        if selector is not None:
            prob = prob * selector
        logits, prob = aggregate(prob, dim=1, return_logits=True)
        return hidden_state, logits, (prob[:, 1:] if strip_bg else prob)


def load_xmem_checkpoint(path: Union[str, Path]) -> Dict[str, Tensor]:
    """The network state dict of an XMem file, in the released layout (``key_encoder.*``, ...).

    Accepted: a released ``XMem*.pth`` (optionally with DDP's ``module.`` prefix), an official training
    ``*_checkpoint_*.pth`` (its ``network`` entry), and this project's mmengine checkpoint of
    :class:`~seg.models.xmem.XMemVOS` as the Runner saves it (``meta``, ``message_hub``, ... and a
    ``state_dict`` whose ``network.*`` entries are the network). Local paths only; read with
    :func:`~seg.fileio.checkpoint.load_local_checkpoint` (safe unpickling).

    Raises:
        FileNotFoundError: no file at ``path``.
        XMemCheckpointError: the file is unreadable, untrusted, or holds no state dict.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'XMem checkpoint {path} not found; download XMem.pth from the official release '
                                f'(github.com/hkchengrex/XMem, "Pretrained models") into checkpoints/')
    try:
        data = load_local_checkpoint(str(path), map_location='cpu')
    except (CorruptCheckpointError, UntrustedCheckpointError) as err:
        raise XMemCheckpointError(str(err)) from None
    if isinstance(data, dict) and TRAINING_CHECKPOINT_KEYS <= set(data):
        data = data['network']
    elif isinstance(data, dict) and isinstance(data.get('state_dict'), dict):
        data = data['state_dict']
    if not isinstance(data, dict):
        raise XMemCheckpointError(f'{path} holds a {type(data).__name__}, not a state dict')
    data = {k[len('module.'):] if k.startswith('module.') else k: v for k, v in data.items()}
    if any(k.startswith(VOS_NETWORK_PREFIX) for k in data):
        data = {k[len(VOS_NETWORK_PREFIX):]: v for k, v in data.items() if k.startswith(VOS_NETWORK_PREFIX)}
    return data
