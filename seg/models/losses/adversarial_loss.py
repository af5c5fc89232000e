"""GAN losses for a discriminator's scores: hinge, non-saturating (nsgan) and least squares (lsgan)."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from seg.registry import MODELS

#: Supported ``gan_type`` values; E2FGVI trains with ``'hinge'``.
GAN_TYPES = ('hinge', 'nsgan', 'lsgan')


@MODELS.register_module()
class AdversarialLoss(nn.Module):
    """The adversarial loss of E2FGVI's official ``core/loss.py``.

    * ``hinge``: the discriminator minimises ``relu(1 - D(real))`` and
      ``relu(1 + D(fake))``; the generator minimises ``-D(fake)`` (means over
      every score).
    * ``nsgan``: binary cross-entropy against the real/fake label; the scores
      must be probabilities (a discriminator with ``use_sigmoid=True``).
    * ``lsgan``: mean squared error against the real/fake label.

    Args:
        gan_type: one of :data:`GAN_TYPES`.
        real_label: target of real scores (nsgan, lsgan).
        fake_label: target of fake scores (nsgan, lsgan).
    """

    def __init__(self, gan_type: str = 'hinge', real_label: float = 1.0, fake_label: float = 0.0) -> None:
        super().__init__()
        if gan_type not in GAN_TYPES:
            raise ValueError(f'gan_type must be one of {GAN_TYPES}, got {gan_type!r}')
        self.gan_type = gan_type
        self.real_label = real_label
        self.fake_label = fake_label

    @property
    def needs_probabilities(self) -> bool:
        """Whether the scores must be sigmoid probabilities (the discriminator's ``use_sigmoid``)."""
        return self.gan_type != 'hinge'

    def forward(self, scores: Tensor, is_real: bool, for_discriminator: bool) -> Tensor:
        """Loss of one batch of discriminator scores.

        Args:
            scores: discriminator output of any shape, e.g. (B, T, 128, h, w).
            is_real: the scores should be judged real (the discriminator's real
                clips, and the generator's fakes it wants judged real).
            for_discriminator: the loss trains the discriminator (only the
                hinge loss differs between the two players).

        Returns:
            Tensor: scalar loss.
        """
        if self.gan_type == 'hinge':
            if not for_discriminator:
                return (-scores).mean()
            return F.relu(1.0 - scores).mean() if is_real else F.relu(1.0 + scores).mean()
        target = torch.full_like(scores, self.real_label if is_real else self.fake_label)
        if self.gan_type == 'nsgan':
            return F.binary_cross_entropy(scores, target)
        return F.mse_loss(scores, target)
