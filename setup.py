"""Install FastSAM2's packages ``seg`` and ``ext`` with their requirements.

mmcv comes in two distributions that share the import name ``mmcv``: ``mmcv``
(compiled ops) and ``mmcv-lite`` (no ops; FastSAM2's fallbacks stand in).
Either satisfies FastSAM2.  An environment that already has ``mmcv`` keeps it:
we then require ``mmcv`` itself, never ``mmcv-lite``, which would overwrite its
files.  ``FASTSAM2_MMCV=full|lite`` overrides the detection.
"""
import os
import subprocess
import sys

from setuptools import find_packages, setup

MMCV_FULL = 'mmcv>=2.0.0rc4,<2.2.0'
MMCV_LITE = 'mmcv-lite==2.1.0'


def _has_distribution(name: str) -> bool:
    """Whether ``name`` is installed in the target environment.

    pip may run this file in an isolated build environment that hides the
    target's site-packages, so ask a fresh interpreter without pip's overlay.
    """
    env = {k: v for k, v in os.environ.items() if k not in ('PYTHONPATH', 'PYTHONNOUSERSITE')}
    code = f'import importlib.metadata as m; m.distribution({name!r})'
    return subprocess.run([sys.executable, '-c', code], env=env, capture_output=True).returncode == 0


def mmcv_requirement() -> str:
    choice = os.environ.get('FASTSAM2_MMCV', '')
    if choice == 'full' or (choice != 'lite' and _has_distribution('mmcv')):
        return MMCV_FULL
    return MMCV_LITE


setup(
    name='fastsam2',
    version='0.1.0',
    description='Segment, track and remove objects in video, on mmengine/mmdet',
    long_description=open('README.md', encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    packages=find_packages(include=['seg', 'seg.*', 'ext', 'ext.*']),
    # The web app's page, script and style.
    package_data={'seg.apis.web': ['static/*']},
    python_requires='>=3.9',
    install_requires=[
        'torch>=2.0',
        'torchvision',
        'mmengine==0.10.7',
        mmcv_requirement(),
        'mmdet==3.3.0',
        'numpy',
        'opencv-python',
        'pycocotools',
        'einops',
        'ftfy',
        'scipy',
        'av',
        'pillow',
        'matplotlib',
        'tqdm',
        'rich',
        # tools/app.py: the web page's server (seg/apis/web).
        'starlette>=0.36',
        'uvicorn>=0.20',
        # mmengine 0.10.7 imports pkg_resources, gone from setuptools >= 82.
        'setuptools>=77.0.3,<82',
    ],
    extras_require={
        # tools/gen_cls.py: class vocabularies from a local OpenCLIP text tower.
        'clip': ['open_clip_torch>=3.3'],
        # scikit-image: the official SSIM (65-px window) is checked against structural_similarity.
        # httpx: Starlette's TestClient; playwright: drives Debian's chromium in the web app's browser test
        # (its wheel ships the driver; no browser download).
        'tests': ['pytest', 'pytest-timeout', 'scikit-video', 'open_clip_torch>=3.3', 'scikit-image', 'httpx',
                  'playwright'],
    },
    zip_safe=False,
)
