"""The signals backend: per-pair reward margins, uncertainty, noise flags and clusters.

Arrays/Arrow in, arrays/Arrow out. Imports no duckdb and no streamlit and does no database I/O, so
it runs in a worker process, on a bare GPU machine, or under Ray. Heavy dependencies (torch,
sentence-transformers, cleanlab, umap) are imported inside the functions that need them.

Public surface:

- `SignalConfig`: every knob of a signals run (round-trips through a dict; `cache_key`).
- `ScorerConfig` (``SignalConfig.scorer``): how reward models run (dtype, attention, batching,
  prompt sharing, devices); `curator.signals.scoring`.
- `compute_signals(pairs, cfg, *, features=None, on_progress=None, should_stop=None) -> SignalResult`.
- `SignalResult`: ``signals`` (pair_id + `curator.schema.SIGNAL_COLUMNS` + ``model_margins``),
  ``clusters`` (cluster, name, size, terms) and ``models``.
- `Cancelled`: raised when ``should_stop()`` says so.
- Modules: `bt` (Bradley-Terry heads), `uncertainty`, `noise`, `clusters`, `pipeline`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

import pyarrow as pa

from curator.config import Config
from curator.signals.scoring import ScorerConfig

# Bump when the same config would produce different numbers (new features, new defaults).
SIGNALS_VERSION = 3  # 2: near-duplicate vectors centred; 3: uncertainty heads on <= 10k pairs per fold


@dataclass(frozen=True)
class SignalConfig(Config):
    """Parameters of a signals run.

    > Parameters that control the models

    embedder (`str`, defaults to `"default"`): embedding model (`curator.signals.embed.EmbeddingScorer`).
    rewards (`tuple[str, ...]`, defaults to `()`): HF sequence-classification reward models joining the ensemble.
    device (`str` or `None`, defaults to `None`): torch device for the embedder and reward models.
    scorer (`ScorerConfig`): how reward models run (dtype, attention, batching, share_prompt, devices).

    > Parameters that control the reward ensemble and uncertainty

    n_folds, n_heads, mc_samples, variance_head, seed.

    > Parameters that control clusters, the map and duplicates

    n_clusters, map_sample, near_dup_threshold.

    > Parameters that control the flags

    flip_rate.

    > Parameters that control the features

    features.

    Each field's `help` metadata is its one description.

    >>> cfg = SignalConfig(n_folds=3)
    >>> SignalConfig.from_dict(cfg.to_dict()) == cfg
    True
    """

    # Parameters that control the models
    embedder: str = field(default="default", metadata={
        "help": "Embedding model: 'default' (on a CPU the static model distilled from the bundled all-MiniLM-L6-v2, "
                "'minilm-m2v'; on a GPU the MiniLM transformer), 'minilm', 'minilm-int8', 'minilm-m2v', or a "
                "sentence-transformers path or hub id.", "label": "Embedding model"})
    rewards: tuple[str, ...] = field(default=(), metadata={
        "help": "Hugging Face sequence-classification reward models (local paths or hub ids) whose margins join the "
                "embedded Bradley-Terry ensemble, each rescaled by an out-of-fold temperature.", "aliases": ("--reward",),
        "label": "Reward models (optional)"})
    device: str | None = field(default=None, metadata={
        "help": "Torch device for embedder and reward models ('cpu', 'cuda', 'cuda:1'); None picks CUDA when available."})
    scorer: ScorerConfig = field(default_factory=ScorerConfig, metadata={
        "help": "How reward models run: dtype, attention kernel, token budget, max length, batch size, prompt "
                "sharing and devices (`curator.signals.scoring.ScorerConfig`; a dict of its fields works too)."})
    # Parameters that control the reward ensemble and uncertainty
    n_folds: int = field(default=5, metadata={
        "help": "Cross-fitting folds: a labelled pair's margin comes only from heads trained without it.", "min": 2,
        "max": 20, "aliases": ("--folds",), "label": "Folds"})
    n_heads: int = field(default=8, metadata={"help": "Bootstrap Bradley-Terry heads trained per fold."})
    mc_samples: int = field(default=20, metadata={"help": "MC-dropout passes of the MLP head for BALD.",
                                                  "label": "MC-dropout passes"})
    variance_head: bool = field(default=True, metadata={
        "help": "Fit the variance-aware (Thurstonian) Gaussian head for var_margin and var_sigma."})
    seed: int = field(default=0, metadata={"help": "Seed of folds, bootstraps, dropout, k-means and the map."})
    # Parameters that control clusters, the map and duplicates
    n_clusters: int | None = field(default=None, metadata={
        "help": "k-means clusters of prompt embeddings; None means round(sqrt(N/2)) clipped to [8, 100]."})
    map_sample: int = field(default=200_000, metadata={
        "help": "Most pairs the 2-D UMAP map is fitted on; the others are placed by their nearest sampled pairs."})
    near_dup_threshold: float = field(default=0.97, metadata={
        "help": "Cosine of (prompt, responses) pair embeddings at or above which two pairs are near-duplicates."})
    # Parameters that control the flags
    flip_rate: float = field(default=0.15, metadata={
        "help": "Assumed share of labels flipped by mistake, independently of the content (0 < rate < 0.5). "
                "'Likely flipped' flags the pairs whose probability of such a mistake makes the flag at least 50% "
                "precise; a higher rate flags more."})
    # Parameters that control the features
    features: bool = field(default=False, metadata={
        "help": "Also compute the interpretable preference features (WIMHF: sparse autoencoder on the job's "
                "embeddings, length-controlled label model) and store them as a feature run for the Features page.",
        "label": "Also compute preference features"})

    def __post_init__(self) -> None:
        if isinstance(self.scorer, dict):
            object.__setattr__(self, "scorer", ScorerConfig.from_dict(self.scorer))
        elif not isinstance(self.scorer, ScorerConfig):
            raise TypeError(f"`scorer` must be a ScorerConfig or a dict of its fields, got {type(self.scorer).__name__}.")
        if isinstance(self.rewards, str | list):
            object.__setattr__(self, "rewards", (self.rewards,) if isinstance(self.rewards, str) else
                               tuple(self.rewards))
        if self.n_folds < 2:
            raise ValueError(f"`n_folds` must be at least 2 (cross-fitting needs a held-out fold), got {self.n_folds}.")
        for name in ("n_heads", "mc_samples", "map_sample"):
            if getattr(self, name) < 1:
                raise ValueError(f"`{name}` must be at least 1, got {getattr(self, name)}.")
        if self.n_clusters is not None and self.n_clusters < 1:
            raise ValueError(f"`n_clusters` must be at least 1 or None, got {self.n_clusters}.")
        if not 0.0 < self.near_dup_threshold <= 1.0:
            raise ValueError(f"`near_dup_threshold` must be in (0, 1], got {self.near_dup_threshold}.")
        if not 0.0 < self.flip_rate < 0.5:
            raise ValueError(f"`flip_rate` must be in (0, 0.5), got {self.flip_rate}.")
        if len(set(self.rewards)) != len(self.rewards):
            raise ValueError(f"`rewards` lists a model twice: {list(self.rewards)}.")

    def cache_key(self, dataset_version: int, dataset: str) -> str:
        """Stable hash of (dataset, version, every field that changes the numbers, algorithm version).

        Left out: `device`, and the scorer's speed knobs (`curator.signals.scoring.RUNTIME_FIELDS`); the
        scorer's other fields count only when reward models are set.

        >>> SignalConfig().cache_key(1, "hh") == SignalConfig(device="cpu").cache_key(1, "hh")
        True
        >>> SignalConfig().cache_key(1, "hh") == SignalConfig().cache_key(2, "hh")
        False
        """
        params = {k: v for k, v in self.to_dict().items() if k not in ("device", "scorer")}  # same on any device
        if not self.features:
            params.pop("features")  # keys of runs without features stay what they were
        if self.rewards:
            params["scorer"] = self.scorer.cache_params()
        from curator.signals.embed import DEFAULT_EMBED_MODEL, resolve_embed_model

        resolved = resolve_embed_model(self.embedder, self.device)
        if self.embedder == "default" and resolved != DEFAULT_EMBED_MODEL:  # "default" is MiniLM on a GPU
            params["embedder"] = resolved
        blob = json.dumps({"dataset": dataset, "version": int(dataset_version), "params": params,
                           "signals_version": SIGNALS_VERSION}, sort_keys=True)
        return hashlib.blake2b(blob.encode(), digest_size=12).hexdigest()


@dataclass(frozen=True)
class SignalResult:
    """What `compute_signals` returns.

    Attributes:
        signals: ``pair_id`` + `curator.schema.SIGNAL_COLUMNS` + ``model_margins`` (JSON text
            ``{model: margin}``, label-oriented log-odds), one row per input pair, input order.
        clusters: ``cluster`` int32, ``name`` str, ``size`` int32, ``terms`` (JSON text list).
        models: the ensemble's models (``embedded-bt`` first, then ``cfg.rewards``).
    """

    signals: pa.Table
    clusters: pa.Table
    models: list[str]


from curator.signals.pipeline import Cancelled, compute_signals  # noqa: E402 (needs SignalConfig defined first)

__all__ = ["SIGNALS_VERSION", "Cancelled", "ScorerConfig", "SignalConfig", "SignalResult", "compute_signals"]
