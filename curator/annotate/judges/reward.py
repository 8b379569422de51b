"""The default, offline AI judge: the reward ensemble's vote from a signal run.

A pair's verdict is the response the ensemble scores higher; its confidence the ensemble's
probability of that response (`p_correct` when the run has it, else sigmoid of the margin).
Signal margins are stored toward the labelled chosen response (a when unlabelled); the judge turns
them back into a-vs-b.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from curator.annotate.judges.base import PairText, Verdict

if TYPE_CHECKING:
    from curator.store import Store


@dataclass
class RewardEnsembleJudge:
    """Verdicts from a signal run's margins. `name` defaults to "reward-ensemble:<run_id>"."""

    store: Store
    run_id: str
    name: str = ""

    def __post_init__(self) -> None:
        self.name = self.name or f"reward-ensemble:{self.run_id}"

    def judge(self, pairs: Sequence[PairText]) -> list[Verdict]:
        wanted = {p.pair_id for p in pairs}
        table = self.store.signals(self.run_id, ("margin", "margin_std", "p_correct"))
        rows = {r["pair_id"]: r for r in table.to_pylist() if r["pair_id"] in wanted}
        out = []
        for p in pairs:
            r = rows.get(p.pair_id)
            if r is None or r["margin"] is None:
                out.append(Verdict(p.pair_id, None, None, {"run_id": self.run_id, "reason": "no signal for this pair"}))
                continue
            flip = r["label"] == "b"
            margin_a = -r["margin"] if flip else r["margin"]
            if r["p_correct"] is not None:
                p_a = 1.0 - r["p_correct"] if flip else r["p_correct"]
            else:
                p_a = 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, margin_a))))
            choice = "a" if p_a >= 0.5 else "b"
            out.append(Verdict(p.pair_id, choice, float(max(p_a, 1.0 - p_a)),
                               {"run_id": self.run_id, "margin_a": margin_a, "margin_std": r["margin_std"]}))
        return out
