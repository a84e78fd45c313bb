#!/usr/bin/env bash
# The GPU benchmark of issue #6, one device call (about 4 minutes on a warm H200):
#   deploy/gpu/run-gpu.sh pack            here: builds and packs .device/cuda/ (this script and bench_gpu.py too)
#   bash .device/cuda/bench-gpu.sh        on the GPU machine (run tool, carry [".device/cuda"], timeout_s 300):
#     1. python3 bench_gpu.py make: an 8B-shaped FP16 random model (vocab 32000) written to /tmp/llama8b, and
#        the PyTorch references in the same process: HBM read bandwidth, SDPA, torch.matmul / F.linear on our
#        shapes, Hugging Face generate at batch 1 and 32;
#     2. java GpuBench: our decode paths (eager cuBLAS, eager GEMV, CUDA graphs + GEMV) at batch 1/8/32 with
#        the GPU-idle fraction, prefill TTFT, kernels, Engine throughput, ITL at long contexts;
#     3. java ProjectionBench: INT8 weight-only vs FP16 batch-1 decode, projections at M = 1..64 (BENCH_PROJ=0 skips);
#        java W8a8Bench: W8A8 SmoothQuant vs FP16 prefill TTFT and GEMMs at M = 2048 (BENCH_W8A8=0 skips);
#     4. bench_gpu.py table: ratios against the references and the table;
#     5. bench-steady.sh: ITL under a steady load of 64 streams with the prefill cap off and on, the throughput plot.
# Logs: $OUT/bench-py.log, $OUT/bench-java.log. Environment: BENCH_CONC (default 1,8,32,64,128,256,512),
# BENCH_LONG (default 1024,8192,32768), BENCH_JAVA_TIMEOUT_S (default 170), BENCH_SECTIONS (GpuBench's parts, default
# decode,decode_large,prefill,kernels,engine,engine2k,long), BENCH_BUDGETS (engine step token budgets, default 2048;
# e.g. 2048,4096), BENCH_SKIP_HF=1 (no Hugging Face generate reference), BENCH_MAIN=0 (no GpuBench), BENCH_PROJ=0,
# BENCH_JAVA_FLAGS (JVM flags of GpuBench, e.g. -DGpuBench.decodeVariants=-,_nowarp).
set -uo pipefail
b=$(cd "$(dirname "$0")" && pwd)
out=${OUT:-/tmp/gpu-out}
mkdir -p "$out" /tmp/j
[[ -x /tmp/j/jre/bin/java ]] || tar xJf "$b/jre.tar.xz" -C /tmp/j
t0=$SECONDS
echo "== $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader) | $(date -u +%FT%TZ)"
PYTHONUNBUFFERED=1 timeout "${BENCH_PY_TIMEOUT_S:-150}" python3 "$b/bench/bench_gpu.py" make --model /tmp/llama8b --tokenizer "$b/bench/tokenizer-32k" ${BENCH_PY_ARGS:-} \
  > "$out/bench-py.log" 2>&1
echo "python references rc=$? in $((SECONDS - t0)) s"; grep -v '^ \|Warning\|warn' "$out/bench-py.log" | tail -40
t0=$SECONDS
if [[ ${BENCH_MAIN:-1} == 1 ]]; then  # BENCH_MAIN=0 skips GpuBench
# SM clock and power every 250 ms while GpuBench runs: a step that is slower back to back than alone is either the
# host or the GPU clocking down under sustained tensor-core load ($OUT/gpu-clocks.log; min/median/max printed after)
nvidia-smi --query-gpu=timestamp,clocks.sm,clocks.mem,power.draw,temperature.gpu --format=csv,noheader,nounits -lms 250 \
  > "$out/gpu-clocks.log" 2>&1 &
smi=$!
timeout "${BENCH_JAVA_TIMEOUT_S:-170}" /tmp/j/jre/bin/java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED \
  -Xss4m -XX:+UseParallelGC -Xmx16g -Dorg.slf4j.simpleLogger.defaultLogLevel=warn ${BENCH_JAVA_FLAGS:-} -cp "$b/lib/*" \
  io.llmcluster.worker.cuda.GpuBench /tmp/llama8b "${BENCH_CONC:-1,8,32,64,128,256,512}" "${BENCH_LONG:-1024,8192,32768}" \
  "${BENCH_SECTIONS:-decode,decode_large,prefill,kernels,engine,engine2k,long}" "${BENCH_BUDGETS:-2048}" > "$out/bench-java.log" 2>&1
echo "java GpuBench rc=$? in $((SECONDS - t0)) s"; grep -v '^WARNING' "$out/bench-java.log" | cut -c1-300 | tail -80
kill $smi 2>/dev/null
python3 - "$out/gpu-clocks.log" <<'PY' || true
import statistics, sys
rows = [l.split(", ") for l in open(sys.argv[1]) if l.count(",") >= 4]
for name, col in (("SM clock MHz", 1), ("power W", 3)):
    v = sorted(float(r[col]) for r in rows if r[col].strip().replace(".", "", 1).isdigit())
    if v:
        print(f"gpu {name}: min {v[0]:.0f} median {statistics.median(v):.0f} max {v[-1]:.0f} over {len(v)} samples")
PY
fi
# INT8 weight-only vs FP16 (batch-1 decode, projections at M = 1..64, autotuner choices); BENCH_PROJ=0 skips it
t0=$SECONDS
if [[ ${BENCH_PROJ:-1} == 1 ]]; then
  timeout "${BENCH_PROJ_TIMEOUT_S:-150}" /tmp/j/jre/bin/java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED \
    -Xss4m -XX:+UseParallelGC -Xmx16g -Dorg.slf4j.simpleLogger.defaultLogLevel=warn -cp "$b/lib/*" \
    io.llmcluster.worker.cuda.ProjectionBench /tmp/llama8b "${BENCH_PROJ_MODES:-f16,int8-ch,int8-g128}" > "$out/bench-proj.log" 2>&1
  echo "java ProjectionBench rc=$? in $((SECONDS - t0)) s"; grep -E '_decode_b1|_backend|autotune\]' "$out/bench-proj.log" | cut -c1-300 | tail -60
fi
# W8A8 SmoothQuant vs FP16: 2048-token TTFT, batch-1 decode, GEMMs at M = 2048 with their parts (BENCH_W8A8=0 skips)
t0=$SECONDS
if [[ ${BENCH_W8A8:-1} == 1 ]]; then
  timeout "${BENCH_W8A8_TIMEOUT_S:-100}" /tmp/j/jre/bin/java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED \
    -Xss4m -XX:+UseParallelGC -Xmx16g -Dorg.slf4j.simpleLogger.defaultLogLevel=warn -cp "$b/lib/*" \
    io.llmcluster.worker.cuda.W8a8Bench /tmp/llama8b 2048 > "$out/w8a8-bench.log" 2>&1
  echo "java W8a8Bench rc=$? in $((SECONDS - t0)) s"; grep -E '^(f16|w8a8)_' "$out/w8a8-bench.log" | grep -v _backend | tail -60
fi
python3 "$b/bench/bench_gpu.py" table "$out/bench-py.log" "$out/bench-java.log" "$out/bench-proj.log"
# Steady-load ITL (prefill cap off / on) and $OUT/throughput_vs_concurrency.png: bench-steady.sh (BENCH_STEADY_* there)
bash "$b/bench-steady.sh"
