"""Flipped-label detection on HH-RLHF: Curator's embedded-default signals vs. a plain probe, same run.

    python bench/bench_noise_quality.py                       # helpful-base + harmless-base, flips 0/0.1/0.2/0.4
    python bench/bench_noise_quality.py --flips 0.2 --seeds 0,1,2,3,4 --datasets helpful-base

For each dataset the embeddings are computed once (they do not depend on labels) and cached in
``--cache-dir``; then for every (flip, seed) `curator.evals.evaluate_noise` flips that share of
labels, recomputes every signal from the flipped labels and reports the reward's agreement with
the ORIGINAL labels (accuracy) and the AUROC / AUPRC / precision@k of ``issue_score`` for the
flipped pairs. The baseline is a plain 5-fold logistic probe on ``emb_a - emb_b`` (response +
prompt tail, the same embedder) trained on the same flipped labels. Targets (helpful-base, flip
0.2): accuracy >= 0.65 and AUROC >= 0.70 for every seed. harmless-base is reported for
generalisation only (nothing was tuned on it).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SHARED = Path(os.environ.get("CURATOR_SHARED_DATA", REPO.parent / "shared" / "data"))


def make_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--datasets", default="helpful-base,harmless-base")
    p.add_argument("--flips", default="0.0,0.1,0.2,0.4")
    p.add_argument("--seeds", default="0,1,2,3,4")
    p.add_argument("--embedder", default="default")
    p.add_argument("--cache-dir", default=None, help="where embeddings are cached (default ~/.cache/curator/bench)")
    p.add_argument("--limit", type=int, default=None, help="first N pairs only (smoke runs)")
    return p


def hh_features(table, embedder: str, cache: Path) -> dict[str, np.ndarray]:
    """emb_prompt/emb_a/emb_b + emb_query/emb_resp_a/emb_resp_b of an HH table, cached by content hash."""
    import hashlib

    from curator.signals.pipeline import last_user_turn

    prompts, a, b = (table.column(c).to_pylist() for c in ("prompt", "response_a", "response_b"))
    from curator.signals import embed as embed_module
    from curator.signals import text as text_module

    h = hashlib.blake2b(digest_size=8)
    # The key covers the encoder code too: a changed embedder must not reuse stale vectors.
    code = "".join(f.read_text() for f in [Path(embed_module.__file__), Path(text_module.__file__),
                                             *sorted((Path(embed_module.__file__).parent / "encoders").glob("*.py"))])
    for part in (embedder, code, *prompts, *a, *b):
        h.update(part.encode())
        h.update(b"\x1f")
    path = cache / f"hh-{embedder.replace('/', '_')}-{h.hexdigest()}.npz"
    if path.exists():
        return dict(np.load(path))
    from curator.signals.embed import EmbeddingScorer

    t0 = time.monotonic()
    sc = EmbeddingScorer(embedder)
    out = sc({"prompt": prompts, "response_a": a, "response_b": b})
    both = sc.encode(a + b)
    feats = {"emb_prompt": out["emb_prompt"], "emb_a": out["emb_a"], "emb_b": out["emb_b"],
             "emb_query": sc.encode([last_user_turn(p) for p in prompts]), "emb_resp_a": both[:len(a)],
             "emb_resp_b": both[len(a):]}
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(path, **feats)
    print(f"  embedded {len(a)} pairs with {embedder!r} in {time.monotonic() - t0:.0f} s -> {path}", flush=True)
    return feats


def main() -> None:
    args = make_parser().parse_args()
    from curator.evals.noise import evaluate_noise, load_hh_pairs, probe_baseline
    from curator.signals import SignalConfig

    cache = Path(args.cache_dir or Path.home() / ".cache" / "curator" / "bench")
    cfg = SignalConfig(embedder=args.embedder)
    flips = [float(x) for x in args.flips.split(",")]
    seeds = [int(x) for x in args.seeds.split(",")]
    print(f"embedder={args.embedder!r}  cfg={cfg.to_dict()}")
    print(f"{'dataset':14s} {'flip':>4s} {'seed':>4s} | {'acc':>6s} {'auroc':>6s} {'auprc':>6s} {'p@k':>6s} {'sec':>6s} |"
          f" {'probe acc':>9s} {'probe auroc':>11s} | {'d acc':>6s} {'d auroc':>7s}")
    for name in args.datasets.split(","):
        path = SHARED / "hh_rlhf" / name / "test.jsonl.gz"
        if not path.exists():
            print(f"{name}: {path} not found, skipped")
            continue
        table = load_hh_pairs(path, limit=args.limit)
        feats = hh_features(table, args.embedder, cache)
        labels = table.column("label").to_pylist()
        rows = []
        for flip in flips:
            for seed in seeds if flip > 0 else seeds[:1]:
                r = evaluate_noise(table, flip=flip, seed=seed, cfg=cfg, features=feats)
                b = probe_baseline(feats["emb_a"], feats["emb_b"], labels, flip=flip, seed=seed)
                rows.append((flip, r, b))
                print(f"{name:14s} {flip:4.2f} {seed:4d} | {r['accuracy']:6.3f} {r['auroc']:6.3f} {r['auprc']:6.3f} "
                      f"{r['precision_at_k']:6.3f} {r['seconds']:6.0f} | {b['accuracy']:9.3f} {b['auroc']:11.3f} | "
                      f"{r['accuracy'] - b['accuracy']:+6.3f} {r['auroc'] - b['auroc']:+7.3f}", flush=True)
        for flip in flips:
            sel = [(r, b) for f, r, b in rows if f == flip]
            acc = np.array([r["accuracy"] for r, _ in sel])
            auc = np.array([r["auroc"] for r, _ in sel])
            pacc = np.array([b["accuracy"] for _, b in sel])
            pauc = np.array([b["auroc"] for _, b in sel])
            print(f"{name:14s} {flip:4.2f} mean | acc {acc.mean():.3f} (min {acc.min():.3f})  auroc {np.nanmean(auc):.3f} "
                  f"(min {np.nanmin(auc) if flip > 0 else float('nan'):.3f})  | probe acc {pacc.mean():.3f} auroc "
                  f"{np.nanmean(pauc) if flip > 0 else float('nan'):.3f} | acc ratio {acc.mean() / pacc.mean():.3f}",
                  flush=True)


if __name__ == "__main__":
    main()
