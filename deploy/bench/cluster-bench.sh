#!/usr/bin/env bash
# The cluster benchmark of issue #7, in one invocation:
#   1. KV-aware vs round-robin routing: 1 gateway + 3 CPU workers, each a JVM (deploy/local-cluster), started
#      fresh for each policy; S long system prompts shared by many users (U concurrent clients, R requests,
#      streamed); TTFT p50/p95 and the workers' prefix-cache hit rate; ratio of the p50s (target >= 3x);
#   2. the router's decision time on a 100k-block directory (RouterDecisionBench; target p99 < 200 us).
#
#   deploy/bench/cluster-bench.sh [--systems 8] [--system-words 600] [--users 4] [--requests 80]
#                                 [--max-tokens 4] [--workers 3] [--kv-cache 48MiB] [--model DIR] [-D key=value ...]
# Default model: the 41M-parameter random Llama MakeBenchModel writes to bench-models/llama-41m-random (prefill
# of a long prompt costs seconds on one core, so TTFT shows the cache). Each worker gets one engine thread and a
# KV pool (--kv-cache) that holds about 4 of the 8 system prompts (~690 tokens each): the cluster holds them all only when each
# prompt stays on one worker. -D key=value: a setting for every node. BENCH_WORK_DIR keeps the raw outputs and
# the nodes' logs.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
source bin/java-env.sh

model=$root/bench-models/llama-41m-random systems=8 system_words=600 users=4 requests=80 max_tokens=4 workers=3
kv_cache=48MiB
# Settings passed to every node with -D key=value.
node_opts=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --model) model=$2; shift 2 ;;
    --systems) systems=$2; shift 2 ;;
    --system-words) system_words=$2; shift 2 ;;
    --users) users=$2; shift 2 ;;
    --requests) requests=$2; shift 2 ;;
    --max-tokens) max_tokens=$2; shift 2 ;;
    --workers) workers=$2; shift 2 ;;
    --kv-cache) kv_cache=$2; shift 2 ;;
    -D) node_opts+=(-D "$2"); shift 2 ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown option $1 (try --help)" >&2; exit 2 ;;
  esac
done

bin/llmc --version > /dev/null # builds when the sources changed
cp="$root/cluster/target/cluster.jar:$root/cluster/target/lib/*"
if [[ $model == "$root/bench-models/llama-41m-random" ]]; then
  "$JAVA_HOME/bin/java" -cp "$cp" io.llmcluster.cluster.bench.MakeBenchModel "$model" "$root/deploy/bench/tokenizer-32k"
fi
work=${BENCH_WORK_DIR:-$(mktemp -d)}
mkdir -p "$work"
[[ -n ${BENCH_WORK_DIR:-} ]] || trap 'rm -rf "$work"' EXIT
echo "[cluster-bench] $(date -u +%FT%TZ) $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), model $model" >&2

for router in kv round-robin; do
  dir=$work/cluster-$router
  deploy/local-cluster start --dir "$dir" --workers "$workers" --gateway-roles gateway --model "$model" \
    --threads 1 --kv-cache "$kv_cache" -D "llmcluster.gateway.router=$router" ${node_opts[@]+"${node_opts[@]}"} \
    > "$work/start-$router.txt"
  url=$(cat "$dir/url") token=$(cat "$dir/admin-token")
  echo "[cluster-bench] $router: load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
  if ! "$JAVA_HOME/bin/java" -cp "$cp" io.llmcluster.cluster.bench.ClusterBench "$url" "$token" "$systems" \
      "$system_words" "$users" "$requests" "$max_tokens" $((2 * workers)) > "$work/$router.txt"; then
    deploy/local-cluster stop --dir "$dir"
    exit 1
  fi
  deploy/local-cluster status --dir "$dir" > "$work/status-$router.txt" || true
  deploy/local-cluster stop --dir "$dir"
done
"$JAVA_HOME/bin/java" -XX:+UseParallelGC -cp "$cp" io.llmcluster.cluster.routing.bench.RouterDecisionBench 8,16,32 100000 \
  > "$work/router.txt"

echo "[cluster-bench] done, load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
awk -F= -v s="$systems" -v r="$requests" -v u="$users" -v w="$workers" -v mt="$max_tokens" '
  FNR == 1 { f = FILENAME; sub(/.*\//, "", f); sub(/\.txt$/, "", f) }
  /^[a-z0-9_.-]+=/ { v[f, $1] = substr($0, index($0, "=") + 1); if ($1 ~ /^served\./) { sub(/^served\./, "", $1); served[f] = served[f] " " $1 ":" $2 } }
  END {
    printf "\n%d system prompts (%d tokens each with the question, mean), %d requests from %d concurrent users, %d output tokens, %d workers\n", s, v["kv", "prompt_tokens_mean"], r, u, mt, w
    printf "  %-12s %9s %12s %12s %12s %8s %8s   %s\n", "router", "hit rate", "TTFT p50 s", "TTFT p95 s", "TTFT mean s", "wall s", "errors", "requests per worker"
    split("kv round-robin", names, " ")
    for (i = 1; i <= 2; i++) {
      n = names[i]
      printf "  %-12s %9.3f %12.3f %12.3f %12.3f %8.1f %8d  %s\n", n, v[n, "hit_rate"], v[n, "ttft_p50_s"], v[n, "ttft_p95_s"], v[n, "ttft_mean_s"], v[n, "wall_s"], v[n, "errors"], served[n]
    }
    if (v["kv", "ttft_p50_s"] > 0) printf "  p50 TTFT round-robin / KV-aware: %.2fx (target >= 3)\n", v["round-robin", "ttft_p50_s"] / v["kv", "ttft_p50_s"]
    if (v["kv", "ttft_p95_s"] > 0) printf "  p95 TTFT round-robin / KV-aware: %.2fx\n", v["round-robin", "ttft_p95_s"] / v["kv", "ttft_p95_s"]
    for (i = 1; i <= 2; i++) if (v[names[i], "first_error"] != "") printf "  %s first error: %s\n", names[i], v[names[i], "first_error"]
  }' "$work/kv.txt" "$work/round-robin.txt"
echo
cat "$work/router.txt"
