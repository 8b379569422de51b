"""`compute_signals`: pairs (Arrow) in, per-pair signals and clusters (Arrow) out.

Stages, in order (each reports ``on_progress(stage, fraction)`` and checks ``should_stop``):

1. ``embed``: prompt/response embeddings (from `features` or `curator.signals.embed.EmbeddingScorer`).
2. ``rewards``: HF reward-model scores per model in ``cfg.rewards`` (from `features` or `RewardScorer`).
3. ``reward heads``: cross-fitted, bootstrapped Bradley-Terry heads (`curator.signals.bt`); each HF
   model's margin is rescaled by an out-of-fold temperature and joins the ensemble.
4. ``uncertainty``: entropy, MC-dropout BALD, variance-aware Gaussian head.
5. ``noise``: cleanlab issue scores, the calibrated "likely flipped" flag, identical and
   near-duplicate pairs, DPO difficulty.
6. ``clusters``: k-means on prompt embeddings, c-TF-IDF names, a 2-D UMAP map.

Margins are log-odds oriented to the label: > 0 means the labelled chosen response is preferred
(toward ``a`` for unlabelled pairs). `features` keys: ``emb_prompt``, ``emb_a``, ``emb_b`` (N, D);
optional ``emb_query`` (last user turn), ``emb_resp_a``/``emb_resp_b`` (responses alone),
``reward_a:<model>``/``reward_b:<model>`` (N,), ``logp_ref_a``/``logp_ref_b`` (N,).

Pure compute: imports no duckdb and no streamlit and does no database I/O.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
from scipy.special import expit

from curator.schema import SIGNAL_COLUMNS
from curator.signals import bt, clusters, noise, uncertainty

if TYPE_CHECKING:
    from curator.signals import SignalConfig, SignalResult

logger = logging.getLogger(__name__)

EMBEDDED_MODEL = "embedded-bt"
PAIR_COLUMNS = ("pair_id", "prompt", "response_a", "response_b", "label")
GLOBAL_NEAR_DUP_MAX = 50_000
HEAD_TRAIN_MAX = 10_000  # rows the MC-dropout and Gaussian heads train on per fold (their cost is linear in it)


class Cancelled(Exception):  # noqa: N818 (the name says what happened; it is not an error)
    """Raised when ``should_stop()`` returns True; no partial result is returned."""


def last_user_turn(prompt: str) -> str:
    """The last user message of a rendered prompt (HH ``Human:`` or ``user:`` lines), else the prompt.

    >>> last_user_turn("\\n\\nHuman: hi\\n\\nAssistant: hello\\n\\nHuman: 2+2?")
    '2+2?'
    >>> last_user_turn("What is DuckDB?")
    'What is DuckDB?'
    """
    best = -1
    marker_len = 0
    for marker in ("\n\nHuman:", "Human:", "\nuser:", "user:"):
        i = prompt.rfind(marker)
        if i > best:
            best, marker_len = i, len(marker)
    return prompt[best + marker_len:].strip() if best >= 0 else prompt


class _Run:
    """Progress and cancellation bookkeeping of one `compute_signals` call."""

    def __init__(self, on_progress: Callable[[str, float], None] | None, should_stop: Callable[[], bool] | None):
        self.on_progress = on_progress
        self.should_stop = should_stop
        self.t0 = time.monotonic()

    def stage(self, name: str, fraction: float) -> None:
        if self.should_stop is not None and self.should_stop():
            raise Cancelled(f"cancelled before stage {name!r}")
        logger.info("signals: %s (%.0f%%, %.1f s)", name, 100 * fraction, time.monotonic() - self.t0)
        if self.on_progress is not None:
            self.on_progress(name, fraction)


def _signs(labels: Sequence[str | None]) -> np.ndarray:
    table = {"a": 1.0, "b": -1.0, None: 0.0}
    bad = sorted({str(x) for x in labels if x not in table})
    if bad:
        raise ValueError(f"`label` must be 'a', 'b' or null, got {bad[:5]}.")
    return np.array([table[x] for x in labels], np.float64)


def _embeddings(texts: dict[str, list[str]], feats: dict[str, np.ndarray], cfg: SignalConfig) -> dict[str, np.ndarray]:
    """emb_prompt/emb_a/emb_b (+ emb_query, emb_resp_a/b when this call computes embeddings)."""
    have = {k for k in ("emb_prompt", "emb_a", "emb_b") if k in feats}
    out = dict(feats)
    if have and have != {"emb_prompt", "emb_a", "emb_b"}:
        raise ValueError(f"`features` must hold all of emb_prompt, emb_a, emb_b or none, got {sorted(have)}.")
    scorer = None
    if not have:
        from curator.signals.embed import EmbeddingScorer

        scorer = EmbeddingScorer(cfg.embedder, device=cfg.device)
        out.update(scorer({"prompt": texts["prompt"], "response_a": texts["a"], "response_b": texts["b"]}))
    if scorer is not None and "emb_query" not in out:
        out["emb_query"] = scorer.encode([last_user_turn(p) for p in texts["prompt"]])
    if scorer is not None and "emb_resp_a" not in out:
        n = len(texts["a"])
        both = scorer.encode(list(texts["a"]) + list(texts["b"]))
        out["emb_resp_a"], out["emb_resp_b"] = both[:n], both[n:]
    return out


def _reward_margins(texts: dict[str, list[str]], feats: dict[str, np.ndarray], cfg: SignalConfig,
                    run: _Run) -> dict[str, np.ndarray]:
    """Raw margin r_a - r_b (toward a) of each HF reward model."""
    out: dict[str, np.ndarray] = {}
    for i, model in enumerate(cfg.rewards):
        run.stage(f"reward:{model}", 0.1 + 0.1 * i / max(len(cfg.rewards), 1))
        ka, kb = f"reward_a:{model}", f"reward_b:{model}"
        if ka in feats and kb in feats:
            ra, rb = feats[ka], feats[kb]
        else:
            from curator.signals.reward import RewardScorer

            scored = RewardScorer(model, device=cfg.device, **cfg.scorer.reward_kwargs())(
                {"prompt": texts["prompt"], "prompt_messages": texts["messages"], "response_a": texts["a"],
                 "response_b": texts["b"]})
            ra, rb = scored["reward_a"], scored["reward_b"]
        out[model] = np.asarray(ra, np.float64).ravel() - np.asarray(rb, np.float64).ravel()
    return out


def _pair_features(texts: dict[str, list[str]], emb: dict[str, np.ndarray]) -> bt.PairFeatures:
    resp_a, resp_b = emb.get("emb_resp_a", emb["emb_a"]), emb.get("emb_resp_b", emb["emb_b"])
    query = emb.get("emb_query", emb["emb_prompt"])
    relevance = [(emb["emb_prompt"], emb["emb_a"], emb["emb_b"])] if "emb_resp_a" in emb else []
    return bt.compute_pair_features(query, resp_a, resp_b, bt.compute_style_features(texts["a"]),
                                    bt.compute_style_features(texts["b"]), relevance)


def _heads_per_fold(pf: bt.PairFeatures, sign: np.ndarray, fold: np.ndarray, cfg: SignalConfig, X: np.ndarray,
                    run: _Run) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Out-of-fold BALD, variance-head margin (toward a) and spread."""
    n = len(sign)
    n_folds = int(fold.max()) + 1
    unl = sign == 0
    probs = np.zeros((cfg.mc_samples, n), np.float32)
    var_margin = np.full(n, np.nan)
    var_sigma = np.full(n, np.nan)
    rng = np.random.default_rng(cfg.seed + 1)
    for k in range(n_folds):
        run.stage("uncertainty", 0.55 + 0.15 * k / n_folds)
        train = np.flatnonzero((fold >= 0) & (fold != k))
        if len(train) > HEAD_TRAIN_MAX:
            train = np.sort(rng.choice(train, HEAD_TRAIN_MAX, replace=False))
        test = np.flatnonzero(fold == k)
        net = uncertainty.fit_mc_dropout(X[train] * sign[train, None].astype(np.float32), seed=cfg.seed + k)
        probs[:, test] = uncertainty.mc_dropout_probs(net, X[test], mc_samples=cfg.mc_samples, seed=cfg.seed + k)
        if unl.any():
            probs[:, unl] += uncertainty.mc_dropout_probs(net, X[unl], mc_samples=cfg.mc_samples,
                                                          seed=cfg.seed + k) / n_folds
        if cfg.variance_head:
            win = np.where(sign[train, None] > 0, pf.phi_a[train], pf.phi_b[train])
            lose = np.where(sign[train, None] > 0, pf.phi_b[train], pf.phi_a[train])
            head = uncertainty.fit_gaussian_head(win, lose, seed=cfg.seed + k)
            idx = np.r_[test, np.flatnonzero(unl)] if k == 0 else test
            dm, sg = head.predict(pf.phi_a[idx], pf.phi_b[idx])
            var_margin[idx], var_sigma[idx] = dm, sg
    return uncertainty.bald(probs), var_margin, var_sigma


