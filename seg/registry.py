"""FastSAM2's registries: one per role, each a child of mmdet's.

A config run under ``default_scope='seg'`` finds our components first and falls
back to mmdet's (ResNet, Mask2Former parts, losses, assigners, datasets,
metrics), then to mmengine's.  A registry looks into its parents without
importing the packages that fill them, so each of ours lists its own package
and its mmdet parent's: ``MODELS.build(cfg)`` then works without manual imports.
"""
from mmdet.registry import DATA_SAMPLERS as MMDET_DATA_SAMPLERS
from mmdet.registry import DATASETS as MMDET_DATASETS
from mmdet.registry import EVALUATOR as MMDET_EVALUATOR
from mmdet.registry import HOOKS as MMDET_HOOKS
from mmdet.registry import LOG_PROCESSORS as MMDET_LOG_PROCESSORS
from mmdet.registry import LOOPS as MMDET_LOOPS
from mmdet.registry import METRICS as MMDET_METRICS
from mmdet.registry import MODEL_WRAPPERS as MMDET_MODEL_WRAPPERS
from mmdet.registry import MODELS as MMDET_MODELS
from mmdet.registry import OPTIM_WRAPPER_CONSTRUCTORS as MMDET_OPTIM_WRAPPER_CONSTRUCTORS
from mmdet.registry import OPTIM_WRAPPERS as MMDET_OPTIM_WRAPPERS
from mmdet.registry import OPTIMIZERS as MMDET_OPTIMIZERS
from mmdet.registry import PARAM_SCHEDULERS as MMDET_PARAM_SCHEDULERS
from mmdet.registry import RUNNERS as MMDET_RUNNERS
from mmdet.registry import TASK_UTILS as MMDET_TASK_UTILS
from mmdet.registry import TRANSFORMS as MMDET_TRANSFORMS
from mmdet.registry import VISBACKENDS as MMDET_VISBACKENDS
from mmdet.registry import VISUALIZERS as MMDET_VISUALIZERS
from mmdet.registry import WEIGHT_INITIALIZERS as MMDET_WEIGHT_INITIALIZERS
from mmengine.registry import Registry


def _child(name: str, parent: Registry, location: str) -> Registry:
    """A registry of ours under mmdet's ``parent`` that imports ``location`` and the parent's packages."""
    return Registry(name, parent=parent, locations=[location] + parent._locations)


RUNNERS = _child('runner', MMDET_RUNNERS, 'seg.engine')
LOOPS = _child('loop', MMDET_LOOPS, 'seg.engine')
HOOKS = _child('hook', MMDET_HOOKS, 'seg.engine')
DATASETS = _child('dataset', MMDET_DATASETS, 'seg.datasets')
DATA_SAMPLERS = _child('data sampler', MMDET_DATA_SAMPLERS, 'seg.datasets')
TRANSFORMS = _child('transform', MMDET_TRANSFORMS, 'seg.datasets')
MODELS = _child('model', MMDET_MODELS, 'seg.models')
MODEL_WRAPPERS = _child('model_wrapper', MMDET_MODEL_WRAPPERS, 'seg.models')
WEIGHT_INITIALIZERS = _child('weight initializer', MMDET_WEIGHT_INITIALIZERS, 'seg.models')
OPTIMIZERS = _child('optimizer', MMDET_OPTIMIZERS, 'seg.engine')
OPTIM_WRAPPERS = _child('optim_wrapper', MMDET_OPTIM_WRAPPERS, 'seg.engine')
OPTIM_WRAPPER_CONSTRUCTORS = _child('optimizer constructor', MMDET_OPTIM_WRAPPER_CONSTRUCTORS, 'seg.engine')
PARAM_SCHEDULERS = _child('parameter scheduler', MMDET_PARAM_SCHEDULERS, 'seg.engine')
METRICS = _child('metric', MMDET_METRICS, 'seg.evaluation')
EVALUATOR = _child('evaluator', MMDET_EVALUATOR, 'seg.evaluation')
TASK_UTILS = _child('task util', MMDET_TASK_UTILS, 'seg.models')
VISUALIZERS = _child('visualizer', MMDET_VISUALIZERS, 'seg.visualization')
VISBACKENDS = _child('vis_backend', MMDET_VISBACKENDS, 'seg.visualization')
LOG_PROCESSORS = _child('log_processor', MMDET_LOG_PROCESSORS, 'seg.engine')

# Not an mmengine role: functions that run our implementation on a parity
# fixture, keyed by ``fixture["meta"]["kind"]`` (see ``seg.parity``).
PARITY_RUNNERS = Registry('parity runner', locations=['seg.parity'])
