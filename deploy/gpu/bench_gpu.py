"""GPU benchmark references (issue #6), run on the GPU machine by deploy/gpu/bench-gpu.sh.

make:   writes a Llama-3-8B-shaped FP16 model with random weights (vocab 32000 so the 32k benchmark tokenizer
        fits; everything else the published Llama-3.1-8B shape) as safetensors shards to --model, built on the
        GPU, and measures with PyTorch in the same process: HBM read bandwidth, Hugging Face `generate` at batch
        1 on this model, torch SDPA (flash, causal, GQA) for 2048 tokens, torch.matmul / F.linear on the
        prefill and decode shapes. Prints key=value lines.
table:  reads the key=value lines of both halves (ours and PyTorch's) and prints the ratios and a table.
"""
import argparse, gzip, json, os, shutil, sys, time

H, INTER, LAYERS, HEADS, KV, HD, VOCAB = 4096, 14336, 32, 32, 8, 128, 32000


def kv(k, v):
    print(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}", flush=True)


def config():
    return {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": H, "intermediate_size": INTER,
        "num_hidden_layers": LAYERS, "num_attention_heads": HEADS, "num_key_value_heads": KV, "head_dim": HD,
        "vocab_size": VOCAB, "max_position_embeddings": 131072, "rms_norm_eps": 1e-5, "rope_theta": 500000.0,
        "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                         "original_max_position_embeddings": 8192, "rope_type": "llama3"},
        "hidden_act": "silu", "tie_word_embeddings": False, "attention_bias": False, "mlp_bias": False,
        "torch_dtype": "float16", "bos_token_id": 31995, "eos_token_id": [31996, 31999], "initializer_range": 0.02,
    }


def timed(fn, reps, torch):
    fn()
    torch.cuda.synchronize()
    a, z = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    a.record()
    for _ in range(reps):
        fn()
    z.record()
    torch.cuda.synchronize()
    return a.elapsed_time(z) / reps  # ms


def make(args):
    import torch
    import torch.nn.functional as F
    from safetensors.torch import save_file
    dev = torch.device("cuda")
    kv("gpu", torch.cuda.get_device_name(0))
    kv("torch", torch.__version__)
    # HBM read bandwidth: a reduction over 8 GiB (read once), and a device copy (read + write)
    x = torch.empty(4 << 30, dtype=torch.float16, device=dev).normal_()
    ms = timed(lambda: x.sum(dtype=torch.float32), 10, torch)
    kv("hbm_read_sum_gbs", x.numel() * 2 / ms / 1e6)
    y = torch.empty_like(x)
    ms = timed(lambda: y.copy_(x), 10, torch)
    kv("hbm_copy_rw_gbs", 2 * x.numel() * 2 / ms / 1e6)
    del x, y
    # the model, built on the GPU
    gen = torch.Generator(device=dev).manual_seed(6)
    sd = {}
    def mat(name, rows, cols, std=0.02):
        sd[name] = torch.randn(rows, cols, generator=gen, device=dev, dtype=torch.float32).mul_(std).half()
    mat("model.embed_tokens.weight", VOCAB, H, 1.0)
    for l in range(LAYERS):
        p = f"model.layers.{l}."
        mat(p + "self_attn.q_proj.weight", HEADS * HD, H)
        mat(p + "self_attn.k_proj.weight", KV * HD, H)
        mat(p + "self_attn.v_proj.weight", KV * HD, H)
        mat(p + "self_attn.o_proj.weight", H, HEADS * HD)
        mat(p + "mlp.gate_proj.weight", INTER, H)
        mat(p + "mlp.up_proj.weight", INTER, H)
        mat(p + "mlp.down_proj.weight", H, INTER)
        sd[p + "input_layernorm.weight"] = torch.ones(H, dtype=torch.float16, device=dev)
        sd[p + "post_attention_layernorm.weight"] = torch.ones(H, dtype=torch.float16, device=dev)
    sd["model.norm.weight"] = torch.ones(H, dtype=torch.float16, device=dev)
    mat("lm_head.weight", VOCAB, H)
    total = sum(t.numel() * 2 for t in sd.values())
    kv("model_bytes", total)
    t0 = time.time()
    os.makedirs(args.model, exist_ok=True)
    names = list(sd)
    shards, cur, size = [], [], 0
    for n in names:
        cur.append(n); size += sd[n].numel() * 2
        if size > 4 << 30:
            shards.append(cur); cur, size = [], 0
    if cur:
        shards.append(cur)
    index = {"metadata": {"total_size": total}, "weight_map": {}}
    for i, group in enumerate(shards):
        fn = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
        save_file({n: sd[n].cpu() for n in group}, os.path.join(args.model, fn), metadata={"format": "pt"})
        for n in group:
            index["weight_map"][n] = fn
    json.dump(index, open(os.path.join(args.model, "model.safetensors.index.json"), "w"))
    json.dump(config(), open(os.path.join(args.model, "config.json"), "w"), indent=1)
    json.dump({"bos_token_id": 31995, "eos_token_id": [31996, 31999], "do_sample": False},
              open(os.path.join(args.model, "generation_config.json"), "w"))
    with gzip.open(os.path.join(args.tokenizer, "tokenizer.json.gz")) as f, open(os.path.join(args.model, "tokenizer.json"), "wb") as g:
        shutil.copyfileobj(f, g)
    shutil.copy(os.path.join(args.tokenizer, "tokenizer_config.json"), args.model)
    kv("model_write_s", time.time() - t0)
    if os.environ.get("BENCH_PY_KERNELS", "1") != "1":  # the model and the HBM bandwidth only (decode checks)
        return
    kernels(sd, torch, F)
    if not args.skip_hf and os.environ.get("BENCH_SKIP_HF") != "1":  # Hugging Face generate takes ~40 s of device time
        hf(sd, torch)


