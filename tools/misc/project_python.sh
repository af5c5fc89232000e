# Sourced by tools/dist_train.sh, dist_test.sh and slurm_train.sh: PYTHON is the project's interpreter
# (.venv, made by `make install`) unless the caller names another.
if [ -z "${PYTHON:-}" ]; then
    _root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
    if [ -x "$_root/.venv/bin/python" ]; then PYTHON="$_root/.venv/bin/python"; else PYTHON=python; fi
fi
