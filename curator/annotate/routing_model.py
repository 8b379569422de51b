"""The predictor of AI error for routing: logistic regression (C by cross-validated AUROC) or
gradient boosting (both scikit-learn), over per-pair features plus the AI's observed error rate
in each pair's prompt group and embedding cluster (leave-one-out, smoothed target encoding).

Falls back to the label-free heuristic when fewer than MIN_LABELLED labelled pairs (or fewer than
MIN_PER_CLASS errors or successes) exist, and when the fitted model's out-of-fold AUROC on the
labelled pairs does not beat the heuristic's on the same pairs. Pure numpy/scikit-learn: no duckdb, no streamlit.
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
        X: (N, D) features (`routing_features_matrix`).
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
    if not auc > h_auc:  # the fitted model does not beat the label-free estimate out of fold: keep that
        return ErrorPredictor("heuristic", heuristic.copy(), len(labelled), auc, h_auc)
    if ai_missing is not None:
        p = np.where(np.asarray(ai_missing, dtype=bool), 1.0, p)
    return ErrorPredictor(model, p, len(labelled), auc, h_auc)


def _fit_predict(Z: np.ndarray, labelled: np.ndarray, errors: np.ndarray, *, model: str, seed: int
                 ) -> tuple[np.ndarray, float]:
    """P(error) for every row from a model fitted on the labelled rows, and its out-of-fold AUROC."""
    from sklearn.base import clone
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    Zl = Z[labelled]
    n_min = int(min(errors.sum(), len(errors) - errors.sum()))
    folds = StratifiedKFold(n_splits=max(2, min(5, n_min)), shuffle=True, random_state=seed)
    if model == "logistic":
        # Pick C by cross-validated AUROC, then refit on every labelled pair.
        def logistic(c: float) -> LogisticRegression:
            return LogisticRegression(C=c, solver="newton-cholesky", max_iter=100)

        scores = [(_auc(errors, cross_val_predict(logistic(c), Zl, errors, cv=folds, method="predict_proba")[:, 1]), c)
                  for c in _CS]
        auc, c = max(scores, key=lambda t: (np.nan_to_num(t[0], nan=-1.0), -abs(np.log(t[1] / 0.3))))
        est = logistic(c)
    else:
        est = HistGradientBoostingClassifier(max_depth=3, learning_rate=0.05, max_iter=150,
                                             min_samples_leaf=max(5, len(labelled) // 20), random_state=seed)
        auc = _auc(errors, cross_val_predict(clone(est), Zl, errors, cv=folds, method="predict_proba")[:, 1])
    return est.fit(Zl, errors).predict_proba(Z)[:, 1], float(auc)


def _auc(y: np.ndarray, score: np.ndarray) -> float:
    """AUROC, nan with a single class."""
    from sklearn.metrics import roc_auc_score

    y = np.asarray(y, dtype=bool)
    return float(roc_auc_score(y, score)) if 0 < y.sum() < len(y) else float("nan")
