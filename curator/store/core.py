"""The DuckDB store: the only place in Curator that runs SQL.

One `Store` owns one DuckDB connection per process and runs every call on its own cursor, so the
Streamlit sessions (threads) of one server can read and write at once. Values are always bound
(`?`), identifiers come from allow-lists in curator.schema. Bulk data moves as Arrow tables.
Other processes (workers, trainers) never open the file: they exchange Parquet with the store.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb
import psutil
import pyarrow as pa

from curator.errors import StoreError, StoreLocked

logger = logging.getLogger(__name__)

_OPEN: dict[str, Store] = {}
_OPEN_LOCK = threading.Lock()


def _migrations() -> list[tuple[int, str]]:
    folder = resources.files("curator.store") / "migrations"
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            found.append((int(entry.name.split("_", 1)[0]), entry.read_text(encoding="utf-8")))
    return sorted(found)


def _statements(sql: str) -> list[str]:
    """Split a migration into statements; `--` comments go first, so a `;` inside one splits nothing.

    >>> _statements("CREATE TABLE t (x INT); -- a; b\\nINSERT INTO t VALUES (1);")
    ['CREATE TABLE t (x INT)', 'INSERT INTO t VALUES (1)']
    """
    code = "\n".join(line.split("--", 1)[0] for line in sql.splitlines())
    return [s.strip() for s in code.split(";") if s.strip()]


_LOCK_PID = re.compile(r"Conflicting lock is held in .* \(PID (\d+)\)")


def lock_holder(error: str) -> str | None:
    """What to tell a user whom DuckDB's file lock stopped: which process holds it and what to do."""
    m = _LOCK_PID.search(error)
    if not m:
        return None
    pid = int(m.group(1))
    try:
        cmdline = " ".join(psutil.Process(pid).cmdline())
    except psutil.Error:
        cmdline = ""
    if "streamlit" in cmdline or "curator serve" in cmdline or " serve " in f" {cmdline} ":
        return (f"the Curator app (process {pid}) has this database open, and a DuckDB file has one owner. "
                "`curator ingest`, `export`, `stats` and `signals` hand their work to the app; other commands "
                "cannot run beside it. Use the app's pages while it runs, or stop it (Ctrl+C where `curator serve` "
                f"runs, or `kill {pid}`) and run this command again.")
    shown = f" ({cmdline[:200]})" if cmdline else ""
    return (f"another process (PID {pid}{shown}) has this database open. Close it and run this command again, "
            "or work on a copy of the file.")


class Store:
    """A Curator database file. Use `Store.open(path)` to share one instance per process."""

    # Profiling hook (benchmarks): when set, called as hook(op, sql, seconds) after every statement
    # run through `_execute`, with the thread CPU seconds it took to run (fetching not included).
    statement_hook: Callable[[str, str, float], None] | None = None

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._con = duckdb.connect(str(path), config={"autoinstall_known_extensions": False})
        except duckdb.Error as e:
            holder = lock_holder(str(e))
            if holder is not None:
                raise StoreLocked(f"could not open database {path}: {holder}", op="open",
                                  pid=int(_LOCK_PID.search(str(e)).group(1))) from None
            raise StoreError(f"could not open database {path}: {e}", op="open") from None
        self._migrate()

    @classmethod
    def open(cls, path: str | Path) -> Store:
        """The process-wide store for `path` (created on first use)."""
        key = str(Path(path).resolve()) if str(path) != ":memory:" else ":memory:"
        with _OPEN_LOCK:
            store = _OPEN.get(key)
            if store is None or store.closed:
                store = _OPEN[key] = cls(path)
            return store

    @property
    def closed(self) -> bool:
        return self._con is None

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None

    # -- plumbing -----------------------------------------------------------------------------

    @contextmanager
    def _cursor(self, tables: dict[str, pa.Table] | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor of this thread; `tables` are Arrow tables its statements can read by name."""
        if self._con is None:
            raise StoreError("the store is closed", op="cursor")
        cur = self._con.cursor()
        try:
            for name, table in (tables or {}).items():
                cur.register(name, table)
            yield cur
        finally:
            cur.close()

    @contextmanager
    def _transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor inside BEGIN ... COMMIT; any exception rolls everything back."""
        with self._cursor() as cur:
            cur.execute("BEGIN TRANSACTION").fetchall()
            try:
                yield cur
            except BaseException:
                cur.execute("ROLLBACK").fetchall()
                raise
            cur.execute("COMMIT").fetchall()

    def _execute(self, cur: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] | None = None,
                *, op: str) -> duckdb.DuckDBPyConnection:
        """Run one statement; every statement of the store passes here."""
        logger.debug("%s: %s %s", op, " ".join(sql.split()), params)
        hook = self.statement_hook
        started = time.thread_time() if hook else 0.0
        try:
            result = cur.execute(sql, params or [])
        except duckdb.Error as e:
            raise StoreError(str(e), op=op, sql=sql) from e
        if hook:
            hook(op, sql, time.thread_time() - started)
        return result

    def _run(self, cur: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] | None = None,
            *, op: str) -> None:
        """Run a statement whose result is not needed (DuckDB 2 results must be drained)."""
        self._execute(cur, sql, params, op=op).fetchall()

    def _query(self, sql: str, params: Sequence[Any] | None = None, *, op: str,
              tables: dict[str, pa.Table] | None = None) -> pa.Table:
        logger.debug("%s: %s %s", op, " ".join(sql.split()), params)
        with self._cursor(tables) as cur:
            try:
                return cur.sql(sql, params=list(params or [])).to_arrow_table()
            except duckdb.Error as e:
                raise StoreError(str(e), op=op, sql=sql) from e

    def _rows(self, sql: str, params: Sequence[Any] | None = None, *, op: str) -> list[tuple]:
        with self._cursor() as cur:
            return self._execute(cur, sql, params, op=op).fetchall()

    def _scalar(self, sql: str, params: Sequence[Any] | None = None, *, op: str,
               tables: dict[str, pa.Table] | None = None) -> Any:
        with self._cursor(tables) as cur:
            rows = self._execute(cur, sql, params, op=op).fetchall()
        row = rows[0] if rows else None
        return None if row is None else row[0]

    def _migrate(self) -> None:
        with self._cursor() as cur:
            self._run(cur, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, "
                              "applied_at TIMESTAMP NOT NULL DEFAULT now())", op="migrate")
            done = {r[0] for r in self._execute(cur, "SELECT version FROM schema_version", op="migrate").fetchall()}
        for version, sql in _migrations():
            if version in done:
                continue
            with self._transaction() as cur:
                for statement in _statements(sql):
                    self._run(cur, statement, op=f"migrate {version}")
                self._run(cur, "INSERT INTO schema_version (version) VALUES (?)", [version], op="migrate")
            logger.info("applied migration %03d to %s", version, self.path)

    def schema_version(self) -> int:
        return int(self._scalar("SELECT max(version) FROM schema_version", op="schema_version") or 0)

    def checkpoint(self) -> None:
        with self._cursor() as cur:
            self._run(cur, "CHECKPOINT", op="checkpoint")
