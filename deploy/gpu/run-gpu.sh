#!/usr/bin/env bash
# The GPU runner. Three steps, one script:
#   deploy/gpu/run-gpu.sh pack          here: build (nothing is built on the GPU machine), then pack the JRE
#                                       (../shared/gpu/make-jre.sh), the worker's test class path (runtime jars,
#                                       the JUnit console launcher, compiled test classes and resources) and
#                                       this script into .device/cuda/ (git-ignored), under 64 MiB
#   deploy/gpu/run-gpu.sh stage REPO    copy .device/cuda/ into REPO/.device/cuda/ when the `run` tool sends
#                                       another checkout than this one (it sends the session's own checkout)
#   bash .device/cuda/run-gpu.sh device on the GPU machine, through the `run` tool with carry [".device/cuda"]:
#                                       unpack the JRE, run the GPU test suite (package io.llmcluster.worker.cuda)
#                                       with the JUnit console launcher, then compute-sanitizer memcheck over the
#                                       kernel tests, and print a pass/fail table last. Logs go to $OUT.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cmd=${1:-}

pack() {
  set -e
  local root; root=$(cd "$here/../.." && pwd)
  cd "$root"
  source bin/java-env.sh
  local out=$root/.device/cuda
  rm -rf "$out/lib" "$out/cli" "$out/test-classes"; mkdir -p "$out/lib" "$out/cli"
  # each module writes its own target/classpath.txt; gpu-worker's test class path is the one the tests need
  mvn -B -q -o -DskipTests package dependency:build-classpath -pl gpu-worker,cluster -am \
      -Dmdep.includeScope=test -Dmdep.outputFile=target/classpath.txt >/dev/null
  cp gpu-worker/target/classpath.txt "$out/classpath.txt"
  # the CLI smoke run: the cluster jar, picocli and an slf4j binding on top of the worker's class path
  cp cluster/target/cluster.jar cluster/target/lib/picocli-*.jar cluster/target/lib/slf4j-simple-*.jar "$out/cli/"
  mvn -B -q -o dependency:copy -Dartifact=org.junit.platform:junit-platform-console-standalone:1.14.1 \
      -DoutputDirectory="$out/lib" >/dev/null
  # The console launcher bundles JUnit itself: leave the separate JUnit jars out.
  tr ':' '\n' < "$out/classpath.txt" | grep -v -E '/(junit-|opentest4j|apiguardian)' | while read -r jar; do
    case "$jar" in
      */tokenizers-*.jar) strip_djl "$jar" "$out/lib/$(basename "$jar")" ;;
      */jcuda-natives-*.jar) strip_jcuda "$jar" "$out/lib/$(basename "$jar")" ;;
      */*-testkit*.jar|*/pekko-*.jar|*/scala-*.jar) ;; # actors and their kits: neither the GPU suite nor generate loads them
      *) cp "$jar" "$out/lib/" ;;
    esac
  done
  cp gpu-worker/target/gpu-worker-*.jar "$out/lib/"
  sm90_only_kernels "$root" "$out/lib"
  cp -r gpu-worker/target/test-classes "$out/test-classes"
  # java.desktop for java.beans, which jinjava (ChatTemplate, opened with every model directory) needs
  JRE_MODULES=${JRE_MODULES:-java.base,java.desktop,java.logging,java.management,java.naming,java.net.http,java.sql,java.xml,jdk.crypto.ec,jdk.incubator.vector,jdk.management,jdk.unsupported,jdk.zipfs} \
    bash /work/shared/gpu/make-jre.sh "$out"
  cp "$here/run-gpu.sh" "$here/bench-gpu.sh" "$here/bench-steady.sh" "$here/decode-check.sh" "$here/engine-gpu.sh" "$here/w8a8-device.sh" "$here/fa3-bench.sh" "$here/bench-kv8.sh" "$here/kv8-device.sh" "$here/step-device.sh" "$here/b1-check.sh" "$here/thru-device.sh" "$here/device-env.sh" "$out/"
  rm -rf "$out/bench"; mkdir -p "$out/bench"; cp "$here/bench_gpu.py" "$here/bench_report.py" "$here/fa3_sdpa.py" "$here/linear_ref.py" "$out/bench/"; cp -r "$root/deploy/bench/tokenizer-32k" "$out/bench/"
  du -sh "$out"; du -b -s "$out" | awk '{ if ($1 > 60*1024*1024) { print "over 60 MiB: too big to carry"; exit 1 } }'
}