def kernels(sd, torch, F):
    dev = torch.device("cuda")
    q = torch.randn(1, HEADS, 2048, HD, device=dev, dtype=torch.float16)
    k = torch.randn(1, KV, 2048, HD, device=dev, dtype=torch.float16)
    v = torch.randn(1, KV, 2048, HD, device=dev, dtype=torch.float16)
    flops = 4.0 * HEADS * HD * (2048 * 2049 / 2)
    ms = timed(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True), 20, torch)
    kv("torch_sdpa_2048_ms", ms)
    kv("torch_sdpa_2048_tflops", flops / ms / 1e9)
    # decode attention: one new token against a long context (GQA, no mask), the per-layer KV read
    for ctx in (1024, 8192, 32768):
        q1 = torch.randn(1, HEADS, 1, HD, device=dev, dtype=torch.float16)
        k1 = torch.randn(1, KV, ctx, HD, device=dev, dtype=torch.float16)
        v1 = torch.randn(1, KV, ctx, HD, device=dev, dtype=torch.float16)
        ms = timed(lambda: F.scaled_dot_product_attention(q1, k1, v1, enable_gqa=True), 50, torch)
        kv(f"torch_sdpa_decode_ctx{ctx}_us", ms * 1e3)
        del q1, k1, v1
    qb = torch.randn(8, HEADS, 2048, HD, device=dev, dtype=torch.float16)
    kb = torch.randn(8, HEADS, 2048, HD, device=dev, dtype=torch.float16)
    ms = timed(lambda: F.scaled_dot_product_attention(qb, kb, kb, is_causal=True), 10, torch)
    kv("torch_sdpa_b8_2048_tflops", 8 * flops / ms / 1e9)
    l0 = "model.layers.0."
    qkv = torch.cat([sd[l0 + "self_attn.q_proj.weight"], sd[l0 + "self_attn.k_proj.weight"], sd[l0 + "self_attn.v_proj.weight"]])
    gate_up = torch.cat([sd[l0 + "mlp.gate_proj.weight"], sd[l0 + "mlp.up_proj.weight"]])
    shapes = {"qkv": qkv, "o": sd[l0 + "self_attn.o_proj.weight"], "gate_up": gate_up,
              "down": sd[l0 + "mlp.down_proj.weight"], "lm_head": sd["lm_head.weight"]}
    for name, w in shapes.items():
        out, inp = w.shape
        if name != "lm_head":
            x = torch.randn(2048, inp, device=dev, dtype=torch.float16)
            ms = timed(lambda: torch.matmul(x, w.t()), 10, torch)
            kv(f"torch_matmul_{name}_m2048_ms", ms)
            kv(f"torch_matmul_{name}_m2048_tflops", 2.0 * 2048 * inp * out / ms / 1e9)
            int8_refs(name, x, w, torch)
        for m in (1, 2, 4, 8, 16, 32, 64):
            x1 = torch.randn(m, inp, device=dev, dtype=torch.float16)
            ms = timed(lambda: F.linear(x1, w), 50, torch)
            kv(f"torch_linear_{name}_m{m}_gbs", 2.0 * inp * out / ms / 1e6)
    del qkv, gate_up


