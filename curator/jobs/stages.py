"""The feature stages of a signals job, from its `SignalConfig` dict.

Stage 1 embeds every pair with `PairEmbeddingScorer` (`curator.signals.embed.EmbeddingScorer`
plus the three extra embeddings `compute_signals` makes when it embeds by itself); one more stage
per reward model scores both responses with `curator.signals.reward.RewardScorer`, run with the
config's `curator.signals.scoring.ScorerConfig`. Their outputs
go to `curator.signals.compute_signals(..., features=...)` under the keys it documents, so it
skips that work and gives the same numbers as when it embeds in-process.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from curator.jobs.stage import Stage
from curator.signals.embed import EmbeddingScorer, embed_runs_on_gpu, resolve_embed_model
from curator.signals.scoring import ScorerConfig

EMBED_SCORER = "scorer.pair-embedding"
REWARD_SCORER = "scorer.reward"
EMBED_OUTPUTS = ("emb_prompt", "emb_a", "emb_b", "emb_query", "emb_resp_a", "emb_resp_b")


class PairEmbeddingScorer(EmbeddingScorer):
    """`EmbeddingScorer` that also returns ``emb_query`` (the last user turn) and ``emb_resp_a`` /
    ``emb_resp_b`` (each response alone), as `curator.signals.pipeline` computes them in-process.

    Same constructor and protocol, so it runs in a worker or as a Ray Data actor unchanged.
    """

    def __call__(self, batch: dict[str, Any]) -> dict[str, np.ndarray]:
        from curator.signals.pipeline import last_user_turn

        out = super().__call__(batch)
        prompts = ["" if p is None else str(p) for p in batch["prompt"]]
        a = ["" if r is None else str(r) for r in batch["response_a"]]
        b = ["" if r is None else str(r) for r in batch["response_b"]]
        out["emb_query"] = self.encode([last_user_turn(p) for p in prompts])
        both = self.encode(a + b)
        out["emb_resp_a"], out["emb_resp_b"] = both[:len(a)], both[len(a):]
        return out


def reward_feature_keys(model: str) -> tuple[str, str]:
    """Feature keys of one reward model's ``reward_a`` / ``reward_b`` (as `compute_signals` reads them)."""
    return f"reward_a:{model}", f"reward_b:{model}"


def signal_stages(config: dict[str, Any]) -> list[Stage]:
    """The stages for a `SignalConfig.to_dict()`: embeddings, then each reward model.

    Every reward stage gets the config's `ScorerConfig` knobs (dtype, attention, token budget, max
    length, batch size, share_prompt, device_map) and its devices. The embed stage claims a GPU
    only when its encoder runs on one (a transformer; the static and ONNX encoders run on the CPU).
    """
    scorer = ScorerConfig.from_dict(config.get("scorer"))
    device = config.get("device")
    embedder = resolve_embed_model(config.get("embedder") or "default", device)
    embed_gpu = embed_runs_on_gpu(embedder, device)
    stages = [Stage("embed", EMBED_SCORER, {"model": embedder, "device": device}, {k: k for k in EMBED_OUTPUTS},
                    gpu=embed_gpu, devices=scorer.devices if embed_gpu else ())]
    for model in config.get("rewards") or ():
        key_a, key_b = reward_feature_keys(model)
        stages.append(Stage(f"reward:{model}", REWARD_SCORER, {"model": model, "device": device,
                                                                **scorer.reward_kwargs()},
                            {"reward_a": key_a, "reward_b": key_b}, gpu=True, devices=scorer.devices))
    return stages