# The GPU machine is an H200: the bundle's kernels jar carries an sm_90a-only fatbin of the same sources (the
# three-architecture one pushes the bundle over the carry limit). PACK_ALL_ARCHS=1 keeps the full one.
sm90_only_kernels() {
  [[ ${PACK_ALL_ARCHS:-0} == 1 ]] && return 0
  local root=$1 lib=$2 tmp jar
  jar=$(ls "$lib"/kernels-*.jar 2>/dev/null | head -1)
  [[ -n $jar ]] || { echo "no kernels jar in $lib"; return 1; }
  tmp=$(mktemp -d)
  FATBIN_GENCODE="-gencode arch=compute_90a,code=sm_90a" \
    bash "$root/kernels/build-fatbin.sh" "$root/kernels/src/main/cuda" "$tmp/io/llmcluster/kernels" >/dev/null
  [[ -s $tmp/io/llmcluster/kernels/llmcluster.fatbin ]] || { echo "sm_90a fatbin build failed"; rm -rf "$tmp"; return 1; }
  (cd "$tmp" && zip -q "$jar" io/llmcluster/kernels/llmcluster.fatbin)
  rm -rf "$tmp"
}

# DJL's tokenizers jar carries natives for four platforms (54 MB); the GPU machine needs linux-x86_64 only.
strip_djl() {
  cp "$1" "$2"
  zip -q -d "$2" 'native/lib/linux-aarch64/*' 'native/lib/win-x86_64/*' 'native/lib/osx-aarch64/*' || true
}

# jcuda-natives carries the PTX compiler's JNI library (24 MB) that the project never loads (nvcc builds the fatbin).
strip_jcuda() {
  cp "$1" "$2"
  zip -q -d "$2" 'lib/libJNvPTXCompiler-*' 'lib/libJNvrtc-*' || true
}

stage() {
  local dest=${1:?usage: run-gpu.sh stage REPO}
  local root; root=$(cd "$here/../.." && pwd)
  [[ $(cd "$dest" && pwd) == "$root" ]] && { echo "already in $root"; return; }
  git -C "$dest" check-ignore -q .device/cuda || { echo "error: $dest does not ignore .device/" >&2; exit 1; }
  rm -rf "$dest/.device/cuda"; mkdir -p "$dest/.device"; cp -r "$root/.device/cuda" "$dest/.device/cuda"
  echo "staged $(du -sh "$dest/.device/cuda" | cut -f1) in $dest/.device/cuda"
}

