"""The text search index (curator/store/search.py) on a real DuckDB file and a real tantivy index:
its answers equal the substring scan's, it follows imports and datasets that change under it, and
the scan answers whenever the index cannot."""

from __future__ import annotations

import logging
import shutil
import time

import duckdb
import pytest

from curator.io.batch import batched
from curator.schema import PairFilter, PairRecord
from curator.store import Store

TEXTS = [
    ("How do I sort a list in Python?", "Use sorted(xs).", "Python lists have .sort()."),
    ("Explain CPython's garbage collector.", "Reference counting plus a cycle detector.", "It is magic."),
    ("Write a poem about a garden.", "Roses in the garden, a recipe for joy.", "Gardening is hard."),
    ("A recipe for bread, please.", "Flour, water, salt, yeast.", "Garden recipe: pick herbs."),
    ("What is quantum computing?", "Qubits in superposition.", "Quantumness is a word."),
    ("Tell me about C++ templates.", "Compile-time generics.", "They are Turing complete."),
    ("Translate 'error because' to French.", "erreur parce que", "The error: because of a typo."),
]


def _records(prefix: str, n: int) -> list[PairRecord]:
    return [PairRecord(prompt=f"{p} ({prefix} {i})", response_a=a, response_b=b, label="a")
            for i in range(n) for p, a, b in [TEXTS[i % len(TEXTS)]]]


def _ingest(store: Store, name: str, records: list[PairRecord]) -> None:
    store.ingest(name, batched(records, source="t"), source="t", shape="explicit")


def _both(store: Store, search: str, **kw) -> tuple[list[str], list[str]]:
    """Matching pair ids in source order, by the index and by the scan."""
    f = PairFilter(search=search, **kw)
    store.search_index().clear_cache()
    indexed = store.select_pair_ids(f)
    store.use_search_index = False
    try:
        scanned = store.select_pair_ids(f)
    finally:
        store.use_search_index = True
    return indexed, scanned


def _wait_current(store: Store, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not store.search_index().current or store.search_index().pending:
        assert time.monotonic() < deadline, "the search index did not catch up"
        time.sleep(0.05)


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "s.duckdb")
    _ingest(s, "docs", _records("d", 70))
    yield s
    s.close()


def _prompts(store: Store, search: str) -> set[str]:
    return {store.pair(pid)["prompt"].split(" (")[0] for pid in store.select_pair_ids(PairFilter(search=search))}


def test_index_answers_words_phrases_prefixes_and_mid_word_substrings(store):
    assert store.search_hits("python", ranked=False) is not None  # the index answers, not the scan
    assert _prompts(store, "python") == {TEXTS[0][0], TEXTS[1][0]}  # "CPython" contains it
    assert _prompts(store, '"python"') == {TEXTS[0][0]}  # quoted: the whole word only
    assert _prompts(store, "gard*") == {TEXTS[2][0], TEXTS[3][0]}  # "garden", "Gardening"
    assert _prompts(store, "arden") == {TEXTS[2][0], TEXTS[3][0]}  # inside a word, like a substring
    assert _prompts(store, '"garden recipe"') == {TEXTS[3][0]}  # adjacent, in this order
    assert _prompts(store, "recipe garden") == {TEXTS[2][0], TEXTS[3][0]}  # both words, anywhere
    assert _prompts(store, '"error because"') == {TEXTS[6][0]}  # across punctuation ("error: because")
    assert _prompts(store, "zebra") == set()
    assert store.count_pairs(PairFilter(search="QUANTUM")) == 10


@pytest.mark.parametrize("words_inside", ["word list", "regular expression"])
def test_word_queries_equal_the_scan(store, words_inside):
    index = store.search_index()
    deadline = time.monotonic() + 30
    while index._vocabulary is None:  # the word list is read in the background after each update
        assert time.monotonic() < deadline
        time.sleep(0.05)
    if words_inside == "regular expression":  # as before the word list is read
        index._vocabulary = None
    for search in ("python", "a", "the garden", "recipe", "ytho", "QUANTUM", "d 1", "7", "xyz", "quant*",
                   '"a recipe"', '"error because"', "e", "zzz"):
        indexed, scanned = _both(store, search)
        assert indexed == scanned, search
    indexed, scanned = _both(store, "garden", splits=("train",), prompt_len=(30, None))
    assert indexed == scanned and indexed


