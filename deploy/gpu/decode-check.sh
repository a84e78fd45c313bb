#!/usr/bin/env bash
# The batch-1 decode targets of issue #6 in one short device call: the GPU test suite (package
# io.llmcluster.worker.cuda; TEST_CLASSES=a,b,... narrows it to some classes), optionally compute-sanitizer memcheck
# over the fused kernels (MEMCHECK=1), then the benchmark's decode parts only: bench_gpu.py make (model + HBM
# bandwidth), GpuBench's decode section, ProjectionBench (FP16 and INT8, with the PDL / fused SwiGLU variants).
#   deploy/gpu/run-gpu.sh pack; cp -r .device/cuda <checkout>/.device/NAME
#   run tool, carry [".device/NAME"]: bash .device/NAME/decode-check.sh
# Logs in $OUT (tests.log, memcheck.log, bench-*.log).
set -uo pipefail
b=$(cd "$(dirname "$0")" && pwd)
source "$b/device-env.sh"
cp="$b/test-classes:$b/lib/*"
select=(--select-package io.llmcluster.worker.cuda)
if [[ -n ${TEST_CLASSES:-} ]]; then
  select=(); for c in ${TEST_CLASSES//,/ }; do select+=(--select-class "io.llmcluster.worker.cuda.$c"); done
fi
t0=$SECONDS
timeout "${TEST_TIMEOUT_S:-150}" "$java" "${flags[@]}" -cp "$cp" org.junit.platform.console.ConsoleLauncher execute \
  --disable-banner --disable-ansi-colors --details=tree "${select[@]}" > "$out/tests.log" 2>&1
echo "tests rc=$? in $((SECONDS - t0)) s"
grep -E '^\[(cuda|int8)\]|swiglu|✘|MethodSource|tests (successful|failed)' "$out/tests.log" | grep -v '✔' | cut -c1-300 | tail -40
if [[ ${MEMCHECK:-0} == 1 ]]; then
  t0=$SECONDS
  timeout "${MEMCHECK_TIMEOUT_S:-90}" compute-sanitizer --tool memcheck --error-exitcode 99 "$java" "${flags[@]}" -cp "$cp" \
    org.junit.platform.console.ConsoleLauncher execute --disable-banner --disable-ansi-colors --details=summary \
    --select-class io.llmcluster.worker.cuda.CudaFusedSwigluTest > "$out/memcheck.log" 2>&1
  echo "memcheck rc=$? in $((SECONDS - t0)) s: $(grep -o 'ERROR SUMMARY: [0-9]* error[s]*' "$out/memcheck.log" | tail -1)"
fi
BENCH_SKIP_HF=1 BENCH_SECTIONS=decode BENCH_STEADY_S=0 BENCH_CONC=1 BENCH_LONG=1024 bash "$b/bench-gpu.sh"
grep -E '_decode_b1|pdl|decode_graphs' "$out"/bench-*.log | cut -c1-200
