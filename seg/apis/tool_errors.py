"""One clear line for a user's mistake at a tool's boundary; the traceback only with ``--debug``.

:func:`run_tool` calls a tool's work and turns the errors a user causes (a
missing file, a typo in a config's ``type=`` or argument name, an input that
does not fit, a checkpoint of another model, an output folder that is
read-only or full) into ``<tool>: error: <message>``
on stderr and exit status 2.  Anything else is a bug and keeps its traceback.
"""
import difflib
import inspect
import re
import sys
from typing import Callable, Iterable, List, Optional

from mmengine.registry import Registry

from seg import registry as seg_registry
from seg.fileio.atomic import WRITE_HINTS
from seg.fileio.errors import InputError

#: Exit status of a tool refusing its input (argparse's for bad arguments).
EXIT_INPUT_ERROR = 2

_NOT_REGISTERED = re.compile(r'(\S+) is not in the (\S+)::(\S+) registry')
_UNEXPECTED_ARG = re.compile(r'(?:(\w+)\.)?__init__\(\) got an unexpected keyword argument \'(\w+)\'')


def _nearest(word: str, candidates: Iterable[str]) -> List[str]:
    return difflib.get_close_matches(word, sorted(set(candidates)), n=3, cutoff=0.6)


def _registry_names(role: str) -> List[str]:
    """Every name a config can give as ``type=`` for this role: ours, mmdet's and mmengine's."""
    names = []
    for attr in dir(seg_registry):
        reg = getattr(seg_registry, attr)
        if isinstance(reg, Registry) and reg.name == role:
            while reg is not None:
                reg.import_from_location()
                names += list(reg.module_dict)
                reg = reg.parent
    return names


def _arguments_of(class_name: Optional[str]) -> List[str]:
    """The keyword arguments of a registered class found by name (empty when it cannot be found)."""
    if not class_name:
        return []
    for attr in dir(seg_registry):
        reg = getattr(seg_registry, attr)
        if isinstance(reg, Registry):
            cls = reg.get(class_name)
            if cls is not None and inspect.isclass(cls):
                return [p for p in inspect.signature(cls.__init__).parameters if p not in ('self', 'args', 'kwargs')]
    return []


def describe(err: BaseException) -> Optional[str]:
    """The one-line message for an error a user caused, or None for anything else (a bug)."""
    text = str(err)
    if isinstance(err, KeyError):
        text = text.strip('\'"')
        found = _NOT_REGISTERED.search(text)
        if found:
            name, _, role = found.groups()
            near = _nearest(name, _registry_names(role))
            hint = f'; did you mean {" or ".join(near)}?' if near else '; check the spelling, or register it'
            return f'config: type={name!r} is not a registered {role}{hint}'
    if isinstance(err, TypeError):
        found = _UNEXPECTED_ARG.search(text)
        if found:
            owner, arg = found.groups()
            near = _nearest(arg, _arguments_of(owner))
            hint = f'; did you mean {" or ".join(near)}?' if near else ''
            return f'config: {owner or "a component"} has no argument {arg!r}{hint}'
    if isinstance(err, (InputError, FileNotFoundError, NotADirectoryError, PermissionError, IsADirectoryError)):
        return text
    if isinstance(err, OSError) and err.errno in WRITE_HINTS:
        where = f'cannot write {err.filename}: ' if err.filename else ''
        return f'{where}{err.strerror}; {WRITE_HINTS[err.errno]}'
    return None


def run_tool(prog: str, work: Callable[[], object], debug: bool = False) -> int:
    """Run ``work()``; a user's mistake is printed as one line and gives exit status 2.

    Args:
        prog: the tool's name, first word of the message.
        work: the tool's job.
        debug: re-raise instead, with the full traceback.
    """
    try:
        work()
    except (InputError, KeyError, TypeError, OSError) as err:
        message = describe(err)
        if debug or message is None:
            raise
        print(f'{prog}: error: {message} (--debug shows the traceback)', file=sys.stderr)
        return EXIT_INPUT_ERROR
    return 0
