"""Video inpainters; importing registers them in ``seg.registry.MODELS``."""
from .e2fgvi_generator import E2FGVIGenerator, E2FGVIHQGenerator
from .e2fgvi_inpainter import E2FGVIInpainter
from .flow_propagation_inpainter import FlowPropagationInpainter
from .padding import mirror_pad_to_multiple
from .temporal_patch_discriminator import TemporalPatchDiscriminator
from .video_inpainting_gan import VideoInpaintingGAN

__all__ = ['E2FGVIGenerator', 'E2FGVIHQGenerator', 'E2FGVIInpainter', 'FlowPropagationInpainter',
           'TemporalPatchDiscriminator', 'VideoInpaintingGAN', 'mirror_pad_to_multiple']
