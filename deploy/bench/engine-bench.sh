#!/usr/bin/env bash
# Engine benchmarks of the paged-KV / continuous-batching issue, in one invocation:
#   1. output throughput of N concurrent requests vs the same N run one after another (target >= 4x at
#      N = 32 with the ~1B model on 2 cores);
#   2. scheduler time per step at 256 running sequences (target < 200 us), as a fraction of a step;
#   3. prefix-cache hit rate and time to first token with and without prefix caching, S shared system
#      prompts x R requests submitted as one burst.
#
#   deploy/bench/engine-bench.sh [--model DIR] [--n 32] [--prompt 32] [--output 16]
#                                [--systems 8] [--requests 64] [--system-tokens 128] [--suffix 8]
# Default model: the ~1B random Llama that MakeRandomModel writes to bench-models/llama-1b-random.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
source bin/java-env.sh

model=$root/bench-models/llama-1b-random n=32 prompt=32 output=16 systems=8 requests=64 system_tokens=128 suffix=8
while [[ $# -gt 0 ]]; do
  case $1 in
    --model) model=$2; shift 2 ;;
    --n) n=$2; shift 2 ;;
    --prompt) prompt=$2; shift 2 ;;
    --output) output=$2; shift 2 ;;
    --systems) systems=$2; shift 2 ;;
    --requests) requests=$2; shift 2 ;;
    --system-tokens) system_tokens=$2; shift 2 ;;
    --suffix) suffix=$2; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown option $1 (try --help)" >&2; exit 2 ;;
  esac
done

bin/llmc --version > /dev/null # builds when the sources changed
cp="$root/cluster/target/lib/*"
if [[ $model == "$root/bench-models/llama-1b-random" ]]; then
  "$JAVA_HOME/bin/java" -cp "$cp" io.llmcluster.worker.tools.MakeRandomModel "$model" "$root/deploy/bench/tokenizer-32k"
fi
java_run() { "$JAVA_HOME/bin/java" "${LLMC_JVM_FLAGS[@]}" -cp "$cp" "$@"; }

echo "[engine-bench] $(date -u +%FT%TZ) $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), model $model" >&2
work=${BENCH_WORK_DIR:-$(mktemp -d)}
[[ -n ${BENCH_WORK_DIR:-} ]] || trap 'rm -rf "$work"' EXIT
java_run io.llmcluster.worker.tools.EngineBench "$model" throughput "$n" "$prompt" "$output" > "$work/throughput.txt"
java_run io.llmcluster.batcher.bench.SchedulerStepBench > "$work/scheduler.txt"
java_run io.llmcluster.worker.tools.EngineBench "$model" prefix "$systems" "$requests" "$system_tokens" "$suffix" > "$work/prefix.txt"

cat "$work/scheduler.txt" | sed 's/^/# /'
awk -F= -v n="$n" -v p="$prompt" -v o="$output" -v s="$systems" -v r="$requests" -v st="$system_tokens" -v sf="$suffix" '
  /^[a-z0-9_]+=/ { v[$1] = $2 }
  /decode schedule\(\)\+update\(\) per step/ { match($0, /mean [0-9.]+ us/); sched = substr($0, RSTART + 5, RLENGTH - 8) }
  END {
    printf "\n%d requests, %d-token prompts, %d output tokens (%s)\n", n, p, o, v["backend"]
    printf "  one after another  %8.2f tok/s  (%.1f s)\n", v["sequential_tok_s"], v["sequential_s"]
    printf "  all at once        %8.2f tok/s  (%.1f s)\n", v["concurrent_tok_s"], v["concurrent_s"]
    printf "  ratio              %8.2fx        (target >= 4)\n", v["ratio"]
    step_us = 1e6 * v["concurrent_s"] / o
    printf "\nscheduler, 256 decoding sequences: %.1f us per step (target < 200 us); %.4f of the mean step of the concurrent run (%d sequences, %.0f us)\n", sched, sched / step_us, n, step_us
    printf "\n%d system prompts x %d requests (%d + %d tokens), one burst\n", s, r, st, sf
    printf "  %-10s %9s %14s %14s %14s %9s\n", "caching", "hit rate", "TTFT mean s", "TTFT p50 s", "TTFT p90 s", "wall s"
    printf "  %-10s %9.3f %14.3f %14.3f %14.3f %9.2f\n", "off", v["uncached_hit_rate"], v["uncached_ttft_mean_s"], v["uncached_ttft_p50_s"], v["uncached_ttft_p90_s"], v["uncached_wall_s"]
    printf "  %-10s %9.3f %14.3f %14.3f %14.3f %9.2f\n", "on", v["cached_hit_rate"], v["cached_ttft_mean_s"], v["cached_ttft_p50_s"], v["cached_ttft_p90_s"], v["cached_wall_s"]
  }' "$work/throughput.txt" "$work/scheduler.txt" "$work/prefix.txt"
