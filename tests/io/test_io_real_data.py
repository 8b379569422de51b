"""The readers on the real datasets in ../shared/data (skipped on a clone without them).

Counts are the datasets' own (see shared/data/README.md). Two facts found while writing these:
every HH-RLHF test pair is distinct (8,552 pair ids for 8,552 lines, including the 36 pairs whose
chosen and rejected are identical), while PandaLM and MT-Bench repeat identical texts for different
model pairs (999 PandaLM rows hold 900 distinct texts; MT-Bench 1,232 rows hold 1,224). Those
readers add the source's own item identity to the pair id, so every row stays its own pair.
"""

from __future__ import annotations

from collections import Counter

import pytest

from curator.ingest import ingest_source
from curator.io import ColumnMapping, read_source

pytestmark = pytest.mark.shared_data

HH_SUBSETS = {"helpful-base": 2354, "harmless-base": 2312, "helpful-online": 1137, "helpful-rejection-sampled": 2749}
HH_IDENTICAL = {"helpful-base": 2, "harmless-base": 0, "helpful-online": 2, "helpful-rejection-sampled": 32}


def test_hh_rlhf_four_subsets(shared_data, make_store):
    store = make_store()
    total = 0
    for subset, n in HH_SUBSETS.items():
        source = read_source(shared_data / "hh_rlhf" / subset / "test.jsonl.gz")
        assert (source.shape, source.name, source.estimated_total) == ("implicit", subset, n)
        records = list(source.records())
        assert len(records) == n == len({r.pair_id for r in records})
        assert sum(r.response_a == r.response_b for r in records) == HH_IDENTICAL[subset]
        assert {r.split for r in records} == {"test"}
        assert all(r.metadata["subset"] == subset and r.label == "a" for r in records)
        # Two helpful-online transcripts end on a human turn: the responses keep their messages.
        assert sum("response_a_messages" in r.metadata for r in records) == (2 if subset == "helpful-online" else 0)
        assert all(isinstance(r.prompt, list) and r.prompt[-1]["role"] == "user" for r in records)
        result = ingest_source(store, source, name="hh-rlhf")
        assert (result.new_pairs, result.skipped_pairs) == (n, 0)
        total += n
    assert total == 8552 and store.stats()["pairs"] == 8552
    again = ingest_source(store, shared_data / "hh_rlhf" / "helpful-base" / "test.jsonl.gz", name="hh-rlhf")
    assert (again.new_pairs, again.skipped_pairs) == (0, 2354)


def test_hh_rlhf_multi_turn_prompt_messages(shared_data):
    source = read_source(shared_data / "hh_rlhf" / "helpful-base" / "test.jsonl.gz")
    records = list(source.records())
    sample = records[5]  # a three-turn conversation about BitTorrent
    assert [m["role"] for m in sample.prompt] == ["user", "assistant", "user"]
    assert sample.prompt[0]["content"] == ("Is it illegal to BitTorrent content in the United States? "
                                           "Why or not why?")
    assert sample.prompt[1]["content"].startswith("On a legal basis, it is not illegal to download content")
    assert sample.response_a.startswith("Basically, downloading copyrighted content without permission")
    assert sample.response_b.startswith("Copyright covers both publication and performance.")
    assert not any("Human:" in m["content"] or "Assistant:" in m["content"] for m in sample.prompt)
    turns = Counter(len(r.prompt) for r in records)
    assert turns[1] > 0 and sum(v for k, v in turns.items() if k >= 3) > 0


def test_pandalm_testset_with_ai_verdicts(shared_data, make_store):
    source = read_source(shared_data / "pandalm" / "testset-v1.json")
    assert (source.shape, source.estimated_total) == ("pandalm", 999)
    records = list(source.records())
    assert len(records) == len({r.pair_id for r in records}) == 999
    kinds = Counter(j.kind for r in records for j in r.judgements)
    assert kinds == {"human": 2997, "ai": 1998}
    judges = Counter(j.annotator for r in records for j in r.judgements if j.kind == "ai")
    assert judges == {"gpt-3.5-turbo": 999, "pandalm-7b": 999}
    garbage = [j for r in records for j in r.judgements if j.annotator == "gpt-3.5-turbo" and j.choice is None]
    assert len(garbage) == 25 and all(j.details["raw"] == "garbage" for j in garbage)
    first = records[0]
    assert first.prompt.startswith("The sentence you are given might be too wordy") and "\n\nIf you have" in first.prompt
    assert first.label is None
    assert first.metadata == {"motivation_app": "Grammarly", "idx": 0, "cmp_key": "bloom-7b_llama-7b",
                              "model_a": "bloom-7b", "model_b": "llama-7b"}
    assert sum("coerced" in r.metadata for r in records) == 6

    store = make_store()
    result = ingest_source(store, source)
    assert (result.new_pairs, result.new_judgements) == (999, 4995)
    summary = store.stats()["datasets"][0]
    assert (summary["human_judgements"], summary["ai_judgements"]) == (2997, 1998)
    merged = ingest_source(store, shared_data / "pandalm" / "pandalm_merged.jsonl", name="testset-v1")
    assert (merged.new_pairs, merged.skipped_pairs) == (0, 999)


