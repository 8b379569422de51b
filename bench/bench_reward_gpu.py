"""Reward-model scoring throughput on one GPU: a naive Hugging Face loop vs `RewardScorer`, one run.

Both score the same synthetic preference pairs (text in, one reward per response out) with the same
randomly initialised reward model of a real shape, built from its config:

- naive: mirrors ../shared/bench/gpu_rm_roofline.py: sequences in random order, fixed batches of 8
  padded to the longest by the tokenizer, eager attention, `model(**batch).logits`, bf16 weights.
- scorer: `curator.signals.reward.RewardScorer.from_model` on the same weights switched to SDPA:
  tokenized once, length-sorted token-budget batches, last-token head, results in input order.
- scorer+share (with `--hh`): the same with `share_prompt=True` (prompt KV cache reused by both responses).

Pairs: sequence lengths lognormal around 230 tokens as in the roofline probe, or with `--hh` pairs
shaped like HH-RLHF (the shared prompt is 63-70% of each sequence). Text is made of words ``w<id>`` that a
WordLevel tokenizer maps back to exactly those ids, so token counts are exact and tokenization is real.

MFU = 2 * non-embedding parameters * tokens / time / measured bf16 matmul peak; for share_prompt the
tokens are those of both full sequences (the work a plain pass would do), so it reads as "effective".

    python bench/bench_reward_gpu.py                          # H100: llama3-8b and qwen2.5-0.5b shapes
    python bench/bench_reward_gpu.py --hh                     # HH-shaped pairs, + share_prompt
    python bench/bench_reward_gpu.py --device cpu --tiny --hh # validate the script on a CPU

Reference (naive and sorted rows of the roofline probe on an H100, 2026-11-22):
../shared/bench/h100_rm_roofline_2026-11-22.json. Not measured in this session (no GPU).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def make_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--tiny", action="store_true", help="tiny shapes and few pairs (script validation)")
    p.add_argument("--shapes", default="qwen2.5-0.5b,llama3-8b")
    p.add_argument("--pairs", type=int, default=None, help="pairs per shape (default 2000 / 1000 for 8B)")
    p.add_argument("--hh", action="store_true", help="HH-shaped pairs and a share_prompt row")
    p.add_argument("--token-budget", type=int, default=None, help="RewardScorer token budget (default 32768 "
                   "for small models, 16384 for 8B, as in the roofline probe)")
    p.add_argument("--naive-batch", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", default=None, help="write results here (default $OUT/reward_bench.json if $OUT is set)")
    return p


def shapes(tiny: bool) -> dict:
    from transformers import LlamaConfig, Qwen2Config

    if tiny:
        return {
            "qwen2.5-0.5b": Qwen2Config(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                                        num_key_value_heads=2, vocab_size=2000, num_labels=1, pad_token_id=0,
                                        tie_word_embeddings=True),
            "llama3-8b": LlamaConfig(hidden_size=64, intermediate_size=160, num_hidden_layers=2, num_attention_heads=4,
                                     num_key_value_heads=2, vocab_size=3000, num_labels=1, pad_token_id=0,
                                     max_position_embeddings=8192),
        }
    return {
        "qwen2.5-0.5b": Qwen2Config(hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
                                    num_key_value_heads=2, vocab_size=151936, num_labels=1, pad_token_id=0,
                                    tie_word_embeddings=True),
        "llama3-8b": LlamaConfig(hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
                                 num_key_value_heads=8, vocab_size=128256, num_labels=1, pad_token_id=0,
                                 max_position_embeddings=8192),
    }


def word_tokenizer(vocab_size: int):
    """WordLevel tokenizer: "w5 w17" -> [5, 17]; id 0 is <pad>, 1 is <unk>."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "<unk>": 1, **{f"w{i}": i for i in range(2, vocab_size)}}
    tk = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=tk, pad_token="<pad>", unk_token="<unk>")


def make_pairs(n: int, vocab: int, *, hh: bool, max_len: int, rng) -> tuple[list[str], list[str], list[str], int]:
    """(prompts, responses_a, responses_b, real tokens of all 2n sequences). Lengths as in the roofline probe."""
    import numpy as np

    def words(k: int) -> str:
        return " ".join(f"w{i}" for i in rng.integers(2, vocab, size=k))

    prompts, a, b, tokens = [], [], [], 0
    for _ in range(n):
        if hh:
            total = int(np.clip(np.exp(rng.normal(math.log(230), 0.8)), 24, max_len))
            frac = rng.uniform(0.63, 0.70)
            p = max(1, int(total * frac))
            ra = max(1, total - p)
            rb = max(1, int(ra * np.exp(rng.normal(0, 0.4))))
            rb = min(rb, max_len - p - 1)
        else:  # two independent sequences, as in the roofline probe; the "prompt" is a single word
            la, lb = (int(np.clip(np.exp(rng.normal(math.log(230), 0.8)), 24, max_len)) for _ in range(2))
            p, ra, rb = 1, la - 1, lb - 1
        prompts.append(words(p))
        a.append(words(ra))
        b.append(words(rb))
        tokens += 2 * p + ra + rb
    return prompts, a, b, tokens


def sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def peak_matmul(device: str, dtype) -> float:
    import torch

    n = 8192 if device.startswith("cuda") else 512
    x = torch.randn(n, n, device=device, dtype=dtype)
    y = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(3):
        x @ y
    sync(device)
    t0 = time.perf_counter()
    reps = 10
    for _ in range(reps):
        x @ y
    sync(device)
    return reps * 2 * n**3 / (time.perf_counter() - t0)


def naive_score(model, tok, texts: list[str], order: list[int], batch: int, device: str) -> list[float]:
    """The loop people write first: random order, fixed batches, tokenizer pads each batch to its longest."""
    import torch

    out = [0.0] * len(texts)
    with torch.no_grad():
        for i in range(0, len(order), batch):
            idx = order[i:i + batch]
            enc = tok([texts[j] for j in idx], padding=True, return_tensors="pt").to(device)
            logits = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).logits
            for j, v in zip(idx, logits[:, 0].float().cpu().tolist(), strict=True):
                out[j] = v
    return out


def main() -> None:
    args = make_parser().parse_args()
    import numpy as np
    import torch
    from transformers import AutoModelForSequenceClassification

    from curator.signals.reward import RewardScorer

    device = args.device
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    peak = peak_matmul(device, dtype)
    res: dict = {"device": torch.cuda.get_device_name() if device.startswith("cuda") else "cpu",
                 "dtype": str(dtype), "torch": torch.__version__, "peak_matmul_tflops_measured": peak / 1e12,
                 "hh_shaped": args.hh, "tiny": args.tiny}
    print(json.dumps(res), flush=True)
    for name in [s for s in args.shapes.split(",") if s]:
        cfg = shapes(args.tiny)[name]
        n_pairs = args.pairs or (48 if args.tiny else (1000 if "8b" in name else 2000))
        budget = args.token_budget or (2048 if args.tiny else (16384 if "8b" in name else 32768))
        max_len = 256 if args.tiny else 2048
        prompts, ra, rb, real_tokens = make_pairs(n_pairs, cfg.vocab_size, hh=args.hh, max_len=max_len, rng=rng)
        tok = word_tokenizer(cfg.vocab_size)
        cfg._attn_implementation = "eager"
        with torch.device(device):
            model = AutoModelForSequenceClassification.from_config(cfg, dtype=dtype, attn_implementation="eager")
        model.eval()
        n_params = sum(p.numel() for n, p in model.named_parameters() if "embed" not in n)
        flops = 2 * n_params * real_tokens

        def report(mode: str, seconds: float, extra: dict | None = None, *, name=name, n_pairs=n_pairs,
                   real_tokens=real_tokens, flops=flops, n_params=n_params) -> dict:
            r = {"pairs_per_s": n_pairs / seconds, "tokens_per_s": real_tokens / seconds, "seconds": seconds,
                 "mfu_vs_measured_peak": flops / seconds / peak, "pairs": n_pairs,
                 "non_embedding_params_M": n_params / 1e6, **(extra or {})}
            res[f"{name}/{mode}"] = r
            print(name, mode, json.dumps(r), flush=True)
            return r

        # naive: sequences (prompt + "\n" + response, as the scorer's plain path) in random order
        texts = [p + "\n" + r for p, r in zip(prompts + prompts, ra + rb, strict=True)]
        order = rng.permutation(len(texts)).tolist()
        naive_score(model, tok, texts, order[:16], args.naive_batch, device)  # warm-up
        sync(device)
        t0 = time.perf_counter()
        naive = np.array(naive_score(model, tok, texts, order, args.naive_batch, device), dtype=np.float32)
        sync(device)
        base = report("naive", time.perf_counter() - t0)

        # scorer: same weights, SDPA
        model.set_attn_implementation("sdpa")
        batch = {"prompt": prompts, "response_a": ra, "response_b": rb}
        modes = [("scorer", False)] + ([("scorer+share_prompt", True)] if args.hh else [])
        for mode, share in modes:
            scorer = RewardScorer.from_model(model, tok, max_length=max_len, token_budget=budget, share_prompt=share)
            scorer({k: v[:8] for k, v in batch.items()})  # warm-up
            sync(device)
            t0 = time.perf_counter()
            out = scorer(batch)
            sync(device)
            dt = time.perf_counter() - t0
            got = np.concatenate([out["reward_a"], out["reward_b"]])
            diff = float(np.abs(got - naive).max())
            report(mode, dt, {"speedup_vs_naive": base["seconds"] / dt, "max_abs_diff_vs_naive": diff,
                              "token_budget": budget})
        del model
        if device.startswith("cuda"):
            torch.cuda.empty_cache()
    out_path = args.json or (os.path.join(os.environ["OUT"], "reward_bench.json") if os.environ.get("OUT") else None)
    if out_path:
        Path(out_path).write_text(json.dumps(res, indent=1))
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