def test_terms_the_index_cannot_answer_run_as_the_scan(store, caplog):
    with caplog.at_level(logging.INFO, logger="curator.store.search"):
        assert store.search_hits("c++", ranked=False) is None
        assert _prompts(store, "c++") == {TEXTS[5][0]}
        assert _prompts(store, "sorted(xs)") == {TEXTS[0][0]}
    assert "has characters the index splits words on" in caplog.text


def test_relevance_ranks_whole_words_first(store):
    page = store.pairs_page(PairFilter(search="python"), sort="relevance", limit=40)
    prompts = [p.split(" (")[0] for p in page.column("prompt").to_pylist()]
    assert set(prompts) == {TEXTS[0][0], TEXTS[1][0]}
    assert prompts.index(TEXTS[1][0]) > max(i for i, p in enumerate(prompts) if p == TEXTS[0][0])
    assert store.count_pairs(PairFilter(search="python")) == len(prompts)


def test_imports_are_indexed_incrementally(store):
    _ingest(store, "docs", _records("d", 70) + _records("more", 14))  # 70 stored already, 14 new
    assert store.search_index().last_update["documents"] == 14
    _ingest(store, "other", _records("o", 21))
    assert store.search_index().last_update["documents"] == 21
    assert store.search_hits("more", ranked=False) is not None
    assert store.count_pairs(PairFilter(search="more")) == 14
    assert store.count_pairs(PairFilter(search="quantum", datasets=("other",))) == 3
    indexed, scanned = _both(store, "garden")
    assert indexed == scanned and len(indexed) == 2 * (12 + 3)


def _delete_dataset(path, name: str) -> None:
    """What no Curator command does (labels are kept forever), done behind the store's back."""
    con = duckdb.connect(str(path))
    con.execute("DELETE FROM judgements WHERE pair_id IN (SELECT pair_id FROM pairs WHERE dataset = ?)", [name])
    con.execute("DELETE FROM pairs WHERE dataset = ?", [name])
    con.execute("DELETE FROM datasets WHERE name = ?", [name])
    con.close()


def test_deleted_and_reimported_datasets_are_indexed_again(tmp_path, caplog):
    path = tmp_path / "s.duckdb"
    store = Store(path)
    _ingest(store, "docs", _records("d", 70))
    _ingest(store, "other", _records("o", 14))
    store.close()
    _delete_dataset(path, "docs")
    store = Store(path)
    with caplog.at_level(logging.INFO, logger="curator.store.search"):
        # the first search finds the index behind the table: it scans (right answer) and catches up
        assert store.count_pairs(PairFilter(search="python")) == 4
        _wait_current(store)
    assert "behind the pairs table" in caplog.text
    assert store.search_index().counts() == {"other": 14}
    assert store.count_pairs(PairFilter(search="python")) == 4
    _ingest(store, "docs", _records("again", 7))  # re-imported: new pairs under the old name
    assert store.count_pairs(PairFilter(search="again")) == 7
    indexed, scanned = _both(store, "python")
    assert indexed == scanned and len(indexed) == 6
    store.close()


def test_a_missing_index_is_rebuilt_while_searches_scan(tmp_path, caplog):
    path = tmp_path / "s.duckdb"
    store = Store(path)
    _ingest(store, "docs", _records("d", 35))
    store.close()
    shutil.rmtree(str(path) + ".search")
    store = Store(path)
    with caplog.at_level(logging.INFO, logger="curator.store.search"):
        assert store.count_pairs(PairFilter(search="garden")) == 10
        _wait_current(store)
    assert "is missing" in caplog.text
    assert store.search_hits("garden", ranked=False) is not None
    assert store.count_pairs(PairFilter(search="garden")) == 10
    store.close()
