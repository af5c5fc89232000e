"""One decoder stage of RapSAM's head (YOSO's ``CrossAttenHead`` with a kernel updator)."""
from typing import Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn.bricks.transformer import FFN
from mmengine.model.weight_init import trunc_normal_
from torch import Tensor

from .kernel_updator import KernelUpdator

# Masks are binarised at sigmoid > 0.5 before pooling features under them.
HARD_MASK_THR = 0.5


def hard_mask_pool(mask_logits: Tensor, features: Tensor) -> Tensor:
    """Sum (B, C, H, W) ``features`` over each query's binarised mask (B, N, H, W) → (B, N, C).

    The threshold is applied to ``sigmoid(logit)`` literally (not ``logit > 0``),
    which is how the official model decides pixels whose logit is within ~6e-8 of 0.
    """
    hard = (mask_logits.sigmoid() > HARD_MASK_THR).to(features.dtype)
    return torch.einsum('bnhw,bchw->bnc', hard, features)


def _mlp(in_channels: int, hidden: int, out_channels: int) -> nn.Sequential:
    """Three linear layers with ReLUs between them (indices 0, 2, 4 hold weights)."""
    return nn.Sequential(nn.Linear(in_channels, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, hidden),
                         nn.ReLU(inplace=True), nn.Linear(hidden, out_channels))


def _fc_norm_relu(channels: int) -> nn.ModuleList:
    """Linear (no bias) → LayerNorm → ReLU, kept as a list for the official key names."""
    return nn.ModuleList([nn.Linear(channels, channels, bias=False), nn.LayerNorm(channels), nn.ReLU(inplace=True)])


class CrossAttenHead(nn.Module):
    """Refine queries once and predict their classes, masks and mask IoU.

    Order: mask pooling → kernel updator → self-attention (+residual, LN) → FFN
    (+residual, LN) = new query; class branch (fc-LN-ReLU, MLP to the class
    embedding space, cosine against the class embeddings × ``exp(logit_scale)``,
    max over synonyms), mask branch (fc-LN-ReLU, ``fc_mask``, dot with the
    features) and IoU (MLP on the mask branch).

    Args:
        feat_channels: query and feature channels.
        class_embed_dim: channels of the class-embedding space.
        num_heads: heads of the query self-attention.
        ffn_channels: hidden channels of the FFN.
    """

    def __init__(self, feat_channels: int = 256, class_embed_dim: int = 768, num_heads: int = 8,
                 ffn_channels: int = 2048):
        super().__init__()
        self.kernel_update = KernelUpdator(feat_channels, feat_channels, feat_channels)
        self.s_atten = nn.MultiheadAttention(feat_channels, num_heads, dropout=0.0)
        self.s_atten_norm = nn.LayerNorm(feat_channels)
        self.ffn = FFN(feat_channels, ffn_channels, num_fcs=2, ffn_drop=0.0, add_identity=True)
        self.ffn_norm = nn.LayerNorm(feat_channels)
        self.cls_fcs = _fc_norm_relu(feat_channels)
        self.cls_proj = _mlp(feat_channels, feat_channels, class_embed_dim)
        self.mask_fcs = _fc_norm_relu(feat_channels)
        self.fc_mask = nn.Linear(feat_channels, feat_channels)
        self.iou_embed = _mlp(feat_channels, feat_channels, 1)  # official key; an MLP predicting IoU, no embedding
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(m: nn.Module) -> None:
        if isinstance(m, nn.Linear):
            trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)

    def forward(self, features: Tensor, queries: Tensor, mask_logits: Tensor, class_embed: Tensor,
                logit_scale: Tensor, self_attn_mask: Optional[Tensor] = None
                ) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
        """One refinement.

        Args:
            features: (B, C, H, W) pixel features (video clips: frames stacked along H).
            queries: (B, N, C) query kernels.
            mask_logits: (B, N, H, W) the previous stage's mask logits.
            class_embed: (D, K+1, S) unit class embeddings (background last, all zero),
                S synonyms per class.
            logit_scale: scalar; cosine similarities are multiplied by its exp.
            self_attn_mask: (N, N) bool, True where query i must not attend to j.

        Returns:
            class logits (B, N, K+1), mask logits (B, N, H, W), IoU (B, N, 1) and
            the refined queries (B, N, C).
        """
        pooled = hard_mask_pool(mask_logits, features)
        k = self.kernel_update(pooled, queries).transpose(0, 1)
        k = k + self.s_atten(k, k, k, attn_mask=self_attn_mask)[0]
        query = self.ffn_norm(self.ffn(self.s_atten_norm(k.transpose(0, 1))))

        cls_feat = query
        for layer in self.cls_fcs:
            cls_feat = layer(cls_feat)
        cls_logits = class_logits(self.cls_proj(cls_feat), class_embed, logit_scale)

        mask_feat = query
        for layer in self.mask_fcs:
            mask_feat = layer(mask_feat)
        mask_logits = torch.einsum('bnc,bchw->bnhw', self.fc_mask(mask_feat), features)
        return cls_logits, mask_logits, self.iou_embed(mask_feat), query


def class_logits(embed: Tensor, class_embed: Tensor, logit_scale: Tensor) -> Tensor:
    """Scaled cosine of (B, N, D) ``embed`` with (D, K+1, S) class embeddings, max over S → (B, N, K+1)."""
    cosine = torch.einsum('bnc,ckp->bnkp', F.normalize(embed, dim=-1), class_embed).max(-1).values
    return logit_scale.exp() * cosine
