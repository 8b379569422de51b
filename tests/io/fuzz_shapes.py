"""Hypothesis strategies for the reader fuzz tests: hostile text, and generated records of every shape.

A generated `Case` holds the rows of a small source and either the pairs they must become or the one
fault planted in them: the record (1-based) and the field an `IngestError` must name. Text is hostile
on purpose: control characters, NUL, BOMs, bidi overrides, HH turn markers, HTML and SQL fragments.
Faults are what a broken file holds: missing fields, wrong types, lone surrogates, bad votes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import fuzz_gen as g

from curator.io import ColumnMapping
from curator.schema import PAIR_COLUMNS

NASTY = ("", " ", "\x00", "\x01\x1f\x7f", "\t\r\n", "\r", "\n\n", "\u2028\u2029", "\ufeff", "\u202e", "\u200b",
         "é", "日本語", "😀", "\U0010ffff", "\ufffd", "<script>alert(1)</script>", "<img src=x onerror=alert(1)>",
         "'; DROP TABLE pairs; --", "%", "_", "\\", '"', "'", "\n\nHuman: ", "\n\nAssistant: ", "$x^2$",
         ":red[x]", "[a](javascript:alert(1))", ",", ";", "{", "]", "null", "NaN")
_piece = g.one_of(g.sampled_from(NASTY), g.text(max_size=6))
TEXT = g.lists(_piece, max_size=4).map("".join)
NONEMPTY = g.tuples(g.sampled_from(("a", "Q", "é", "<b>", "1", " x")), TEXT).map("".join)
# No newlines: HH transcript turns are split at "\n\nHuman:" / "\n\nAssistant:".
LINE = g.lists(g.one_of(g.sampled_from([s for s in NASTY if "\n" not in s]),
                          g.text(g.characters(exclude_characters="\n"), max_size=6)), max_size=3).map("".join)
LONE_SURROGATE = g.sampled_from(("\ud800", "\udfff", "\udc80", "\ud83d"))
SURROGATE_TEXT = g.tuples(TEXT, LONE_SURROGATE, TEXT).map("".join)
NAMES = g.sampled_from(("ann1", "ann-2", "<b>x</b>", "'; --", "é", "judge 7", "%_\\"))
ROLES = g.sampled_from(("user", "system", "tool", "<b>role</b>", "é"))

_deep = g.integers(1, 40).map(lambda n: n * [[]])  # a list of n empty lists: not text, not messages
WRONG_TEXT = g.one_of(g.none(), g.booleans(), g.integers(), g.floats(), g.just([]),
                       g.dictionaries(g.text(max_size=3), g.integers(), max_size=2),
                       g.lists(g.integers(), min_size=1, max_size=3), _deep,
                       g.lists(g.fixed_dictionaries({"role": g.integers()}), min_size=1, max_size=2))

_scalar = g.one_of(g.none(), g.booleans(), g.integers(-(2**63), 2**63 - 1),
                    g.floats(allow_nan=False, allow_infinity=False), TEXT)
META_VALUE = g.recursive(_scalar, lambda c: g.lists(c, max_size=3) | g.dictionaries(TEXT, c, max_size=3),
                          max_leaves=6)
_RESERVED = frozenset(PAIR_COLUMNS) | {"judgements", "votes"}


def meta_keys(consumed: frozenset[str]) -> g.Gen:
    keys = g.one_of(g.sampled_from(("note", "source", "id", "model", "label", "pair_id", "x y", "<b>k</b>",
                                      "'; DROP TABLE pairs; --")), TEXT)
    return keys.filter(lambda k: k not in consumed and not k.startswith("source_"))


def expected_meta(row: dict[str, Any], consumed: frozenset[str]) -> dict[str, Any]:
    """What `curator.io.fields.metadata` must keep: unread fields, pair-column names prefixed."""
    return {("source_" + k if k in _RESERVED else k): v for k, v in row.items() if k not in consumed}


@dataclass
class Case:
    shape: str
    rows: list[dict[str, Any]]
    # pairs: (prompt, response_a, response_b, label, [(kind, annotator, choice)], metadata or None)
    expected: list[tuple[Any, ...]] = field(default_factory=list)
    fault: tuple[int, tuple[str, ...]] | None = None  # (record, fields the error may name)
    mapping: ColumnMapping | None = None


def _msgs(draw: Any, role_last: str = "user", n: int | None = None) -> list[dict[str, str]]:
    n = n if n is not None else draw(g.integers(1, 3))
    out = [{"role": draw(ROLES), "content": draw(TEXT)} for _ in range(n - 1)]
    return [*out, {"role": role_last, "content": draw(TEXT)}]


def _plant(draw: Any, case: Case, faults: dict[str, tuple[g.Gen, tuple[str, ...]]],
           missing: dict[str, tuple[str, ...]], surrogate: dict[str, str]) -> Case:
    """Maybe plant one fault in one record: a wrong value, a missing field or a lone surrogate."""
    kind = draw(g.sampled_from(("none", "none", "wrong", "missing", "surrogate")))
    if kind == "none" or not case.rows:
        return case
    i = draw(g.integers(0, len(case.rows) - 1))
    row = case.rows[i]
    if kind == "wrong":
        name = draw(g.sampled_from(sorted(faults)))
        value_st, names = faults[name]
        row[name] = draw(value_st)
    elif kind == "missing":
        name = draw(g.sampled_from(sorted(missing)))
        row.pop(name, None)
        names = missing[name]
    else:
        name = draw(g.sampled_from(sorted(surrogate)))
        bad = draw(SURROGATE_TEXT)
        where = surrogate[name]
        if where == "messages" and isinstance(row.get(name), list):  # spoil the last message's content
            row[name][-1]["content"] = bad
        else:
            row[name] = bad
        names = (name,)
    case.fault = (i + 1, names)
    case.expected = []
    return case


_BAD_VOTES = g.sampled_from((
    ("not json", "votes"), ("{", "votes"), (5, "votes"), ({"a": 1}, "votes"), ([1], "votes[0]"),
    ([{"kind": "human", "choice": "a"}], "votes[0].annotator"), ([{"annotator": "", "choice": "a"}], "votes[0].annotator"),
    ([{"annotator": "x", "choice": "maybe"}], "votes[0].choice"), ([{"annotator": "x", "kind": "robot"}], "votes[0].kind"),
    ([{"annotator": "x", "choice": "a", "strength": "hi"}], "votes[0].strength"),
    ([{"annotator": "x", "choice": "a", "confidence": float("inf")}], "votes[0].confidence"),
    ([{"annotator": "x", "choice": [1]}], "votes[0].choice")))


def _votes_fault(draw: Any, case: Case) -> Case:
    """Replace the votes of one record with a broken list (its own expected field)."""
    i = draw(g.integers(0, len(case.rows) - 1))
    value, name = draw(_BAD_VOTES)
    case.rows[i]["votes"] = value
    case.fault, case.expected = (i + 1, (name,)), []
    return case


_CHOICES = {"a": "a", "b": "b", "tie": "tie", "both-bad": "both-bad", "1": "a", "2": "b", "0": "tie", 1: "a", 2: "b",
            0: "tie", "Model_A": "a", "model_b": "b", None: None}
VOTE = g.fixed_dictionaries({"annotator": NAMES, "kind": g.sampled_from(("human", "ai")),
                              "choice": g.sampled_from(sorted(_CHOICES, key=str))},
                             optional={"rationale": TEXT, "strength": g.floats(0, 1), "extra": TEXT})
EXPLICIT_CONSUMED = frozenset({"prompt", "chosen", "rejected", "split", "votes"})


@g.composite
def explicit_cases(draw: Any, conversational: bool = False) -> Case:
    """TRL explicit preference rows: text, or messages (and full conversations, as ultrafeedback_binarized)."""
    case = Case("explicit", [])
    for _ in range(draw(g.integers(1, 4))):
        extra = draw(g.dictionaries(meta_keys(EXPLICIT_CONSUMED), META_VALUE, max_size=3))
        if not conversational:
            row = {"prompt": draw(TEXT), "chosen": draw(TEXT), "rejected": draw(TEXT), **extra}
            expect = (row["prompt"], row["chosen"], row["rejected"])
        elif draw(g.booleans()):
            prompt = _msgs(draw)
            a, b = draw(g.lists(TEXT, min_size=1, max_size=2)), draw(g.lists(TEXT, min_size=1, max_size=2))
            row = {"prompt": prompt, "chosen": [{"role": "assistant", "content": t} for t in a],
                   "rejected": [{"role": "assistant", "content": t} for t in b], **extra}
            expect = (prompt, "\n\n".join(a), "\n\n".join(b))
        else:  # chosen/rejected repeat the prompt turns; the shared turns become the prompt
            prompt = _msgs(draw)
            a, b = draw(TEXT), draw(TEXT)
            row = {"prompt": draw(TEXT), "chosen": [*prompt, {"role": "assistant", "content": a}],
                   "rejected": [*prompt, {"role": "assistant", "content": b}], **extra}
            expect = (prompt, a, b)
        votes = draw(g.lists(VOTE, max_size=2))
        if votes:
            row["votes"] = votes
        judged = [(v["kind"], v["annotator"], _CHOICES[v["choice"]]) for v in votes]
        case.rows.append(row)
        case.expected.append((*expect, "a", judged, expected_meta(row, EXPLICIT_CONSUMED)))
    if draw(g.integers(0, 5)) == 0:
        return _votes_fault(draw, case)
    wrong = {"prompt": (WRONG_TEXT, ("prompt",)), "chosen": (WRONG_TEXT, ("chosen",)),
             "rejected": (WRONG_TEXT, ("rejected",)),
             "split": (g.one_of(g.integers(), g.lists(g.integers(), max_size=1), g.just({"a": "b"})), ("split",))}
    required = {k: (k,) for k in ("prompt", "chosen", "rejected")}
    surrogate = {"prompt": "messages" if conversational and isinstance(case.rows[0]["prompt"], list) else "text"}
    if not conversational:
        surrogate.update(chosen="text", rejected="text")
    return _plant(draw, case, wrong, required, surrogate)


@g.composite
def implicit_cases(draw: Any) -> Case:
    """Implicit-prompt rows: HH transcripts, plain texts with a shared beginning, or conversations."""
    case = Case("implicit", [])
    form = draw(g.sampled_from(("hh", "text", "messages")))
    for _ in range(draw(g.integers(1, 3))):
        if form == "hh":
            turns = [("Human" if j % 2 == 0 else "Assistant", draw(LINE)) for j in range(2 * draw(g.integers(0, 2)) + 1)]
            a, b = draw(LINE), draw(LINE)
            shared = "".join(f"\n\n{who}: {said}" for who, said in turns)
            row = {"chosen": f"{shared}\n\nAssistant: {a}", "rejected": f"{shared}\n\nAssistant: {b}"}
            prompt = [{"role": "user" if who == "Human" else "assistant", "content": said.strip()}
                      for who, said in turns]
            case.expected.append((prompt, a.strip(), b.strip(), "a", [], None))
        elif form == "text":
            stem, a, b = draw(TEXT), draw(TEXT), draw(TEXT)
            row = {"chosen": f"{stem} {a}", "rejected": f"{stem} {b}"}
            case.expected.append(("split", row["chosen"], row["rejected"], "a", [], None))
        else:
            prompt = _msgs(draw)
            a, b = draw(TEXT), draw(TEXT)
            row = {"chosen": [*prompt, {"role": "assistant", "content": a}],
                   "rejected": [*prompt, {"role": "assistant", "content": b}]}
            case.expected.append((prompt, a, b, "a", [], None))
        row.update(draw(g.dictionaries(meta_keys(frozenset({"chosen", "rejected", "split", "votes"})), META_VALUE,
                                        max_size=2)))
        case.rows.append(row)
    if draw(g.integers(0, 6)) == 0:
        return _votes_fault(draw, case)
    # a list next to text is "neither form", reported on `rejected`
    wrong = {"chosen": (WRONG_TEXT, ("chosen", "rejected")), "rejected": (WRONG_TEXT, ("rejected",))}
    if form != "messages":  # text next to messages: the pair is neither form
        wrong["rejected"] = (g.one_of(WRONG_TEXT, g.just([{"role": "user", "content": "hi"}])), ("rejected",))
    surrogate = {"chosen": "text", "rejected": "text"} if form != "messages" else {"chosen": "messages"}
    return _plant(draw, case, wrong, {"chosen": ("chosen",), "rejected": ("rejected",)}, surrogate)


_SCORE = g.one_of(g.integers(-5, 10), g.sampled_from(("3", "4.5", " 7 ")), g.none())
_BAD_SCORE = g.sampled_from(("high", True, float("inf"), [1], {"s": 1}, "nan?"))


def _best_worst(prompt: Any, texts: list[str], scores: list[Any]) -> list[tuple[Any, ...]]:
    kept = [(t, float(s)) for t, s in zip(texts, scores, strict=True) if s is not None]
    if len(kept) < 2:
        return []
    values = [s for _, s in kept]
    hi, lo = values.index(max(values)), values.index(min(values))
    return [(prompt, kept[hi][0], kept[lo][0], "a", [], None)] if values[hi] > values[lo] else []


@g.composite
def rated_cases(draw: Any) -> Case:
    """Rated responses: UltraFeedback completions, or responses + scores lists (best-worst pairing)."""
    case = Case("rated", [])
    form = draw(g.sampled_from(("lists", "completions")))
    for _ in range(draw(g.integers(1, 3))):
        prompt = draw(TEXT)
        texts = draw(g.lists(TEXT, min_size=0, max_size=4))
        scores = [draw(_SCORE) for _ in texts]
        if form == "lists":
            row = {"prompt": prompt, "responses": texts, "scores": scores}
        else:
            row = {"instruction": prompt, "completions": [{"model": f"m{j}", "response": t, "overall_score": s}
                                                          for j, (t, s) in enumerate(zip(texts, scores, strict=True))]}
        case.rows.append(row)
        case.expected += _best_worst(prompt, texts, scores)
    i = draw(g.integers(0, len(case.rows) - 1))
    row = case.rows[i]
    kind = draw(g.sampled_from(("none", "none", "container", "item", "score", "prompt")))
    if kind == "none":
        return case
    pkey = "prompt" if form == "lists" else "instruction"
    if kind == "prompt":
        row[pkey] = draw(WRONG_TEXT.filter(lambda v: not (isinstance(v, list) and v and isinstance(v[0], dict))))
        names: tuple[str, ...] = (pkey,)
    elif form == "lists":
        if kind == "container":
            name = draw(g.sampled_from(("responses", "scores")))
            row[name] = draw(g.one_of(g.text(max_size=3), g.integers(), g.just({"a": 1}), g.none()))
            names = (name,)
        elif kind == "item" or not row["responses"]:
            row["responses"] = [*row["responses"], draw(WRONG_TEXT)]
            row["scores"] = [*row["scores"], 1]
            names = (f"responses[{len(row['responses']) - 1}]",)
        else:
            j = draw(g.integers(0, len(row["scores"]) - 1))
            row["scores"][j] = draw(_BAD_SCORE)
            names = (f"scores[{j}]",)
    else:
        comps = row["completions"]
        if kind == "container":
            row["completions"] = draw(g.one_of(g.text(max_size=3), g.integers(), g.just({"a": 1}), g.none()))
            names = ("completions",)
        elif kind == "item" or not comps:
            comps.append(draw(g.one_of(g.text(max_size=3), g.integers(), g.just({"response": "no score"}))))
            names = (f"completions[{len(comps) - 1}]",)
        else:
            j = draw(g.integers(0, len(comps) - 1))
            comps[j]["overall_score"] = draw(_BAD_SCORE)
            names = (f"completions[{j}].overall_score",)
    case.fault, case.expected = (i + 1, names), []
    return case


_LABELS = {"a": "a", "b": "b", 1: "a", 2: "b", "model_a": "a", None: None, "": None}


@g.composite
def votes_cases(draw: Any) -> Case:
    """Two responses with votes and an optional label; or MT-Bench conversations with a winner."""
    case = Case("votes", [])
    mtbench = draw(g.booleans())
    for q in range(draw(g.integers(1, 3))):
        if mtbench:
            user = {"role": "user", "content": draw(TEXT)}
            a, b = draw(TEXT), draw(TEXT)
            winner = draw(g.sampled_from(("model_a", "model_b", "tie", "tie (bothbad)")))
            row = {"question_id": q, "model_a": "m1", "model_b": "m2", "turn": 1,
                   "conversation_a": [user, {"role": "assistant", "content": a}],
                   "conversation_b": [user, {"role": "assistant", "content": b}],
                   "winner": winner, "judge": draw(NAMES.filter(lambda n: not n.startswith(("gpt", "claude"))))}
            case.expected.append(([user], a, b, None, [("human", row["judge"], {"model_a": "a", "model_b": "b",
                                  "tie": "tie", "tie (bothbad)": "both-bad"}[winner])], None))
        else:
            prompt = draw(TEXT)
            votes = draw(g.lists(VOTE, max_size=3))
            label = draw(g.sampled_from(sorted(_LABELS, key=str)))
            row = {"prompt": prompt, "response_a": draw(TEXT), "response_b": draw(TEXT), "votes": votes,
                   "label": label}
            case.expected.append((prompt, row["response_a"], row["response_b"], _LABELS[label],
                                  [(v["kind"], v["annotator"], _CHOICES[v["choice"]]) for v in votes], None))
        case.rows.append(row)
    if mtbench:
        wrong = {"conversation_a": (g.one_of(g.text(max_size=3), g.just([]), g.integers(), g.none()),
                                    ("conversation_a",)),
                 "conversation_b": (g.just([{"role": "user", "content": 5}]), ("conversation_b[0].content",)),
                 "winner": (g.sampled_from(("x", 7, "maybe", "[1]")), ("winner",))}
        # without conversation_a the row is not a conversation: then `prompt` is what is missing
        return _plant(draw, case, wrong, {"conversation_a": ("conversation_a", "prompt"),
                                          "conversation_b": ("conversation_b",)}, {"conversation_a": "messages"})
    if draw(g.integers(0, 4)) == 0:
        return _votes_fault(draw, case)
    wrong = {"prompt": (WRONG_TEXT, ("prompt",)), "response_a": (WRONG_TEXT, ("response_a",)),
             "label": (g.sampled_from(("c", "maybe", 3, [1], {"a": 1})), ("label",))}
    required = {k: (k,) for k in ("prompt", "response_a", "response_b")}
    return _plant(draw, case, wrong, required, {"prompt": "text", "response_b": "text"})


@g.composite
def pandalm_cases(draw: Any) -> Case:
    """PandaLM test-set rows: instruction, optional input, two responses, three annotators."""
    case = Case("pandalm", [])
    for idx in range(draw(g.integers(1, 3))):
        instruction, extra = draw(TEXT), draw(g.one_of(TEXT, g.none()))
        votes = [draw(g.sampled_from((0, 1, 2, "1", "2", "0"))) for _ in range(draw(g.integers(0, 3)))]
        row = {"idx": idx, "instruction": instruction, "input": extra, "response1": draw(TEXT),
               "response2": draw(g.one_of(TEXT, g.booleans(), g.integers())), "cmp_key": "m1_m2",
               **{f"annotator{j}": v for j, v in enumerate(votes, 1)}}
        prompt = f"{instruction}\n\n{extra}" if extra and extra.strip() else instruction
        judged = [("human", f"annotator{j}", _CHOICES[v]) for j, v in enumerate(votes, 1)]
        case.expected.append((prompt, row["response1"], str(row["response2"]), None, judged, None))
        case.rows.append(row)
    wrong = {"idx": (g.sampled_from(([1], {"a": 1})), ("idx",)),
             "instruction": (WRONG_TEXT.filter(lambda v: type(v) is not str), ("instruction",)),
             "input": (g.sampled_from((5, [1], {"a": 1}, True)), ("input",)),
             "response1": (g.one_of(g.none(), g.just([1]), g.just({"a": 1})), ("response1",)),
             "annotator1": (g.sampled_from((3, "x", True, None, [1], 1.5)), ("annotator1",))}
    required = {k: (k,) for k in ("idx", "instruction", "response1", "response2")}
    return _plant(draw, case, wrong, required, {"instruction": "text", "response1": "text"})


LLMBAR = ColumnMapping(prompt="input", response_a="output_1", response_b="output_2", label="label", judge="pref")
CHOSEN_MAP = ColumnMapping(prompt="q", system="sys", chosen="good", rejected="bad")


@g.composite
def mapping_cases(draw: Any) -> Case:
    """Column mappings: LLMBar-style (label 1/2 and a soft AI preference), or chosen/rejected + system."""
    if draw(g.booleans()):
        case = Case("mapping", [], mapping=LLMBAR)
        for _ in range(draw(g.integers(1, 3))):
            label = draw(g.sampled_from((1, 2, "1", "2", None)))
            pref = draw(g.one_of(g.none(), g.floats(1, 2), g.sampled_from((1, 2, 0))))
            row = {"input": draw(TEXT), "output_1": draw(TEXT), "output_2": draw(TEXT), "label": label, "pref": pref}
            if pref is None:
                judged = []
            elif float(pref).is_integer():  # 1/2/0 are a/b/tie
                judged = [("ai", "ai-judge", {0: "tie", 1: "a", 2: "b"}[int(pref)])]
            else:  # a soft preference: 1 + P(response_b is better)
                judged = [("ai", "ai-judge", "a" if pref < 1.5 else "b" if pref > 1.5 else "tie")]
            case.expected.append((row["input"], row["output_1"], row["output_2"],
                                  {1: "a", 2: "b", "1": "a", "2": "b", None: None}[label], judged, None))
            case.rows.append(row)
        wrong = {"input": (WRONG_TEXT, ("input",)), "output_1": (WRONG_TEXT, ("output_1",)),
                 "label": (g.sampled_from((3, "c", [1], {"a": 1})), ("label",)),
                 "pref": (g.sampled_from((2.5, 0.5, -1.25)), ("pref",))}
        required = {k: (k,) for k in ("input", "output_1", "output_2", "label")}
        return _plant(draw, case, wrong, required, {"input": "text", "output_2": "text"})
    case = Case("mapping", [], mapping=CHOSEN_MAP)
    for _ in range(draw(g.integers(1, 3))):
        q, sys_prompt = draw(TEXT), draw(g.one_of(TEXT, g.none()))
        row = {"q": q, "sys": sys_prompt, "good": draw(TEXT), "bad": draw(TEXT)}
        prompt = [{"role": "system", "content": sys_prompt}, {"role": "user", "content": q}] if sys_prompt else q
        case.expected.append((prompt, row["good"], row["bad"], "a", [], None))
        case.rows.append(row)
    wrong = {"q": (WRONG_TEXT, ("q",)), "sys": (g.sampled_from((5, [1], {"a": 1}, True)), ("sys",)),
             "bad": (WRONG_TEXT, ("bad",))}
    return _plant(draw, case, wrong, {"q": ("q",), "good": ("good",), "bad": ("bad",)}, {"q": "text", "good": "text"})


SHAPE_CASES = {
    "explicit-text": explicit_cases(),
    "explicit-messages": explicit_cases(conversational=True),
    "implicit-hh": implicit_cases(),
    "rated": rated_cases(),
    "votes-mtbench": votes_cases(),
    "pandalm": pandalm_cases(),
    "mapping": mapping_cases(),
}
