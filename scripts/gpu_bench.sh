#!/usr/bin/env bash
# The GPU benchmarks of issue 18 in one call: training (our runner vs plain TRL, packed and padded, LoRA and full
# fine-tuning, the speed switches' loss curve) and generation (our engine vs plain model.generate), on a random
# ~1.1B Llama of TinyLlama's shape built from its config on the GPU (nothing is downloaded).
#
#   scripts/gpu_bench.sh prepare   here, with PyPI: wheels the GPU machine lacks and the T0 data into .gpubench/
#   scripts/gpu_bench.sh run       on the GPU machine (about 9 minutes); figures and logs go to $OUT (or ./gpubench-out)
#
# With this workplace's device tool, from the repository root the session was started in:
#   scripts/gpu_bench.sh prepare
#   run(command="bash scripts/gpu_bench.sh run", carry=[".gpubench"], timeout_s=590)
#
# What travels (.gpubench/, about 36 MB; git ignores it): wheels of our pins of transformers, tokenizers, peft,
# trl and datasets, with datasets' dill and multiprocess, and liger-kernel (the optional GPU extra); and
# t0_train_50k.jsonl.gz from ../shared/data. The machine's own torch (with triton), accelerate, huggingface-hub,
# safetensors, pyarrow, pandas and xxhash are used as they are. vLLM is not carried (too large): the engine's vLLM
# path is not measured by this script.
#
# Stages, most important first, each with its own time limit so a slow one cannot eat the others (their figures are
# in $OUT after each stage):
#   1. preflight: versions, the GPU, and the speed plan a run would get (varlen FlashAttention and Liger Kernel
#      self-tests pass or say why not)
#   2. tuning:   python -m benchmarks tuning --gpu-only (benchmarks/tuning_gpu.py lists its stages)
#   3. generation at batch 512, 512 prompts x 128 new tokens: our engine with continuous batching (static cache
#      off) vs model.generate
#   4. the same with our engine's GPU defaults (static cache, compiled decoding), two repeats (the first compiles)
#   5. generation at batch 64 (the batch of the generation job before issue 18), if time is left
set -uo pipefail
cd "$(dirname "$0")/.."
HERE=$(pwd)
WORK=.gpubench
PINS=(transformers==5.23.0 tokenizers==0.23.3 peft==0.21.2 trl==1.16.0 datasets==5.2.0 dill==0.4.1
      multiprocess==0.70.19 liger-kernel==0.8.5)

prepare() {
  mkdir -p "$WORK/wheels" "$WORK/data"
  local python=${PYTHON:-.venv/bin/python}
  [ -x "$python" ] || python=python3
  for pin in "${PINS[@]}"; do
    "$python" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
      --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
      --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d "$WORK/wheels" "$pin" || exit 1
  done
  cp ../shared/data/t0-train-50k/t0_train_50k.jsonl.gz "$WORK/data/" || exit 1
  du -sh "$WORK"
  echo "now: run(command=\"bash scripts/gpu_bench.sh run\", carry=[\"$WORK\"], timeout_s=590)"
}

stage() {  # stage NAME SECONDS COMMAND...: run with a time limit; output to $OUT/stages.log (at most 8 files
  # come back from $OUT: summary.log, stages.log and the four JSON files)
  local name=$1 limit=$2
  shift 2
  local left=$((DEADLINE - SECONDS))
  if [ "$left" -lt 30 ]; then
    echo "== $name: skipped, ${left}s left" | tee -a "$OUT/summary.log"
    return
  fi
  [ "$limit" -gt "$left" ] && limit=$left
  echo "== $name (at most ${limit}s)" | tee -a "$OUT/summary.log"
  local started=$SECONDS
  echo "==== $name" >> "$OUT/stages.log"
  timeout --kill-after=10 "$limit" "$@" > "$OUT/stage.tmp" 2>&1
  echo "== $name: exit $? after $((SECONDS - started))s" | tee -a "$OUT/summary.log"
  cat "$OUT/stage.tmp" >> "$OUT/stages.log"
  tail -n 25 "$OUT/stage.tmp"
  rm -f "$OUT/stage.tmp"
}

run() {
  OUT=${OUT:-$HERE/gpubench-out}
  mkdir -p "$OUT"
  DEADLINE=$((SECONDS + ${GPU_BENCH_SECONDS:-560}))
  local python=${PYTHON:-python3}
  if [ -z "${GPU_BENCH_NO_INSTALL:-}" ]; then  # (set for a dry run where the wheels are already installed)
    "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
      "$WORK"/wheels/*.whl || exit 1
    export PYTHONPATH=/tmp/site
  fi
  export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
  export TUNELOOP_T0=$HERE/$WORK/data/t0_train_50k.jsonl.gz
  stage preflight 60 "$python" - <<'PY'
import json, platform, subprocess
import torch, transformers, trl, peft, datasets, accelerate
print(json.dumps({"python": platform.python_version(), "torch": torch.__version__, "cuda": torch.version.cuda,
                  "gpu": torch.cuda.get_device_name(), "transformers": transformers.__version__, "trl": trl.__version__,
                  "peft": peft.__version__, "datasets": datasets.__version__, "accelerate": accelerate.__version__}))
print(subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,memory.used,clocks.sm", "--format=csv"],
                     capture_output=True, text=True).stdout)
from transformers import LlamaConfig
from worker.training import liger, packed_attention
print("varlen FlashAttention:", packed_attention.fused_kernel_problem("cuda", torch.bfloat16) or "ok")
print("Liger Kernel:", liger.problem(True, LlamaConfig(num_key_value_heads=4)) or "ok")
PY
  stage tuning 300 "$python" -m benchmarks tuning --gpu-only --budget 250 --out "$OUT/tuning_gpu.json"
  # Continuous batching first: it compiles nothing, so it surely finishes; the compiled static path then gets the
  # rest (its first repeat pays the compilations; per-repeat figures are in stages.log even if it is cut short).
  stage generation_512_continuous 75 "$python" -m benchmarks generation --gpu --batch 512 --repeats 1 \
    --static off --out "$OUT/generation_512_continuous.json"
  stage generation_512 200 "$python" -m benchmarks generation --gpu --batch 512 --repeats 2 \
    --out "$OUT/generation_512.json"
  stage generation_64 90 "$python" -m benchmarks generation --gpu --batch 64 --repeats 1 \
    --out "$OUT/generation_64.json"
  cat "$OUT/summary.log"
}

case "${1:-}" in
  prepare) prepare ;;
  run) run ;;
  *) echo "usage: $0 prepare|run" >&2; exit 2 ;;
esac
