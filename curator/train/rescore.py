"""Re-scoring with a registered reward model, as a signals job that runs in a worker process.

`RescoreConfig` is what the job carries (the model's kind and path, not a store row), and
`compute_rescore` is the worker's compute entry point (`curator.jobs.worker`): it scores every
pair and returns the signal table the store loads as a new run. No feature stages run first
(`no_stages`). This module never imports the store, so it runs in the worker as is.

A model re-scoring the data it was trained on knows those labels by heart, so its verdicts there are
in-sample. `calibrate` keeps the two apart: the pairs of the model's training split (``trained_on``)
get a margin but no ``p_correct`` and are never flagged; the model's raw scale (a TRL reward head
reads +-20) is mapped onto calibrated log-odds by a temperature fitted out of fold on the labelled
pairs it never saw, and "likely flipped" is the same calibrated flag a signals run has
(`curator.signals.noise.flip_flag` at the assumed ``flip_rate``), over those pairs only.

``margin`` = (r(labelled chosen) - r(labelled rejected)) / T (r(a) - r(b) for unlabelled pairs),
higher = the model agrees more strongly with the label; ``p_correct`` = sigmoid(margin) where it is
out of sample and T was fitted (at least `MIN_HELD_OUT` held-out labelled pairs), else NULL.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from scipy.special import expit

from curator.signals import SignalConfig, bt, noise

COMPUTE = "rescore.compute"
STAGES = "rescore.stages"
SCORABLE = ("embedded", "reward")  # DPO policies have no reward head (their implicit reward needs the reference)
# Bump when the same model and data would score differently (the cache key changes with it).
RESCORE_VERSION = 2
MIN_HELD_OUT = 30  # labelled pairs the model did not train on, to fit its temperature
TEMPERATURE_FOLDS = 5
DEFAULT_FLIP_RATE = next(f.default for f in fields(SignalConfig) if f.name == "flip_rate")


@dataclass(frozen=True)
class RescoreConfig:
    """A registered model to score a dataset with; `to_dict`/`cache_key` make it a job config."""

    model_id: str
    kind: str
    path: str
    max_length: int = 2048
    flip_rate: float = DEFAULT_FLIP_RATE
    trained_on: str | None = None  # the model's training split (an export's train.parquet); None = unknown
    cache_dir: str | None = None  # where the embedded model's embedder builds derived models

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def cache_key(self, dataset_version: int, dataset: str) -> str:
        """Same model, data and threshold -> same key, so a repeated re-score computes nothing.

        >>> cfg = RescoreConfig("m1", "embedded", "/runs/m1/model")
        >>> cfg.cache_key(1, "hh") == RescoreConfig("m1", "embedded", "/runs/m1/model", cache_dir="/x").cache_key(1, "hh")
        True
        >>> cfg.cache_key(1, "hh") == cfg.cache_key(2, "hh")
        False
        """
        params = {k: v for k, v in self.to_dict().items() if k != "cache_dir"}
        text = json.dumps({"rescore": RESCORE_VERSION, "dataset": dataset, "version": dataset_version, **params},
                          sort_keys=True)
        return "rescore-" + hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


@dataclass(frozen=True)
class RescoreResult:
    """The shape `curator.jobs.worker` expects from a compute function."""

    signals: pa.Table
    clusters: pa.Table | None
    models: list[str]


def score_margins(cfg: RescoreConfig, prompts: Sequence[str], first: Sequence[str],
                  second: Sequence[str]) -> np.ndarray:
    """(N,) r(prompt, first) - r(prompt, second) under the model `cfg` names."""
    if cfg.kind not in SCORABLE:
        raise ValueError(f"Model {cfg.model_id!r} is a {cfg.kind!r} model; only {SCORABLE} models re-score pairs.")
    if cfg.kind == "embedded":
        from curator.train.embedded import EmbeddedRewardModel

        return EmbeddedRewardModel.load(cfg.path, cache_dir=cfg.cache_dir).margins(prompts, first, second)
    from curator.signals.reward import RewardScorer

    scorer = RewardScorer(cfg.path, max_length=max(int(cfg.max_length), 2))
    try:
        out = scorer({"prompt": list(prompts), "response_a": list(first), "response_b": list(second)})
    finally:
        scorer.close()
    return np.asarray(out["reward_a"], dtype=np.float64) - np.asarray(out["reward_b"], dtype=np.float64)


@dataclass(frozen=True)
class Calibrated:
    """`calibrate`'s result, one entry per pair."""

    margin: np.ndarray  # toward the label (toward a when unlabelled), in calibrated log-odds when fitted
    p_correct: np.ndarray  # NaN where in-sample, or where no temperature could be fitted
    flag: np.ndarray  # the calibrated "likely flipped" flag, over held-out labelled pairs only
    fitted: bool


