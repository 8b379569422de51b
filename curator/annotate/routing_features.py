"""Per-pair features for routing, and the label-free estimate of how likely the AI verdict is wrong.

Inputs are plain arrays (a `RoutingData`): texts, the verdicts of one or more AI judges (the judge
whose verdicts would be used, "primary", first), optionally their confidences and order
inconsistency, the reward ensemble's margin of a over b and its spread, and embedding clusters.
Outputs are a feature matrix X (N, D) with named columns and `heuristic_error` (N,): the
probability that the primary AI verdict is wrong, higher = more worth a human label.

The heuristic needs no human labels: a Dawid-Skene model over the AI judges, the reward
ensemble's vote and a weak length judge (the longer response wins, a tie for near-identical
responses) estimates each judge's reliability from their agreement alone, and the posterior
probability that the primary verdict is not the true label is the error estimate. A missing or
unusable primary verdict is certainly wrong (1.0). A judge's own confidence, when given, is
blended in; an order-inconsistent verdict counts at least as a coin flip.

Pure numpy: no duckdb, no streamlit, no I/O.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

import numpy as np
from scipy.special import expit

from curator.annotate.consensus import compute_dawid_skene
from curator.schema import CHOICES

_CODE = {c: i for i, c in enumerate(CHOICES)}
TIE, BOTH_BAD = _CODE["tie"], _CODE["both-bad"]
NEAR_IDENTICAL = 0.9  # token Jaccard above which the length judge calls a tie
_TOKEN = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class RoutingData:
    """What the router may look at for N pairs (never human labels).

    Attributes:
        pair_ids: (N,) ids.
        prompts, responses_a, responses_b: (N,) texts.
        judges: the J AI judges; the first is the primary judge, whose verdict an AI-routed pair keeps.
        ai_choices: (N, J) codes into CHOICES, -1 where a judge gave no usable verdict.
        ai_confidence: (N, J) a judge's confidence in its verdict in [0, 1], nan where unknown.
        ai_inconsistent: (N, J) True where a judge contradicted itself when the order was swapped.
        reward_margin_a: (N,) reward-ensemble margin of a over b (log-odds), nan where unknown; or None.
        reward_std: (N,) spread of the ensemble members' margins; or None.
        clusters: (N,) embedding cluster ids (-1 unknown); or None.
    """

    pair_ids: list[str]
    prompts: list[str]
    responses_a: list[str]
    responses_b: list[str]
    judges: list[str]
    ai_choices: np.ndarray
    ai_confidence: np.ndarray
    ai_inconsistent: np.ndarray
    reward_margin_a: np.ndarray | None = None
    reward_std: np.ndarray | None = None
    clusters: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.pair_ids)
        for name in ("prompts", "responses_a", "responses_b"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"`{name}` has {len(getattr(self, name))} rows, `pair_ids` has {n}.")
        if not self.judges:
            raise ValueError("Routing needs at least one AI judge (`judges` is empty).")
        j = len(self.judges)
        for name in ("ai_choices", "ai_confidence", "ai_inconsistent"):
            if np.shape(getattr(self, name)) != (n, j):
                raise ValueError(f"`{name}` must have shape ({n}, {j}), got {np.shape(getattr(self, name))}.")
        for name in ("reward_margin_a", "reward_std", "clusters"):
            value = getattr(self, name)
            if value is not None and np.shape(value) != (n,):
                raise ValueError(f"`{name}` must have shape ({n},), got {np.shape(value)}.")

    @property
    def primary(self) -> np.ndarray:
        """(N,) the primary judge's verdict codes (-1 missing)."""
        return np.asarray(self.ai_choices)[:, 0]


def choice_codes(choices: list[str | None]) -> np.ndarray:
    """Choices to codes, -1 for None.

    >>> choice_codes(["a", None, "tie"]).tolist()
    [0, -1, 2]
    """
    return np.array([-1 if c is None else _CODE[c] for c in choices], dtype=int)


