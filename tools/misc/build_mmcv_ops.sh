#!/usr/bin/env bash
# Build mmcv 2.1.0 with its compiled ops (mmcv._ext) for the torch in this environment,
# then install it in place of mmcv-lite.
#
# FastSAM2 runs without compiled ops (seg/ops/fallback); build them for mmcv's own
# kernels (speed, or ops with no fallback such as box_iou_rotated).  Takes ~25 min.
#
# Usage: bash tools/misc/build_mmcv_ops.sh
# Environment:
#   PYTHON        interpreter of the target environment (default: python)
#   MAX_JOBS      parallel compile jobs (default: nproc)
#   WORK_DIR      where the sdist is unpacked and built (default: a temporary directory, removed)
#   MMCV_VERSION  mmcv version to build (default: 2.1.0)
#   TORCH_CUDA_ARCH_LIST, MMCV_CUDA_ARGS   passed through to the CUDA build
set -euo pipefail

PYTHON=${PYTHON:-python}
MMCV_VERSION=${MMCV_VERSION:-2.1.0}
export MAX_JOBS=${MAX_JOBS:-$(nproc)}

log() { echo "[build_mmcv_ops] $*" >&2; }

if [[ -z "${WORK_DIR:-}" ]]; then
    WORK_DIR=$(mktemp -d)
    trap 'rm -rf "$WORK_DIR"' EXIT
fi
mkdir -p "$WORK_DIR"

TORCH_VERSION=$("$PYTHON" -c 'import torch; print(torch.__version__)')
TORCH_CUDA=$("$PYTHON" -c 'import torch; print(torch.version.cuda or "")')
NEEDS_CXX20=$("$PYTHON" -c 'import torch; print(int(torch.__version__ >= (2, 10)))')
log "python: $("$PYTHON" -c 'import sys; print(sys.executable)'), torch $TORCH_VERSION, MAX_JOBS=$MAX_JOBS"

# CUDA build only when both nvcc and a CUDA build of torch are present; otherwise hide
# any GPU so that mmcv's setup.py (which also checks torch.cuda.is_available()) builds for CPU.
if command -v nvcc >/dev/null 2>&1 && [[ -n "$TORCH_CUDA" ]]; then
    export FORCE_CUDA=1
    log "CUDA build: nvcc $(nvcc --version | sed -n 's/.*release \([0-9.]*\).*/\1/p'), torch CUDA $TORCH_CUDA"
else
    export FORCE_CUDA=0
    export CUDA_VISIBLE_DEVICES=
    log 'CPU-only build (no nvcc or no CUDA torch)'
fi
export MMCV_WITH_OPS=1

log "downloading the mmcv $MMCV_VERSION sdist"
"$PYTHON" -m pip download --no-binary :all: --no-deps --no-build-isolation --dest "$WORK_DIR" "mmcv==$MMCV_VERSION"
tar -xzf "$WORK_DIR/mmcv-$MMCV_VERSION.tar.gz" -C "$WORK_DIR"
SRC="$WORK_DIR/mmcv-$MMCV_VERSION"

# torch >= 2.10 headers need C++20; mmcv's setup.py hard-codes -std=c++17 for cxx and nvcc,
# and extra_compile_args come after CXXFLAGS on the command line, so patch setup.py itself.
if [[ "$NEEDS_CXX20" == 1 ]]; then
    sed -i 's/-std=c++17/-std=c++20/g' "$SRC/setup.py"
    grep -q -- '-std=c++20' "$SRC/setup.py" || { log 'could not patch -std=c++20 into setup.py'; exit 1; }
    log 'patched setup.py: -std=c++17 -> -std=c++20'
fi

# setup.py imports pkg_resources, which newer setuptools no longer ship.
if ! "$PYTHON" -c 'import pkg_resources' >/dev/null 2>&1; then
    sed -i 's/^from pkg_resources import DistributionNotFound, get_distribution, parse_version$/from importlib.metadata import PackageNotFoundError as DistributionNotFound, distribution as get_distribution\nfrom packaging.version import parse as parse_version/' "$SRC/setup.py"
    grep -q '^from importlib.metadata import' "$SRC/setup.py" || { log 'could not replace pkg_resources in setup.py'; exit 1; }
    log 'patched setup.py: pkg_resources -> importlib.metadata/packaging'
fi

log "building a wheel (this takes a while)"
"$PYTHON" -m pip wheel --no-build-isolation --no-deps --wheel-dir "$WORK_DIR/dist" "$SRC"
WHEEL=$(ls "$WORK_DIR"/dist/mmcv-"$MMCV_VERSION"-*.whl)

# mmcv and mmcv-lite install the same files; remove mmcv-lite only once the build succeeded.
if "$PYTHON" -m pip show mmcv-lite >/dev/null 2>&1; then
    log 'uninstalling mmcv-lite'
    "$PYTHON" -m pip uninstall -y mmcv-lite
fi
"$PYTHON" -m pip install --no-build-isolation --no-deps --force-reinstall "$WHEEL"

"$PYTHON" -c 'import mmcv, mmcv.ops; from mmcv.ops import nms; print(f"mmcv {mmcv.__version__} with compiled ops")'
log 'done; FastSAM2 now uses the compiled ops (FASTSAM2_OPS=fallback switches back to the fallbacks)'
