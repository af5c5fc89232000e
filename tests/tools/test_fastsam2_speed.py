"""tools/benchmark/fastsam2_speed.py end to end at a tiny size: its table has every task of both models.

A behaviour test of the script (rows, header, text-tower notes), not of the speeds it measures.
"""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = 'tools/benchmark/fastsam2_speed.py'
TINY = ['--size', '64', '--iters', '1', '--frames', '2']
ROW = re.compile(r'(?P<task>\w+)\s+(?P<model>FastSAM2-R18|RapSAM-R50)\s+(?P<fps>\d+\.\d+)\s+(?P<ms>\d+\.\d+)$')
EXPECTED = {('panoptic', 'FastSAM2-R18'), ('interactive', 'FastSAM2-R18'), ('vos', 'FastSAM2-R18'),
            ('referring', 'FastSAM2-R18'), ('video_instance', 'FastSAM2-R18'),
            ('panoptic', 'RapSAM-R50'), ('interactive', 'RapSAM-R50'), ('video_instance', 'RapSAM-R50')}


def run_benchmark(*args) -> str:
    env = {**os.environ, 'PYTHONPATH': str(REPO)}  # this checkout's seg, not whichever one is installed
    proc = subprocess.run([sys.executable, SCRIPT, *TINY, *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=600)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-3000:]
    return output


def table(output: str) -> dict:
    """{(task, model): frames/s} of the table's rows."""
    rows = {}
    for line in output.splitlines():
        match = ROW.search(line)
        if match:
            rows[match['task'], match['model']] = float(match['fps'])
    return rows


def test_every_task_of_both_models_has_a_positive_frame_rate(tmp_path):
    output = run_benchmark('--clip-checkpoint', str(tmp_path / 'absent.bin'))
    rows = table(output)
    assert set(rows) == EXPECTED
    assert all(fps > 0 for fps in rows.values())
    assert 'torch threads 1' in output and 'device cpu' in output and 'random weights' in output
    assert 'ToyTextEncoder(embed_dim=768) stands in' in output and 'absent.bin not found' in output
    assert 'text tower alone' not in output


def test_an_existing_clip_checkpoint_is_used_and_timed_alone(tmp_path):
    """A tiny OpenCLIP model stands for convnext_large_d_320: the real TextEncoder path, one task."""
    open_clip = pytest.importorskip('open_clip', reason='open_clip is not importable (pip install open_clip_torch)')
    import torch
    config = tmp_path / 'fastsam2_speed_tiny_clip.json'
    config.write_text(json.dumps({
        'embed_dim': 32,
        'vision_cfg': {'image_size': 32, 'patch_size': 16, 'width': 32, 'layers': 1, 'head_width': 16},
        'text_cfg': {'context_length': 77, 'vocab_size': 49408, 'width': 32, 'heads': 2, 'layers': 1}}))
    open_clip.add_model_config(config)
    checkpoint = tmp_path / 'tiny_clip.pt'
    torch.save(open_clip.create_model(config.stem, pretrained=None).state_dict(), checkpoint)
    output = run_benchmark('--tasks', 'referring', '--clip-model', str(config), '--clip-checkpoint', str(checkpoint))
    assert set(table(output)) == {('referring', 'FastSAM2-R18')}
    assert f'text: OpenCLIP {config} text tower from {checkpoint}' in output
    alone = re.search(r'text tower alone, one sentence, not cached: (\d+\.\d+) sentences/s', output)
    assert alone and float(alone[1]) > 0
