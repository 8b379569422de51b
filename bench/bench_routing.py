"""Routing: label accuracy vs human budget on PandaLM and MT-Bench, measured in one run.

For each dataset (from ../shared/data, or --data-dir), `curator.evals.routing.evaluate_routing`
imports the file into an in-memory store, takes the strict human majority as gold, and compares
at budgets 0.1..0.5: AI only, a random human share (mean of 20 draws), the label-free estimate's
top pairs (no human label seen), and the router's human share (adaptive rounds; every human label
the router learns from is part of the budget).

- PandaLM (testset-v1.json): the AI is GPT-3.5 (`gpt-3.5-turbo`); PandaLM-7B's verdicts are a feature.
- PandaLM votes form: `pandalm_merged.jsonl` written as the generic votes form (3 human votes, GPT-3.5
  the only AI judge), as a user without PandaLM-7B's verdicts would have it.
- MT-Bench (human vs GPT-4): the AI is GPT-4; a generalisation check (nothing was tuned on it).
- LLMBar (one expert label per pair): the AI is GPT-4 (Vanilla_NoRules, first order); ChatGPT, PaLM2,
  LLaMA2 and Falcon verdicts are features. A generalisation check too.

Each is run with and without the embedded reward ensemble's features (`--no-ensemble` skips the
former, the ensemble trains on the AI verdicts only: `curator.evals.routing.with_reward_ensemble`).

    python bench/bench_routing.py
    python bench/bench_routing.py --data-dir /path/to/shared/data

Prints a table per dataset, then one JSON line with every figure.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from curator.evals.routing import evaluate_loaded, load_eval_data, with_reward_ensemble  # noqa: E402

_PANDALM = {1: "a", 2: "b", 0: "tie"}
_LLMBAR = {"1": "a", "2": "b"}
LLMBAR_JUDGES = ("GPT-4/Vanilla_NoRules", "ChatGPT/Vanilla_NoRules", "PaLM2/Vanilla_NoRules",
                 "LLaMA2/Vanilla_NoRules", "Falcon/Vanilla_NoRules")


def pandalm_votes(src: Path, out: Path) -> None:
    """pandalm_merged.jsonl as the votes form: three human votes and GPT-3.5's verdict."""
    with src.open() as f, out.open("w") as g:
        for line in f:
            r = json.loads(line)
            votes = [{"annotator": f"annotator{i + 1}", "kind": "human", "choice": _PANDALM[h]}
                     for i, h in enumerate(r["human_labels"])]
            votes.append({"annotator": "gpt-3.5-turbo", "kind": "ai", "choice": _PANDALM.get(r["gpt35_label"])})
            prompt = r["instruction"] + (f"\n\n{r['input']}" if r["input"] else "")
            g.write(json.dumps({"prompt": prompt, "response_a": str(r["response1"]), "response_b": str(r["response2"]),
                                "votes": votes}) + "\n")


def llmbar_votes(src: Path, out: Path) -> None:
    """LLMBar with judges as the votes form: the expert label as one human vote, each judge's verdict."""
    with src.open() as f, out.open("w") as g:
        for line in f:
            r = json.loads(line)
            votes = [{"annotator": "expert", "kind": "human", "choice": _LLMBAR[str(r["human_label"])]}]
            votes += [{"annotator": j, "kind": "ai", "choice": _LLMBAR.get(r["judges"][j]["swap=False"])}
                      for j in LLMBAR_JUDGES if j in r["judges"]]
            g.write(json.dumps({"prompt": r["input"], "response_a": r["output_1"], "response_b": r["output_2"],
                                "votes": votes}) + "\n")


DATASETS = (
    ("PandaLM", "pandalm/testset-v1.json", "gpt-3.5-turbo", None),
    ("PandaLM votes form", "pandalm/pandalm_merged.jsonl", "gpt-3.5-turbo", pandalm_votes),
    ("MT-Bench", "mt_bench_human_vs_gpt4/mt_bench_pairs_human_gpt4.jsonl", "gpt-4", None),
    ("LLMBar", "llmbar/llmbar_pairs_with_judges.jsonl", LLMBAR_JUDGES[0], llmbar_votes),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--random-draws", type=int, default=20)
    parser.add_argument("--no-ensemble", action="store_true", help="skip the runs with the reward ensemble")
    args = parser.parse_args()
    results = {}
    tmp = Path(tempfile.mkdtemp(prefix="bench-routing-"))
    for name, rel, judge, convert in DATASETS:
        path = args.data_dir / rel
        if not path.exists():
            print(f"{name}: {path} not found, skipped")
            continue
        if convert is not None:
            convert(path, tmp / f"{path.stem}-votes.jsonl")
            path = tmp / f"{path.stem}-votes.jsonl"
        start = time.perf_counter()
        ev = load_eval_data(path, judge=judge)
        without = evaluate_loaded(ev, n_random=args.random_draws)
        if not args.no_ensemble:
            ev = with_reward_ensemble(ev)
        r = evaluate_loaded(ev, n_random=args.random_draws)
        r["seconds"] = round(time.perf_counter() - start, 1)
        r["without_ensemble"] = {c["budget"]: c["routed"] for c in without["curve"]}
        results[name] = r
        extra = f", features from {', '.join(r['other_judges'])}" if r["other_judges"] else ""
        print(f"\n{name}: {r['n']} pairs with a human majority ({r['left_out']} left out), AI = {r['judge']}{extra}, "
              f"{r['ai_missing']} AI verdicts unusable; {r['seconds']} s")
        print(f"  AI only {r['ai_only']:.3f}   human only 1.000   (batch {r['batch_size']} pairs per round)")
        print("  budget  random  label-free  routed  gap recovered (random)  seed  routed without ensemble")
        for c in r["curve"]:
            print(f"  {c['budget']:>6.2f}  {c['random']:.3f}   {c['label_free']:.3f}       {c['routed']:.3f}   "
                  f"{c['gap_recovered']:>6.2f} ({c['random_gap_recovered']:.2f})          {c['seed_size']:>4}  "
                  f"{r['without_ensemble'][c['budget']]:.3f}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
