"""torch SDPA reference for deploy/gpu/fa3-bench.sh: causal GQA prefill attention at the benchmark shape (1 sequence
of 2048 tokens, 32 query heads, 8 kv heads, head dim 128), FP16 and BF16, timed like bench_gpu.py (events around 20
calls after a warm-up), median of 5; then reads PrefillAttentionTiming's key=value log and prints each variant
against SDPA. Usage: python3 fa3_sdpa.py [TIMING_LOG]."""
import sys

HEADS, KV, HD, T = 32, 8, 128, 2048


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
    flops = 4.0 * HEADS * HD * (T * (T + 1) / 2)
    sdpa = {}
    for name, dt in (("f16", torch.float16), ("bf16", torch.bfloat16)):
        q = torch.randn(1, HEADS, T, HD, device=dev, dtype=dt)
        k = torch.randn(1, KV, T, HD, device=dev, dtype=dt)
        v = torch.randn(1, KV, T, HD, device=dev, dtype=dt)
        runs = sorted(timed(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True), 20, torch)
                      for _ in range(5))
        sdpa[name] = runs[2]
        print(f"torch_sdpa_2048_{name}_ms={runs[2]:.4f}")
        print(f"torch_sdpa_2048_{name}_tflops={flops / runs[2] / 1e9:.1f}")
    if len(sys.argv) > 1:
        ours = dict(line.strip().split("=", 1) for line in open(sys.argv[1]) if "=" in line)
        print("| dtype | variant | ours ms | TFLOP/s | SDPA ms | of SDPA | max diff vs v2 | NaN |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- |")
        for name in sdpa:
            for v in range(16):
                key = f"attn_2048_{name}_v{v}"
                if key + "_ms" in ours:
                    ms = float(ours[key + "_ms"])
                    used = " (default)" if ours.get(f"attn_2048_{name}_default_variant") == str(v) else ""
                    print(f"| {name} | v{v}{used} | {ms:.4f} | {ours[key + '_tflops']} | {sdpa[name]:.4f} | "
                          f"{sdpa[name] / ms:.0%} | {ours[key + '_maxdiff_vs_v2']} | {ours[key + '_nan']} |")


if __name__ == "__main__":
    main()
