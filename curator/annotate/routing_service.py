"""Routing on stored data: read the AI verdicts, texts and signals of a selection, plan, send.

`load_routing_data` builds the `RoutingData` the router sees (never human labels);
`known_ai_errors` compares the AI verdict with the human majority where both exist (the labels a
predictor may learn from); `plan_from_store` puts both together; `send_human_share` turns the
human share into an annotation queue. No SQL here: everything goes through `Store` methods.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from curator.annotate.routing import EstimateCheck, RoutingPlan, check_estimate, plan_routing
from curator.annotate.routing_features import RoutingData
from curator.schema import CHOICES

if TYPE_CHECKING:
    from curator.store import Store
    from curator.store.annotate import QueueInfo

_CODE = {c: i for i, c in enumerate(CHOICES)}


def ai_judges(store: Store, *, dataset: str | None = None, pair_ids: Sequence[str] | None = None) -> list[str]:
    """The AI judges with verdicts on the selection, in the order their verdicts were first stored."""
    table = store.latest_judgements(kind="ai", dataset=dataset, pair_ids=pair_ids)
    first: dict[str, int] = {}
    for name, jid in zip(table.column("annotator").to_pylist(), table.column("judgement_id").to_pylist(), strict=True):
        first[name] = min(first.get(name, jid), jid)
    return sorted(first, key=first.__getitem__)


def _details(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    if not value:
        return {}
    try:
        parsed = json.loads(value)
    except (TypeError, ValueError):
        return {}
    return parsed if isinstance(parsed, dict) else {}


def is_inconsistent(details: dict[str, Any]) -> bool:
    """True when a verdict records that the judge contradicted itself across the two orders.

    >>> is_inconsistent({"raw": "tie (inconsistent)"}), is_inconsistent({"inconsistent": True}), is_inconsistent({})
    (True, True, False)
    """
    if details.get("inconsistent") is True:
        return True
    return "inconsistent" in str(details.get("raw", "")).lower()


def load_routing_data(store: Store, pair_ids: Sequence[str], *, judge: str, other_judges: Sequence[str] | None = None,
                      signal_run: str | None = None) -> RoutingData:
    """The router's view of `pair_ids`: texts, AI verdicts (`judge` first), reward signals, clusters.

    Args:
        judge: the AI judge whose verdict AI-routed pairs keep.
        other_judges: further AI judges used as features; default every other AI judge on the pairs.
        signal_run: a signal run whose margins, spread and clusters become features.
    """
    pair_ids = list(pair_ids)
    texts = {r["pair_id"]: r for r in store.pair_texts(pair_ids).to_pylist()}
    missing = [p for p in pair_ids if p not in texts]
    if missing:
        raise ValueError(f"{len(missing)} pair_id(s) are not in the store, e.g. {missing[:3]}.")
    table = store.latest_judgements(kind="ai", pair_ids=pair_ids)
    if other_judges is None:
        other_judges = [j for j in ai_judges(store, pair_ids=pair_ids) if j != judge]
    judges = [judge, *[j for j in other_judges if j != judge]]
    col = {j: i for i, j in enumerate(judges)}
    row = {p: i for i, p in enumerate(pair_ids)}
    n, m = len(pair_ids), len(judges)
    choices = np.full((n, m), -1, dtype=int)
    confidence = np.full((n, m), np.nan)
    inconsistent = np.zeros((n, m), dtype=bool)
    seen_primary = 0
    for r in table.to_pylist():
        j = col.get(r["annotator"])
        if j is None:
            continue
        i = row[r["pair_id"]]
        seen_primary += j == 0
        choices[i, j] = -1 if r["choice"] is None else _CODE[r["choice"]]
        if r["confidence"] is not None and not np.isnan(r["confidence"]):
            confidence[i, j] = float(r["confidence"])
        inconsistent[i, j] = is_inconsistent(_details(r["details"]))
    if not seen_primary:
        raise ValueError(f"No verdicts of AI judge {judge!r} on the selection; judges found: "
                         f"{ai_judges(store, pair_ids=pair_ids) or 'none'}.")
    margin = std = clusters = None
    if signal_run:
        sig = {r["pair_id"]: r for r in store.signals(signal_run, ("margin", "margin_std", "cluster")).to_pylist()}
        margin = np.array([_margin_a(sig.get(p)) for p in pair_ids], dtype=float)
        std = np.array([np.nan if sig.get(p) is None or sig[p]["margin_std"] is None else sig[p]["margin_std"]
                        for p in pair_ids], dtype=float)
        clusters = np.array([-1 if sig.get(p) is None or sig[p]["cluster"] is None else int(sig[p]["cluster"])
                             for p in pair_ids], dtype=int)
    return RoutingData(pair_ids, [texts[p]["prompt"] for p in pair_ids], [texts[p]["response_a"] for p in pair_ids],
                       [texts[p]["response_b"] for p in pair_ids], judges, choices, confidence, inconsistent,
                       margin, std, clusters)


def _margin_a(row: dict[str, Any] | None) -> float:
    if row is None or row["margin"] is None:
        return float("nan")
    return -float(row["margin"]) if row["label"] == "b" else float(row["margin"])


def human_majority(store: Store, pair_ids: Sequence[str]) -> dict[str, str]:
    """{pair_id: choice} for pairs whose current human labels have a strict majority."""
    table = store.latest_judgements(kind="human", pair_ids=list(pair_ids))
    votes: dict[str, list[str]] = {}
    for pid, choice in zip(table.column("pair_id").to_pylist(), table.column("choice").to_pylist(), strict=True):
        if choice is not None:
            votes.setdefault(pid, []).append(choice)
    out = {}
    for pid, vs in votes.items():
        top, count = Counter(vs).most_common(1)[0]
        if 2 * count > len(vs):
            out[pid] = top
    return out


def known_ai_errors(data: RoutingData, majority: dict[str, str]) -> dict[int, bool]:
    """{row: AI verdict differs from the human majority} for pairs that have a human majority."""
    primary = data.primary
    return {i: bool(primary[i] != _CODE[majority[p]]) for i, p in enumerate(data.pair_ids) if p in majority}


def plan_from_store(store: Store, *, budget: int | float, judge: str | None = None, dataset: str | None = None,
                    pair_ids: Sequence[str] | None = None, signal_run: str | None = None,
                    model: str = "logistic") -> RoutingPlan:
    """Plan the human/AI split of a dataset or selection; pairs with human labels teach the predictor."""
    if pair_ids is None:
        if not dataset:
            raise ValueError("Give `dataset` or `pair_ids` to route.")
        from curator.schema import PairFilter

        pair_ids = store.select_pair_ids(PairFilter(datasets=(dataset,)))
    pair_ids = list(pair_ids)
    if not pair_ids:
        raise ValueError("The selection is empty: nothing to route.")
    judges = ai_judges(store, pair_ids=pair_ids)
    if judge is None:
        if not judges:
            raise ValueError("No AI verdicts on the selection: run an AI judge first (e.g. the reward-ensemble vote).")
        judge = judges[0]
    data = load_routing_data(store, pair_ids, judge=judge, signal_run=signal_run)
    majority = human_majority(store, pair_ids)
    plan = plan_routing(data, budget=budget, known_errors=known_ai_errors(data, majority), model=model)
    return replace(plan, check=estimate_check(store, data, plan, majority))


def estimate_check(store: Store, data: RoutingData, plan: RoutingPlan, majority: dict[str, str]) -> EstimateCheck | None:
    """The plan's P(AI right) against labels its predictor did not learn from: the human majority when the
    estimate is label-free (the heuristic), else the dataset's own labels (a fitted predictor saw the humans')."""
    if plan.predictor.method == "heuristic":
        truth = np.array([_CODE.get(majority.get(p, ""), -1) for p in data.pair_ids])
        check = check_estimate(plan.p_error, data.primary, truth, against="human labels")
        if check is not None:
            return check
    labels = dict(zip(*(store.pair_texts(data.pair_ids).column(c).to_pylist() for c in ("pair_id", "label")),
                      strict=True))
    truth = np.array([_CODE.get(labels.get(p) or "", -1) for p in data.pair_ids])
    return check_estimate(plan.p_error, data.primary, truth, against="the dataset's labels")


def send_human_share(store: Store, plan: RoutingPlan, *, name: str, annotators_per_pair: int = 1,
                     created_by: str | None = None, only_unlabelled: bool = True) -> QueueInfo:
    """Queue the plan's human share, riskiest first (pairs that already have human labels left out)."""
    from curator.annotate.queue import create_queue

    order = np.argsort(-plan.p_error, kind="stable")
    labelled = set(human_majority(store, plan.pair_ids)) if only_unlabelled else set()
    ids = [plan.pair_ids[i] for i in order if plan.human[i] and plan.pair_ids[i] not in labelled]
    if not ids:
        raise ValueError("The human share has no unlabelled pairs to queue; raise the budget.")
    return create_queue(store, name=name, pair_ids=ids, annotators_per_pair=annotators_per_pair,
                        created_by=created_by, source="router")


__all__ = ["ai_judges", "human_majority", "known_ai_errors", "load_routing_data", "plan_from_store",
           "send_human_share"]
