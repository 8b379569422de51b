"""Does the default curated recipe beat training on everything? `curator eval curation` over several seeds.

For each seed: a seeded 70/30 split of HH-RLHF helpful-base (2,354 pairs), 20% of the training labels
flipped, out-of-fold signals computed on the flipped training pairs only (`curator.signals`), the
default curated recipe applied, and the embedded reward trained on all training pairs, on the kept
pairs, and (reference) on the training pairs with their original labels. Accuracy is on the held-out
30% against the original labels.

    python bench/bench_curation.py                          # seeds 0-4, 20% flips
    python bench/bench_curation.py --seeds 0 1 2 --flip 0.3
    python bench/bench_curation.py --data path/to/pairs.jsonl

Prints one row per seed (all, curated, curated - all, kept share, clean reference, AUROC of the
out-of-fold margin for the flips, share of removed pairs that were flipped), the mean row, then one
JSON line with every figure.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from curator.evals.curation import evaluate_curation, load_pairs  # noqa: E402

DEFAULT_DATA = REPO.parent / "shared" / "data" / "hh_rlhf" / "helpful-base" / "test.jsonl.gz"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--flip", type=float, default=0.2)
    parser.add_argument("--heldout", type=float, default=0.3)
    parser.add_argument("--embedder", default="default")
    parser.add_argument("--cache-dir", default=str(REPO / "data" / "cache" / "embeddings"))
    args = parser.parse_args()
    if not args.data.exists():
        sys.exit(f"{args.data} not found; pass --data.")

    pairs = load_pairs(args.data)
    rows = []
    header = f"{'seed':>4} {'all':>7} {'curated':>8} {'gain':>7} {'kept':>6} {'clean':>7} {'auroc':>6} {'prec':>6} {'sec':>5}"
    print(f"{args.data.name}: {pairs.num_rows} pairs, flip {args.flip:.0%}, held out {args.heldout:.0%}")
    print(header)
    for seed in args.seeds:
        start = time.perf_counter()
        r = evaluate_curation(args.data, flip=args.flip, seed=seed, heldout=args.heldout, embedder=args.embedder,
                              cache_dir=args.cache_dir, pairs=pairs)
        sec = time.perf_counter() - start
        rows.append({**r.to_dict(), "seconds": round(sec, 1)})
        print(f"{seed:>4} {r.all:7.4f} {r.curated:8.4f} {r.curated - r.all:+7.4f} {r.kept:6.3f} {r.clean:7.4f} "
              f"{r.flip_auroc:6.3f} {r.removed_were_flipped:6.3f} {sec:5.0f}", flush=True)
    mean = {k: float(np.nanmean([row[k] for row in rows])) for k in ("all", "curated", "kept", "clean", "flip_auroc",
                                                                     "removed_were_flipped")}
    print(f"{'mean':>4} {mean['all']:7.4f} {mean['curated']:8.4f} {mean['curated'] - mean['all']:+7.4f} "
          f"{mean['kept']:6.3f} {mean['clean']:7.4f} {mean['flip_auroc']:6.3f} {mean['removed_were_flipped']:6.3f}")
    print(json.dumps({"data": str(args.data), "flip": args.flip, "heldout": args.heldout, "seeds": rows,
                      "mean": mean, "mean_gain": mean["curated"] - mean["all"]}))


if __name__ == "__main__":
    main()
