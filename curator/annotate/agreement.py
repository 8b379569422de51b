"""Inter-annotator agreement and consensus labels for pairwise preferences.

Labels are nominal codes over ``CHOICES`` ("a", "b", "tie", "both-bad" -> 0..3) in a label matrix
``codes`` of shape (N pairs, M annotators), ``np.nan`` where an annotator did not label a pair.
The pure functions (`compute_*`) take that matrix; `agreement_report` reads the current human
labels from the store, builds it and runs everything.

- Krippendorff's alpha (nominal, library `krippendorff`): 1 is perfect agreement, 0 chance level.
- Pairwise Cohen's kappa (scikit-learn) on the pairs two annotators both labelled.
- Consensus: the majority label, and a model-weighted one (`curator.annotate.consensus`):
  CROWDLAB (cleanlab) with `pred_probs` from the reward ensemble when a signal run exists, else
  Dawid-Skene (EM over per-annotator confusion matrices, numpy).
- Each annotator's agreement with the consensus; the most disputed pairs.

Scores point one way: higher agreement, higher quality. This module imports no duckdb and no streamlit.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from curator.annotate.consensus import (  # noqa: F401 - re-exported: the agreement API in one place
    DawidSkeneResult,
    check_codes,
    compute_crowdlab,
    compute_dawid_skene,
    label_counts,
    majority_labels,
    pred_probs_from_margin,
)
from curator.schema import CHOICES

if TYPE_CHECKING:
    from curator.store import Store

logger = logging.getLogger(__name__)

CONSENSUS_METHODS: tuple[str, ...] = ("auto", "majority", "dawid-skene", "crowdlab")
_CODE = {c: i for i, c in enumerate(CHOICES)}


# -- building the matrix ----------------------------------------------------------------------


@dataclass(frozen=True)
class LabelMatrix:
    """Labels as codes: `codes[i, j]` is annotator j's label of pair i (index into CHOICES) or nan."""

    pair_ids: list[str]
    annotators: list[str]
    codes: np.ndarray


def build_label_matrix(pair_ids: Sequence[str], annotators: Sequence[str], choices: Sequence[str | None]
                       ) -> LabelMatrix:
    """Long rows (pair_id, annotator, choice) to a (N, M) code matrix; None choices are skipped.

    >>> m = build_label_matrix(["p1", "p1", "p2"], ["x", "y", "x"], ["a", "tie", "b"])
    >>> m.pair_ids, m.annotators, m.codes.tolist()
    (['p1', 'p2'], ['x', 'y'], [[0.0, 2.0], [1.0, nan]])
    """
    if not len(pair_ids) == len(annotators) == len(choices):
        raise ValueError(f"pair_ids, annotators and choices must have the same length, got "
                         f"{len(pair_ids)}, {len(annotators)} and {len(choices)}.")
    rows = [(p, a, c) for p, a, c in zip(pair_ids, annotators, choices, strict=True) if c is not None]
    bad = sorted({c for _, _, c in rows if c not in _CODE})
    if bad:
        raise ValueError(f"Unknown choices {bad}; valid: {CHOICES}.")
    pids = list(dict.fromkeys(p for p, _, _ in rows))
    anns = sorted({a for _, a, _ in rows})
    pi = {p: i for i, p in enumerate(pids)}
    ai = {a: j for j, a in enumerate(anns)}
    codes = np.full((len(pids), len(anns)), np.nan)
    for p, a, c in rows:
        codes[pi[p], ai[a]] = _CODE[c]
    return LabelMatrix(pids, anns, codes)


# -- agreement --------------------------------------------------------------------------------


def compute_alpha(codes: np.ndarray) -> float:
    """Krippendorff's alpha, nominal, over pairs with at least two labels; nan when undefined
    (fewer than two such pairs, or a single value in the whole matrix).

    >>> round(compute_alpha(np.array([[0, 0], [1, 1], [0, 1], [2, 2.]])), 4)
    0.6667
    """
    import krippendorff

    codes = check_codes(codes)
    multi = codes[(~np.isnan(codes)).sum(axis=1) >= 2]
    if multi.shape[0] < 2 or np.unique(multi[~np.isnan(multi)]).size < 2:
        return float("nan")
    return float(krippendorff.alpha(reliability_data=multi.T, level_of_measurement="nominal"))


