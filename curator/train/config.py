"""Training run configs: one dataclass per method. Every field's help text is its only description.

- `EmbeddedRewardRunConfig`: the embedded default, a Bradley-Terry head on frozen sentence
  embeddings; trains on a CPU in seconds (`curator.train.embedded.run`).
- `RewardRunConfig`: TRL `RewardTrainer` on any sequence-classification model (`curator.train.reward.run`).
- `DPORunConfig`: TRL `DPOTrainer` on a causal LM (`curator.train.dpo.run`).

Names do not shadow TRL's `RewardConfig`/`DPOConfig`, which the launchers build from these. Configs
round-trip through a plain dict (`to_dict`/`config_from_dict`) and are saved as ``config.json`` in
the run folder. This module imports nothing heavy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from curator.config import Config, from_dict

PRECISIONS = ("auto", "fp32", "bf16", "fp16")


@dataclass
class _RunConfig(Config):
    """Fields every method shares."""

    method: ClassVar[str] = ""

    # Parameters that control the data
    data: str = field(default="", metadata={"help": "Export folder (with train.parquet and test.parquet) to train on."})
    run_name: str = field(default="", metadata={"help": "Name shown in lists; defaults to the run id."})
    # Parameters that control the training
    seed: int = field(default=42, metadata={"help": "Random seed (initialisation, data order)."})
    learning_rate: float = field(default=1e-4, metadata={"help": "Peak learning rate.", "aliases": ("--lr",)})
    num_train_epochs: float = field(default=1.0, metadata={"help": "Passes over the training split.",
                                                           "aliases": ("--epochs",)})
    evaluate: bool = field(default=True, metadata={"help": "Score the held-out test split after training."})

    def __post_init__(self) -> None:
        if not self.data:
            raise ValueError(f"`data` is required: the export folder to train on (method {self.method!r}).")
        if self.learning_rate <= 0:
            raise ValueError(f"`learning_rate` must be > 0, got {self.learning_rate}.")
        if self.num_train_epochs <= 0:
            raise ValueError(f"`num_train_epochs` must be > 0, got {self.num_train_epochs}.")

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, **super().to_dict()}


@dataclass
class EmbeddedRewardRunConfig(_RunConfig):
    """Bradley-Terry reward head on frozen embeddings: r(x, y) = w . phi(x, y) (see `curator.train.embedded`)."""

    method: ClassVar[str] = "embedded"

    embedder: str = field(default="default", metadata={"help": "Embedding model of curator.signals.embed: "
                                                               "'default', 'minilm', 'minilm-int8', 'minilm-m2v', "
                                                               "or a sentence-transformers path or hub id."})
    learning_rate: float = field(default=0.05, metadata={"help": "Adam learning rate of the linear head.",
                                                         "aliases": ("--lr",)})
    num_train_epochs: float = field(default=100.0, metadata={"help": "Full-batch epochs of the head.",
                                                             "aliases": ("--epochs",)})
    weight_decay: float = field(default=5e-3, metadata={"help": "L2 penalty on the head's weights (the hand-made "
                                                                "columns are scaled to unit RMS)."})
    use_margin: bool = field(default=False, metadata={"help": "Use the export's `margin` column as an adaptive "
                                                              "margin (as TRL's RewardTrainer does).", "aliases": ("--margin",)})
    logging_steps: int = field(default=1, metadata={"help": "Write metrics every this many epochs."})
    cache_dir: str = field(default="", metadata={"help": "Folder caching embeddings by text hash ('' = "
                                                         "<data>/../../cache/embeddings)."})

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.weight_decay < 0:
            raise ValueError(f"`weight_decay` must be >= 0, got {self.weight_decay}.")
        if self.logging_steps < 1:
            raise ValueError(f"`logging_steps` must be >= 1, got {self.logging_steps}.")


@dataclass
class _HFRunConfig(_RunConfig):
    """Fields of the TRL launchers."""

    # Parameters that control the model
    base_model: str = field(default="", metadata={"help": "Model to start from: a local folder or a hub id.",
                                                  "aliases": ("--base",), "label": "Base model"})
    max_length: int = field(default=1024, metadata={"help": "Longest tokenized prompt+response. RewardTrainer "
                                                            "DROPS longer pairs; DPOTrainer truncates them."})
    precision: str = field(default="auto", metadata={"help": "'auto' (bf16 on a GPU that supports it, else "
                                                             "fp32), 'fp32', 'bf16' or 'fp16'.", "choices": PRECISIONS})
    use_lora: bool = field(default=False, metadata={"help": "Train LoRA adapters (peft) instead of all weights.",
                                                    "aliases": ("--lora",), "label": "LoRA"})
    lora_r: int = field(default=16, metadata={"help": "LoRA rank."})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA alpha (scaling = alpha / r)."})
    lora_dropout: float = field(default=0.05, metadata={"help": "LoRA dropout."})
    lora_target_modules: str = field(default="all-linear", metadata={"help": "Modules LoRA wraps: 'all-linear' "
                                                                            "or a comma-separated list."})
    # Parameters that control the training
    per_device_train_batch_size: int = field(default=8, metadata={"help": "Pairs per device per step.", "min": 1,
                                                                  "aliases": ("--batch-size",), "label": "Batch size"})
    gradient_accumulation_steps: int = field(default=1, metadata={"help": "Steps accumulated per update."})
    max_steps: int = field(default=-1, metadata={"help": "Stop after this many updates (-1: by epochs)."})
    logging_steps: int = field(default=10, metadata={"help": "Write metrics every this many updates."})
    warmup_steps: float = field(default=0.0, metadata={"help": "Warmup updates (a value below 1 is a ratio)."})
    shuffle: bool = field(default=True, metadata={"help": "Shuffle the training split. Set False to keep the "
                                                          "export's order (curriculum)."})
    num_processes: int = field(default=0, metadata={"help": "Processes for `accelerate launch` (0 = one per "
                                                            "visible GPU; one process without GPUs)."})

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.base_model:
            raise ValueError(f"`base_model` is required for method {self.method!r}: a local folder or hub id.")
        if self.precision not in PRECISIONS:
            raise ValueError(f"`precision` must be one of {PRECISIONS}, got {self.precision!r}.")
        if self.max_length < 8:
            raise ValueError(f"`max_length` must be >= 8, got {self.max_length}.")
        if self.use_lora and self.lora_r < 1:
            raise ValueError(f"`use_lora` is set but `lora_r` is {self.lora_r}; use a rank >= 1.")
        if self.per_device_train_batch_size < 1:
            raise ValueError(f"`per_device_train_batch_size` must be >= 1, got {self.per_device_train_batch_size}.")


@dataclass
class RewardRunConfig(_HFRunConfig):
    """TRL RewardTrainer on a sequence-classification model (num_labels=1)."""

    method: ClassVar[str] = "reward"

    use_margin: bool = field(default=True, metadata={"help": "Keep the export's `margin` column (RewardTrainer "
                                                             "then uses it as an adaptive margin).", "aliases": ("--margin",)})
    center_rewards_coefficient: float | None = field(default=None, metadata={"help": "Weight of the "
                                                                                     "reward-centering term "
                                                                                     "(0.01 recommended)."})


@dataclass
class DPORunConfig(_HFRunConfig):
    """TRL DPOTrainer on a causal LM; the reference is a frozen copy of the base unless `ref_model` is set."""

    method: ClassVar[str] = "dpo"

    learning_rate: float = field(default=1e-6, metadata={"help": "Peak learning rate.", "aliases": ("--lr",)})
    beta: float = field(default=0.1, metadata={"help": "DPO temperature: how far the policy may move from the "
                                                       "reference."})
    loss_type: str = field(default="sigmoid", metadata={"help": "DPO loss ('sigmoid', 'ipo', 'hinge', 'robust', "
                                                                "...; see TRL's DPOConfig)."})
    label_smoothing: float = field(default=0.0, metadata={"help": "Assumed label-noise rate (robust/cDPO)."})
    ref_model: str = field(default="", metadata={"help": "Reference model ('' = a frozen copy of `base_model`)."})

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.beta <= 0:
            raise ValueError(f"`beta` must be > 0, got {self.beta}.")
        if not 0.0 <= self.label_smoothing < 0.5:
            raise ValueError(f"`label_smoothing` must be in [0, 0.5), got {self.label_smoothing}.")


CONFIGS: dict[str, type[_RunConfig]] = {c.method: c for c in (EmbeddedRewardRunConfig, RewardRunConfig,
                                                                DPORunConfig)}


def config_from_dict(data: dict[str, Any]) -> _RunConfig:
    """Rebuild a config saved with `to_dict` (the ``method`` key picks the class).

    >>> cfg = config_from_dict({"method": "embedded", "data": "exports/x"})
    >>> type(cfg).__name__, cfg.num_train_epochs
    ('EmbeddedRewardRunConfig', 100.0)
    >>> config_from_dict(cfg.to_dict()) == cfg
    True
    """
    data = dict(data)
    method = data.pop("method", None)
    if method not in CONFIGS:
        raise ValueError(f"Unknown training method {method!r}; valid: {sorted(CONFIGS)}.")
    return from_dict(CONFIGS[method], data)
