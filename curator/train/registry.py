"""The model registry and re-scoring: close the loop curate -> train -> re-score -> curate.

`register_run(store, run_dir)` records a finished run's model in the store's ``models`` table
(`curator.jobs.sync` calls it when a training job ends well).
`submit_rescore(store, model_id, dataset)` queues a signals job whose worker scores every pair with a
registered reward model (the embedded head, or a TRL sequence-classification model through
`curator.signals.reward.RewardScorer`, which tokenizes as the reward trainer did) and whose result
loads as a new signal run (columns: `curator.train.rescore`); `rescore` does the same and waits.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from curator.errors import CuratorError
from curator.train.config import config_from_dict
from curator.train.rescore import COMPUTE, DEFAULT_FLIP_RATE, SCORABLE, STAGES, RescoreConfig

if TYPE_CHECKING:
    from curator.jobs import JobHandle
    from curator.store import Store
    from curator.store.curate import ModelRecord

logger = logging.getLogger(__name__)


class RegistryError(CuratorError):
    """A run cannot be registered, or a model cannot re-score."""


def register_run(store: Store, run_dir: str | Path, *, model_id: str | None = None) -> ModelRecord:
    """Register a finished run's model (its id defaults to the run id); returns the registry row."""
    run_dir = Path(run_dir).resolve()
    try:
        meta = json.loads((run_dir / "meta.json").read_text())
    except (OSError, json.JSONDecodeError):
        raise RegistryError(f"{run_dir} is not a training run folder (no readable meta.json).") from None
    if not (run_dir / "done.json").exists():
        raise RegistryError(f"Run {meta.get('run_id')} has not finished (no done.json); only finished runs are "
                            "registered.")
    final = json.loads((run_dir / "done.json").read_text())
    cfg = config_from_dict(json.loads((run_dir / "config.json").read_text()))
    model_id = model_id or str(meta["run_id"])
    if store.model(model_id) is not None:
        raise RegistryError(f"Model {model_id!r} is registered already.")
    base = getattr(cfg, "base_model", None) or getattr(cfg, "embedder", None)
    store.register_model(model_id=model_id, kind=cfg.method, path=str(run_dir / "model"), base_model=base,
                         export_id=meta.get("export_id"), run_dir=str(run_dir), config=cfg.to_dict(), metrics=final)
    return store.model(model_id)


def rescore_config(model: ModelRecord, *, flip_rate: float = DEFAULT_FLIP_RATE,
                   cache_dir: str | None = None) -> RescoreConfig:
    """The job config that re-scores with a registered model; it names the model's training split, whose
    pairs the re-score keeps in-sample."""
    if model.kind not in SCORABLE:
        raise RegistryError(f"Model {model.model_id!r} is a {model.kind!r} model; only {SCORABLE} models re-score "
                            f"pairs.")
    return RescoreConfig(model_id=model.model_id, kind=model.kind, path=model.path,
                         max_length=int(model.config.get("max_length", 2048)), flip_rate=flip_rate,
                         trained_on=_training_split(model), cache_dir=cache_dir)


def _training_split(model: ModelRecord) -> str | None:
    split = Path(str(model.config.get("data") or "")) / "train.parquet"
    if model.config.get("data") and split.is_file():
        return str(split.resolve())
    logger.warning("model %s: its training split %s is gone; its re-scores give no probabilities", model.model_id,
                   split)
    return None


def submit_rescore(store: Store, model_id: str, dataset: str, *, flip_rate: float = DEFAULT_FLIP_RATE,
                   cache_dir: str | None = None, runs_dir: str | Path | None = None) -> JobHandle:
    """Queue a job that scores every pair of `dataset` with a registered model (a worker process does it).

    The result becomes a signal run when `curator.jobs.sync` sees the job finish; the same model,
    data and threshold again gives back the existing run (``handle.cached``).
    """
    from curator import jobs

    model = store.model(model_id)
    if model is None:
        known = [m.model_id for m in store.models()]
        raise RegistryError(f"No registered model {model_id!r}; registered: {known or 'none'}.")
    if dataset not in {d.name for d in store.datasets()}:
        raise RegistryError(f"No dataset {dataset!r} to re-score.")
    cfg = rescore_config(model, flip_rate=flip_rate, cache_dir=cache_dir)
    return jobs.submit_signals(store, dataset, cfg, runs_dir=runs_dir, compute=COMPUTE, stages=STAGES)


def rescore(store: Store, model_id: str, dataset: str, *, flip_rate: float = DEFAULT_FLIP_RATE, cache_dir: str | None = None,
            runs_dir: str | Path | None = None, timeout: float | None = None) -> str:
    """Re-score `dataset` with a registered model as a job, wait for it, and return the new signal run's id."""
    from curator import jobs

    handle = submit_rescore(store, model_id, dataset, flip_rate=flip_rate, cache_dir=cache_dir, runs_dir=runs_dir)
    if handle.cached:
        return str(handle.run_id)
    job = jobs.wait(store, str(handle.job_id), timeout=timeout)
    if job.status != "done" or not job.run_id:
        raise RegistryError(f"Re-scoring job {job.job_id} {job.status}: {job.error or 'no result'}")
    logger.info("re-scored %s with %s as signal run %s", dataset, model_id, job.run_id)
    return job.run_id
