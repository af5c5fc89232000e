import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_PARITY = REPO.parent / 'shared' / 'parity'

# One thread per process keeps timings stable on CI's 2 cores.
os.environ.setdefault('OMP_NUM_THREADS', '2')

import seg  # noqa: E402,F401  (installs the ops backend before any test imports mmdet)


@pytest.fixture(scope='session')
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope='session')
def python_exe() -> str:
    return sys.executable
