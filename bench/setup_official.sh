#!/usr/bin/env bash
# One command: a Python 3.10 venv that runs the official EC code (github.com/imoneoi/EvolvingConnectivity,
# commit 3e61be4) as it is, for the side-by-side benchmarks. Nothing of that code is copied here.
#
#   bench/setup_official.sh [VENV_DIR] [CHECKOUT_DIR]     (defaults: .venv-official, ../ext/EvolvingConnectivity)
#   OFFICIAL_PYTHON=/path/to/python3.10 bench/setup_official.sh
#
# The pins are the versions the official code was released against (brax 0.1.2 is Brax v1, the paper's
# physics; jax 0.4.19 is the last jax that brax 0.1.2 runs on). omegaconf, tqdm, wandb and optuna are
# imported at the top of the official ec.py (wandb is never initialised by the benchmark).
set -euo pipefail
VENV=${1:-.venv-official}
CHECKOUT=${2:-}
PY=${OFFICIAL_PYTHON:-python3.10}
"$PY" -c 'import sys; assert sys.version_info[:2] == (3, 10), sys.version' \
  || { echo "setup_official: need Python 3.10 (set OFFICIAL_PYTHON)" >&2; exit 1; }
"$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet \
  jax==0.4.19 jaxlib==0.4.19 flax==0.6.10 optax==0.2.2 chex==0.1.86 numpy==1.26.4 scipy==1.11.4 \
  brax==0.1.2 omegaconf==2.3.0 tqdm==4.66.1 wandb==0.16.0 optuna==3.4.0
if [ -n "$CHECKOUT" ] && [ ! -d "$CHECKOUT/.git" ]; then
  git clone -q https://github.com/imoneoi/EvolvingConnectivity "$CHECKOUT"
  git -C "$CHECKOUT" checkout -q 3e61be4
fi
"$VENV/bin/python" -c 'import jax, brax, flax; print("official env ok: jax", jax.__version__, "brax", brax.__version__)'
