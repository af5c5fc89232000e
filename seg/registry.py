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

RUNNERS = Registry('runner', parent=MMDET_RUNNERS, locations=['seg.engine'] + MMDET_RUNNERS._locations)
LOOPS = Registry('loop', parent=MMDET_LOOPS, locations=['seg.engine'] + MMDET_LOOPS._locations)
HOOKS = Registry('hook', parent=MMDET_HOOKS, locations=['seg.engine'] + MMDET_HOOKS._locations)
DATASETS = Registry('dataset', parent=MMDET_DATASETS, locations=['seg.datasets'] + MMDET_DATASETS._locations)
DATA_SAMPLERS = Registry('data sampler', parent=MMDET_DATA_SAMPLERS, locations=['seg.datasets'] + MMDET_DATA_SAMPLERS._locations)
TRANSFORMS = Registry('transform', parent=MMDET_TRANSFORMS, locations=['seg.datasets'] + MMDET_TRANSFORMS._locations)
MODELS = Registry('model', parent=MMDET_MODELS, locations=['seg.models'] + MMDET_MODELS._locations)
MODEL_WRAPPERS = Registry('model_wrapper', parent=MMDET_MODEL_WRAPPERS, locations=['seg.models'] + MMDET_MODEL_WRAPPERS._locations)
WEIGHT_INITIALIZERS = Registry('weight initializer', parent=MMDET_WEIGHT_INITIALIZERS, locations=['seg.models'] + MMDET_WEIGHT_INITIALIZERS._locations)
OPTIMIZERS = Registry('optimizer', parent=MMDET_OPTIMIZERS, locations=['seg.engine'] + MMDET_OPTIMIZERS._locations)
OPTIM_WRAPPERS = Registry('optim_wrapper', parent=MMDET_OPTIM_WRAPPERS, locations=['seg.engine'] + MMDET_OPTIM_WRAPPERS._locations)
OPTIM_WRAPPER_CONSTRUCTORS = Registry('optimizer constructor', parent=MMDET_OPTIM_WRAPPER_CONSTRUCTORS, locations=['seg.engine'] + MMDET_OPTIM_WRAPPER_CONSTRUCTORS._locations)
PARAM_SCHEDULERS = Registry('parameter scheduler', parent=MMDET_PARAM_SCHEDULERS, locations=['seg.engine'] + MMDET_PARAM_SCHEDULERS._locations)
METRICS = Registry('metric', parent=MMDET_METRICS, locations=['seg.evaluation'] + MMDET_METRICS._locations)
EVALUATOR = Registry('evaluator', parent=MMDET_EVALUATOR, locations=['seg.evaluation'] + MMDET_EVALUATOR._locations)
TASK_UTILS = Registry('task util', parent=MMDET_TASK_UTILS, locations=['seg.models'] + MMDET_TASK_UTILS._locations)
VISUALIZERS = Registry('visualizer', parent=MMDET_VISUALIZERS, locations=['seg.visualization'] + MMDET_VISUALIZERS._locations)
VISBACKENDS = Registry('vis_backend', parent=MMDET_VISBACKENDS, locations=['seg.visualization'] + MMDET_VISBACKENDS._locations)
LOG_PROCESSORS = Registry('log_processor', parent=MMDET_LOG_PROCESSORS, locations=['seg.engine'] + MMDET_LOG_PROCESSORS._locations)

# Not an mmengine role: functions that run our implementation on a parity
# fixture, keyed by ``fixture["meta"]["kind"]`` (see ``seg.parity``).
PARITY_RUNNERS = Registry('parity runner', locations=['seg.parity'])
