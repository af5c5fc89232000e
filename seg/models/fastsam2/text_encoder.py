"""CLIP text features for FastSAM2's text prompts: OpenCLIP's text tower from a local checkpoint."""
from collections import OrderedDict
from typing import Dict, List, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from seg.registry import MODELS
from ..utils.openclip_text import build_openclip_text_tower, load_text_tower_weights, text_tower_embed_dim


@MODELS.register_module()
class TextEncoder(nn.Module):
    """Sentences to CLIP text embeddings, with OpenCLIP's text tower loaded from a local file.

    Only the text tower (an OpenCLIP ``TextTransformer``) is built, with random
    weights, and then ``checkpoint`` is loaded into it strictly; the image tower
    never exists and nothing is downloaded (see
    :func:`~seg.models.utils.openclip_text.build_openclip_text_tower`).  An
    embedding is ``CLIP.encode_text(tokens, normalize=normalize)``: the pooled
    end-of-text feature after ``ln_final`` times ``text_projection``.  Sentences
    longer than the model's context (77 tokens for CLIP) are cut by its tokenizer.

    When ``frozen`` (the default) the tower's weights do not train, it stays in
    eval mode, runs under ``torch.no_grad()``, and each sentence's embedding is
    kept in an LRU cache of ``cache_size`` sentences.  Cached embeddings follow the
    module through ``.to()`` / ``.half()`` (device and dtype) and
    are dropped when weights are loaded.  A trainable tower (``frozen=False``) is
    never cached.  The weights are part of the state_dict either way.

    :meth:`init_weights` loads ``checkpoint`` again, so a parent's ``init_cfg``
    (mmengine runs it before its children's ``init_weights``) cannot leave the
    tower with re-initialised layers.

    Args:
        model_name (str): OpenCLIP model name (e.g. ``'ViT-B-32'``) or a model
            config ``.json`` (its stem becomes the name).
        checkpoint (str): Local weights of that CLIP model (e.g. its
            ``open_clip_pytorch_model.bin``) or of its text tower alone.
        frozen (bool): Keep the tower fixed (no gradients, eval mode, cached). Defaults to True.
        normalize (bool): L2-normalise each embedding (unit rows, as CLIP compares them).
            Defaults to True.
        cache_size (int): Most sentences kept in the cache when frozen; 0 turns it off. Defaults to 1024.

    Attributes:
        embed_dim (int): Channels of an embedding (the CLIP model's ``embed_dim``).
    """

    def __init__(self,
                 model_name: str,
                 checkpoint: str,
                 frozen: bool = True,
                 normalize: bool = True,
                 cache_size: int = 1024) -> None:
        super().__init__()
        if cache_size < 0:
            raise ValueError(f'cache_size must be >= 0 (0 turns the cache off), got {cache_size}')
        self.checkpoint = checkpoint
        self.text_tower, self.tokenizer, self.model_name = build_openclip_text_tower(model_name, checkpoint)
        self.embed_dim = text_tower_embed_dim(self.text_tower)
        self.frozen = frozen
        self.normalize = normalize
        self.cache_size = cache_size
        self._cache: 'OrderedDict[str, Tensor]' = OrderedDict()
        if frozen:
            self.text_tower.requires_grad_(False)
        self.register_load_state_dict_post_hook(lambda module, incompatible_keys: module.clear_cache())

    def init_weights(self) -> None:
        """Load the CLIP weights from ``checkpoint`` again (mmengine calls this before training)."""
        load_text_tower_weights(self.text_tower, self.checkpoint, self.model_name)
        self.clear_cache()

    def clear_cache(self) -> None:
        """Forget every cached embedding."""
        self._cache.clear()

    def train(self, mode: bool = True) -> 'TextEncoder':
        """Set train/eval mode; a frozen tower stays in eval mode."""
        super().train(mode)
        if self.frozen:
            self.text_tower.eval()
        return self

    def _apply(self, fn, *args, **kwargs):
        """Move or cast the weights, and the cached embeddings with them."""
        super()._apply(fn, *args, **kwargs)
        for text, embedding in self._cache.items():
            self._cache[text] = fn(embedding)
        return self

    def _encode(self, texts: List[str]) -> Tensor:
        """Run the tower: N sentences -> (N, embed_dim) in the tower's device and dtype."""
        tokens = self.tokenizer(texts).to(self.text_tower.positional_embedding.device)
        features = self.text_tower(tokens)
        if isinstance(features, tuple):  # a tower that also returns its token features (CoCa)
            features = features[0]
        return F.normalize(features, dim=-1) if self.normalize else features

    def forward(self, texts: Sequence[str]) -> Tensor:
        """Embed N sentences.

        Args:
            texts (Sequence[str]): N sentences (a repeated sentence is encoded once).

        Returns:
            Tensor: (N, embed_dim) in the module's device and dtype; unit rows if ``normalize``.
            Without gradient when frozen.
        """
        if isinstance(texts, str):
            raise TypeError(f'texts must be a list of sentences, got the single string {texts!r}')
        texts = list(texts)
        if not self.frozen or self.cache_size == 0:
            if not texts:
                return self.text_tower.positional_embedding.new_zeros(0, self.embed_dim)
            return self._encode(texts)
        missing = list(dict.fromkeys(text for text in texts if text not in self._cache))
        computed: Dict[str, Tensor] = {}
        if missing:
            with torch.no_grad():
                computed = dict(zip(missing, self._encode(missing).unbind(0)))
        rows = []
        for text in texts:
            if text in computed:
                rows.append(computed[text])
            else:
                self._cache.move_to_end(text)
                rows.append(self._cache[text])
        for text, embedding in computed.items():
            self._cache[text] = embedding.clone()
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        if not rows:
            return self.text_tower.positional_embedding.new_zeros(0, self.embed_dim)
        return torch.stack(rows)
