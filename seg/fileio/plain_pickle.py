"""Pickles of plain data (lists, dicts, str, numbers), read without running anything the file names.

Some annotation files come only as pickles (RefCOCO's ``refs(unc).p``).  ``pickle.load``
would call whatever global the file names (``os.system`` through ``__reduce__``, say) before we
ever see the data.  :class:`PlainDataUnpickler` refuses every global, so only what the pickle
opcodes make themselves can come out: ``dict``, ``list``, ``tuple``, ``str``, ``int``, ``float``,
``bool`` and ``None`` (and ``bytes`` from protocol 3, ``set`` / ``frozenset`` / ``bytearray`` from
protocols 4 / 4 / 5, which have opcodes for them; older protocols write those through globals).
Python 2 pickles (RefCOCO's are) read too, their ``str`` decoded as UTF-8.
"""
import pickle
from pathlib import Path
from typing import Any, Union

from .errors import InputError


class PlainPickleError(InputError):
    """A pickle that is unreadable, or that names a global (a class or function), so is not plain data."""


class _Refused(pickle.UnpicklingError):
    """What the file asks for that a plain-data pickle never does (a global, a persistent id)."""


class PlainDataUnpickler(pickle.Unpickler):
    """An unpickler that refuses every global, so it builds plain data only and never calls code."""

    def find_class(self, module: str, name: str):
        raise _Refused(f'it names the global {module}.{name}')

    def persistent_load(self, pid):
        raise _Refused('it holds a persistent id')


def load_plain_pickle(path: Union[str, Path]) -> Any:
    """Read a pickle of plain data from ``path``.

    Raises:
        PlainPickleError: the file is missing, unreadable, corrupt or truncated, or names a global
            (a class or function) -- the message names the file.
    """
    path = Path(path)
    try:
        with open(path, 'rb') as f:
            return PlainDataUnpickler(f, encoding='utf-8').load()
    except FileNotFoundError as err:
        raise PlainPickleError(f'{path} not found') from err
    except OSError as err:
        raise PlainPickleError(f'cannot read {path}: {err.strerror or err}') from err
    except _Refused as err:
        raise PlainPickleError(f'{path} is refused: {err}, and only plain data (lists, dicts, str, numbers) is '
                               'read, never code a pickle could run (tampered with? replace it with the original)'
                               ) from None
    except Exception as err:  # noqa: BLE001  (a corrupt pickle fails with almost any exception type)
        raise PlainPickleError(f'{path} is not a plain-data pickle: {type(err).__name__}: {err} '
                               '(corrupt, or not the file it should be? replace it with the original)') from err
