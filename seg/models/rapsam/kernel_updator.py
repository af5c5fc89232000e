"""K-Net's kernel updator: gated fusion of a query with its mask-pooled feature."""
import torch.nn as nn
from mmcv.cnn import build_activation_layer, build_norm_layer
from mmdet.utils import ConfigType
from torch import Tensor


class KernelUpdator(nn.Module):
    """Update query kernels with the features pooled under their masks (K-Net, NeurIPS'21).

    ``update`` (pooled features) and ``kernels`` (queries) are both projected to
    an (in, out) pair; two sigmoid gates computed from ``in(update) · in(kernels)``
    mix the ``out`` halves, followed by a linear layer, norm and activation.

    Args:
        in_channels: channels of both inputs.
        feat_channels: channels of the gated interaction.
        out_channels: output channels (``in_channels`` when None).
        act_cfg: activation after the gates' mix (and the output).
        norm_cfg: norm of the gates, the ``out`` halves and the output.
    """

    def __init__(self,
                 in_channels: int = 256,
                 feat_channels: int = 64,
                 out_channels: int = None,
                 act_cfg: ConfigType = dict(type='ReLU', inplace=True),
                 norm_cfg: ConfigType = dict(type='LN')):
        super().__init__()
        self.feat_channels = feat_channels
        out_channels = out_channels or in_channels
        self.dynamic_layer = nn.Linear(in_channels, 2 * feat_channels)
        self.input_layer = nn.Linear(in_channels, 2 * feat_channels)
        self.input_gate = nn.Linear(in_channels, feat_channels)
        self.update_gate = nn.Linear(in_channels, feat_channels)
        self.norm_in = build_norm_layer(norm_cfg, feat_channels)[1]
        self.norm_out = build_norm_layer(norm_cfg, feat_channels)[1]
        self.input_norm_in = build_norm_layer(norm_cfg, feat_channels)[1]
        self.input_norm_out = build_norm_layer(norm_cfg, feat_channels)[1]
        self.activation = build_activation_layer(act_cfg)
        self.fc_layer = nn.Linear(feat_channels, out_channels)
        self.fc_norm = build_norm_layer(norm_cfg, out_channels)[1]

    def forward(self, update: Tensor, kernels: Tensor) -> Tensor:
        """(B, N, in) pooled features and (B, N, in) kernels → (B, N, out) updated kernels."""
        params = self.dynamic_layer(update)
        param_in, param_out = params[..., :self.feat_channels], params[..., -self.feat_channels:]
        inputs = self.input_layer(kernels)
        input_in, input_out = inputs[..., :self.feat_channels], inputs[..., -self.feat_channels:]
        gate_feats = input_in * param_in
        input_gate = self.input_norm_in(self.input_gate(gate_feats)).sigmoid()
        update_gate = self.norm_in(self.update_gate(gate_feats)).sigmoid()
        mixed = update_gate * self.norm_out(param_out) + input_gate * self.input_norm_out(input_out)
        return self.activation(self.fc_norm(self.fc_layer(mixed)))
