"""Label-noise and data-hygiene signals: confident-learning issue scores, flags, duplicates, DPO difficulty.

Contract: arrays (and strings for the identical check) in, arrays out. Directions:

- ``issue_score`` in [0, 1]: **higher = more likely mislabelled**. It is ``1 - self_confidence``,
  where cleanlab's self-confidence is the out-of-sample probability of the given label
  (`cleanlab.rank.get_label_quality_scores`, method ``self_confidence``). Only meaningful when
  the probabilities never saw the pair's label (cross-fitted heads, or an external model).
- ``mislabel_probability``: P(the label was flipped by a content-independent mistake | the pair),
  by Bayes under symmetric flips at an assumed rate rho (``SignalConfig.flip_rate``): the
  calibrated P(given label) is ``p = rho + (1 - 2 rho) q`` with ``q`` the clean-label posterior.
  Disagreement that depends on the content (two fair annotators could differ) stays in ``q``; it
  is what "ambiguous" marks, not a mistake.
- ``flag_flipped`` ("likely flipped"): the largest set of pairs, taken by decreasing mislabel
  probability, whose mean mislabel probability (the flag's expected precision) is at least
  ``FLAG_PRECISION``; `flip_flag` returns that estimate with the flag.
- ``flag_ambiguous``: the ensemble cannot tell the two responses apart: ``|margin| < margin_std``
  or ``|p_correct - 0.5| < 0.05``.
- `length_controlled_flag`: the same flag on the reward's verdict with the length gap projected out,
  so it does not stand for "chosen is shorter"; shown beside the flag with both length mixes.
- `noise_rate`: confident learning's estimate of the share of wrong labels (cleanlab
  `estimate_joint`), with a bootstrap interval. With a weak reward it counts disagreement, so
  it is an upper bound there; it is reported beside the flag, not used for it.
- ``flag_identical``: the two responses are equal after whitespace normalisation.
- ``flag_near_duplicate``: another pair's (prompt, {a, b}) embedding has cosine >= threshold.
- ``dpo_difficulty``: ``c = log pi_ref(rejected) - log pi_ref(chosen)`` (Chen et al. 2024, Thm 4.1);
  ``c > 0`` means the reference model ranks the pair wrongly and DPO will struggle to flip it.

Imports cleanlab inside `noise_rate`; no duckdb, no streamlit, no I/O.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

import numpy as np

logger = logging.getLogger(__name__)

_WS = re.compile(r"\s+")
AMBIGUOUS_P = 0.05
FLAG_PRECISION = 0.5  # the "likely flipped" flag's expected precision, at least
PROJECTION_DIMS = 16  # near-duplicate candidates are found in this many principal directions


def mislabel_probability(p_correct: np.ndarray, flip_rate: float) -> np.ndarray:
    """P(a pair's label was flipped by mistake), under symmetric flips at rate `flip_rate`.

    Args:
        p_correct: (n,) calibrated, out-of-sample probability of the given label.
        flip_rate: assumed share rho of labels flipped independently of their content, in (0, 0.5).

    Returns:
        (n,) ``rho (1 - q) / (rho (1 - q) + (1 - rho) q)``, ``q = (p - rho) / (1 - 2 rho)`` clipped.

    >>> mislabel_probability(np.array([0.1, 0.5, 0.9]), 0.1).round(3).tolist()
    [1.0, 0.1, 0.0]
    """
    if not 0.0 < flip_rate < 0.5:
        raise ValueError(f"`flip_rate` must be in (0, 0.5), got {flip_rate}.")
    p = np.asarray(p_correct, dtype=np.float64)
    q = np.clip((p - flip_rate) / (1 - 2 * flip_rate), 0.0, 1.0)
    wrong = flip_rate * (1 - q)
    return wrong / np.maximum(wrong + (1 - flip_rate) * q, 1e-12)


def flip_flag(prob: np.ndarray, *, min_precision: float = FLAG_PRECISION) -> tuple[np.ndarray, float]:
    """The largest top set by `prob` whose mean `prob` is >= `min_precision`, and that mean.

    >>> flag, precision = flip_flag(np.array([0.9, 0.6, 0.2, 0.1]))
    >>> flag.tolist(), round(precision, 3)
    ([True, True, True, False], 0.567)
    """
    prob = np.asarray(prob, dtype=np.float64)
    order = np.argsort(-prob, kind="stable")
    mean = np.cumsum(prob[order]) / np.arange(1, len(prob) + 1)
    ok = np.flatnonzero(mean >= min_precision)
    flag = np.zeros(len(prob), dtype=bool)
    if not ok.size:
        return flag, float("nan")
    flag[order[:ok[-1] + 1]] = True
    return flag, float(mean[ok[-1]])


def length_controlled_flag(p_correct: np.ndarray, chosen_gap: np.ndarray, *, flip_rate: float, seed: int = 0,
                           n_folds: int = 5) -> tuple[np.ndarray, float]:
    """The "likely flipped" flag with the length gap taken out of the reward's verdict: (flag, stated precision).

    A reward that prefers longer answers doubts mostly the labels whose chosen response is the
    shorter one, so the plain flag partly says "chosen is shorter". Here the oriented margin
    ``m = logit(p_correct)`` loses its least-squares projection on the length gap
    ``g = tanh(gap / std)`` (label-free: orienting both by the label leaves the slope unchanged), the
    rest is recalibrated by a temperature fitted on the other folds, and `flip_flag` takes it from
    there. What is left flags what the reward says beyond length.

    Args:
        p_correct: (n,) calibrated, out-of-sample probability of the given label (labelled pairs only).
        chosen_gap: (n,) characters of the chosen response minus those of the rejected one.
        flip_rate: as `mislabel_probability`.
        seed: seed of the recalibration folds.
    """
    from curator.signals.bt import fit_temperature

    p = np.clip(np.asarray(p_correct, dtype=np.float64), 1e-6, 1 - 1e-6)
    gap = np.asarray(chosen_gap, dtype=np.float64)
    m = np.log(p / (1 - p))
    scale = gap.std()
    g = np.tanh(gap / scale) if scale > 0 else np.zeros_like(gap)
    rest = m - (g @ m / (g @ g) if g.any() else 0.0) * g
    fold = np.random.default_rng(seed).integers(0, n_folds, len(p))
    ones = np.ones(len(p))
    temps = np.ones(len(p))
    for k in range(n_folds):
        temps[fold == k] = fit_temperature(rest[fold != k], ones[fold != k])
    return flip_flag(mislabel_probability(1 / (1 + np.exp(-rest / temps)), flip_rate))


def noise_rate(p_correct: np.ndarray, *, seed: int = 0, n_boot: int = 50,
               max_rows: int = 50_000) -> tuple[float, float, float]:
    """Confident learning's share of wrong labels and a 90% bootstrap interval: (estimate, low, high).

    Above `max_rows` pairs a seeded sample of that many stands for the rest (the interval says how much
    that costs), so a page on a million pairs answers in about a second.

    >>> est, lo, hi = noise_rate(np.r_[np.full(80, 0.95), np.full(20, 0.05)])
    >>> round(est, 2), lo <= est <= hi
    (0.2, True)
    """
    from cleanlab.count import estimate_joint

    p = np.clip(np.asarray(p_correct, dtype=np.float64), 1e-6, 1 - 1e-6)
    if len(p) < 10:
        return float("nan"), float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    if len(p) > max_rows:
        p = rng.choice(p, max_rows, replace=False)
    order = rng.random(len(p)) < 0.5  # random a/b order so both classes appear (methods notes, section 8.1)
    labels = order.astype(np.int64)
    probs = np.stack([np.where(order, 1 - p, p), np.where(order, p, 1 - p)], axis=1)

    def rate(idx: np.ndarray) -> float:
        return float(1.0 - np.trace(estimate_joint(labels[idx], probs[idx])))

    boots = [rate(rng.integers(0, len(p), len(p))) for _ in range(n_boot)]
    return rate(np.arange(len(p))), float(np.percentile(boots, 5)), float(np.percentile(boots, 95))


def issue_scores(p_correct: np.ndarray) -> np.ndarray:
    """Confident-learning issue score of labelled pairs: ``1 - self-confidence``.

    cleanlab's self-confidence of a label is the out-of-sample probability of that label, so for a
    pair it is ``p_correct`` itself (whatever a/b order the pair is posed in); the "likely flipped"
    flag is `flip_flag`, not cleanlab's noise-rate pruning.

    Args:
        p_correct: (n,) out-of-sample probability that the given label is right.

    Returns:
        (n,) issue scores in [0, 1], higher = more likely mislabelled.

    >>> issue_scores(np.array([0.9, 0.1])).round(2).tolist()
    [0.1, 0.9]
    """
    return 1.0 - np.clip(np.asarray(p_correct, dtype=np.float64), 0.0, 1.0)


def is_identical(responses_a: Sequence[str], responses_b: Sequence[str]) -> np.ndarray:
    """True where the responses are equal after collapsing whitespace and stripping.

    >>> is_identical(["a  b\\n", "x"], ["a b", "y"]).tolist()
    [True, False]
    """
    return np.array([_WS.sub(" ", a or "").strip() == _WS.sub(" ", b or "").strip()
                     for a, b in zip(responses_a, responses_b, strict=True)], dtype=bool)


def pair_vectors(emb_prompt: np.ndarray, emb_a: np.ndarray, emb_b: np.ndarray) -> np.ndarray:
    """One unit vector per pair, the same for (a, b) and (b, a): ``[e_p, (e_a + e_b)/2]`` normalised.

    Each part is centred on its mean over the given rows first: mean-pooled (especially static)
    embeddings share a large common component, which put 2,988 of 3,000 demo pairs above cosine
    0.97 with the default embedder (35 of 600 after centring; MiniLM: 197 -> 183).
    """
    p = np.asarray(emb_prompt, np.float32)
    r = 0.5 * (np.asarray(emb_a, np.float32) + np.asarray(emb_b, np.float32))
    v = np.hstack([p - p.mean(0, keepdims=True), r - r.mean(0, keepdims=True)]) if len(p) > 1 else np.hstack([p, r])
    return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)


def near_duplicates(vectors: np.ndarray, *, threshold: float = 0.97, groups: np.ndarray | None = None,
                    block: int = 2048, dims: int = PROJECTION_DIMS, seed: int = 0) -> np.ndarray:
    """True for every row with another row at cosine >= threshold (exact, comparing 16 numbers per pair).

    For unit rows, cosine >= t means distance <= r = sqrt(2 - 2t). An orthonormal projection never
    lengthens a distance, so every such pair is also within r after projecting onto `dims` principal
    directions: blocked products of the projected rows find those candidates (few: r is small against
    the projected spread) and the full vectors decide. The result is the all-pairs answer at
    ``dims / D`` of its cost (`bench/bench_signals_scale.py` compares the two).

    Exact within each group (all rows form one group when `groups` is None). Pass k-means cluster ids
    as `groups` for ~1M rows (near-identical rows share a cluster except at a boundary).

    Args:
        vectors: (N, D) unit vectors.
        threshold: cosine at or above which two rows are near-duplicates.
        groups: (N,) optional block ids; only rows in the same group are compared.
        block: query rows per matrix product (memory is O(block x group size)).
        dims: principal directions of the projection (at most D).
        seed: sample of the rows the directions are fitted on.

    Returns:
        (N,) bool.

    >>> v = np.array([[1, 0], [0.999, 0.0447], [0, 1]], dtype=np.float32)
    >>> near_duplicates(v / np.linalg.norm(v, axis=1, keepdims=True)).tolist()
    [True, True, False]
    """
    V = np.ascontiguousarray(vectors, dtype=np.float32)
    n = len(V)
    out = np.zeros(n, dtype=bool)
    if n < 2:
        return out
    r2 = max(2.0 - 2.0 * threshold, 0.0) + 1e-4  # slack for float32 rounding
    P = _principal_projection(V, dims, seed)
    half_sq = 0.5 * (P * P).sum(1)
    for idx in [np.arange(n)] if groups is None else [np.flatnonzero(groups == g) for g in np.unique(groups)]:
        if len(idx) < 2:
            continue
        Pg, hg = P[idx], half_sq[idx]
        for s in range(0, len(idx), block):
            # |p_i - p_j|^2 <= r2  <=>  p_i . p_j - h_j >= h_i - r2 / 2
            g = Pg[s:s + block] @ Pg.T
            g -= hg[None, :]
            rows, cols = np.nonzero(g >= (hg[s:s + block] - 0.5 * r2)[:, None])
            rows += s
            keep = rows != cols  # a row is not its own duplicate
            i, j = idx[rows[keep]], idx[cols[keep]]
            hit = np.einsum("ij,ij->i", V[i], V[j]) >= threshold
            out[i[hit]] = True
    return out


def _principal_projection(V: np.ndarray, dims: int, seed: int, sample: int = 20_000) -> np.ndarray:
    """(N, dims) coordinates of the rows on the top principal directions of a seeded sample (orthonormal)."""
    if V.shape[1] <= dims:
        return V
    from sklearn.utils.extmath import randomized_svd

    rng = np.random.default_rng(seed)
    fit = V if len(V) <= sample else V[np.sort(rng.choice(len(V), sample, replace=False))]
    _, _, vt = randomized_svd(fit - fit.mean(0), dims, random_state=seed)
    return V @ np.ascontiguousarray(vt.T, dtype=np.float32)


def dpo_difficulty(logp_ref_a: np.ndarray, logp_ref_b: np.ndarray, sign: np.ndarray) -> np.ndarray:
    """``c = log pi_ref(rejected) - log pi_ref(chosen)`` per pair (NaN for unlabelled pairs).

    Args:
        logp_ref_a, logp_ref_b: (N,) summed reference-model log-probs of each response.
        sign: (N,) +1 where ``a`` is chosen, -1 where ``b`` is, 0 unlabelled.

    >>> dpo_difficulty(np.array([-5.0, -5.0]), np.array([-3.0, -3.0]), np.array([1, -1])).tolist()
    [2.0, -2.0]
    """
    c = (np.asarray(logp_ref_b, np.float64) - np.asarray(logp_ref_a, np.float64)) * sign
    return np.where(sign != 0, c, np.nan)


def flag_report(labels: Sequence[str], p_correct: np.ndarray, flag: np.ndarray, len_a: np.ndarray,
                len_b: np.ndarray, *, flip_rate: float, seed: int = 0) -> dict[str, float]:
    """What the "likely flipped" flag of a run holds, over its labelled pairs.

    Returns:
        ``n``, ``flagged``, ``stated_precision`` (mean mislabel probability of the flagged pairs),
        ``noise_rate``, ``noise_low``, ``noise_high`` (`noise_rate`), ``chosen_shorter`` and
        ``flagged_chosen_shorter`` (share whose labelled chosen response is the shorter one); the same for
        `length_controlled_flag` as ``lc_flagged``, ``lc_stated_precision``, ``lc_flagged_chosen_shorter``,
        and its mask as ``lc_flag`` (the one array in the dict).
    """
    p = np.asarray(p_correct, dtype=np.float64)
    flag = np.asarray(flag, dtype=bool)
    lab = np.asarray(labels, dtype=object)
    la, lb = np.asarray(len_a), np.asarray(len_b)
    shorter = np.where(lab == "a", la < lb, lb < la)
    prob = mislabel_probability(p, flip_rate)
    rate, low, high = noise_rate(p, seed=seed)
    lc_flag, lc_precision = length_controlled_flag(p, np.where(lab == "a", la - lb, lb - la), flip_rate=flip_rate,
                                                   seed=seed)
    return {"n": len(p), "flagged": int(flag.sum()),
            "stated_precision": float(prob[flag].mean()) if flag.any() else float("nan"),
            "noise_rate": rate, "noise_low": low, "noise_high": high,
            "chosen_shorter": float(shorter.mean()) if len(p) else float("nan"),
            "flagged_chosen_shorter": float(shorter[flag].mean()) if flag.any() else float("nan"),
            "lc_flag": lc_flag, "lc_flagged": int(lc_flag.sum()), "lc_stated_precision": lc_precision,
            "lc_flagged_chosen_shorter": float(shorter[lc_flag].mean()) if lc_flag.any() else float("nan")}
