"""Bradley-Terry heads on frozen embeddings: pair features, batched fitting, cross-fitted margins.

Contract: arrays in, arrays out. A pair (x, y_a, y_b) becomes one antisymmetric feature row
``X = phi(x, y_a) - phi(x, y_b)`` (swapping a and b negates it), and a head is a linear reward
``r(x, y) = w . phi(x, y)`` with no intercept, so its margin ``X . w`` is the log-odds that ``a``
is preferred. ``phi`` concatenates three blocks, each with its own L2 penalty:

- ``emb``: the response embedding (D dims);
- ``rel``: cosine of the response to the prompt embedding (relevance, 1 dim);
- ``style``: cheap text statistics of the response (`STYLE_FEATURES`, standardised), because
  mean-pooled, normalised embeddings carry almost no length or formatting information, and on
  HH-RLHF helpful-base length alone predicts the label 59.6% of the time.

`cross_fit` trains K folds x H bootstrap heads on labelled pairs; a labelled pair's margins come
only from the H heads of the fold that held it out, an unlabelled pair's from all K x H heads.
Penalties are chosen by an inner cross-validation inside each outer fold's training pairs, so no
margin has seen its own label. Margins here point toward ``a``; `curator.signals.pipeline`
orients them to the label. Higher margin = ``a`` more clearly preferred.

Imports torch lazily (inside the fitting functions); no duckdb, no streamlit, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

STYLE_FEATURES: tuple[str, ...] = (
    "log_chars", "log_words", "question_marks", "newlines", "list_items", "apologies", "ends_with_question",
    "sentences", "log_unique_words", "is_empty", "unsure", "refusals", "clarifying_questions",
    "ends_with_punctuation", "log_digits", "second_person", "first_person", "exclamations", "type_token_ratio",
    "mean_word_length",
)

_APOLOGY = re.compile(r"\b(sorry|apologi[sz]e|unfortunately)\b", re.I)
_UNSURE = re.compile(r"\b(i don['’]?t know|i['’]?m not sure|i do not know|not sure)\b", re.I)
_REFUSAL = re.compile(r"\b(i can['’]?t|i cannot|i won['’]?t|i['’]?m not able)\b", re.I)
_CLARIFY = re.compile(r"\b(do you mean|what do you mean|can you (tell|explain|clarify)|could you (tell|explain|clarify)"
                      r"|are you asking)\b", re.I)
_LIST_ITEM = re.compile(r"^\s*(\d+\.|[-*•])", re.M)
_SENTENCE_END = re.compile(r"[.!?](\s|$)")
_FINAL_PUNCT = re.compile(r"[.!?)\"”]$")

# Inner-CV grid of (embedding penalty, style penalty); relevance shares the style penalty.
PENALTY_GRID: tuple[tuple[float, float], ...] = tuple(
    (e, s) for e in (0.0003, 0.001, 0.003, 0.01, 0.03) for s in (0.1, 0.3, 1.0, 3.0))


def _style(text: str) -> list[float]:
    r = text.strip()
    words = r.split()
    lower = r.lower().split()
    n_words = len(words)
    unique = len(set(lower))
    return [
        np.log1p(len(r)), np.log1p(n_words), r.count("?"), r.count("\n"), len(_LIST_ITEM.findall(r)),
        len(_APOLOGY.findall(r)), float(r.endswith("?")), len(_SENTENCE_END.findall(r)), np.log1p(unique),
        float(not r), len(_UNSURE.findall(r)), len(_REFUSAL.findall(r)), len(_CLARIFY.findall(r)),
        float(bool(_FINAL_PUNCT.search(r))), np.log1p(sum(c.isdigit() for c in r)),
        lower.count("you") + lower.count("your"),
        sum(t == "i" or t.startswith(("i'", "i’")) for t in lower), r.count("!"), unique / max(n_words, 1),
        float(np.mean([len(t) for t in words])) if words else 0.0,
    ]


def compute_style_features(responses: Sequence[str]) -> np.ndarray:
    """Text statistics of each response, one column per name in `STYLE_FEATURES`.

    Args:
        responses: N response texts.

    Returns:
        (N, len(STYLE_FEATURES)) float32 array.

    >>> f = compute_style_features(["Sure! 1. Preheat the oven.", "I'm not sure, sorry?"])
    >>> f.shape, bool(f[1, STYLE_FEATURES.index("apologies")] == 1)
    ((2, 20), True)
    """
    return np.asarray([_style(r or "") for r in responses], dtype=np.float32).reshape(len(responses),
                                                                                      len(STYLE_FEATURES))


@dataclass(frozen=True)
class PairFeatures:
    """Per-response features of both sides of every pair.

    Attributes:
        phi_a, phi_b: (N, F) features of response a and b; a pair's BT row is ``X = phi_a - phi_b``.
        blocks: (F,) penalty block of each column (0 = embedding, 1 = relevance and style).
    """

    phi_a: np.ndarray
    phi_b: np.ndarray
    blocks: np.ndarray

    @property
    def X(self) -> np.ndarray:
        """(N, F) antisymmetric pair rows ``phi_a - phi_b``."""
        return self.phi_a - self.phi_b


def compute_pair_features(emb_query: np.ndarray, emb_a: np.ndarray, emb_b: np.ndarray,
                          style_a: np.ndarray, style_b: np.ndarray,
                          relevance: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]] = ()) -> PairFeatures:
    """``phi(y) = [embedding, relevance, style]`` for both responses; hand-made columns at unit RMS.

    Args:
        emb_query: (N, D) embedding of what the user asked (last user turn, or the prompt).
        emb_a, emb_b: (N, D) response embeddings (L2-normalised).
        style_a, style_b: (N, S) `compute_style_features` of the responses.
        relevance: extra (query (N, D'), response a (N, D'), response b (N, D')) embeddings whose
            cosine becomes one more relevance column each (for example prompt-tail vs. response+prompt).

    Returns:
        `PairFeatures` with F = D + 1 + len(relevance) + S columns; ``X(b, a) == -X(a, b)``.

    >>> rng = np.random.default_rng(0)
    >>> p, a, b = (rng.normal(size=(3, 4)) for _ in range(3))
    >>> sa, sb = rng.normal(size=(3, 2)), rng.normal(size=(3, 2))
    >>> bool(np.allclose(compute_pair_features(p, a, b, sa, sb).X, -compute_pair_features(p, b, a, sb, sa).X))
    True
    """
    rel_a = [(emb_a * emb_query).sum(1)] + [(ra * q).sum(1) for q, ra, _ in relevance]
    rel_b = [(emb_b * emb_query).sum(1)] + [(rb * q).sum(1) for q, _, rb in relevance]
    hand_a = np.hstack([np.stack(rel_a, 1), style_a]).astype(np.float32)
    hand_b = np.hstack([np.stack(rel_b, 1), style_b]).astype(np.float32)
    # Scale each column so that its difference has unit RMS (the scale the pair rows see).
    rms = np.sqrt(((hand_a.astype(np.float64) - hand_b) ** 2).mean(0))
    scale = (1.0 / np.where(rms > 0, rms, 1.0)).astype(np.float32)
    phi_a = np.hstack([np.asarray(emb_a, np.float32), hand_a * scale])
    phi_b = np.hstack([np.asarray(emb_b, np.float32), hand_b * scale])
    blocks = np.r_[np.zeros(emb_a.shape[1], np.int64), np.ones(hand_a.shape[1], np.int64)]
    return PairFeatures(phi_a=phi_a, phi_b=phi_b, blocks=blocks)


def fit_heads(Z: np.ndarray, weights: np.ndarray, penalties: np.ndarray, blocks: np.ndarray, *,
              max_iter: int = 100) -> np.ndarray:
    """Fit H logistic Bradley-Terry heads at once (L-BFGS on the sum of their separable losses).

    Head h minimises ``sum_i c_hi softplus(-Z_i . w_h) / sum_i c_hi + 0.5 sum_b lambda_hb ||w_hb||^2``.

    Args:
        Z: (n, F) label-signed features (``s_i X_i`` with s = +1 when ``a`` is the labelled winner).
        weights: (H, n) non-negative example weights (bootstrap counts; 0 leaves a pair out).
        penalties: (H, n_blocks) L2 penalty of each block for each head.
        blocks: (F,) block index of each feature column.

    Returns:
        (H, F) float32 weights.
    """
    import torch

    z = torch.from_numpy(np.ascontiguousarray(Z, dtype=np.float32))
    c = torch.from_numpy(np.ascontiguousarray(weights, dtype=np.float32))
    c = c / c.sum(1, keepdim=True).clamp_min(1e-12)
    lam = torch.from_numpy(np.ascontiguousarray(penalties, dtype=np.float32))[:, torch.from_numpy(blocks)]
    W = torch.zeros((c.shape[0], z.shape[1]), dtype=torch.float32, requires_grad=True)
    opt = torch.optim.LBFGS([W], lr=1.0, max_iter=max_iter, tolerance_grad=1e-6, tolerance_change=1e-9,
                            history_size=20, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = (c * torch.nn.functional.softplus(-(z @ W.T)).T).sum() + 0.5 * (lam * W * W).sum()
        loss.backward()
        return loss

    with torch_threads(threads_for(Z.size)):
        opt.step(closure)
    return W.detach().numpy()


# L-BFGS on these sizes is many small products: a second thread costs more in synchronisation than it
# saves (cross_fit of 20k x 800: 15 s on one thread vs 19 s on two; under load 25x worse on two).
ONE_THREAD_MAX_CELLS = 64_000_000


def threads_for(cells: int) -> int | None:
    """1 for a problem of at most `ONE_THREAD_MAX_CELLS` feature cells, else None (torch's default)."""
    return 1 if cells <= ONE_THREAD_MAX_CELLS else None


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with `n` torch intra-op threads (None: leave the setting alone)."""
    import torch

    before = torch.get_num_threads()
    if n is not None and n != before:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if n is not None and n != before:
            torch.set_num_threads(before)


def _select_penalty(Z: np.ndarray, blocks: np.ndarray, rng: np.random.Generator, *, inner_folds: int = 3,
                    grid: Sequence[tuple[float, float]] = PENALTY_GRID, max_rows: int = 20_000) -> tuple[float, float]:
    """The grid point with the lowest inner-CV log-loss on these (training) pairs."""
    if len(Z) > max_rows:
        Z = Z[rng.choice(len(Z), max_rows, replace=False)]
    fold = rng.permutation(len(Z)) % inner_folds
    weights = np.stack([(fold != f).astype(np.float32) for f in range(inner_folds) for _ in grid])
    penalties = np.asarray([g for _ in range(inner_folds) for g in grid], dtype=np.float32)
    W = fit_heads(Z, weights, penalties, blocks)
    scores = (Z @ W.T).T  # (H, n)
    loss = np.logaddexp(0.0, -scores)
    held = 1.0 - weights
    per = (loss * held).sum(1).reshape(inner_folds, len(grid)).sum(0)
    return tuple(map(float, grid[int(np.argmin(per))]))  # type: ignore[return-value]


@dataclass(frozen=True)
class CrossFit:
    """Out-of-fold margins of a bootstrapped, cross-fitted head ensemble.

    Attributes:
        margins: (N, H) margin toward ``a`` of each of the H heads used for each pair (log-odds).
        fold: (N,) outer fold of each labelled pair; -1 for unlabelled pairs.
        weights: (K, H, F) head weights per fold (for scoring new pairs: average over all heads).
        penalties: (K, 2) chosen (embedding, hand-made) penalties per fold.
    """

    margins: np.ndarray
    fold: np.ndarray
    weights: np.ndarray
    penalties: np.ndarray


def assign_folds(labelled: np.ndarray, n_folds: int, seed: int) -> np.ndarray:
    """Random balanced fold ids for labelled pairs, -1 for the rest.

    >>> assign_folds(np.array([True, False, True, True]), 3, 0).tolist().count(-1)
    1
    """
    fold = np.full(len(labelled), -1, np.int64)
    idx = np.flatnonzero(labelled)
    fold[idx] = np.random.default_rng(seed).permutation(len(idx)) % n_folds
    return fold


def cross_fit(X: np.ndarray, blocks: np.ndarray, sign: np.ndarray, *, n_folds: int = 5, n_heads: int = 8,
              seed: int = 0, sample_weight: np.ndarray | None = None,
              should_stop: Callable[[], bool] | None = None) -> CrossFit:
    """Train K x H bootstrap heads and return every pair's out-of-fold margins.

    Args:
        X: (N, F) antisymmetric pair features (`compute_pair_features`).
        blocks: (F,) block of each column.
        sign: (N,) +1 where ``a`` is the labelled winner, -1 where ``b`` is, 0 for unlabelled pairs.
        n_folds: K outer folds (>= 2).
        n_heads: H bootstrap heads per fold.
        seed: folds, bootstraps and the inner CV derive from it.
        sample_weight: (N,) optional weights of labelled pairs (0 drops a pair from training).
        should_stop: called between folds; raising is the caller's job (checked by the pipeline).

    Returns:
        `CrossFit`; unlabelled pairs get the mean of all K x H heads as each head slot's margin
        (their (N, H) row holds, per slot h, the mean over folds of head h).
    """
    n = len(X)
    labelled = sign != 0
    if labelled.sum() < 2 * n_folds:
        raise ValueError(f"Cross-fitting needs at least {2 * n_folds} labelled pairs for `n_folds`={n_folds}, "
                         f"got {int(labelled.sum())}. Label more pairs or lower `n_folds`.")
    rng = np.random.default_rng(seed)
    fold = assign_folds(labelled, n_folds, seed)
    Z = X * sign[:, None].astype(X.dtype)
    base_w = np.ones(n, np.float32) if sample_weight is None else np.asarray(sample_weight, np.float32)
    margins = np.zeros((n, n_heads), np.float32)
    all_w = np.zeros((n_folds, n_heads, X.shape[1]), np.float32)
    chosen = np.zeros((n_folds, 2), np.float32)
    unl = ~labelled
    for k in range(n_folds):
        if should_stop is not None and should_stop():
            break
        train = np.flatnonzero((fold >= 0) & (fold != k))
        lam = _select_penalty(Z[train][base_w[train] > 0], blocks, rng)
        boot = rng.multinomial(len(train), np.full(len(train), 1.0 / len(train)), size=n_heads).astype(np.float32)
        boot *= base_w[train][None, :]
        W = fit_heads(Z[train], boot, np.tile(np.asarray(lam, np.float32), (n_heads, 1)), blocks)
        test = fold == k
        margins[test] = X[test] @ W.T
        if unl.any():
            margins[unl] += (X[unl] @ W.T) / n_folds
        all_w[k] = W
        chosen[k] = lam
    return CrossFit(margins=margins, fold=fold, weights=all_w, penalties=chosen)


def fit_temperature(margins: np.ndarray, sign: np.ndarray) -> float:
    """Temperature T minimising the (1%-smoothed) log-loss of ``sigmoid(sign * margins / T)`` (Platt without bias).

    Args:
        margins: (n,) raw margins toward ``a`` (any scale).
        sign: (n,) +1 / -1 labels (``a`` / ``b`` preferred).

    Returns:
        T > 0 (1.0 when there is nothing to fit).

    >>> rng = np.random.default_rng(0); m = rng.normal(size=4000) * 3
    >>> s = np.where(rng.random(4000) < 1 / (1 + np.exp(-m / 3)), 1, -1)
    >>> round(fit_temperature(m, s))
    3
    """
    from scipy.optimize import minimize_scalar

    z = np.asarray(margins, np.float64) * np.asarray(sign, np.float64)
    if len(z) == 0 or not np.any(z):
        return 1.0

    def loss(log_t: float) -> float:
        # 1% label smoothing keeps T finite when a model separates the labels perfectly.
        zt = z / np.exp(log_t)
        return float((0.99 * np.logaddexp(0.0, -zt) + 0.01 * np.logaddexp(0.0, zt)).mean())

    res = minimize_scalar(loss, bounds=(-9.0, 9.0), method="bounded")
    return float(np.exp(res.x))


def cross_fit_temperature(margins: np.ndarray, sign: np.ndarray, fold: np.ndarray) -> np.ndarray:
    """Per-pair temperature: labelled pairs in fold k use T fitted on the other folds; unlabelled use all.

    Args:
        margins: (N,) out-of-fold margins toward ``a``.
        sign: (N,) +1 / -1 / 0 (unlabelled).
        fold: (N,) fold ids (-1 for unlabelled).

    Returns:
        (N,) temperatures.
    """
    temps = np.full(len(margins), fit_temperature(margins[sign != 0], sign[sign != 0]), np.float64)
    for k in np.unique(fold[fold >= 0]):
        other = (fold >= 0) & (fold != k)
        temps[fold == k] = fit_temperature(margins[other], sign[other])
    return temps
