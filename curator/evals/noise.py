"""`curator eval noise`: inject random label flips, recompute signals, score how well they find them.

Protocol (methods notes, section 11 B1): flip a seeded random fraction F of the labelled pairs
(``a`` <-> ``b``), compute the signals with the flipped labels only (the evaluator alone knows
which were flipped), then report

- ``accuracy``: share of labelled pairs whose out-of-sample margin agrees with the ORIGINAL label
  (ties count half): how good a reward the flipped labels still train;
- ``auroc`` / ``auprc``: of ``issue_score`` (higher = more likely mislabelled) for the flipped pairs;
- ``precision_at_k``: share of flipped pairs among the k highest issue scores, k = number flipped;
- ``flag_precision`` / ``flag_recall`` / ``flagged_share``: of the "likely flipped" flag the app
  shows (``flag_flipped``): share of flagged pairs that were flipped, share of flipped pairs
  flagged, share of labelled pairs flagged (with no flips, the flag's share on the data as is);
- ``flag_estimated_precision``: the precision the app states for that flag (from the signals alone);
- ``noise_rate`` / ``noise_rate_interval``: confident learning's estimated share of wrong labels;
- ``chosen_shorter`` / ``flagged_chosen_shorter``: share of pairs (of flagged pairs) whose labelled
  chosen response is the shorter one: a flag must not be a proxy for length;
- ``lc_flag_precision``, ``lc_flag_recall``, ``lc_flagged_share``, ``lc_flag_estimated_precision``,
  ``lc_flagged_chosen_shorter``: the same for the flag controlled for length (the Signals page shows
  both; `curator.signals.noise.length_controlled_flag`);
- ``n``, ``n_flipped``, ``seconds``.

`probe_baseline` is the reference line: a plain 5-fold logistic probe on embedding differences,
trained on the same flipped labels. Reads files only in `load_hh_pairs`; imports no duckdb.
"""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from curator.schema import PairRecord, compute_pair_id, prompt_text
from curator.signals import SignalConfig, compute_signals, noise

HH_ASSISTANT = "\n\nAssistant:"


