"""tools/benchmark/inpaint_memory.py at a tiny size: its lines, its ratio verdict and its argument checks.

A behaviour test of the script, not of the memory it measures (tiny clips are too short for the
target to mean anything, so the exit status is checked against the printed ratio instead).
"""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = 'tools/benchmark/inpaint_memory.py'
TINY = ['--height', '64', '--width', '112', '--base-frames', '6', '--lengths', '6', '12', '--raft-iters', '1']
LINE = re.compile(r'(?P<frames>\d+) frames 112x64: peak RSS\s+(?P<mib>\d+\.\d) MiB, (?P<fps>\d+\.\d+) frames/s '
                  r'\(\d+ s; \d+\.\d+ CPU s/frame; (?P<threads>\d+) torch threads\)')
RATIO = re.compile(r'peak RSS ratio 12 / 6 frames: (?P<ratio>\d+\.\d+) \(target <= 1\.1\)')


def run_benchmark(*args) -> subprocess.CompletedProcess:
    env = {**os.environ, 'PYTHONPATH': str(REPO)}  # this checkout's seg, not whichever one is installed
    return subprocess.run([sys.executable, SCRIPT, *TINY, *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=600)


@pytest.mark.slow
def test_streaming_propainter_bf16_prints_each_length_and_a_ratio_matching_its_exit_status():
    proc = run_benchmark('--model', 'propainter', '--bf16')
    output = proc.stdout + proc.stderr
    lines = {int(m['frames']): m for m in LINE.finditer(output)}
    assert set(lines) == {6, 12}, output[-3000:]
    assert 'propainter, RAFT 1 iterations, random weights, bf16 autocast' in output
    assert all(float(m['fps']) > 0 and int(m['threads']) >= 1 for m in lines.values())
    ratio = float(RATIO.search(output)['ratio'])
    assert ratio == pytest.approx(float(lines[12]['mib']) / float(lines[6]['mib']), abs=1e-3)
    assert proc.returncode == (0 if ratio <= 1.10 else 1), output[-3000:]


@pytest.mark.slow
def test_official_pipeline_reports_its_whole_video_arrays_and_growth():
    proc = run_benchmark('--model', 'propainter', '--official')
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-3000:]
    held = [float(v) for v in re.findall(r'holds (\d+\.\d) MiB of whole-video arrays', output)]
    assert len(held) == 2 and held[1] > held[0] > 0  # twice the frames, more held
    assert re.search(r'peak RSS grows -?\d+\.\d MiB from 6 to 12 frames', output)


@pytest.mark.parametrize('args, message', [
    (['--bf16'], '--bf16 applies to the streaming --model propainter only'),
    (['--model', 'propainter', '--official', '--bf16'], '--bf16 applies to the streaming --model propainter only'),
    (['--official'], '--official needs --model propainter'),
    (['--lengths', '0'], '--lengths, --base-frames and --raft-iters must be >= 1'),
    (['--model', 'propainter', '--raft-iters', '0'], '--lengths, --base-frames and --raft-iters must be >= 1'),
])
def test_invalid_combinations_exit_2_with_one_message(args, message):
    proc = run_benchmark(*args)
    assert proc.returncode == 2
    assert message in proc.stderr
