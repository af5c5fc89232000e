"""Build and run mmengine Runners from FastSAM2 configs: what tools/train.py and tools/test.py call.

Beyond mmdet's tools this makes a config run where it is: a ``nccl`` process
group becomes ``gloo`` on a machine without CUDA, several CPU processes get a
DDP wrapper without ``device_ids`` (mmengine's default names a GPU), and the
process group is opened here on CPU because mmengine's launcher calls
``torch.cuda.set_device`` unconditionally.
"""
import gc
import json
import logging
import os
import os.path as osp
import sys
from contextlib import contextmanager
from typing import Iterator, List, Optional

import torch
import torch.distributed as dist
from mmengine.config import Config
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner, find_latest_checkpoint

import seg  # noqa: F401  (ops backend and checkpoint safety before any model import)
from seg.engine.optimizers import cpu_bf16_autocast_available
from seg.engine.runner import FastSAM2Runner
from seg.fileio.checkpoint import load_local_checkpoint, load_weights, trusted
from seg.fileio.errors import InputError
from seg.registry import RUNNERS

LAUNCHERS = ('none', 'pytorch', 'slurm', 'mpi')
#: How a user asks for partial loading, named in the error when a checkpoint does not fit.
PARTIAL_LOAD_HINT = ('Check that the checkpoint belongs to this config\'s model; to load only the weights that fit '
                     'on purpose (e.g. to fine-tune from another model), pass --partial-load (partial_load=True)')


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


def close_process_group() -> None:
    """Wait for every process, then close the process group (a no-op in one process).

    A gloo process that exits with its group open, or closes it while a peer
    still talks to it, is sometimes aborted by the C++ runtime ("terminate
    called without an active exception", exit code 134) after a successful run.
    The DDP wrapper of a Runner still holds the group after this; see
    :func:`leave_worker` for the tools' way out.
    """
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def leave_worker(status: int, launcher: str) -> int:
    """Return ``status`` in one process; end a launched worker process with it.

    A Runner lives in reference cycles (its loops point back at it), so its DDP
    wrapper, and with it the gloo group, is freed only by the garbage collector
    or at interpreter shutdown; gloo's threads torn down during shutdown
    sometimes abort a worker whose run succeeded (exit code -6 / 134). A
    launched worker therefore frees what it can now, flushes its logs and
    streams, and leaves without the shutdown (``os._exit``).

    Args:
        status: the tool's exit status.
        launcher: ``--launcher`` of the tool; ``'none'`` is one process.
    """
    if launcher == 'none':
        return status
    gc.collect()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def use_amp(cfg: Config) -> Config:
    """Switch ``cfg.optim_wrapper`` to mixed precision for this machine (``--amp``).

    With CUDA: mmengine's ``AmpOptimWrapper`` (float16, dynamic loss scale).
    Without: :class:`BF16AutocastOptimWrapper` (CPU bfloat16 autocast, no loss scale).

    Raises:
        RuntimeError: no CUDA device and no CPU bfloat16 autocast in this torch.
    """
    if torch.cuda.is_available():
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
        return cfg
    if not cpu_bf16_autocast_available():
        raise RuntimeError(f'--amp needs a CUDA device or CPU bfloat16 autocast, which torch {torch.__version__} '
                           'lacks here; train without --amp')
    cfg.optim_wrapper.type = 'BF16AutocastOptimWrapper'
    return cfg


def build_runner(cfg: Config) -> Runner:
    """Build the Runner named by ``cfg.runner_type`` (:class:`FastSAM2Runner` by default)."""
    init_cpu_process_group(cfg.launcher, cfg.env_cfg.get('dist_cfg', {}).get('backend', 'gloo'))
    if 'runner_type' in cfg:
        return RUNNERS.build(cfg)
    return FastSAM2Runner.from_cfg(cfg)


def train(config: str, work_dir: Optional[str] = None, resume: Optional[str] = None, amp: bool = False,
          cfg_options: Optional[dict] = None, launcher: str = 'none', trust_checkpoint: bool = False,
          partial_load: bool = False) -> Runner:
    """Train a model from a config.

    Args:
        config (str): Config file.
        work_dir (str, optional): Where logs and checkpoints go.
        resume (str, optional): ``'auto'`` resumes from the latest checkpoint
            in work_dir; a path resumes from that file; ``None`` starts anew.
        amp (bool): Mixed precision: float16 with loss scaling on CUDA, bfloat16 autocast on CPU (see
            :func:`use_amp`).
        cfg_options (dict, optional): Config overrides.
        launcher (str): ``none``, ``pytorch``, ``slurm`` or ``mpi``.
        trust_checkpoint (bool): Load the checkpoint resumed from, or ``load_from``, with full pickle (that
            file only; see :mod:`seg.fileio.checkpoint`).
        partial_load (bool): Let ``load_from`` / the resumed checkpoint miss weights of the model or hold
            others (logged); by default any difference is an error.

    Returns:
        Runner: The runner after training.

    Raises:
        InputError: ``resume='auto'`` with no checkpoint in work_dir; a checkpoint that does not fit the model.
    """
    cfg = adapt_to_machine(load_config(config, cfg_options, work_dir), launcher)
    if amp:
        use_amp(cfg)
    if resume == 'auto':
        resume = find_latest_checkpoint(cfg.work_dir)
        if resume is None:
            raise InputError(f'--resume: nothing to resume in {cfg.work_dir} (it has no last_checkpoint); start '
                             'without --resume, or give the checkpoint: --resume CKPT')
    checkpoint = resume or cfg.get('load_from')
    if resume is not None:
        cfg.resume = True
    if checkpoint is not None:
        cfg.load_from = trusted(checkpoint) if trust_checkpoint else checkpoint
    with annotations_named(cfg):
        runner = build_runner(cfg)
        if checkpoint is not None:
            check_checkpoint(runner, checkpoint, trust_checkpoint, partial_load)
        runner.train()
    close_process_group()
    return runner


