"""Build and run mmengine Runners from FastSAM2 configs: what tools/train.py and tools/test.py call.

Beyond mmdet's tools this makes a config run where it is: a ``nccl`` process
group becomes ``gloo`` on a machine without CUDA, several CPU processes get a
DDP wrapper without ``device_ids`` (mmengine's default names a GPU), and the
process group is opened here on CPU because mmengine's launcher calls
``torch.cuda.set_device`` unconditionally.
"""
import os
import os.path as osp
from typing import Optional

import torch
import torch.distributed as dist
from mmengine.config import Config
from mmengine.logging import print_log
from mmengine.runner import Runner

import seg  # noqa: F401  (ops backend and checkpoint safety before any model import)
from seg.fileio.checkpoint import TRUST_ENV

LAUNCHERS = ('none', 'pytorch', 'slurm', 'mpi')


def load_config(config: str, cfg_options: Optional[dict] = None, work_dir: Optional[str] = None) -> Config:
    """Read a config file, apply ``--cfg-options`` and choose the work_dir.

    Args:
        config (str): Path to a ``configs/<family>/<name>.py`` file.
        cfg_options (dict, optional): ``key.sub=value`` overrides.
        work_dir (str, optional): Overrides ``cfg.work_dir``; the default is
            ``work_dirs/<config name>``.

    Returns:
        Config: The merged config with ``default_scope`` set to ``'seg'`` if absent.
    """
    if not osp.isfile(config):
        raise FileNotFoundError(f'config {config} not found; configs live under configs/<family>/<name>.py')
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    cfg.setdefault('default_scope', 'seg')
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(config))[0])
    return cfg


def adapt_to_machine(cfg: Config, launcher: str) -> Config:
    """Make the distributed settings of ``cfg`` fit this machine (see module docstring)."""
    if launcher not in LAUNCHERS:
        raise ValueError(f'launcher {launcher!r} unknown; use one of {LAUNCHERS}')
    cfg.launcher = launcher
    dist_cfg = cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})
    if torch.cuda.is_available():
        dist_cfg.setdefault('backend', 'nccl')
        return cfg
    if dist_cfg.get('backend', 'gloo') != 'gloo':
        print_log(f'no CUDA device: process group backend {dist_cfg["backend"]!r} -> gloo', logger='current')
    dist_cfg['backend'] = 'gloo'
    if launcher == 'none':
        return cfg
    wrapper = cfg.get('model_wrapper_cfg') or dict(type='MMDistributedDataParallel', broadcast_buffers=False,
                                                   find_unused_parameters=cfg.get('find_unused_parameters',
                                                                                  False))
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper
    return cfg


def init_cpu_process_group(launcher: str, backend: str = 'gloo') -> None:
    """Open the process group for a CPU-only ``pytorch`` launch (torchrun sets the env vars)."""
    if launcher != 'pytorch' or torch.cuda.is_available() or dist.is_initialized():
        return
    dist.init_process_group(backend=backend, rank=int(os.environ['RANK']),
                            world_size=int(os.environ['WORLD_SIZE']))


def build_runner(cfg: Config) -> Runner:
    """Build the Runner named by ``cfg.runner_type`` (mmengine's by default)."""
    init_cpu_process_group(cfg.launcher, cfg.env_cfg.get('dist_cfg', {}).get('backend', 'gloo'))
    if 'runner_type' in cfg:
        from seg.registry import RUNNERS
        return RUNNERS.build(cfg)
    return Runner.from_cfg(cfg)


def train(config: str, work_dir: Optional[str] = None, resume: Optional[str] = None, amp: bool = False,
          cfg_options: Optional[dict] = None, launcher: str = 'none', trust_checkpoint: bool = False) -> Runner:
    """Train a model from a config.

    Args:
        config (str): Config file.
        work_dir (str, optional): Where logs and checkpoints go.
        resume (str, optional): ``'auto'`` resumes from the latest checkpoint
            in work_dir; a path resumes from that file; ``None`` starts anew.
        amp (bool): Mixed precision (needs CUDA).
        cfg_options (dict, optional): Config overrides.
        launcher (str): ``none``, ``pytorch``, ``slurm`` or ``mpi``.
        trust_checkpoint (bool): Load checkpoints with full pickle (see
            :mod:`seg.fileio.checkpoint`).

    Returns:
        Runner: The runner after training.
    """
    if trust_checkpoint:
        os.environ[TRUST_ENV] = '1'
    cfg = adapt_to_machine(load_config(config, cfg_options, work_dir), launcher)
    if amp:
        if not torch.cuda.is_available():
            raise RuntimeError('--amp needs a CUDA device (mmengine\'s AmpOptimWrapper); on CPU train without --amp')
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif resume is not None:
        cfg.resume, cfg.load_from = True, resume
    runner = build_runner(cfg)
    runner.train()
    return runner


def test(config: str, checkpoint: str, work_dir: Optional[str] = None, out: Optional[str] = None,
         show_dir: Optional[str] = None, cfg_options: Optional[dict] = None, launcher: str = 'none',
         trust_checkpoint: bool = False) -> dict:
    """Evaluate a checkpoint on the config's test split.

    Args:
        config (str): Config file.
        checkpoint (str): Checkpoint to load (``state_dict`` key or a bare state dict).
        work_dir (str, optional): Where logs go.
        out (str, optional): Dump raw predictions to this ``.pkl`` file.
        show_dir (str, optional): Write visualisations under ``work_dir/<timestamp>/<show_dir>``.
        cfg_options (dict, optional): Config overrides.
        launcher (str): ``none``, ``pytorch``, ``slurm`` or ``mpi``.
        trust_checkpoint (bool): Load the checkpoint with full pickle.

    Returns:
        dict: The metrics.
    """
    if trust_checkpoint:
        os.environ[TRUST_ENV] = '1'
    if not osp.isfile(checkpoint):
        raise FileNotFoundError(f'checkpoint {checkpoint} not found')
    cfg = adapt_to_machine(load_config(config, cfg_options, work_dir), launcher)
    cfg.load_from = checkpoint
    if show_dir is not None:
        vis_hook = cfg.default_hooks.get('visualization')
        if vis_hook is None:
            raise KeyError(f'{config} has no default_hooks.visualization, so --show-dir has nothing to draw with')
        vis_hook.update(draw=True, test_out_dir=show_dir)
    if out is not None:
        if not out.endswith(('.pkl', '.pickle')):
            raise ValueError(f'--out {out}: the dump must be a .pkl or .pickle file')
        cfg.test_evaluator = _with_dump(cfg.test_evaluator, out)
    runner = build_runner(cfg)
    return runner.test()


def _with_dump(evaluator, out: str):
    """Append mmengine's DumpResults metric to the test evaluator config."""
    dump = dict(type='DumpResults', out_file_path=out)
    if isinstance(evaluator, (list, tuple)):
        return list(evaluator) + [dump]
    if isinstance(evaluator, dict) and 'metrics' in evaluator:
        evaluator['metrics'] = list(evaluator['metrics']) + [dump]
        return evaluator
    return [evaluator, dump]