def compute_pairwise_kappa(codes: np.ndarray, *, min_overlap: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Cohen's kappa for every two annotators on the pairs both labelled.

    Returns:
        kappa: (M, M) matrix, 1 on the diagonal, nan where fewer than `min_overlap` shared pairs or
            where kappa is undefined (both annotators used one and the same label throughout).
        overlap: (M, M) counts of shared pairs.

    >>> k, n = compute_pairwise_kappa(np.array([[0, 0], [1, 1], [0, 1], [1, 1.]]))
    >>> round(float(k[0, 1]), 4), int(n[0, 1])
    (0.5, 4)
    """
    from sklearn.metrics import cohen_kappa_score

    codes = check_codes(codes)
    m = codes.shape[1]
    kappa = np.full((m, m), np.nan)
    overlap = np.zeros((m, m), dtype=int)
    for i in range(m):
        kappa[i, i] = 1.0
        overlap[i, i] = int((~np.isnan(codes[:, i])).sum())
        for j in range(i + 1, m):
            both = ~np.isnan(codes[:, i]) & ~np.isnan(codes[:, j])
            overlap[i, j] = overlap[j, i] = int(both.sum())
            if both.sum() < min_overlap:
                continue
            x, y = codes[both, i].astype(int), codes[both, j].astype(int)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                value = cohen_kappa_score(x, y, labels=list(range(len(CHOICES))))
            if np.isnan(value) and np.array_equal(x, y):
                value = 1.0  # both used one and the same label throughout: perfect, if uninformative
            kappa[i, j] = kappa[j, i] = value
    return kappa, overlap


def compute_majority(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Majority label per pair and its share of the pair's labels.

    Returns:
        labels: (N,) codes, -1 where no label has a strict plurality (a draw) or there are no labels.
        share: (N,) fraction of the pair's labels that agree with the winner (nan without labels).

    >>> labels, share = compute_majority(np.array([[0, 0, 1], [0, 1, np.nan], [2, 2, 2.]]))
    >>> labels.tolist(), share.round(3).tolist()
    ([0, -1, 2], [0.667, 0.5, 1.0])
    """
    return majority_labels(check_codes(codes))


def compute_dispute(codes: np.ndarray) -> np.ndarray:
    """How disputed each pair is: 1 - the winning label's share, over pairs with >= 2 labels
    (nan otherwise). 0 is unanimous; higher is more disputed.

    >>> compute_dispute(np.array([[0, 0, 1], [0, np.nan, np.nan], [2, 2, 2.]])).round(3).tolist()
    [0.333, nan, 0.0]
    """
    codes = check_codes(codes)
    _, share = compute_majority(codes)
    n = (~np.isnan(codes)).sum(axis=1)
    return np.where(n >= 2, 1.0 - share, np.nan)


def compute_agreement_with_consensus(codes: np.ndarray, consensus: np.ndarray) -> np.ndarray:
    """(M,) share of each annotator's labels equal to the consensus (pairs without consensus skipped).

    >>> compute_agreement_with_consensus(np.array([[0, 1], [1, 1.]]), np.array([0, 1])).tolist()
    [1.0, 0.5]
    """
    codes = check_codes(codes)
    consensus = np.asarray(consensus)
    out = np.full(codes.shape[1], np.nan)
    for j in range(codes.shape[1]):
        ok = ~np.isnan(codes[:, j]) & (consensus >= 0)
        if ok.any():
            out[j] = float((codes[ok, j] == consensus[ok]).mean())
    return out


# -- report -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AgreementReport:
    """Agreement over one set of human labels.

    Attributes:
        method: how `consensus` was formed: "crowdlab", "dawid-skene" or "majority".
        alpha: Krippendorff's alpha (nominal); nan when undefined.
        annotators: the M annotators, in the order of `kappa`'s rows.
        kappa: (M, M) pairwise Cohen's kappa; `overlap` the shared pair counts.
        per_annotator: one row per annotator: labels, agreement_with_majority,
            agreement_with_consensus, quality (CROWDLAB annotator quality or Dawid-Skene accuracy).
        pairs: one row per pair: pair_id, n_labels, majority (choice or None), majority_share,
            consensus (choice or None), consensus_confidence, dispute.
    """

    method: str
    n_pairs: int
    n_labels: int
    alpha: float
    annotators: list[str]
    kappa: np.ndarray
    overlap: np.ndarray
    per_annotator: pd.DataFrame
    pairs: pd.DataFrame

    def disputed(self, top: int = 20) -> pd.DataFrame:
        """The most disputed pairs (>= 2 labels), most disputed first."""
        d = self.pairs[self.pairs["dispute"].notna() & (self.pairs["dispute"] > 0)]
        return d.sort_values(["dispute", "n_labels"], ascending=[False, False]).head(top).reset_index(drop=True)


def compute_agreement(matrix: LabelMatrix, *, margin_a: np.ndarray | None = None,
                      method: str = "auto") -> AgreementReport:
    """Everything on one label matrix. `margin_a` (N,) is the reward ensemble's margin of a over
    b per pair (nan where unknown); with it, "auto" uses CROWDLAB, without it Dawid-Skene."""
    if method not in CONSENSUS_METHODS:
        raise ValueError(f"Unknown consensus method {method!r}; valid: {CONSENSUS_METHODS}.")
    codes = check_codes(matrix.codes)
    if method == "auto":
        method = "crowdlab" if margin_a is not None else "dawid-skene"
    if method == "crowdlab" and margin_a is None:
        raise ValueError("method 'crowdlab' needs `margin_a` (a signal run's reward margins).")
    n, m = codes.shape
    majority, share = compute_majority(codes)
    quality = np.full(m, np.nan)
    if n == 0:
        consensus, confidence = majority, share
    elif method == "crowdlab":
        consensus, confidence, quality = compute_crowdlab(codes, pred_probs_from_margin(margin_a, codes))
    elif method == "dawid-skene":
        ds = compute_dawid_skene(codes)
        consensus = ds.posteriors.argmax(axis=1)
        confidence = ds.posteriors.max(axis=1)
        quality = np.array([float(np.sum(ds.priors * np.diag(c))) for c in ds.confusions])
        consensus = np.where((~np.isnan(codes)).any(axis=1), consensus, -1)
    else:
        consensus, confidence = majority, share
    if m < 2:
        quality = np.full(m, np.nan)  # one annotator: nothing to weigh them against
    kappa, overlap = compute_pairwise_kappa(codes)
    n_labels = (~np.isnan(codes)).sum(axis=0)
    per_annotator = pd.DataFrame({
        "annotator": matrix.annotators,
        "labels": n_labels.astype(int),
        "agreement_with_majority": compute_agreement_with_consensus(codes, majority),
        "agreement_with_consensus": compute_agreement_with_consensus(codes, consensus),
        "quality": quality,
    })

    def name(c: int) -> str | None:
        return CHOICES[c] if c >= 0 else None

    pairs = pd.DataFrame({
        "pair_id": matrix.pair_ids,
        "n_labels": (~np.isnan(codes)).sum(axis=1).astype(int),
        "majority": [name(int(c)) for c in majority],
        "majority_share": share,
        "consensus": [name(int(c)) for c in consensus],
        "consensus_confidence": confidence,
        "dispute": compute_dispute(codes),
    })
    return AgreementReport(method, n, int(n_labels.sum()), compute_alpha(codes), list(matrix.annotators),
                           kappa, overlap, per_annotator, pairs)


def agreement_report(store: Store, *, dataset: str | None = None, queue_id: str | None = None,
                     pair_ids: Sequence[str] | None = None, signal_run: str | None = None,
                     method: str = "auto") -> AgreementReport:
    """Agreement of the current human labels of a dataset, a queue or a selection.

    Each annotator's current label of a pair is their latest row; retracted labels (undo) are left
    out. With `signal_run`, the run's reward margins weight the consensus (CROWDLAB).
    """
    table = store.latest_judgements(kind="human", dataset=dataset, queue_id=queue_id, pair_ids=pair_ids)
    pids = table.column("pair_id").to_pylist()
    matrix = build_label_matrix(pids, table.column("annotator").to_pylist(), table.column("choice").to_pylist())
    margin_a = None
    if signal_run:
        margin_a = reward_margin_a(store, signal_run, matrix.pair_ids)
    return compute_agreement(matrix, margin_a=margin_a, method=method)


def reward_margin_a(store: Store, signal_run: str, pair_ids: Sequence[str]) -> np.ndarray:
    """(N,) the reward ensemble's margin of response a over response b for `pair_ids` (nan if absent).

    Signal margins are stored for the labelled chosen response (label "a", or no label, means a);
    a pair labelled "b" has its sign flipped.
    """
    table = store.signals(signal_run, ("margin",))
    by_id = {}
    for pid, label, margin in zip(table.column("pair_id").to_pylist(), table.column("label").to_pylist(),
                                  table.column("margin").to_pylist(), strict=True):
        if margin is not None:
            by_id[pid] = -margin if label == "b" else margin
    return np.array([by_id.get(p, np.nan) for p in pair_ids], dtype=float)
