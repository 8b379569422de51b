"""The whole signals job at scale on the CPU: per-stage wall seconds, CPU-seconds and peak memory.

Builds N real-shaped pairs and runs them through what a signals job runs (`curator.jobs.worker.run`):
the job's feature stages (`curator.jobs.stages.signal_stages`: the default embedder, in checkpointed
chunks of 8,192 pairs through the local engine) and then `curator.signals.compute_signals` with the
default `SignalConfig` (cross-fitted Bradley-Terry ensemble, calibration, uncertainty heads, noise,
clusters, near-duplicates, map), then the Parquet write of the result. Stages are timed from the
pipeline's ``on_progress(stage, fraction)`` callbacks; CPU is this process's (all threads), peak
memory a 0.1 s sample of its RSS within each stage.

Real-shaped pairs: HH-RLHF transcripts (``../shared/data/hh_rlhf/*/test.jsonl.gz``, about 8.5k pairs)
cut into their real human turns and response sentences, recombined into new pairs: a prompt of 1-4
turns, two responses whose sentence counts follow real responses, so lengths and vocabulary are
HH's and (almost) every text is new. 3% of the pairs are near-copies of an earlier pair (one word
changed), 2% have identical responses, 10% are unlabelled; the label prefers the longer response
60% of the time. Without the HH files the demo generator's texts stand in.

The naive way, measured in the same run on `--naive-pairs` pairs: near-duplicates by exact blocked
cosine over all pairs (what the job did up to 50k pairs) against the job's search now (candidates
from 16 principal directions, decided on the full vectors), with their agreement.

    python bench/bench_signals_scale.py --pairs 10000
    python bench/bench_signals_scale.py --pairs 100000 --json out.json   # goal: <= 10 min on 2 cores
    python bench/bench_signals_scale.py --pairs 1000000                  # goal: <= 90 min, <= 16 GB
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import re
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402
import psutil  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
HH_DIR = REPO.parent / "shared" / "data" / "hh_rlhf"
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


# -- real-shaped pairs -------------------------------------------------------------------------


def _hh_pool() -> tuple[list[str], list[str], list[int], list[int]]:
    """(human turns, response sentences, sentences per real response, turns per real prompt) from HH-RLHF."""
    turns, sentences, per_response, per_prompt = [], [], [], []
    for path in sorted(HH_DIR.glob("*/test.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            for line in f:
                r = json.loads(line)
                for side in ("chosen", "rejected"):
                    parts = r[side].split("\n\nAssistant:")
                    last = parts[-1].strip()
                    split = [s for s in _SENTENCE.split(last) if s]
                    sentences.extend(split)
                    per_response.append(max(len(split), 1))
                human = [t.split("\n\nAssistant:")[0].strip() for t in r["chosen"].split("\n\nHuman:")[1:]]
                turns.extend(t for t in human if t)
                per_prompt.append(max(len(human), 1))
    return turns, sentences, per_response, per_prompt


def _demo_pool() -> tuple[list[str], list[str], list[int], list[int]]:
    from curator.io.demo import _pair

    rng = random.Random(0)
    turns, sentences, per_response = [], [], []
    for i in range(5000):
        row, _ = _pair(rng, i)
        turns += [m["content"] for m in row["prompt"] if m["role"] == "user"]
        for side in ("chosen", "rejected"):
            split = [s for s in _SENTENCE.split(row[side][0]["content"]) if s]
            sentences += split
            per_response.append(max(len(split), 1))
    return turns, sentences, per_response, [1, 1, 1, 2]


def make_pairs(n: int, *, seed: int = 0) -> tuple[pa.Table, str]:
    """N real-shaped pairs (pair_id, prompt, prompt_messages, response_a, response_b, label) and their source."""
    source = "hh_rlhf" if any(HH_DIR.glob("*/test.jsonl.gz")) else "demo"
    turns, sentences, per_response, per_prompt = _hh_pool() if source == "hh_rlhf" else _demo_pool()
    rng = np.random.default_rng(seed)
    turns_a, sent_a = np.asarray(turns, object), np.asarray(sentences, object)
    n_turns = np.asarray(per_prompt)[rng.integers(0, len(per_prompt), n)].clip(1, 4)
    n_a = np.asarray(per_response)[rng.integers(0, len(per_response), n)].clip(1, 12)
    n_b = np.asarray(per_response)[rng.integers(0, len(per_response), n)].clip(1, 12)
    prompts, ra, rb = [], [], []
    for i in range(n):
        t = turns_a[rng.integers(0, len(turns_a), n_turns[i])]
        replies = [" ".join(sent_a[rng.integers(0, len(sent_a), 2)]) for _ in range(len(t) - 1)]
        chat = "".join(f"\n\nHuman: {t[j]}\n\nAssistant: {replies[j]}" for j in range(len(t) - 1))
        prompts.append(f"{chat}\n\nHuman: {t[-1]}")
        ra.append(" ".join(sent_a[rng.integers(0, len(sent_a), n_a[i])]))
        rb.append(" ".join(sent_a[rng.integers(0, len(sent_a), n_b[i])]))
    words = sent_a[rng.integers(0, len(sent_a), 1000)]
    for i in np.flatnonzero(rng.random(n) < 0.03)[1:]:  # near-copies of an earlier pair, one word changed
        j = int(rng.integers(0, i))
        word = str(words[i % len(words)]).split(" ")[0]
        prompts[i], ra[i], rb[i] = prompts[j], ra[j] + " " + word, rb[j]
    for i in np.flatnonzero(rng.random(n) < 0.02):
        rb[i] = ra[i]
    longer_a = np.array([len(a) >= len(b) for a, b in zip(ra, rb, strict=True)])
    a_wins = np.where(rng.random(n) < 0.6, longer_a, ~longer_a)
    label = np.where(rng.random(n) < 0.1, None, np.where(a_wins, "a", "b"))
    return pa.table({"pair_id": [f"p{i:08d}" for i in range(n)], "prompt": prompts,
                     "prompt_messages": pa.nulls(n, pa.string()), "response_a": ra, "response_b": rb,
                     "label": pa.array(label.tolist(), pa.string())}), source


# -- timing ------------------------------------------------------------------------------------


class StageClock:
    """Wall, CPU (this process, all threads) and peak RSS per named stage; `mark(name)` starts the next one."""

    def __init__(self) -> None:
        self.proc = psutil.Process()
        self.rows: list[dict] = []
        self._name: str | None = None
        self._peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.1):
            self._peak = max(self._peak, self.proc.memory_info().rss)

    def mark(self, name: str | None) -> None:
        now, cpu = time.perf_counter(), time.process_time()
        rss = self.proc.memory_info().rss
        if self._name is not None:
            row = self.rows[-1]
            row.update(wall_s=now - row.pop("_t"), cpu_s=cpu - row.pop("_c"), peak_rss_gb=max(self._peak, rss) / 1e9)
            print(f"  {row['stage']}: {row['wall_s']:.1f} s wall, {row['cpu_s']:.1f} CPU-s, "
                  f"{row['peak_rss_gb']:.2f} GB", flush=True)
        self._name = name
        self._peak = rss
        if name is not None:
            self.rows.append({"stage": name, "_t": now, "_c": cpu})

    def close(self) -> list[dict]:
        self.mark(None)
        self._stop.set()
        return self.rows


def run_job(pairs: pa.Table, work: Path) -> tuple[list[dict], pa.Table]:
    """What `curator.jobs.worker.run` does for a default signals job, timed per stage."""
    from curator.jobs.engines import compute_features
    from curator.jobs.stages import signal_stages
    from curator.signals import SignalConfig, compute_signals

    cfg = SignalConfig()
    clock = StageClock()
    clock.mark("write input.parquet")
    pq.write_table(pairs, work / "input.parquet")
    clock.mark("embed (job stage)")
    features = compute_features(work / "input.parquet", signal_stages(cfg.to_dict()), engine="local",
                                cache_dir=work / "features", batch_size=256, checkpoint_rows=8192)
    clock.mark("read input")
    table = pq.read_table(work / "input.parquet")
    seen: list[str] = []

    def on_progress(stage: str, fraction: float) -> None:
        if not seen or seen[-1] != stage:
            seen.append(stage)
            clock.mark(stage if stage != "done" else "result table")

    result = compute_signals(table, cfg, features=features, on_progress=on_progress)
    clock.mark("write signals.parquet")
    pq.write_table(result.signals, work / "signals.parquet")
    pq.write_table(result.clusters, work / "clusters.parquet")
    return clock.close(), result.signals


def near_duplicates_all_pairs(vectors: np.ndarray, *, threshold: float, block: int = 4096) -> np.ndarray:
    """The naive way (the job's code before this bench): every row against every row, in blocks."""
    V = np.ascontiguousarray(vectors, dtype=np.float32)
    out = np.zeros(len(V), dtype=bool)
    for s in range(0, len(V), block):
        sims = V[s:s + block] @ V.T
        rows = np.arange(sims.shape[0])
        sims[rows, rows + s] = -np.inf
        out[s:s + block] = (sims >= threshold).any(1)
    return out


def naive_ratio(pairs: pa.Table, n: int, work: Path) -> dict:
    """Near-duplicates on the first n pairs' job embeddings: exact blocked cosine vs the job's search."""
    from curator.jobs.engines import compute_features
    from curator.jobs.stages import signal_stages
    from curator.signals import SignalConfig, noise

    sub = pairs.slice(0, n)
    pq.write_table(sub, work / "naive.parquet")
    cfg = SignalConfig()
    emb = compute_features(work / "naive.parquet", signal_stages(cfg.to_dict()), cache_dir=work / "naive_features",
                           batch_size=256, checkpoint_rows=8192)
    vectors = noise.pair_vectors(emb["emb_prompt"], emb["emb_a"], emb["emb_b"])
    t0, c0 = time.perf_counter(), time.process_time()
    exact = near_duplicates_all_pairs(vectors, threshold=cfg.near_dup_threshold)
    t_exact, c_exact = time.perf_counter() - t0, time.process_time() - c0
    t0, c0 = time.perf_counter(), time.process_time()
    fast = noise.near_duplicates(vectors, threshold=cfg.near_dup_threshold, seed=cfg.seed)
    t_fast, c_fast = time.perf_counter() - t0, time.process_time() - c0
    both = int((exact & fast).sum())
    return {"pairs": n, "exact_wall_s": t_exact, "exact_cpu_s": c_exact, "ours_wall_s": t_fast, "ours_cpu_s": c_fast,
            "ratio_wall": t_exact / max(t_fast, 1e-9), "exact_flagged": int(exact.sum()), "ours_flagged": int(fast.sum()),
            "recall_vs_exact": both / max(int(exact.sum()), 1), "ours_not_exact": int((fast & ~exact).sum())}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pairs", type=int, default=100_000)
    p.add_argument("--naive-pairs", type=int, default=20_000, help="pairs of the near-duplicate comparison (0: skip)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", default=None, help="also write every figure to this file")
    args = p.parse_args()
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    pairs, source = make_pairs(args.pairs, seed=args.seed)
    build_s = time.perf_counter() - t0
    lens = {c: np.asarray([len(x) for x in pairs.column(c).to_pylist()]) for c in ("prompt", "response_a")}
    print(f"{args.pairs:,} pairs from {source} texts in {build_s:.1f} s; chars prompt median "
          f"{np.median(lens['prompt']):.0f} / response median {np.median(lens['response_a']):.0f}; "
          f"load average {load_before[0]:.1f} / {load_before[1]:.1f} on {os.cpu_count()} CPUs", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench_signals_scale_") as tmp:
        work = Path(tmp)
        rows, signals = run_job(pairs, work)
        naive = naive_ratio(pairs, min(args.naive_pairs, args.pairs), work) if args.naive_pairs else None
    load_after = os.getloadavg()
    wall = sum(r["wall_s"] for r in rows)
    cpu = sum(r["cpu_s"] for r in rows)
    peak = max(r["peak_rss_gb"] for r in rows)
    print("\n| stage | wall s | CPU s | peak RSS GB |\n|---|---|---|---|")
    for r in rows:
        print(f"| {r['stage']} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} | {r['peak_rss_gb']:.2f} |")
    print(f"| **whole job** | **{wall:.1f}** | **{cpu:.1f}** | **{peak:.2f}** |")
    flags = {c: int(np.asarray(signals.column(c)).sum()) for c in signals.column_names if c.startswith("flag_")}
    print(f"flags: {flags}; load average after {load_after[0]:.1f} / {load_after[1]:.1f}")
    if naive:
        print(f"near-duplicates on {naive['pairs']:,} pairs: exact blocked cosine {naive['exact_wall_s']:.1f} s wall "
              f"({naive['exact_cpu_s']:.1f} CPU-s) vs ours {naive['ours_wall_s']:.1f} s ({naive['ours_cpu_s']:.1f} "
              f"CPU-s): {naive['ratio_wall']:.1f}x; flagged {naive['exact_flagged']} / {naive['ours_flagged']}, "
              f"recall vs exact {naive['recall_vs_exact']:.3f}, {naive['ours_not_exact']} not in exact")
    out = {"pairs": args.pairs, "source": source, "build_s": build_s, "stages": rows, "wall_s": wall, "cpu_s": cpu,
           "peak_rss_gb": peak, "flags": flags, "naive_near_duplicates": naive,
           "load_before": load_before, "load_after": load_after}
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