# -- text features ----------------------------------------------------------------------------


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def compute_text_features(prompts: list[str], responses_a: list[str], responses_b: list[str]) -> dict[str, np.ndarray]:
    """Length and overlap features of each pair (HyPER's lexical features, without models).

    Returns (N,) arrays: len_a, len_b (word tokens), len_diff (|log(1+len_a) - log(1+len_b)|),
    len_shorter, len_longer (log(1+tokens)), prompt_len (log(1+tokens)), jaccard (token sets of a
    and b), rouge1 (unigram F1 of a and b, ROUGE-1 without stemming).

    >>> f = compute_text_features(["q"], ["the cat sat"], ["the cat ran"])
    >>> round(float(f["jaccard"][0]), 3), round(float(f["rouge1"][0]), 3)
    (0.5, 0.667)
    """
    n = len(prompts)
    out = {k: np.zeros(n) for k in ("len_a", "len_b", "jaccard", "rouge1", "prompt_len")}
    for i in range(n):
        ta, tb = _tokens(responses_a[i]), _tokens(responses_b[i])
        out["len_a"][i], out["len_b"][i] = len(ta), len(tb)
        sa, sb = set(ta), set(tb)
        union = len(sa | sb)
        out["jaccard"][i] = len(sa & sb) / union if union else 1.0
        overlap = sum((Counter(ta) & Counter(tb)).values())
        out["rouge1"][i] = 2 * overlap / (len(ta) + len(tb)) if ta or tb else 1.0
        out["prompt_len"][i] = np.log1p(len(_tokens(prompts[i])))
    la, lb = np.log1p(out["len_a"]), np.log1p(out["len_b"])
    out["len_diff"] = np.abs(la - lb)
    out["len_shorter"] = np.minimum(la, lb)
    out["len_longer"] = np.maximum(la, lb)
    return out


def length_judge(text: dict[str, np.ndarray]) -> np.ndarray:
    """(N,) codes of a weak judge: the longer response wins; near-identical or equal length is a tie."""
    codes = np.where(text["len_a"] > text["len_b"], _CODE["a"], np.where(text["len_b"] > text["len_a"], _CODE["b"], TIE))
    return np.where(text["jaccard"] >= NEAR_IDENTICAL, TIE, codes)


def prompt_groups(prompts: list[str]) -> np.ndarray:
    """(N,) group ids: pairs with the same prompt text share one (the finest 'cluster')."""
    ids: dict[str, int] = {}
    return np.array([ids.setdefault(p.strip(), len(ids)) for p in prompts], dtype=int)


# -- heuristic error estimate -----------------------------------------------------------------


def _reward_vote(margin_a: np.ndarray) -> np.ndarray:
    return np.where(np.isnan(margin_a), -1, np.where(margin_a >= 0, _CODE["a"], _CODE["b"]))


