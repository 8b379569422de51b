"""Datasets, pairs and judgements: ingest, paging, detail, overview."""

from __future__ import annotations

import json
import threading
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from curator.errors import StoreError
from curator.schema import CHOICES, JUDGE_KINDS, JUDGEMENT_BATCH_SCHEMA, PairFilter
from curator.store.filters import LEN_DIFF, REFRESH_PAIR_VOTES, build_where, order_by, refresh_votes_sql

# Columns a reader hands over per batch (see curator.io.batch.records_to_tables).
INGEST_PAIR_COLUMNS = ("pair_id", "split", "row_index", "prompt", "prompt_messages", "response_a",
                       "response_b", "label", "metadata")
INGEST_JUDGEMENT_COLUMNS = ("pair_id", "kind", "annotator", "choice", "strength", "confidence",
                            "rationale", "source", "details")

PREVIEW_CHARS = 200

# One judgement row ($1..$9 in INGEST_JUDGEMENT_COLUMNS order), appended only if its pair exists.
INSERT_ONE_JUDGEMENT = """
    INSERT INTO judgements (pair_id, kind, annotator, choice, strength, confidence, rationale, source, details)
    SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9::JSON WHERE EXISTS (SELECT 1 FROM pairs WHERE pair_id = $1)
    RETURNING judgement_id"""

class _JudgementWriteLock:
    """Writes of judgements update their pairs' vote summary columns, and DuckDB rejects concurrent
    UPDATEs of one row ("Conflict on update"), so judgement writes of this process take turns: per
    pair for a label (`pair(pair_id)`: labels of different pairs write at once, two labels of one
    pair one after the other), and all at once for a batch on any pairs (`all()`, which waits for
    every pair writer and holds new ones back). The per-pair holds are striped (`STRIPES` slots)."""

    STRIPES = 256

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._held = [False] * self.STRIPES
        self._pairs = 0  # pair holds in force
        self._batch = False  # a batch holds everything
        self._batch_waiting = 0

    def pair(self, pair_id: str) -> _Hold:
        return _Hold(self, zlib.crc32(pair_id.encode()) % self.STRIPES)

    def all(self) -> _Hold:
        return _Hold(self, None)

    def _acquire(self, stripe: int | None) -> None:
        with self._cond:
            if stripe is None:
                self._batch_waiting += 1
                self._cond.wait_for(lambda: not self._batch and not self._pairs)
                self._batch_waiting -= 1
                self._batch = True
            else:
                self._cond.wait_for(lambda: not self._batch and not self._batch_waiting and not self._held[stripe])
                self._held[stripe] = True
                self._pairs += 1

    def _release(self, stripe: int | None) -> None:
        with self._cond:
            if stripe is None:
                self._batch = False
            else:
                self._held[stripe] = False
                self._pairs -= 1
            self._cond.notify_all()


class _Hold:
    """A reusable `with` block of a _JudgementWriteLock (one per-pair stripe, or everything)."""

    def __init__(self, lock: _JudgementWriteLock, stripe: int | None) -> None:
        self._lock, self._stripe = lock, stripe

    def __enter__(self) -> None:
        self._lock._acquire(self._stripe)

    def __exit__(self, *exc: object) -> None:
        self._lock._release(self._stripe)


_JUDGEMENT_WRITES = _JudgementWriteLock()


@dataclass(frozen=True)
class IngestResult:
    dataset: str
    new_pairs: int
    skipped_pairs: int
    new_judgements: int


@dataclass(frozen=True)
class DatasetSummary:
    name: str
    source: str
    shape: str
    version: int
    pairs: int
    labelled: int
    judgements: int
    human_judgements: int
    ai_judgements: int
    human_labelled: int = 0  # pairs with a dataset label or at least one human judgement
    ai_judged: int = 0  # pairs with at least one AI judgement


