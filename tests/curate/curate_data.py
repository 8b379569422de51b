"""Planted toy data for the curate tests (imported by their conftest.py and tests).

A small store with planted structure and a hand-written signal run, for recipe and export tests.

40 pairs over 4 topics (cluster = topic), prompts 0-3 asked twice (prompt cap), pair 5 with identical
responses, pairs 6-9 flagged flipped (margin < 0), 10-13 ambiguous (|margin| small), 14-15 near
duplicates of 16. Pair 20 has two human votes for the other response; pair 21 has an AI verdict that
agrees with the dataset; pair 22 a human vote that agrees (consensus).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from curator.schema import Judgement, PairRecord

TOPICS = ("sky", "grass", "sea", "fire")
N = 40


def make_records() -> list[PairRecord]:
    records = []
    for i in range(N):
        topic = TOPICS[i % 4]
        q = i - 20 if 20 <= i < 24 else i  # pairs 20-23 ask the prompts of pairs 0-3 again
        prompt = f"the {topic} question {q}"
        a, b = f"the {topic} is blue answer {i}", f"the {topic} is red answer {i}"
        if i == 5:
            b = a
        judgements: tuple[Judgement, ...] = ()
        if i == 20:
            judgements = (Judgement("human", "ann1", "b", rationale="b is right"), Judgement("human", "ann2", "b"))
        elif i == 21:
            judgements = (Judgement("ai", "judge", "a", rationale="a is better"),)
        elif i == 22:
            judgements = (Judgement("human", "ann1", "a"), Judgement("human", "ann2", "tie"))
        records.append(PairRecord(prompt=prompt, response_a=a, response_b=b, label="a",
                                  split="test" if i % 10 == 9 else "train",
                                  metadata={"topic": topic}, judgements=judgements))
    return records


def make_signals(pair_ids: list[str]) -> pa.Table:
    margin = np.linspace(0.5, 4.0, N)
    margin[6:10] = [-2.0, -1.5, -1.0, -0.5]
    margin[10:14] = [0.05, -0.05, 0.1, -0.1]
    p_correct = 1 / (1 + np.exp(-margin))
    flags = {name: np.zeros(N, bool) for name in ("flag_flipped", "flag_ambiguous", "flag_identical",
                                                   "flag_near_duplicate")}
    flags["flag_flipped"][6:10] = True
    flags["flag_ambiguous"][10:14] = True
    flags["flag_identical"][5] = True
    flags["flag_near_duplicate"][[14, 15, 16]] = True
    angle = np.arange(N) * 2 * np.pi / N
    return pa.table({
        "pair_id": pair_ids, "margin": margin, "margin_std": np.full(N, 0.5), "p_correct": p_correct,
        "cluster": pa.array([i % 4 for i in range(N)], pa.int32()),
        "map_x": np.cos(angle), "map_y": np.sin(angle), **flags,
    })


def prompt_embeddings() -> np.ndarray:
    """(N, 8) prompt embeddings in source order; 14 and 15 sit on top of 16."""
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(N, 8))
    emb[14] = emb[16] + 0.01
    emb[15] = emb[16] - 0.01
    return emb


@dataclass
class CurationData:
    store: object
    run_id: str
    pair_ids: list[str]  # in source order (row_index)
    root: Path


