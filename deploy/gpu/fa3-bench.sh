#!/usr/bin/env bash
# The Hopper prefill attention (prefill_attention_wgmma.cu) in one device call, from a bundle of
# `deploy/gpu/run-gpu.sh pack` (which packs this script): the kernel's SASS from the fatbin (HGMMA count, local
# memory, register reconfiguration), PrefillAttentionTiming (every variant vs v2 on the same inputs, then timed; 1 and
# 8 sequences of 2048 tokens, and two mixed-length batches), torch SDPA at the same shapes and the table of ratios,
# then the GPU tests that cover it (CudaAttentionTest vs the CPU twin, CudaBackendReferenceTest = whole-model greedy
# vs transformers, AttentionPlanTest, CudaKvInt8Test), and with MEMCHECK=1 compute-sanitizer memcheck over the
# prefill test. Logs in $OUT.
#   run tool, carry [".device/<name>"]:  bash .device/<name>/fa3-bench.sh
set -uo pipefail
b=$(cd "$(dirname "$0")" && pwd)
out=${OUT:-/tmp/gpu-out}
mkdir -p "$out" /tmp/j
echo "== $(nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader) | $(date -u +%FT%TZ)"
tar xJf "$b/jre.tar.xz" -C /tmp/j
java=/tmp/j/jre/bin/java
flags=(--add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xss4m -XX:+UseParallelGC
  -Dorg.slf4j.simpleLogger.defaultLogLevel=warn)
cp="$b/test-classes:$b/lib/*"

echo "== SASS of prefill_attention_wgmma_f16_d128_w{0..3} (sm_90a, from the packed fatbin)"
python3 - "$b" <<'PY'
import glob, sys, zipfile
jar = glob.glob(sys.argv[1] + "/lib/kernels-*.jar")[0]
open("/tmp/llmc.fatbin", "wb").write(zipfile.ZipFile(jar).read("io/llmcluster/kernels/llmcluster.fatbin"))
PY
if command -v cuobjdump >/dev/null; then
  for w in 0 1 2 3; do
    f=prefill_attention_wgmma_f16_d128_w$w
    cuobjdump -sass -fun $f /tmp/llmc.fatbin > "$out/wgmma_w$w.sass" 2>&1
    echo "w$w: HGMMA $(grep -c HGMMA "$out/wgmma_w$w.sass") | local LDL/STL $(grep -c -E 'LDL|STL' "$out/wgmma_w$w.sass")" \
      "| USETMAXREG $(grep -c USETMAXREG "$out/wgmma_w$w.sass") | lines $(wc -l < "$out/wgmma_w$w.sass")" \
      "| $(grep -o -E 'HGMMA\.[0-9]+x[0-9]+x[0-9]+' "$out/wgmma_w$w.sass" | sort | uniq -c | tr -s ' \n' ' ')"
  done
else
  echo "no cuobjdump on this machine"
fi

echo "== PrefillAttentionTiming (f16, bf16)"
t0=$SECONDS
timeout "${TIMING_TIMEOUT_S:-150}" "$java" "${flags[@]}" -cp "$cp" io.llmcluster.worker.cuda.PrefillAttentionTiming f16 bf16 \
  > "$out/timing.log" 2>&1
echo "rc=$? in $((SECONDS - t0)) s"
grep -E 'Exception|error|device=' "$out/timing.log" | head -5

echo "== torch SDPA and the table"
timeout 120 python3 "$b/bench/fa3_sdpa.py" "$out/timing.log" 2>&1 | tee "$out/sdpa.log" | grep -v Warning

# two JVMs: a kernel that traps leaves its CUDA context unusable, and the whole-model tests should still report
junit() {  # LOG CLASS...
  local log=$1; shift
  local sel=(); for c in "$@"; do sel+=(--select-class "io.llmcluster.worker.cuda.$c"); done
  local t0=$SECONDS
  timeout "${TEST_TIMEOUT_S:-150}" "$java" "${flags[@]}" -cp "$cp" org.junit.platform.console.ConsoleLauncher execute \
    --disable-banner --disable-ansi-colors --details=tree "${sel[@]}" > "$out/$log" 2>&1
  local rc=$?
  grep -E '✘|=> |Exception' "$out/$log" | cut -c1-400 | head -20
  awk '/tests successful/ {s=$2} /tests failed/ {f=$2} /tests skipped/ {k=$2}
       END { printf "tests: %s passed, %s failed, %s skipped", s+0, f+0, k+0 }' "$out/$log"
  echo " rc=$rc in $((SECONDS - t0)) s ($*)"
}
echo "== GPU tests"
junit tests-attention.log CudaAttentionTest
[[ ${MODEL_TESTS:-1} == 1 ]] && junit tests-model.log CudaBackendReferenceTest AttentionPlanTest CudaKvInt8Test

# memcheck over the Hopper prefill test only (MEMCHECK=1): every variant, both dtypes, under compute-sanitizer
if [[ ${MEMCHECK:-0} == 1 ]] && command -v compute-sanitizer >/dev/null; then
  t0=$SECONDS
  timeout "${MEMCHECK_TIMEOUT_S:-120}" compute-sanitizer --tool memcheck --error-exitcode 99 \
    "$java" "${flags[@]}" -cp "$cp" org.junit.platform.console.ConsoleLauncher execute --disable-banner \
    --disable-ansi-colors --details=summary \
    --select-method 'io.llmcluster.worker.cuda.CudaAttentionTest#shouldMatchTheCpuAttentionInTheTensorCorePrefillKernel(io.llmcluster.worker.cuda.CudaDtype)' \
    > "$out/memcheck.log" 2>&1
  echo "memcheck rc=$? in $((SECONDS - t0)) s: $(grep -o 'ERROR SUMMARY: [0-9]* error[s]*' "$out/memcheck.log" | tail -1)" \
    "$(grep -E 'tests (successful|failed)' "$out/memcheck.log" | tr -s ' \n' ' ')"
  grep -E '========= (Invalid|ERROR|Program hit|Address)' "$out/memcheck.log" | head -10
fi
