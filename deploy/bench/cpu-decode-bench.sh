#!/usr/bin/env bash
# Batch-1 CPU prefill and decode tokens/s of llmcluster's CPU backend against Jlama (jlama-core 0.8.4) on the
# same ~1B-parameter random-weight BF16 Llama, and against the memory-bandwidth bound, in one invocation.
#
#   deploy/bench/cpu-decode-bench.sh [--prompt N] [--decode N] [--runs N] [--max-load X] [--load-wait-s S]
#
# Builds what is missing (the product, deploy/bench/jlama), makes bench-models/llama-1b-random if missing, then
# runs the two engines one after the other (never at once), each only once the 1-minute load average is below
# --max-load (other people share this machine's cores), and prints a table. Every engine: a warm-up
# sequence, then --runs fresh sequences of an N-token prefill and N greedy decode steps, best run reported.
# Besides the load average, each engine's line reports the CPU seconds other processes used while it ran.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
source bin/java-env.sh

prompt=128 decode=64 runs=3 max_load=0.5 load_wait_s=1800
while [[ $# -gt 0 ]]; do
  case $1 in
    --prompt) prompt=$2; shift 2 ;;
    --decode) decode=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --max-load) max_load=$2; shift 2 ;;
    --load-wait-s) load_wait_s=$2; shift 2 ;;
    -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown option $1 (try --help)" >&2; exit 2 ;;
  esac
done

model=$root/bench-models/llama-1b-random
jlama_dir=$root/deploy/bench/jlama
log() { echo "[cpu-decode-bench] $*" >&2; }

build() {
  local stamp=$root/cluster/target/.built
  if [[ ! -f $root/cluster/target/cluster.jar || ! -f $stamp \
        || -n $(find "$root" \( -path "$root/*/src/*" -o -name pom.xml \) -not -path "$jlama_dir/*" -newer "$stamp" -print -quit) ]]; then
    log "building llmcluster (mvn package, tests skipped)"
    mvn -B -q -ntp -DskipTests package >&2
    touch "$stamp"
  fi
  if [[ ! -f $jlama_dir/target/jlama-bench.jar || -n $(find "$jlama_dir/src" "$jlama_dir/pom.xml" -newer "$jlama_dir/target/jlama-bench.jar" -print -quit) ]]; then
    log "building the Jlama harness (deploy/bench/jlama)"
    (cd "$jlama_dir" && mvn -B -q -ntp package >&2)
  fi
}

load1() { cut -d' ' -f1 /proc/loadavg; }

# Waits until the 1-minute load average is below max_load (or load_wait_s passed: then runs anyway, flagged).
wait_for_quiet() {
  local waited=0
  while awk -v l="$(load1)" -v m="$max_load" 'BEGIN { exit !(l >= m) }'; do
    if (( waited >= load_wait_s )); then
      log "load $(load1) still >= $max_load after ${waited}s; measuring anyway (results flagged)"
      return 1
    fi
    (( waited % 60 == 0 )) && log "load $(load1) >= $max_load; waiting (${waited}s so far)"
    sleep 10
    waited=$((waited + 10))
  done
  return 0
}

# CPU seconds (all cores) the whole machine has been busy, from /proc/stat.
busy_s() {
  awk -v hz="$(getconf CLK_TCK)" '/^cpu / { print ($2 + $3 + $4 + $7 + $8 + $9) / hz }' /proc/stat
}

# run_engine NAME OUTFILE CMD...: runs CMD when the machine is quiet; appends load and foreign-CPU lines.
run_engine() {
  local name=$1 out=$2; shift 2
  local quiet=yes
  wait_for_quiet || quiet=no
  local load_before b0 b1 own
  load_before=$(load1)
  log "running $name (load $load_before)"
  b0=$(busy_s)
  local TIMEFORMAT='%U %S'
  { time "$@" > "$out" 2> "$out.err"; } 2> "$out.time" || { cat "$out.err" >&2; log "$name failed"; exit 1; }
  b1=$(busy_s)
  own=$(awk '{ print $1 + $2 }' "$out.time")
  {
    echo "${name}_load_before=$load_before"
    echo "${name}_load_after=$(load1)"
    echo "${name}_quiet=$quiet"
    awk -v b0="$b0" -v b1="$b1" -v own="$own" -v n="$name" 'BEGIN { f = b1 - b0 - own; if (f < 0) f = 0; printf "%s_foreign_cpu_s=%.1f\n%s_own_cpu_s=%.1f\n", n, f, n, own }'
  } >> "$out"
}

