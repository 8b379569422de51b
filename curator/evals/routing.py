"""`curator eval routing`: how much label accuracy routing buys for a human budget, on data with
human votes and AI verdicts per pair.

The data (any source `curator.io` reads with human votes and AI verdicts: the generic votes form,
PandaLM, MT-Bench) is imported into an in-memory store. Gold is the strict majority of each pair's
human votes; pairs without one are left out. The AI is one judge (`judge`, default the first AI
judge in the data); other AI judges are features. Pairs routed to humans take the gold label, the
rest the AI verdict, and a missing or unusable AI verdict counts as wrong.

Honesty: the router sees texts and AI verdicts only. It learns human labels solely for the pairs
it sends to humans, in rounds (`route_adaptive`), so everything it learns from is part of the
budget; `seed_size` reports how many such labels the last routing decision used.

The embedded reward ensemble (`curator.signals.compute_signals` with the defaults) adds its
margin and spread to the router's features, as a signal run does in the app. It is trained
cross-fitted on the primary AI judge's verdicts, never on human votes: its out-of-fold disagreement
with the AI marks verdicts that break the judge's own pattern (`with_reward_ensemble`).

Baselines: `ai_only` (budget 0), `human_only` (1.0 by definition of gold), `random` (the mean of
`n_random` uniformly random human shares of the same size).
"""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from curator.annotate.routing import default_batch_size, route_adaptive, top_k
from curator.annotate.routing_features import RoutingData, heuristic_error
from curator.annotate.routing_service import ai_judges, load_routing_data
from curator.errors import CuratorError
from curator.schema import CHOICES

logger = logging.getLogger(__name__)

DEFAULT_BUDGETS: tuple[float, ...] = (0.1, 0.2, 0.25, 0.3, 0.4, 0.5)
_CODE = {c: i for i, c in enumerate(CHOICES)}


@dataclass(frozen=True)
class RoutingEvalData:
    """The router's view plus what only the evaluation knows.

    Attributes:
        data: `RoutingData` of the pairs that have a gold label.
        gold: (N,) gold codes (strict human majority).
        ai_wrong: (N,) True where the AI verdict is not the gold label (missing counts as wrong).
        left_out: pairs without a strict human majority.
    """

    data: RoutingData
    gold: np.ndarray
    ai_wrong: np.ndarray
    left_out: int
    dataset: str


def load_eval_data(source: str | Path, *, judge: str | None = None) -> RoutingEvalData:
    """Import `source` into a fresh in-memory store and split it into router view and gold."""
    from curator.ingest import ingest_source
    from curator.store import Store

    store = Store(":memory:")
    try:
        result = ingest_source(store, str(source))
        table = store.latest_judgements(kind="human", dataset=result.dataset)
        votes: dict[str, list[str]] = {}
        for pid, choice in zip(table.column("pair_id").to_pylist(), table.column("choice").to_pylist(), strict=True):
            if choice is not None:
                votes.setdefault(pid, []).append(choice)
        gold: dict[str, str] = {}
        for pid, vs in votes.items():
            top, count = Counter(vs).most_common(1)[0]
            if 2 * count > len(vs):
                gold[pid] = top
        judges = ai_judges(store, dataset=result.dataset)
        if not judges:
            raise CuratorError(f"{source}: no AI verdicts found; routing needs an AI judge to route against.")
        if not gold:
            raise CuratorError(f"{source}: no pair has a strict majority of human votes; nothing to evaluate against.")
        judge = judge or judges[0]
        if judge not in judges:
            raise CuratorError(f"{source}: no AI judge named {judge!r}; judges in the data: {judges}.")
        ordered = [p for p in store.select_pair_ids(_dataset_filter(result.dataset)) if p in gold]
        data = load_routing_data(store, ordered, judge=judge, other_judges=[j for j in judges if j != judge])
        gold_codes = np.array([_CODE[gold[p]] for p in ordered], dtype=int)
        n_pairs = len(store.select_pair_ids(_dataset_filter(result.dataset)))
    finally:
        store.close()
    return RoutingEvalData(data, gold_codes, data.primary != gold_codes, n_pairs - len(ordered), result.dataset)


