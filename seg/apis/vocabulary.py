"""The class vocabulary of a config's dataset, for ``tools/gen_cls.py``."""
import copy
from pathlib import Path
from typing import List, Optional, Tuple, Union

from mmengine.registry import init_default_scope

from seg.registry import DATASETS
from .runner import load_config

PathLike = Union[str, Path]


def class_names_from_config(config: PathLike, split: str = 'train',
                            cfg_options: Optional[dict] = None) -> Tuple[List[str], str]:
    """The class names of a config's dataset, from its metainfo; annotations are not read.

    Builds ``cfg.<split>_dataloader.dataset`` with ``lazy_init=True`` through
    :data:`seg.registry.DATASETS`.

    Returns:
        tuple[list[str], str]: ``metainfo['classes']`` and the dataset's name:
        its ``dataset_name`` if it has one, else its class name (RAP-SAM's
        file naming, e.g. ``'CocoPanopticOVDataset'``).
    """
    cfg = load_config(str(config), cfg_options)
    loader = cfg.get(f'{split}_dataloader')
    if not loader or 'dataset' not in loader:
        raise ValueError(f'config {config} has no {split}_dataloader.dataset to read class names from')
    dataset_cfg = copy.deepcopy(loader['dataset'])
    dataset_cfg['lazy_init'] = True
    init_default_scope(cfg.get('default_scope', 'seg'))
    dataset = DATASETS.build(dataset_cfg)
    classes = dataset.metainfo.get('classes')
    if not classes:
        raise ValueError(f'the {split} dataset of {config} ({type(dataset).__name__}) has no metainfo classes')
    return list(classes), getattr(dataset, 'dataset_name', None) or type(dataset).__name__
