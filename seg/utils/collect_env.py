"""What a bug report needs to know about this machine and FastSAM2's stack."""
from collections import OrderedDict

from mmengine.utils.dl_utils import collect_env as collect_base_env


def collect_env() -> 'OrderedDict[str, str]':
    """mmengine's environment report (Python, torch, CUDA, GPUs, compilers) plus ours.

    Returns:
        OrderedDict: name -> value, including mmcv/mmdet/mmengine versions, the
        mmcv distribution installed (``mmcv`` or ``mmcv-lite``) and the ops backend.
    """
    import importlib.metadata as metadata

    import mmcv
    import mmdet
    import mmengine
    import torch

    import seg
    from seg.ops import describe_backend

    env = collect_base_env()
    env['CUDA devices'] = (', '.join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
                           or 'none')
    env['MMEngine'] = mmengine.__version__
    env['MMCV'] = mmcv.__version__
    distributions = [name for name in ('mmcv', 'mmcv-lite', 'mmcv-full') if _installed(metadata, name)]
    env['MMCV distribution'] = ', '.join(distributions) or 'unknown'
    env['MMDetection'] = mmdet.__version__
    env['FastSAM2'] = seg.__version__
    env['FastSAM2 ops backend'] = describe_backend()
    return env


def _installed(metadata, name: str) -> bool:
    try:
        metadata.distribution(name)
        return True
    except metadata.PackageNotFoundError:
        return False
