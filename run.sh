#!/usr/bin/env bash
# Set up specviz once, then open the course, run it headless, or run the tests.
#
#   ./run.sh            set up, fetch the bundled models, open the notebooks in JupyterLab
#   ./run.sh --execute  set up, then run every notebook headless into build/notebooks/
#   ./run.sh --test     set up, then run the whole test suite (unit, slow and notebook tests)
#
# Setting up means: a virtual environment in .venv (SPECVIZ_VENV to move it), torch (kept if the
# environment already has one; TORCH_REQUIREMENT to choose, e.g. a CUDA build), specviz with its
# notebook and test extras, and the two bundled models converted into the cache (once).
set -euo pipefail
cd "$(dirname "$0")"

venv=${SPECVIZ_VENV:-.venv}
if [ ! -x "$venv/bin/python" ]; then
    "${PYTHON:-python3}" -m venv "$venv"
fi
# shellcheck disable=SC1091
. "$venv/bin/activate"

stamp="$venv/.specviz-installed"
wanted=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
    python -m pip install --quiet --upgrade pip
    python -c "import torch" 2>/dev/null || python -m pip install --quiet "${TORCH_REQUIREMENT:-torch==2.13.0}"
    python -m pip install --quiet -e ".[notebooks,test]"
    echo "$wanted" > "$stamp"
fi
specviz prepare

case "${1:-}" in
    --test)
        # -rs: say which tests were skipped and why (the browser test, without Chromium)
        exec python -m pytest -n 2 --dist loadfile tests notebooks --nbval-lax --nbval-current-env \
            --nbval-sanitize-with notebooks/sanitize.cfg -p no:cacheprovider -rs
        ;;
    --execute)
        exec python -m specviz.cli course --out build/notebooks
        ;;
    "")
        exec jupyter lab notebooks/
        ;;
    *)
        echo "usage: ./run.sh [--execute | --test]" >&2
        exit 2
        ;;
esac
