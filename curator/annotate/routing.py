"""Route pairs to human or AI annotation under a budget.

Every pair gets `p_error`, the probability that its AI verdict is wrong (higher = a human label
helps more). Without human labels that is the label-free `heuristic_error`; once some pairs have
both a human and an AI label, a predictor of AI error is fitted on them (HyPER-style: logistic
regression over per-pair features, its strength chosen by cross-validation, plus the AI's error
rate in the pair's prompt group and embedding cluster estimated from the labelled pairs). The
`budget` pairs with the highest `p_error` go to humans, the rest keep the AI verdict.

`route_adaptive` spends a budget in rounds: route a batch, learn the human labels of it, refit,
route the next batch. Every label the router learns from is a pair it sent to humans, so the seed
counts against the budget. `expected_accuracy_curve` turns `p_error` into the label accuracy to
expect at each budget (human labels taken as right).

Pure numpy/scikit-learn: no duckdb, no streamlit. `curator.annotate.routing_service` reads from the store.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from curator.annotate.routing_features import (
    RoutingData,
    compute_text_features,
    heuristic_error,
    prompt_groups,
    routing_features_matrix,
)
from curator.annotate.routing_model import PREDICTORS, ErrorPredictor, fit_error_predictor  # noqa: F401

logger = logging.getLogger(__name__)


def resolve_budget(budget: int | float, n: int) -> int:
    """A budget as a pair count: an int is a count, a float in (0, 1] a share of `n`.

    >>> resolve_budget(0.25, 999), resolve_budget(10, 999), resolve_budget(1.0, 8)
    (250, 10, 8)
    """
    if isinstance(budget, bool) or not isinstance(budget, int | float):
        raise TypeError(f"`budget` must be a pair count (int) or a share (float), got {type(budget).__name__}.")
    if isinstance(budget, float):
        if not 0.0 <= budget <= 1.0:
            raise ValueError(f"`budget` as a share must be between 0 and 1, got {budget}. Pass an int for a count.")
        return int(round(budget * n))
    if not 0 <= budget <= n:
        raise ValueError(f"`budget` must be between 0 and {n} pairs, got {budget}. Lower `budget` or select more pairs.")
    return budget


# -- routing ----------------------------------------------------------------------------------


def top_k(p_error: np.ndarray, k: int, *, exclude: np.ndarray | None = None) -> np.ndarray:
    """(N,) mask of the `k` highest scores (ties broken by position), never picking `exclude`d rows."""
    score = np.asarray(p_error, dtype=float).copy()
    if exclude is not None:
        score[np.asarray(exclude, dtype=bool)] = -np.inf
    order = np.argsort(-score, kind="stable")
    available = int(np.isfinite(score).sum())
    mask = np.zeros(len(score), dtype=bool)
    mask[order[: max(0, min(k, available))]] = True
    return mask


def expected_accuracy_curve(p_error: np.ndarray, *, shares: np.ndarray | None = None,
                            human: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Expected label accuracy when the top `share` of pairs by `p_error` go to humans.

    Human labels are taken as right; AI labels are right with probability 1 - p_error. Pairs in
    `human` (already human-labelled) count as right and as spent budget.

    Returns:
        shares (S,) and expected accuracy (S,).

    >>> s, acc = expected_accuracy_curve(np.array([0.9, 0.1, 0.5, 0.0]), shares=np.array([0, 0.25, 0.5, 1.0]))
    >>> acc.round(3).tolist()
    [0.625, 0.85, 0.975, 1.0]
    """
    p = np.asarray(p_error, dtype=float)
    n = len(p)
    shares = np.linspace(0.0, 1.0, 21) if shares is None else np.asarray(shares, dtype=float)
    done = np.zeros(n, dtype=bool) if human is None else np.asarray(human, dtype=bool)
    rest = np.sort(p[~done])[::-1]
    tail = np.concatenate([np.cumsum(rest[::-1])[::-1], [0.0]])  # tail[k] = sum of p outside the top k
    acc = []
    for share in shares:
        k = max(0, int(round(share * n)) - int(done.sum()))
        k = min(k, len(rest))
        acc.append(1.0 - tail[k] / n if n else 1.0)
    return shares, np.array(acc)


