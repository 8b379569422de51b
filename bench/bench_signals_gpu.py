"""Reward scoring on the product path (a real signals job through the worker) vs the naive HF loop vs the
scorer called directly, on the same synthetic pairs and random weights of real shapes, one run.

- naive: what a model card shows, in a loop: random order, batches of 8 chat-templated texts padded by
  the tokenizer, eager attention, ``model(**batch).logits`` (timed on `--naive-pairs` pairs).
- direct: `RewardScorer.from_model` on the same weights (SDPA), all pairs in one call.
- product: the model saved to disk, a store with the pairs as a dataset, `curator.jobs.submit_signals`
  with `SignalConfig(rewards=(path,), scorer=ScorerConfig(...))`, the real reward stage
  (`curator.jobs.testing.REWARD_STAGES`: `curator.jobs.stages.signal_stages` minus the embedder) in
  a worker process: chunks in dataset length order, tokenized ahead in a thread, checkpointed.
  Its time is the stage's scoring time from ``complete.json`` (model load and process start left out,
  as for direct); the job's wall time is reported beside it. The margins must equal direct's.

Shapes (`curator.jobs.testing.SHAPES`): Qwen2.5-0.5B and Llama-3-8B configs, random weights, a byte-level
BPE tokenizer with the family's chat template (`curator.jobs.testing.bpe_tokenizer`); ``--tiny`` uses
2-layer 64-wide ones. Pairs: `curator.jobs.testing.synthetic_pairs`, lengths lognormal around 230 words. ``--hh``: HH-shaped pairs (shared prompt 63-70% of the tokens) with
``share_prompt`` on both scorer rows. ``--models 2``: one job with two reward models of the first
shape (different seeds) to show several models in one run. MFU = 2 * non-embedding params * real
tokens / time / measured bf16 matmul peak (for share_prompt, tokens of both full sequences).

    python bench/bench_signals_gpu.py                             # H100/H200: both shapes
    python bench/bench_signals_gpu.py --hh                        # HH-shaped, share_prompt
    python bench/bench_signals_gpu.py --device cpu --tiny         # CPU check, < 1 min; prints product/direct
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))

from bench_reward_gpu import peak_matmul, sync  # noqa: E402

TINY = {"qwen2.5-0.5b": "tiny-qwen2", "llama-3-8b": "tiny-llama"}


def make_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--tiny", action="store_true", help="tiny shapes and few pairs (CPU check)")
    p.add_argument("--shapes", default=None, help="comma-separated (default qwen2.5-0.5b,llama-3-8b; "
                   "--tiny: llama-3-8b, i.e. tiny-llama)")
    p.add_argument("--pairs", type=int, default=None, help="pairs per shape (default 4000 / 1000 for 8B; 300 tiny)")
    p.add_argument("--naive-pairs", type=int, default=None, help="pairs the naive loop is timed on (default 500)")
    p.add_argument("--hh", action="store_true", help="HH-shaped pairs; share_prompt on")
    p.add_argument("--models", type=int, default=1, help="reward models in the product-path job (first shape)")
    p.add_argument("--token-budget", type=int, default=None, help="default 65536 (8B: 32768; tiny 4096)")
    p.add_argument("--chunk", type=int, default=None, help="pairs per chunk / checkpoint (default 8192; tiny 64)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", default=None, help="write results here (default $OUT/signals_bench.json if $OUT is set)")
    return p


def _product(paths: list[str], prompts: list[str], ra: list[str], rb: list[str], *, device: str, scorer, chunk: int,
             work: Path) -> tuple[dict, dict]:
    """Run one signals job (reward stages only) through the worker; (timings, {model: margins by text})."""
    from curator import jobs
    from curator.io.batch import batched
    from curator.jobs.testing import REWARD_COMPUTE, REWARD_STAGES
    from curator.schema import PairRecord
    from curator.signals import SignalConfig
    from curator.store import Store

    store = Store(work / "bench.duckdb")
    records = [PairRecord(prompt=p, response_a=a, response_b=b, label="a") for p, a, b in zip(prompts, ra, rb,
                                                                                               strict=True)]
    store.ingest("bench", batched(records, source="bench"), source="bench", shape="explicit")
    cfg = SignalConfig(rewards=tuple(paths), device=None if device == "cuda" else device, scorer=scorer)
    t0 = time.perf_counter()
    handle = jobs.submit_signals(store, "bench", cfg, runs_dir=work / "runs", stages=REWARD_STAGES,
                                 compute=REWARD_COMPUTE, checkpoint_rows=chunk)
    job = jobs.wait(store, handle.job_id, poll=0.5, timeout=1800)  # a slow poll leaves the CPU to the worker
    wall = time.perf_counter() - t0
    if job.status != "done":
        raise SystemExit(f"product-path job {job.status}: {job.error}\n{jobs.log_tail(job, lines=40)}")
    stages = {}
    for meta_path in Path(job.work_dir).glob("features/*/complete.json"):
        meta = json.loads(meta_path.read_text())
        stages[meta["stage"]["kwargs"]["model"]] = meta
    pairs = store.pairs_for_compute("bench")
    import pyarrow.parquet as pq

    signals = pq.read_table(Path(job.work_dir) / "signals.parquet").to_pandas().set_index("pair_id")
    key = [p + "\x00" + a + "\x00" + b for p, a, b in zip(pairs.column("prompt").to_pylist(),
                                                          pairs.column("response_a").to_pylist(),
                                                          pairs.column("response_b").to_pylist(), strict=True)]
    per_model = {m: {} for m in paths}
    for k, pid in zip(key, pairs.column("pair_id").to_pylist(), strict=True):
        margins = json.loads(signals.loc[pid, "model_margins"])
        for m in paths:
            per_model[m][k] = margins[m]
    store.close()
    return {"job_wall_s": wall, "stages": stages}, per_model


def naive_loop(model, tok, texts: list[str], order: list[int], batch: int, device: str) -> None:
    import torch

    with torch.no_grad():
        for i in range(0, len(order), batch):
            enc = tok([texts[j] for j in order[i:i + batch]], padding=True, add_special_tokens=False,
                      return_tensors="pt").to(device)
            model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).logits[:, 0].float().cpu()


def bench_shape(name: str, args, *, si: int, device: str, dtype, peak: float, work_root: Path) -> dict:
    import numpy as np
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from curator.jobs.testing import SHAPES, bpe_tokenizer, synthetic_pairs
    from curator.signals import ScorerConfig
    from curator.signals.reward import RewardScorer

    on_gpu = device.startswith("cuda")
    shape = TINY[name] if args.tiny else name
    big = "8b" in name and not args.tiny
    n_pairs = args.pairs or (200 if args.tiny else (1000 if big else 4000))
    n_naive = min(n_pairs, args.naive_pairs or (64 if args.tiny else 500))
    budget = args.token_budget or (4096 if args.tiny else (32768 if big else 65536))
    max_len = 256 if args.tiny else 2048
    chunk = args.chunk or (64 if args.tiny else 8192)
    scorer_cfg = ScorerConfig(max_length=max_len, token_budget=budget, share_prompt=args.hh, batch_size=4096)
    pairs = synthetic_pairs(n_pairs, seed=args.seed + si, hh=args.hh, median_tokens=60 if args.tiny else 230)
    prompts, ra, rb = pairs["prompt"], pairs["response_a"], pairs["response_b"]
    spec = dict(SHAPES[shape])
    arch = spec.pop("arch")
    n_models = args.models if si == 0 else 1
    row: dict = {"pairs": n_pairs, "token_budget": budget, "chunk": chunk, "share_prompt": args.hh, "shape": shape}
    paths = []
    for m in range(n_models):
        tok = bpe_tokenizer(arch)
        cfg_cls = {"llama": "LlamaConfig", "qwen2": "Qwen2Config"}[arch]
        import transformers

        cfg = getattr(transformers, cfg_cls)(**{"vocab_size": len(tok), **spec}, num_labels=1,
                                             pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id,
                                             eos_token_id=tok.eos_token_id)
        torch.manual_seed(args.seed + m)
        with torch.device(device):
            model = AutoModelForSequenceClassification.from_config(cfg, dtype=dtype, attn_implementation="eager")
        model.eval()
        with torch.no_grad():
            model.score.weight.normal_(0, 8.0 / cfg.hidden_size ** 0.5)
        path = work_root / f"{name}-{m}"
        model.save_pretrained(path)
        tok.save_pretrained(path)
        paths.append(str(path))
        tok = AutoTokenizer.from_pretrained(path)  # what the worker will read (transformers may swap the class)
        n_params = sum(p.numel() for n, p in model.named_parameters() if "embed" not in n)
        if m:
            del model
            continue
        direct = RewardScorer.from_model(model, tok, max_length=max_len, token_budget=budget,
                                         batch_size=scorer_cfg.batch_size, share_prompt=args.hh)
        convs = [[{"role": "user", "content": p}] for p in prompts]
        lengths = [len(x) for x in direct.tokenize(convs + convs, ra + rb)]
        real_tokens = int(sum(lengths))
        flops = 2 * n_params * real_tokens
        # naive, on a random subset of the same sequences (pairs/s is what compares)
        texts = direct._render([[*c, {"role": "assistant", "content": r}]
                                for c, r in zip(convs[:n_naive] * 2, ra[:n_naive] + rb[:n_naive], strict=True)])
        order = np.random.default_rng(args.seed).permutation(len(texts)).tolist()
        naive_loop(model, tok, texts, order[:16], 8, device)
        sync(device)
        t0 = time.perf_counter()
        naive_loop(model, tok, texts, order, 8, device)
        sync(device)
        dt = time.perf_counter() - t0
        row["naive_pairs_per_s"] = n_naive / dt
        row["naive_mfu"] = flops * n_naive / n_pairs / dt / peak
        model.set_attn_implementation("sdpa")
        direct({"prompt": prompts[:8], "response_a": ra[:8], "response_b": rb[:8]})  # warm-up
        sync(device)
        t0 = time.perf_counter()
        out = direct({"prompt": prompts, "response_a": ra, "response_b": rb})
        sync(device)
        direct_s = time.perf_counter() - t0
        direct_margin = out["reward_a"] - out["reward_b"]
        row.update(direct_pairs_per_s=n_pairs / direct_s, direct_s=direct_s, direct_mfu=flops / direct_s / peak,
                   non_embedding_params_M=n_params / 1e6, real_tokens=real_tokens)
        direct.close()
        del model, direct
        if on_gpu:
            torch.cuda.empty_cache()
    timings, per_model = _product(paths, prompts, ra, rb, device=device, scorer=scorer_cfg, chunk=chunk,
                                  work=work_root / f"job-{name}")
    meta = timings["stages"][paths[0]]
    product_s = meta.get("score_s") or meta.get("wall_s") or meta["elapsed_s"]
    got = np.array([per_model[paths[0]][p + "\x00" + a + "\x00" + b] for p, a, b in zip(prompts, ra, rb, strict=True)])
    row.update(product_pairs_per_s=n_pairs / product_s, product_s=product_s, product_mfu=flops / product_s / peak,
               product_load_s=meta.get("load_s"), product_job_wall_s=timings["job_wall_s"],
               product_over_direct=direct_s / product_s, speedup_vs_naive=n_pairs / product_s / row["naive_pairs_per_s"],
               max_abs_margin_diff_vs_direct=float(np.abs(got - direct_margin).max()))
    if n_models > 1:
        row["job_stage_s"] = {Path(k).name: v.get("score_s", v["elapsed_s"]) for k, v in timings["stages"].items()}
    return row


def main() -> None:
    args = make_parser().parse_args()
    import torch

    device = args.device
    on_gpu = device.startswith("cuda")
    dtype = torch.bfloat16 if on_gpu else torch.float32
    peak = peak_matmul(device, dtype)
    res: dict = {"device": torch.cuda.get_device_name() if on_gpu else "cpu", "dtype": str(dtype),
                 "torch": torch.__version__, "peak_matmul_tflops_measured": peak / 1e12, "hh_shaped": args.hh,
                 "tiny": args.tiny, "models_in_job": args.models}
    print(json.dumps(res), flush=True)
    names = [s for s in (args.shapes or ("llama-3-8b" if args.tiny else "qwen2.5-0.5b,llama-3-8b")).split(",") if s]
    work_root = Path(tempfile.mkdtemp(prefix="bench_signals_"))
    for si, name in enumerate(names):
        try:
            row = bench_shape(name, args, si=si, device=device, dtype=dtype, peak=peak, work_root=work_root)
        finally:  # an 8B checkpoint is 16 GB
            for child in work_root.iterdir():
                shutil.rmtree(child, ignore_errors=True)
        res[name] = row
        print(name, json.dumps(row), flush=True)
        print(f"{name}: product/direct = {row['product_over_direct']:.2f} (throughput ratio, goal >= 0.9); "
              f"product {row['product_pairs_per_s']:.1f} pairs/s, direct {row['direct_pairs_per_s']:.1f}, "
              f"naive {row['naive_pairs_per_s']:.1f}; MFU {row['product_mfu']:.3f}; "
              f"max |margin diff| {row['max_abs_margin_diff_vs_direct']:.2e}", flush=True)
    out_path = args.json or (os.path.join(os.environ["OUT"], "signals_bench.json") if os.environ.get("OUT") else None)
    if out_path:
        Path(out_path).write_text(json.dumps(res, indent=1))
    print(json.dumps(res))


if __name__ == "__main__":
    main()
