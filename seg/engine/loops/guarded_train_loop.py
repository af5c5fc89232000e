"""mmengine's iteration-based training loop that reports a non-finite loss with where to resume from."""
import os.path as osp
from typing import Sequence

from mmengine.runner import IterBasedTrainLoop

from seg.models.utils.non_finite_loss import NO_CHECKPOINT, NonFiniteLossError
from seg.registry import LOOPS

#: The file mmengine's CheckpointHook writes in the work_dir, holding the latest checkpoint's path.
LAST_CHECKPOINT_FILE = 'last_checkpoint'


def last_good_checkpoint(work_dir: str) -> str:
    """The checkpoint named by ``<work_dir>/last_checkpoint`` if that file exists, else :data:`NO_CHECKPOINT`."""
    record = osp.join(work_dir, LAST_CHECKPOINT_FILE)
    if not osp.isfile(record):
        return NO_CHECKPOINT
    with open(record, encoding='utf-8') as f:
        path = f.read().strip()
    return path if path and osp.isfile(path) else NO_CHECKPOINT


@LOOPS.register_module()
class GuardedTrainLoop(IterBasedTrainLoop):
    """``IterBasedTrainLoop`` that turns a model's :class:`NonFiniteLossError` into one actionable error.

    The model raises the error before the backward pass of the bad term (see
    ``VideoInpaintingGAN.train_step``), so the weights are still those of the
    previous iteration. The loop re-raises it naming the term, the 1-based
    iteration (as logged) and the last checkpoint written to the work_dir, and
    training stops. Arguments are ``IterBasedTrainLoop``'s.
    """

    def run_iter(self, data_batch: Sequence[dict]) -> None:
        """Run one iteration; re-raise a non-finite loss with the iteration and the last checkpoint."""
        try:
            super().run_iter(data_batch)
        except NonFiniteLossError as error:
            raise NonFiniteLossError(error.term, error.value, error.stage, iteration=self._iter + 1,
                                     last_checkpoint=last_good_checkpoint(self.runner.work_dir)) from error
