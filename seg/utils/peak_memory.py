"""Peak resident set size of the running process, as the memory benchmarks report it."""
import re
import resource
import sys


def peak_rss_mib() -> float:
    """This process's peak resident set size (MiB) since it started its program.

    On Linux this is ``VmHWM`` of ``/proc/self/status``. ``ru_maxrss`` is not
    used there because a process started by fork (or vfork) and exec keeps the
    high-water mark of the parent it was forked from: a benchmark parent holding
    a rendered clip would set every child's peak. Where ``/proc`` is missing,
    ``ru_maxrss`` is the best there is (bytes on macOS, KiB elsewhere).
    """
    try:
        with open('/proc/self/status') as status:
            match = re.search(r'^VmHWM:\s*(\d+) kB$', status.read(), re.MULTILINE)
    except OSError:
        match = None
    if match is not None:
        return int(match.group(1)) / 1024
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == 'darwin' else peak / 1024