def compute_signals(pairs: pa.Table, cfg: SignalConfig, *, features: dict[str, np.ndarray] | None = None,
                    on_progress: Callable[[str, float], None] | None = None,
                    should_stop: Callable[[], bool] | None = None) -> SignalResult:
    """Every per-pair signal of `curator.schema.SIGNAL_COLUMNS`, plus clusters, for a table of pairs.

    Args:
        pairs: columns ``pair_id``, ``prompt``, ``response_a``, ``response_b``, ``label`` ("a", "b"
            or null); ``prompt_messages`` (JSON text or null) is passed to reward models when present.
        cfg: the `SignalConfig`.
        features: precomputed arrays in pair order (see the module docstring); missing ones are computed.
        on_progress: called as ``(stage, fraction in [0, 1])``.
        should_stop: polled between stages; True raises `Cancelled`.

    Returns:
        `SignalResult` (signals: pair_id + SIGNAL_COLUMNS + model_margins; clusters; model names).

    Raises:
        ValueError: missing columns, bad labels, too few labelled pairs, misshapen features.
        Cancelled: `should_stop` returned True.
    """
    from curator.signals import SignalResult

    missing = [c for c in PAIR_COLUMNS if c not in pairs.column_names]
    if missing:
        raise ValueError(f"`pairs` lacks columns {missing}; expected {list(PAIR_COLUMNS)}.")
    run = _Run(on_progress, should_stop)
    n = pairs.num_rows
    texts = {"prompt": [p or "" for p in pairs.column("prompt").to_pylist()],
             "a": [r or "" for r in pairs.column("response_a").to_pylist()],
             "b": [r or "" for r in pairs.column("response_b").to_pylist()],
             "messages": (pairs.column("prompt_messages").to_pylist() if "prompt_messages" in pairs.column_names
                          else [None] * n)}
    sign = _signs(pairs.column("label").to_pylist())
    feats = {k: np.asarray(v) for k, v in (features or {}).items()}
    bad = {k: v.shape for k, v in feats.items() if len(v) != n}
    if bad:
        raise ValueError(f"`features` arrays must have one row per pair ({n}), got {bad}.")

    run.stage("embed", 0.0)
    emb = _embeddings(texts, feats, cfg)
    rewards = _reward_margins(texts, feats, cfg, run)

    run.stage("reward heads", 0.2)
    pf = _pair_features(texts, emb)
    X = pf.X
    cf = bt.cross_fit(X, pf.blocks, sign, n_folds=cfg.n_folds, n_heads=cfg.n_heads, seed=cfg.seed,
                      should_stop=should_stop)
    run.stage("calibration", 0.5)
    head_mean = cf.margins.mean(1)
    t_emb = bt.cross_fit_temperature(head_mean, sign, cf.fold)
    members = [cf.margins / t_emb[:, None]]
    per_model = {EMBEDDED_MODEL: head_mean / t_emb}
    for model, d in rewards.items():
        per_model[model] = d / bt.cross_fit_temperature(d, sign, cf.fold)
        members.append(per_model[model][:, None])
    orient = np.where(sign == 0, 1.0, sign)
    all_members = np.hstack(members) * orient[:, None]
    margin = np.mean(np.stack(list(per_model.values()), 1), 1) * orient
    margin_std = all_members.std(1)
    vote_frac = (all_members > 0).mean(1)
    p_correct = expit(margin)

    bald, var_margin, var_sigma = _heads_per_fold(pf, sign, cf.fold, cfg, X, run)
    var_margin = var_margin * orient

    run.stage("noise", 0.75)
    labelled = sign != 0
    issue = np.full(n, np.nan)
    flipped = np.zeros(n, bool)
    if labelled.any():
        issue[labelled] = noise.issue_scores(p_correct[labelled])
        flipped[labelled], _ = noise.flip_flag(noise.mislabel_probability(p_correct[labelled], cfg.flip_rate))
    ambiguous = (np.abs(margin) < margin_std) | (np.abs(p_correct - 0.5) < noise.AMBIGUOUS_P)
    identical = noise.is_identical(texts["a"], texts["b"])
    dpo = (noise.dpo_difficulty(feats["logp_ref_a"], feats["logp_ref_b"], sign)
           if "logp_ref_a" in feats and "logp_ref_b" in feats else np.full(n, np.nan))

    run.stage("clusters", 0.8)
    k = cfg.n_clusters or clusters.choose_k(n)
    labels = clusters.kmeans(emb["emb_prompt"], min(k, n), seed=cfg.seed) if n else np.zeros(0, np.int32)
    run.stage("near-duplicates", 0.82)
    vectors = noise.pair_vectors(emb["emb_prompt"], emb["emb_a"], emb["emb_b"])
    near = noise.near_duplicates(vectors, threshold=cfg.near_dup_threshold, seed=cfg.seed,
                                 groups=None if n <= GLOBAL_NEAR_DUP_MAX else labels)
    run.stage("cluster names", 0.84)
    terms = clusters.cluster_terms(texts["prompt"], labels, seed=cfg.seed) if n else {}
    run.stage("map", 0.85)
    xy = clusters.map_2d(emb["emb_prompt"], sample=cfg.map_sample, seed=cfg.seed)

    run.stage("done", 1.0)
    cols = {
        "margin": margin, "margin_std": margin_std, "vote_frac": vote_frac, "p_correct": p_correct,
        "entropy": uncertainty.binary_entropy(p_correct), "bald": bald, "var_margin": var_margin,
        "var_sigma": var_sigma, "issue_score": issue, "dpo_difficulty": dpo, "cluster": labels,
        "map_x": xy[:, 0], "map_y": xy[:, 1], "flag_flipped": flipped, "flag_ambiguous": ambiguous,
        "flag_identical": identical, "flag_near_duplicate": near,
    }
    signals = _signals_table(pairs.column("pair_id"), cols, per_model, orient)
    sizes = np.bincount(labels, minlength=int(labels.max()) + 1 if n else 0)
    cluster_table = pa.table({
        "cluster": pa.array(list(range(len(sizes))), pa.int32()),
        "name": pa.array([clusters.cluster_name(terms.get(c, [])) for c in range(len(sizes))], pa.string()),
        "size": pa.array(sizes.astype(np.int32), pa.int32()),
        "terms": pa.array([json.dumps(terms.get(c, [])) for c in range(len(sizes))], pa.string()),
    })
    return SignalResult(signals=signals, clusters=cluster_table, models=list(per_model))


def _signals_table(pair_id: pa.ChunkedArray, cols: dict[str, np.ndarray], per_model: dict[str, np.ndarray],
                   orient: np.ndarray) -> pa.Table:
    arrays: dict[str, pa.Array | pa.ChunkedArray] = {"pair_id": pair_id}
    for name in SIGNAL_COLUMNS:
        v = np.asarray(cols[name])
        if name.startswith("flag_"):
            arrays[name] = pa.array(v.astype(bool), pa.bool_())
        elif name == "cluster":
            arrays[name] = pa.array(v.astype(np.int32), pa.int32())
        else:
            v = v.astype(np.float64)
            arrays[name] = pa.array(v, pa.float64(), mask=~np.isfinite(v))
    names = list(per_model)
    oriented = np.stack([per_model[m] * orient for m in names], 1) if names else np.zeros((len(orient), 0))
    arrays["model_margins"] = pa.array(
        [json.dumps({m: round(float(x), 6) for m, x in zip(names, row, strict=True)}) for row in oriented], pa.string())
    return pa.table(arrays)