def random_accuracy_curve(p_error: np.ndarray, *, shares: np.ndarray, human: np.ndarray | None = None) -> np.ndarray:
    """Expected label accuracy when a uniformly random `share` of pairs goes to humans (the baseline
    beside `expected_accuracy_curve`; pairs in `human` are always in the human share).

    >>> random_accuracy_curve(np.array([0.9, 0.1, 0.5, 0.0]), shares=np.array([0, 0.5, 1.0])).round(3).tolist()
    [0.625, 0.812, 1.0]
    """
    p = np.asarray(p_error, dtype=float)
    n = len(p)
    done = np.zeros(n, dtype=bool) if human is None else np.asarray(human, dtype=bool)
    rest, errors = int((~done).sum()), float(p[~done].sum())
    out = []
    for share in np.asarray(shares, dtype=float):
        extra = min(max(0, int(round(share * n)) - int(done.sum())), rest)
        out.append(1.0 - errors * (1 - extra / rest) / n if n and rest else 1.0)
    return np.array(out)


@dataclass(frozen=True)
class EstimateCheck:
    """The router's estimate against labels it did not see: on `n` pairs with a known label, the AI
    verdict was expected to be right `expected` of the time (mean 1 - p_error) and was right `observed`.

    `against` names the labels: "human labels" (a strict majority of people) or "the dataset's labels".
    """

    against: str
    n: int
    expected: float
    observed: float

    @property
    def margin(self) -> float:
        """How far the estimate may be from the observed share by chance: two standard errors, at least 2 points."""
        return max(2 * math.sqrt(max(self.observed * (1 - self.observed), 1e-9) / max(self.n, 1)), 0.02)

    @property
    def overclaims(self) -> bool:
        return self.expected - self.observed > self.margin

    @property
    def underclaims(self) -> bool:
        return self.observed - self.expected > self.margin


MIN_CHECK_PAIRS = 30


def check_estimate(p_error: np.ndarray, ai_codes: np.ndarray, truth_codes: np.ndarray, *,
                   against: str) -> EstimateCheck | None:
    """Compare P(AI right) with the truth where both an AI verdict and a known label (a or b) exist.

    >>> check_estimate(np.full(40, 0.1), np.zeros(40, int), np.r_[np.zeros(20, int), np.ones(20, int)],
    ...                against="the dataset's labels")
    EstimateCheck(against="the dataset's labels", n=40, expected=0.9, observed=0.5)
    """
    known = (truth_codes >= 0) & (truth_codes <= 1) & (ai_codes >= 0)
    if known.sum() < MIN_CHECK_PAIRS:
        return None
    return EstimateCheck(against, int(known.sum()), round(float(1 - p_error[known].mean()), 4),
                         round(float((ai_codes[known] == truth_codes[known]).mean()), 4))


@dataclass(frozen=True)
class RoutingPlan:
    """Which pairs go to humans.

    Attributes:
        pair_ids: (N,) ids; `human` (N,) True for the human share (including pairs already labelled).
        p_error: (N,) P(AI verdict wrong); `predictor` how it was obtained.
        budget: pairs in the human share; `expected_accuracy` at that budget.
        shares, expected: the expected accuracy vs budget curve.
        labelled: (N,) pairs that already had human labels (always in the human share).
        check: the estimate against known labels it was not fitted on (`EstimateCheck`), or None.
    """

    pair_ids: list[str]
    human: np.ndarray
    p_error: np.ndarray
    predictor: ErrorPredictor
    budget: int
    expected_accuracy: float
    shares: np.ndarray
    expected: np.ndarray
    labelled: np.ndarray
    check: EstimateCheck | None = None

    def with_budget(self, budget: int | float) -> RoutingPlan:
        """The same predictions split at another budget (no refit)."""
        n = len(self.pair_ids)
        k = resolve_budget(budget, n)
        human = self.labelled | top_k(self.p_error, max(0, k - int(self.labelled.sum())), exclude=self.labelled)
        _, at = expected_accuracy_curve(self.p_error, shares=np.array([k / n if n else 0.0]), human=self.labelled)
        return RoutingPlan(self.pair_ids, human, self.p_error, self.predictor, int(human.sum()), float(at[0]),
                           self.shares, self.expected, self.labelled, self.check)

    @property
    def human_ids(self) -> list[str]:
        return [p for p, h in zip(self.pair_ids, self.human, strict=True) if h]

    @property
    def ai_ids(self) -> list[str]:
        return [p for p, h in zip(self.pair_ids, self.human, strict=True) if not h]


