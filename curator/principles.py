"""Inverse Constitutional AI (methods notes 7.2): compress pairwise labels into a short list of principles.

`compute_principles(prompts, texts_a, texts_b, labels, ask)` runs the ICAI steps with a language
model behind ``ask(prompt) -> text`` (an OpenAI-compatible endpoint through
`curator.annotate.judges.openai_compat.OpenAIJudge.ask`, or a local model):

1. propose: per training comparison, the model states the principle that explains the preferred
   response (one line);
2. cluster: the proposals' TF-IDF vectors are clustered with k-means (``n_clusters``);
3. deduplicate: each cluster keeps its most central proposal;
4. vote: for each (principle, training comparison) the model says which response the principle
   prefers (A, B, or N for neither): *for* when that is the preferred one, *against* when it is the
   other, abstain otherwise;
5. filter: principles with for > against, ordered by for - against, at most ``max_principles``.

Reconstruction accuracy: on held-out comparisons every kept principle votes, the majority (ties and
no votes count half) is compared with the label. Pure compute besides the model calls; no duckdb.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from curator.feature_descriptions import parse_choice

PROPOSE_TEMPLATE = (
    "A person compared two assistant responses and preferred response {winner}. State, in one short line, the "
    "general principle that explains the preference (e.g. 'Prefer the response that ...'). Only the line.\n\n"
    "### Prompt\n{prompt}\n\n### Response A\n{a}\n\n### Response B\n{b}")
VOTE_TEMPLATE = (
    "Principle: {principle}\n\nWhich response does this principle prefer? Answer with one letter: A, B, or N if "
    "it does not apply.\n\n### Prompt\n{prompt}\n\n### Response A\n{a}\n\n### Response B\n{b}\n\nAnswer:")
MAX_CHARS = 800


@dataclass(frozen=True)
class Constitution:
    """The kept principles with their training votes, and the held-out reconstruction accuracy."""

    principles: list[dict[str, Any]]  # {"principle", "for", "against", "abstain"}
    proposals: int
    accuracy: float | None
    n_test: int


def _clip(text: str) -> str:
    text = str(text or "")
    return text if len(text) <= MAX_CHARS else text[-MAX_CHARS:]


def _vote(ask: Callable[[str], str], principle: str, prompt: str, a: str, b: str) -> str | None:
    return parse_choice(ask(VOTE_TEMPLATE.format(principle=principle, prompt=_clip(prompt), a=_clip(a), b=_clip(b))))


def compute_principles(prompts: Sequence[str], texts_a: Sequence[str], texts_b: Sequence[str],
                       labels: Sequence[str | None], ask: Callable[[str], str], *, n_train: int = 40,
                       n_test: int = 40, n_clusters: int = 8, max_principles: int = 5, seed: int = 0) -> Constitution:
    """Principles of the labelled pairs (see the module docstring).

    Args:
        prompts, texts_a, texts_b: the N pairs.
        labels: "a", "b" or None per pair (unlabelled pairs are not used).
        ask: prompt in, model text out.
        n_train: comparisons the principles are proposed from and voted on.
        n_test: other comparisons the constitution is scored on.
        n_clusters: k-means clusters of the proposals (one principle per cluster).
        max_principles: the longest constitution.
        seed: seed of the sampled comparisons and k-means.
    """
    from sklearn.cluster import KMeans
    from sklearn.feature_extraction.text import TfidfVectorizer

    labelled = np.flatnonzero([lab in ("a", "b") for lab in labels])
    if len(labelled) < 4:
        raise ValueError(f"Principles need at least 4 labelled pairs, got {len(labelled)}.")
    rng = np.random.default_rng(seed)
    order = rng.permutation(labelled)
    train, test = order[:n_train], order[n_train:n_train + n_test]
    proposals = [" ".join(str(ask(PROPOSE_TEMPLATE.format(winner=labels[i].upper(), prompt=_clip(prompts[i]),
                                                             a=_clip(texts_a[i]), b=_clip(texts_b[i]))) or "")
                          .split())[:300] for i in train]
    proposals = [p for p in proposals if p]
    if not proposals:
        return Constitution([], 0, None, 0)
    vec = TfidfVectorizer().fit_transform(proposals).toarray()
    k = min(n_clusters, len(set(proposals)))
    km = KMeans(n_clusters=k, n_init=4, random_state=seed).fit(vec)
    candidates = []
    for c in range(k):
        members = np.flatnonzero(km.labels_ == c)
        dist = ((vec[members] - km.cluster_centers_[c]) ** 2).sum(1)
        candidates.append(proposals[members[int(np.argmin(dist))]])
    scored = []
    for principle in dict.fromkeys(candidates):
        tally = {"for": 0, "against": 0, "abstain": 0}
        for i in train:
            got = _vote(ask, principle, prompts[i], texts_a[i], texts_b[i])
            tally["abstain" if got not in ("a", "b") else "for" if got == labels[i] else "against"] += 1
        if tally["for"] > tally["against"]:
            scored.append({"principle": principle, **tally})
    kept = sorted(scored, key=lambda r: (r["against"] - r["for"], r["principle"]))[:max_principles]
    accuracy = None
    if kept and len(test):
        right = 0.0
        for i in test:
            votes = [_vote(ask, r["principle"], prompts[i], texts_a[i], texts_b[i]) for r in kept]
            a, b = votes.count("a"), votes.count("b")
            right += 0.5 if a == b else float(("a" if a > b else "b") == labels[i])
        accuracy = round(right / len(test), 4)
    return Constitution(kept, len(proposals), accuracy, int(len(test)))
