#!/usr/bin/env bash
# One device call for the engine-throughput work of issue #6 (GPU sampling in the engine, fill phase, chunks off the
# engine thread): the engine's GPU tests, then GpuBench's decode_large and engine sections at 128/128 and the steady
# 64-stream load. Staged like run-gpu.sh (pack, then copy .device/cuda to any .device/<name>); logs to $OUT.
#   ENGINE_CONC (default 64,128,256,512)  ENGINE_BUDGETS (default 2048,8192)  ENGINE_STEADY_S (default 5; 0 skips; warm-up 2 s)
set -uo pipefail
b=$(cd "$(dirname "$0")" && pwd)
t0=$SECONDS
source "$b/device-env.sh"
# the 8B-shaped random model, without the PyTorch kernel references (not needed for the engine numbers)
make_bench_model > "$out/model.log" 2>&1 &
mpid=$!
timeout 70 "$java" "${flags[@]}" -cp "$b/test-classes:$b/lib/*" org.junit.platform.console.ConsoleLauncher execute \
  --disable-banner --disable-ansi-colors --details=tree --select-class io.llmcluster.worker.cuda.CudaEngineSamplingTest \
  --select-class io.llmcluster.worker.cuda.CudaEngineTest > "$out/tests.log" 2>&1
echo "GPU tests rc=$? in $((SECONDS - t0)) s"; grep -E '✘|tests (successful|failed|skipped)|=> ' "$out/tests.log" | cut -c1-300 | head -30
wait $mpid; echo "model rc=$? in $((SECONDS - t0)) s"; tail -3 "$out/model.log"
t1=$SECONDS
timeout 130 "$java" "${flags[@]}" -Xmx24g -cp "$b/lib/*" io.llmcluster.worker.cuda.GpuBench /tmp/llama8b \
  "${ENGINE_CONC:-64,128,256,512}" 1024 decode_large,engine "${ENGINE_BUDGETS:-2048,8192}" > "$out/bench-java.log" 2>&1
echo "GpuBench rc=$? in $((SECONDS - t1)) s"; grep -E '^(decode_graphs|engine_|load_s|backend=)|Exception|Error' "$out/bench-java.log" | cut -c1-300
python3 "$b/bench/bench_gpu.py" table "$out/bench-java.log" | grep -E '^\| (decode step b|engine)'
if [[ ${ENGINE_STEADY_S:-5} != 0 ]]; then
  t1=$SECONDS
  timeout 60 "$java" "${flags[@]}" -Xmx16g -cp "$b/lib/*" io.llmcluster.worker.tools.SteadyLoadBench /tmp/llama8b cuda 64 auto \
    "${ENGINE_STEADY_S:-5}" 2 128 512 128 > "$out/bench-steady.log" 2>&1
  echo "SteadyLoadBench rc=$? in $((SECONDS - t1)) s"; grep -E '^\[steady\]|Exception|Error' "$out/bench-steady.log" | cut -c1-400 | head -5
fi
echo "total $((SECONDS - t0)) s"
