#!/usr/bin/env python3
"""Make the project's tiny reference models and their ground-truth outputs with Hugging Face transformers.

Run on the GPU machine (which has torch, transformers, tokenizers and safetensors; no network). No GPU is
used: everything is computed in FP32 on the CPU. See deploy/gpu/README.md for the exact command.

What it makes (under --stage, laid out like the repository, then packed into --out/*.tar.gz):
  gpu-worker/src/main/resources/models/tiny-llama/           LlamaForCausalLM, FP32, new config form
  gpu-worker/src/test/resources/reference/tiny-llama-bf16/   same weights rounded to BF16, OLD config form
  gpu-worker/src/test/resources/reference/tiny-qwen2/        Qwen2ForCausalLM, FP32, sharded, OLD config form
  gpu-worker/src/test/resources/reference/tiny-mistral/      MistralForCausalLM, FP16, head_dim 32, new form
  gpu-worker/src/test/resources/reference/records/<model>.json and <model>.logits.safetensors
  deploy/bench/tokenizer-32k/tokenizer.json.gz + tokenizer_config.json

Every step is deterministic: corpora are read in sorted order, weights come from a seeded torch.Generator.
"""

import argparse
import copy
import gzip
import json
import os
import platform
import shutil
import sys
import sysconfig
import tarfile
import time
import traceback

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch

import safetensors
import tokenizers
import transformers
from safetensors.torch import save_file
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import (AutoConfig, AutoModelForCausalLM, AutoTokenizer, GenerationConfig, LlamaConfig,
                          LlamaForCausalLM, MistralConfig, MistralForCausalLM, Qwen2Config, Qwen2ForCausalLM)

try:
    from transformers import PreTrainedTokenizerFast as FastTokenizer
except Exception:  # pragma: no cover - transformers v5 renamed it
    from transformers import TokenizersBackend as FastTokenizer

ERRORS = []
T0 = time.time()


def log(*a):
    print(f"[{time.time() - T0:6.1f}s]", *a, flush=True)


def step(name):
    """Decorator-free helper: run fn, record a traceback instead of dying."""
    def run(fn, *args, **kw):
        try:
            return fn(*args, **kw)
        except Exception:
            tb = traceback.format_exc()
            ERRORS.append(f"{name}: {tb}")
            log(f"ERROR in {name}:\n{tb}")
            return None
    return run


# ----------------------------------------------------------------------------------------------------------
# Chat templates (the published ones)
# ----------------------------------------------------------------------------------------------------------
LLAMA3_CHAT_TEMPLATE = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'"
    "+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
    "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)

QWEN2_CHAT_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

LLAMA_SPECIALS = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>",
                  "<|eot_id|>"]
