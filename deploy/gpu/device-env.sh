# Sourced by the one-call device scripts (engine-gpu.sh, step-device.sh, thru-device.sh, b1-check.sh, decode-check.sh,
# w8a8-device.sh) once they have set b, their own folder in the bundle: $out (the run tool's $OUT), the bundle's JRE
# unpacked in /tmp/j (once: a later script of the same call reuses it) as $java with the
# project's JVM $flags, the GPU banner, and make_bench_model, which writes the 8B-shaped random model of bench_gpu.py
# to /tmp/llama8b without the PyTorch kernel references (not needed for the Java numbers); run it in the background.
out=${OUT:-/tmp/gpu-out}
mkdir -p "$out" /tmp/j
[[ -x /tmp/j/jre/bin/java ]] || tar xJf "$b/jre.tar.xz" -C /tmp/j
java=/tmp/j/jre/bin/java
flags=(--add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xss4m -XX:+UseParallelGC
  -Dorg.slf4j.simpleLogger.defaultLogLevel=warn)
echo "== $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader) | $(date -u +%FT%TZ)"

make_bench_model() {
  ( cd "$b/bench" && PYTHONUNBUFFERED=1 timeout 120 python3 -c "
import argparse, bench_gpu as g
g.kernels = lambda *a: None
g.make(argparse.Namespace(model='/tmp/llama8b', tokenizer='tokenizer-32k', skip_hf=True))
" )
}