def int8_refs(name, x, w, torch):
    """W8A8 references at M = 2048: torch._int_mm (INT8 x INT8 -> INT32, cuBLAS) alone, and with per-token activation
    quantization and the rescale to FP32 as eager PyTorch ops (what W8a8Bench's W8A8 path does in three kernels)."""
    try:
        out, inp = w.shape
        w8 = torch.randint(-127, 128, (out, inp), device=x.device, dtype=torch.int8)
        ws = torch.rand(out, device=x.device, dtype=torch.float32) * 1e-3
        a8 = torch.randint(-127, 128, x.shape, device=x.device, dtype=torch.int8)
        ms = timed(lambda: torch._int_mm(a8, w8.t()), 10, torch)
        kv(f"torch_int_mm_{name}_m2048_ms", ms)
        kv(f"torch_int_mm_{name}_m2048_tops", 2.0 * 2048 * inp * out / ms / 1e9)

        def w8a8():
            s = x.abs().amax(dim=1, keepdim=True).float() / 127
            q = torch.round(x.float() / s).clamp(-127, 127).to(torch.int8)
            return torch._int_mm(q, w8.t()).float() * s * ws
        ms = timed(w8a8, 10, torch)
        kv(f"torch_w8a8_{name}_m2048_ms", ms)
    except Exception as e:  # an older torch without _int_mm, or shapes it refuses
        kv(f"torch_int_mm_{name}_m2048", f"unavailable ({type(e).__name__}: {e})")


def hf(sd, torch):
    from transformers import LlamaConfig, LlamaForCausalLM
    cfg = config()
    cfg = LlamaConfig(**{k: v for k, v in cfg.items() if k not in ("architectures", "torch_dtype")})
    with torch.device("meta"):
        model = LlamaForCausalLM(cfg)
    model.load_state_dict(sd, assign=True, strict=True)
    from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding
    model.model.rotary_emb = LlamaRotaryEmbedding(config=cfg, device="cuda")
    model = model.to(dtype=torch.float16).eval()
    ids = torch.randint(0, VOCAB - 16, (1, 128), device="cuda")
    def gen(n, batch=1):
        return model.generate(ids.repeat(batch, 1), max_new_tokens=n, min_new_tokens=n, do_sample=False,
                              attention_mask=torch.ones_like(ids.repeat(batch, 1)), pad_token_id=0)
    with torch.no_grad():
        gen(4)
        torch.cuda.synchronize()
        t0 = time.time(); gen(1); torch.cuda.synchronize(); t1 = time.time() - t0
        t0 = time.time(); gen(33); torch.cuda.synchronize(); t33 = time.time() - t0
        kv("hf_generate_b1_ms_per_token", (t33 - t1) / 32 * 1e3)
        kv("hf_generate_b1_tok_s", 33 / t33)
        t0 = time.time(); out = gen(128, 32); torch.cuda.synchronize(); t = time.time() - t0
        kv("hf_generate_b32_128_128_tok_s", 32 * 128 / t)


