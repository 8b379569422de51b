"""Canonical records, one per supported input shape (and variant), with what each must become.

Each entry: an id, the rows of a tiny source, the shape `read_source` must detect, and the
expected PairRecords as (prompt, response_a, response_b, label, judgements as (kind, annotator,
choice)). Reused by the shape, format and ingest tests through `pytest.mark.parametrize`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from curator.io import ColumnMapping

HH_CHOSEN = ("\n\nHuman: What's a good name for a cat?\n\nAssistant: Do you like short names?"
             "\n\nHuman: Yes, short ones.\n\nAssistant: Try Miso, Pip or Tofu.")
HH_REJECTED = ("\n\nHuman: What's a good name for a cat?\n\nAssistant: Do you like short names?"
               "\n\nHuman: Yes, short ones.\n\nAssistant: Cats don't need names.")
USER = {"role": "user", "content": "Name a prime number."}


@dataclass(frozen=True)
class Case:
    id: str
    rows: list[dict[str, Any]]
    shape: str
    expected: list[tuple[Any, str, str, str | None, list[tuple[str, str, str | None]]]]
    options: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)  # keys that must be in the first pair's metadata
    text_only: bool = False  # every value is a string: CSV can hold it


CATALOG: list[Case] = [
    Case("explicit-text",
         [{"prompt": "2+2?", "chosen": "4", "rejected": "5", "model": "m1"}],
         "explicit", [("2+2?", "4", "5", "a", [])], metadata={"model": "m1"}, text_only=True),
    Case("explicit-conversational",
         [{"prompt": [USER], "chosen": [{"role": "assistant", "content": "7"}],
           "rejected": [{"role": "assistant", "content": "8"}],
           "votes": [{"annotator": "ann1", "kind": "human", "choice": "chosen"},
                     {"annotator": "judge", "kind": "ai", "choice": "rejected", "rationale": "hm"}]}],
         "explicit", [([USER], "7", "8", "a", [("human", "ann1", "a"), ("ai", "judge", "b")])]),
    Case("explicit-full-conversations",  # ultrafeedback_binarized: chosen/rejected repeat the prompt turn
         [{"prompt": "Name a prime number.", "prompt_id": "p1", "chosen": [USER, {"role": "assistant", "content": "7"}],
           "rejected": [USER, {"role": "assistant", "content": "8"}]}],
         "explicit", [([USER], "7", "8", "a", [])], metadata={"prompt_id": "p1"}),
    Case("implicit-hh-transcript",
         [{"chosen": HH_CHOSEN, "rejected": HH_REJECTED}],
         "implicit",
         [([{"role": "user", "content": "What's a good name for a cat?"},
            {"role": "assistant", "content": "Do you like short names?"},
            {"role": "user", "content": "Yes, short ones."}],
           "Try Miso, Pip or Tofu.", "Cats don't need names.", "a", [])], text_only=True),
    Case("implicit-plain-text",
         [{"chosen": "Q: capital of France? A: Paris", "rejected": "Q: capital of France? A: Lyon"}],
         "implicit", [("Q: capital of France? A:", "Paris", "Lyon", "a", [])], text_only=True),
    Case("implicit-conversational",
         [{"chosen": [USER, {"role": "assistant", "content": "7"}],
           "rejected": [USER, {"role": "assistant", "content": "9"}]}],
         "implicit", [([USER], "7", "9", "a", [])]),
    Case("rated-ultrafeedback",
         [{"instruction": "Say hi", "source": "demo",
           "completions": [{"model": "m1", "response": "hi", "overall_score": 3.0},
                           {"model": "m2", "response": "hello there", "overall_score": 5.0},
                           {"model": "m3", "response": "go away", "overall_score": 1.0}]}],
         "rated", [("Say hi", "hello there", "go away", "a", [])],
         metadata={"score_chosen": 5.0, "score_rejected": 1.0, "model_chosen": "m2", "source": "demo"}),
    Case("rated-lists-all-pairs",
         [{"prompt": "Say hi", "responses": ["hi", "hello there", "go away"], "scores": [3, 5, 1]}],
         "rated", [("Say hi", "hello there", "hi", "a", []), ("Say hi", "hi", "go away", "a", []),
                   ("Say hi", "hello there", "go away", "a", [])],
         options={"pairing": "all-pairs"}),
    Case("rated-per-row",
         [{"prompt": "Say hi", "response": "hi", "score": "3"},
          {"prompt": "Say hi", "response": "hello there", "score": "5"},
          {"prompt": "Say bye", "response": "bye", "score": "2"},
          {"prompt": "Say bye", "response": "see you soon", "score": "4"}],
         "rated", [("Say hi", "hello there", "hi", "a", []), ("Say bye", "see you soon", "bye", "a", [])],
         text_only=True),
    Case("votes-generic",
         [{"prompt": "2+2?", "response_a": "4", "response_b": "5", "category": "math",
           "votes": [{"annotator": "ann1", "kind": "human", "choice": "a", "confidence": 0.9},
                     {"annotator": "ann2", "kind": "human", "choice": "tie"},
                     {"annotator": "gpt", "kind": "ai", "choice": "both-bad", "strength": 0.2}]}],
         "votes", [("2+2?", "4", "5", None, [("human", "ann1", "a"), ("human", "ann2", "tie"),
                                             ("ai", "gpt", "both-bad")])],
         metadata={"category": "math"}),
    Case("votes-labelled",
         [{"prompt": "2+2?", "response_a": "5", "response_b": "4", "preferred": "b"}],
         "votes", [("2+2?", "5", "4", "b", [])], text_only=True),
    Case("votes-mt-bench",
         [{"pair_id": "q1_t1_x__vs__y", "question_id": 1, "turn": 1, "model_a": "x", "model_b": "y",
           "conversation_a": [USER, {"role": "assistant", "content": "7"}],
           "conversation_b": [USER, {"role": "assistant", "content": "6"}],
           "human_votes": [{"judge": "expert_1", "winner": "model_a"}, {"judge": "author_2", "winner": "tie"}],
           "gpt4_winner": "tie (inconsistent)"}],
         "votes", [([USER], "7", "6", None, [("human", "expert_1", "a"), ("human", "author_2", "tie"),
                                             ("ai", "gpt-4", "tie")])],
         metadata={"source_pair_id": "q1_t1_x__vs__y", "model_a": "x"}),
    Case("pandalm-testset",
         [{"idx": 0, "motivation_app": "Grammarly", "cmp_key": "bloom-7b_llama-7b", "instruction": "Fix it.",
           "input": "teh cat", "response1": "the cat", "response2": True,
           "annotator1": 1, "annotator2": 0, "annotator3": 2}],
         "pandalm", [("Fix it.\n\nteh cat", "the cat", "True", None,
                      [("human", "annotator1", "a"), ("human", "annotator2", "tie"), ("human", "annotator3", "b")])],
         metadata={"model_a": "bloom-7b", "model_b": "llama-7b", "idx": 0, "coerced": ["response2"]}),
    Case("pandalm-merged",
         [{"id": 3, "cmp_key": "a_b", "motivation_app": "X", "instruction": "Fix it.", "input": "",
           "response1": "r1", "response2": "r2", "human_labels": [2, 2, 1], "human_majority": 2,
           "human_unanimous": False, "gpt35_label": None, "gpt35_raw": "garbage", "gpt35_reason": "",
           "pandalm7b_label": 0, "pandalm7b_reason": "same"}],
         "pandalm", [("Fix it.", "r1", "r2", None,
                      [("human", "annotator1", "b"), ("human", "annotator2", "b"), ("human", "annotator3", "a"),
                       ("ai", "gpt-3.5-turbo", None), ("ai", "pandalm-7b", "tie")])]),
    Case("mapping-llmbar",
         [{"input": "Q?", "output_1": "good", "output_2": "bad", "label": 1},
          {"input": "R?", "output_1": "bad", "output_2": "good", "label": 2}],
         "mapping", [("Q?", "good", "bad", "a", []), ("R?", "bad", "good", "b", [])],
         options={"mapping": ColumnMapping(prompt="input", response_a="output_1", response_b="output_2",
                                           label="label")}),
    Case("mapping-chosen-rejected-dict",
         [{"question": "Q?", "context": "ctx", "good": "yes", "bad": "no", "sys": "Be brief."}],
         "mapping", [([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Q?\n\nctx"}],
                      "yes", "no", "a", [])],
         options={"mapping": {"prompt": "question", "context": "context", "system": "sys", "chosen": "good",
                              "rejected": "bad"}}, text_only=True),
    Case("mapping-rated-per-row",
         [{"q": "Say hi", "sys": "Be nice.", "ans": "hi", "helpfulness": 3, "verbosity": 1},
          {"q": "Say hi", "sys": "Be nice.", "ans": "hello there", "helpfulness": 4, "verbosity": 2}],
         "mapping", [([{"role": "system", "content": "Be nice."}, {"role": "user", "content": "Say hi"}],
                      "hello there", "hi", "a", [])],
         options={"mapping": {"prompt": "q", "system": "sys", "response": "ans", "score": "helpfulness"}},
         metadata={"score_chosen": 4.0, "attributes_rejected": {"verbosity": 1}}),
]

BY_ID = {case.id: case for case in CATALOG}
