"""Re-scoring with a registered reward model, as a signals job that runs in a worker process.

`RescoreConfig` is what the job carries (the model's kind and path, not a store row), and
`compute_rescore` is the worker's compute entry point (`curator.jobs.worker`): it scores every
pair and returns the signal table the store loads as a new run. No feature stages run first
(`no_stages`). This module never imports the store, so it runs in the worker as is.

``margin`` = r(labelled chosen) - r(labelled rejected) (r(a) - r(b) for unlabelled pairs), higher =
the model agrees more strongly with the label; ``p_correct`` = sigmoid(margin); ``flag_flipped`` =
p_correct < ``flip_below``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pyarrow as pa
from scipy.special import expit

COMPUTE = "rescore.compute"
STAGES = "rescore.stages"
SCORABLE = ("embedded", "reward")  # DPO policies have no reward head (their implicit reward needs the reference)
# Bump when the same model and data would score differently (the cache key changes with it).
RESCORE_VERSION = 1


@dataclass(frozen=True)
class RescoreConfig:
    """A registered model to score a dataset with; `to_dict`/`cache_key` make it a job config."""

    model_id: str
    kind: str
    path: str
    max_length: int = 2048
    flip_below: float = 0.2
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


def rescore_table(cfg: RescoreConfig, pairs: pa.Table) -> pa.Table:
    """The signal columns of a re-score run for `pairs` (pair_id, prompt, response_a/b, label)."""
    ab = score_margins(cfg, pairs.column("prompt").to_pylist(), pairs.column("response_a").to_pylist(),
                       pairs.column("response_b").to_pylist())
    flip = np.array([lab == "b" for lab in pairs.column("label").to_pylist()], dtype=bool)
    margin = np.where(flip, -ab, ab)
    p_correct = expit(margin)
    return pa.table({
        "pair_id": pairs.column("pair_id"),
        "margin": pa.array(margin, pa.float64()),
        "p_correct": pa.array(p_correct, pa.float64()),
        "flag_flipped": pa.array(p_correct < cfg.flip_below, pa.bool_()),
        "model_margins": pa.array([json.dumps({cfg.model_id: float(m)}) for m in margin], pa.string()),
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
