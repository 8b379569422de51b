"""The demo dataset: synthetic chat preference pairs with planted structure and known ground truth.

`write_demo` writes ``demo.jsonl`` in TRL explicit conversational form (``prompt`` messages,
``chosen``/``rejected`` assistant messages) plus metadata columns (``id``, ``topic``,
``chosen_model``, ``rejected_model``, ``split``, and for about a fifth of the pairs a ``votes``
list), and ``demo_truth.parquet`` beside it. Planted structure, all deterministic by seed:

- topics (cooking, coding, travel, health, personal finance, science, gardening), with single-
  and multi-turn chats and an occasional system prompt;
- a good response (concrete advice) against a bad one: vague, wrong, rude, off-topic or truncated;
- about 10% flipped labels (the worse response is marked chosen) and about 6% ties (two good
  responses; the label is arbitrary);
- a length bias: chosen responses are longer on average, as in HH-RLHF;
- larger models write the good responses more often;
- three human votes (sometimes disagreeing) and one AI verdict on the voted pairs.

The truth file has one row per pair: ``pair_id`` (as the store computes it on import),
``topic``, ``true_preference`` ("chosen", "rejected" or "tie"), ``flipped``, ``tie`` and
``defect`` (the bad response's flaw, None for ties).
"""

from __future__ import annotations

import json
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from curator.io import demo_text as T
from curator.schema import Messages, compute_pair_id

PAIRS_FILE = "demo.jsonl"
TRUTH_FILE = "demo_truth.parquet"

FLIP_RATE = 0.10
TIE_RATE = 0.06
VOTE_RATE = 0.20
MULTI_TURN_RATE = 0.25
SYSTEM_RATE = 0.10
TEST_SHARE = 0.10
HUMAN_ACCURACY = 0.80  # chance that one human vote picks the truly better response
AI_ACCURACY = 0.78
# Flaws of the bad response, with their shares.
DEFECTS: dict[str, float] = {"vague": 0.2, "wrong": 0.3, "rude": 0.1, "off-topic": 0.15, "truncated": 0.25}


@dataclass(frozen=True)
class DemoFiles:
    """Where `write_demo` put the pairs (JSONL) and the ground truth (Parquet)."""

    pairs_path: Path
    truth_path: Path


def write_demo(out_dir: str | Path, *, n_pairs: int = 3000, seed: int = 0) -> DemoFiles:
    """Write the demo pairs and their ground truth into `out_dir` (created if needed).

    Args:
        out_dir: folder for ``demo.jsonl`` and ``demo_truth.parquet``; existing files are replaced.
        n_pairs: number of pairs, >= 1; every pair is distinct.
        seed: random seed; the same seed writes the same bytes.

    Returns:
        The two paths, as `DemoFiles`.

    Example:
        >>> import tempfile
        >>> files = write_demo(tempfile.mkdtemp(), n_pairs=20, seed=1)
        >>> files.pairs_path.name, sum(1 for _ in files.pairs_path.open())
        ('demo.jsonl', 20)
    """
    if isinstance(n_pairs, bool) or not isinstance(n_pairs, int) or n_pairs < 1:
        raise ValueError(f"`n_pairs` must be an integer >= 1, got {n_pairs!r}.")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"`seed` must be an integer, got {seed!r}.")
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    seen: set[str] = set()
    truth: dict[str, list[Any]] = {k: [] for k in ("pair_id", "topic", "true_preference", "flipped", "tie",
                                                    "defect")}
    lines = []
    for i in range(n_pairs):
        for _ in range(100):
            row, facts = _pair(rng, i)
            pair_id = compute_pair_id(row["prompt"], row["chosen"][0]["content"], row["rejected"][0]["content"])
            if pair_id not in seen:
                break
        else:  # pragma: no cover - the templates allow millions of distinct pairs
            raise RuntimeError(f"could not draw a new distinct pair after 100 tries at pair {i}.")
        seen.add(pair_id)
        lines.append(json.dumps(row, ensure_ascii=False))
        truth["pair_id"].append(pair_id)
        for key, value in facts.items():
            truth[key].append(value)
    pairs_path, truth_path = out / PAIRS_FILE, out / TRUTH_FILE
    _replace(pairs_path, lambda tmp: tmp.write_text("\n".join(lines) + "\n", encoding="utf-8"))
    table = pa.table(truth, schema=pa.schema([("pair_id", pa.string()), ("topic", pa.string()),
                                              ("true_preference", pa.string()), ("flipped", pa.bool_()),
                                              ("tie", pa.bool_()), ("defect", pa.string())]))
    _replace(truth_path, lambda tmp: pq.write_table(table, tmp))
    return DemoFiles(pairs_path, truth_path)


