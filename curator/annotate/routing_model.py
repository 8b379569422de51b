"""The predictor of AI error for routing: logistic regression (numpy Newton, C by cross-validated
AUROC) or gradient boosting (scikit-learn), over per-pair features plus the AI's observed error rate
in each pair's prompt group and embedding cluster (leave-one-out, smoothed target encoding).

Falls back to the label-free heuristic when fewer than MIN_LABELLED labelled pairs (or fewer than
MIN_PER_CLASS errors or successes) exist. Pure numpy/scikit-learn: no duckdb, no streamlit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MIN_LABELLED = 20  # labelled pairs needed before a predictor replaces the heuristic
MIN_PER_CLASS = 5  # ... with at least this many AI errors and this many AI successes among them
PREDICTORS: tuple[str, ...] = ("logistic", "gbm")
_CS = (0.03, 0.1, 0.3, 1.0, 3.0)
_TE_PRIOR = 2.0  # pseudo-count pulling a group's observed error rate toward the overall rate


@dataclass(frozen=True)
class ErrorPredictor:
    """P(AI verdict wrong) for every pair and how it was obtained.

    Attributes:
        method: "heuristic" (no or too few labelled pairs), "logistic" or "gbm".
        p_error: (N,) probabilities.
        n_labelled: labelled pairs the predictor was fitted on.
        cv_auc: cross-validated AUROC of the fitted predictor on the labelled pairs (nan if none).
        heuristic_auc: AUROC of the heuristic on the same labelled pairs (nan if undefined).
    """

    method: str
    p_error: np.ndarray
    n_labelled: int
    cv_auc: float
    heuristic_auc: float


def _target_encoding(keys: np.ndarray, labelled: np.ndarray, errors: np.ndarray, prior: float
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Leave-one-out, smoothed AI error rate of each key among labelled pairs, and the count behind it."""
    size = int(keys.max()) + 2 if keys.size else 1
    k = np.where(keys < 0, size - 1, keys)
    err = np.zeros(len(keys))
    err[labelled] = errors
    is_lab = np.zeros(len(keys))
    is_lab[labelled] = 1.0
    sums = np.bincount(k, weights=err, minlength=size)[k] - err
    counts = np.bincount(k, weights=is_lab, minlength=size)[k] - is_lab
    rate = (sums + _TE_PRIOR * prior) / (counts + _TE_PRIOR)
    rate = np.where(keys < 0, prior, rate)
    return rate, np.where(keys < 0, 0.0, counts)


def fit_error_predictor(X: np.ndarray, heuristic: np.ndarray, labelled: np.ndarray, errors: np.ndarray, *,
                        groups: np.ndarray | None = None, clusters: np.ndarray | None = None,
                        model: str = "logistic", ai_missing: np.ndarray | None = None,
                        seed: int = 0) -> ErrorPredictor:
    """Fit P(AI wrong) on the labelled pairs, or fall back to the heuristic when there are too few.

    Args:
        X: (N, D) features (`compute_features`).
        heuristic: (N,) label-free error estimate (`heuristic_error`).
        labelled: (L,) row indices of pairs whose AI error is known.
        errors: (L,) True where the AI verdict disagreed with the human label.
        groups, clusters: (N,) ids (prompt groups, embedding clusters; -1 unknown) whose observed
            error rates become features.
        model: "logistic" (regularisation chosen by stratified CV) or "gbm" (gradient boosting).
        ai_missing: (N,) True where the AI gave no usable verdict: always 1.0.
    """
    if model not in PREDICTORS:
        raise ValueError(f"Unknown predictor {model!r}; valid: {PREDICTORS}.")
    X = np.asarray(X, dtype=float)
    labelled = np.asarray(labelled, dtype=int)
    errors = np.asarray(errors, dtype=bool)
    if labelled.shape != errors.shape:
        raise ValueError(f"`labelled` and `errors` must have the same length, got {labelled.shape} and {errors.shape}.")
    heuristic = np.asarray(heuristic, dtype=float)
    h_auc = _auc(errors, heuristic[labelled])
    n_err = int(errors.sum())
    if len(labelled) < MIN_LABELLED or min(n_err, len(errors) - n_err) < MIN_PER_CLASS:
        return ErrorPredictor("heuristic", heuristic.copy(), len(labelled), float("nan"), h_auc)
    prior = float(errors.mean())
    extra = []
    for keys in (groups, clusters):
        if keys is not None:
            rate, count = _target_encoding(np.asarray(keys, dtype=int), labelled, errors, prior)
            extra += [rate, np.log1p(count)]
    Z = np.column_stack([X, *extra]) if extra else X
    mu, sd = Z.mean(axis=0), Z.std(axis=0)
    Z = (Z - mu) / np.where(sd > 1e-12, sd, 1.0)
    p, auc = _fit_predict(Z, labelled, errors, model=model, seed=seed)
    if ai_missing is not None:
        p = np.where(np.asarray(ai_missing, dtype=bool), 1.0, p)
    return ErrorPredictor(model, p, len(labelled), auc, h_auc)


