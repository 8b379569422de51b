"""CPU embedding speed vs quality: texts/s and Bradley-Terry probe accuracy on HH-RLHF helpful-base.

Every candidate embeds the same 2 x 2,354 (prompt, response) texts of HH-RLHF helpful-base test; the
probe is a logistic regression on emb(prompt, chosen) - emb(prompt, rejected) with random sign flips,
5-fold out-of-sample accuracy, averaged over `--seeds` flip/fold seeds (seed 0 is printed too).

naive = what a user writes first: sentence-transformers all-MiniLM-L6-v2, torch fp32, max_seq_length 256,
batches of 64 in input order (no length sorting), text = last 800 prompt characters + " [SEP] " +
response. Its speed is timed on random subsets of `--naive-texts` texts right before and right after
each candidate, and the candidate's ratio is against the mean of those two (on a shared machine the
load drifts over minutes). Its accuracy comes from the same model over all texts (ST.encode, whose
internal length sorting does not change the numbers).

Candidates go through `curator.signals.embed.EmbeddingScorer.encode_pairs` (tokenized once, length
sorted, padded per batch) over all texts.

    python bench/bench_embed_cpu.py                 # full run, about 10 min on 2 idle cores
    python bench/bench_embed_cpu.py --quick         # skip the fp32 accuracy runs (speed on a subset)
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "hh_rlhf" / "helpful-base" / "test.jsonl.gz"


def make_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=str(DATA), help="HH-RLHF test.jsonl.gz")
    p.add_argument("--threads", type=int, default=2, help="torch and onnxruntime intra-op threads")
    p.add_argument("--naive-texts", type=int, default=128, help="texts per naive speed timing")
    p.add_argument("--seeds", type=int, default=5, help="probe seeds averaged")
    p.add_argument("--cache-dir", default=None, help="derived-model cache (default ~/.cache/curator)")
    p.add_argument("--candidates", default="minilm,minilm-int8,minilm-int8@128,minilm-m2v",
                   help="comma list of EmbeddingScorer models; name@N sets max_length=N")
    p.add_argument("--quick", action="store_true", help="no fp32 accuracy runs: naive accuracy is not measured "
                   "and `minilm` is timed on the naive subset only")
    p.add_argument("--json", default=None, help="write the results here")
    return p


def split_hh(transcript: str) -> tuple[str, str]:
    """HH transcript -> (prompt, last assistant response)."""
    i = transcript.rfind("\n\nAssistant:")
    return transcript[:i], transcript[i + len("\n\nAssistant:"):].strip()


def load_pairs(path: str) -> tuple[list[str], list[str], list[str]]:
    prompts, chosen, rejected = [], [], []
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            p, c = split_hh(row["chosen"])
            _, r = split_hh(row["rejected"])
            prompts.append(p)
            chosen.append(c)
            rejected.append(r)
    return prompts, chosen, rejected


def main() -> None:
    args = make_parser().parse_args()
    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    from curator.evals.probe import probe_accuracy
    from curator.signals.embed import DEFAULT_EMBED_MODEL, EmbeddingScorer, bundled_minilm_path

    if not Path(args.data).is_file():
        sys.exit(f"{args.data} not found (the shared datasets live in ../shared/data).")
    prompts, chosen, rejected = load_pairs(args.data)
    n = len(prompts)
    all_prompts, all_resp = prompts + prompts, chosen + rejected
    naive_texts = [p[-800:] + " [SEP] " + r for p, r in zip(all_prompts, all_resp, strict=True)]
    rng = np.random.default_rng(0)

    def probe(emb: np.ndarray) -> tuple[float, float]:
        accs = [probe_accuracy(emb[:n], emb[n:], seed=s) for s in range(args.seeds)]
        return float(np.mean(accs)), accs[0]

    print(f"{n} pairs, {2 * n} texts; torch threads {torch.get_num_threads()}; load average "
          f"{os.getloadavg()[0]:.1f} at start", flush=True)

    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(bundled_minilm_path(), device="cpu", local_files_only=True)
    st.max_seq_length = 256
    naive_speeds: list[float] = []

    def naive_speed() -> float:
        """Naive texts/s on a fresh random subset: one ST.encode call per batch of 64, in input order."""
        idx = rng.choice(len(naive_texts), size=args.naive_texts, replace=False)
        t0 = time.perf_counter()
        for i in range(0, len(idx), 64):
            st.encode([naive_texts[j] for j in idx[i:i + 64]], batch_size=64, normalize_embeddings=True)
        speed = len(idx) / (time.perf_counter() - t0)
        naive_speeds.append(speed)
        return speed

    st.encode(naive_texts[:8])  # warm-up
    results: list[dict] = []

    def row(name: str, texts_per_s: float, acc: tuple[float, float] | None, ratio: float | None, note: str) -> None:
        results.append({"name": name, "texts_per_s": texts_per_s, "ratio_vs_naive": ratio,
                        "probe_acc": acc[0] if acc else None, "probe_acc_seed0": acc[1] if acc else None,
                        "note": note})
        print(f"  {name}: {texts_per_s:.1f} texts/s" + (f" ({ratio:.1f}x naive)" if ratio else "")
              + (f", probe {acc[0]:.4f} (seed 0: {acc[1]:.4f})" if acc else "") + f"  [{note}]", flush=True)

    # Each candidate is timed between two naive timings; its ratio uses their mean (load on a shared
    # machine drifts over minutes, so ratios against one early naive timing would be off).
    before = naive_speed()
    print(f"  naive: {before:.1f} texts/s (load {os.getloadavg()[0]:.1f})", flush=True)
    for spec in [c for c in args.candidates.split(",") if c]:
        name, _, length = spec.partition("@")
        t0 = time.perf_counter()
        scorer = EmbeddingScorer(name, device="cpu", max_length=int(length) if length else None,
                                 cache_dir=args.cache_dir, num_threads=args.threads)
        load_s = time.perf_counter() - t0
        scorer.encode_pairs(all_prompts[:16], all_resp[:16])  # warm-up
        if args.quick and name == "minilm":  # speed on a subset only, no accuracy
            idx = rng.choice(2 * n, size=4 * args.naive_texts, replace=False)
            t0 = time.perf_counter()
            scorer.encode_pairs([all_prompts[i] for i in idx], [all_resp[i] for i in idx])
            speed, acc, emb = len(idx) / (time.perf_counter() - t0), None, None
        else:
            t0 = time.perf_counter()
            emb = scorer.encode_pairs(all_prompts, all_resp)
            reps = 1
            while time.perf_counter() - t0 < 3.0:  # fast encoders: repeat for a stable time
                scorer.encode_pairs(all_prompts, all_resp)
                reps += 1
            speed = 2 * n * reps / (time.perf_counter() - t0)
            acc = probe(emb)
        after = naive_speed()
        ratio = speed / ((before + after) / 2)
        note = (f"D={scorer.dim}, load/build {load_s:.1f} s, naive around it {before:.1f}/{after:.1f} texts/s, "
                f"load {os.getloadavg()[0]:.1f}")
        row(spec + (" (default)" if name == DEFAULT_EMBED_MODEL and not length else ""), speed, acc, ratio, note)
        if emb is not None and name.endswith("m2v") and scorer.dim % 2 == 0:
            # the first half alone, renormalised: plain model2vec over prompt tail + response tokens
            half = emb[:, :scorer.dim // 2]
            half = half / np.maximum(np.linalg.norm(half, axis=1, keepdims=True), 1e-12)
            row(f"{spec}, first half only (plain model2vec mean, 384-d)", speed, probe(half), ratio,
                "same vectors, same speed")
        before = after
        del scorer

    naive_acc = None
    if not args.quick:
        t0 = time.perf_counter()
        emb = st.encode(naive_texts, batch_size=64, normalize_embeddings=True)
        naive_acc = probe(emb)
        sorted_speed = 2 * n / (time.perf_counter() - t0)
        print(f"  naive accuracy run (ST.encode over all texts: it sorts by length): {sorted_speed:.1f} texts/s",
              flush=True)
    naive_mean = float(np.mean(naive_speeds))
    results.insert(0, {"name": "naive: ST MiniLM fp32, 256 tokens, batches of 64 unsorted, prompt-tail-first text",
                       "texts_per_s": naive_mean, "ratio_vs_naive": 1.0,
                       "probe_acc": naive_acc[0] if naive_acc else None,
                       "probe_acc_seed0": naive_acc[1] if naive_acc else None,
                       "note": f"{len(naive_speeds)} timings of {args.naive_texts} random texts: "
                               + ", ".join(f"{v:.1f}" for v in naive_speeds)})

    print(f"\nload average at end {os.getloadavg()[0]:.1f} (2 cores shared: absolute speeds move with load; "
          "each ratio is against the naive timings just before and after that candidate)\n")
    print("| encoder | texts/s | vs naive | probe acc (mean of seeds) | seed 0 | note |")
    print("|---|---:|---:|---:|---:|---|")
    for r in results:
        acc = f"{r['probe_acc']:.4f}" if r["probe_acc"] is not None else "-"
        acc0 = f"{r['probe_acc_seed0']:.4f}" if r["probe_acc_seed0"] is not None else "-"
        print(f"| {r['name']} | {r['texts_per_s']:.1f} | {r['ratio_vs_naive']:.1f}x | {acc} | {acc0} | {r['note']} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"naive_texts_per_s": naive_mean, "results": results,
                                               "threads": args.threads, "pairs": n}, indent=1))


if __name__ == "__main__":
    main()
