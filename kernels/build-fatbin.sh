#!/usr/bin/env bash
# Compiles every .cu file under SRC_DIR into one fatbin, OUT_DIR/llmcluster.fatbin, holding SASS for
# sm_80 (A100) and sm_90a (H100/H200) plus compute_90 PTX that newer GPUs JIT. Skips the work when the
# fatbin is newer than every source. Without nvcc it prints one line and succeeds: CPU-only builds are fine.
#   usage: build-fatbin.sh SRC_DIR OUT_DIR
# FATBIN_GENCODE (optional) replaces the -gencode list, e.g. "-gencode arch=compute_90a,code=sm_90a" for a
# one-GPU bundle (deploy/gpu/run-gpu.sh pack uses it to stay under the carry limit).
set -euo pipefail
src=${1:?usage: build-fatbin.sh SRC_DIR OUT_DIR}
out=${2:?usage: build-fatbin.sh SRC_DIR OUT_DIR}
nvcc=$(command -v nvcc || true)
[[ -z $nvcc && -x /usr/local/bin/nvcc ]] && nvcc=/usr/local/bin/nvcc
if [[ -z $nvcc ]]; then
  echo "[kernels] nvcc not found on PATH: skipping the CUDA fatbin (the CPU backend still works)"
  exit 0
fi
mkdir -p "$out"
fatbin=$out/llmcluster.fatbin
shopt -s nullglob
sources=("$src"/*.cu)
if [[ -f $fatbin ]]; then
  stale=0
  for f in "${sources[@]}" "$src"/*.cuh "$0"; do [[ $f -nt $fatbin ]] && stale=1; done
  [[ $stale == 0 ]] && { echo "[kernels] fatbin up to date: $fatbin"; exit 0; }
fi
# One translation unit that includes every kernel file keeps a single module (one cuModuleLoadData).
unit=$(mktemp --suffix=.cu)
trap 'rm -f "$unit"' EXIT
for f in "${sources[@]}"; do echo "#include \"$f\"" >> "$unit"; done
gencode=(-gencode arch=compute_80,code=sm_80 -gencode arch=compute_90a,code=sm_90a -gencode arch=compute_90,code=compute_90)
[[ -n ${FATBIN_GENCODE:-} ]] && read -r -a gencode <<< "$FATBIN_GENCODE"
# --threads 0: the architectures compile in parallel, one thread per core (the one unit is otherwise serial)
"$nvcc" -std=c++17 -O3 -lineinfo --threads 0 -I"$src" --fatbin "${gencode[@]}" -o "$fatbin" "$unit"
echo "[kernels] built $fatbin ($(stat -c %s "$fatbin") bytes) with $($nvcc --version | tail -1)"
