"""Interpretable preference features (`curator.signals.features.run_stages`) on synthetic pairs.

    python bench/bench_features.py --n 100000          # 100k pairs, 768-d (the default embedder's size)
    python bench/bench_features.py --n 10000 --device cuda

Data: embeddings of both responses built from 24 sparse planted concepts in 768 dims plus noise;
the label follows 4 of them (two rewarded, two punished) and the texts carry one word per concept.
Embedding time is not included (see bench_embed_cpu.py / bench_embed_gpu.py). Reports seconds for
the whole call and its autoencoder / statistics parts, pairs per second, and how many of the 4
label-driving concepts the selected features recover (a selected latent correlating > 0.5 with one).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=100_000)
    p.add_argument("--d", type=int, default=768)
    p.add_argument("--concepts", type=int, default=24)
    p.add_argument("--device", default=None)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    from curator.signals.features import FeatureConfig, run_stages

    rng = np.random.default_rng(args.seed)
    atoms = rng.normal(size=(args.concepts, args.d)).astype(np.float32)
    atoms /= np.linalg.norm(atoms, axis=1, keepdims=True)
    ca = ((rng.random((args.n, args.concepts)) < 0.12) * rng.uniform(0.5, 1.5, (args.n, args.concepts))).astype(
        np.float32)
    cb = ((rng.random((args.n, args.concepts)) < 0.12) * rng.uniform(0.5, 1.5, (args.n, args.concepts))).astype(
        np.float32)
    ea = ca @ atoms + rng.normal(size=(args.n, args.d)).astype(np.float32) * 0.02
    eb = cb @ atoms + rng.normal(size=(args.n, args.d)).astype(np.float32) * 0.02
    w = np.zeros(args.concepts)
    w[:4] = (2.0, 1.5, -2.0, -1.5)
    sign = np.where(rng.random(args.n) < 1 / (1 + np.exp(-(ca - cb) @ w)), 1.0, -1.0)
    words = [f"concept{j}" for j in range(args.concepts)]
    ta = [" ".join(words[j] for j in np.flatnonzero(r)) + " filler text" for r in ca]
    tb = [" ".join(words[j] for j in np.flatnonzero(r)) + " filler text" for r in cb]

    t0 = time.perf_counter()
    result = run_stages(ea, eb, sign, ta, tb, cfg=FeatureConfig(device=args.device, seed=args.seed))
    seconds = time.perf_counter() - t0
    lat = result.latents.to_pandas()
    target = (ea - eb) @ atoms[:4].T
    found = set()
    for j in lat.latent[lat.selected]:
        corr = [abs(np.corrcoef(result.activations[:, j], target[:, a])[0, 1]) for a in range(4)]
        if max(corr) > 0.5:
            found.add(int(np.argmax(corr)))
    s = result.summary
    print(json.dumps({"n": args.n, "d": args.d, "device": s["device"], "seconds": round(seconds, 1),
                      "seconds_sae": s["seconds_sae"], "seconds_stats": s["seconds_stats"],
                      "pairs_per_s": round(args.n / seconds), "sae_epochs": s["sae_epochs"],
                      "label_concepts_found": f"{len(found)}/4", "explained_share": s["explained_share"],
                      "auc_probe": s["auc_probe"], "auc_features": s["auc_features"]}))


if __name__ == "__main__":
    main()