def plan_routing(data: RoutingData, *, budget: int | float, known_errors: dict[int, bool] | None = None,
                 model: str = "logistic") -> RoutingPlan:
    """Split pairs into a human share of `budget` pairs and an AI share.

    Args:
        data: the pairs and their AI verdicts.
        budget: pairs for humans (int) or a share (float). Pairs in `known_errors` are already
            human-labelled: they count against it and stay in the human share.
        known_errors: {row: AI verdict was wrong} for pairs that have both a human and an AI label;
            with enough of them the predictor is fitted, else the heuristic is used.
    """
    n = len(data.pair_ids)
    k = resolve_budget(budget, n)
    known_errors = known_errors or {}
    text = compute_text_features(data.prompts, data.responses_a, data.responses_b)
    heuristic = heuristic_error(data, text)
    X, _ = routing_features_matrix(data, text=text, heuristic=heuristic)
    labelled = np.array(sorted(known_errors), dtype=int)
    errors = np.array([known_errors[i] for i in labelled], dtype=bool)
    predictor = fit_error_predictor(X, heuristic, labelled, errors, groups=prompt_groups(data.prompts),
                                    clusters=data.clusters, model=model, ai_missing=data.primary < 0)
    done = np.zeros(n, dtype=bool)
    done[labelled] = True
    shares, expected = expected_accuracy_curve(predictor.p_error, human=done)
    empty = RoutingPlan(list(data.pair_ids), done, predictor.p_error, predictor, int(done.sum()), float("nan"),
                        shares, expected, done)
    return empty.with_budget(k)


def default_batch_size(n: int) -> int:
    """Pairs per routing round: 1% of the pairs, at least 10.

    >>> default_batch_size(999), default_batch_size(5000)
    (10, 50)
    """
    return max(10, math.ceil(n / 100))


@dataclass(frozen=True)
class AdaptiveRouting:
    """The result of spending a budget in rounds.

    Attributes:
        order: (K,) row indices in the order they were sent to humans.
        known_before: (K,) how many human labels the router knew when it chose each of them.
        rounds: routing rounds; `predictor` the last round's predictor.
    """

    order: np.ndarray
    known_before: np.ndarray
    rounds: int
    predictor: ErrorPredictor
    n: int

    @property
    def human(self) -> np.ndarray:
        return self.human_at(len(self.order))

    def human_at(self, k: int) -> np.ndarray:
        """(N,) mask of the first `k` pairs sent to humans."""
        mask = np.zeros(self.n, dtype=bool)
        mask[self.order[:k]] = True
        return mask

    def seed_at(self, k: int) -> int:
        """Human labels the router had learnt from when it made its last choice within the first `k`."""
        return int(self.known_before[k - 1]) if k > 0 else 0

    @property
    def seed_size(self) -> int:
        return self.seed_at(len(self.order))


def route_adaptive(data: RoutingData, *, budget: int | float, reveal: Callable[[np.ndarray], np.ndarray],
                   batch_size: int | None = None, model: str = "logistic",
                   checkpoints: Sequence[int] = ()) -> AdaptiveRouting:
    """Spend `budget` in batches: route the top batch, `reveal` its AI errors, refit, repeat.

    Args:
        data: the pairs.
        budget: pairs (int) or share (float) for humans.
        reveal: called with row indices sent to humans; returns (len,) bool, True where the AI
            verdict was wrong (in an app: the human labels of that batch came back).
        batch_size: pairs per round; default max(10, N / 100).
        checkpoints: smaller budgets (pair counts) at which a batch ends, so that
            `human_at(k)` for each is exactly the routing a run with budget k would make.
    """
    n = len(data.pair_ids)
    k = resolve_budget(budget, n)
    batch = batch_size or default_batch_size(n)
    if batch < 1:
        raise ValueError(f"`batch_size` must be >= 1, got {batch}.")
    stops = sorted({int(c) for c in checkpoints if 0 < int(c) < k} | {k})
    text = compute_text_features(data.prompts, data.responses_a, data.responses_b)
    heuristic = heuristic_error(data, text)
    X, _ = routing_features_matrix(data, text=text, heuristic=heuristic)
    groups = prompt_groups(data.prompts)
    missing = data.primary < 0
    human = np.zeros(n, dtype=bool)
    errors = np.zeros(n, dtype=bool)
    predictor = ErrorPredictor("heuristic", heuristic, 0, float("nan"), float("nan"))
    order: list[int] = []
    known_before: list[int] = []
    rounds = 0
    while len(order) < k:
        labelled = np.array(order, dtype=int)
        if labelled.size:
            predictor = fit_error_predictor(X, heuristic, labelled, errors[labelled], groups=groups,
                                            clusters=data.clusters, model=model, ai_missing=missing)
        next_stop = next(s for s in stops if s > len(order))
        take = np.flatnonzero(top_k(predictor.p_error, min(batch, next_stop - len(order)), exclude=human))
        if take.size == 0:
            break
        take = take[np.argsort(-predictor.p_error[take], kind="stable")]
        errors[take] = np.asarray(reveal(take), dtype=bool)
        human[take] = True
        known_before += [len(order)] * len(take)
        order += take.tolist()
        rounds += 1
    return AdaptiveRouting(np.array(order, dtype=int), np.array(known_before, dtype=int), rounds, predictor, n)
