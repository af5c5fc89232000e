"""One optimiser wrapper per named submodule (a GAN's generator and discriminator): an ``OptimWrapperDict``."""
import copy
from typing import Optional

import torch.nn as nn
from mmengine.optim import DefaultOptimWrapperConstructor, OptimWrapperDict

from seg.registry import OPTIM_WRAPPER_CONSTRUCTORS


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class MultiOptimWrapperConstructor:
    """Build an ``OptimWrapperDict`` with one wrapper per submodule of the model.

    Each entry of ``optim_wrapper_cfg`` whose value is a dict with an
    ``optimizer`` is a wrapper for the model attribute of that name, built by
    mmengine's ``DefaultOptimWrapperConstructor`` (so it may carry its own
    ``paramwise_cfg``). The other entries (e.g. ``type='AmpOptimWrapper'`` and
    ``loss_scale`` set by ``tools/train.py --amp``) are defaults for every wrapper::

        optim_wrapper = dict(
            constructor='MultiOptimWrapperConstructor',
            generator=dict(optimizer=dict(type='Adam', lr=1e-4, betas=(0.0, 0.99))),
            discriminator=dict(optimizer=dict(type='Adam', lr=1e-4, betas=(0.0, 0.99))))

    Args:
        optim_wrapper_cfg: the wrappers by submodule name, and shared defaults.
        paramwise_cfg: must be None: give each wrapper its own ``paramwise_cfg``.
    """

    def __init__(self, optim_wrapper_cfg: dict, paramwise_cfg: Optional[dict] = None) -> None:
        if paramwise_cfg is not None:
            raise ValueError('MultiOptimWrapperConstructor takes paramwise_cfg per wrapper '
                             '(optim_wrapper.<name>.paramwise_cfg), not at the top level')
        self.wrapper_cfgs = {name: cfg for name, cfg in optim_wrapper_cfg.items()
                             if isinstance(cfg, dict) and 'optimizer' in cfg}
        if not self.wrapper_cfgs:
            raise ValueError('MultiOptimWrapperConstructor found no wrapper: give each submodule to optimise an '
                             'entry such as generator=dict(optimizer=dict(type=\'Adam\', lr=1e-4))')
        self.defaults = {key: value for key, value in optim_wrapper_cfg.items() if key not in self.wrapper_cfgs}

    def __call__(self, model: nn.Module) -> OptimWrapperDict:
        """Build the wrappers for ``model`` (unwrapped from a distributed wrapper if needed)."""
        model = getattr(model, 'module', model)
        wrappers = {}
        for name, cfg in self.wrapper_cfgs.items():
            submodule = getattr(model, name, None)
            if not isinstance(submodule, nn.Module):
                raise ValueError(f'optim_wrapper.{name}: {type(model).__name__} has no submodule {name!r} to '
                                 'optimise; remove the entry or fix its name')
            cfg = dict(copy.deepcopy(self.defaults), **copy.deepcopy(cfg))
            paramwise_cfg = cfg.pop('paramwise_cfg', None)
            wrappers[name] = DefaultOptimWrapperConstructor(cfg, paramwise_cfg)(submodule)
        return OptimWrapperDict(**wrappers)