def load_hh_pairs(path: str | Path, *, limit: int | None = None) -> pa.Table:
    """HH-RLHF ``{"chosen", "rejected"}`` transcripts as a pairs table (implicit prompt, label "a").

    The prompt is the chosen transcript up to its last ``"\\n\\nAssistant:"``; the responses are the
    two last assistant turns (stripped of the one leading space). Reads ``.jsonl`` or ``.jsonl.gz``.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    rows: dict[str, list[Any]] = {k: [] for k in ("pair_id", "prompt", "prompt_messages", "response_a",
                                                   "response_b", "label")}
    with opener(path, "rt", encoding="utf-8") as f:
        for i, line in enumerate(f):
            if limit is not None and i >= limit:
                break
            r = json.loads(line)
            cut_c, cut_r = r["chosen"].rfind(HH_ASSISTANT), r["rejected"].rfind(HH_ASSISTANT)
            if cut_c < 0 or cut_r < 0:
                raise ValueError(f"{path}: record {i + 1} has no {HH_ASSISTANT!r} turn in 'chosen' or 'rejected'.")
            prompt = r["chosen"][:cut_c]
            a = r["chosen"][cut_c + len(HH_ASSISTANT):].removeprefix(" ")
            b = r["rejected"][cut_r + len(HH_ASSISTANT):].removeprefix(" ")
            rows["pair_id"].append(f"{compute_pair_id(prompt, a, b)}-{i}")
            rows["prompt"].append(prompt)
            rows["prompt_messages"].append(None)
            rows["response_a"].append(a)
            rows["response_b"].append(b)
            rows["label"].append("a")
    return pa.table(rows, schema=pa.schema([(k, pa.string()) for k in rows]))


def _as_table(pairs: pa.Table | Iterable[PairRecord]) -> pa.Table:
    if isinstance(pairs, pa.Table):
        return pairs
    recs = list(pairs)
    return pa.table({
        "pair_id": [r.pair_id for r in recs], "prompt": [prompt_text(r.prompt) for r in recs],
        "prompt_messages": [None if isinstance(r.prompt, str) else json.dumps(r.prompt) for r in recs],
        "response_a": [r.response_a for r in recs], "response_b": [r.response_b for r in recs],
        "label": [r.label for r in recs]})


def flip_labels(labels: list[str | None], *, flip: float, seed: int) -> np.ndarray:
    """(N,) bool: which labelled pairs to flip, exactly ``round(flip * n_labelled)`` of them, seeded.

    >>> int(flip_labels(["a"] * 10 + [None] * 5, flip=0.2, seed=0).sum())
    2
    """
    labelled = np.flatnonzero([x is not None for x in labels])
    chosen = np.random.default_rng(seed).permutation(labelled)[:int(round(flip * len(labelled)))]
    mask = np.zeros(len(labels), bool)
    mask[chosen] = True
    return mask


def _detection(flipped: np.ndarray, score: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import average_precision_score, roc_auc_score

    if flipped.all() or not flipped.any():
        return {"auroc": float("nan"), "auprc": float("nan"), "precision_at_k": float("nan")}
    k = int(flipped.sum())
    top = np.argsort(-score, kind="stable")[:k]
    return {"auroc": float(roc_auc_score(flipped, score)), "auprc": float(average_precision_score(flipped, score)),
            "precision_at_k": float(flipped[top].mean())}


def _flag_figures(flipped: np.ndarray, flag: np.ndarray) -> dict[str, float]:
    """Precision and recall of a boolean flag for the flipped pairs, and the share flagged.

    >>> _flag_figures(np.array([True, True, False, False]), np.array([True, False, True, False]))
    {'flag_precision': 0.5, 'flag_recall': 0.5, 'flagged_share': 0.5}
    """
    flagged = int(flag.sum())
    return {"flag_precision": float(flipped[flag].mean()) if flagged else float("nan"),
            "flag_recall": float(flag[flipped].mean()) if flipped.any() else float("nan"),
            "flagged_share": float(flag.mean()) if len(flag) else float("nan")}


def _agreement(margin_original: np.ndarray) -> float:
    return float(np.mean((margin_original > 0) + 0.5 * (margin_original == 0)))


def evaluate_noise(pairs: pa.Table | Iterable[PairRecord], *, flip: float, seed: int, cfg: SignalConfig,
                   features: dict[str, np.ndarray] | None = None) -> dict[str, Any]:
    """Flip a fraction of labels, compute signals on the flipped labels, score them against the truth.

    Args:
        pairs: a pairs table (pair_id, prompt, response_a, response_b, label) or PairRecords.
        flip: fraction F of labelled pairs to flip, in [0, 1).
        seed: seed of the flips (the signals use ``cfg.seed``).
        cfg: signals config.
        features: precomputed embeddings (they do not depend on labels, so a benchmark reuses them).

    Returns:
        ``{"n", "n_flipped", "flip", "seed", "accuracy", "auroc", "auprc", "precision_at_k",
        "flag_precision", "flag_recall", "flagged_share", "flag_estimated_precision", "noise_rate",
        "noise_rate_interval", "chosen_shorter", "flagged_chosen_shorter", the same flag figures of
        `noise.length_controlled_flag` prefixed ``lc_``, "seconds"}`` over labelled pairs (AUROC
        etc. are NaN when nothing was flipped).
    """
    if not 0.0 <= flip < 1.0:
        raise ValueError(f"`flip` must be in [0, 1), got {flip}.")
    table = _as_table(pairs)
    labels = table.column("label").to_pylist()
    flipped = flip_labels(labels, flip=flip, seed=seed)
    noisy = [({"a": "b", "b": "a"}[x] if f else x) for x, f in zip(labels, flipped, strict=True)]
    noisy_table = table.set_column(table.column_names.index("label"), "label", pa.array(noisy, pa.string()))
    t0 = time.monotonic()
    result = compute_signals(noisy_table, cfg, features=features)
    seconds = time.monotonic() - t0
    labelled = np.array([x is not None for x in labels])
    margin = result.signals.column("margin").to_numpy(zero_copy_only=False)
    original = np.where(flipped, -margin, margin)[labelled]
    issue = result.signals.column("issue_score").to_numpy(zero_copy_only=False)[labelled]
    flag = np.asarray(result.signals.column("flag_flipped").fill_null(False).to_numpy(zero_copy_only=False),
                      bool)[labelled]
    p_correct = result.signals.column("p_correct").to_numpy(zero_copy_only=False)[labelled]
    _, stated = noise.flip_flag(noise.mislabel_probability(p_correct, cfg.flip_rate))
    rate, low, high = noise.noise_rate(p_correct, seed=cfg.seed)
    shorter = chosen_is_shorter(table, noisy)[labelled]
    lc_flag, lc_stated = noise.length_controlled_flag(p_correct, chosen_gap(table, noisy)[labelled],
                                                      flip_rate=cfg.flip_rate, seed=cfg.seed)
    lc = {f"lc_{k}": v for k, v in _flag_figures(flipped[labelled], lc_flag).items()}
    return {"n": int(labelled.sum()), "n_flipped": int(flipped.sum()), "flip": flip, "seed": seed,
            "accuracy": _agreement(original), **_detection(flipped[labelled], issue),
            **_flag_figures(flipped[labelled], flag), "flag_estimated_precision": stated,
            "noise_rate": rate, "noise_rate_interval": [low, high], "chosen_shorter": float(shorter.mean()),
            "flagged_chosen_shorter": float(shorter[flag].mean()) if flag.any() else float("nan"),
            **lc, "lc_flag_estimated_precision": lc_stated,
            "lc_flagged_chosen_shorter": float(shorter[lc_flag].mean()) if lc_flag.any() else float("nan"),
            "seconds": round(seconds, 2)}


def chosen_gap(table: pa.Table, labels: list[str | None]) -> np.ndarray:
    """(N,) characters of the labelled chosen response minus the rejected one's (0 when unlabelled)."""
    a = np.array([len(x or "") for x in table.column("response_a").to_pylist()])
    b = np.array([len(x or "") for x in table.column("response_b").to_pylist()])
    lab = np.array(labels, dtype=object)
    return np.where(lab == "a", a - b, np.where(lab == "b", b - a, 0))


