"""SIGTERM as an exception for the length of a block, so the clean-up of staged outputs runs.

By default SIGTERM ends the process at once: no ``finally`` or ``with`` exit runs,
and the hidden staging files and folders of :func:`~seg.fileio.atomic.atomic_path`
stay behind. Inside :func:`exit_on_sigterm` the signal raises ``SystemExit``
instead; the clean-ups run on the way out and the process ends with the status a
shell reports for a terminated command (128 + 15)::

    with exit_on_sigterm():
        return run_tool('track.py', work, args.debug)
"""
import signal
from contextlib import contextmanager
from typing import Iterator


def _exit(signum: int, frame) -> None:
    raise SystemExit(128 + signum)


@contextmanager
def exit_on_sigterm() -> Iterator[None]:
    """Raise ``SystemExit(143)`` on SIGTERM inside the block; the previous handler is restored after.

    Call it from the main thread (Python runs signal handlers there only).
    """
    previous = signal.signal(signal.SIGTERM, _exit)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
