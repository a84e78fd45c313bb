#!/usr/bin/env bash
# One device call for the saturated-throughput work of issue #6 (decode attention at large batch): the GPU tests of
# the touched parts (THRU_TESTS) while the 8B-shaped model is made, DecodeAttentionTiming (every 16-bit decode
# attention kernel on the benchmark's shape, no model: us a layer, GB/s, error against the default before), Nsight
# Compute over the decode attention kernels at batch 256 (THRU_NCU=1, THRU_NCU_KERNELS regex, THRU_NCU_COUNT; report
# text in $OUT/ncu-*.txt), then GpuBench
# /tmp/llama8b ${THRU_CONC:-256,512} with THRU_SECTIONS (default decode_large,step_ops) and THRU_BENCH_FLAGS.
# Staged like run-gpu.sh (pack, then copy .device/cuda to .device/<name>); logs to $OUT.
set -uo pipefail
b=$(cd "$(dirname "$0")" && pwd)
t0=$SECONDS
source "$b/device-env.sh"
cp_test="$b/test-classes:$b/lib/*"
mpid=
if [[ ${THRU_SECTIONS:-decode_large,step_ops} != none ]]; then
  make_bench_model > "$out/model.log" 2>&1 &
  mpid=$!
fi
tests=${THRU_TESTS:-none}
if [[ $tests != none ]]; then
  sel=(); IFS=, read -ra cls <<< "$tests" # Class, or Class#method(ParamTypes)
  for c in "${cls[@]}"; do [[ $c == *'#'* ]] && sel+=(--select-method "io.llmcluster.worker.cuda.$c") || sel+=(--select-class "io.llmcluster.worker.cuda.$c"); done
  timeout "${THRU_TEST_TIMEOUT_S:-120}" "$java" "${flags[@]}" -cp "$cp_test" org.junit.platform.console.ConsoleLauncher \
    execute --disable-banner --disable-ansi-colors --details=tree "${sel[@]}" > "$out/tests.log" 2>&1
  echo "GPU tests rc=$? in $((SECONDS - t0)) s"
  grep -E '✘|tests (successful|failed|skipped)|=> ' "$out/tests.log" | cut -c1-300 | head -30
fi
if [[ ${THRU_TIMING:-1} == 1 ]]; then
  timeout "${THRU_TIMING_TIMEOUT_S:-60}" "$java" "${flags[@]}" -Xmx8g -cp "$cp_test" io.llmcluster.worker.cuda.DecodeAttentionTiming \
    > "$out/dattn-timing.log" 2>&1
  echo "DecodeAttentionTiming rc=$? at $((SECONDS - t0)) s"
  grep -E '_us=' "$out/dattn-timing.log" | awk '{print $1, $2, $4}'
fi
if [[ ${THRU_NCU:-0} == 1 ]]; then
  ncu=$(command -v ncu || echo /usr/local/cuda/bin/ncu)
  timeout "${THRU_NCU_TIMEOUT_S:-90}" "$ncu" --target-processes all --kernel-name regex:"${THRU_NCU_KERNELS:-decode_attention_(mma_items|warp)}" \
    --launch-count "${THRU_NCU_COUNT:-4}" --set full --import-source yes -f -o "$out/dattn" \
    "$java" "${flags[@]}" -Xmx8g -cp "$cp_test" io.llmcluster.worker.cuda.DecodeAttentionTiming ncu > "$out/ncu-run.log" 2>&1
  echo "ncu rc=$? at $((SECONDS - t0)) s"
  "$ncu" --import "$out/dattn.ncu-rep" --page details > "$out/ncu-details.txt" 2>&1
  "$ncu" --import "$out/dattn.ncu-rep" --page raw > "$out/ncu-raw.txt" 2>&1
  grep -E 'decode_attention|Duration|DRAM Throughput|Memory Throughput|Achieved Occupancy|Registers Per|Theoretical Occupancy|Warp Cycles Per Issued|Issue Slots Busy|L2 Hit Rate|Eligible Warps' "$out/ncu-details.txt" | head -80
  grep -E 'decode_attention|smsp__average_warp_latency_issue_stalled|smsp__pcsamp_warps_issue_stalled_[a-z_]+ ' "$out/ncu-raw.txt" \
    | awk '$NF+0 > 0 || /decode_attention/' > "$out/ncu-stalls.txt"
  grep -E 'decode_attention|average_warp_latency_issue_stalled_(long_scoreboard|barrier|short_scoreboard|wait|mio_throttle|lg_throttle|math_pipe|not_selected|selected|no_instruction|dispatch|drain|membar|sleeping|tex|branch|imc|misc)\b' "$out/ncu-raw.txt" | head -80
fi
if [[ -n $mpid ]]; then
  wait $mpid; echo "model rc=$? at $((SECONDS - t0)) s"; tail -2 "$out/model.log"
  t1=$SECONDS
  timeout "${THRU_JAVA_TIMEOUT_S:-150}" "$java" "${flags[@]}" ${THRU_BENCH_FLAGS:-} -Xmx24g -cp "$b/lib/*" io.llmcluster.worker.cuda.GpuBench /tmp/llama8b \
    "${THRU_CONC:-256,512}" 1024 "${THRU_SECTIONS:-decode_large,step_ops}" "${THRU_BUDGETS:-8192}" > "$out/bench-java.log" 2>&1
  echo "GpuBench rc=$? in $((SECONDS - t1)) s"
  grep -E '^(decode_graphs[a-z0-9_]*_device_ms|engine_.*(tok_s|busy)|step_ops.*_(attention|gate_up_swiglu|total)_ms|load_s)|Exception|Error' \
    "$out/bench-java.log" | cut -c1-200
fi
echo "total $((SECONDS - t0)) s"