def chosen_is_shorter(table: pa.Table, labels: list[str | None]) -> np.ndarray:
    """(N,) True where the labelled chosen response has fewer characters than the rejected one."""
    return chosen_gap(table, labels) < 0


def load_pairs(path: str | Path, *, limit: int | None = None) -> pa.Table:
    """A pairs table from any file `curator ingest` reads (HH-RLHF transcripts, prompt/chosen/rejected,
    votes, ...), the first `limit` pairs."""
    from itertools import islice

    from curator.io import read_source

    return _as_table(islice(read_source(path).records(), limit))


def probe_baseline(emb_a: np.ndarray, emb_b: np.ndarray, labels: list[str | None], *, flip: float, seed: int,
                   folds: int = 5, C: float = 1.0) -> dict[str, Any]:
    """The plain probe: 5-fold logistic regression on ``emb_a - emb_b`` trained on the flipped labels.

    Same flips as `evaluate_noise` for the same seed; detection score = minus the out-of-fold
    margin toward the (flipped) label.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import KFold

    flipped = flip_labels(labels, flip=flip, seed=seed)
    idx = np.flatnonzero([x is not None for x in labels])
    sign = np.array([1.0 if x == "a" else -1.0 for x in np.asarray(labels, object)[idx]])
    noisy = np.where(flipped[idx], -sign, sign)
    X = (np.asarray(emb_a, np.float64) - np.asarray(emb_b, np.float64))[idx]
    m = np.zeros(len(idx))
    for tr, te in KFold(folds, shuffle=True, random_state=seed).split(X):
        Z = X[tr] * noisy[tr, None]  # no intercept: (z, 1) and (-z, 0) balance the classes
        clf = LogisticRegression(C=C, fit_intercept=False, max_iter=5000).fit(np.vstack([Z, -Z]),
                                                                                np.r_[np.ones(len(tr)), np.zeros(len(tr))])
        m[te] = clf.decision_function(X[te])
    return {"n": len(idx), "flip": flip, "seed": seed, "accuracy": _agreement(m * sign),
            **_detection(flipped[idx], -m * noisy)}
