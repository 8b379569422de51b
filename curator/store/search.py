"""Text search: a tantivy index of every pair's prompt and responses, beside the DuckDB file.

The index lives in ``<db>.search/`` and holds one document per pair: its ``search_key`` (an integer
column of pairs, migration 008), its dataset and its three texts (one field), tokenized into maximal runs of
letters and digits, lowercased, with positions (for phrases). Search syntax (what the Browse page's
help says):

- ``word``: a pair matches when the word occurs in its prompt or a response, also inside a longer
  word (``python`` finds "cpython", like a substring search). Sorted by relevance, the pairs
  where every term matches as whole words come first (then source order).
- ``"two words"``: the words in this order, whole words. ``word*``: a word that starts with it.
- Several terms: every one must match.
- A term with other characters (``c++``, ``e.g.``) is what the index cannot answer: the whole
  query then runs as the substring scan (each term must be a substring, case-insensitive).

A word of letters and digits is a substring of a text exactly when some token contains it, so the
index answers a word query with the rows the scan would return. The index is derived data: the
store brings it up to date after every ingest and checks it against the pairs table per dataset
(count of pairs) before its first use in a process; while it is missing or behind, searches run
as the scan and the reason is logged.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import tantivy

logger = logging.getLogger(__name__)

TEXT_FIELDS = ("prompt", "response_a", "response_b")
TOKENIZER = "curator_words"
# Bumped when the schema or the tokenizer changes: an index of another format is rebuilt.
FORMAT = 2
WRITER_HEAP = 256_000_000
MAX_TERM_SET = 100_000  # more words containing a term than this: the regular expression is as fast
_WORD = re.compile(r"[^\W_]+")  # a maximal run of letters and digits, as tantivy's simple tokenizer
_TERM = re.compile(r'"([^"]*)"?|(\S+)')


@dataclass(frozen=True)
class Term:
    """One term of a search: kind is "word", "prefix" or "phrase"; `text` is lowercased."""

    kind: str
    text: str

    @property
    def words(self) -> list[str]:
        return _WORD.findall(self.text)

    @property
    def indexable(self) -> bool:
        if self.kind == "phrase":
            return bool(self.words)
        return _WORD.fullmatch(self.text) is not None


def parse_search(text: str) -> list[Term]:
    """The terms of a search box entry.

    >>> parse_search('Python "error because" gard*')
    [Term(kind='word', text='python'), Term(kind='phrase', text='error because'), Term(kind='prefix', text='gard')]
    >>> [t.indexable for t in parse_search('c++ "" fine')]
    [False, True]
    """
    terms = []
    for m in _TERM.finditer(text.lower()):
        phrase, word = m.group(1), m.group(2)
        if phrase is not None:
            if phrase.strip():
                terms.append(Term("phrase", " ".join(phrase.split())))
        elif word.endswith("*") and len(word) > 1:
            terms.append(Term("prefix", word.rstrip("*")))
        elif word != "*":
            terms.append(Term("word", word))
    return terms


@dataclass(frozen=True)
class KeySet:
    """A set of pairs by search_key: the pairs in `keys`, or, when `negated`, all pairs but those
    (a common word's non-matches are far fewer than its matches)."""

    keys: pa.Table
    negated: bool


@dataclass(frozen=True)
class SearchHits:
    """The index's answer: `matches`, and for a relevance sort `whole`, the matches where every
    term matches as whole words (they sort first)."""

    matches: KeySet
    whole: KeySet | None = None


class SearchIndex:
    """The tantivy index of one store. Thread-safe: writes take turns, reads use fresh searchers."""

    def __init__(self, db_path: Path):
        self.path = Path(str(db_path) + ".search")
        self._state_path = self.path / "curator_state.json"
        self._lock = threading.RLock()
        self._index: tantivy.Index | None = None
        self.current = False  # True when every pair of the store is in the index (checked by the store)
        self.pending = 0  # ingests between their commit and their index update
        self._pending_lock = threading.Lock()
        self._cache: OrderedDict[tuple, KeySet] = OrderedDict()
        self.last_update: dict[str, float] = {}  # figures of the latest update (benchmarks read them)
        self._vocabulary: pa.Array | None = None  # every word of the index (see _refresh_vocabulary)
        self._generation = 0

    # -- files --------------------------------------------------------------------------------

    @staticmethod
    def _schema() -> tantivy.Schema:
        sb = tantivy.SchemaBuilder()
        sb.add_integer_field("key", indexed=True, fast=True)
        sb.add_text_field("dataset", tokenizer_name="raw", index_option="basic")
        # One field, three values (prompt, response a, response b): one posting list per word to read.
        # tantivy leaves a position gap between values, so a phrase never spans two texts.
        sb.add_text_field("text", tokenizer_name=TOKENIZER, index_option="position")
        return sb.build()

    def _open(self, *, create: bool) -> tantivy.Index | None:
        if self._index is not None:
            return self._index
        state = self.state()
        if state.get("format") != FORMAT:
            if not create:
                return None
            shutil.rmtree(self.path, ignore_errors=True)
            self.path.mkdir(parents=True)
            state = {"format": FORMAT, "datasets": {}}
        self.schema = self._schema()
        index = tantivy.Index(self.schema, path=str(self.path), reuse=True)
        # No length filter: a long token (a URL, a hash) is searchable like the scan finds it.
        index.register_tokenizer(TOKENIZER, tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
                                 .filter(tantivy.Filter.lowercase()).build())
        self._index = index
        self._write_state(state)
        self._refresh_vocabulary()
        return index

    def state(self) -> dict:
        """{"format": FORMAT, "datasets": {name: highest search_key indexed}} ({} when missing)."""
        try:
            return json.loads(self._state_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    def _write_state(self, state: dict) -> None:
        tmp = self._state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state), encoding="utf-8")
        tmp.replace(self._state_path)

    # -- writing ------------------------------------------------------------------------------

    def hold(self, delta: int) -> None:
        """+1 when an ingest is about to commit pairs the index lacks, -1 once it is indexed."""
        with self._pending_lock:
            self.pending += delta

    def counts(self) -> dict[str, int] | None:
        """Live documents per dataset, or None when there is no index."""
        with self._lock:
            index = self._open(create=False)
            if index is None:
                return None
            index.reload()
            searcher = index.searcher()
            out = {}
            for name in self.state().get("datasets", {}):
                q = tantivy.Query.term_query(self.schema, "dataset", name)
                out[name] = searcher.search(q, limit=1, count=True).count
            return out

    def update(self, drop: Iterable[str], batches: Iterable[tuple[str, pa.RecordBatch]],
               watermarks: dict[str, int]) -> int:
        """Delete the documents of datasets `drop`, add `batches` (dataset, rows with search_key
        and TEXT_FIELDS), then record `watermarks` (dataset -> highest key indexed); one commit."""
        added = 0
        started, cpu = time.perf_counter(), time.process_time()
        with self._lock:
            index = self._open(create=True)
            state = self.state()
            writer = index.writer(heap_size=WRITER_HEAP)
            try:
                for name in drop:
                    writer.delete_documents_by_term("dataset", name)
                    state["datasets"].pop(name, None)
                for name, batch in batches:
                    cols = [batch.column(c).to_pylist() for c in ("search_key", *TEXT_FIELDS)]
                    for key, prompt, a, b in zip(*cols, strict=True):
                        writer.add_document(tantivy.Document(key=key, dataset=name, text=[prompt, a, b]))
                    added += batch.num_rows
                writer.commit()
                writer.wait_merging_threads()
            except BaseException:
                writer.rollback()
                raise
            state["datasets"].update(watermarks)
            self._write_state(state)
            index.reload()
            self._cache.clear()
            self._refresh_vocabulary()
        self.last_update = {"documents": added, "seconds": time.perf_counter() - started,
                            "cpu_seconds": time.process_time() - cpu}
        return added

    # -- reading ------------------------------------------------------------------------------

    def clear_cache(self) -> None:
        """Forget the answers kept for repeated searches (a page view asks twice: count, then page)."""
        with self._lock:
            self._cache.clear()

    def _term_query(self, term: Term, *, whole: bool) -> tantivy.Query:
        """One term over the text; `whole`: a word matches only as a whole word."""
        # Terms are letters and digits only (Term.indexable): no regex syntax reaches tantivy.
        q = tantivy.Query
        if term.kind == "phrase":
            words = term.words
            return q.term_query(self.schema, "text", words[0]) if len(words) == 1 \
                else q.phrase_query(self.schema, "text", words)
        if term.kind == "prefix":
            return q.regex_query(self.schema, "text", term.text + ".*")
        if whole:
            return q.term_query(self.schema, "text", term.text)
        vocabulary = self._vocabulary
        if vocabulary is not None:  # the words that contain it, by one vectorized pass over the word list
            inside = vocabulary.filter(pc.match_substring(vocabulary, term.text))
            if len(inside) <= MAX_TERM_SET:
                return q.term_set_query(self.schema, "text", inside.to_pylist()) if len(inside) else q.empty_query()
        # A regular expression walks the whole term dictionary: ~0.5 s for 2M distinct words.
        return q.regex_query(self.schema, "text", f".*{term.text}.*")

    def _refresh_vocabulary(self) -> None:
        """Read the index's word list (seconds for millions of words) in a thread; until it is
        there, a word inside longer words is found by a regular expression."""
        self._vocabulary = None
        generation = self._generation = self._generation + 1

        def read() -> None:
            with self._lock:
                if self._index is None or generation != self._generation:
                    return
                searcher = self._index.searcher()
            words = pa.array([w for w, _ in searcher.terms_with_prefix("text", "")], pa.string())
            with self._lock:
                if generation == self._generation:
                    self._vocabulary = words

        threading.Thread(target=read, name="search-vocabulary", daemon=True).start()

    def _key_set(self, searcher: tantivy.Searcher, query: tantivy.Query, *, likely_common: bool) -> KeySet:
        """The keys of `query`'s documents, or of the others when those are fewer: one count (of
        the side `likely_common` says is smaller) and one fetch."""
        total = searcher.num_docs
        others = tantivy.Query.boolean_query([(tantivy.Occur.Must, tantivy.Query.all_query()),
                                              (tantivy.Occur.MustNot, query)])
        if likely_common:
            n_others = searcher.search(others, limit=1, count=True).count
            n = total - n_others
        else:
            n = searcher.search(query, limit=1, count=True).count
            n_others = total - n
        negated = n > n_others
        wanted, limit = (others, n_others) if negated else (query, n)
        found = searcher.search(wanted, limit=limit, count=False, order_by_field="key").hits if limit else []
        return KeySet(pa.table({"key": pa.array([k for k, _ in found], pa.int64())}), negated)

    def hits(self, terms: list[Term], *, ranked: bool) -> SearchHits:
        """The pairs matching every term (all terms indexable; the index current); `ranked` adds
        the whole-word matches. Answers are kept for repeated searches (a page view asks twice)."""
        with self._lock:
            index = self._open(create=False)
            searcher = index.searcher()
        # A word in most documents (doc_freq is a lookup) makes its non-matches the smaller side.
        words = [t.text for t in terms if t.kind == "word"]
        common = len(words) == len(terms) and min(searcher.doc_freq("text", w) for w in words) > searcher.num_docs // 2

        def key_set(whole: bool) -> KeySet:
            cache_key = (tuple(terms), whole)
            with self._lock:
                cached = self._cache.get(cache_key)
                if cached is not None:
                    self._cache.move_to_end(cache_key)
                    return cached
            query = tantivy.Query.boolean_query([(tantivy.Occur.Must, self._term_query(t, whole=whole))
                                                 for t in terms])
            keys = self._key_set(searcher, query, likely_common=common)
            with self._lock:
                self._cache[cache_key] = keys
                while len(self._cache) > 16:
                    self._cache.popitem(last=False)
            return keys

        return SearchHits(key_set(False), key_set(True) if ranked else None)


