"""LLM-written one-line descriptions of preference features, scored on held-out pairs (WIMHF step 3).

`describe_features(result, texts_a, texts_b, ask)` asks a language model, through `ask(prompt) ->
text` (for example ``lambda p: OpenAIJudge(url, model, max_tokens=60).ask(p)["content"]``), to
describe what the "more" side of a feature's top-activating pairs has that the other side lacks,
then scores the description: on `n_score` other pairs (half where the feature fires strongly, half
where it does not fire) the model says which response shows more of the description (A, B or
neither), and the score is the share it gets right (the sign of the activation where the feature
fires, "neither" where it does not). 0.33 is chance for three answers; higher is better.

Pairs are shown as plain text inside the prompt; nothing here imports duckdb or streamlit.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from curator.signals.features import FeatureResult

MAX_CHARS = 600
DESCRIBE_TEMPLATE = (
    "Below are pairs of assistant responses. In every pair, response MORE has more of one hidden property than "
    "response LESS. Describe that property in one short line (at most 12 words), nothing else.\n\n{pairs}")
SCORE_TEMPLATE = (
    "Property: {description}\n\nWhich response shows more of this property? Answer with one letter: A, B, or N "
    "for neither.\n\n### Response A\n{a}\n\n### Response B\n{b}\n\nAnswer:")


def _clip(text: str) -> str:
    text = " ".join(str(text or "").split())
    return text if len(text) <= MAX_CHARS else text[:MAX_CHARS] + "…"


def parse_choice(text: str | None) -> str | None:
    """'a', 'b', 'n' (neither) or None from a model's answer.

    >>> parse_choice(" B."), parse_choice("Neither"), parse_choice("hmm")
    ('b', 'n', None)
    """
    m = re.search(r"\b(A|B|N|neither)\b", str(text or ""), flags=re.IGNORECASE)
    return None if m is None else m.group(1).lower()[0]


def describe_features(result: FeatureResult, texts_a: Sequence[str], texts_b: Sequence[str],
                      ask: Callable[[str], str], *, latents: Sequence[int] | None = None, n_examples: int = 6,
                      n_score: int = 20, seed: int = 0) -> list[dict[str, Any]]:
    """A description and its held-out score per feature.

    Args:
        result: a `FeatureResult` (activations and each latent's top pairs).
        texts_a, texts_b: the N response texts, aligned with the activations.
        ask: prompt in, model text out.
        latents: which features (default: the selected ones).
        n_examples: top pairs shown when asking for the description.
        n_score: pairs the description is scored on (none of the shown ones).
        seed: seed of the scored pairs.

    Returns:
        ``[{"latent", "description", "score", "n_scored"}]``.
    """
    import json

    rows = {r["latent"]: r for r in result.latents.to_pylist()}
    todo = list(latents) if latents is not None else [j for j, r in rows.items() if r["selected"]]
    rng = np.random.default_rng(seed)
    out = []
    for j in todo:
        z = result.activations[:, j]
        top = json.loads(rows[j]["top_pairs"] or "[]")[:n_examples]
        shown = "\n\n".join(
            f"Pair {k + 1}\nMORE: {_clip(texts_a[i] if z[i] > 0 else texts_b[i])}\n"
            f"LESS: {_clip(texts_b[i] if z[i] > 0 else texts_a[i])}" for k, i in enumerate(top))
        description = " ".join(str(ask(DESCRIBE_TEMPLATE.format(pairs=shown)) or "").split())[:200]
        active = np.setdiff1d(np.flatnonzero(np.abs(z) >= np.median(np.abs(z[z != 0])) if (z != 0).any() else []),
                              top)
        inactive = np.flatnonzero(z == 0)
        half = n_score // 2
        picks = [*rng.choice(active, min(half, len(active)), replace=False).tolist(),
                 *rng.choice(inactive, min(n_score - half, len(inactive)), replace=False).tolist()]
        right = 0
        for i in picks:
            want = "n" if z[i] == 0 else ("a" if z[i] > 0 else "b")
            got = parse_choice(ask(SCORE_TEMPLATE.format(description=description, a=_clip(texts_a[i]),
                                                         b=_clip(texts_b[i]))))
            right += got == want
        out.append({"latent": int(j), "description": description,
                    "score": round(right / len(picks), 4) if picks else None, "n_scored": len(picks)})
    return out
