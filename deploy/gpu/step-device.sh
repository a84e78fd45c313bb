#!/usr/bin/env bash
# One device call for the large-batch decode step (issue #6): the GPU tests of the touched parts, torch F.linear on the
# projection shapes at 64-512 rows (same-run reference), then GpuBench: decode_large (graph decode steps at 64-512, with
# the tuned cuBLASLt algorithms and with cublasGemmEx's own picks), step_ops (device ms per operation of one eager step
# at 64-512 and of an 8192-token prefill step) and the engine at 128 in / 128 out (and engine_nolt: cuBLASLt off).
# Staged like run-gpu.sh (pack, then copy .device/cuda to .device/<name>); logs to $OUT.
#   STEP_TESTS (comma list of test classes or Class#method(io.llmcluster.worker.cuda.Type); "none" skips)  STEP_CONC (256,512)  STEP_SECTIONS  STEP_BUDGETS (8192)
#   STEP_BENCH_FLAGS (JVM flags of GpuBench, e.g. -DGpuBench.decodeVariants=-,_oldattn)
#   STEP_TORCH (0; 1 runs linear_ref.py)  STEP_MEMCHECK (1: memcheck over the norm, rope and silu_mul kernel tests)
set -uo pipefail
b=$(cd "$(dirname "$0")" && pwd)
t0=$SECONDS
source "$b/device-env.sh"
make_bench_model > "$out/model.log" 2>&1 &
mpid=$!
tests=${STEP_TESTS:-CudaKernelsTest,CudaFusedSwigluTest,CudaGraphTest,CudaCublasLtTest,CudaEngineTest,CudaBackendReferenceTest,CudaKvInt8Test,CudaDependentLaunchTest,AttentionPlanTest,AutotunePolicyTest}
if [[ $tests != none ]]; then
  sel=(); IFS=, read -ra cls <<< "$tests" # Class, or Class#method(ParamTypes) for one test method
  for c in "${cls[@]}"; do [[ $c == *'#'* ]] && sel+=(--select-method "io.llmcluster.worker.cuda.$c") || sel+=(--select-class "io.llmcluster.worker.cuda.$c"); done
  timeout "${STEP_TEST_TIMEOUT_S:-150}" "$java" "${flags[@]}" -cp "$b/test-classes:$b/lib/*" org.junit.platform.console.ConsoleLauncher \
    execute --disable-banner --disable-ansi-colors --details=tree "${sel[@]}" > "$out/tests.log" 2>&1
  echo "GPU tests rc=$? in $((SECONDS - t0)) s"
  grep -E '✘|tests (successful|failed|skipped)|=> |\[kernels\] cuBLASLt' "$out/tests.log" | cut -c1-300 | head -30
fi
if [[ ${STEP_MEMCHECK:-1} == 1 ]]; then # the kernels this work changed: norms, silu_mul, rope_kv_write
  m=io.llmcluster.worker.cuda.CudaKernelsTest; d='(io.llmcluster.worker.cuda.CudaDtype)'
  timeout 90 compute-sanitizer --tool memcheck --error-exitcode 99 "$java" "${flags[@]}" -cp "$b/test-classes:$b/lib/*" \
    org.junit.platform.console.ConsoleLauncher execute --disable-banner --disable-ansi-colors --details=summary \
    --select-method "$m#shouldMatchTheCpuRmsNormWithAndWithoutResidualAndForGatheredRows$d" \
    --select-method "$m#shouldApplyRopeAndWriteKvIntoTheRightSlotsOnly$d" --select-method "$m#shouldMatchTheCpuSiluMulAndBiasAdd$d" \
    > "$out/memcheck.log" 2>&1
  echo "memcheck rc=$? $(grep -E 'ERROR SUMMARY' "$out/memcheck.log" | tail -1) $(grep -E 'tests (successful|failed)' "$out/memcheck.log" | tr -s ' ' | tr '\n' ' ')"
fi
wait $mpid; echo "model rc=$? in $((SECONDS - t0)) s"; tail -2 "$out/model.log"
if [[ ${STEP_TORCH:-0} != 0 ]]; then
  timeout 60 python3 "$b/bench/linear_ref.py" > "$out/linear-ref.log" 2>&1; echo "linear_ref rc=$?"
fi
t1=$SECONDS
timeout "${STEP_JAVA_TIMEOUT_S:-200}" "$java" "${flags[@]}" ${STEP_BENCH_FLAGS:-} -Xmx24g -cp "$b/lib/*" io.llmcluster.worker.cuda.GpuBench /tmp/llama8b \
  "${STEP_CONC:-256,512}" 1024 "${STEP_SECTIONS:-decode_large,step_ops,engine}" "${STEP_BUDGETS:-8192}" \
  > "$out/bench-java.log" 2>&1
echo "GpuBench rc=$? in $((SECONDS - t1)) s"
grep -E '^\[autotune\] f16 none [0-9x]+ m(128|256|512)' "$out/bench-java.log" | cut -c1-260
grep -E '^(decode_graphs[a-z0-9_]*_device_ms|engine_.*(tok_s|busy)|step_ops.*_(attention|gate_up_swiglu|norm|rope_kv|total)_ms|load_s)|Exception|Error' \
  "$out/bench-java.log" | cut -c1-200
grep -E '_us=' "$out/linear-ref.log" 2>/dev/null | tr '\n' ' '; echo
echo "total $((SECONDS - t0)) s"
