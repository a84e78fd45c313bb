#!/usr/bin/env bash
# Batch-1 decode check in one short device call, with main's projection kernels as the same-run reference:
#   1. bench_gpu.py make, model and HBM read bandwidth only (BENCH_PY_KERNELS=0); once the bandwidth is measured,
#      the GPU tests (TEST_CLASSES, default: the classes that cover the GEMV / skinny / norm / RoPE kernels and the
#      PDL chain) run while the model is written;
#   2. the reference: ProjectionBench of the jars in lib-main/ (gpu-worker and kernels of another build, e.g.
#      main's; optional: with them the carry can pass 64 MiB) for f16, stopped once its batch-1 lines are out;
#   3. ProjectionBench of this bundle (PROJ_MODES, default f16,int8-ch; PROJ_MS token counts, default 1);
#   4. compute-sanitizer memcheck over MEMCHECK_CLASS (default CudaFusedSwigluTest), if MEMCHECK=1.
#   deploy/gpu/run-gpu.sh pack; cp -r .device/cuda <checkout>/.device/NAME; cp main's jars to .device/NAME/lib-main/
#   run tool, carry [".device/NAME"]: bash .device/NAME/b1-check.sh
# Logs in $OUT: py.log, tests.log, proj-main.log, proj.log, memcheck.log.
set -uo pipefail
b=$(cd "$(dirname "$0")" && pwd)
source "$b/device-env.sh"
flags+=(-Xmx16g)
t0=$SECONDS
BENCH_PY_KERNELS=0 PYTHONUNBUFFERED=1 timeout "${PY_TIMEOUT_S:-90}" python3 "$b/bench/bench_gpu.py" make \
  --model /tmp/llama8b --tokenizer "$b/bench/tokenizer-32k" > "$out/py.log" 2>&1 &
py=$!
for _ in $(seq 1 60); do grep -q hbm_copy_rw_gbs "$out/py.log" 2>/dev/null && break; sleep 1; done
select=()
classes=${TEST_CLASSES:-CudaKernelsTest,CudaInt8Test,CudaFusedSwigluTest,CudaDependentLaunchTest,CudaGraphTest,CudaKvInt8Test}
for c in ${classes//,/ }; do
  select+=(--select-class "io.llmcluster.worker.cuda.${c}")
done
timeout "${TEST_TIMEOUT_S:-90}" "$java" "${flags[@]}" -cp "$b/test-classes:$b/lib/*" org.junit.platform.console.ConsoleLauncher \
  execute --disable-banner --disable-ansi-colors --details=tree "${select[@]}" > "$out/tests.log" 2>&1
echo "tests rc=$? at $((SECONDS - t0)) s"
grep -E '✘|MethodSource|tests (successful|failed)|^\[cuda\]' "$out/tests.log" | grep -v '✔' | cut -c1-300 | tail -30
wait $py; echo "model rc=$? at $((SECONDS - t0)) s"; grep -E '^(hbm|model)' "$out/py.log"
# main's kernels as the reference: its ProjectionBench prints the batch-1 lines first, then sweeps (not needed)
if compgen -G "$b/lib-main/*.jar" > /dev/null; then
  "$java" "${flags[@]}" -cp "$b/lib-main/*:$b/lib/*" io.llmcluster.worker.cuda.ProjectionBench /tmp/llama8b f16 \
    > "$out/proj-main.log" 2>&1 &
  pm=$!
  for _ in $(seq 1 "${MAIN_TIMEOUT_S:-45}"); do
    grep -q 'f16_decode_b1_prefetch65536_ms\|prefetch_error' "$out/proj-main.log" 2>/dev/null && break
    kill -0 $pm 2>/dev/null || break; sleep 1
  done
  kill $pm 2>/dev/null; wait $pm 2>/dev/null
  echo "main reference at $((SECONDS - t0)) s"; grep -E '_decode_b1' "$out/proj-main.log"
fi
timeout "${PROJ_TIMEOUT_S:-90}" "$java" "${flags[@]}" -cp "$b/lib/*" io.llmcluster.worker.cuda.ProjectionBench /tmp/llama8b \
  "${PROJ_MODES:-f16,int8-ch}" "${PROJ_MS:-1}" > "$out/proj.log" 2>&1
echo "ProjectionBench rc=$? at $((SECONDS - t0)) s"
grep -E '_decode_b1|_m1_(kernel|ours|cublas|best|same)|autotune\] .* m1:' "$out/proj.log" | cut -c1-260
if [[ ${MEMCHECK:-1} == 1 ]]; then
  timeout "${MEMCHECK_TIMEOUT_S:-45}" compute-sanitizer --tool memcheck --error-exitcode 99 "$java" "${flags[@]}" \
    -cp "$b/test-classes:$b/lib/*" org.junit.platform.console.ConsoleLauncher execute --disable-banner \
    --disable-ansi-colors --details=summary --select-class "io.llmcluster.worker.cuda.${MEMCHECK_CLASS:-CudaFusedSwigluTest}" \
    > "$out/memcheck.log" 2>&1
  echo "memcheck rc=$? at $((SECONDS - t0)) s: $(grep -o 'ERROR SUMMARY: [0-9]* error[s]*' "$out/memcheck.log" | tail -1)"
  grep -E 'tests (successful|failed)' "$out/memcheck.log"
fi