class SearchMixin:
    """The store's side of the index: keeping it equal to the pairs table, and asking it."""

    _search: SearchIndex | None = None
    _search_checked = False
    use_search_index = True  # False: every search scans (benchmarks compare the two)

    def search_index(self) -> SearchIndex | None:
        """The index beside this store's file (None for an in-memory store: searches scan)."""
        if self._search is None and str(self.path) != ":memory:":
            self._search = SearchIndex(self.path)
        return self._search

    def sync_search_index(self) -> dict[str, int]:
        """Bring the index up to date with the pairs table, per dataset: new pairs of a dataset are
        added; a dataset whose pairs the index does not mirror (deleted, re-imported, an index
        written by an interrupted update) is indexed again; a dataset gone is dropped. Returns
        {"added": documents written, "datasets_reindexed": n, "datasets_dropped": n}."""
        index = self.search_index()
        if index is None:
            return {"added": 0, "datasets_reindexed": 0, "datasets_dropped": 0}
        with index._lock:
            stored = {name: (int(n), int(top)) for name, n, top in self._rows(
                "SELECT dataset, count(*), max(search_key) FROM pairs GROUP BY dataset", op="sync_search_index")}
            counts = index.counts() or {}
            marks = index.state().get("datasets", {})
            drop = [name for name in counts if name not in stored]
            plan: list[tuple[str, int]] = []  # (dataset, index pairs with search_key > this)
            for name, (n, top) in stored.items():
                have, mark = counts.get(name, 0), marks.get(name)
                if have == n and mark == top:
                    continue
                if mark is not None and have < n and have + self._scalar(
                        "SELECT count(*) FROM pairs WHERE dataset = ? AND search_key > ?", [name, mark],
                        op="sync_search_index") == n:
                    plan.append((name, mark))
                else:
                    if have or mark is not None:
                        drop.append(name)
                    plan.append((name, -1))
            if not drop and not plan:
                index.current = True
                return {"added": 0, "datasets_reindexed": 0, "datasets_dropped": 0}
            with self._cursor() as cur:
                added = index.update(drop, self._search_batches(cur, plan), {name: stored[name][1] for name, _ in plan})
            index.current = True
            self._search_checked = True
            reindexed = sum(1 for name, mark in plan if mark < 0 and name in drop)
            logger.info("search index %s: %d pairs added, %d dataset(s) indexed again, %d dropped",
                        index.path, added, reindexed, len(drop) - reindexed)
            return {"added": added, "datasets_reindexed": reindexed, "datasets_dropped": len(drop) - reindexed}

    def _search_batches(self, cur, plan: list[tuple[str, int]]) -> Iterable[tuple[str, pa.RecordBatch]]:
        for name, mark in plan:
            reader = cur.sql("SELECT search_key, prompt, response_a, response_b FROM pairs "
                             "WHERE dataset = ? AND search_key > ?", params=[name, mark]).to_arrow_reader(20_000)
            for batch in reader:
                yield name, batch

    def search_hits(self, search: str, *, ranked: bool) -> SearchHits | None:
        """The index's answer for a search box entry, or None when the scan must answer (why is logged)."""
        terms = parse_search(search)
        index = self.search_index()
        if not terms or index is None or not self.use_search_index:
            return None
        odd = [t.text for t in terms if not t.indexable]
        if odd:
            logger.info("search %r: %s has characters the index splits words on; scanning", search, odd)
            return None
        if index.pending:
            logger.info("search %r: an import is updating the search index; scanning", search)
            return None
        if not index.current:
            if not self._search_checked:
                self._search_checked = True
                self._check_search_index(index)
            if not index.current:
                logger.info("search %r: the search index is being brought up to date; scanning", search)
                return None
        return index.hits(terms, ranked=ranked)

    def _check_search_index(self, index: SearchIndex) -> None:
        """First search of this process: use the index if it mirrors the pairs table, else update
        it in the background (searches scan meanwhile)."""
        stored = {name: (int(n), int(top)) for name, n, top in self._rows(
            "SELECT dataset, count(*), max(search_key) FROM pairs GROUP BY dataset", op="check_search_index")}
        counts = index.counts()
        marks = index.state().get("datasets", {})
        if counts is not None and counts == {k: v[0] for k, v in stored.items()} \
                and all(marks.get(k) == v[1] for k, v in stored.items()):
            index.current = True
            return
        reason = "missing" if counts is None else "behind the pairs table"
        logger.warning("search index %s is %s: updating it in the background; searches scan meanwhile",
                       index.path, reason)
        threading.Thread(target=self._sync_quietly, name="search-index", daemon=True).start()

    def _sync_quietly(self) -> None:
        try:
            self.sync_search_index()
        except Exception:  # the scan keeps answering; the next search tries again
            logger.exception("could not update the search index %s; searches scan", self._search.path)
            self._search.current = False
            self._search_checked = False

    def _index_after_ingest(self, index: SearchIndex) -> None:
        """Called by an ingest that committed new pairs (and holds `index`)."""
        try:
            self._sync_quietly()
        finally:
            index.hold(-1)
