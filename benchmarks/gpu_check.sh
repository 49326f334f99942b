#!/usr/bin/env bash
# The one call on a lent GPU machine (benchmarks/README.md, "GPU check"): install the wheels carried
# in .whl/ (the machine has no network), then run benchmarks/gpu_check.py on CUDA. Results land in
# $OUT (the device tool brings back at most 8 files): gpu_check.json, its log, nvidia-smi's line,
# and the results.json of the two benchmarks it runs. Extra arguments go to gpu_check.py.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/gpu_check_out}
mkdir -p "$OUT"
if [ -z "${NO_WHEELS:-}" ] && compgen -G ".whl/*.whl" >/dev/null; then  # NO_WHEELS=1: rehearsal
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 \
  TOKENIZERS_PARALLELISM=false
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv \
  >"$OUT/nvidia-smi.csv" 2>&1
python3 -c "import torch, transformers, tokenizers, plotly, specviz; print('torch', torch.__version__,
'transformers', transformers.__version__, 'tokenizers', tokenizers.__version__, 'plotly',
plotly.__version__, 'cuda', torch.cuda.is_available())" || exit 1
BENCH=/tmp/gpu_check_bench
python3 benchmarks/gpu_check.py --device cuda --out "$OUT/gpu_check.json" --bench-dir "$BENCH" "$@" \
  2>&1 | tee "$OUT/gpu_check.log"
status=$?
for part in bench_api bench_cli; do
  [ -f "$BENCH/$part/results.json" ] && cp "$BENCH/$part/results.json" "$OUT/${part}_results.json"
done
exit $status
