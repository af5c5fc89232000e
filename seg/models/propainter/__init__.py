"""ProPainter: the generator, its pixel / feature propagation and sparse transformer parts, the window inpainter,
and its two training stages; importing registers them in ``seg.registry.MODELS``."""
from .flow_completion_model import FlowCompletionModel
from .flow_guided_deform_propagation import FlowGuidedDeformableAlignment, FlowGuidedDeformPropagation
from .image_propagation import ImagePropagation
from .propainter_decoder import ProPainterDecoder
from .propainter_encoder import ProPainterEncoder
from .propainter_gan import ProPainterGAN
from .propainter_generator import (ProPainterCheckpointError, ProPainterGenerator, load_propainter_generator,
                                   propainter_generator_state_dict)
from .propainter_inpainter import ProPainterInpainter, ProPainterWeightsError
from .temporal_sparse_transformer import TemporalSparseTransformer

__all__ = ['FlowCompletionModel', 'FlowGuidedDeformableAlignment', 'FlowGuidedDeformPropagation', 'ImagePropagation',
           'ProPainterDecoder', 'ProPainterEncoder', 'ProPainterCheckpointError', 'ProPainterGAN',
           'ProPainterGenerator', 'ProPainterInpainter', 'ProPainterWeightsError', 'TemporalSparseTransformer',
           'load_propainter_generator', 'propainter_generator_state_dict']
