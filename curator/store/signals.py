"""Signal runs: per-pair signals and clusters loaded from the Parquet files a worker wrote."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from curator.schema import SIGNAL_COLUMNS


@dataclass(frozen=True)
class SignalRun:
    run_id: str
    dataset: str
    dataset_version: int
    cache_key: str
    models: list[str]
    params: dict[str, Any]
    n_pairs: int
    created_at: Any


class SignalsMixin:
    def find_signal_run(self, cache_key: str) -> SignalRun | None:
        """The run already computed for this (dataset version, models, parameters) key, if any."""
        runs = [r for r in self.signal_runs() if r.cache_key == cache_key]
        return runs[0] if runs else None

    def signal_runs(self, dataset: str | None = None) -> list[SignalRun]:
        """Runs, newest first."""
        where, params = ("WHERE dataset = ?", [dataset]) if dataset else ("", [])
        rows = self._rows(f"SELECT run_id, dataset, dataset_version, cache_key, models, params, n_pairs, created_at "
                         f"FROM signal_runs {where} ORDER BY created_at DESC, run_id", params, op="signal_runs")
        return [SignalRun(r[0], r[1], r[2], r[3], json.loads(r[4] or "[]"), json.loads(r[5] or "{}"), r[6], r[7])
                for r in rows]

    def load_signal_run(self, *, run_id: str, dataset: str, dataset_version: int, cache_key: str,
                        models: list[str], params: dict[str, Any], signals_path: str | Path,
                        clusters_path: str | Path | None = None) -> int:
        """Ingest a worker's Parquet output as one run, in one transaction. Returns rows loaded.

        The signals file has `pair_id` and any of SIGNAL_COLUMNS (+ `model_margins` as JSON text);
        missing columns are stored as NULL. Pairs not in the dataset are rejected.
        """
        table = pq.read_table(signals_path)
        if "pair_id" not in table.column_names:
            raise ValueError(f"{signals_path}: signals file has no `pair_id` column.")
        unknown = set(table.column_names) - {"pair_id", "model_margins", *SIGNAL_COLUMNS}
        if unknown:
            raise ValueError(f"{signals_path}: unknown signal columns {sorted(unknown)}.")
        cols = [c for c in ("pair_id", *SIGNAL_COLUMNS, "model_margins") if c in table.column_names]
        select = ", ".join(f"t.{c}::JSON" if c == "model_margins" else f"t.{c}" for c in cols)
        with self._transaction() as cur:
            cur.register("run_signals", table)
            stray = self._execute(cur, "SELECT count(*) FROM run_signals t WHERE t.pair_id NOT IN "
                                      "(SELECT pair_id FROM pairs WHERE dataset = ?)", [dataset],
                                 op="load_signal_run").fetchall()[0][0]
            if stray:
                raise ValueError(f"{signals_path}: {stray} pair_id(s) are not in dataset {dataset!r}.")
            self._run(cur, "INSERT INTO signal_runs (run_id, dataset, dataset_version, cache_key, models, params, "
                          "n_pairs) VALUES (?, ?, ?, ?, ?, ?, ?)",
                     [run_id, dataset, dataset_version, cache_key, json.dumps(models), json.dumps(params),
                      table.num_rows], op="load_signal_run")
            self._run(cur, f"INSERT INTO signals (run_id, {', '.join(cols)}) SELECT ?, {select} FROM run_signals t",
                     [run_id], op="load_signal_run")
            cur.unregister("run_signals")
            if clusters_path is not None and Path(clusters_path).exists():
                clusters = pq.read_table(clusters_path)
                cur.register("run_clusters", clusters)
                self._run(cur, "INSERT INTO clusters (run_id, cluster, name, size, terms) "
                              "SELECT ?, cluster, name, size, terms::JSON FROM run_clusters", [run_id],
                         op="load_signal_run")
                cur.unregister("run_clusters")
        return table.num_rows

    def signals(self, run_id: str, columns: tuple[str, ...] = SIGNAL_COLUMNS, *,
                sample: int | None = None) -> pa.Table:
        """Signals of one run (pair_id + the chosen columns), optionally a reproducible sample."""
        bad = [c for c in columns if c not in SIGNAL_COLUMNS]
        if bad:
            raise ValueError(f"Unknown signal columns {bad}; valid: {SIGNAL_COLUMNS}.")
        cols = ", ".join(["s.pair_id", "p.split", "p.label", *(f"s.{c}" for c in columns)])
        sql = f"SELECT {cols} FROM signals s JOIN pairs p USING (pair_id) WHERE s.run_id = ?"
        if sample:
            # A sample size cannot be a bound parameter; int() keeps it a literal. Sampling happens
            # before WHERE in DuckDB, so sample the filtered rows in a subquery.
            sql = f"SELECT * FROM ({sql}) USING SAMPLE reservoir({int(sample)} ROWS) REPEATABLE (0)"
        return self._query(sql, [run_id], op="signals")

    def flag_review(self, run_id: str) -> pa.Table:
        """Labelled pairs of a run: pair_id, label, p_correct, flag_flipped, flag_ambiguous and the response lengths."""
        return self._query("SELECT p.pair_id, p.label, s.p_correct, s.flag_flipped, s.flag_ambiguous, p.len_a, p.len_b "
                          "FROM signals s JOIN pairs p USING (pair_id) WHERE s.run_id = ? AND p.label IS NOT NULL",
                          [run_id], op="flag_review")

    def clusters(self, run_id: str) -> pa.Table:
        return self._query("SELECT cluster, name, size, terms FROM clusters WHERE run_id = ? ORDER BY size DESC",
                          [run_id], op="clusters")

    def pair_signals(self, pair_id: str, run_id: str) -> dict[str, Any] | None:
        rows = self._query("SELECT * EXCLUDE (run_id) FROM signals WHERE run_id = ? AND pair_id = ?",
                          [run_id, pair_id], op="pair_signals").to_pylist()
        if not rows:
            return None
        row = rows[0]
        row["model_margins"] = json.loads(row["model_margins"]) if row.get("model_margins") else {}
        return row