def heuristic_error(data: RoutingData, text: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """(N,) label-free probability that the primary AI verdict is wrong (see the module docstring).

    >>> d = RoutingData(["p1", "p2"], ["q", "q"], ["a b c", "x"], ["a b d", "y"], ["j1", "j2"],
    ...                 np.array([[0, 0], [-1, 1]]), np.full((2, 2), np.nan), np.zeros((2, 2), bool))
    >>> p = heuristic_error(d)
    >>> bool(p[1] == 1.0), bool(0 <= p[0] < 1)
    (True, True)
    """
    text = text if text is not None else compute_text_features(data.prompts, data.responses_a, data.responses_b)
    votes = [np.asarray(data.ai_choices)[:, j] for j in range(len(data.judges))]
    if data.reward_margin_a is not None:
        votes.append(_reward_vote(np.asarray(data.reward_margin_a, dtype=float)))
    votes.append(length_judge(text))
    codes = np.column_stack(votes).astype(float)
    codes[codes < 0] = np.nan
    posteriors = compute_dawid_skene(codes).posteriors
    primary = data.primary
    p_right = posteriors[np.arange(len(primary)), np.clip(primary, 0, None)]
    p_wrong = np.where(primary >= 0, 1.0 - p_right, 1.0)
    conf = np.asarray(data.ai_confidence, dtype=float)[:, 0]
    known = ~np.isnan(conf) & (primary >= 0)
    if known.any():
        eps = 1e-4
        logit = 0.5 * _logit(np.clip(p_wrong[known], eps, 1 - eps)) + 0.5 * _logit(np.clip(1 - conf[known], eps, 1 - eps))
        p_wrong[known] = expit(logit)
    inconsistent = np.asarray(data.ai_inconsistent, dtype=bool)[:, 0] & (primary >= 0)
    p_wrong[inconsistent] = np.maximum(p_wrong[inconsistent], 0.5)
    return p_wrong


def _logit(p: np.ndarray) -> np.ndarray:
    return np.log(p) - np.log1p(-p)


# -- feature matrix ---------------------------------------------------------------------------


def routing_features_matrix(data: RoutingData, *, text: dict[str, np.ndarray] | None = None,
                     heuristic: np.ndarray | None = None) -> tuple[np.ndarray, list[str]]:
    """The feature matrix X (N, D) and its column names, for the learned error predictor.

    Columns: primary verdict missing / tie / says a; its confidence and order inconsistency; the
    share of the other judges that disagree with it or call a tie; whether it picked the longer
    response (+1), the shorter (-1) or neither (0); the reward ensemble's |margin|, spread and
    disagreement with it (when a signal run exists); the text features; the heuristic estimate
    (as a logit). Cluster and prompt-group effects are added by the predictor from labelled pairs.
    """
    text = text if text is not None else compute_text_features(data.prompts, data.responses_a, data.responses_b)
    heuristic = heuristic if heuristic is not None else heuristic_error(data, text)
    choices = np.asarray(data.ai_choices)
    primary = choices[:, 0]
    n = len(primary)
    cols: dict[str, np.ndarray] = {
        "ai_missing": (primary < 0).astype(float),
        "ai_tie": np.isin(primary, (TIE, BOTH_BAD)).astype(float),
        "ai_says_a": (primary == _CODE["a"]).astype(float),
    }
    conf = np.asarray(data.ai_confidence, dtype=float)[:, 0]
    if (~np.isnan(conf)).any():
        cols["ai_confidence"] = np.where(np.isnan(conf), np.nanmean(conf), conf)
    inconsistent = np.asarray(data.ai_inconsistent, dtype=bool)[:, 0]
    if inconsistent.any():
        cols["ai_inconsistent"] = inconsistent.astype(float)
    if choices.shape[1] > 1:
        others = choices[:, 1:]
        usable = others >= 0
        n_usable = np.maximum(usable.sum(axis=1), 1)
        cols["judges_disagree"] = ((others != primary[:, None]) & usable).sum(axis=1) / n_usable
        cols["judges_tie"] = (np.isin(others, (TIE, BOTH_BAD)) & usable).sum(axis=1) / n_usable
    longer = np.sign(text["len_a"] - text["len_b"])
    cols["ai_picks_longer"] = np.where(primary == _CODE["a"], longer, np.where(primary == _CODE["b"], -longer, 0.0))
    if data.reward_margin_a is not None:
        margin = np.asarray(data.reward_margin_a, dtype=float)
        known = ~np.isnan(margin)
        cols["reward_abs_margin"] = np.where(known, np.abs(margin), 0.0)
        vote = _reward_vote(margin)
        cols["reward_disagrees"] = (known & (primary >= 0) & (vote != primary)).astype(float)
        if data.reward_std is not None:
            std = np.asarray(data.reward_std, dtype=float)
            cols["reward_std"] = np.where(np.isnan(std), np.nanmean(std) if (~np.isnan(std)).any() else 0.0, std)
    for name in ("len_diff", "len_shorter", "len_longer", "prompt_len", "jaccard", "rouge1"):
        cols[name] = text[name]
    eps = 1e-4
    cols["heuristic_logit"] = _logit(np.clip(heuristic, eps, 1 - eps))
    names = list(cols)
    return np.column_stack([cols[k] for k in names]).reshape(n, len(names)), names