device() {
  local b=$here out=${OUT:-/tmp/gpu-out} t0
  mkdir -p "$out" /tmp/j
  tar xJf "$b/jre.tar.xz" -C /tmp/j
  local java=/tmp/j/jre/bin/java
  local flags=(--add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xss4m -XX:+UseParallelGC
    -Dorg.slf4j.simpleLogger.defaultLogLevel=warn)
  local cp="$b/test-classes:$b/lib/*"
  echo "== $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader) | $(date -u +%FT%TZ)"
  t0=$SECONDS
  timeout "${TEST_TIMEOUT_S:-150}" "$java" "${flags[@]}" -cp "$cp" org.junit.platform.console.ConsoleLauncher execute \
    --disable-banner --disable-ansi-colors --details=tree --select-package io.llmcluster.worker.cuda ${TEST_ARGS:-} > "$out/tests.log" 2>&1
  local trc=$? tsec=$((SECONDS - t0))
  grep -E '^\[(kernels|model|cuda|sampling|int8|autotune)\]' "$out/tests.log" | cut -c1-150
  grep -E '✘|MethodSource|=> ' "$out/tests.log" | cut -c1-400 | head -60
  local crc=0
  echo "== llmc generate --device auto (then --device cuda --dtype bf16, --device cuda --gemm mma) on the embedded tiny Llama, greedy"
  for dev in "--device auto" "--device cuda --dtype bf16" "--device cuda --gemm mma" "--device cuda --quantize int8 --int8-group-size 32 --retune"; do
    timeout 60 "$java" "${flags[@]}" -cp "$b/lib/*:$b/cli/*" io.llmcluster.cli.Main generate $dev --prompt "The GPU" \
      --max-tokens 12 --temperature 0 2>&1 | grep -v -E '^WARNING|SLF4J' | cut -c1-300 || crc=1
  done
  t0=$SECONDS
  local mrc=skipped msec=0
  if [[ ${MEMCHECK:-1} == 1 ]]; then
    timeout "${MEMCHECK_TIMEOUT_S:-120}" compute-sanitizer --tool memcheck --error-exitcode 99 \
      "$java" "${flags[@]}" -cp "$cp" org.junit.platform.console.ConsoleLauncher execute --disable-banner --disable-ansi-colors \
      --details=summary --select-class io.llmcluster.worker.cuda.CudaKernelsTest \
      --select-method 'io.llmcluster.worker.cuda.CudaMmaGemmTest#shouldMatchAPlainMatmulForEveryTokenCountAndTail(io.llmcluster.worker.cuda.CudaDtype)' \
      --select-method 'io.llmcluster.worker.cuda.CudaSamplingTest#shouldRepeatADrawForTheSameSeedAndCounter' \
      --select-method 'io.llmcluster.worker.cuda.CudaInt8Test#shouldQuantizeExactlyLikeTheTwinAndMultiplyLikeAPlainMatmulOnTheDequantizedWeights(io.llmcluster.worker.cuda.CudaDtype)' \
      --select-method 'io.llmcluster.worker.cuda.CudaInt8Test#shouldDequantizeInChunksAndMultiplyThroughCublasForManyTokens(io.llmcluster.worker.cuda.CudaDtype)' \
      --select-method 'io.llmcluster.worker.cuda.CudaInt8Test#shouldMultiplyLikeAPlainMatmulInTheTensorCoreSkinnyGemmsFor1To64Tokens(io.llmcluster.worker.cuda.CudaDtype)' \
      --select-method 'io.llmcluster.worker.cuda.CudaInt8Test#shouldGiveTheSameProductsWithEveryWarpsPerRowConfigOfThe16BitGemv(io.llmcluster.worker.cuda.CudaDtype)' \
      > "$out/memcheck.log" 2>&1
    mrc=$? msec=$((SECONDS - t0))
    grep -E '========= (Invalid|ERROR|Program hit|    at|Address)' "$out/memcheck.log" | head -20
  fi
  echo
  echo "| stage | result | seconds |"
  echo "| --- | --- | --- |"
  echo "| GPU tests (JUnit console) | $(summary "$out/tests.log") rc=$trc | $tsec |"
  echo "| CLI generate --device auto / cuda bf16 | rc=$crc | - |"
  echo "| memcheck over CudaKernelsTest + gemm_mma + sampler + INT8/skinny/GEMV | $(grep -o 'ERROR SUMMARY: [0-9]* error[s]*' "$out/memcheck.log" 2>/dev/null | tail -1) $(summary "$out/memcheck.log" 2>/dev/null) rc=$mrc | $msec |"
}

summary() {
  awk '/tests successful/ {s=$2} /tests failed/ {f=$2} /tests skipped/ {k=$2} /tests aborted/ {a=$2}
       END { printf "%s passed, %s failed, %s skipped, %s aborted", s+0, f+0, k+0, a+0 }' "$1"
}

case "$cmd" in
  pack) pack ;;
  stage) stage "${2:-}" ;;
  device) device ;;
  *) sed -n '2,14p' "$0"; exit 2 ;;
esac
