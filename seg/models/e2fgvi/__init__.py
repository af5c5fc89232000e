"""E2FGVI and E2FGVI-HQ: generators, their transformer and propagation parts, the inference wrapper."""
from .e2fgvi_generator import E2FGVIGenerator
from .e2fgvi_hq_generator import E2FGVIHQGenerator
from .e2fgvi_inpainter import E2FGVIInpainter
from .second_order_deform_propagation import SecondOrderDeformPropagation
from .temporal_focal_transformer_block import TemporalFocalTransformerBlock

__all__ = ['E2FGVIGenerator', 'E2FGVIHQGenerator', 'E2FGVIInpainter', 'SecondOrderDeformPropagation',
           'TemporalFocalTransformerBlock']
