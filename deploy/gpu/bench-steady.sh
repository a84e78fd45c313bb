#!/usr/bin/env bash
# Issue #6's stability measure and the throughput plot; bench-gpu.sh runs this last, on the model bench_gpu.py made.
#   1. java SteadyLoadBench: BENCH_STEADY_STREAMS requests always in flight (a new one as soon as one ends; random
#      prompts of 128..512 tokens, 128 output tokens), after a warm-up, inter-token latency p50/p90/p99/p99.9/max,
#      output tok/s, TTFT over a fixed window, once per prefill cap while decoding (off, the CUDA default, 128);
#   2. bench_report.py: the steady-load table, and $OUT/throughput_vs_concurrency.png from the logs of this run
#      (matplotlib when installed, else its own PNG writer).
# Alone, once bench-gpu.sh has made the model: bash .device/cuda/bench-steady.sh. Environment:
#   BENCH_STEADY_S          measured window per cap, seconds (default 12; 0 skips the steady load, the plot is still made)
#   BENCH_STEADY_WARMUP_S   warm-up per cap (default 4)      BENCH_STEADY_STREAMS  requests in flight (default 64)
#   BENCH_STEADY_CAPS       caps, a comma list of off, auto, N (default off,auto,128)
#   BENCH_STEADY_PROMPTS    prompt lengths MIN-MAX (default 128-512)   BENCH_STEADY_OUTPUT  output tokens (default 128)
#   BENCH_STEADY_TIMEOUT_S  (default: the windows and warm-ups plus 90 s)
#   BENCH_MODEL (default /tmp/llama8b), BENCH_STEADY_DEVICE (cuda; cpu to try it on a machine without a GPU),
#   BENCH_JAVA (default the bundle's JRE unpacked in /tmp/j)
set -uo pipefail
b=$(cd "$(dirname "$0")" && pwd)
out=${OUT:-/tmp/gpu-out}
model=${BENCH_MODEL:-/tmp/llama8b}
mkdir -p "$out"
if [[ -z ${BENCH_JAVA:-} ]]; then
  mkdir -p /tmp/j; [[ -x /tmp/j/jre/bin/java ]] || tar xJf "$b/jre.tar.xz" -C /tmp/j
fi
java=${BENCH_JAVA:-/tmp/j/jre/bin/java}
win=${BENCH_STEADY_S:-12} warm=${BENCH_STEADY_WARMUP_S:-4} caps=${BENCH_STEADY_CAPS:-off,auto,128}
prompts=${BENCH_STEADY_PROMPTS:-128-512} pmin=${prompts%-*} pmax=${prompts#*-}
if [[ $win == 0 ]]; then
  echo "steady load skipped (BENCH_STEADY_S=0)"
elif [[ ! -f $model/config.json ]]; then
  echo "steady load skipped: no model at $model (bench-gpu.sh makes it)"
else
  n=$(tr ',' '\n' <<< "$caps" | grep -c .)
  limit=${BENCH_STEADY_TIMEOUT_S:-$(awk -v n="$n" -v w="$win" -v u="$warm" 'BEGIN { printf "%d", n * (w + u + 5) + 90 }')}
  t0=$SECONDS
  timeout "$limit" "$java" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xss4m -XX:+UseParallelGC \
    -Xmx16g -Dorg.slf4j.simpleLogger.defaultLogLevel=warn -cp "$b/lib/*" io.llmcluster.worker.tools.SteadyLoadBench \
    "$model" "${BENCH_STEADY_DEVICE:-cuda}" "${BENCH_STEADY_STREAMS:-64}" "$caps" "$win" "$warm" "$pmin" "$pmax" \
    "${BENCH_STEADY_OUTPUT:-128}" > "$out/bench-steady.log" 2>&1
  echo "java SteadyLoadBench rc=$? in $((SECONDS - t0)) s (limit $limit s)"
  grep -E '^\[steady\]|Exception|Error' "$out/bench-steady.log" | cut -c1-400 | head -20
fi
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)
python3 "$b/bench/bench_report.py" --png "$out/throughput_vs_concurrency.png" \
  --title "${gpu:-no GPU}, $(date -u +%F): 8B-shaped FP16, random weights" \
  "$out/bench-py.log" "$out/bench-java.log" "$out/bench-steady.log"