def table(args):
    d = {}
    for path in [p for p in args.files if os.path.exists(p)]:
        for line in open(path, errors="replace"):
            if "=" in line and not line.startswith((" ", "WARN", "[")):
                k, _, v = line.strip().partition("=")
                d[k] = v
    f = lambda k: float(d[k]) if k in d and d[k].replace(".", "", 1).replace("-", "", 1).isdigit() else float("nan")
    bw = f("hbm_read_sum_gbs")
    roof_ms = f("weight_bytes_read_per_token") / bw / 1e6
    rows = []
    def row(what, ours, ref, ratio, target=""):
        rows.append((what, ours, ref, ratio, target))
    b1 = f("decode_graphs_gemv_b1_wall_ms")
    row("HBM read bandwidth (torch sum over 8 GiB)", "", f"{bw:.0f} GB/s (copy r+w {f('hbm_copy_rw_gbs'):.0f})", "", "")
    row("batch-1 decode ms/token, graphs + GEMV", f"{b1:.2f}", f"roofline {roof_ms:.2f}", f"{roof_ms / b1:.0%} of roofline", ">= 90%")
    for m in ("eager_cublas", "eager_gemv", "graphs_gemv"):
        for b in (1, 8, 32):
            p = f"decode_{m}_b{b}"
            row(f"decode step b{b} {m}: wall / device ms", f"{f(p + '_wall_ms'):.2f} / {f(p + '_device_ms'):.2f}", "",
                f"GPU idle {f(p + '_idle_frac'):.1%}", "idle < 3%")
    for b in (64, 128, 256):
        p = f"decode_graphs_b{b}"
        if p + "_wall_ms" in d:
            row(f"decode step b{b} graphs: wall (all logits to host) / wall (argmax on GPU) / device ms",
                f"{f(p + '_wall_ms'):.2f} / {f(p + '_greedy_wall_ms'):.2f} / {f(p + '_device_ms'):.2f}", "",
                f"host share {f(p + '_host_frac'):.1%} / {f(p + '_greedy_host_frac'):.1%}", "")
    hfms = f("hf_generate_b1_ms_per_token")
    row("batch-1 decode vs HF generate", f"{b1:.2f} ms", f"{hfms:.2f} ms", f"{hfms / b1:.1f}x faster", "")
    row("prefill TTFT 2048 tokens (backend step)", f"{f('prefill_2048_ttft_ms'):.1f} ms", "", "", "")
    row("prefill attention 2048 (1 seq, h32/kv8/d128, causal)", f"{f('attn_prefill_2048_ms'):.3f} ms",
        f"SDPA {f('torch_sdpa_2048_ms'):.3f} ms", f"{f('torch_sdpa_2048_ms') / f('attn_prefill_2048_ms'):.0%} of SDPA", ">= 90%")
    for v in range(8):
        if f"attn_prefill_2048_v{v}_ms" in d:
            row(f"prefill attention 2048, tensor-core variant v{v}" + (" (used)" if d.get("attn_prefill_variant") == str(v) else ""),
                f"{f(f'attn_prefill_2048_v{v}_ms'):.3f} ms", "", f"{f('torch_sdpa_2048_ms') / f(f'attn_prefill_2048_v{v}_ms'):.0%} of SDPA", "")
    for g in ("qkv", "o", "gate_up", "down"):
        ours, ref = f(f"gemm_{g}_m2048_tflops"), f(f"torch_matmul_{g}_m2048_tflops")
        row(f"GEMM {g} M=2048 (cuBLAS, FP32 out) TFLOP/s", f"{ours:.0f}", f"torch.matmul {ref:.0f}", f"{ours / ref:.0%}", ">= 95%")
    for g in ("qkv", "o", "gate_up", "down", "lm_head"):
        for m in (1, 2, 4, 8, 16, 32, 64):
            p = f"gemv_{g}_m{m}"
            if p + "_ours_gbs" not in d:
                continue
            ours, cub, ref = f(p + "_ours_gbs"), f(p + "_cublas_gbs"), f(f"torch_linear_{g}_m{m}_gbs")
            row(f"projection {g} M={m} GB/s: ours [{d.get(p + '_kernel', '?')}] / our cuBLAS", f"{ours:.0f} / {cub:.0f}",
                f"F.linear {ref:.0f}", f"{ours / ref:.2f}x F.linear, {ours / cub:.2f}x cuBLAS", ">= 3600" if m == 1 else "")
    f16 = f("f16_decode_b1_ms")
    for q in ("f16", "int8-ch", "int8-g128"):
        if q + "_decode_b1_ms" in d:
            ms = f(q + "_decode_b1_ms")
            row(f"batch-1 decode ms/token, {q} weights (ProjectionBench, graphs, autotuned)", f"{ms:.2f}",
                f"our FP16 {f16:.2f}", f"{f16 / ms:.2f}x" if q != "f16" else "", ">= 1.7x" if q != "f16" else "")
            row(f"  of which projections (M=1 device times x layers) / everything else, {q}",
                f"{f(q + '_decode_b1_projections_ms'):.2f} / {f(q + '_decode_b1_other_ms'):.2f} ms", "", "", "")
    for q in ("int8-ch", "int8-g128"):
        for g in ("qkv", "o", "gate_up", "down", "lm_head"):
            for m in (1, 2, 4, 8, 16, 32, 64):
                p = f"{q}_gemv_{g}_m{m}"
                if p + "_ours_gbs" in d and m in (1, 2, 4, 8, 64):
                    row(f"{q} projection {g} M={m} GB/s of INT8 bytes: ours [{d.get(p + '_kernel', '?')}] / dequant+cuBLAS",
                        f"{f(p + '_ours_gbs'):.0f} / {f(p + '_dequant_cublas_gbs'):.0f}",
                        f"FP16 ours {f(f'f16_gemv_{g}_m{m}_ours_gbs'):.0f}", "", "")
    for k in sorted(d, key=lambda k: (k.split('_')[:3], int(k.split('_c')[-1].split('_')[0]) if k.startswith('engine_') else 0)):
        if k.startswith("engine_") and k.endswith("_tok_s"):
            tag = k[:-6]
            row(f"engine {tag[7:]} output tok/s (ITL p50/p99 ms)", f"{f(k):.0f}",
                f"{f(tag + '_itl_p50_ms'):.1f} / {f(tag + '_itl_p99_ms'):.1f}", f"p99/p50 {f(tag + '_itl_p99_ms') / max(f(tag + '_itl_p50_ms'), 1e-9):.2f}"
                + (f", backend busy {f(tag + '_backend_busy'):.0%}, {d.get(tag + '_steps', '?')} steps" if tag + "_backend_busy" in d else ""),
                ">= 18000" if tag.startswith("engine_128_128_c") and int(tag.split("_c")[-1].split("_")[0]) >= 256 else "")
    if "hf_generate_b32_128_128_tok_s" in d:
        row("HF generate 128/128 at batch 32 tok/s", "", f"{f('hf_generate_b32_128_128_tok_s'):.0f}", "", "")
    for c in (1024, 8192, 32768):
        kvb = 2.0 * (c + 43) * KV * HD * 2
        ours = f(f"attn_decode_ctx{c}_us")
        row(f"decode attention, one layer, {c} context (split + reduce) us", f"{ours:.1f} ({f(f'attn_decode_ctx{c}_gbs'):.0f} GB/s)",
            f"SDPA {f(f'torch_sdpa_decode_ctx{c}_us'):.1f}; HBM bound {kvb / bw / 1e3:.1f}", f"{kvb / bw / 1e3 / ours:.0%} of bound", "")
    base = f("itl_ctx1024_ms")
    for c in (1024, 8192, 32768):
        row(f"batch-1 ITL at {c} context ms", d.get(f"itl_ctx{c}_ms", "-"), "", f"{f(f'itl_ctx{c}_ms') / base:.2f}x of 1k", "<= 1.35x at 32k")
    print("\n| measure | ours | reference (same run) | ratio | issue target |")
    print("| --- | --- | --- | --- | --- |")
    for r in rows:
        print("| " + " | ".join(str(x) for x in r) + " |")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd", choices=["make", "table"])
    ap.add_argument("--model", default="/tmp/llama8b")
    ap.add_argument("--tokenizer", default="deploy/bench/tokenizer-32k")
    ap.add_argument("--skip-hf", action="store_true", help="leave out Hugging Face generate (saves ~60 s)")
    ap.add_argument("files", nargs="*")
    a = ap.parse_args()
    make(a) if a.cmd == "make" else table(a)