QWEN_SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
# The split regex of the published Qwen2 tokenizer.json (transformers 5's Qwen2Tokenizer imposes it as well).
QWEN2_SPLIT_REGEX = (r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"""
                     r"""|\s*[\r\n]+|\s+(?!\S)|\s+""")

# Each prompt is the longest word prefix of its text with at most PROMPT_MAX_TOKENS[i] llama tokens (BOS counted).
PROMPT_MAX_TOKENS = (6, 21, 100)
SHORT_PROMPT = "The cat sat on the mat and looked at the door."
MEDIUM_PROMPT = ("This function returns the number of items in the list, or None if the list is empty, "
                 "and raises an error otherwise.")
LONG_PARAGRAPH = (
    "In the early morning the small town by the sea was quiet. Fishermen carried their nets down to the "
    "harbour, a baker opened the shutters of his shop, and the smell of fresh bread drifted along the narrow "
    "streets. Children walked to school in pairs, talking about the storm that had passed during the night. "
    "On the hill above the town an old lighthouse keeper wrote in his logbook: wind from the north-west, "
    "visibility good, three ships seen before sunrise. Later that day a stranger arrived on the afternoon "
    "train, carrying a heavy leather suitcase and a map of the coast, and asked the station master where he "
    "could find a room for the week. Nobody knew who he was or why he had come, but by evening everyone "
    "in the town had a theory about him."
)


# ----------------------------------------------------------------------------------------------------------
# Corpora and tokenizers
# ----------------------------------------------------------------------------------------------------------
def sorted_files(root, exts, skip_dirs=("__pycache__", "site-packages", "dist-packages"), recursive=True):
    out = []
    if not os.path.isdir(root):
        return out
    if not recursive:
        for f in sorted(os.listdir(root)):
            p = os.path.join(root, f)
            if os.path.isfile(p) and f.endswith(exts):
                out.append(p)
        return out
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in skip_dirs)
        for f in sorted(filenames):
            if f.endswith(exts):
                out.append(os.path.join(dirpath, f))
    return out


def read_capped(paths, cap_bytes, max_file=1 << 20):
    texts, total, used = [], 0, 0
    for p in paths:
        try:
            if os.path.getsize(p) > max_file:
                continue
            with open(p, "r", encoding="utf-8", errors="replace") as fh:
                t = fh.read()
        except Exception:
            continue
        n = len(t.encode("utf-8"))
        if total + n > cap_bytes:
            break
        texts.append(t)
        total += n
        used += 1
    return texts, total, used


def qwen2_pre_tokenizer():
    return pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_SPLIT_REGEX), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])


def train_byte_level_bpe(texts, total_vocab, specials, qwen2_style=False):
    """Byte-level BPE. Llama flavour: ByteLevel(add_prefix_space=False) pre-tokenizer with its GPT-2 regex.
    Qwen2 flavour: as the published Qwen2 tokenizer.json, NFC normalizer + Split(Qwen2 regex) + ByteLevel."""
    tok = Tokenizer(models.BPE())
    if qwen2_style:
        tok.normalizer = normalizers.NFC()
        tok.pre_tokenizer = qwen2_pre_tokenizer()
    else:
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=total_vocab - len(specials), min_frequency=2, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), special_tokens=[])
    tok.train_from_iterator(texts, trainer=trainer)
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False, lstrip=False, rstrip=False,
                                       single_word=False) for s in specials])
    return tok


def byte_level_post(trim_offsets=False):
    try:
        return processors.ByteLevel(add_prefix_space=False, trim_offsets=trim_offsets, use_regex=False)
    except TypeError:
        return processors.ByteLevel(trim_offsets=trim_offsets)


def make_llama_flavour(tok):
    bos = "<|begin_of_text|>"
    bos_id = tok.token_to_id(bos)
    template = processors.TemplateProcessing(single=f"{bos}:0 $A:0", pair=f"{bos}:0 $A:0 {bos}:1 $B:1",
                                             special_tokens=[(bos, bos_id)])
    # The published Llama 3 tokenizer.json: Sequence[ByteLevel(trim_offsets=false), TemplateProcessing].
    tok.post_processor = processors.Sequence([byte_level_post(False), template])
    return tok


def make_qwen_flavour(tok):
    tok.post_processor = byte_level_post(False)  # Qwen2: ByteLevel only, no BOS
    return tok


def wrap(tok, flavour, model_max_length):
    if flavour == "llama":
        kw = dict(bos_token="<|begin_of_text|>", eos_token="<|eot_id|>", chat_template=LLAMA3_CHAT_TEMPLATE)
    else:
        kw = dict(bos_token=None, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                  chat_template=QWEN2_CHAT_TEMPLATE)
    fast = FastTokenizer(tokenizer_object=Tokenizer.from_str(tok.to_str()), model_max_length=model_max_length,
                         clean_up_tokenization_spaces=False, **kw)
    fast.chat_template = kw["chat_template"]
    return fast


def save_tokenizer(fast, raw_tok, d, template, legacy_chat_template=True):
    """save_pretrained; with legacy_chat_template the chat template lives in tokenizer_config.json
    (as in the published Llama 3 / Qwen2 repositories) rather than a separate chat_template.jinja."""
    os.makedirs(d, exist_ok=True)
    if legacy_chat_template:
        try:
            fast.save_pretrained(d, save_jinja_files=False)
        except TypeError:
            fast.save_pretrained(d)
        cfg_path = os.path.join(d, "tokenizer_config.json")
        with open(cfg_path) as fh:
            cfg = json.load(fh)
        if cfg.get("chat_template") != template:
            cfg["chat_template"] = template
            with open(cfg_path, "w") as fh:
                json.dump(cfg, fh, indent=2, ensure_ascii=False, sort_keys=True)
                fh.write("\n")
        jinja = os.path.join(d, "chat_template.jinja")
        if os.path.exists(jinja):
            os.remove(jinja)
    else:
        fast.save_pretrained(d)
    # The saved tokenizer.json must encode exactly like the trained one.
    path = os.path.join(d, "tokenizer.json")
    saved = Tokenizer.from_file(path)
    for s in ["Hello world", "x = 1  # <|eot_id|> <|im_end|>", "caf\u00e9 \U0001F680"]:
        a, b = raw_tok.encode(s).ids, saved.encode(s).ids
        if a != b:
            log(f"WARNING: saved tokenizer.json in {d} encodes {s!r} as {b}, trained one as {a}; "
                f"writing the trained tokenizer's own tokenizer.json instead")
            raw_tok.save(path, pretty=True)
            break


# ----------------------------------------------------------------------------------------------------------
# Models
# ----------------------------------------------------------------------------------------------------------
def make_config(cls, rope, **kw):
    """rope = dict(rope_theta=..., rope_type=..., ...). Prefer the new `rope_parameters` form."""
    try:
        cfg = cls(rope_parameters=dict(rope), **kw)
        rp = getattr(cfg, "rope_parameters", None)
        if isinstance(rp, dict) and rp.get("rope_type") == rope["rope_type"] and \
                float(rp.get("rope_theta")) == float(rope["rope_theta"]):
            return cfg
        log(f"NOTE: {cls.__name__}(rope_parameters=...) gave rope_parameters={rp}; falling back")
    except Exception as e:
        log(f"NOTE: {cls.__name__}(rope_parameters=...) failed: {e!r}; falling back")
    r = dict(rope)
    theta = r.pop("rope_theta")
    scaling = None if r.get("rope_type") == "default" else r
    return cls(rope_theta=theta, rope_scaling=scaling, **kw)


def init_weights(model, seed, std, bias_std=0.1, norm_spread=0.2):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():  # shared (tied) parameters come once
            if name.endswith(".bias"):
                p.copy_(torch.randn(p.shape, generator=g) * bias_std)
            elif p.dim() == 1:  # RMSNorm weights
                p.copy_(1.0 + norm_spread * (2.0 * torch.rand(p.shape, generator=g) - 1.0))
            else:
                p.copy_(torch.randn(p.shape, generator=g) * std)


def round_weights_(model, dtype):
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.to(dtype).to(torch.float32))


def set_eager(model):
    try:
        model.set_attn_implementation("eager")
        return "eager"
    except Exception:
        try:
            model.config._attn_implementation = "eager"
            return "eager(config)"
        except Exception:
            return getattr(model.config, "_attn_implementation", "?")


@torch.no_grad()
def argmax_greedy(model, ids, n=32):
    seq, picks, margins = list(ids), [], []
    for _ in range(n):
        logits = model(input_ids=torch.tensor([seq])).logits[0, -1].float()
        top = torch.topk(logits, 2)
        picks.append(int(top.indices[0]))
        margins.append(float(top.values[0] - top.values[1]))
        seq.append(picks[-1])
    return picks, margins


def choose_seed(build, prompts_ids, eos_ids, seeds=range(48)):
    """build(seed) -> list of models to check (all must be good). Prefer seeds whose greedy runs never pick
    an EOS id (so generate with EOS suppressed equals plain argmax), then the largest minimum margin."""
    best = None
    for s in seeds:
        ms = build(s)
        worst, eos_hit = float("inf"), False
        for m in ms:
            for ids in prompts_ids:
                picks, margins = argmax_greedy(m, ids)
                worst = min(worst, min(margins))
                eos_hit |= any(p in eos_ids for p in picks)
        key = (not eos_hit, worst)
        log(f"  seed {s}: min margin {worst:.4f}, eos picked: {eos_hit}")
        if best is None or key > best[0]:
            best = (key, s)
    return best[1]


@torch.no_grad()
def prompt_logits(model, ids):
    return model(input_ids=torch.tensor([ids])).logits[0].float().contiguous()


def run_generate(model, ids, eos_ids, pad_id, bos_id):
    gc = GenerationConfig(do_sample=False, max_new_tokens=32, min_new_tokens=32, eos_token_id=list(eos_ids),
                          pad_token_id=pad_id, bos_token_id=bos_id)
    saved = model.generation_config
    model.generation_config = gc
    try:
        t = torch.tensor([ids])
        out = model.generate(input_ids=t, attention_mask=torch.ones_like(t), generation_config=gc)
        return [int(x) for x in out[0, len(ids):]]
    finally:
        model.generation_config = saved


def load_f32(d):
    try:
        m = AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32)
    except TypeError:
        m = AutoModelForCausalLM.from_pretrained(d, torch_dtype=torch.float32)
    m.eval()
    set_eager(m)
    return m


def to_old_form(cfg):
    """transformers 5 config.json -> the form published checkpoints use (rope_theta, rope_scaling, torch_dtype)."""
    cfg = dict(cfg)
    rp = cfg.pop("rope_parameters", None)
    old_scaling = cfg.pop("rope_scaling", None)
    if isinstance(rp, dict) and rp and all(isinstance(v, dict) for v in rp.values()):
        rp = rp.get("full_attention") or next(iter(rp.values()))
    if rp is None:
        rp = dict(old_scaling or {})
        if "rope_theta" in cfg:
            rp["rope_theta"] = cfg["rope_theta"]
    rp = dict(rp)
    if "rope_theta" in rp:
        cfg["rope_theta"] = float(rp.pop("rope_theta"))
    rtype = rp.pop("rope_type", rp.pop("type", "default"))
    if rtype != "default":
        rp["rope_type"] = rtype
        cfg["rope_scaling"] = {k: rp[k] for k in sorted(rp)}
    if "dtype" in cfg:
        cfg["torch_dtype"] = cfg.pop("dtype")
    cfg.pop("layer_types", None)
    # transformers 5 writes head_dim even where it is the default hidden_size / num_attention_heads; the published
    # Llama 3.1 and Qwen2 configs leave it out, so the old form leaves it implicit too.
    heads = cfg.get("num_attention_heads")
    if cfg.get("head_dim") is not None and heads and cfg["head_dim"] * heads == cfg.get("hidden_size"):
        cfg.pop("head_dim")
    return {k: cfg[k] for k in sorted(cfg)}


def rewrite_config_old(d):
    p = os.path.join(d, "config.json")
    with open(p) as fh:
        new = json.load(fh)
    old = to_old_form(new)
    with open(p, "w") as fh:
        json.dump(old, fh, indent=2)
        fh.write("\n")
    return new, old


def dir_listing(d):
    return {f: os.path.getsize(os.path.join(d, f)) for f in sorted(os.listdir(d))}


def tokenizer_checks(tok_dir, raw, extra_special):
    hf = AutoTokenizer.from_pretrained(tok_dir)
    log(f"  AutoTokenizer for {os.path.basename(tok_dir)}: {type(hf).__name__}")
    strings = [
        "Hello, world!",
        "  two leading spaces, a\ttab and a\nnewline",
        "Unicode: caf\u00e9 na\u00efve \u00fcber \u65e5\u672c\u8a9e \u4e2d\u6587 \u0645\u0631\u062d\u0628\u0627",
        "Emoji: \U0001F916\U0001F680 \U0001F468\u200D\U0001F469\u200D\U0001F467 \u2764\uFE0F",
        f"Special inside: {extra_special} then text",
        "Not special: <|not_a_special|> <s>",
        "def square(x):\n    return x ** 2\n",
        "",
    ]
    out = []
    for s in strings:
        ids = hf.encode(s, add_special_tokens=True)
        raw_ids = raw.encode(s, add_special_tokens=True).ids
        if ids != raw_ids:
            log(f"WARNING: transformers ids {ids} != tokenizers ids {raw_ids} for {s!r}")
        item = {"text": s, "ids": ids, "decoded": raw.decode(ids, skip_special_tokens=False),
                "decoded_skip_special": raw.decode(ids, skip_special_tokens=True)}
        if ids != raw_ids:
            item["ids_tokenizers_lib"] = raw_ids
        out.append(item)
    return hf, out


def chat_checks(hf, conversations):
    out = []
    for msgs in conversations:
        text = hf.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
        res = hf.apply_chat_template(msgs, tokenize=True, add_generation_prompt=True)
        if hasattr(res, "keys"):
            res = res["input_ids"]
        if res and isinstance(res[0], list):
            res = res[0]
        ids = [int(x) for x in res]
        enc = hf.encode(text, add_special_tokens=False)
        if enc != ids:
            log(f"WARNING: chat ids {ids} != encode(rendered, add_special_tokens=False) {enc}")
        out.append({"messages": msgs, "add_generation_prompt": True, "rendered": text, "ids": ids})
    return out


# ----------------------------------------------------------------------------------------------------------
def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--stage", required=True, help="scratch folder laid out like the repository")
    ap.add_argument("--out", required=True, help="folder for the bundles (the device's $OUT)")
    ap.add_argument("--skip-32k", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(min(8, os.cpu_count() or 1))
    stage = args.stage
    if os.path.exists(stage):
        shutil.rmtree(stage)
    main_models = os.path.join(stage, "gpu-worker/src/main/resources/models")
    ref = os.path.join(stage, "gpu-worker/src/test/resources/reference")
    records_dir = os.path.join(ref, "records")
    os.makedirs(records_dir)
    os.makedirs(main_models)

    versions = {"python": platform.python_version(), "torch": torch.__version__,
                "transformers": transformers.__version__, "tokenizers": tokenizers.__version__,
                "safetensors": safetensors.__version__, "tokenizer_class": FastTokenizer.__name__}
    log("versions:", json.dumps(versions))

    # ---------------- tokenizers (512) ----------------
    stdlib = sysconfig.get_paths()["stdlib"]
    purelib = sysconfig.get_paths()["purelib"]
    log(f"stdlib {stdlib}; purelib {purelib}")
    small_texts, small_bytes, small_files = read_capped(sorted_files(stdlib, (".py",), recursive=False),
                                                        3 * 1024 * 1024)
    log(f"512 corpus: {small_files} top-level stdlib .py files, {small_bytes} bytes")
    llama_raw = make_llama_flavour(train_byte_level_bpe(small_texts, 512, LLAMA_SPECIALS))
    qwen_raw = make_qwen_flavour(train_byte_level_bpe(small_texts, 512, QWEN_SPECIALS, qwen2_style=True))
    lid = {s: llama_raw.token_to_id(s) for s in LLAMA_SPECIALS}
    qid = {s: qwen_raw.token_to_id(s) for s in QWEN_SPECIALS}
    log(f"llama tokenizer: vocab {llama_raw.get_vocab_size()}, specials {lid}")
    log(f"qwen tokenizer: vocab {qwen_raw.get_vocab_size()}, specials {qid}")
    llama_fast = wrap(llama_raw, "llama", 256)
    qwen_fast = wrap(qwen_raw, "qwen", 256)

    def trim(text, max_tokens):
        words = text.split(" ")
        best = words[0]
        for k in range(1, len(words) + 1):
            cand = " ".join(words[:k])
            if len(llama_raw.encode(cand).ids) <= max_tokens:
                best = cand
            else:
                break
        return best

    prompts = [trim(t, n) for t, n in zip((SHORT_PROMPT, MEDIUM_PROMPT, LONG_PARAGRAPH), PROMPT_MAX_TOKENS)]
    log(f"prompts: {prompts}")
    for fl, raw in (("llama", llama_raw), ("qwen", qwen_raw)):
        log(f"{fl} prompt lengths: {[len(raw.encode(p).ids) for p in prompts]}")

    bos_l, eot_l, eos_l = lid["<|begin_of_text|>"], lid["<|eot_id|>"], lid["<|end_of_text|>"]
    eoft_q, imend_q = qid["<|endoftext|>"], qid["<|im_end|>"]
    summary = {"versions": versions, "llama_specials": lid, "qwen_specials": qid, "models": {}}

    def enc(raw, text):
        return raw.encode(text, add_special_tokens=True).ids

    # ---------------- configs ----------------
    llama_kw = dict(vocab_size=512, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                    num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256, rms_norm_eps=1e-5,
                    initializer_range=0.2, tie_word_embeddings=False, hidden_act="silu", bos_token_id=bos_l,
                    eos_token_id=[eos_l, eot_l], attention_bias=False, mlp_bias=False)
    llama_rope = dict(rope_type="llama3", rope_theta=500000.0, factor=8.0, low_freq_factor=1.0,
                      high_freq_factor=4.0, original_max_position_embeddings=64)
    qwen_kw = dict(vocab_size=512, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                   num_attention_heads=4, num_key_value_heads=1, max_position_embeddings=256, rms_norm_eps=1e-6,
                   initializer_range=0.2, tie_word_embeddings=True, hidden_act="silu", bos_token_id=eoft_q,
                   eos_token_id=imend_q, use_sliding_window=False, max_window_layers=2)
    qwen_rope = dict(rope_type="default", rope_theta=1000000.0)
    mistral_kw = dict(vocab_size=512, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, head_dim=32, max_position_embeddings=256,
                      rms_norm_eps=1e-5, initializer_range=0.2, tie_word_embeddings=False, hidden_act="silu",
                      sliding_window=None, bos_token_id=bos_l, eos_token_id=eos_l)
    mistral_rope = dict(rope_type="default", rope_theta=10000.0)

    llama_cfg = make_config(LlamaConfig, llama_rope, **llama_kw)
    qwen_cfg = make_config(Qwen2Config, qwen_rope, **qwen_kw)
    mistral_cfg = make_config(MistralConfig, mistral_rope, **mistral_kw)
    for n, c in (("llama", llama_cfg), ("qwen2", qwen_cfg), ("mistral", mistral_cfg)):
        log(f"{n} config rope: rope_parameters={getattr(c, 'rope_parameters', None)} "
            f"rope_scaling={getattr(c, 'rope_scaling', None)} rope_theta={getattr(c, 'rope_theta', None)} "
            f"head_dim={getattr(c, 'head_dim', None)}")

    def build(cls, cfg, seed, round_to=None):
        m = cls(copy.deepcopy(cfg))
        init_weights(m, seed, cfg.initializer_range)
        if round_to is not None:
            round_weights_(m, round_to)
        m.eval()
        set_eager(m)
        return m

    llama_ids = [enc(llama_raw, p) for p in prompts]
    qwen_ids = [enc(qwen_raw, p) for p in prompts]

    # ---------------- seeds ----------------
    log("choosing seed for llama (fp32 and bf16-rounded both checked)")
    s_llama = choose_seed(lambda s: [build(LlamaForCausalLM, llama_cfg, s),
                                     build(LlamaForCausalLM, llama_cfg, s, torch.bfloat16)],
                          llama_ids, {eos_l, eot_l})
    log("choosing seed for qwen2")
    s_qwen = choose_seed(lambda s: [build(Qwen2ForCausalLM, qwen_cfg, 100 + s)], qwen_ids, {eoft_q, imend_q},
                         seeds=range(48))
    s_qwen += 100
    log("choosing seed for mistral (fp16-rounded)")
    s_mistral = choose_seed(lambda s: [build(MistralForCausalLM, mistral_cfg, 200 + s, torch.float16)],
                            llama_ids, {eos_l})
    s_mistral += 200
    log(f"seeds: llama {s_llama}, qwen2 {s_qwen}, mistral {s_mistral}")

    # ---------------- build + save ----------------
    llama = build(LlamaForCausalLM, llama_cfg, s_llama)
    qwen = build(Qwen2ForCausalLM, qwen_cfg, s_qwen)
    mistral = build(MistralForCausalLM, mistral_cfg, s_mistral, torch.float16)
    tied = qwen.lm_head.weight.data_ptr() == qwen.model.embed_tokens.weight.data_ptr()
    log(f"qwen2 lm_head tied to embed_tokens: {tied}")

    llama.generation_config = GenerationConfig(bos_token_id=bos_l, eos_token_id=[eos_l, eot_l], do_sample=True,
                                               temperature=0.6, top_p=0.9)
    qwen.generation_config = GenerationConfig(bos_token_id=eoft_q, eos_token_id=[imend_q, eoft_q],
                                              pad_token_id=eoft_q, do_sample=True, temperature=0.7, top_p=0.8,
                                              top_k=20, repetition_penalty=1.05)
    mistral.generation_config = GenerationConfig(bos_token_id=bos_l, eos_token_id=eos_l)

    d_llama = os.path.join(main_models, "tiny-llama")
    d_bf16 = os.path.join(ref, "tiny-llama-bf16")
    d_qwen = os.path.join(ref, "tiny-qwen2")
    d_mistral = os.path.join(ref, "tiny-mistral")
    configs = {}

    llama.save_pretrained(d_llama)
    save_tokenizer(llama_fast, llama_raw, d_llama, LLAMA3_CHAT_TEMPLATE)
    configs["tiny-llama"] = {"as_written": json.load(open(os.path.join(d_llama, "config.json")))}

    llama16 = copy.deepcopy(llama).to(torch.bfloat16)
    llama16.save_pretrained(d_bf16)
    save_tokenizer(llama_fast, llama_raw, d_bf16, LLAMA3_CHAT_TEMPLATE)
    new, old = rewrite_config_old(d_bf16)
    configs["tiny-llama-bf16"] = {"as_written": new, "rewritten_old_form": old}
    del llama16

    try:
        qwen.save_pretrained(d_qwen, max_shard_size="200KB")
    except Exception as e:
        log(f"NOTE: max_shard_size='200KB' failed ({e!r}); using 200000")
        qwen.save_pretrained(d_qwen, max_shard_size=200000)
    save_tokenizer(qwen_fast, qwen_raw, d_qwen, QWEN2_CHAT_TEMPLATE)
    new, old = rewrite_config_old(d_qwen)
    configs["tiny-qwen2"] = {"as_written": new, "rewritten_old_form": old}

    m16 = copy.deepcopy(mistral).to(torch.float16)
    m16.save_pretrained(d_mistral)
    del m16
    # tiny-mistral keeps the tokenizer files exactly as transformers writes them by default
    save_tokenizer(llama_fast, llama_raw, d_mistral, LLAMA3_CHAT_TEMPLATE, legacy_chat_template=False)
    configs["tiny-mistral"] = {"as_written": json.load(open(os.path.join(d_mistral, "config.json")))}

    # ---------------- references ----------------
    # reference model per name: FP32 math on the weights as saved
    ref_models = {}
    ref_models["tiny-llama"] = llama
    bf16_loaded = step("load tiny-llama-bf16")(load_f32, d_bf16)
    llama_bf16_manual = build(LlamaForCausalLM, llama_cfg, s_llama, torch.bfloat16)
    # the reference uses the new-form config in memory; the reload check below reads the old-form directory
    ref_models["tiny-llama-bf16"] = llama_bf16_manual
    ref_models["tiny-qwen2"] = qwen
    ref_models["tiny-mistral"] = mistral

    specs = {
        "tiny-llama": dict(dir=d_llama, raw=llama_raw, ids=llama_ids, eos=[eos_l, eot_l], pad=eos_l, bos=bos_l,
                           seed=s_llama, dtype="float32", form="new (rope_parameters, dtype)",
                           special="<|eot_id|>", chat=True),
        "tiny-llama-bf16": dict(dir=d_bf16, raw=llama_raw, ids=llama_ids, eos=[eos_l, eot_l], pad=eos_l,
                                bos=bos_l, seed=s_llama, dtype="bfloat16",
                                form="old (rope_theta, rope_scaling, torch_dtype)", special="<|eot_id|>",
                                chat=False),
        "tiny-qwen2": dict(dir=d_qwen, raw=qwen_raw, ids=qwen_ids, eos=[imend_q, eoft_q], pad=eoft_q, bos=None,
                           seed=s_qwen, dtype="float32", form="old (rope_theta, torch_dtype), sharded",
                           special="<|im_end|>", chat=True),
        "tiny-mistral": dict(dir=d_mistral, raw=llama_raw, ids=llama_ids, eos=[eos_l], pad=eos_l, bos=bos_l,
                             seed=s_mistral, dtype="float16", form="new (rope_parameters, dtype)",
                             special="<|eot_id|>", chat=False),
    }

    for name, sp in specs.items():
        log(f"==== {name}")
        m = ref_models[name]
        attn = set_eager(m)
        rec = {"model": name, "vocab_size": 512, "prompts": [], "seed": sp["seed"], "weights_dtype": sp["dtype"],
               "config_form": sp["form"],
               "notes": (f"Made by deploy/gpu/make_reference_models.py with transformers "
                         f"{transformers.__version__}, torch {torch.__version__}, tokenizers "
                         f"{tokenizers.__version__}, Python {platform.python_version()}, on CPU. Random weights "
                         f"from torch.Generator seed {sp['seed']} (matrices N(0, 0.2), biases N(0, 0.1), norm "
                         f"weights U(0.8, 1.2)); weights stored as {sp['dtype']}. Logits and greedy ids are FP32 "
                         f"math on the stored weights (upcast), eval mode, attention {attn}. greedy_ids come from "
                         f"model.generate(do_sample=False, max_new_tokens=32, min_new_tokens=32); margins are "
                         f"top1-top2 logit gaps of plain argmax decoding without KV cache.")}
        tensors = {}
        overall = float("inf")
        for i, (text, ids) in enumerate(zip(prompts, sp["ids"])):
            logits = prompt_logits(m, ids)
            tensors[f"prompt_{i}"] = logits
            picks, margins = argmax_greedy(m, ids)
            gen = step(f"{name} generate {i}")(run_generate, m, ids, sp["eos"], sp["pad"], sp["bos"])
            match = gen == picks
            if not match:
                log(f"WARNING: {name} prompt {i}: generate {gen} != argmax {picks}")
            greedy = gen if gen is not None else picks
            p = {"text": text, "input_ids": ids, "greedy_ids": greedy,
                 "greedy_text": sp["raw"].decode(greedy, skip_special_tokens=False),
                 "min_margin": min(margins), "margins": margins, "generate_matches_argmax": match}
            if not match:
                p["argmax_ids"] = picks
            rec["prompts"].append(p)
            overall = min(overall, min(margins))
            log(f"  prompt {i}: {len(ids)} tokens, min margin {min(margins):.4f}, generate==argmax {match}, "
                f"logits std {logits.std():.3f}, greedy {greedy[:8]}...")
        rec["min_margin"] = overall
        rec["tokenizer_checks"] = None
        chk = step(f"{name} tokenizer checks")(tokenizer_checks, sp["dir"], sp["raw"], sp["special"])
        if chk is not None:
            hf, rec["tokenizer_checks"] = chk
            for i, (text, ids) in enumerate(zip(prompts, sp["ids"])):
                hf_ids = hf.encode(text, add_special_tokens=True)
                if hf_ids != ids:
                    log(f"WARNING: {name} prompt {i}: transformers ids {hf_ids} != tokenizer.json ids {ids}")
                    rec["prompts"][i]["input_ids_transformers"] = hf_ids
            if sp["chat"]:
                convs = [[{"role": "system", "content": "You are a terse assistant."},
                          {"role": "user", "content": "What is 2+2? Answer in one word."}]]
                if name == "tiny-qwen2":
                    convs.append([{"role": "user", "content": "Say hi."}])
                rec["chat_checks"] = step(f"{name} chat checks")(chat_checks, hf, convs)
        # reload check: the saved directory (as finally written) must reproduce the reference logits
        def reload_diff():
            r = load_f32(sp["dir"])
            return max(float((prompt_logits(r, ids) - tensors[f"prompt_{i}"]).abs().max())
                       for i, ids in enumerate(sp["ids"]))
        diff = step(f"{name} reload")(reload_diff)
        rec["reload_max_abs_diff"] = diff
        log(f"  reload from {os.path.relpath(sp['dir'], stage)}: max |logits diff| = {diff}")
        save_file(tensors, os.path.join(records_dir, f"{name}.logits.safetensors"),
                  metadata={"model": name, "format": "pt"})
        with open(os.path.join(records_dir, f"{name}.json"), "w") as fh:
            json.dump(rec, fh, indent=1, ensure_ascii=False)
            fh.write("\n")
        summary["models"][name] = {"seed": sp["seed"], "min_margin": overall,
                                   "per_prompt_min_margin": [p["min_margin"] for p in rec["prompts"]],
                                   "prompt_tokens": [len(x) for x in sp["ids"]], "reload_max_abs_diff": diff,
                                   "files": dir_listing(sp["dir"])}

    # bf16 cross-check: old-form config read by transformers == new-form config on the same rounded weights
    def bf16_cross():
        return max(float((prompt_logits(bf16_loaded, ids) -
                          prompt_logits(llama_bf16_manual, ids)).abs().max()) for ids in llama_ids)
    log(f"bf16 old-form-config vs new-form-config logits max diff: {step('bf16 cross')(bf16_cross)}")
    for name in ("tiny-llama-bf16", "tiny-qwen2"):
        def read_back(d=specs[name]["dir"]):
            c = AutoConfig.from_pretrained(d)
            return {k: getattr(c, k, None) for k in ("rope_parameters", "rope_scaling", "rope_theta", "dtype",
                                                   "torch_dtype", "tie_word_embeddings")}
        log(f"{name}: transformers reads the old form back as {step('read ' + name)(read_back)}")

    for name, c in configs.items():
        for form, js in c.items():
            log(f"config.json of {name} [{form}]:\n{json.dumps(js, indent=2)}")
    for name, d in (("tiny-llama", d_llama), ("tiny-qwen2", d_qwen), ("tiny-mistral", d_mistral)):
        for f in ("tokenizer_config.json", "generation_config.json", "special_tokens_map.json",
                  "model.safetensors.index.json"):
            p = os.path.join(d, f)
            if os.path.exists(p):
                txt = open(p).read()
                if f == "tokenizer_config.json":
                    j = json.loads(txt)
                    j.pop("added_tokens_decoder", None)
                    txt = json.dumps(j, indent=2, ensure_ascii=False)
                log(f"{name}/{f}:\n{txt}")
        tj = json.load(open(os.path.join(d, "tokenizer.json")))
        log(f"{name}/tokenizer.json: post_processor={json.dumps(tj.get('post_processor'))[:600]} "
            f"pre_tokenizer={json.dumps(tj.get('pre_tokenizer'))} decoder={json.dumps(tj.get('decoder'))} "
            f"normalizer={json.dumps(tj.get('normalizer'))} model.type={tj['model'].get('type')} "
            f"merges[0]={tj['model'].get('merges', [None])[0]!r} keys={sorted(tj['model'].keys())}")

    total = 0
    for root, _, files in os.walk(stage):
        for f in files:
            total += os.path.getsize(os.path.join(root, f))
    log(f"total bytes of models + records: {total}")
    summary["total_bytes"] = total
    summary["errors"] = len(ERRORS)
    pack(stage, os.path.join(args.out, "models.tar.gz"))
    with open(os.path.join(args.out, "summary.json"), "w") as fh:
        json.dump(summary, fh, indent=1)
    log("models bundle written")

    # ---------------- 32k tokenizer for the ~1B benchmark model ----------------
    if not args.skip_32k:
        step("tokenizer-32k")(make_32k, args.out)
    log(f"done; {len(ERRORS)} error(s)")
    for e in ERRORS:
        print(e)
    return 1 if ERRORS else 0


def make_32k(out):
    stage = "/tmp/tok32k-stage"
    if os.path.exists(stage):
        shutil.rmtree(stage)
    stdlib = sysconfig.get_paths()["stdlib"]
    purelib = sysconfig.get_paths()["purelib"]
    exts = (".py", ".md", ".txt", ".rst")
    a, na, fa = read_capped(sorted_files(stdlib, exts), 15 * 1024 * 1024)
    b, nb, fb = read_capped(sorted_files(purelib, exts), 30 * 1024 * 1024 - na)
    log(f"32k corpus: {fa} stdlib files ({na} bytes) + {fb} site-packages files ({nb} bytes)")
    t = time.time()
    raw = make_llama_flavour(train_byte_level_bpe(a + b, 32000, LLAMA_SPECIALS))
    log(f"32k trained in {time.time() - t:.1f}s: vocab {raw.get_vocab_size()}, specials "
        f"{ {s: raw.token_to_id(s) for s in LLAMA_SPECIALS} }")
    fast = wrap(raw, "llama", 8192)
    tmp = os.path.join(stage, "tmp")
    save_tokenizer(fast, raw, tmp, LLAMA3_CHAT_TEMPLATE)
    d = os.path.join(stage, "deploy/bench/tokenizer-32k")
    os.makedirs(d)
    with open(os.path.join(tmp, "tokenizer.json"), "rb") as fh:
        data = fh.read()
    with open(os.path.join(d, "tokenizer.json.gz"), "wb") as fh:
        with gzip.GzipFile(filename="tokenizer.json", mode="wb", fileobj=fh, mtime=0, compresslevel=9) as gz:
            gz.write(data)
    shutil.copy(os.path.join(tmp, "tokenizer_config.json"), os.path.join(d, "tokenizer_config.json"))
    shutil.rmtree(tmp)
    ids = raw.encode(LONG_PARAGRAPH).ids
    log(f"32k: tokenizer.json {len(data)} bytes, gz {os.path.getsize(os.path.join(d, 'tokenizer.json.gz'))}; "
        f"long paragraph -> {len(ids)} tokens ({len(LONG_PARAGRAPH)} chars)")
    pack(stage, os.path.join(out, "tok32k.tar.gz"))
    log("32k bundle written")


def pack(stage, path):
    with tarfile.open(path, "w:gz") as tf:
        for root, dirs, files in os.walk(stage):
            dirs.sort()
            for f in sorted(files):
                full = os.path.join(root, f)
                ti = tf.gettarinfo(full, arcname=os.path.relpath(full, stage))
                ti.mtime, ti.uid, ti.gid, ti.uname, ti.gname = 0, 0, 0, "", ""
                with open(full, "rb") as fh:
                    tf.addfile(ti, fh)


if __name__ == "__main__":
    sys.exit(main())
