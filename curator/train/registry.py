"""The model registry and re-scoring: close the loop curate -> train -> re-score -> curate.

`register_run(store, run_dir)` records a finished run's model in the store's ``models`` table.
`rescore(store, model_id, dataset)` scores every pair of a dataset with a registered reward model
(the embedded head, or a TRL sequence-classification model through `curator.signals.reward.RewardScorer`,
which tokenizes as the reward trainer did: text pairs for encoders, chat template or prompt + response
otherwise) and loads the margins as a new signal run:
``margin`` = r(labelled chosen) - r(labelled rejected) (r(a) - r(b) for unlabelled pairs), higher =
the model agrees more strongly with the label; ``p_correct`` = sigmoid(margin); ``flag_flipped`` =
p_correct < `flip_below`. Scoring itself (`score_pairs`) is pure and never touches the store.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from curator.errors import CuratorError
from curator.train.launch import run_config, run_status

if TYPE_CHECKING:
    from curator.store import Store
    from curator.store.curate import ModelRecord

logger = logging.getLogger(__name__)

SCORABLE = ("embedded", "reward")  # DPO policies have no reward head (their implicit reward needs the reference)


class RegistryError(CuratorError):
    """A run cannot be registered, or a model cannot re-score."""


def register_run(store: Store, run_dir: str | Path, *, model_id: str | None = None) -> ModelRecord:
    """Register a finished run's model (its id defaults to the run id); returns the registry row."""
    info = run_status(run_dir)
    if info.status != "done":
        raise RegistryError(f"Run {info.run_id} is {info.status}, not done; only finished runs are registered.")
    cfg = run_config(run_dir)
    model_id = model_id or info.run_id
    if store.model(model_id) is not None:
        raise RegistryError(f"Model {model_id!r} is registered already.")
    base = getattr(cfg, "base_model", None) or getattr(cfg, "embedder", None)
    store.register_model(model_id=model_id, kind=cfg.method, path=str(Path(run_dir).resolve() / "model"),
                         base_model=base, export_id=info.export_id, run_dir=str(Path(run_dir).resolve()),
                         config=cfg.to_dict(), metrics=info.final)
    return store.model(model_id)


def score_pairs(model: ModelRecord, prompts: Sequence[str], first: Sequence[str], second: Sequence[str], *,
                cache_dir: str | None = None) -> np.ndarray:
    """(N,) r(prompt, first) - r(prompt, second) under a registered reward model."""
    if model.kind not in SCORABLE:
        raise RegistryError(f"Model {model.model_id!r} is a {model.kind!r} model; only {SCORABLE} models re-score "
                            f"pairs.")
    if model.kind == "embedded":
        from curator.train.embedded import EmbeddedRewardModel

        return EmbeddedRewardModel.load(model.path, cache_dir=cache_dir).margins(prompts, first, second)
    from curator.signals.reward import RewardScorer

    scorer = RewardScorer(model.path, max_length=max(int(model.config.get("max_length", 2048)), 2))
    try:
        out = scorer({"prompt": list(prompts), "response_a": list(first), "response_b": list(second)})
    finally:
        scorer.close()
    return np.asarray(out["reward_a"], dtype=np.float64) - np.asarray(out["reward_b"], dtype=np.float64)


def rescore(store: Store, model_id: str, dataset: str, *, flip_below: float = 0.2, cache_dir: str | None = None,
            run_id: str | None = None) -> str:
    """Score every pair of `dataset` with a registered model and load the result as a signal run; returns its id."""
    model = store.model(model_id)
    if model is None:
        known = [m.model_id for m in store.models()]
        raise RegistryError(f"No registered model {model_id!r}; registered: {known or 'none'}.")
    pairs = store.pairs_for_compute(dataset)
    if not pairs.num_rows:
        raise RegistryError(f"Dataset {dataset!r} has no pairs to score.")
    prompts = pairs.column("prompt").to_pylist()
    ab = score_pairs(model, prompts, pairs.column("response_a").to_pylist(), pairs.column("response_b").to_pylist(),
                     cache_dir=cache_dir)
    labels = pairs.column("label").to_pylist()
    margin = np.where(np.array([lab == "b" for lab in labels]), -ab, ab)
    p_correct = 1.0 / (1.0 + np.exp(-margin))
    version = store.dataset_version(dataset)
    key = hashlib.blake2b(f"rescore\x1f{model_id}\x1f{dataset}\x1f{version}".encode(), digest_size=8).hexdigest()
    run_id = run_id or f"rescore-{model_id}-{key[:6]}"
    table = pa.table({
        "pair_id": pairs.column("pair_id"), "margin": pa.array(margin, pa.float64()),
        "p_correct": pa.array(p_correct, pa.float64()),
        "flag_flipped": pa.array(p_correct < flip_below, pa.bool_()),
        "model_margins": pa.array([json.dumps({model_id: float(m)}) for m in margin], pa.string()),
    })
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "signals.parquet"
        pq.write_table(table, path)
        store.load_signal_run(run_id=run_id, dataset=dataset, dataset_version=version, cache_key=key,
                              models=[model_id], params={"kind": "rescore", "model_id": model_id,
                                                         "model_kind": model.kind, "flip_below": flip_below},
                              signals_path=path)
    logger.info("re-scored %d pairs of %s with %s as signal run %s", len(margin), dataset, model_id, run_id)
    return run_id