def _replace(path: Path, write: Any) -> None:
    """Write through a temp file and rename, so a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    write(tmp)
    os.replace(tmp, path)


def _pair(rng: random.Random, i: int) -> tuple[dict[str, Any], dict[str, Any]]:
    topic = rng.choice(list(T.TOPICS))
    intent = rng.choice(T.TOPICS[topic])
    x = rng.choice(intent["x"])
    prompt: Messages = []
    if rng.random() < SYSTEM_RATE:
        prompt.append({"role": "system", "content": T.SYSTEM_PROMPT})
    prompt.append({"role": "user", "content": rng.choice(intent["q"]).format(x=x)})
    if rng.random() < MULTI_TURN_RATE:
        prompt.append({"role": "assistant", "content": _good(rng, intent, x, short=True)})
        prompt.append({"role": "user", "content": rng.choice(T.FOLLOWUPS)})
    good = _good(rng, intent, x)
    tie = rng.random() < TIE_RATE
    if tie:
        other = _good(rng, intent, x)
        while other == good:
            other = _good(rng, intent, x)
        chosen, rejected, defect, flipped, truth = good, other, None, False, "tie"
        models = rng.sample(list(T.MODELS), 2)
    else:
        defect = rng.choices(list(DEFECTS), weights=list(DEFECTS.values()))[0]
        bad = _bad(rng, defect, topic, intent, x)
        flipped = rng.random() < FLIP_RATE
        good_model = rng.choices(list(T.MODELS), weights=list(T.MODELS.values()))[0]
        bad_model = rng.choices(list(T.MODELS), weights=[1 - q for q in T.MODELS.values()])[0]
        if flipped:
            chosen, rejected, truth, models = bad, good, "rejected", [bad_model, good_model]
        else:
            chosen, rejected, truth, models = good, bad, "chosen", [good_model, bad_model]
    row: dict[str, Any] = {
        "id": f"demo-{i:06d}",
        "prompt": prompt,
        "chosen": [{"role": "assistant", "content": chosen}],
        "rejected": [{"role": "assistant", "content": rejected}],
        "topic": topic,
        "chosen_model": models[0],
        "rejected_model": models[1],
        "split": "test" if rng.random() < TEST_SHARE else "train",
    }
    if rng.random() < VOTE_RATE:
        row["votes"] = _votes(rng, truth)
    facts = {"topic": topic, "true_preference": truth, "flipped": flipped, "tie": tie, "defect": defect}
    return row, facts


def _good(rng: random.Random, intent: dict[str, list[str]], x: str, *, short: bool = False) -> str:
    usable = _for_slot(intent["tips"], x)
    n = min(rng.choice((1, 2) if short else (1, 2, 2, 3, 3, 3, 4, 4, 5)), len(usable))
    tips = [t.format(x=x) for t in rng.sample(usable, n)]
    if not short and n > 1 and rng.random() < 0.4:
        body = "\n".join(f"{k}. {t}" for k, t in enumerate(tips, 1))
    else:
        body = " ".join(tips)
    parts = []
    if not short and rng.random() < 0.6:
        parts.append(rng.choice(T.OPENERS))
    parts.append(body)
    if not short and rng.random() < 0.4:
        parts.append(rng.choice(T.CLOSERS))
    return "\n\n".join(parts) if "\n" in body else " ".join(parts)


def _for_slot(sentences: list[str], x: str) -> list[str]:
    """Sentences usable for slot value `x`: untagged ones and those tagged ``@x|``."""
    out = []
    for s in sentences:
        if s.startswith("@"):
            tag, _, text = s[1:].partition("|")
            if tag == x:
                out.append(text)
        else:
            out.append(s)
    return out


def _bad(rng: random.Random, defect: str, topic: str, intent: dict[str, list[str]], x: str) -> str:
    if defect == "vague":
        return " ".join(rng.sample(T.VAGUE, rng.choice((1, 2, 2, 3))))
    if defect == "rude":
        return " ".join(rng.sample(T.RUDE, rng.choice((1, 2))))
    if defect == "wrong":
        parts = [rng.choice(T.OPENERS)] if rng.random() < 0.6 else []
        wrong = _for_slot(intent["wrong"], x)
        parts += [w.format(x=x) for w in rng.sample(wrong, min(rng.choice((1, 2, 2, 3)), len(wrong)))]
        if rng.random() < 0.4:
            parts.append(rng.choice(_for_slot(intent["tips"], x)).format(x=x))
        if rng.random() < 0.5:
            parts.append(rng.choice(T.FILLERS))
        return " ".join(parts)
    if defect == "off-topic":
        other_topic = rng.choice([t for t in T.TOPICS if t != topic])
        other = rng.choice(T.TOPICS[other_topic])
        return _good(rng, other, rng.choice(other["x"]))
    # truncated: a good answer that stops mid-sentence
    text = _good(rng, intent, x)
    while len(text) < 160:
        text = _good(rng, intent, x)
    cut = text.rfind(" ", 0, int(len(text) * rng.uniform(0.3, 0.6)))
    return text[:cut].rstrip(" ,.;:\n") if cut > 0 else text[: len(text) // 2]


def _votes(rng: random.Random, truth: str) -> list[dict[str, Any]]:
    """Three human votes and one AI verdict; choices name "chosen"/"rejected" as written."""
    votes = []
    for annotator in rng.sample(T.HUMAN_ANNOTATORS, 3):
        votes.append({"annotator": annotator, "kind": "human", "choice": _noisy(rng, truth, HUMAN_ACCURACY),
                      "confidence": round(rng.uniform(0.5, 1.0), 1)})
    verdict = _noisy(rng, truth, AI_ACCURACY)
    if verdict == "tie":
        reason = "Both responses are about equally good."
    else:
        loser = "rejected" if verdict == "chosen" else "chosen"
        reason = rng.choice(T.AI_REASONS).format(winner=verdict, loser=loser)
    votes.append({"annotator": T.AI_JUDGE, "kind": "ai", "choice": verdict, "rationale": reason})
    return votes


def _noisy(rng: random.Random, truth: str, accuracy: float) -> str:
    if truth == "tie":
        return rng.choices(("chosen", "rejected", "tie"), weights=(0.35, 0.35, 0.3))[0]
    if rng.random() < accuracy:
        return truth
    other = "rejected" if truth == "chosen" else "chosen"
    return other if rng.random() < 0.7 else "tie"