def test(config: str, checkpoint: str, work_dir: Optional[str] = None, out: Optional[str] = None,
         show_dir: Optional[str] = None, cfg_options: Optional[dict] = None, launcher: str = 'none',
         trust_checkpoint: bool = False, partial_load: bool = False) -> dict:
    """Evaluate a checkpoint on the config's test split.

    Args:
        config (str): Config file.
        checkpoint (str): Checkpoint to load (``state_dict`` key or a bare state dict).
        work_dir (str, optional): Where logs go.
        out (str, optional): Dump raw predictions to this ``.pkl`` file.
        show_dir (str, optional): Write visualisations under ``work_dir/<timestamp>/<show_dir>``.
        cfg_options (dict, optional): Config overrides.
        launcher (str): ``none``, ``pytorch``, ``slurm`` or ``mpi``.
        trust_checkpoint (bool): Load this checkpoint with full pickle (this file only).
        partial_load (bool): Evaluate even if the checkpoint misses weights of the model or holds others.

    Returns:
        dict: The metrics.

    Raises:
        InputError: the checkpoint does not fit the model (missing, unexpected or other-shaped weights).
    """
    if not osp.isfile(checkpoint):
        raise FileNotFoundError(f'checkpoint {checkpoint} not found')
    cfg = adapt_to_machine(load_config(config, cfg_options, work_dir), launcher)
    cfg.load_from = trusted(checkpoint) if trust_checkpoint else checkpoint
    if show_dir is not None:
        vis_hook = cfg.default_hooks.get('visualization')
        if vis_hook is None:
            raise KeyError(f'{config} has no default_hooks.visualization, so --show-dir has nothing to draw with')
        vis_hook.update(draw=True, test_out_dir=show_dir)
    if out is not None:
        if not out.endswith(('.pkl', '.pickle')):
            raise ValueError(f'--out {out}: the dump must be a .pkl or .pickle file')
        cfg.test_evaluator = _with_dump(cfg.test_evaluator, out)
    with annotations_named(cfg):
        runner = build_runner(cfg)
        check_checkpoint(runner, checkpoint, trust_checkpoint, partial_load)
        metrics = runner.test()
    close_process_group()
    return metrics


def _annotation_files(node, data_root: str = '') -> List[str]:
    """Every ``ann_file`` a config (section) names, joined to its dataset's ``data_root``."""
    files = []
    if isinstance(node, dict):
        data_root = node.get('data_root') or data_root
        ann_file = node.get('ann_file')
        if isinstance(ann_file, str) and ann_file:
            files.append(ann_file if osp.isabs(ann_file) else osp.join(data_root, ann_file))
        for value in node.values():
            files += _annotation_files(value, data_root)
    elif isinstance(node, (list, tuple)):
        for value in node:
            files += _annotation_files(value, data_root)
    return files


@contextmanager
def annotations_named(cfg: Config) -> Iterator[None]:
    """Turn a json decoding error deep in a dataset (which names no file) into one naming the broken file."""
    try:
        yield
    except json.JSONDecodeError as err:
        for path in dict.fromkeys(_annotation_files(cfg.to_dict())):
            try:
                with open(path, encoding='utf-8') as file:
                    json.load(file)
            except json.JSONDecodeError as broken:
                raise InputError(f'annotation file {path} is not valid JSON ({broken}); re-export or '
                                 're-download it') from err
            except OSError:
                continue
        raise


def check_checkpoint(runner: Runner, checkpoint: str, trust: bool, partial: bool) -> None:
    """Refuse a checkpoint whose weights do not fit the runner's model, before the runner loads it.

    With ``partial`` nothing is checked here: mmengine then loads what fits and logs the rest.
    """
    if partial:
        print_log(f'--partial-load: weights of {checkpoint} that do not fit the model are left out (listed below '
                  'by mmengine)', logger='current', level=logging.WARNING)
        return
    model = runner.model.module if is_model_wrapper(runner.model) else runner.model
    load_weights(model, load_local_checkpoint(checkpoint, map_location='cpu', trust=trust), checkpoint,
                 PARTIAL_LOAD_HINT)


def _with_dump(evaluator, out: str):
    """Append mmengine's DumpResults metric to the test evaluator config."""
    dump = dict(type='DumpResults', out_file_path=out)
    if isinstance(evaluator, (list, tuple)):
        return list(evaluator) + [dump]
    if isinstance(evaluator, dict) and 'metrics' in evaluator:
        evaluator['metrics'] = list(evaluator['metrics']) + [dump]
        return evaluator
    return [evaluator, dump]
