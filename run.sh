#!/usr/bin/env bash
# Set up specviz once, then open the course, run it headless, or run the tests.
#
#   ./run.sh [ARGS]       set up, fetch the bundled models, open the notebooks in JupyterLab
#                         (ARGS go to `jupyter lab`, e.g. --port 8890 --no-browser)
#   ./run.sh --execute    set up, then run every notebook headless into build/notebooks/
#   ./run.sh --test       set up, then run the whole test suite (unit, slow and notebook tests)
#   ./run.sh --test-newest
#                         in a venv of its own (.venv-newest), the newest versions pyproject.toml
#                         allows, then the Hugging Face comparisons and the notebooks
#
# Setting up means: a virtual environment in .venv (SPECVIZ_VENV to move it), torch (kept if the
# environment already has one; TORCH_REQUIREMENT to choose, e.g. a CUDA build), specviz with its
# notebook and test extras at the versions its tests last passed with (constraints.txt;
# SPECVIZ_NEWEST=1 takes the newest allowed instead), and the bundled models converted into the
# cache (once).
set -euo pipefail
cd "$(dirname "$0")"

mode=${1:-}
newest=${SPECVIZ_NEWEST:-}
if [ "$mode" = --test-newest ]; then
    newest=1
fi
venv=${SPECVIZ_VENV:-$([ -n "$newest" ] && echo .venv-newest || echo .venv)}
if [ ! -x "$venv/bin/python" ]; then
    "${PYTHON:-python3}" -m venv "$venv"
fi
# shellcheck disable=SC1091
. "$venv/bin/activate"

# pip's notices about index locations it cannot use say nothing a learner can act on
export PIP_DISABLE_PIP_VERSION_CHECK=1
constraints=()
[ -n "$newest" ] || constraints=(-c constraints.txt)
stamp="$venv/.specviz-installed"
wanted=$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)-${newest:-locked}
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
    echo "run.sh: installing specviz into $venv ($([ -n "$newest" ] && echo "newest allowed versions" \
        || echo "versions from constraints.txt"))"
    python -m pip install --quiet --upgrade pip
    python -c "import torch" 2>/dev/null || python -m pip install --quiet "${TORCH_REQUIREMENT:-torch==2.13.0}"
    # newest: a fresh venv takes the newest allowed of every dependency anyway; --upgrade renews
    # the Hugging Face libraries of an older one (never torch: a newer one can be a CUDA build)
    upgrade=()
    [ -z "$newest" ] || upgrade=(--upgrade transformers tokenizers accelerate gguf)
    # ${a[@]+"${a[@]}"}: an empty array is no error under set -u in the bash of macOS (3.2) either
    python -m pip install --quiet ${upgrade[@]+"${upgrade[@]}"} ${constraints[@]+"${constraints[@]}"} \
        -e ".[notebooks,test]"
    echo "$wanted" > "$stamp"
fi
specviz prepare

tests=(python -m pytest -n 2 --dist loadfile -p no:cacheprovider -rs)
notebooks=(--nbval-lax --nbval-current-env --nbval-sanitize-with notebooks/sanitize.cfg)
case "$mode" in
    --test)
        # -rs: say which tests were skipped and why (the browser test, without Chromium)
        exec "${tests[@]}" tests notebooks "${notebooks[@]}"
        ;;
    --test-newest)
        echo "run.sh: testing against $(python -c 'import transformers as t; print("transformers", t.__version__)')"
        if "${tests[@]}" -m huggingface tests && "${tests[@]}" notebooks "${notebooks[@]}"; then
            echo "run.sh: the newest allowed versions pass the Hugging Face comparisons and the notebooks"
        else
            echo "run.sh: BROKEN with the newest allowed versions (see the failures above);" \
                 "the locked versions (constraints.txt) are what ./run.sh --test installs" >&2
            exit 1
        fi
        ;;
    --execute)
        exec python -m specviz.cli course --out build/notebooks
        ;;
    ""|-*)
        lab=(jupyter lab notebooks/ "$@")
        if [ "$(id -u)" = 0 ]; then
            echo "run.sh: running as root (a container?): starting JupyterLab with --allow-root"
            lab+=(--allow-root)
        fi
        exec "${lab[@]}"
        ;;
    *)
        echo "usage: ./run.sh [--execute | --test | --test-newest | JUPYTER-LAB-OPTIONS]" >&2
        exit 2
        ;;
esac
