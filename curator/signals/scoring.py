"""`ScorerConfig`: the one source of every knob of the GPU scorers (reward models, their batching, devices).

A `curator.signals.SignalConfig` holds one as ``scorer``; `curator.signals.reward.RewardScorer`
takes its defaults from it; the ``curator signals`` options and the Signals page form are generated
from its fields (type, default, ``metadata["help"]``, optional ``metadata["choices"]``), so nothing
here is written twice. Pure: imports no torch, duckdb or streamlit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from curator.config import Config

DTYPES: tuple[str, ...] = ("auto", "bfloat16", "float16", "float32")
ATTENTION: tuple[str, ...] = ("sdpa", "eager", "flash_attention_2")
# Fields that change how fast a run is, never its numbers: left out of the signals cache key.
RUNTIME_FIELDS: frozenset[str] = frozenset({"attn_implementation", "token_budget", "share_prompt", "batch_size",
                                            "devices", "device_map"})


@dataclass(frozen=True)
class ScorerConfig(Config):
    """How reward models are run: precision, attention kernel, batching, prompt sharing and devices.

    Each field's `help` metadata is its one description (CLI help and the page form read it).

    >>> cfg = ScorerConfig(share_prompt=True, devices=("cuda:0", "cuda:1"))
    >>> ScorerConfig.from_dict(cfg.to_dict()) == cfg
    True
    """

    dtype: str = field(default="auto", metadata={
        "help": "Reward-model weights: 'auto' is bfloat16 on CUDA and float32 on CPU.", "choices": DTYPES})
    attn_implementation: str = field(default="sdpa", metadata={
        "help": "Attention kernel of the reward models ('flash_attention_2' needs the flash-attn package).",
        "choices": ATTENTION})
    max_length: int = field(default=2048, metadata={
        "help": "Most tokens per (prompt, response) sequence; longer ones lose the start of the prompt, "
                "never the response.", "min": 2})
    token_budget: int = field(default=65536, metadata={
        "help": "Most padded tokens per forward pass (bounds GPU memory); at least max_length.", "min": 2})
    batch_size: int = field(default=1024, metadata={
        "help": "Most sequences per forward pass (the token budget usually binds first).", "min": 1})
    share_prompt: bool = field(default=False, metadata={
        "help": "Run each pair's shared prompt once and both responses from its KV cache (decoder reward "
                "models): same rewards, about a third less compute when prompts are two thirds of the tokens."})
    devices: tuple[str, ...] = field(default=(), metadata={
        "help": "Devices the reward and embedding stages run on, one worker each, the data split between "
                "them: e.g. 'cuda:0,cuda:1'. Empty: every visible GPU, else the CPU."})
    device_map: str | None = field(default=None, metadata={
        "help": "'auto' spreads ONE reward model over every visible GPU (a model larger than one GPU; "
                "needs accelerate); then one worker runs.", "choices": (None, "auto")})

    def __post_init__(self) -> None:
        if isinstance(self.devices, str | list):
            object.__setattr__(self, "devices", parse_devices(self.devices) if isinstance(self.devices, str)
                               else tuple(self.devices))
        for name, choices in (("dtype", DTYPES), ("device_map", (None, "auto"))):
            if getattr(self, name) not in choices:
                raise ValueError(f"`{name}` must be one of {list(choices)}, got {getattr(self, name)!r}.")
        if self.max_length < 2:
            raise ValueError(f"`max_length` must be at least 2, got {self.max_length}.")
        if self.token_budget < self.max_length:
            raise ValueError(f"`token_budget` ({self.token_budget}) must be at least `max_length` "
                             f"({self.max_length}), so that the longest sequence fits in one pass. Raise "
                             "`token_budget` or lower `max_length`.")
        if self.batch_size < 1:
            raise ValueError(f"`batch_size` must be at least 1, got {self.batch_size}.")
        if self.device_map is not None and len(self.devices) > 1:
            raise ValueError(f"`device_map` is {self.device_map!r} but `devices` lists {len(self.devices)}; a model "
                             "spread over the GPUs runs in one worker. Set one of them.")

    def cache_params(self) -> dict[str, Any]:
        """The fields that change the numbers (for a cache key)."""
        return {k: v for k, v in self.to_dict().items() if k not in RUNTIME_FIELDS}

    def reward_kwargs(self) -> dict[str, Any]:
        """`curator.signals.reward.RewardScorer` keyword arguments (all but `devices`)."""
        return {k: v for k, v in self.to_dict().items() if k != "devices"}


def parse_devices(text: str | None) -> tuple[str, ...]:
    """Devices from a comma- or space-separated string.

    >>> parse_devices("cuda:0, cuda:1")
    ('cuda:0', 'cuda:1')
    >>> parse_devices("")
    ()
    """
    return tuple(d for d in (text or "").replace(",", " ").split() if d)


def visible_devices(devices: tuple[str, ...] = (), device: str | None = None) -> tuple[str, ...]:
    """The devices a stage's workers run on: `devices` when set, else `device`, else every GPU, else the CPU."""
    if devices:
        return tuple(devices)
    if device:
        return (device,)
    try:
        import torch
    except ImportError:
        return ("cpu",)
    n = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return tuple(f"cuda:{i}" for i in range(n)) or ("cpu",)