class PairsMixin:
    # -- ingest -------------------------------------------------------------------------------

    def ingest(self, dataset: str, batches: Iterable[tuple[pa.Table, pa.Table]], *, source: str, shape: str,
               on_progress: Callable[[int], None] | None = None) -> IngestResult:
        """Add pairs and their judgements in one transaction; pairs already stored are skipped.

        Args:
            dataset: dataset name; created on first import.
            batches: (pairs, judgements) Arrow tables with INGEST_PAIR_COLUMNS and
                INGEST_JUDGEMENT_COLUMNS. Reading errors raised by the iterator roll back everything.
            on_progress: called with the number of source records read so far.
        """
        if not dataset or not dataset.strip():
            raise ValueError("`dataset` must be a non-empty name.")
        index = self.search_index()
        held: list[bool] = []  # set once the transaction holds the index (see below)
        try:
            new, skipped, judged = self._ingest(dataset, batches, source, shape, on_progress, index, held)
        except BaseException:
            if held:
                index.hold(-1)
            raise
        if held:
            self._index_after_ingest(index)
        return IngestResult(dataset, new, skipped, judged)

    def _ingest(self, dataset: str, batches: Iterable[tuple[pa.Table, pa.Table]], source: str, shape: str,
                on_progress: Callable[[int], None] | None, index: Any, held: list[bool]) -> tuple[int, int, int]:
        new = skipped = judged = seen = 0
        with self._transaction() as cur:
            self._run(cur, "INSERT INTO datasets (name, source, shape) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                         [dataset, source, shape], op="ingest")
            self._run(cur, "CREATE OR REPLACE TEMP TABLE ingest_new_ids (pair_id VARCHAR)", op="ingest")
            offset = self._execute(cur, "SELECT coalesce(max(row_index) + 1, 0) FROM pairs WHERE dataset = ?",
                                  [dataset], op="ingest").fetchall()[0][0]
            for pairs, judgements in batches:
                register_batch(cur, pairs, judgements)
                self._run(cur, """
                    CREATE OR REPLACE TEMP TABLE new_ids AS
                    SELECT pair_id, min(row_index) AS row_index FROM batch_pairs b
                    WHERE NOT EXISTS (SELECT 1 FROM pairs p WHERE p.pair_id = b.pair_id)
                    GROUP BY pair_id""", op="ingest")
                added = self._execute(cur, """
                    INSERT INTO pairs (pair_id, dataset, split, row_index, prompt, prompt_messages, response_a,
                                       response_b, label, metadata, len_prompt, len_a, len_b)
                    SELECT b.pair_id, ?, b.split, b.row_index + ?, b.prompt, b.prompt_messages::JSON,
                           b.response_a, b.response_b, b.label, b.metadata::JSON,
                           length(b.prompt), length(b.response_a), length(b.response_b)
                    FROM batch_pairs b JOIN new_ids n ON b.pair_id = n.pair_id AND b.row_index = n.row_index
                    """, [dataset, offset], op="ingest").fetchall()[0][0]
                votes = self._execute(cur, """
                    INSERT INTO judgements (pair_id, kind, annotator, choice, strength, confidence, rationale,
                                            source, details)
                    SELECT pair_id, kind, annotator, choice, strength, confidence, rationale, source, details::JSON
                    FROM batch_judgements WHERE pair_id IN (SELECT pair_id FROM new_ids)
                       OR pair_id IN (SELECT pair_id FROM ingest_new_ids)
                    """, op="ingest").fetchall()[0][0]
                self._run(cur, "INSERT INTO ingest_new_ids SELECT pair_id FROM new_ids", op="ingest")
                if votes:
                    # Only pairs this import created (no other transaction can touch them: no conflicts).
                    self._run(cur, refresh_votes_sql("SELECT pair_id FROM batch_judgements WHERE pair_id IN "
                                                    "(SELECT pair_id FROM ingest_new_ids)"), op="ingest")
                cur.unregister("batch_pairs")
                cur.unregister("batch_judgements")
                new += added
                skipped += pairs.num_rows - added
                judged += votes
                seen += pairs.num_rows
                if on_progress:
                    on_progress(seen)
            if new:
                self._run(cur, "UPDATE datasets SET version = version + 1 WHERE name = ?", [dataset], op="ingest")
                if index is not None:  # searches scan from here until the new pairs are indexed
                    index.hold(1)
                    held.append(True)
            elif not self._execute(cur, "SELECT count(*) FROM pairs WHERE dataset = ?", [dataset],
                                  op="ingest").fetchall()[0][0]:
                # Nothing new and nothing before: do not leave an empty dataset behind.
                self._run(cur, "DELETE FROM datasets WHERE name = ?", [dataset], op="ingest")
        return new, skipped, judged

    # -- judgements (append-only) -------------------------------------------------------------

    def append_judgements(self, rows: list[dict[str, Any]]) -> int:
        """Append judgements; a change of mind is a new row, nothing is ever updated or deleted."""
        table = self._judgement_batch(rows)
        if table is None:
            return 0
        with _JUDGEMENT_WRITES.all(), self._transaction() as cur:
            return len(self._insert_judgements(cur, table))

    def _judgement_batch(self, rows: list[dict[str, Any]]) -> pa.Table | None:
        """Check judgement rows and build their Arrow batch (None for no rows)."""
        for i, r in enumerate(rows):
            if r.get("kind") not in JUDGE_KINDS:
                raise ValueError(f"judgement {i}: `kind` must be one of {JUDGE_KINDS}, got {r.get('kind')!r}.")
            if r.get("choice") is not None and r["choice"] not in CHOICES:
                raise ValueError(f"judgement {i}: `choice` must be one of {CHOICES}, got {r['choice']!r}.")
            if not r.get("annotator"):
                raise ValueError(f"judgement {i}: `annotator` is required.")
        if not rows:
            return None
        return pa.Table.from_pylist([{
            "pair_id": r["pair_id"], "kind": r["kind"], "annotator": r["annotator"], "choice": r.get("choice"),
            "strength": r.get("strength"), "confidence": r.get("confidence"), "rationale": r.get("rationale"),
            "source": r.get("source", "app"),
            "details": None if r.get("details") is None else json.dumps(r["details"], ensure_ascii=False),
        } for r in rows], schema=JUDGEMENT_BATCH_SCHEMA)

    def _insert_judgements(self, cur: Any, table: pa.Table) -> list[int]:
        """Insert a checked batch inside the caller's transaction (which holds `_JUDGEMENT_WRITES`
        for its pairs); returns the new rows' judgement ids, in batch order."""
        if table.num_rows == 1:  # a label: point queries only, whatever the size of the store
            row = table.to_pylist()[0]
            ids = self._execute(cur, INSERT_ONE_JUDGEMENT, [row[c] for c in INGEST_JUDGEMENT_COLUMNS],
                               op="append_judgements").fetchall()
            if not ids:
                raise ValueError("1 judgement(s) name a pair_id that is not in the store.")
            self._run(cur, REFRESH_PAIR_VOTES, [row["pair_id"]], op="append_judgements")
            return [int(ids[0][0])]
        cur.register("new_judgements", table)
        missing = self._execute(cur, "SELECT count(*) FROM new_judgements WHERE pair_id NOT IN "
                                    "(SELECT pair_id FROM pairs)", op="append_judgements").fetchall()[0][0]
        if missing:
            raise ValueError(f"{missing} judgement(s) name a pair_id that is not in the store.")
        ids = self._execute(cur, """
            INSERT INTO judgements (pair_id, kind, annotator, choice, strength, confidence, rationale,
                                    source, details)
            SELECT pair_id, kind, annotator, choice, strength, confidence, rationale, source, details::JSON
            FROM new_judgements RETURNING judgement_id""", op="append_judgements").fetchall()
        self._run(cur, refresh_votes_sql("SELECT pair_id FROM new_judgements"), op="append_judgements")
        cur.unregister("new_judgements")
        return [int(r[0]) for r in ids]

    def judgements(self, pair_id: str) -> pa.Table:
        """Every judgement row of a pair, oldest first (the full log, superseded rows included)."""
        return self._query("SELECT judgement_id, kind, annotator, choice, strength, confidence, rationale, source, "
                          "details, created_at FROM judgements WHERE pair_id = ? ORDER BY judgement_id",
                          [pair_id], op="judgements")

    # -- reading ------------------------------------------------------------------------------

    def datasets(self) -> list[DatasetSummary]:
        rows = self._rows("""
            WITH pc AS (SELECT dataset, count(*) AS n, count(label) AS labelled,
                               count(*) FILTER (WHERE label IS NOT NULL OR n_human > 0) AS human_labelled,
                               count(*) FILTER (WHERE n_ai > 0) AS ai_judged FROM pairs GROUP BY dataset),
                 jc AS (SELECT p.dataset, count(*) AS n, count(*) FILTER (WHERE j.kind = 'human') AS h,
                               count(*) FILTER (WHERE j.kind = 'ai') AS a
                        FROM judgements j JOIN pairs p USING (pair_id) GROUP BY p.dataset)
            SELECT d.name, d.source, d.shape, d.version, coalesce(pc.n, 0), coalesce(pc.labelled, 0),
                   coalesce(jc.n, 0), coalesce(jc.h, 0), coalesce(jc.a, 0), coalesce(pc.human_labelled, 0),
                   coalesce(pc.ai_judged, 0)
            FROM datasets d LEFT JOIN pc ON pc.dataset = d.name LEFT JOIN jc ON jc.dataset = d.name
            ORDER BY d.created_at, d.name""", op="datasets")
        return [DatasetSummary(*r) for r in rows]

    def dataset_version(self, name: str) -> int:
        version = self._scalar("SELECT version FROM datasets WHERE name = ?", [name], op="dataset_version")
        if version is None:
            raise StoreError(f"no dataset named {name!r}", op="dataset_version")
        return int(version)

    def splits(self, datasets: tuple[str, ...] = ()) -> list[str]:
        where, params = ("WHERE list_contains(?, dataset)", [list(datasets)]) if datasets else ("", [])
        return [r[0] for r in self._rows(f"SELECT DISTINCT split FROM pairs {where} ORDER BY 1", params, op="splits")]

    def stats(self) -> dict[str, Any]:
        """Counts for `curator stats`: pairs, judgements and per-dataset pairs."""
        pairs = self._scalar("SELECT count(*) FROM pairs", op="stats")
        judgements = self._scalar("SELECT count(*) FROM judgements", op="stats")
        return {
            "pairs": int(pairs),
            "judgements": int(judgements),
            "datasets": [{"name": d.name, "pairs": d.pairs, "labelled": d.labelled, "judgements": d.judgements,
                          "human_judgements": d.human_judgements, "ai_judgements": d.ai_judgements,
                          "shape": d.shape, "source": d.source, "version": d.version}
                         for d in self.datasets()],
        }

    def _from(self, f: PairFilter) -> tuple[str, list[Any], dict[str, pa.Table]]:
        """FROM ... WHERE of a filter, its params and the Arrow tables it reads (the search index's answer)."""
        sql, params, tables, _ = self._from_hits(f, ranked=False)
        return sql, params, tables

    def _from_hits(self, f: PairFilter, *, ranked: bool) -> tuple[str, list[Any], dict[str, pa.Table], Any]:
        """`_from`, and the search hits; `ranked` adds the whole-word matches a relevance sort needs."""
        hits = self.search_hits(f.search, ranked=ranked) if f.search.strip() else None
        where, params, needs_signals = build_where(f, hits)
        join, jparams = "", []
        if needs_signals:
            join, jparams = "LEFT JOIN signals s ON s.pair_id = p.pair_id AND s.run_id = ?", [f.signal_run]
        tables = {}
        if hits is not None:
            tables["search_hits"] = hits.matches.keys
            if hits.whole is not None:
                tables["search_whole"] = hits.whole.keys
        return f"FROM pairs p {join} WHERE {where}", jparams + params, tables, hits

    def count_pairs(self, f: PairFilter) -> int:
        sql, params, tables = self._from(f)
        return int(self._scalar(f"SELECT count(*) {sql}", params, op="count_pairs", tables=tables))

    def pairs_page(self, f: PairFilter, *, sort: str = "row_index", descending: bool = False,
                   limit: int = 50, offset: int = 0) -> pa.Table:
        """One page of pairs with text previews (never the whole table)."""
        if not 1 <= limit <= 10_000:
            raise ValueError(f"`limit` must be between 1 and 10000, got {limit}.")
        if offset < 0:
            raise ValueError(f"`offset` must be >= 0, got {offset}.")
        sql, params, tables, hits = self._from_hits(f, ranked=sort == "relevance")
        # Late materialization: sort only the keys to find the page's ids, then fetch the previews of
        # those ids. Sorting with the text previews projected costs ~10x more CPU at deep offsets
        # (bench/bench_page.py).
        ids = self._query(f"SELECT p.pair_id {sql} ORDER BY {order_by(sort, descending, hits=hits)} "
                         "LIMIT ? OFFSET ?", params + [limit, offset], op="pairs_page",
                         tables=tables).column("pair_id").to_pylist()
        signal_cols, join, jparams = "", "", []
        if f.signal_run:
            signal_cols = ", s.* EXCLUDE (run_id, pair_id, model_margins)"
            join, jparams = "LEFT JOIN signals s ON s.pair_id = p.pair_id AND s.run_id = ?", [f.signal_run]
        if f.feature_run is not None:  # the filtered feature's activation (null: it does not fire)
            signal_cols += ", fa.activation AS feature_activation"
            join += " LEFT JOIN feature_activations fa ON fa.pair_id = p.pair_id AND fa.run_id = ? AND fa.latent = ?"
            jparams += [f.feature_run, int(f.feature)]
        page = self._query(f"""
            SELECT p.pair_id, p.dataset, p.split, p.row_index, left(p.prompt, {PREVIEW_CHARS}) AS prompt,
                   left(p.response_a, {PREVIEW_CHARS}) AS response_a,
                   left(p.response_b, {PREVIEW_CHARS}) AS response_b, p.label,
                   p.len_prompt, p.len_a, p.len_b, {LEN_DIFF} AS len_diff {signal_cols},
                   p.n_judgements::BIGINT AS n_judgements, p.n_human::BIGINT AS n_human, p.n_ai::BIGINT AS n_ai
            FROM pairs p {join} WHERE list_contains(?, p.pair_id) ORDER BY list_position(?, p.pair_id)""",
                          jparams + [ids, ids], op="pairs_page")
        return page

    def pair(self, pair_id: str) -> dict[str, Any] | None:
        """The full pair, with metadata and prompt messages decoded, or None."""
        rows = self._query("SELECT * EXCLUDE (created_at) FROM pairs WHERE pair_id = ?", [pair_id],
                          op="pair").to_pylist()
        if not rows:
            return None
        row = rows[0]
        row["prompt_messages"] = json.loads(row["prompt_messages"]) if row["prompt_messages"] else None
        row["metadata"] = json.loads(row["metadata"]) if row["metadata"] else {}
        return row

    def pairs_for_compute(self, dataset: str) -> pa.Table:
        """Full text of every pair of a dataset, in source order, for a signals job."""
        return self._query("SELECT pair_id, split, prompt, prompt_messages, response_a, response_b, label "
                          "FROM pairs WHERE dataset = ? ORDER BY row_index", [dataset], op="pairs_for_compute")

    def overview(self, dataset: str) -> dict[str, Any]:
        """Counts and label sources of one dataset, for the overview page."""
        by_split = self._rows("SELECT split, count(*), count(label) FROM pairs WHERE dataset = ? GROUP BY split "
                             "ORDER BY split", [dataset], op="overview")
        sources = self._rows("""
            SELECT j.kind, j.annotator, count(*), count(DISTINCT j.pair_id)
            FROM judgements j JOIN pairs p USING (pair_id) WHERE p.dataset = ?
            GROUP BY j.kind, j.annotator ORDER BY j.kind, count(*) DESC""", [dataset], op="overview")
        choices = self._rows("""
            SELECT j.kind, coalesce(j.choice, 'none'), count(*) FROM judgements j JOIN pairs p USING (pair_id)
            WHERE p.dataset = ? GROUP BY 1, 2 ORDER BY 1, 2""", [dataset], op="overview")
        disagreeing = self._scalar("SELECT count(*) FROM pairs WHERE dataset = ? AND disagree",
                                  [dataset], op="overview")
        return {
            "splits": [{"split": s, "pairs": n, "labelled": lab} for s, n, lab in by_split],
            "label_sources": [{"kind": k, "annotator": a, "judgements": n, "pairs": np_} for k, a, n, np_ in sources],
            "choices": [{"kind": k, "choice": c, "count": n} for k, c, n in choices],
            "disagreeing_pairs": int(disagreeing),
        }




def register_batch(cur: Any, pairs: pa.Table, judgements: pa.Table) -> None:
    """Check an ingest batch's columns and expose it to SQL as ``batch_pairs`` / ``batch_judgements``."""
    _check_columns(pairs, INGEST_PAIR_COLUMNS, "pairs")
    _check_columns(judgements, INGEST_JUDGEMENT_COLUMNS, "judgements")
    cur.register("batch_pairs", pairs)
    cur.register("batch_judgements", judgements)


def _check_columns(table: pa.Table, expected: tuple[str, ...], what: str) -> None:
    missing = [c for c in expected if c not in table.column_names]
    if missing:
        raise ValueError(f"{what} batch lacks columns {missing}; expected {list(expected)}.")

