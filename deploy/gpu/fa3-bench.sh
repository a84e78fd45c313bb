#!/usr/bin/env bash
# The Hopper prefill attention (prefill_attention_wgmma.cu) in one device call, from a bundle of
# `deploy/gpu/run-gpu.sh pack` (which packs this script): the kernel's SASS from the fatbin (HGMMA count, local
# memory, register reconfiguration), PrefillAttentionTiming (every variant vs v2 on the same inputs, then timed; 1 and
# 8 sequences of 2048 tokens, and two mixed-length batches), torch SDPA at the same shapes and the table of ratios,
# then the GPU tests that cover it (CudaAttentionTest vs the CPU twin, CudaBackendReferenceTest = whole-model greedy
# vs transformers, AttentionPlanTest, CudaKvInt8Test), and with MEMCHECK=1 compute-sanitizer memcheck over the
# prefill test. Logs in $OUT.
# Knobs: SASS=0 skips the disassembly; PREFILL_VARIANTS / PREFILL_SHAPES (comma lists) restrict the timing (v2, the
# reference, always runs); TIMING_DTYPES (default "f16 bf16"); PREFILL_ONLY=1 runs only CudaAttentionTest's prefill
# method; NCU_VARIANTS="10 14" profiles one 8 x 2048 launch of each named variant with Nsight Compute (speed of light,
# warp states, scheduler, memory, per-SASS-instruction stall samples) into $OUT/ncu_v*.txt and ncu_v*_sass.csv.gz.
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

if [[ ${SASS:-1} == 1 ]]; then
echo "== SASS of prefill_attention_wgmma_f16_d128_w{0..7} (sm_90a, from the packed fatbin)"
python3 - "$b" <<'PY'
import glob, sys, zipfile
jar = glob.glob(sys.argv[1] + "/lib/kernels-*.jar")[0]
open("/tmp/llmc.fatbin", "wb").write(zipfile.ZipFile(jar).read("io/llmcluster/kernels/llmcluster.fatbin"))
PY
if command -v cuobjdump >/dev/null; then
  for w in 0 1 2 3 4 5 6 7; do
    f=prefill_attention_wgmma_f16_d128_w$w
    cuobjdump -sass -fun $f /tmp/llmc.fatbin > "$out/wgmma_w$w.sass" 2>&1
    echo "w$w: HGMMA $(grep -c HGMMA "$out/wgmma_w$w.sass") | local LDL/STL $(grep -c -E 'LDL|STL' "$out/wgmma_w$w.sass")" \
      "| USETMAXREG $(grep -c USETMAXREG "$out/wgmma_w$w.sass") | lines $(wc -l < "$out/wgmma_w$w.sass")" \
      "| $(grep -o -E 'HGMMA\.[0-9]+x[0-9]+x[0-9]+' "$out/wgmma_w$w.sass" | sort | uniq -c | tr -s ' \n' ' ')"
  done
else
  echo "no cuobjdump on this machine"
fi
fi

echo "== PrefillAttentionTiming (f16, bf16)"
t0=$SECONDS
sel=(-Dprefill.variants="${PREFILL_VARIANTS:-}" -Dprefill.shapes="${PREFILL_SHAPES:-}")
# shellcheck disable=SC2086
timeout "${TIMING_TIMEOUT_S:-150}" "$java" "${flags[@]}" "${sel[@]}" -cp "$cp" io.llmcluster.worker.cuda.PrefillAttentionTiming \
  ${TIMING_DTYPES:-f16 bf16} > "$out/timing.log" 2>&1
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
if [[ ${PREFILL_ONLY:-0} == 1 ]]; then
  t0=$SECONDS
  timeout "${TEST_TIMEOUT_S:-150}" "$java" "${flags[@]}" -cp "$cp" org.junit.platform.console.ConsoleLauncher execute \
    --disable-banner --disable-ansi-colors --details=tree \
    --select-method 'io.llmcluster.worker.cuda.CudaAttentionTest#shouldMatchTheCpuAttentionInTheTensorCorePrefillKernel(io.llmcluster.worker.cuda.CudaDtype)' \
    > "$out/tests-attention.log" 2>&1
  echo "rc=$? in $((SECONDS - t0)) s: $(grep -E 'tests (successful|failed)' "$out/tests-attention.log" | tr -s ' \n' ' ')"
  grep -E '✘|Exception' "$out/tests-attention.log" | cut -c1-400 | head -10
else
  junit tests-attention.log CudaAttentionTest
fi
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

# Nsight Compute over one 8 x 2048 launch per variant in NCU_VARIANTS (the 4th launch of the variant's wgmma kernel)
ncu_bin=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
for v in ${NCU_VARIANTS:-}; do
  [[ -z $ncu_bin ]] && { echo "no ncu"; break; }
  t0=$SECONDS
  timeout "${NCU_TIMEOUT_S:-60}" "$ncu_bin" --clock-control none --kernel-name regex:prefill_attention_wgmma \
    --launch-skip 3 --launch-count 1 --section SpeedOfLight --section ComputeWorkloadAnalysis \
    --section MemoryWorkloadAnalysis --section WarpStateStats --section SchedulerStats --section SourceCounters \
    -f -o /tmp/ncu_v$v "$java" "${flags[@]}" -Dprefill.variants=$v -Dprefill.shapes=b8 -cp "$cp" \
    io.llmcluster.worker.cuda.PrefillAttentionTiming f16 > "$out/ncu_v$v.run.log" 2>&1
  echo "ncu v$v rc=$? in $((SECONDS - t0)) s"
  "$ncu_bin" --import /tmp/ncu_v$v.ncu-rep --page details > "$out/ncu_v$v.txt" 2>&1
  "$ncu_bin" --import /tmp/ncu_v$v.ncu-rep --page source --csv --print-source sass 2>&1 | gzip > "$out/ncu_v${v}_sass.csv.gz"
  grep -E "Duration|Compute \(SM\) Throughput|Memory Throughput|L2 Cache Throughput|Issue Slots Busy|No Eligible|Warp Cycles Per Issued" "$out/ncu_v$v.txt" | head -12
done