def with_reward_ensemble(ev: RoutingEvalData, *, seed: int = 0) -> RoutingEvalData:
    """`ev` with the embedded reward ensemble's margin (toward a) and spread as router features.

    The ensemble learns from the primary AI judge's a/b verdicts (ties and missing verdicts are
    unlabelled), cross-fitted, so each pair's margin comes from heads that never saw its verdict.
    """
    import pyarrow as pa

    from curator.signals import SignalConfig, compute_signals

    d = ev.data
    verdict = [CHOICES[c] if c >= 0 and CHOICES[c] in ("a", "b") else None for c in d.primary]
    pairs = pa.table({"pair_id": d.pair_ids, "prompt": d.prompts, "response_a": d.responses_a,
                      "response_b": d.responses_b, "label": pa.array(verdict, pa.string())})
    signals = compute_signals(pairs, SignalConfig(seed=seed)).signals
    toward_a = np.where(np.array(verdict, dtype=object) == "b", -1.0, 1.0)
    margin = signals.column("margin").to_numpy(zero_copy_only=False) * toward_a
    spread = signals.column("margin_std").to_numpy(zero_copy_only=False)
    return dataclasses.replace(ev, data=dataclasses.replace(d, reward_margin_a=margin, reward_std=spread))


def _dataset_filter(name: str) -> Any:
    from curator.schema import PairFilter

    return PairFilter(datasets=(name,))


def _accuracy(ai_wrong: np.ndarray, human: np.ndarray) -> float:
    return float(1.0 - (ai_wrong & ~human).sum() / len(ai_wrong))


def evaluate_loaded(ev: RoutingEvalData, *, budget: float = 0.25, budgets: Sequence[float] = DEFAULT_BUDGETS,
                    n_random: int = 20, seed: int = 0, batch_size: int | None = None,
                    model: str = "logistic") -> dict[str, Any]:
    """The evaluation on already loaded data (see `evaluate_routing`)."""
    n = len(ev.gold)
    ai_only = _accuracy(ev.ai_wrong, np.zeros(n, dtype=bool))

    ks = {b: int(round(b * n)) for b in {*budgets, budget}}
    routed = route_adaptive(ev.data, budget=max(ks.values()), reveal=lambda idx: ev.ai_wrong[idx],
                            batch_size=batch_size, model=model, checkpoints=list(ks.values()))
    gap = 1.0 - ai_only
    label_free = heuristic_error(ev.data)  # the router before any human label: seed size 0

    def at(b: float) -> dict[str, Any]:
        k = ks[b]
        rng = np.random.default_rng([seed, k])
        random_acc = []
        for _ in range(n_random):
            mask = np.zeros(n, dtype=bool)
            mask[rng.choice(n, size=k, replace=False)] = True
            random_acc.append(_accuracy(ev.ai_wrong, mask))
        acc = _accuracy(ev.ai_wrong, routed.human_at(k))
        rand = float(np.mean(random_acc))
        return {
            "budget": b, "budget_pairs": k, "random": round(rand, 4), "routed": round(acc, 4),
            "seed_size": routed.seed_at(k), "label_free": round(_accuracy(ev.ai_wrong, top_k(label_free, k)), 4),
            "gap_recovered": round((acc - ai_only) / gap, 4) if gap > 0 else None,
            "random_gap_recovered": round((rand - ai_only) / gap, 4) if gap > 0 else None,
        }

    main = at(budget)
    return {
        "dataset": ev.dataset, "n": n, "left_out": ev.left_out, "judge": ev.data.judges[0],
        "reward_ensemble": ev.data.reward_margin_a is not None,
        "other_judges": ev.data.judges[1:], "ai_only": round(ai_only, 4), "human_only": 1.0,
        "ai_missing": int((ev.data.primary < 0).sum()), **main, "predictor": routed.predictor.method,
        "batch_size": batch_size or default_batch_size(n), "rounds": routed.rounds,
        "curve": [at(b) for b in sorted(budgets)],
    }


def evaluate_routing(source: str | Path, *, budget: float = 0.25, judge: str | None = None,
                     budgets: Sequence[float] = DEFAULT_BUDGETS, n_random: int = 20, seed: int = 0,
                     batch_size: int | None = None, model: str = "logistic",
                     reward_ensemble: bool = False) -> dict[str, Any]:
    """Accuracy of routed labels against gold at `budget` and along `budgets`.

    `reward_ensemble` adds the embedded reward ensemble's features (`with_reward_ensemble`).

    Returns:
        A JSON-ready dict: n, left_out, judge, other_judges, ai_only, human_only (1.0), ai_missing,
        reward_ensemble, budget, budget_pairs, random, routed, seed_size, label_free (routing by the label-free
        estimate alone, seed 0), gap_recovered, random_gap_recovered, predictor, batch_size,
        rounds, and `curve`: the per-budget figures for every budget in `budgets`.
    """
    if not 0.0 <= budget <= 1.0:
        raise ValueError(f"`budget` must be a share between 0 and 1, got {budget}.")
    ev = load_eval_data(source, judge=judge)
    if reward_ensemble:
        ev = with_reward_ensemble(ev, seed=seed)
    return evaluate_loaded(ev, budget=budget, budgets=budgets, n_random=n_random,
                           seed=seed, batch_size=batch_size, model=model)
