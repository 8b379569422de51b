"""Word-level diff of two texts, for showing how the chosen and rejected responses differ.

Text in, segments out: `compute_word_diff(a, b)` splits both texts into word and punctuation
tokens (each keeps the whitespace that follows it), aligns the token sequences with difflib and
returns segments that concatenate back to the exact inputs. Whitespace never counts as a change,
so re-wrapped lines do not light up. Pure Python: no streamlit, no duckdb, no I/O.

Segment kinds: ``"equal"`` (in both texts), ``"delete"`` (only in ``a``), ``"insert"`` (only in
``b``). Rendering (colours, escaping) is the caller's job; see `curator.ui.text`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from difflib import SequenceMatcher

EQUAL, DELETE, INSERT = "equal", "delete", "insert"

# A token is a run of word characters or one other non-space character, plus the whitespace after it.
_TOKEN = re.compile(r"(\w+|[^\w\s])(\s*)")
_LEADING_SPACE = re.compile(r"\s*")

# Above this many tokens on either side difflib's quadratic worst case gets slow; no diff is made.
MAX_TOKENS = 20_000
# Above this many tokens difflib's "popular token" heuristic is switched on to stay fast.
_AUTOJUNK_ABOVE = 4_000


@dataclass(frozen=True)
class Segment:
    """A run of text with one kind: ``"equal"``, ``"delete"`` (only in a) or ``"insert"`` (only in b)."""

    kind: str
    text: str


@dataclass(frozen=True)
class WordDiff:
    """The diff of two texts.

    Attributes:
        a: segments of text ``a`` (kinds ``equal`` and ``delete``); they join back to ``a``.
        b: segments of text ``b`` (kinds ``equal`` and ``insert``); they join back to ``b``.
        unified: one reading order for an inline view: equal, then deleted, then inserted runs
            (a reading aid: its text does not join back to either input exactly).
        similarity: share of matching tokens, 0 (nothing shared) to 1 (same words).
        too_long: True when a text has more than `MAX_TOKENS` tokens; then no words are marked.
    """

    a: tuple[Segment, ...]
    b: tuple[Segment, ...]
    unified: tuple[Segment, ...]
    similarity: float
    too_long: bool = False


def tokenize(text: str) -> list[tuple[str, str]]:
    """Split text into ``(token, text with trailing whitespace)``; leading whitespace joins the first.

    >>> tokenize("  Hi, you!")
    [('Hi', '  Hi'), (',', ', '), ('you', 'you'), ('!', '!')]
    >>> "".join(t for _, t in tokenize(" a  b\\n"))
    ' a  b\\n'
    """
    lead = _LEADING_SPACE.match(text).group(0)  # type: ignore[union-attr]
    tokens = [(m.group(1), m.group(0)) for m in _TOKEN.finditer(text, len(lead))]
    if not tokens:
        return [("", text)] if text else []
    tokens[0] = (tokens[0][0], lead + tokens[0][1])
    return tokens


def _merge(segments: list[Segment]) -> tuple[Segment, ...]:
    merged: list[Segment] = []
    for s in segments:
        if not s.text:
            continue
        if merged and merged[-1].kind == s.kind:
            merged[-1] = Segment(s.kind, merged[-1].text + s.text)
        else:
            merged.append(s)
    return tuple(merged)


def compute_word_diff(a: str, b: str, *, max_tokens: int = MAX_TOKENS) -> WordDiff:
    """Diff two texts word by word.

    Args:
        a: the first text (e.g. the chosen response).
        b: the second text (e.g. the rejected response).
        max_tokens: beyond this many tokens in either text, return the texts unmarked with
            ``too_long=True`` instead of a slow alignment.

    Returns:
        A `WordDiff` whose ``a`` and ``b`` segments join back to the inputs exactly.

    >>> d = compute_word_diff("The sky is blue.", "The sky is green!")
    >>> [(s.kind, s.text) for s in d.a]
    [('equal', 'The sky is '), ('delete', 'blue.')]
    >>> [(s.kind, s.text) for s in d.b]
    [('equal', 'The sky is '), ('insert', 'green!')]
    >>> round(d.similarity, 2)
    0.6
    """
    if not isinstance(a, str) or not isinstance(b, str):
        raise TypeError(f"`a` and `b` must be str, got {type(a).__name__} and {type(b).__name__}.")
    ta, tb = tokenize(a), tokenize(b)
    if len(ta) > max_tokens or len(tb) > max_tokens:
        return WordDiff((Segment(EQUAL, a),) if a else (), (Segment(EQUAL, b),) if b else (), (), 0.0, True)
    keys_a, keys_b = [k for k, _ in ta], [k for k, _ in tb]
    matcher = SequenceMatcher(None, keys_a, keys_b, autojunk=max(len(ta), len(tb)) > _AUTOJUNK_ABOVE)
    seg_a: list[Segment] = []
    seg_b: list[Segment] = []
    unified: list[Segment] = []
    matched = 0
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        text_a = "".join(t for _, t in ta[i1:i2])
        text_b = "".join(t for _, t in tb[j1:j2])
        if op == "equal":
            matched += i2 - i1
            seg_a.append(Segment(EQUAL, text_a))
            seg_b.append(Segment(EQUAL, text_b))
            unified.append(Segment(EQUAL, text_b))
            continue
        # Changed words are marked; the whitespace after them is not.
        core_a, core_b = text_a.rstrip(), text_b.rstrip()
        seg_a += [Segment(DELETE, core_a), Segment(EQUAL, text_a[len(core_a):])]
        seg_b += [Segment(INSERT, core_b), Segment(EQUAL, text_b[len(core_b):])]
        gap = " " if core_a and core_b else ""
        unified += [Segment(DELETE, core_a), Segment(EQUAL, gap), Segment(INSERT, core_b),
                    Segment(EQUAL, text_b[len(core_b):] or text_a[len(core_a):])]
    total = len(ta) + len(tb)
    similarity = 2.0 * matched / total if total else 1.0
    return WordDiff(_merge(seg_a), _merge(seg_b), _merge(unified), similarity)
