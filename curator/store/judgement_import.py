"""Judgements from a file added to the pairs a dataset already holds (verdict files read later).

A source's records are matched to the dataset's stored pairs by pair id (the content hash, with
the source's own key where it has one) and, failing that, by identical prompt and responses when
exactly one stored pair has them. Matched records' judgements are appended to the judgements log;
one identical to a row already there (same pair, kind, annotator, choice and rationale) is counted
as already stored, so importing a file twice adds nothing. Nothing is updated or deleted, and no
pair is added: records without a stored pair are counted, with examples, and left out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import pyarrow as pa

from curator.errors import StoreError
from curator.store.filters import refresh_votes_sql
from curator.store.pairs import _JUDGEMENT_WRITES, register_batch

EXAMPLES = 5
EXAMPLE_CHARS = 120


@dataclass(frozen=True)
class JudgementImportResult:
    """What adding a file's judgements to a stored dataset did.

    ``records`` were read; ``matched`` of them name a stored pair of the dataset, ``unmatched``
    do not (``unmatched_examples``: up to `EXAMPLES` of those, as (record index, start of the
    prompt)). ``new_judgements`` were appended; ``known_judgements`` were in the log already.
    """

    dataset: str
    records: int
    matched: int
    unmatched: int
    new_judgements: int
    known_judgements: int
    unmatched_examples: tuple[tuple[int, str], ...] = ()

    def summary_lines(self) -> list[str]:
        """What the import did, in words (the CLI prints them; the Home page shows them as text)."""
        lines = [f"{self.dataset}: {self.matched:,} of {self.records:,} records matched stored pairs; "
                 f"{self.new_judgements:,} judgements added, {self.known_judgements:,} already stored; "
                 f"{self.unmatched:,} records matched no stored pair (nothing added for them)."]
        lines += [f"unmatched record {i}: {prompt!r}" for i, prompt in self.unmatched_examples]
        return lines


class JudgementImportMixin:
    def add_judgements(self, dataset: str, batches: Iterable[tuple[pa.Table, pa.Table]], *,
                       on_progress: Callable[[int], None] | None = None) -> JudgementImportResult:
        """Append the judgements of `batches` (as for `ingest`) to `dataset`'s matching pairs, in one transaction.

        Raises:
            StoreError: `dataset` does not exist (nothing is changed).
        """
        if not self._scalar("SELECT count(*) FROM datasets WHERE name = ?", [dataset], op="add_judgements"):
            raise StoreError(f"no dataset named {dataset!r}; import its pairs first.", op="add_judgements")
        records = matched = new = known = 0
        examples: list[tuple[int, str]] = []
        with _JUDGEMENT_WRITES.all(), self._transaction() as cur:
            self._run(cur, "CREATE OR REPLACE TEMP TABLE import_touched (pair_id VARCHAR)", op="add_judgements")
            for pairs, judgements in batches:
                register_batch(cur, pairs, judgements)
                # Each record's stored pair: by id, else by identical texts when only one pair has them.
                self._run(cur, """
                    CREATE OR REPLACE TEMP TABLE import_matches AS
                    WITH by_id AS (
                        SELECT b.row_index, b.pair_id AS source_id, p.pair_id FROM batch_pairs b
                        JOIN pairs p ON p.pair_id = b.pair_id AND p.dataset = $1),
                    by_text AS (
                        SELECT b.row_index, b.pair_id AS source_id, any_value(p.pair_id) AS pair_id FROM batch_pairs b
                        JOIN pairs p ON p.dataset = $1 AND p.prompt = b.prompt AND p.response_a = b.response_a
                                    AND p.response_b = b.response_b
                        WHERE b.row_index NOT IN (SELECT row_index FROM by_id)
                        GROUP BY b.row_index, b.pair_id HAVING count(*) = 1)
                    SELECT * FROM by_id UNION ALL SELECT * FROM by_text""", [dataset], op="add_judgements")
                incoming = """
                    SELECT DISTINCT m.pair_id, j.kind, j.annotator, j.choice, j.strength, j.confidence, j.rationale,
                           j.source, j.details
                    FROM batch_judgements j JOIN (SELECT DISTINCT source_id, pair_id FROM import_matches) m
                         ON m.source_id = j.pair_id"""
                offered = self._execute(cur, f"SELECT count(*) FROM ({incoming})", op="add_judgements").fetchall()[0][0]
                added = self._execute(cur, f"""
                    INSERT INTO judgements (pair_id, kind, annotator, choice, strength, confidence, rationale,
                                            source, details)
                    SELECT pair_id, kind, annotator, choice, strength, confidence, rationale, source, details::JSON
                    FROM ({incoming}) i
                    WHERE NOT EXISTS (SELECT 1 FROM judgements e WHERE e.pair_id = i.pair_id AND e.kind = i.kind
                                      AND e.annotator = i.annotator AND e.choice IS NOT DISTINCT FROM i.choice
                                      AND e.rationale IS NOT DISTINCT FROM i.rationale)""",
                                     op="add_judgements").fetchall()[0][0]
                self._run(cur, "INSERT INTO import_touched SELECT DISTINCT pair_id FROM import_matches",
                         op="add_judgements")
                n_matched = self._execute(cur, "SELECT count(*) FROM import_matches", op="add_judgements").fetchall()[0][0]
                if len(examples) < EXAMPLES and n_matched < pairs.num_rows:
                    rows = self._execute(cur, """
                        SELECT row_index, left(prompt, ?) FROM batch_pairs
                        WHERE row_index NOT IN (SELECT row_index FROM import_matches) ORDER BY row_index LIMIT ?""",
                                        [EXAMPLE_CHARS, EXAMPLES - len(examples)], op="add_judgements").fetchall()
                    examples += [(int(i), str(p)) for i, p in rows]
                cur.unregister("batch_pairs")
                cur.unregister("batch_judgements")
                records += pairs.num_rows
                matched += n_matched
                new += added
                known += offered - added
                if on_progress:
                    on_progress(records)
            if new:
                self._run(cur, refresh_votes_sql("SELECT pair_id FROM import_touched"), op="add_judgements")
        return JudgementImportResult(dataset, records, matched, records - matched, new, known, tuple(examples))
