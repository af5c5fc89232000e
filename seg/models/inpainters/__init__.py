"""Inpainting parts every inpainting family shares: GAN training, discriminator, padding, the training-free inpainter."""
from .flow_propagation_inpainter import FlowPropagationInpainter
from .padding import mirror_pad_to_multiple
from .temporal_patch_discriminator import TemporalPatchDiscriminator
from .video_inpainting_gan import VideoInpaintingGAN

__all__ = ['FlowPropagationInpainter', 'TemporalPatchDiscriminator', 'VideoInpaintingGAN', 'mirror_pad_to_multiple']
