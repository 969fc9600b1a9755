#!/usr/bin/env bash
# Idempotent environment setup: .venv/ with torch, mmcv 2.1.0 (compiled ops), mmengine,
# mmdet and this project in editable mode.
#
# mmcv 2.1.0 ships only as an sdist; against torch 2.14 it must be built with C++20, with
# setuptools<82 and without build isolation (see README "Installation"). The built wheel is
# cached outside the checkout in $MM_WHEELHOUSE (default ~/.cache/polar-instance-seg/wheels),
# keyed by torch version and device flavour. After a successful setup the venv's
# site-packages are also kept there (hard links, so no extra disk on the same filesystem),
# keyed by the requirements: a fresh checkout on the same machine restores them in seconds
# instead of unpacking torch's 5 GB again.
#
# Environment:
#   PYTHON        interpreter used to create the venv (default: python3.11, else python3)
#   VENV          venv directory (default: <repo>/.venv)
#   MM_WHEELHOUSE wheel cache directory
#   MMCV_CUDA     auto (default) | 1 | 0. auto builds CUDA ops when nvcc exists and torch sees
#                 a GPU; 1 forces a CUDA build (e.g. on a build node without a GPU).
#   TORCH_CUDA_ARCH_LIST  passed through to the CUDA build (default: torch's detection).
#   MAX_JOBS      parallel compile jobs (default: number of cores).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$REPO/.venv}"
MM_WHEELHOUSE="${MM_WHEELHOUSE:-$HOME/.cache/polar-instance-seg/wheels}"
MMCV_VERSION=2.1.0
STAMP="$VENV/.polar-setup-stamp"

log() { echo "[setup] $*" >&2; }

pick_python() {
  if [[ -n "${PYTHON:-}" ]]; then echo "$PYTHON"; return; fi
  if command -v python3.11 >/dev/null 2>&1; then echo python3.11; else echo python3; fi
}

requirements_digest() {
  cat "$REPO"/requirements/*.txt "$REPO/setup.py" "$0" | sha256sum | cut -c1-16
}

if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$(requirements_digest)" ]] \
   && "$VENV/bin/python" -c "import mmcv.ops, mmdet, mmdet_ext" >/dev/null 2>&1; then
  log "environment up to date ($VENV)"
  exit 0
fi

site_packages() {
  "$1" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])"
}

SITE_CACHE="$MM_WHEELHOUSE/site-packages-$(requirements_digest)-$("$(pick_python)" -c \
  'import sys; print("py%d%d" % sys.version_info[:2])')"
if [[ ! -x "$VENV/bin/python" && -d "$SITE_CACHE" ]]; then
  # Empty venv (no pip of its own): the cached site-packages bring pip too.
  log "creating venv $VENV from $SITE_CACHE"
  "$(pick_python)" -m venv --without-pip "$VENV"
  if ! { cp -al "$SITE_CACHE/." "$(site_packages "$VENV/bin/python")/" 2>/dev/null \
         || cp -a "$SITE_CACHE/." "$(site_packages "$VENV/bin/python")/"; }; then
    log "restoring from the cache failed; installing from scratch"
    rm -rf "$VENV"
  fi
fi
if [[ ! -x "$VENV/bin/python" ]]; then
  log "creating venv $VENV"
  "$(pick_python)" -m venv "$VENV"
fi
PY="$VENV/bin/python"
PIP=("$PY" -m pip --disable-pip-version-check)

log "installing base requirements (torch, toolchain, tests, deployment)"
"${PIP[@]}" install -q -r "$REPO/requirements/base.txt" -r "$REPO/requirements/tests.txt" \
  -r "$REPO/requirements/deploy.txt"

# ---------------------------------------------------------------- mmcv (compiled ops)
want_cuda() {
  case "${MMCV_CUDA:-auto}" in
    1) return 0 ;;
    0) return 1 ;;
    *) command -v nvcc >/dev/null 2>&1 && \
         "$PY" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)" ;;
  esac
}

TORCH_TAG="$("$PY" -c "import torch; print(torch.__version__.split('+')[0])")"
if want_cuda; then
  FLAVOUR="cu$("$PY" -c "import torch; print((torch.version.cuda or '').replace('.', ''))")"
  ARCH_TAG="${TORCH_CUDA_ARCH_LIST:-auto}"
  FLAVOUR="${FLAVOUR}-arch${ARCH_TAG//[^0-9a-zA-Z.]/_}"
else
  FLAVOUR=cpu
fi
CACHE_DIR="$MM_WHEELHOUSE/mmcv-$MMCV_VERSION/torch-$TORCH_TAG-$FLAVOUR"
mkdir -p "$CACHE_DIR"

if ! ls "$CACHE_DIR"/mmcv-"$MMCV_VERSION"-*.whl >/dev/null 2>&1; then
  log "building mmcv $MMCV_VERSION ($FLAVOUR) from source; this takes ~15 min on 2 cores"
  TMP="$(mktemp -d)"
  trap 'rm -rf "$TMP"' EXIT
  "${PIP[@]}" download -q --no-deps --no-binary mmcv --no-build-isolation \
    "mmcv==$MMCV_VERSION" -d "$TMP"
  tar -xzf "$TMP"/mmcv-"$MMCV_VERSION".tar.gz -C "$TMP"
  SRC="$TMP/mmcv-$MMCV_VERSION"
  # torch >= 2.14 headers #error below C++20; mmcv's flag comes last so only a patch works.
  sed -i 's/-std=c++17/-std=c++20/g' "$SRC/setup.py"
  grep -q -- '-std=c++20' "$SRC/setup.py" || { log "C++20 patch did not apply"; exit 1; }
  export MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-$(nproc)}"
  if [[ "$FLAVOUR" == cpu ]]; then
    # A CUDA torch wheel on a GPU node would otherwise pick the CUDA branch.
    export CUDA_VISIBLE_DEVICES=
  else
    export FORCE_CUDA=1
  fi
  "${PIP[@]}" wheel -q --no-build-isolation --no-deps -w "$TMP/dist" "$SRC"
  cp "$TMP"/dist/mmcv-"$MMCV_VERSION"-*.whl "$CACHE_DIR"/
  unset CUDA_VISIBLE_DEVICES FORCE_CUDA
else
  log "reusing cached mmcv wheel from $CACHE_DIR"
fi

log "installing mmcv, mmengine, mmdet and this project"
"${PIP[@]}" install -q "$CACHE_DIR"/mmcv-"$MMCV_VERSION"-*.whl \
  -r "$REPO/requirements/openmmlab.txt"
"${PIP[@]}" install -q --no-build-isolation --no-deps -e "$REPO"

"$PY" - <<'PY'
import mmcv, mmdet, mmengine, torch
from mmcv.ops import nms  # noqa: F401  (fails if the compiled ops are missing)
import mmdet_ext  # noqa: F401
print(f'[setup] ok: torch {torch.__version__}, mmcv {mmcv.__version__}, '
      f'mmengine {mmengine.__version__}, mmdet {mmdet.__version__}')
PY
requirements_digest > "$STAMP"
if [[ ! -d "$SITE_CACHE" ]]; then
  log "caching site-packages in $SITE_CACHE"
  mkdir -p "$SITE_CACHE.tmp"
  cp -al "$(site_packages "$PY")/." "$SITE_CACHE.tmp/" 2>/dev/null \
    || cp -a "$(site_packages "$PY")/." "$SITE_CACHE.tmp/"
  mv "$SITE_CACHE.tmp" "$SITE_CACHE"
fi
