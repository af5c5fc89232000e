"""A tiny trainable text encoder with TextEncoder's interface, for tests and toy runs (no CLIP weights)."""
import re
import zlib
from typing import List, Sequence

import torch
import torch.nn as nn
from torch import Tensor

from seg.registry import MODELS

#: What counts as a word: runs of letters, digits and underscores, after lower-casing.
_WORD = re.compile(r'\w+')


@MODELS.register_module()
class ToyTextEncoder(nn.Module):
    """Bag of hashed words: lower-cased words -> CRC-32 buckets -> mean of their embeddings -> Linear.

    A word's bucket is ``zlib.crc32(word.encode('utf-8')) % vocab_size``, the same
    in every process and on every machine (Python's ``hash`` of a string is salted
    per process).  Word order does not matter ("the left cat" = "cat the left");
    sentences that should differ need different words.  A sentence without any
    word (e.g. ``'?!'``) is hashed whole, stripped and lower-cased.

    Args:
        embed_dim (int): Channels of an embedding. Defaults to 64.
        vocab_size (int): Hash buckets (distinct words beyond this share embeddings). Defaults to 1024.
        word_dim (int): Channels of a word embedding, before the Linear. Defaults to 32.

    Attributes:
        embed_dim (int): As given.
    """

    def __init__(self, embed_dim: int = 64, vocab_size: int = 1024, word_dim: int = 32) -> None:
        super().__init__()
        self.embed_dim = embed_dim
        self.vocab_size = vocab_size
        self.word_embedding = nn.EmbeddingBag(vocab_size, word_dim, mode='mean')
        self.proj = nn.Linear(word_dim, embed_dim)

    def word_ids(self, text: str) -> List[int]:
        """The hash bucket of each word of ``text``, in order."""
        words = _WORD.findall(text.lower()) or [text.strip().lower()]
        return [zlib.crc32(word.encode('utf-8')) % self.vocab_size for word in words]

    def forward(self, texts: Sequence[str]) -> Tensor:
        """Embed N sentences.

        Args:
            texts (Sequence[str]): N sentences.

        Returns:
            Tensor: (N, embed_dim) in the module's device and dtype, not normalised.
        """
        if isinstance(texts, str):
            raise TypeError(f'texts must be a list of sentences, got the single string {texts!r}')
        ids = [self.word_ids(text) for text in texts]
        device = self.word_embedding.weight.device
        if not ids:
            return self.proj.weight.new_zeros(0, self.embed_dim)
        flat = torch.tensor([i for sentence in ids for i in sentence], dtype=torch.long, device=device)
        lengths = torch.tensor([0] + [len(sentence) for sentence in ids[:-1]], dtype=torch.long, device=device)
        return self.proj(self.word_embedding(flat, lengths.cumsum(0)))
