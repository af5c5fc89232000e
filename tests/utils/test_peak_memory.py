"""peak_rss_mib counts a child's own peak, not the high-water mark of the parent it was started from."""
import subprocess
import sys
from pathlib import Path

import numpy as np

import seg.utils.peak_memory
from seg.utils.peak_memory import peak_rss_mib

# The child loads the module from its file, without importing seg (and torch), so it starts small.
CHILD = ('import importlib.util, sys\n'
         'import numpy as np\n'
         'spec = importlib.util.spec_from_file_location("peak_memory", sys.argv[1])\n'
         'module = importlib.util.module_from_spec(spec)\n'
         'spec.loader.exec_module(module)\n'
         'before = module.peak_rss_mib()\n'
         'block = np.ones(300 * 2**20 // 8)\n'
         'print(before, module.peak_rss_mib())\n')


def test_child_peak_is_its_own():
    held = np.ones(600 * 2**20 // 8)  # 600 MiB touched in the parent while the child starts
    assert peak_rss_mib() >= 600
    out = subprocess.run([sys.executable, '-c', CHILD, str(Path(seg.utils.peak_memory.__file__))],
                         capture_output=True, text=True, timeout=120, check=True)
    before, after = map(float, out.stdout.split())
    assert before < 200, "the child reported the parent's high-water mark"
    assert 290 <= after - before <= 330
    del held
