"""Fast, deterministic stand-ins for the signals backend, for tests of the queue, worker and engines.

`HashScorer` follows the scorer protocol (``__init__(**kwargs)``, ``__call__(batch) -> dict``) and
maps texts to vectors by hashing, so the local and Ray engines must give identical features.
`StandinConfig` + `standin_stages` + `standin_compute` replace `SignalConfig`, the real stages and
`curator.signals.compute_signals` in a job: ``submit_signals(..., stages=STANDIN_STAGES,
compute=STANDIN_COMPUTE)``. They live in the package (not under tests/) because worker
subprocesses and Ray actors must import them by name.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from curator.jobs.engines import Stage

STANDIN_STAGES = "curator.jobs.testing:standin_stages"
STANDIN_COMPUTE = "curator.jobs.testing:standin_compute"


def _vector(text: str, dim: int) -> np.ndarray:
    digest = hashlib.blake2b(str(text).encode("utf-8", "surrogatepass"), digest_size=dim).digest()
    v = np.frombuffer(digest, dtype=np.uint8).astype(np.float32) / 255.0 - 0.5
    return v / (np.linalg.norm(v) + 1e-9)


class HashScorer:
    """Deterministic 'embeddings' of prompt, response_a and response_b.

    Args:
        dim: vector size (at most 64).
        delay: seconds to sleep per batch (lets tests cancel or kill mid-stage).
        calls_file: if set, every call appends its row count to this file.
    """

    def __init__(self, dim: int = 8, delay: float = 0.0, calls_file: str | None = None):
        self.dim = dim
        self.delay = delay
        self.calls_file = calls_file

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        rows = len(batch["prompt"])
        if self.delay:
            time.sleep(self.delay)
        if self.calls_file:
            with open(self.calls_file, "a") as f:
                f.write(f"{rows}\n")
        return {out: np.stack([_vector(t, self.dim) for t in batch[col]]) if rows else np.zeros((0, self.dim))
                for out, col in (("emb_prompt", "prompt"), ("emb_a", "response_a"), ("emb_b", "response_b"))}


@dataclass(frozen=True)
class StandinConfig:
    """Duck-types `curator.signals.SignalConfig` (``to_dict``, ``from_dict``, ``cache_key``)."""

    dim: int = 8
    seed: int = 0
    embed_delay: float = 0.0
    compute_delay: float = 0.0
    compute_steps: int = 4
    fail_in_compute: bool = False
    calls_file: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> StandinConfig:
        return cls(**d)

    def cache_key(self, dataset_version: int, dataset: str) -> str:
        # Delays and the calls file change how a run behaves, not what it computes.
        what = {"dim": self.dim, "seed": self.seed, "extra": self.extra, "fail": self.fail_in_compute}
        blob = json.dumps([dataset, dataset_version, what], sort_keys=True).encode()
        return "standin-" + hashlib.blake2b(blob, digest_size=8).hexdigest()


def standin_stages(config: dict[str, Any]) -> list[Stage]:
    kwargs = {"dim": config.get("dim", 8), "delay": config.get("embed_delay", 0.0),
              "calls_file": config.get("calls_file")}
    return [Stage("embed", "curator.jobs.testing:HashScorer", kwargs,
                  {"emb_prompt": "emb_prompt", "emb_a": "emb_a", "emb_b": "emb_b"})]


@dataclass(frozen=True)
class StandinResult:
    signals: pa.Table
    clusters: pa.Table
    models: list[str]


def standin_compute(pairs: pa.Table, config: dict[str, Any], *, features: dict[str, np.ndarray],
                    on_progress: Callable[[str, float], None], should_stop: Callable[[], bool]) -> StandinResult:
    """Margins, flags, two clusters and a 2-D map from the hash features; sleeps `compute_delay`."""
    steps = max(1, int(config.get("compute_steps", 4)))
    for i in range(steps):
        if should_stop():
            raise InterruptedError("stand-in compute cancelled")
        on_progress("compute", i / steps)
        time.sleep(float(config.get("compute_delay", 0.0)) / steps)
    if config.get("fail_in_compute"):
        raise RuntimeError("stand-in compute failed on purpose")
    diff = features["emb_a"] - features["emb_b"]
    margin = diff[:, 0] * 4.0
    labels = np.array(pairs.column("label").to_pylist(), dtype=object)
    margin = np.where(labels == "b", -margin, margin)
    cluster = (features["emb_prompt"][:, 0] > 0).astype(np.int32)
    signals = pa.table({
        "pair_id": pairs.column("pair_id"),
        "margin": margin.astype(np.float64),
        "margin_std": np.abs(diff[:, 1]).astype(np.float64),
        "p_correct": (1 / (1 + np.exp(-margin))).astype(np.float64),
        "issue_score": (1 / (1 + np.exp(margin))).astype(np.float64),
        "cluster": cluster,
        "map_x": features["emb_prompt"][:, 0].astype(np.float64),
        "map_y": features["emb_prompt"][:, 1].astype(np.float64),
        "flag_flipped": margin < -0.5,
        "flag_ambiguous": np.abs(margin) < 0.1,
        "model_margins": [json.dumps({"hash": float(m)}) for m in margin],
    })
    sizes = np.bincount(cluster, minlength=2)
    clusters = pa.table({"cluster": pa.array([0, 1], pa.int32()), "name": ["low", "high"],
                         "size": pa.array(sizes.tolist(), pa.int32()),
                         "terms": [json.dumps(["low"]), json.dumps(["high"])]})
    on_progress("compute", 1.0)
    return StandinResult(signals, clusters, ["hash"])
