"""Fast, deterministic stand-ins for the signals backend, for tests of the queue, worker and engines.

`HashScorer` follows the scorer protocol (``__init__(**kwargs)``, ``__call__(batch) -> dict``) and
maps texts to vectors by hashing, so the local and Ray engines must give identical features.
`StandinConfig` + `standin_stages` + `standin_compute` replace `SignalConfig`, the real stages and
`curator.signals.compute_signals` in a job: ``submit_signals(..., stages=STANDIN_STAGES,
compute=STANDIN_COMPUTE)``. They live in the package (not under tests/) because worker
subprocesses and Ray actors find them through their registered names (`curator.jobs.registry`).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from scipy.special import expit

from curator.jobs.stage import Stage

STANDIN_STAGES = "standin.stages"
STANDIN_COMPUTE = "standin.compute"


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
    return [Stage("embed", "scorer.hash", kwargs,
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
        "p_correct": expit(margin).astype(np.float64),
        "issue_score": expit(-margin).astype(np.float64),
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


# -- reward-model jobs without the ensemble: the product path of the reward stage, for tests and bench/ --

REWARD_STAGES = "reward-only.stages"
REWARD_COMPUTE = "reward-only.compute"


def reward_stages(config: dict[str, Any]) -> list[Stage]:
    """The real reward stages of `curator.jobs.stages.signal_stages` (no embedding stage)."""
    from curator.jobs.stages import signal_stages

    return [s for s in signal_stages(config) if s.name.startswith("reward:")]


def reward_compute(pairs: pa.Table, config: dict[str, Any], *, features: dict[str, np.ndarray],
                   on_progress: Callable[[str, float], None], should_stop: Callable[[], bool]) -> StandinResult:
    """Signals whose margin is the (first) reward model's raw margin r_a - r_b; model_margins has each model's."""
    from curator.jobs.stages import reward_feature_keys

    models = list(config.get("rewards") or ())
    margins = {m: features[reward_feature_keys(m)[0]].astype(np.float64) - features[reward_feature_keys(m)[1]]
               for m in models}
    first = margins[models[0]]
    signals = pa.table({"pair_id": pairs.column("pair_id"), "margin": first,
                        "model_margins": [json.dumps({m: float(v[i]) for m, v in margins.items()})
                                          for i in range(pairs.num_rows)]})
    on_progress("compute", 1.0)
    return StandinResult(signals, None, models)  # type: ignore[arg-type]


# -- reward models of real shapes with random weights (tests, bench/bench_signals_gpu.py) --

WORDS = ("the sky is blue green grass red why how what when cat dog run jump very good bad answer question please "
         "thanks hello world tell me a story about water fire earth wind code python function data model train "
         "learn test number one two three four five six seven eight nine ten yes no maybe think know").split()
SHAPES: dict[str, dict[str, Any]] = {
    "tiny-llama": {"arch": "llama", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
                   "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 4096},
    "tiny-qwen2": {"arch": "qwen2", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
                   "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 4096},
    "qwen2.5-0.5b": {"arch": "qwen2", "hidden_size": 896, "intermediate_size": 4864, "num_hidden_layers": 24,
                     "num_attention_heads": 14, "num_key_value_heads": 2, "vocab_size": 151936,
                     "tie_word_embeddings": True, "rope_theta": 1e6, "max_position_embeddings": 32768},
    "llama-3-8b": {"arch": "llama", "hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32,
                   "num_attention_heads": 32, "num_key_value_heads": 8, "vocab_size": 128256, "rope_theta": 5e5,
                   "max_position_embeddings": 8192},
}
_TEMPLATES = {
    "llama": ("{{ bos_token }}{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>\n\n"
              "{{ m['content'] | trim }}<|eot_id|>{% endfor %}"),
    "qwen2": "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}",
}


def bpe_tokenizer(arch: str = "llama", *, seed: int = 0) -> Any:
    """A byte-level BPE tokenizer (400 tokens, trained on `WORDS` on the spot) with `arch`'s special
    tokens and chat template ("llama": Llama 3, "qwen2": ChatML). Every word of `WORDS` is one or two tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    special = ["<pad>", "<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>",
               "<|im_start|>", "<|im_end|>", "<|endoftext|>"]
    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    rng = np.random.default_rng(seed)
    tk.train_from_iterator([" ".join(rng.choice(WORDS, 16)) for _ in range(500)],
                           trainers.BpeTrainer(vocab_size=400, special_tokens=special,
                                               initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    if arch == "llama":
        tok = PreTrainedTokenizerFast(tokenizer_object=tk, bos_token="<|begin_of_text|>", eos_token="<|eot_id|>",
                                      pad_token="<pad>")
    else:
        tok = PreTrainedTokenizerFast(tokenizer_object=tk, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    tok.chat_template = _TEMPLATES[arch]
    return tok


def build_reward_model(path: str | Path, shape: str = "tiny-llama", *, device: str = "cpu", seed: int = 0) -> str:
    """Save a sequence-classification reward model of `shape` (random weights) and its `bpe_tokenizer`
    (with that family's chat template) under `path`; returns the path. Weights: bf16 on CUDA, fp32 on CPU.
    """
    import torch
    from transformers import LlamaConfig, LlamaForSequenceClassification, Qwen2Config, Qwen2ForSequenceClassification

    if shape not in SHAPES:
        raise ValueError(f"`shape` must be one of {sorted(SHAPES)}, got {shape!r}.")
    spec = dict(SHAPES[shape])
    arch = spec.pop("arch")
    tok = bpe_tokenizer(arch, seed=seed)
    spec.setdefault("vocab_size", len(tok))
    ids = {"pad_token_id": tok.pad_token_id, "bos_token_id": tok.bos_token_id, "eos_token_id": tok.eos_token_id,
           "num_labels": 1}
    torch.manual_seed(seed)
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    with torch.device(device):
        if arch == "llama":
            model = LlamaForSequenceClassification(LlamaConfig(**spec, **ids))
        else:
            model = Qwen2ForSequenceClassification(Qwen2Config(**spec, **ids))
        model = model.to(dtype)
        with torch.no_grad():  # a visible reward scale (the default head init is tiny)
            model.score.weight.normal_(0, 8.0 / model.config.hidden_size ** 0.5)
    model.save_pretrained(path)
    tok.save_pretrained(path)
    del model
    return str(path)


def synthetic_pairs(n: int, *, seed: int = 0, hh: bool = False, median_tokens: int = 230) -> dict[str, list[str]]:
    """`n` pairs of `WORDS` texts, total (prompt + response) lengths lognormal around `median_tokens` words.

    Default: the prompt takes 20-40% of a sequence. ``hh=True``: HH-RLHF-shaped, the shared prompt
    takes 63-70% of the tokens (multi-turn dialogue history before the answer).
    """
    rng = np.random.default_rng(seed)
    total = np.clip(np.exp(rng.normal(np.log(median_tokens), 0.8, n)), 24, 2000).astype(int)
    share = rng.uniform(0.63, 0.70, n) if hh else rng.uniform(0.2, 0.4, n)
    out: dict[str, list[str]] = {"prompt": [], "response_a": [], "response_b": []}
    for t, s in zip(total, share, strict=True):
        p = max(1, int(t * s))
        r = max(1, int(t) - p)
        out["prompt"].append(" ".join(rng.choice(WORDS, p)))
        out["response_a"].append(" ".join(rng.choice(WORDS, r)))
        out["response_b"].append(" ".join(rng.choice(WORDS, max(1, int(r * rng.uniform(0.6, 1.4))))))
    return out