def _fit_predict(Z: np.ndarray, labelled: np.ndarray, errors: np.ndarray, *, model: str, seed: int
                 ) -> tuple[np.ndarray, float]:
    folds = _stratified_folds(errors, seed=seed)
    Zl = Z[labelled]
    if model == "logistic":
        # Pick C by cross-validated AUROC, then refit on every labelled pair.
        cv = [_nanmean([_auc(errors[te], _logistic_predict(_logistic_fit(Zl[tr], errors[tr], c), Zl[te]))
                        for tr, te in folds]) for c in _CS]
        best = int(np.nanargmax(cv)) if not np.all(np.isnan(cv)) else _CS.index(0.3)
        return _logistic_predict(_logistic_fit(Zl, errors, _CS[best]), Z), float(cv[best])
    from sklearn.ensemble import HistGradientBoostingClassifier

    def gbm() -> HistGradientBoostingClassifier:
        return HistGradientBoostingClassifier(max_depth=3, learning_rate=0.05, max_iter=150,
                                              min_samples_leaf=max(5, len(labelled) // 20), random_state=seed)

    held = np.zeros(len(labelled))
    for tr, te in folds:
        held[te] = gbm().fit(Zl[tr], errors[tr]).predict_proba(Zl[te])[:, 1]
    return gbm().fit(Zl, errors).predict_proba(Z)[:, 1], _auc(errors, held)


def _nanmean(values: list[float]) -> float:
    ok = [v for v in values if not np.isnan(v)]
    return float(np.mean(ok)) if ok else float("nan")


def _stratified_folds(y: np.ndarray, *, seed: int, max_folds: int = 5) -> list[tuple[np.ndarray, np.ndarray]]:
    n_min = int(min(y.sum(), len(y) - y.sum()))
    k = max(2, min(max_folds, n_min))
    rng = np.random.default_rng(seed)
    fold = np.empty(len(y), dtype=int)
    for cls in (True, False):
        idx = np.flatnonzero(y == cls)
        fold[rng.permutation(idx)] = np.arange(len(idx)) % k
    return [(np.flatnonzero(fold != f), np.flatnonzero(fold == f)) for f in range(k)]


def _logistic_fit(Z: np.ndarray, y: np.ndarray, c: float, *, iters: int = 50) -> np.ndarray:
    """L2-regularised logistic regression (penalty 1/(2C) |w|^2, intercept free) by Newton's method.

    Returns (D + 1,) weights, the intercept last. Small and exact enough for a few thousand rows;
    numpy alone keeps each routing round in milliseconds.
    """
    n, d = Z.shape
    A = np.column_stack([Z, np.ones(n)])
    y = y.astype(float)
    w = np.zeros(d + 1)
    w[-1] = np.log((y.sum() + 0.5) / (n - y.sum() + 0.5))
    reg = np.full(d + 1, 1.0 / c)
    reg[-1] = 0.0
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-np.clip(A @ w, -30, 30)))
        grad = A.T @ (p - y) + reg * w
        hess = (A * (p * (1 - p))[:, None]).T @ A + np.diag(reg + 1e-9)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w


def _logistic_predict(w: np.ndarray, Z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(Z @ w[:-1] + w[-1], -30, 30)))


def _auc(y: np.ndarray, score: np.ndarray) -> float:
    """AUROC by the rank-sum formula (ties get average ranks); nan with a single class."""
    y = np.asarray(y, dtype=bool)
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    from scipy.stats import rankdata

    ranks = rankdata(np.asarray(score, dtype=float))
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