build
"$JAVA_HOME/bin/java" -cp "$root/cluster/target/lib/*" io.llmcluster.worker.tools.MakeRandomModel "$model" "$root/deploy/bench/tokenizer-32k"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
run_engine llmcluster "$work/ours.txt" "$JAVA_HOME/bin/java" "${LLMC_JVM_FLAGS[@]}" -cp "$root/cluster/target/lib/*" \
  io.llmcluster.worker.tools.CpuDecodeBench "$model" "$prompt" "$decode" "$runs"
run_engine jlama "$work/jlama.txt" "$JAVA_HOME/bin/java" --add-modules jdk.incubator.vector -XX:+UseParallelGC \
  -Dorg.slf4j.simpleLogger.defaultLogLevel=warn -cp "$jlama_dir/target/jlama-bench.jar:$jlama_dir/target/lib/*" \
  io.llmcluster.bench.jlama.JlamaBench "$model" "$prompt" "$decode" "$runs"

cat "$work/ours.txt" "$work/jlama.txt" | grep -v '^run=' | sed 's/^/# /'
grep '^run=' "$work/ours.txt" | sed 's/^/# llmcluster /'
grep '^run=' "$work/jlama.txt" | sed 's/^/# jlama /'
awk -F= '{ v[$1] = $2 }
  END {
    printf "\n%-34s %12s %12s %10s\n", "batch 1, " v["prompt"] "", "llmcluster", "Jlama", "ratio"
    printf "%-34s %12.2f %12.2f %9.2fx   (target >= 1.2)\n", "decode tok/s", v["llmcluster_decode_tok_s"], v["jlama_decode_tok_s"], v["llmcluster_decode_tok_s"] / v["jlama_decode_tok_s"]
    printf "%-34s %12.2f %12.2f %9.2fx\n", "prefill tok/s", v["llmcluster_prefill_tok_s"], v["jlama_prefill_tok_s"], v["llmcluster_prefill_tok_s"] / v["jlama_prefill_tok_s"]
    printf "\n%-34s %12.3f\n", "weight GB read per decode token", v["weight_bytes_per_token"] / 1e9
    printf "\n%-44s %8s %10s %12s\n", "memory bandwidth (all cores, 1 GiB, best of 5)", "GB/s", "bound tok/s", "ours of it"
    printf "%-44s %8.2f %10.2f %12.2f   (target >= 0.70)\n", "copy, bytes read only", v["copy_read_gb_s"], v["bound_copy_read_tok_s"], v["fraction_of_copy_read_bound"]
    printf "%-44s %8.2f %10.2f %12.2f\n", "copy, bytes read + written", v["copy_rw_gb_s"], v["bound_copy_rw_tok_s"], v["fraction_of_copy_rw_bound"]
    printf "%-44s %8.2f %10.2f %12.2f\n", "read stream (vector sum)", v["stream_read_gb_s"], v["bound_stream_read_tok_s"], v["fraction_of_stream_read_bound"]
    printf "\n%-34s %12s %12s\n", "1-min load before / after", v["llmcluster_load_before"] " / " v["llmcluster_load_after"], v["jlama_load_before"] " / " v["jlama_load_after"]
    printf "%-34s %12s %12s\n", "CPU s used by others during run", v["llmcluster_foreign_cpu_s"], v["jlama_foreign_cpu_s"]
    if (v["llmcluster_quiet"] != "yes" || v["jlama_quiet"] != "yes") print "WARNING: the machine was not quiet (load >= max) when a run started"
  }' <(echo "prompt=$prompt-token prompt, $decode decode steps, best of $runs"; cat "$work/ours.txt" "$work/jlama.txt")
