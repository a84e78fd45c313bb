#!/usr/bin/env bash
# One device call for the INT8 KV cache (docs/gpu.md, "INT8 KV cache"): GPU tests of the touched parts, a CLI run,
# memcheck over the write and decode kernels,
# then bench-kv8.sh (FP16 vs INT8 KV at 1k and 32k on the 8B shape). Packed by run-gpu.sh pack.
set -uo pipefail
b=$(cd "$(dirname "$0")" && pwd); out=${OUT:-/tmp/gpu-out}; mkdir -p "$out" /tmp/j
tar xJf "$b/jre.tar.xz" -C /tmp/j
J=/tmp/j/jre/bin/java
F=(--add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xss4m -XX:+UseParallelGC -Dorg.slf4j.simpleLogger.defaultLogLevel=warn)
echo "== $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader) | $(date -u +%FT%TZ)"
t0=$SECONDS
timeout 150 "$J" "${F[@]}" -cp "$b/test-classes:$b/lib/*" org.junit.platform.console.ConsoleLauncher execute \
  --disable-banner --disable-ansi-colors --details=tree --select-class io.llmcluster.worker.cuda.CudaKvInt8Test \
  --select-class io.llmcluster.worker.cuda.CudaAttentionTest --select-class io.llmcluster.worker.cuda.CudaGraphTest > "$out/tests.log" 2>&1
echo "tests rc=$? in $((SECONDS - t0)) s"
grep -E '^\[(kv8|cuda)\]|kv8 ' "$out/tests.log" | grep -v -E 'kv8 (prefill|decode)' | cut -c1-220 | head -40
grep -E 'kv8 (prefill v2|decode)' "$out/tests.log" | sort -t'r' -k1,1 | awk '{print}' | cut -c1-160 | head -12
grep -E '✘|=> ' "$out/tests.log" | cut -c1-400 | head -30
grep -E 'tests (successful|failed|skipped)' "$out/tests.log"
echo "== generate --device cuda --kv-cache-dtype int8"
timeout 60 "$J" "${F[@]}" -cp "$b/lib/*:$b/cli/*" io.llmcluster.cli.Main generate --device cuda --kv-cache-dtype int8 \
  --prompt "The GPU" --max-tokens 12 --temperature 0 2>&1 | grep -v -E '^WARNING|SLF4J' | cut -c1-500
t0=$SECONDS
timeout 50 compute-sanitizer --tool memcheck --error-exitcode 99 "$J" "${F[@]}" -cp "$b/test-classes:$b/lib/*" \
  org.junit.platform.console.ConsoleLauncher execute --disable-banner --disable-ansi-colors --details=summary \
  --select-method 'io.llmcluster.worker.cuda.CudaKvInt8Test#shouldQuantizeKvExactlyLikeTheJavaTwinAndTouchNoOtherSlot(io.llmcluster.worker.cuda.CudaDtype)' \
  --select-method 'io.llmcluster.worker.cuda.CudaKvInt8Test#shouldMatchTheCpuAttentionOnDequantizedKvInTheInt8DecodeKernel(io.llmcluster.worker.cuda.CudaDtype)' \
  > "$out/memcheck-kv8.log" 2>&1
echo "memcheck rc=$? in $((SECONDS - t0)) s: $(grep -o 'ERROR SUMMARY: [0-9]* error[s]*' "$out/memcheck-kv8.log" | tail -1) $(grep -E 'tests (successful|failed)' "$out/memcheck-kv8.log" | tr -s ' ' | tr '\n' ' ')"
grep -E '========= (Invalid|ERROR|Program hit|    at|Address)' "$out/memcheck-kv8.log" | head -10
bash "$b/bench-kv8.sh"
