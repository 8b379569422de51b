"""The features post-step of a signals job (``SignalConfig.features``): WIMHF features from the
job's own embeddings, stored as a feature run beside the signal run.

Three parts, one per process:

- `export_judgements` (app, at submit): ``judgements.parquet`` in the work dir, the per-source and
  per-annotator label groups the feature weights need (the worker never opens the store).
- `compute_in_worker` (worker, after the compute function): `curator.features.features_for_pairs`
  on the embed stage's ``emb_a`` / ``emb_b`` / ``emb_prompt`` and the run's clusters, written as
  ``feature_*.parquet`` + ``feature_run.json``; a dataset the features cannot be computed for
  (too few labels) records why and the signals still load.
- `load_into_store` (app, when the job is done): `Store.save_feature_run` under the same cache key
  `curator.features.run_features` uses for this embedder and seed, so the Features page finds it
  and an on-demand compute with those settings answers from it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from curator.errors import StoreError
from curator.jobs.workdir import WorkDir

if TYPE_CHECKING:
    from curator.signals.features import FeatureConfig
    from curator.store import Job, Store

logger = logging.getLogger(__name__)

JUDGEMENTS = "judgements.parquet"
FEATURE_RUN = "feature_run.json"  # params and summary, or {"error": ...}
FEATURE_LATENTS, FEATURE_ACTIVATIONS, FEATURE_WEIGHTS = (
    "feature_latents.parquet", "feature_activations.parquet", "feature_weights.parquet")


def wanted(config: dict[str, Any]) -> bool:
    """Whether a `SignalConfig.to_dict()` asks for features."""
    return bool(config.get("features"))


def feature_config(config: dict[str, Any]) -> FeatureConfig:
    """The `FeatureConfig` of a signals config: its embedder, seed and device, defaults otherwise."""
    from curator.signals.features import FeatureConfig

    return FeatureConfig(embedder=config.get("embedder") or "default", seed=int(config.get("seed") or 0),
                         device=config.get("device"))


def export_judgements(store: Store, dataset: str, wd: WorkDir) -> None:
    """Write the dataset's current judgements for the worker (app side, at submit)."""
    table = store.latest_judgements(dataset=dataset).select(["pair_id", "kind", "annotator", "choice"])
    _write_parquet(table, wd.file(JUDGEMENTS))


def compute_in_worker(wd: WorkDir, pairs: pa.Table, config: dict[str, Any], features: dict[str, np.ndarray],
                      signals: pa.Table, clusters: pa.Table | None,
                      on_progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Compute the features of a finished signals compute and write them to the work dir.

    Returns what ``done.json`` records: ``{"features": summary}`` or ``{"features_error": why}``.
    """
    from curator.features import features_for_pairs, result_tables

    cfg = feature_config(config)
    path = wd.file(JUDGEMENTS)
    judgements = pq.read_table(path) if path.exists() else None
    emb = {k: features[k] for k in ("emb_a", "emb_b", "emb_prompt")} if "emb_a" in features else None
    cluster_ids = names = None
    if "cluster" in signals.column_names and signals.column("cluster").null_count == 0:
        by_id = dict(zip(signals.column("pair_id").to_pylist(), signals.column("cluster").to_pylist(), strict=True))
        cluster_ids = np.array([by_id[p] for p in pairs.column("pair_id").to_pylist()])
        if clusters is not None:
            names = dict(zip(clusters.column("cluster").to_pylist(), clusters.column("name").to_pylist(), strict=True))
    try:
        result = features_for_pairs(pairs, cfg, judgements=judgements, embeddings=emb, clusters=cluster_ids,
                                    cluster_names=names, on_progress=on_progress)
    except ValueError as e:  # e.g. too few labelled pairs: the signals stand on their own
        logger.warning("features not computed: %s", e)
        wd.write_json(FEATURE_RUN, {"error": str(e)})
        return {"features_error": str(e)}
    latents, acts = result_tables(result, pairs.column("pair_id").to_pylist())
    for table, name in ((latents, FEATURE_LATENTS), (acts, FEATURE_ACTIVATIONS), (result.weights, FEATURE_WEIGHTS)):
        _write_parquet(table, wd.file(name))
    wd.write_json(FEATURE_RUN, {"params": cfg.to_dict(), "summary": result.summary})
    return {"features": result.summary}


def load_into_store(store: Store, job: Job, wd: WorkDir) -> dict[str, Any]:
    """Store the worker's feature run (app side, after the signal run loaded).

    Returns what the job's result records: ``{"feature_run": id}`` (``feature_run_cached`` when
    that key was stored already), ``{"features_error": why}``, or ``{}`` without features.
    """
    from curator.signals.features import FeatureConfig

    spec = wd.read_json(FEATURE_RUN)
    if spec is None:
        return {}
    if "error" in spec:
        return {"features_error": str(spec["error"])}
    dataset, version = job.dataset or "", int(job.params.get("dataset_version", 0))
    params = spec["params"]
    key = FeatureConfig.from_dict(params).cache_key(version, dataset)
    found = store.find_feature_run(key)
    if found is not None:
        return {"feature_run": found.run_id, "feature_run_cached": True}
    run_id = f"feat-{job.job_id}"
    try:
        store.save_feature_run(run_id=run_id, dataset=dataset, dataset_version=version, cache_key=key, params=params,
                               summary=spec["summary"], latents=pq.read_table(wd.file(FEATURE_LATENTS)),
                               activations=pq.read_table(wd.file(FEATURE_ACTIVATIONS)),
                               weights=pq.read_table(wd.file(FEATURE_WEIGHTS)))
    except (ValueError, OSError, StoreError) as e:
        logger.warning("job %s: its features could not be stored: %s", job.job_id, e)
        return {"features_error": f"could not be stored: {e}"}
    logger.info("job %s: stored feature run %s", job.job_id, run_id)
    return {"feature_run": run_id}


def _write_parquet(table: pa.Table, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)
