#!/usr/bin/env bash
# INT8 KV cache benchmark (issue #6), part of one device call (about 1 minute on a warm H200; docs/benchmarks.md):
#   deploy/gpu/run-gpu.sh pack         here (packs this script with the others)
#   bash .device/cuda/bench-kv8.sh     on the GPU machine: makes the 8B-shaped random model in /tmp/llama8b if it is
#                                      not there (bench_gpu.py make --skip-hf: its HBM and SDPA references come along),
#                                      then GpuBench's long-context section twice on it, with --kv-cache-dtype auto
#                                      (FP16 KV) and int8, and prints INT8 / FP16 ratios measured in this same call:
#                                      KV blocks in the same memory, sequences of each context that fit, batch-1 ITL
#                                      and one layer's decode attention time at each context (INT8 with both decode
#                                      variants: 2 byte stages, the default, and 4, keys prefixed s4_).
# Logs: $OUT/bench-kv8-py.log, $OUT/bench-kv8-auto.log, $OUT/bench-kv8-int8.log. BENCH_LONG (default 1024,32768).
set -uo pipefail
b=$(cd "$(dirname "$0")" && pwd)
out=${OUT:-/tmp/gpu-out}
mkdir -p "$out" /tmp/j
[[ -x /tmp/j/jre/bin/java ]] || tar xJf "$b/jre.tar.xz" -C /tmp/j
t0=$SECONDS
if [[ ! -f /tmp/llama8b/config.json ]]; then
  PYTHONUNBUFFERED=1 timeout "${BENCH_PY_TIMEOUT_S:-120}" python3 "$b/bench/bench_gpu.py" make --skip-hf --model /tmp/llama8b \
    --tokenizer "$b/bench/tokenizer-32k" > "$out/bench-kv8-py.log" 2>&1
  echo "model + python references rc=$? in $((SECONDS - t0)) s"
  grep -E 'hbm_read_sum_gbs|torch_sdpa_decode' "$out/bench-kv8-py.log"
fi
for d in auto int8; do
  t0=$SECONDS
  timeout "${BENCH_JAVA_TIMEOUT_S:-120}" /tmp/j/jre/bin/java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED \
    -Xss4m -XX:+UseParallelGC -Xmx16g -Dorg.slf4j.simpleLogger.defaultLogLevel=warn -cp "$b/lib/*" \
    io.llmcluster.worker.cuda.GpuBench /tmp/llama8b 1 "${BENCH_LONG:-1024,32768}" long 2048 "$d" > "$out/bench-kv8-$d.log" 2>&1
  echo "java GpuBench long --kv-cache-dtype $d rc=$? in $((SECONDS - t0)) s"
  grep -E '^(kv_|(s4_)?itl_ctx|(s4_)?attn_decode_ctx|backend=)' "$out/bench-kv8-$d.log" | cut -c1-400
done
# ratios INT8 / FP16 from the two logs of this call
# (s4_ keys: the 4-stage INT8 decode variant, against the same FP16 numbers)
awk -F= 'FNR == 1 { f++ } /^(kv_blocks|kv_max_seqs|(s4_)?itl_ctx[0-9]+_ms|(s4_)?attn_decode_ctx[0-9]+_us)/ { v[f, $1] = $2; k[$1] = 1 }
  END { for (key in k) { base = key; sub(/^s4_/, "", base)
          if (v[1, base] > 0 && v[2, key] > 0) printf "kv8_ratio_%s=%.3f (int8 %s / fp16 %s)\n", key, v[2, key] / v[1, base], v[2, key], v[1, base] } }' \
  "$out/bench-kv8-auto.log" "$out/bench-kv8-int8.log" | sort
