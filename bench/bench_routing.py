"""Routing: label accuracy vs human budget on PandaLM and MT-Bench, measured in one run.

For each dataset (from ../shared/data, or --data-dir), `curator.evals.routing.evaluate_routing`
imports the file into an in-memory store, takes the strict human majority as gold, and compares
at budgets 0.1..0.5: AI only, a random human share (mean of 20 draws), the label-free estimate's
top pairs (no human label seen), and the router's human share (adaptive rounds; every human label
the router learns from is part of the budget).

- PandaLM (testset-v1.json): the AI is GPT-3.5 (`gpt-3.5-turbo`); PandaLM-7B's verdicts are a feature.
- MT-Bench (human vs GPT-4): the AI is GPT-4; a generalisation check (nothing was tuned on it).

    python bench/bench_routing.py
    python bench/bench_routing.py --data-dir /path/to/shared/data

Prints a table per dataset, then one JSON line with every figure.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from curator.evals.routing import evaluate_routing  # noqa: E402

DATASETS = (
    ("PandaLM", "pandalm/testset-v1.json", "gpt-3.5-turbo"),
    ("MT-Bench", "mt_bench_human_vs_gpt4/mt_bench_pairs_human_gpt4.jsonl", "gpt-4"),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--random-draws", type=int, default=20)
    args = parser.parse_args()
    results = {}
    for name, rel, judge in DATASETS:
        path = args.data_dir / rel
        if not path.exists():
            print(f"{name}: {path} not found, skipped")
            continue
        start = time.perf_counter()
        r = evaluate_routing(path, judge=judge, n_random=args.random_draws)
        r["seconds"] = round(time.perf_counter() - start, 1)
        results[name] = r
        extra = f", features from {', '.join(r['other_judges'])}" if r["other_judges"] else ""
        print(f"\n{name}: {r['n']} pairs with a human majority ({r['left_out']} left out), AI = {r['judge']}{extra}, "
              f"{r['ai_missing']} AI verdicts unusable; {r['seconds']} s")
        print(f"  AI only {r['ai_only']:.3f}   human only 1.000   (batch {r['batch_size']} pairs per round)")
        print("  budget  random  label-free  routed  gap recovered (random)  seed")
        for c in r["curve"]:
            print(f"  {c['budget']:>6.2f}  {c['random']:.3f}   {c['label_free']:.3f}       {c['routed']:.3f}   "
                  f"{c['gap_recovered']:>6.2f} ({c['random_gap_recovered']:.2f})          {c['seed_size']:>4}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
