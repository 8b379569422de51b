"""AI judges: each writes verdicts (choice, confidence, judge id, raw output in details) to the
append-only judgement log as kind "ai".

- `RewardEnsembleJudge`: the reward ensemble's vote from a signal run (default, offline).
- `LocalLMJudge`: a local causal LM through transformers, both orders, confidence from answer logits.
- `OpenAIJudge`: any OpenAI-compatible chat endpoint, with concurrency limit, retries, timeouts
  and an on-disk answer cache.
- Verdicts that came with the data are imported by `curator.io` already.

`run_judge(store, judge, pair_ids)` judges the pairs without a verdict from that judge yet and
writes the verdicts; a pair that keeps failing is reported by id and costs only itself.
"""

from __future__ import annotations

from curator.annotate.judges.base import (
    Judge,
    JudgeError,
    JudgeRun,
    PairsFailed,
    PairText,
    Verdict,
    build_prompt,
    combine_orders,
    parse_answer,
    run_judge,
    write_verdicts,
)
from curator.annotate.judges.local_lm import LocalLMJudge
from curator.annotate.judges.openai_compat import OpenAIJudge
from curator.annotate.judges.reward import RewardEnsembleJudge

__all__ = ["Judge", "JudgeError", "JudgeRun", "LocalLMJudge", "OpenAIJudge", "PairText", "PairsFailed",
           "RewardEnsembleJudge", "Verdict", "build_prompt", "combine_orders", "parse_answer", "run_judge",
           "write_verdicts"]
