"""Annotation: queues and assignment, agreement, AI judges, human/AI routing.

- `queue`: build a queue from a selection, serve items to annotators (claims that expire), record
  labels mapped back from the order shown, skip, undo.
- `agreement`: Krippendorff's alpha, Cohen's kappa, consensus (majority, Dawid-Skene, CROWDLAB),
  disputed pairs.
- `judges`: reward-ensemble vote, local causal LM, OpenAI-compatible endpoints.
- `routing` (+ `routing_features`, `routing_service`): P(AI verdict wrong) per pair, budgeted
  human/AI split, expected accuracy vs budget.

Only `curator.store` runs SQL; this package calls Store methods and imports no streamlit.
"""

from __future__ import annotations