def test_pandalm_merged_matches_the_testset(shared_data):
    merged = list(read_source(shared_data / "pandalm" / "pandalm_merged.jsonl").records())
    testset = list(read_source(shared_data / "pandalm" / "testset-v1.json").records())
    assert [r.pair_id for r in merged] == [r.pair_id for r in testset]
    assert Counter(j.kind for r in merged for j in r.judgements) == {"human": 2997, "ai": 1998}
    same_votes = sum([(j.kind, j.annotator, j.choice) for j in a.judgements]
                     == [(j.kind, j.annotator, j.choice) for j in b.judgements] for a, b in zip(merged, testset, strict=True))
    assert same_votes == 999


def test_mt_bench_votes(shared_data, make_store):
    source = read_source(shared_data / "mt_bench_human_vs_gpt4" / "mt_bench_pairs_human_gpt4.jsonl")
    assert source.shape == "votes"
    records = list(source.records())
    assert len(records) == len({r.pair_id for r in records}) == 1232
    human = [j for r in records for j in r.judgements if j.kind == "human"]
    ai = [j for r in records for j in r.judgements if j.kind == "ai"]
    assert len(human) == 1751 and len(ai) == 1232
    assert Counter(j.choice for j in human) == {"b": 1040, "tie": 417, "a": 294}
    assert Counter(j.choice for j in ai) == {"b": 823, "tie": 302, "a": 107}
    assert sum(1 for j in ai if j.details and j.details.get("raw") == "tie (inconsistent)") == 194
    turn1 = next(r for r in records if r.metadata["turn"] == 1)
    assert [m["role"] for m in turn1.prompt] == ["user"] and turn1.label is None
    assert {"model_a", "model_b", "category", "question_id"} <= set(turn1.metadata)
    turn2 = next(r for r in records if r.metadata["turn"] == 2 and "response_a_messages" in r.metadata)
    assert [m["role"] for m in turn2.metadata["response_a_messages"]] == ["assistant", "user", "assistant"]
    result = ingest_source(make_store(), source)
    assert (result.new_pairs, result.new_judgements) == (1232, 2983)


def test_llmbar_through_a_mapping(shared_data):
    mapping = ColumnMapping(prompt="input", response_a="output_1", response_b="output_2", label="label")
    natural = list(read_source(shared_data / "llmbar" / "LLMBar" / "Natural" / "dataset.json",
                               mapping=mapping).records())
    assert len(natural) == 100 and Counter(r.label for r in natural) == {"b": 58, "a": 42}
    joined = read_source(shared_data / "llmbar" / "llmbar_pairs_with_judges.jsonl",
                         mapping={"prompt": "input", "response_a": "output_1", "response_b": "output_2",
                                  "label": "human_label"})
    records = list(joined.records())
    assert len(records) == 885 and Counter(r.label for r in records) == {"b": 445, "a": 440}
    assert records[0].metadata["subset"] == "LLMBar/Adversarial/GPTInst" and "judges" in records[0].metadata


def test_alpaca_eval_annotations_as_ai_judgements(shared_data):
    mapping = ColumnMapping(prompt="instruction", response_a="output_1", response_b="output_2",
                            judge="preference", judge_name="gpt-4-turbo", drop=("raw_completion",))
    source = read_source(shared_data / "alpaca_eval_gpt4turbo_annotations" / "alpaca-7b" / "annotations.json",
                         mapping=mapping)
    records = list(source.records())
    assert source.name == "alpaca-7b" and len(records) == 805
    verdicts = [r.judgements[0] for r in records]
    assert all(j.kind == "ai" and j.annotator == "gpt-4-turbo" for j in verdicts)
    assert Counter(j.choice for j in verdicts)["a"] > 700  # the GPT-4-turbo reference usually wins
    assert all(0.0 <= j.strength <= 1.0 for j in verdicts)
    assert "raw_completion" not in records[0].metadata and records[0].metadata["generator_2"] == "alpaca-7b"
