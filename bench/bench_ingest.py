"""Ingest throughput: `curator.ingest.ingest_source` vs row-by-row INSERT, measured in one run.

Writes N synthetic preference pairs as JSONL (prompts ~300 chars, responses ~600 chars, a few
metadata fields) to a temp folder, then
  1. curator: `ingest_source(store, path)` into a fresh DuckDB file (timed until the file is
     closed, so the final checkpoint counts);
  2. naive: `json.loads` per line, pair id per row, `executemany("INSERT INTO pairs ...")` into a
     fresh file with the same schema, on the first `--naive-rows` lines (or until `--naive-seconds`
     run out), extrapolated as a per-row rate.
Both run in the same process, one after the other, so the ratio holds on a shared machine.

    python bench/bench_ingest.py                  # 1,000,000 pairs (~1.5 GB of JSONL in a temp dir)
    python bench/bench_ingest.py --pairs 100000

Prints both rates, the ratio and absolute timings, then one JSON line with every figure. Rates are
given per wall-clock second (what a user waits; inflated when other processes load the machine) and
per CPU-second of this process, all threads (not inflated by others' load).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from curator.schema import compute_pair_id  # noqa: E402
from curator.store import Store  # noqa: E402

WORDS = ("the a of to and in is it that for on with as this be are by from or an at your which can "
         "model answer question user assistant explain write code python function list data value "
         "example step first then result number table error time because would could should please "
         "recipe travel history science music health money law garden quantum poem story email").split()
TOPICS = ("code", "math", "chat", "safety", "writing", "reasoning")
MODELS = ("model-7b", "model-13b", "model-70b", "gpt-x", "claude-y")


def write_source(path: Path, n_pairs: int, *, seed: int) -> dict:
    """N explicit pairs as JSONL: prompt, chosen, rejected, plus id/topic/models/score metadata."""
    rng = np.random.default_rng(seed)
    pool = [" ".join(rng.choice(WORDS, size=int(rng.integers(3, 14)))).capitalize() + "." for _ in range(5000)]
    t0 = time.perf_counter()
    with path.open("w", encoding="utf-8") as f:
        for start in range(0, n_pairs, 10_000):
            n = min(10_000, n_pairs - start)
            idx = rng.integers(0, len(pool), size=(n, 6 + 12 + 12))
            n_a = rng.integers(8, 13, n)
            n_b = rng.integers(8, 13, n)
            topics = rng.integers(0, len(TOPICS), n)
            models = rng.integers(0, len(MODELS), (n, 2))
            scores = rng.integers(1, 11, (n, 2))
            lines = []
            for k in range(n):
                i = start + k
                row = idx[k]
                lines.append(json.dumps({
                    "id": f"ex-{i}",
                    "prompt": f"[{i}] " + " ".join(pool[j] for j in row[:6]),
                    "chosen": " ".join(pool[j] for j in row[6:6 + n_a[k]]),
                    "rejected": " ".join(pool[j] for j in row[18:18 + n_b[k]]),
                    "topic": TOPICS[topics[k]],
                    "model_chosen": MODELS[models[k, 0]], "model_rejected": MODELS[models[k, 1]],
                    "score_chosen": int(scores[k, 0]), "score_rejected": int(scores[k, 1]),
                }))
            f.write("\n".join(lines) + "\n")
    return {"write_s": round(time.perf_counter() - t0, 1), "bytes": path.stat().st_size}


def curator_ingest(src: Path, db: Path) -> dict:
    from curator.ingest import ingest_source

    t0, c0 = time.perf_counter(), time.process_time()
    store = Store(db)
    result = ingest_source(store, str(src), name="bench")
    index = store.search_index().last_update  # the text search index, updated at the end of the ingest
    store.close()
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    per_million = 1e6 / max(result.new_pairs, 1)
    return {"seconds": round(seconds, 2), "cpu_seconds": round(cpu, 2), "new_pairs": result.new_pairs,
            "pairs_per_s": round(result.new_pairs / seconds), "pairs_per_cpu_s": round(result.new_pairs / cpu),
            "db_bytes": db.stat().st_size,
            "search_index_seconds": round(index["seconds"], 2), "search_index_cpu_seconds": round(index["cpu_seconds"], 2),
            "search_index_s_per_million": round(index["seconds"] * per_million, 1),
            "search_index_cpu_s_per_million": round(index["cpu_seconds"] * per_million, 1),
            "without_index_pairs_per_s": round(result.new_pairs / (seconds - index["seconds"])),
            "without_index_pairs_per_cpu_s": round(result.new_pairs / (cpu - index["cpu_seconds"]))}


def naive_ingest(src: Path, db: Path, *, max_rows: int, max_seconds: float) -> dict:
    """What a first version does: parse a line, hash it, INSERT it (executemany per 1,000 rows)."""
    import duckdb

    Store(db).close()  # same tables as curator's
    con = duckdb.connect(str(db))
    sql = ("INSERT INTO pairs (pair_id, dataset, split, row_index, prompt, prompt_messages, response_a, response_b, "
           "label, metadata, len_prompt, len_a, len_b) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
    t0, c0 = time.perf_counter(), time.process_time()
    done = 0
    con.execute("BEGIN TRANSACTION")
    with src.open(encoding="utf-8") as f:
        rows = []
        for i, line in enumerate(f):
            r = json.loads(line)
            meta = {k: v for k, v in r.items() if k not in ("prompt", "chosen", "rejected")}
            rows.append((compute_pair_id(r["prompt"], r["chosen"], r["rejected"]), "bench", "train", i,
                         r["prompt"], None, r["chosen"], r["rejected"], "a", json.dumps(meta),
                         len(r["prompt"]), len(r["chosen"]), len(r["rejected"])))
            if len(rows) == 1000 or i + 1 == max_rows:
                con.executemany(sql, rows)
                done += len(rows)
                rows = []
                if done >= max_rows or time.perf_counter() - t0 > max_seconds:
                    break
    con.execute("COMMIT")
    con.close()
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"rows": done, "seconds": round(seconds, 2), "cpu_seconds": round(cpu, 2),
            "pairs_per_s": round(done / seconds, 1), "pairs_per_cpu_s": round(done / cpu, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pairs", type=int, default=1_000_000)
    ap.add_argument("--naive-rows", type=int, default=20_000)
    ap.add_argument("--naive-seconds", type=float, default=60.0, help="stop the naive run early after this")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep", type=Path, default=None, help="write the JSONL here and keep it")
    ap.add_argument("--skip-naive", action="store_true")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="curator-bench-") as tmp:
        tmp_dir = Path(tmp)
        src = args.keep or tmp_dir / "pairs.jsonl"
        if not src.exists():
            print(f"writing {args.pairs:,} pairs to {src} ...", flush=True)
            written = write_source(src, args.pairs, seed=args.seed)
            print(f"  {written['bytes'] / 1e6:,.0f} MB in {written['write_s']} s")
        else:
            written = {"write_s": None, "bytes": src.stat().st_size}

        naive = None
        if not args.skip_naive:
            print(f"naive: executemany INSERT on up to {args.naive_rows:,} rows ...", flush=True)
            naive = naive_ingest(src, tmp_dir / "naive.duckdb", max_rows=args.naive_rows,
                                 max_seconds=args.naive_seconds)
            print(f"  {naive['rows']:,} rows in {naive['seconds']} s = {naive['pairs_per_s']:,} pairs/s "
                  f"({naive['pairs_per_cpu_s']:,} pairs per CPU-second)", flush=True)

        print("curator: ingest_source into a fresh DuckDB file ...", flush=True)
        ours = curator_ingest(src, tmp_dir / "curator.duckdb")
        if ours["new_pairs"] != args.pairs:
            sys.exit(f"expected {args.pairs:,} new pairs, got {ours['new_pairs']:,}")
        print(f"  {ours['new_pairs']:,} pairs in {ours['seconds']} s = {ours['pairs_per_s']:,} pairs/s "
              f"({ours['pairs_per_cpu_s']:,} pairs per CPU-second; file {ours['db_bytes'] / 1e6:,.0f} MB)")
        print(f"  of which the search index: {ours['search_index_seconds']} s ({ours['search_index_cpu_seconds']} "
              f"CPU-s) = {ours['search_index_s_per_million']} s ({ours['search_index_cpu_s_per_million']} CPU-s) per "
              f"million pairs; without it {ours['without_index_pairs_per_s']:,} pairs/s "
              f"({ours['without_index_pairs_per_cpu_s']:,} per CPU-second)")

    result = {
        "bench": "ingest", "pairs": args.pairs, "source_mb": round(written["bytes"] / 1e6),
        "cpus": os.cpu_count(), "load_avg_1m": round(os.getloadavg()[0], 1),
        "curator_pairs_per_s": ours["pairs_per_s"], "curator_seconds": ours["seconds"],
        "curator_pairs_per_cpu_s": ours["pairs_per_cpu_s"], "curator_cpu_seconds": ours["cpu_seconds"],
        **{k: v for k, v in ours.items() if k.startswith(("search_index", "without_index"))},
        "naive_pairs_per_s": naive and naive["pairs_per_s"], "naive_pairs_per_cpu_s": naive and naive["pairs_per_cpu_s"],
        "naive_rows": naive and naive["rows"], "naive_seconds": naive and naive["seconds"],
        "naive_extrapolated_seconds": naive and round(args.pairs / naive["pairs_per_s"]),
        "ratio": naive and round(ours["pairs_per_s"] / naive["pairs_per_s"], 1),
        "ratio_cpu": naive and round(ours["pairs_per_cpu_s"] / naive["pairs_per_cpu_s"], 1),
        "goal_pairs_per_s": 20_000, "goal_met": ours["pairs_per_s"] >= 20_000,
    }
    if naive:
        print(f"curator {result['curator_pairs_per_s']:,} pairs/s vs naive {result['naive_pairs_per_s']:,} pairs/s: "
              f"{result['ratio']}x wall, {result['ratio_cpu']}x per CPU-second "
              f"(naive would take ~{result['naive_extrapolated_seconds']:,} s for all)")
    print(f"wall rates include waiting for other processes (load average {result['load_avg_1m']} on "
          f"{os.cpu_count()} CPUs); pairs per CPU-second count this process's CPU time, all threads.")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
