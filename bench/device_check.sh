#!/usr/bin/env bash
# The ONE prepared GPU check of the signals backend: run as is on a lent H100/H200, in under 9 minutes.
#
# Writes to $OUT (7 files): log.txt (every step's output), summary.json (steps, exit codes, seconds,
# and every bench result), and the benches' own JSON: signals_05b.json, signals_8b.json,
# signals_8b_hh.json, multi_model.json, embed.json. Each step has its own time limit, so the whole
# script stays under 9 minutes even when a step hangs.
#
# Steps: pytest -m gpu (tests/signals/test_gpu.py: CUDA scorer vs CPU, share_prompt, one worker per
# device, device_map="auto", GPU embeddings); bench/bench_signals_gpu.py on the Qwen2.5-0.5B and
# Llama-3-8B shapes (product path through a real signals job vs naive vs direct, MFU), the 8B shape
# on HH-shaped pairs with share_prompt, a two-model job; bench/bench_embed_gpu.py (MiniLM shape).
#
# Wheels: the device image has torch, transformers, sentence-transformers, pyarrow, typer, pytest;
# it lacks duckdb (the product path's store). Run bench/device_wheels.sh once where pip works, then
# call the device tool with carry [".whl"] and the command `bash bench/device_check.sh`.
set -uo pipefail
OUT=${OUT:-/tmp/curator_device_check}
mkdir -p "$OUT"
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
PY=${PYTHON:-python3}
if ls .whl/*.whl >/dev/null 2>&1; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    || echo "wheel install failed" >>"$OUT/log.txt"
  export PYTHONPATH=$PWD:/tmp/site
else
  export PYTHONPATH=$PWD
fi
LOG="$OUT/log.txt"
STEPS="$OUT/.steps.jsonl"
: >"$STEPS"
step() {  # step NAME LIMIT_S CMD...
  local name=$1 limit=$2 start rc
  shift 2
  start=$(date +%s)
  echo "=== $name (limit ${limit}s): $*" >>"$LOG"
  timeout "$limit" "$@" >>"$LOG" 2>&1
  rc=$?
  echo "{\"step\": \"$name\", \"rc\": $rc, \"seconds\": $(($(date +%s) - start))}" >>"$STEPS"
  echo "=== $name: rc $rc in $(($(date +%s) - start)) s" >>"$LOG"
}
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; $PY -c "import torch, transformers; print(torch.__version__, transformers.__version__)"; } >>"$LOG" 2>&1

step pytest_gpu 80 $PY -m pytest tests/signals/test_gpu.py -m gpu -q -p no:cacheprovider -W ignore::FutureWarning
step bench_05b 80 $PY bench/bench_signals_gpu.py --shapes qwen2.5-0.5b --pairs 4000 --json "$OUT/signals_05b.json"
step bench_8b 140 $PY bench/bench_signals_gpu.py --shapes llama-3-8b --pairs 800 --naive-pairs 200 \
  --json "$OUT/signals_8b.json"
step bench_8b_hh 130 $PY bench/bench_signals_gpu.py --shapes llama-3-8b --hh --pairs 800 --naive-pairs 200 \
  --json "$OUT/signals_8b_hh.json"
step multi_model 60 $PY bench/bench_signals_gpu.py --shapes qwen2.5-0.5b --models 2 --pairs 2000 --naive-pairs 200 \
  --json "$OUT/multi_model.json"
step embed 40 $PY bench/bench_embed_gpu.py --random --texts 50000 --naive-texts 5000 --json "$OUT/embed.json"

$PY - "$OUT" <<'PY'
import json, pathlib, sys
out = pathlib.Path(sys.argv[1])
steps = [json.loads(line) for line in (out / ".steps.jsonl").read_text().splitlines() if line.strip()]
results = {p.stem: json.loads(p.read_text()) for p in sorted(out.glob("*.json")) if p.name != "summary.json"}
(out / "summary.json").write_text(json.dumps({"steps": steps, "results": results}, indent=1))
print(json.dumps(steps))
PY
rm -f "$STEPS"
