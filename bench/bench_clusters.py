"""Clusters + 2-D map + near-duplicates on synthetic 384-d embeddings, CPU timings.

    python bench/bench_clusters.py --n 100000          # goal: within 5 minutes on 2 cores
    python bench/bench_clusters.py --n 1000000         # UMAP on a 200k sample, the rest placed by nearest neighbours

Data: a Gaussian mixture of `--k-true` clusters in 384 dims (unit-normalised), each with its own
topic words for c-TF-IDF names. Reports seconds per stage and the adjusted Rand index of k-means
against the planted clusters.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=100_000)
    p.add_argument("--k-true", type=int, default=50)
    p.add_argument("--map-sample", type=int, default=200_000)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    from sklearn.metrics import adjusted_rand_score

    from curator.signals import clusters, noise

    rng = np.random.default_rng(args.seed)
    centres = rng.normal(size=(args.k_true, 384)).astype(np.float32)
    truth = rng.integers(0, args.k_true, args.n)
    emb = centres[truth] + rng.normal(size=(args.n, 384)).astype(np.float32) * 0.6
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    vocab = ["".join(rng.choice(letters, 7)) for _ in range(5 * args.k_true)]  # 5 topic words per planted cluster
    texts = [" ".join(vocab[5 * t + j] for j in rng.integers(0, 5, 4)) + " please help" for t in truth]
    k = clusters.choose_k(args.n)
    times = {}
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    labels = clusters.kmeans(emb, k, seed=args.seed)
    times["kmeans"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    terms = clusters.cluster_terms(texts, labels, seed=args.seed)
    times["names"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    vec = noise.pair_vectors(emb, emb, emb)
    near = noise.near_duplicates(vec, groups=labels if args.n > 50_000 else None)
    times["near_dup"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    xy = clusters.map_2d(emb, sample=args.map_sample, seed=args.seed)
    times["map"] = time.perf_counter() - t0
    total = sum(times.values())
    print(f"n={args.n:,} k={k} (planted {args.k_true}) ARI vs planted (k differs) "
          f"{adjusted_rand_score(truth, labels):.3f}; near-dups {int(near.sum())}; map finite {np.isfinite(xy).all()}")
    print("seconds: " + ", ".join(f"{s} {v:.1f}" for s, v in times.items()) + f", total {total:.1f} wall, "
          f"{time.process_time() - cpu0:.1f} CPU (process time, all threads)")
    print("example names:", [clusters.cluster_name(terms[c]) for c in list(terms)[:3]])


if __name__ == "__main__":
    main()
