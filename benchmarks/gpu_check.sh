#!/usr/bin/env bash
# GPU check: the CUDA-only checks, the MFU benchmark (20M and 124M presets) and the first
# arm of config/config.yaml for a few minutes, in one run of at most ~8 minutes on one GPU.
# Writes every number under OUT_DIR (default results/gpu_check/<UTC time>/) with a
# summary.md to copy into docs/benchmarks.md. Run it only on a machine with CUDA: without
# one it says so and exits 2 (the CUDA tests themselves skip cleanly without CUDA).
#
#   bash benchmarks/gpu_check.sh                 # from the repository root
#   OUT_DIR=/tmp/gpu TRAIN_S=180 bash benchmarks/gpu_check.sh
#
# Budget (seconds, environment): TEST_S (CUDA tests, 150), BENCH_S (each MFU benchmark,
# 120), TRAIN_S (config.yaml's first arm including the stages before it, 180).
# With more than one GPU the arm trains under DDP on all of them (resources gpu=N).
set -uo pipefail

cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
OUT_DIR="${OUT_DIR:-results/gpu_check/$(date -u +%Y%m%dT%H%M%SZ)}"
TEST_S="${TEST_S:-150}" BENCH_S="${BENCH_S:-120}" TRAIN_S="${TRAIN_S:-180}"
SUMMARY="$OUT_DIR/summary.md"

n_gpus=$(python -c "import torch; print(torch.cuda.device_count() if torch.cuda.is_available() else 0)")
if [ "$n_gpus" -lt 1 ]; then
    echo "gpu_check: no CUDA device visible to torch; nothing to measure (not run: no GPU)" >&2
    exit 2
fi
mkdir -p "$OUT_DIR"

{
    echo "# GPU check $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo
    echo "- commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
    python -c "import torch; print(f'- torch {torch.__version__}, CUDA {torch.version.cuda}, {torch.cuda.device_count()} × {torch.cuda.get_device_name(0)}')"
    echo
} >"$SUMMARY"
nvidia-smi >"$OUT_DIR/nvidia-smi.txt" 2>&1 || true

step() {  # step NAME SECONDS COMMAND...: run with a time limit, log, record status and wall time
    local name=$1 limit=$2
    shift 2
    local t0=$SECONDS rc
    timeout --signal=INT --kill-after=20 "$limit" "$@" >"$OUT_DIR/$name.log" 2>&1
    rc=$?
    local status="ok"
    [ $rc -eq 124 ] && status="stopped at the ${limit} s limit"
    [ $rc -ne 0 ] && [ $rc -ne 124 ] && status="failed (exit $rc)"
    echo "## $name: $status, $((SECONDS - t0)) s" >>"$SUMMARY"
    echo >>"$SUMMARY"
    return $rc
}

# 1. CUDA-only checks: bf16 + torch.compile step with fused AdamW; SDPA vs eager logits,
#    fresh and after a trained model is reloaded eager (as the attention dump does).
step cuda_tests "$TEST_S" python -m pytest tests/gpu -q -rs -p no:cacheprovider
grep -E "passed|failed|skipped|error" "$OUT_DIR/cuda_tests.log" | tail -1 | sed 's/^/    /' >>"$SUMMARY"
echo >>"$SUMMARY"

# 2. Tokens/s and MFU of tokattn's loop against a bare PyTorch loop (compile + bf16 + SDPA).
for preset in 20m 124m; do
    step "bench_$preset" "$BENCH_S" python benchmarks/bench_train_step.py \
        --preset "$preset" --device cuda --repeats 2
    grep -E "tokens/s|MFU|ratio|params" "$OUT_DIR/bench_$preset.log" | sed 's/^/    /' >>"$SUMMARY"
    echo >>"$SUMMARY"
done

# 3. config/config.yaml's first arm, seed 0, for TRAIN_S seconds (corpus, tokenizer and
#    pre-tokenization first if missing). A stop at the limit leaves a checkpoint that the
#    next run resumes from; the train log (if it got that far) has the throughput.
arm=$(python -c "import yaml; print(yaml.safe_load(open('config/config.yaml'))['models'][0]['name'])")
target=$(snakemake -n --configfile config/config.yaml --cores 1 2>/dev/null \
    | grep -oE "[^ ,]*models/$arm/seed[0-9]+/model\.safetensors" | head -1)
if [ -z "$target" ]; then
    echo "## config_arm: no training job for arm $arm planned (already trained?)" >>"$SUMMARY"
else
    step config_arm "$TRAIN_S" snakemake "$target" --cores all \
        --configfile config/config.yaml --set-resources "train_model:gpu=$n_gpus"
    {
        echo "    arm $arm → $target on $n_gpus GPU(s)$([ "$n_gpus" -gt 1 ] && echo ' (DDP)')"
        log="$(dirname "$target")/train_log.csv"
        [ -f "$log" ] && tail -n 3 "$log" | sed 's/^/    /'
        # Stopped early: the rule's own log (progress with tokens/s) is the record.
        find results -path "*logs*" -path "*$arm*" -name '*.log' -newer "$OUT_DIR/cuda_tests.log" \
            2>/dev/null | while read -r f; do
            echo "    $f:"
            tail -c 2000 "$f" | tr '\r' '\n' | grep -v '^\s*$' | tail -n 3 | sed 's/^/      /'
        done
    } >>"$SUMMARY"
fi
[ "$n_gpus" -lt 2 ] && printf '\n## ddp: not run (%s GPU; DDP needs at least 2)\n' "$n_gpus" >>"$SUMMARY"

echo "gpu_check: results in $OUT_DIR (summary.md)"
cat "$SUMMARY"
