#!/usr/bin/env bash
# Create the virtual env for the peer simulators (NEST, Brian2) used by perf/peers/*.py.
#
#   perf/peers/setup.sh [VENV_DIR]      # default: .venv-peers at the repository root
#
# A separate env because Brian2 does not import with numpy >= 2.4, and because eventsim's own env
# should not carry NEST. The peer scripts need no eventsim: run them with VENV_DIR/bin/python.
# Brian2's cython runtime target needs Cython and setuptools; its cpp_standalone target needs a C++
# compiler (g++) on PATH, which pip cannot install.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="${1:-$root/.venv-peers}"
python="${PYTHON:-python3}"

if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --upgrade pip
"$venv/bin/python" -m pip install \
    "nest-simulator==3.10.*" \
    "brian2" \
    "numpy<2.4" \
    "cython" \
    "setuptools"

if ! command -v g++ >/dev/null 2>&1; then
    echo "setup.sh: no g++ on PATH: Brian2's cython and cpp_standalone targets will not work" >&2
fi
"$venv/bin/python" - <<'PY'
import importlib.metadata as md
import brian2, nest, numpy
print("peers env ready:", {p: md.version(p) for p in ("nest-simulator", "brian2", "numpy", "cython")})
PY
echo "use: $venv/bin/python perf/peers/nest_peer.py --help"
