"""Interpretable preference features (WIMHF): what do these labels reward?

Contract: per pair the embeddings of both responses (with the prompt tail), their texts and
lengths, and the label's sign in; a `FeatureResult` out. Steps (methods notes, section 7.1):

1. ``e_delta = e(A) - e(B)`` per pair; a seeded random half of the pairs is swapped (``A <-> B``,
   label flipped) so the label models learn directions, not the position of the chosen response.
2. A BatchTopK sparse autoencoder (`curator.signals.sae`, M latents, K active, Matryoshka
   prefixes, aux-k loss) is trained on the training split's deltas. Its signed codes are the
   feature activations: positive means more present in response A (as stored).
3. Dead latents (firing on fewer than `min_prevalence` of the pairs) and duplicates (decoder
   cosine or activation correlation above `duplicate_threshold` with a more prevalent latent)
   are reported, not shown as features.
4. A length-controlled logistic model of the label on all live features (weak L2, Wald
   intervals) gives each feature's coefficient, interval and p-value; significance is
   Bonferroni over M (``p < alpha / M``). An L1 path with the length control unpenalised picks
   at most `max_selected` features (the paper's lasso top-k); with `significant_only` only the
   significant picks are kept.
5. Held out: a logistic probe on the full ``e_delta`` (the black box) and a logistic model on the
   selected features alone; ``explained_share = (AUC_features - 0.5) / (AUC_probe - 0.5)``.
   ``explained_share_with_length`` gives the features the length control as well (the model the
   coefficients come from).
6. Each feature is named by the most distinctive words (log-odds with an informative Dirichlet
   prior) of the "more" side of its top-activating pairs (95-100th percentile of |activation|)
   against their other side, plus "longer"/"shorter" when the more side differs in length.
7. Per group (label source, annotator, cluster) the same length-controlled model gives the
   features' weights: where humans, an AI judge or one annotator reward them differently.

Coefficients point one way: > 0 means annotators prefer the response with more of the feature.
Imports torch/sklearn/scipy inside functions; no duckdb, no streamlit, no I/O.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
from scipy.special import expit

from curator.config import Config

logger = logging.getLogger(__name__)

FEATURES_VERSION = 1
STATUSES = ("feature", "dead", "duplicate")
GROUP_KINDS = ("source", "annotator", "cluster")
MIN_GROUP_PAIRS = 30
_NAME_BACKGROUND = 20_000  # responses the term prior is counted on
_TERM_CHARS = 1_500


@dataclass(frozen=True)
class FeatureConfig(Config):
    """Parameters of a features run. Each field's `help` metadata is its one description.

    >>> FeatureConfig.from_dict(FeatureConfig(seed=3).to_dict()) == FeatureConfig(seed=3)
    True
    """

    # Parameters that control the autoencoder
    embedder: str = field(default="default", metadata={
        "help": "Embedding model of the responses (as `curator signals --embedder`): 'default', 'minilm', "
                "'minilm-int8', 'minilm-m2v', or a sentence-transformers path or hub id.", "label": "Embedding model"})
    n_latents: int = field(default=32, metadata={"help": "M: latents of the sparse autoencoder.", "min": 4,
                                                 "aliases": ("--latents",), "label": "Latents"})
    k: int = field(default=4, metadata={"help": "K: active latents per pair on average (BatchTopK)."})
    prefixes: tuple[int, ...] = field(default=(), metadata={
        "help": "Matryoshka prefix lengths, increasing, the last equal to n_latents; empty: (8, n_latents)."})
    max_epochs: int = field(default=50, metadata={"help": "Most training epochs (early stopping may end sooner)."})
    # Parameters that control the statistics
    holdout: float = field(default=0.4, metadata={
        "help": "Share of labelled pairs held out for the probe, the explained share and nothing else."})
    max_selected: int = field(default=8, metadata={
        "help": "Most features the sparse label model selects (at most n_latents)."})
    significant_only: bool = field(default=False, metadata={
        "help": "Keep only the L1 picks that are significant (Bonferroni); the paper keeps the top-k picks."})
    sae_on_all: bool = field(default=False, metadata={
        "help": "Train the autoencoder on every pair's embeddings (no labels), held-out ones included."})
    alpha: float = field(default=0.05, metadata={"help": "Family-wise error rate; Bonferroni over n_latents."})
    min_prevalence: float = field(default=0.002, metadata={
        "help": "A latent firing on a smaller share of pairs is dead."})
    duplicate_threshold: float = field(default=0.9, metadata={
        "help": "Decoder cosine or activation correlation above which a latent duplicates a more prevalent one."})
    top_pairs: int = field(default=8, metadata={"help": "Top-activating pairs kept per feature (95-100th percentile)."})
    seed: int = field(default=0, metadata={"help": "Seed of the swaps, the split and the autoencoder."})
    device: str | None = field(default=None, metadata={
        "help": "Torch device of the autoencoder; None picks CUDA when available."})

    def __post_init__(self) -> None:
        if isinstance(self.prefixes, list):
            object.__setattr__(self, "prefixes", tuple(self.prefixes))
        if not self.prefixes:  # the paper's HH setting: an 8-latent prefix, then all of them
            object.__setattr__(self, "prefixes", (min(8, self.n_latents), self.n_latents) if self.n_latents > 8
                               else (self.n_latents,))
        object.__setattr__(self, "max_selected", min(self.max_selected, self.n_latents))
        if not 1 <= self.k <= self.n_latents:
            raise ValueError(f"`k` must be in [1, n_latents={self.n_latents}], got {self.k}.")
        if not self.prefixes or self.prefixes[-1] != self.n_latents or list(self.prefixes) != sorted(set(self.prefixes)):
            raise ValueError(f"`prefixes` must increase and end at `n_latents` ({self.n_latents}), got {self.prefixes}.")
        if not 0.05 <= self.holdout <= 0.8:
            raise ValueError(f"`holdout` must be in [0.05, 0.8], got {self.holdout}.")
        if not 1 <= self.max_selected <= self.n_latents:
            raise ValueError(f"`max_selected` must be in [1, n_latents], got {self.max_selected}.")
        if not 0 < self.alpha < 1:
            raise ValueError(f"`alpha` must be in (0, 1), got {self.alpha}.")

    def cache_key(self, dataset_version: int, dataset: str) -> str:
        """Stable hash of (dataset, version, every field but `device`, algorithm version)."""
        params = {k: v for k, v in self.to_dict().items() if k != "device"}
        blob = json.dumps({"dataset": dataset, "version": int(dataset_version), "params": params,
                           "features_version": FEATURES_VERSION}, sort_keys=True)
        return "feat-" + hashlib.blake2b(blob.encode(), digest_size=10).hexdigest()


@dataclass(frozen=True)
class LabelGroup:
    """One label source, annotator or cluster: which pairs it labelled and how.

    Attributes:
        kind: one of `GROUP_KINDS`.
        name: shown name ("dataset label", "human:alice", "cluster 3 · recipe").
        index: (G,) int row indices into the pairs.
        sign: (G,) +1 where it preferred A, -1 where B.
    """

    kind: str
    name: str
    index: np.ndarray
    sign: np.ndarray


@dataclass(frozen=True)
class FeatureResult:
    """What `compute_features` returns.

    Attributes:
        latents: one row per latent: ``latent`` int, ``status`` (`STATUSES`), ``duplicate_of``,
            ``prevalence``, ``coef``, ``coef_low``, ``coef_high`` (95% Wald interval), ``p_value``,
            ``significant``, ``selected``, ``direction`` ("more" / "less": annotators prefer more or
            less of it), ``name``, ``terms`` (JSON {"more": [...], "less": [...]}), ``length_ratio``
            (median length more side / other side of the top pairs), ``top_pairs`` (JSON list of row
            indices, strongest first).
        activations: (N, M) float32 signed codes; positive = more present in A as stored.
        weights: ``kind``, ``group``, ``latent``, ``weight``, ``weight_low``, ``weight_high``, ``n``.
        summary: probe / feature / length AUCs, explained share, counts, seconds, device.
    """

    latents: pa.Table
    activations: np.ndarray
    weights: pa.Table
    summary: dict[str, Any]


def compute_features(emb_a: np.ndarray, emb_b: np.ndarray, sign: np.ndarray, texts_a: Sequence[str],
                     texts_b: Sequence[str], *, cfg: FeatureConfig | None = None,
                     groups: Sequence[LabelGroup] = ()) -> FeatureResult:
    """Features of a preference dataset (see the module docstring).

    Args:
        emb_a, emb_b: (N, D) embeddings of (prompt tail, response A) and (prompt tail, response B).
        sign: (N,) +1 where the label prefers A, -1 where B, 0 unlabelled (unlabelled pairs train the
            autoencoder only).
        texts_a, texts_b: N response texts (names and lengths).
        cfg: the `FeatureConfig` (default settings when None).
        groups: label groups whose weights are reported (`LabelGroup`).

    Returns:
        `FeatureResult`.

    Raises:
        ValueError: misaligned inputs or fewer than 40 labelled pairs.
    """
    cfg = cfg or FeatureConfig()
    emb_a, emb_b = np.asarray(emb_a, np.float32), np.asarray(emb_b, np.float32)
    sign = np.asarray(sign, np.float64)
    n = len(sign)
    if emb_a.shape != emb_b.shape or emb_a.ndim != 2 or len(emb_a) != n or len(texts_a) != n or len(texts_b) != n:
        raise ValueError(f"`emb_a` {emb_a.shape}, `emb_b` {emb_b.shape}, `sign` ({n},), `texts_a` ({len(texts_a)}) "
                         f"and `texts_b` ({len(texts_b)}) must describe the same N pairs.")
    labelled = np.flatnonzero(sign != 0)
    if len(labelled) < 40:
        raise ValueError(f"Features need at least 40 labelled pairs, got {len(labelled)}. Label or import more.")
    started = time.monotonic()
    from curator.signals import sae

    rng = np.random.default_rng(cfg.seed)
    delta = emb_a - emb_b
    swap = np.where(rng.random(n) < 0.5, -1.0, 1.0)
    perm = rng.permutation(labelled)
    n_test = int(round(cfg.holdout * len(labelled)))
    test, train = np.sort(perm[:n_test]), np.sort(perm[n_test:])
    unlabelled = np.flatnonzero(sign == 0)
    # The autoencoder never sees a label; with `sae_on_all` it also learns from the held-out pairs' texts.
    sae_rows = np.arange(n) if cfg.sae_on_all else np.r_[train, unlabelled]
    fit = sae.fit_sae(delta[sae_rows] * swap[sae_rows, None].astype(np.float32), n_latents=cfg.n_latents, k=cfg.k,
                      prefixes=cfg.prefixes, max_epochs=cfg.max_epochs, seed=cfg.seed, device=cfg.device)
    z = sae.sae_encode(fit, delta)
    t_sae = time.monotonic() - started
    status, dup_of, prevalence = _latent_status(z, sae.sae_decoder(fit), cfg)
    live = np.flatnonzero(status == "feature")

    # The label models are small: BLAS threads only add synchronisation (9x slower on 2 busy cores).
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        len_a = np.array([len(t or "") for t in texts_a], np.float64)
        len_b = np.array([len(t or "") for t in texts_b], np.float64)
        length = np.log1p(len_a) - np.log1p(len_b)
        # Label-model design, oriented by the random swap: y = 1 when the (swapped) A is preferred.
        y = ((sign * swap) > 0).astype(int)
        zs = z * swap[:, None]
        ls = length * swap
        scale = zs[train].std(0)
        scale[scale == 0] = 1.0
        l_scale = ls[train].std() or 1.0
        zx, lx = zs / scale, (ls / l_scale)[:, None]

        coef, low, high, pval = (np.full(cfg.n_latents, np.nan) for _ in range(4))
        if len(live):
            b, se = _wald_logit(np.c_[lx[train], zx[train][:, live]], y[train])
            coef[live], se_live = b[1:], se[1:]
            low[live], high[live] = coef[live] - 1.96 * se_live, coef[live] + 1.96 * se_live
            from scipy.stats import norm

            pval[live] = 2 * norm.sf(np.abs(coef[live] / se_live))
        significant = np.nan_to_num(pval, nan=1.0) < cfg.alpha / cfg.n_latents
        picks = _l1_path(lx[train], zx[train][:, live], y[train], cfg.max_selected) if len(live) else []
        selected = np.zeros(cfg.n_latents, bool)
        selected[[live[i] for i in picks if significant[live[i]] or not cfg.significant_only]] = True

        aucs = _held_out_aucs(delta * swap[:, None], zx, lx, y, train, test, np.flatnonzero(selected), seed=cfg.seed)
        t_stats = time.monotonic() - started - t_sae
        names = _names(z, np.asarray(texts_a, object), np.asarray(texts_b, object), len_a, len_b, live, cfg)
        weights = _group_weights(zx, lx, swap, groups, np.flatnonzero(selected) if selected.any() else
                                 live[np.argsort(np.nan_to_num(pval[live], nan=1.0))][:cfg.max_selected])
    latents = pa.table({
        "latent": pa.array(np.arange(cfg.n_latents), pa.int32()),
        "status": pa.array(status.tolist(), pa.string()),
        "duplicate_of": pa.array([int(d) if d >= 0 else None for d in dup_of], pa.int32()),
        "prevalence": pa.array(prevalence, pa.float64()),
        **{c: pa.array(v, pa.float64(), mask=~np.isfinite(v))
           for c, v in (("coef", coef), ("coef_low", low), ("coef_high", high), ("p_value", pval))},
        "significant": pa.array(significant, pa.bool_()),
        "selected": pa.array(selected, pa.bool_()),
        "direction": pa.array([None if not np.isfinite(c) else ("more" if c > 0 else "less") for c in coef],
                              pa.string()),
        "name": pa.array([names.get(j, {}).get("name") for j in range(cfg.n_latents)], pa.string()),
        "terms": pa.array([json.dumps(names[j]["terms"]) if j in names else None for j in range(cfg.n_latents)],
                          pa.string()),
        "length_ratio": pa.array([names.get(j, {}).get("length_ratio") for j in range(cfg.n_latents)], pa.float64()),
        "top_pairs": pa.array([json.dumps(names[j]["top"]) if j in names else None for j in range(cfg.n_latents)],
                              pa.string()),
    })
    summary = {**aucs, "n_pairs": n, "n_labelled": len(labelled), "n_train": len(train), "n_test": len(test),
               "n_features": int(len(live)), "n_dead": int((status == "dead").sum()),
               "n_duplicate": int((status == "duplicate").sum()), "n_significant": int(significant.sum()),
               "n_selected": int(selected.sum()), "selected": np.flatnonzero(selected).tolist(),
               "sae_epochs": fit.epochs, "sae_val_loss": round(fit.val_loss, 5), "device": fit.device,
               "mean_active": round(float((z != 0).sum(1).mean()), 3), "seconds_sae": round(t_sae, 2),
               "seconds_stats": round(t_stats, 2), "seconds": round(time.monotonic() - started, 2)}
    return FeatureResult(latents=latents, activations=z, weights=weights, summary=summary)


def _latent_status(z: np.ndarray, decoder: np.ndarray, cfg: FeatureConfig) -> tuple[np.ndarray, np.ndarray,
                                                                                     np.ndarray]:
    m = z.shape[1]
    prevalence = (z != 0).mean(0)
    status = np.where(prevalence < cfg.min_prevalence, "dead", "feature").astype(object)
    dup_of = np.full(m, -1)
    cos = np.abs(decoder @ decoder.T)
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.abs(np.corrcoef(z.T)) if len(z) > 1 else np.zeros((m, m))
    corr = np.nan_to_num(corr)
    for j in np.argsort(-prevalence, kind="stable"):
        if status[j] != "feature":
            continue
        for i in np.flatnonzero(status == "feature"):
            if i != j and prevalence[i] >= prevalence[j] and dup_of[i] < 0 and \
                    (cos[i, j] > cfg.duplicate_threshold or corr[i, j] > cfg.duplicate_threshold):
                status[j], dup_of[j] = "duplicate", i
                break
    return status.astype(str), dup_of, prevalence


def _wald_logit(x: np.ndarray, y: np.ndarray, *, c: float = 10.0) -> tuple[np.ndarray, np.ndarray]:
    """Weakly L2-penalised logistic regression without intercept (the swaps centre it); (coef, SE).

    SEs come from the inverse Hessian of the penalised log-likelihood (Wald).
    """
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=c, fit_intercept=False, max_iter=2000).fit(x, y)
    b = model.coef_.ravel()
    p = expit(x @ b)
    hess = (x * (p * (1 - p))[:, None]).T @ x + np.eye(x.shape[1]) / c
    cov = np.linalg.pinv(hess)
    return b, np.sqrt(np.clip(np.diag(cov), 1e-12, None))


def _l1_path(length: np.ndarray, zx: np.ndarray, y: np.ndarray, max_selected: int) -> list[int]:
    """Columns of `zx` an L1 logistic path picks (at most `max_selected`), in order of entry.

    The length control is scaled up so its penalty is negligible (it is effectively unpenalised).
    Where one step of the path adds more columns than are left, the largest |coefficients| fill up.
    """
    from sklearn.linear_model import LogisticRegression

    x = np.c_[length * 1e3, zx]
    order: list[int] = []
    for c in np.geomspace(1e-4, 10, 30):
        model = LogisticRegression(l1_ratio=1.0, C=c, solver="liblinear", fit_intercept=False, max_iter=2000)
        coef = model.fit(x, y).coef_.ravel()[1:]
        new = [int(j) for j in np.argsort(-np.abs(coef), kind="stable") if coef[j] != 0 and j not in order]
        order += new[:max_selected - len(order)]
        if len(order) >= max_selected:
            break
    return order


def _auc(y: np.ndarray, score: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, score)) if len(set(y.tolist())) == 2 else float("nan")


def _held_out_aucs(delta: np.ndarray, zx: np.ndarray, lx: np.ndarray, y: np.ndarray, train: np.ndarray,
                   test: np.ndarray, selected: np.ndarray, *, seed: int) -> dict[str, float]:
    from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(seed + 1)
    fit_rows = train if len(train) <= 20_000 else np.sort(rng.choice(train, 20_000, replace=False))
    scaler = StandardScaler(with_mean=False).fit(delta[fit_rows])
    probe = LogisticRegressionCV(Cs=np.geomspace(1e-4, 1, 5).tolist(), cv=3, fit_intercept=False, max_iter=500,
                                 scoring="roc_auc", l1_ratios=(0.0,), use_legacy_attributes=False).fit(scaler.transform(delta[fit_rows]), y[fit_rows])
    auc_probe = _auc(y[test], probe.decision_function(scaler.transform(delta[test])))

    def fit_auc(x: np.ndarray) -> float:
        model = LogisticRegression(C=10.0, fit_intercept=False, max_iter=2000).fit(x[train], y[train])
        return _auc(y[test], model.decision_function(x[test]))

    auc_len = fit_auc(lx)
    auc_feat = fit_auc(zx[:, selected]) if len(selected) else 0.5
    auc_feat_len = fit_auc(np.c_[lx, zx[:, selected]]) if len(selected) else auc_len
    share = (auc_feat - 0.5) / (auc_probe - 0.5) if auc_probe > 0.5 else float("nan")
    share_len = (auc_feat_len - 0.5) / (auc_probe - 0.5) if auc_probe > 0.5 else float("nan")
    return {"auc_probe": round(auc_probe, 4), "auc_features": round(auc_feat, 4), "auc_length": round(auc_len, 4),
            "auc_features_length": round(auc_feat_len, 4), "explained_share": round(float(share), 4),
            "explained_share_with_length": round(float(share_len), 4),
            "probe_C": float(np.atleast_1d(probe.C_)[0])}


def _names(z: np.ndarray, texts_a: np.ndarray, texts_b: np.ndarray, len_a: np.ndarray, len_b: np.ndarray,
           live: np.ndarray, cfg: FeatureConfig) -> dict[int, dict[str, Any]]:
    """Name, distinctive terms, length ratio and top pairs of each live latent."""
    from sklearn.feature_extraction.text import CountVectorizer

    from curator.signals.clusters import EXTRA_STOP_WORDS

    rng = np.random.default_rng(cfg.seed + 2)
    every = np.r_[texts_a, texts_b]
    background = every if len(every) <= _NAME_BACKGROUND else every[rng.choice(len(every), _NAME_BACKGROUND,
                                                                               replace=False)]
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    vec = CountVectorizer(lowercase=True, token_pattern=r"(?u)\b[a-zA-Z][a-zA-Z']+\b", min_df=3, max_features=20_000,
                          binary=True,
                          stop_words=sorted(ENGLISH_STOP_WORDS | set(EXTRA_STOP_WORDS)))
    try:
        prior = np.asarray(vec.fit_transform([str(t)[:_TERM_CHARS] for t in background]).sum(0)).ravel() + 0.01
    except ValueError:  # no words at all
        vec, prior = None, None
    vocab = vec.get_feature_names_out() if vec is not None else np.array([])
    out: dict[int, dict[str, Any]] = {}
    for j in live:
        act = z[:, j]
        nz = np.flatnonzero(act != 0)
        if not len(nz):
            continue
        cut = np.percentile(np.abs(act[nz]), 95)
        top = nz[np.abs(act[nz]) >= cut]
        top = top[np.argsort(-np.abs(act[top]), kind="stable")]
        more = np.where(act[top] > 0, texts_a[top], texts_b[top])
        less = np.where(act[top] > 0, texts_b[top], texts_a[top])
        l_more = np.where(act[top] > 0, len_a[top], len_b[top])
        l_less = np.where(act[top] > 0, len_b[top], len_a[top])
        ratio = float(np.median((l_more + 1) / (l_less + 1)))
        terms = {"more": [], "less": []}
        if vec is not None:
            score, df_more, df_less = _log_odds(vec, [str(t)[:_TERM_CHARS] for t in more],
                                                [str(t)[:_TERM_CHARS] for t in less], prior)
            common = max(2.0, 0.1 * len(top))  # a name word appears in at least a tenth of the top pairs
            terms = {"more": [str(vocab[i]) for i in np.argsort(-score)[:40] if score[i] > 1.0
                              and df_more[i] >= common][:5],
                     "less": [str(vocab[i]) for i in np.argsort(score)[:40] if score[i] < -1.0
                              and df_less[i] >= common][:5]}
        hint = "longer" if ratio >= 1.5 else "shorter" if ratio <= 1 / 1.5 else ""
        words = ", ".join(terms["more"][:3])
        name = "; ".join(p for p in (hint, words) if p) or "(no distinctive words)"
        if terms["less"]:
            name += f" (vs. {', '.join(terms['less'][:2])})"
        out[int(j)] = {"name": name, "terms": terms, "length_ratio": round(ratio, 3),
                       "top": [int(i) for i in top[:cfg.top_pairs]]}
    return out


def _log_odds(vec: Any, more: list[str], less: list[str], prior: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """z-scored log-odds ratio with an informative Dirichlet prior (Monroe et al. 2008), more vs less,
    on document counts; also the document counts of each side."""
    y1 = np.asarray(vec.transform(more).sum(0)).ravel()
    y2 = np.asarray(vec.transform(less).sum(0)).ravel()
    a0 = prior.sum()
    scale = 500.0 / a0  # prior strength: 500 pseudo-words spread like the background
    a, a0 = prior * scale, 500.0
    n1, n2 = y1.sum(), y2.sum()
    d = np.log((y1 + a) / (n1 + a0 - y1 - a)) - np.log((y2 + a) / (n2 + a0 - y2 - a))
    return d / np.sqrt(1.0 / (y1 + a) + 1.0 / (y2 + a)), y1, y2


def _group_weights(zx: np.ndarray, lx: np.ndarray, swap: np.ndarray, groups: Sequence[LabelGroup],
                   shown: np.ndarray) -> pa.Table:
    """Length-controlled weights of the `shown` latents per label group (groups with >= MIN_GROUP_PAIRS)."""
    rows: dict[str, list[Any]] = {k: [] for k in ("kind", "group", "latent", "weight", "weight_low", "weight_high",
                                                  "n")}
    for g in groups:
        if g.kind not in GROUP_KINDS:
            raise ValueError(f"`LabelGroup.kind` must be one of {GROUP_KINDS}, got {g.kind!r}.")
        idx = np.asarray(g.index, np.int64)
        if len(idx) != len(g.sign):
            raise ValueError(f"Group {g.name!r}: `index` ({len(idx)}) and `sign` ({len(g.sign)}) differ in length.")
        s = np.asarray(g.sign, np.float64) * swap[idx]  # the same random swap as the dataset label
        keep = s != 0
        idx, s = idx[keep], s[keep]
        if len(idx) < MIN_GROUP_PAIRS or not len(shown):
            continue
        y = (s > 0).astype(int)
        if len(set(y.tolist())) < 2:
            continue
        b, se = _wald_logit(np.c_[lx[idx], zx[idx][:, shown]], y, c=1.0)
        for col, j in enumerate(shown, start=1):
            rows["kind"].append(g.kind)
            rows["group"].append(g.name)
            rows["latent"].append(int(j))
            rows["weight"].append(float(b[col]))
            rows["weight_low"].append(float(b[col] - 1.96 * se[col]))
            rows["weight_high"].append(float(b[col] + 1.96 * se[col]))
            rows["n"].append(int(len(idx)))
    return pa.table(rows, schema=pa.schema([("kind", pa.string()), ("group", pa.string()), ("latent", pa.int32()),
                                            ("weight", pa.float64()), ("weight_low", pa.float64()),
                                            ("weight_high", pa.float64()), ("n", pa.int32())]))
