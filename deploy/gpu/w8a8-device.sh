#!/usr/bin/env bash
# W8A8 SmoothQuant on the GPU machine in one device call (about 2 minutes warm; docs/int8.md, docs/benchmarks.md):
#   deploy/gpu/run-gpu.sh pack          here: build and pack .device/cuda/ (this script included)
#   bash .device/cuda/w8a8-device.sh    there (run tool, carry the packed folder):
#     1. GPU tests: CudaW8a8Test (kernels vs twins, GEMM vs double matmul, calibration, whole models vs transformers)
#        plus the tests that share the changed step (CudaGraphTest, CudaInt8Test; TEST_CLASSES="A B" overrides, "all" runs
#        the whole GPU package)
#     2. llmc generate --device cuda --quantize w8a8 on the embedded tiny Llama, and the CPU refusal; compute-sanitizer
#        memcheck over the W8A8 kernel tests (MEMCHECK=0 skips)
#     3. bench_gpu.py make --skip-hf: the 8B-shaped FP16 random model and the PyTorch references (torch.matmul FP16,
#        torch._int_mm, eager torch W8A8) on the projection shapes at M = 2048
#     4. W8a8Bench: FP16 vs W8A8 prefill TTFT at 2048 tokens, batch-1 decode, GEMMs at M = 2048 with the W8A8 parts
# Logs in $OUT: w8a8-tests.log, w8a8-cli.log, w8a8-memcheck.log, bench-py.log, w8a8-bench.log.
set -uo pipefail
b=$(cd "$(dirname "$0")" && pwd)
source "$b/device-env.sh"
t0=$SECONDS
sel=()
for c in ${TEST_CLASSES:-CudaW8a8Test CudaGraphTest CudaInt8Test}; do sel+=(--select-class "io.llmcluster.worker.cuda.$c"); done
[[ ${TEST_CLASSES:-} == all ]] && sel=(--select-package io.llmcluster.worker.cuda)
timeout "${TEST_TIMEOUT_S:-100}" "$java" "${flags[@]}" -cp "$b/test-classes:$b/lib/*" org.junit.platform.console.ConsoleLauncher \
  execute --disable-banner --disable-ansi-colors --details=tree "${sel[@]}" > "$out/w8a8-tests.log" 2>&1
trc=$?
echo "tests rc=$trc in $((SECONDS - t0)) s"
grep -E '^\[(w8a8|int8)\]' "$out/w8a8-tests.log" | cut -c1-170
grep -E '✘|=> |tests (successful|failed|skipped)' "$out/w8a8-tests.log" | cut -c1-500 | head -40
t0=$SECONDS
{
  timeout 60 "$java" "${flags[@]}" -cp "$b/lib/*:$b/cli/*" io.llmcluster.cli.Main generate --device cuda --quantize w8a8 \
    --prompt "The GPU" --max-tokens 12 --temperature 0; echo "rc=$?"
  timeout 30 "$java" "${flags[@]}" -cp "$b/lib/*:$b/cli/*" io.llmcluster.cli.Main generate --device cpu --quantize w8a8 \
    --prompt "The GPU"; echo "rc=$? (2 expected: w8a8 needs CUDA)"
} > "$out/w8a8-cli.log" 2>&1
grep -v -E '^WARNING|SLF4J' "$out/w8a8-cli.log" | cut -c1-400
echo "cli in $((SECONDS - t0)) s"
if [[ ${MEMCHECK:-1} == 1 ]]; then  # compute-sanitizer over the W8A8 kernel tests
  t0=$SECONDS
  m=io.llmcluster.worker.cuda.CudaW8a8Test
  timeout "${MEMCHECK_TIMEOUT_S:-60}" compute-sanitizer --tool memcheck --error-exitcode 99 "$java" "${flags[@]}" \
    -cp "$b/test-classes:$b/lib/*" org.junit.platform.console.ConsoleLauncher execute --disable-banner --disable-ansi-colors \
    --details=summary --select-method "$m#shouldQuantizeWeightsAndActivationsExactlyLikeTheTwin(io.llmcluster.worker.cuda.CudaDtype)" \
    --select-method "$m#shouldFoldColumnMaximaIntoTheRunningMaximum(io.llmcluster.worker.cuda.CudaDtype)" \
    --select-method "$m#shouldMultiplyLikeADoubleMatmulOfTheDequantizedOperands(io.llmcluster.worker.cuda.CudaDtype)" \
    > "$out/w8a8-memcheck.log" 2>&1
  echo "memcheck rc=$? in $((SECONDS - t0)) s: $(grep -o 'ERROR SUMMARY: [0-9]* error[s]*' "$out/w8a8-memcheck.log" | tail -1)" \
    "$(grep -E 'tests (successful|failed)' "$out/w8a8-memcheck.log" | tr -s ' ' | paste -sd' ')"
  grep -E '========= (Invalid|Program hit|    at)' "$out/w8a8-memcheck.log" | head -10
fi
[[ ${BENCH:-1} == 1 ]] || exit 0
t0=$SECONDS
PYTHONUNBUFFERED=1 timeout "${BENCH_PY_TIMEOUT_S:-90}" python3 "$b/bench/bench_gpu.py" make --skip-hf --model /tmp/llama8b \
  --tokenizer "$b/bench/tokenizer-32k" > "$out/bench-py.log" 2>&1
echo "python references rc=$? in $((SECONDS - t0)) s"
grep -E 'torch_(matmul|int_mm|w8a8)_.*m2048|model_write_s|hbm' "$out/bench-py.log"
t0=$SECONDS
timeout "${BENCH_JAVA_TIMEOUT_S:-100}" "$java" "${flags[@]}" -Xmx16g -cp "$b/lib/*" io.llmcluster.worker.cuda.W8a8Bench /tmp/llama8b 2048 \
  > "$out/w8a8-bench.log" 2>&1
echo "java W8a8Bench rc=$? in $((SECONDS - t0)) s"
grep -v '^WARNING' "$out/w8a8-bench.log" | cut -c1-400
