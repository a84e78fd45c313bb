"""torch SDPA reference for deploy/gpu/fa3-bench.sh: causal GQA prefill attention at the benchmark shapes (1 and 8
sequences of 2048 tokens, 32 query heads, 8 kv heads, head dim 128), FP16 and BF16, timed like bench_gpu.py (events
around 20 calls after a warm-up), median of 5; then reads PrefillAttentionTiming's key=value log and prints each
variant against SDPA (shapes 2048 and b8) and, for the mixed-length batches that SDPA has no single call for
(varlen, mixed), against v10 (the default before feat/fa3c; v4 when v10 did not run). Usage: python3 fa3_sdpa.py [TIMING_LOG]."""
import sys

HEADS, KV, HD, T = 32, 8, 128, 2048
SHAPES = {"2048": 1, "b8": 8}


def timed(fn, reps, torch):
    fn()
    torch.cuda.synchronize()
    a, z = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    a.record()
    for _ in range(reps):
        fn()
    z.record()
    torch.cuda.synchronize()
    return a.elapsed_time(z) / reps


def main():
    import torch
    import torch.nn.functional as F
    dev = torch.device("cuda")
    sdpa = {}
    for label, batch in SHAPES.items():
        flops = 4.0 * batch * HEADS * HD * (T * (T + 1) / 2)
        for name, dt in (("f16", torch.float16), ("bf16", torch.bfloat16)):
            q = torch.randn(batch, HEADS, T, HD, device=dev, dtype=dt)
            k = torch.randn(batch, KV, T, HD, device=dev, dtype=dt)
            v = torch.randn(batch, KV, T, HD, device=dev, dtype=dt)
            runs = sorted(timed(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True), 20,
                                torch) for _ in range(5))
            sdpa[(label, name)] = runs[2]
            print(f"torch_sdpa_{label}_{name}_ms={runs[2]:.4f}")
            print(f"torch_sdpa_{label}_{name}_tflops={flops / runs[2] / 1e9:.1f}")
    if len(sys.argv) < 2:
        return
    ours = dict(line.strip().split("=", 1) for line in open(sys.argv[1]) if "=" in line)
    print("| shape | dtype | variant | ours ms | TFLOP/s | reference | ref ms | of ref | max diff vs v2 | NaN |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for label in ("2048", "b8", "varlen", "mixed"):
        for name in ("f16", "bf16"):
            key0 = f"attn_{label}_{name}"
            if (label, name) in sdpa:
                ref_name, ref = "SDPA", sdpa[(label, name)]
            elif key0 + "_v10_ms" in ours:  # v10: the default before feat/fa3c
                ref_name, ref = "v10", float(ours[key0 + "_v10_ms"])
            elif key0 + "_v4_ms" in ours:
                ref_name, ref = "v4", float(ours[key0 + "_v4_ms"])
            else:
                continue
            for v in range(24):
                key = f"{key0}_v{v}"
                if key + "_ms" not in ours:
                    continue
                ms = float(ours[key + "_ms"])
                used = " (default)" if ours.get(f"{key0}_default_variant") == str(v) else ""
                print(f"| {label} | {name} | v{v}{used} | {ms:.4f} | {ours[key + '_tflops']} | {ref_name} | {ref:.4f} | "
                      f"{ref / ms:.0%} | {ours[key + '_maxdiff_vs_v2']} | {ours[key + '_nan']} |")


if __name__ == "__main__":
    main()