def calibrate(ab: np.ndarray, sign: np.ndarray, trained: np.ndarray | None, *, flip_rate: float,
              seed: int = 0) -> Calibrated:
    """A model's margins on a dataset, scaled and flagged out of sample.

    Args:
        ab: (N,) r(a) - r(b) on the model's own scale.
        sign: (N,) +1 / -1 / 0 (label a / b / none).
        trained: (N,) whether the model trained on the pair; None when unknown (then nothing is
            out of sample for sure, so no probability is given).
        flip_rate: the assumed share of flipped labels behind the flag (`curator.signals.noise`).

    >>> rng = np.random.default_rng(0); logit = rng.normal(size=600) * 2
    >>> sign = np.where(rng.random(600) < expit(logit), 1, -1)
    >>> out = calibrate(20 * logit, sign, np.arange(600) < 100, flip_rate=0.15)
    >>> out.fitted, bool(np.isnan(out.p_correct[:100]).all()), bool(out.flag[:100].any())
    (True, True, False)
    >>> round(float(np.median(np.abs(out.margin[100:] / (sign[100:] * logit[100:])))))
    1
    """
    ab, sign = np.asarray(ab, np.float64), np.asarray(sign, np.int8)
    toward_label = np.where(sign < 0, -ab, ab)
    if trained is None:
        trained = np.ones(len(ab), dtype=bool)
    held = (sign != 0) & ~np.asarray(trained, dtype=bool)
    nothing = np.zeros(len(ab), dtype=bool)
    if held.sum() < MIN_HELD_OUT:
        return Calibrated(toward_label, np.full(len(ab), np.nan), nothing, fitted=False)
    fold = np.full(len(ab), -1)
    fold[held] = np.random.default_rng(seed).permutation(int(held.sum())) % TEMPERATURE_FOLDS
    temps = bt.cross_fit_temperature(ab, np.where(held, sign, 0), fold)
    margin = toward_label / temps
    p_correct = np.where(np.asarray(trained, dtype=bool) & (sign != 0), np.nan, expit(margin))
    flag = nothing.copy()
    flag[held] = noise.flip_flag(noise.mislabel_probability(p_correct[held], flip_rate))[0]
    return Calibrated(margin, p_correct, flag, fitted=True)


def trained_pair_ids(path: str | None) -> set[str] | None:
    """The pair ids of a model's training split, or None when that split is not at `path` any more."""
    if not path or not Path(path).is_file():
        return None
    return set(pq.read_table(path, columns=["pair_id"]).column("pair_id").to_pylist())


def rescore_table(cfg: RescoreConfig, pairs: pa.Table) -> pa.Table:
    """The signal columns of a re-score run for `pairs` (pair_id, prompt, response_a/b, label)."""
    ab = score_margins(cfg, pairs.column("prompt").to_pylist(), pairs.column("response_a").to_pylist(),
                       pairs.column("response_b").to_pylist())
    labels = pairs.column("label").to_pylist()
    sign = np.array([1 if lab == "a" else -1 if lab == "b" else 0 for lab in labels], dtype=np.int8)
    known = trained_pair_ids(cfg.trained_on)
    trained = None if known is None else np.array([p in known for p in pairs.column("pair_id").to_pylist()], bool)
    out = calibrate(ab, sign, trained, flip_rate=cfg.flip_rate)
    return pa.table({
        "pair_id": pairs.column("pair_id"),
        "margin": pa.array(out.margin, pa.float64()),
        "p_correct": pa.array(out.p_correct, pa.float64(), from_pandas=True),  # NaN -> NULL
        "flag_flipped": pa.array(out.flag, pa.bool_()),
        "model_margins": pa.array([json.dumps({cfg.model_id: float(m)}) for m in out.margin], pa.string()),
    })


def no_stages(config: dict[str, Any]) -> list:
    """A re-score job has no feature stages: the model reads the text itself."""
    return []


def compute_rescore(pairs: pa.Table, config: dict[str, Any], *, features: dict[str, np.ndarray],
                    on_progress: Callable[[str, float], None], should_stop: Callable[[], bool]) -> RescoreResult:
    """The worker's compute entry point for a re-score job."""
    cfg = RescoreConfig(**config)
    on_progress(f"scoring {pairs.num_rows:,} pairs with {cfg.model_id}", 0.0)
    table = rescore_table(cfg, pairs)
    on_progress("scored", 1.0)
    return RescoreResult(signals=table, clusters=None, models=[cfg.model_id])
