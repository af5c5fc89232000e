"""mmengine's Runner with a short console header: the environment, config and hook dumps go to the log file only."""
import logging
import os.path as osp

from mmengine.device import get_device
from mmengine.logging import MMLogger
from mmengine.runner import Runner

from seg.fileio.atomic import remove_stale_parts_in
from seg.registry import RUNNERS

#: mmengine messages about its own internals that a user can do nothing about; kept off the console.
MMENGINE_NOISE = ('"FileClient" will be deprecated', '"HardDiskBackend" is the alias of "LocalBackend"',
                  'paramwise_options -- ')


class _SetUpOnConsole(logging.Filter):
    """Lets a console handler show only warnings while the runner sets itself up, and never mmengine's noise."""

    def __init__(self) -> None:
        super().__init__()
        self.setting_up = True

    def filter(self, record: logging.LogRecord) -> bool:
        if any(noise in record.getMessage() for noise in MMENGINE_NOISE):
            return False
        return not self.setting_up or record.levelno >= logging.WARNING


@RUNNERS.register_module()
class FastSAM2Runner(Runner):
    """A Runner whose console shows a few header lines instead of ~700 lines of set-up.

    The full environment report, config and hook table still go to
    ``<work_dir>/<timestamp>/<timestamp>.log`` exactly as mmengine writes them.
    On start it removes the half-written checkpoints (``.<name>.<pid>.<hex>.part``)
    of runs in the same work_dir that were killed while saving.
    """

    def build_logger(self, *args, **kwargs) -> MMLogger:
        logger = super().build_logger(*args, **kwargs)
        self._console_filter = _SetUpOnConsole()
        for handler in logger.handlers:
            if type(handler) is logging.StreamHandler:
                handler.addFilter(self._console_filter)
        return logger

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._console_filter.setting_up = False
        for path in remove_stale_parts_in(self.work_dir):
            self.logger.warning(f'removed {path}, a checkpoint left half-written by a run that was killed')
        config = self.cfg.filename or '(config object)'
        self.logger.info(f'{self.experiment_name}: {config} on {get_device()}, {self.world_size} process(es), '
                         f'distributed: {self.distributed}, seed {self.seed}; work_dir {self.work_dir}; full set-up '
                         f'log: {osp.join(self.log_dir, self.timestamp)}.log')
