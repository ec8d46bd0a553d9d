#!/usr/bin/env bash
# Test the deepinv adapter (denoisebench/denoisers/_deepinv.py) against the real deepinv.
#
# deepinv is kept out of the project's own environment and out of the `test` extra: it depends on
# torchvision, whose wheel needs the CUDA build of torch (with torch 2.13.0+cpu, `import torchvision`
# fails: "operator torchvision::nms does not exist"), so installing it brings torch 2.14.1 (about
# 5.5 GB with its CUDA libraries; it runs on the CPU).  This script makes a second virtual
# environment for it, installs the project with its `test` and `deepinv` extras, and runs the
# tests that need deepinv (randomly initialised models: nothing is downloaded).
#
#   bash scripts/test_deepinv.sh                 # venv in .deepinv-venv (git-ignored)
#   DEEPINV_VENV=/tmp/dnb-deepinv bash scripts/test_deepinv.sh
#
# Extra arguments go to pytest.  Re-running reuses the environment (the install is skipped once
# deepinv imports).  About 10 minutes the first time on 2 cores, then ~1 minute.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${DEEPINV_VENV:-$ROOT/.deepinv-venv}"
PY="$VENV/bin/python"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"

if [ ! -x "$PY" ]; then
    python3 -m venv "$VENV"
fi
if ! "$PY" -c "import deepinv, torchvision" >/dev/null 2>&1; then
    # torch and torchvision pinned together: pip must not pair the CPU torch with a CUDA torchvision.
    "$PY" -m pip install --quiet "torch==2.14.1" "torchvision==0.29.1"
    "$PY" -m pip install --quiet -e "$ROOT[test,deepinv]" "deepinv>=0.5" \
        "torch==2.14.1" "torchvision==0.29.1"
fi
"$PY" -c "import deepinv, torch, torchvision; print('deepinv', deepinv.__version__, '| torch', torch.__version__, '| torchvision', torchvision.__version__)"
cd "$ROOT"
exec "$PY" -m pytest tests/test_external_networks.py -p no:cacheprovider -q -rs "$@"
