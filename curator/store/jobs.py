"""The jobs table: a queue of background work (signals runs) and its state machine.

A job moves ``queued -> running -> done | failed | cancelled``; ``failed`` and ``cancelled`` jobs
can go back to ``queued`` (a retry, same work dir, ``attempts`` + 1). Every transition is one
conditional UPDATE that says which states it leaves from, so two threads racing on the same job
cannot both win: the loser gets False. The store only records state; `curator.jobs` launches
and watches the worker processes.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from curator.errors import StoreError

JOB_STATUSES: tuple[str, ...] = ("queued", "running", "done", "failed", "cancelled")
ACTIVE_STATUSES: tuple[str, ...] = ("queued", "running")
FINISHED_STATUSES: tuple[str, ...] = ("done", "failed", "cancelled")

_JOB_COLUMNS = ("job_id, kind, dataset, params, cache_key, status, progress, message, pid, work_dir, result, "
                "error, created_at, started_at, finished_at, cancel_requested_at, attempts")


@dataclass(frozen=True)
class Job:
    """One row of the jobs table, JSON fields decoded."""

    job_id: str
    kind: str
    dataset: str | None
    params: dict[str, Any]
    cache_key: str | None
    status: str
    progress: float
    message: str | None
    pid: int | None
    work_dir: str | None
    result: dict[str, Any] | None
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    cancel_requested_at: datetime | None
    attempts: int

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def cancel_requested(self) -> bool:
        return self.cancel_requested_at is not None

    @property
    def run_id(self) -> str | None:
        """The signal run a done job loaded, if any."""
        return (self.result or {}).get("run_id")


def _job(row: tuple) -> Job:
    values = list(row)
    values[3] = json.loads(values[3]) if values[3] else {}
    values[10] = json.loads(values[10]) if values[10] else None
    return Job(*values)


class JobsMixin:
    # -- writing (each transition is one conditional UPDATE) ----------------------------------

    def submit_job(self, job_id: str, *, kind: str, dataset: str | None, params: dict[str, Any],
                   cache_key: str | None, work_dir: str) -> Job:
        """Record a new job as ``queued``."""
        if not job_id:
            raise ValueError("`job_id` must be a non-empty string.")
        with self._cursor() as cur:
            self._run(cur, "INSERT INTO jobs (job_id, kind, dataset, params, cache_key, status, work_dir) "
                          "VALUES (?, ?, ?, ?, ?, 'queued', ?)",
                     [job_id, kind, dataset, json.dumps(params), cache_key, work_dir], op="submit_job")
        return self.job(job_id)

    def claim_job(self, job_id: str) -> bool:
        """``queued -> running`` (attempts + 1). False when another caller claimed it first."""
        return self._transition(job_id, "status = 'running', started_at = now(), finished_at = NULL, "
                                        "attempts = attempts + 1, progress = 0, message = 'starting'",
                                ("queued",), op="claim_job")

    def set_job_pid(self, job_id: str, pid: int) -> bool:
        return self._transition(job_id, "pid = ?", ("running",), [int(pid)], op="set_job_pid")

    def update_job_progress(self, job_id: str, progress: float, message: str | None = None) -> bool:
        """Record a running job's progress in [0, 1] and a short message."""
        if not 0.0 <= progress <= 1.0:
            raise ValueError(f"`progress` must be between 0 and 1, got {progress}.")
        return self._transition(job_id, "progress = ?, message = ?", ("running",), [float(progress), message],
                                op="update_job_progress")

    def finish_job(self, job_id: str, result: dict[str, Any]) -> bool:
        """``running -> done`` with a JSON-able result (for a signals job: ``run_id`` and counts)."""
        return self._transition(job_id, "status = 'done', progress = 1, message = 'done', result = ?, error = NULL, "
                                        "finished_at = now()", ("running",), [json.dumps(result)], op="finish_job")

    def fail_job(self, job_id: str, error: str) -> bool:
        """``queued | running -> failed``; the job can be retried."""
        return self._transition(job_id, "status = 'failed', message = 'failed', error = ?, finished_at = now()",
                                ACTIVE_STATUSES, [error], op="fail_job")

    def request_job_cancel(self, job_id: str) -> bool:
        """Note that the user asked a running job to stop (the worker is told through its work dir)."""
        return self._transition(job_id, "cancel_requested_at = coalesce(cancel_requested_at, now()), "
                                        "message = 'cancelling'", ("running",), op="request_job_cancel")

    def mark_job_cancelled(self, job_id: str) -> bool:
        """``queued | running -> cancelled``."""
        return self._transition(job_id, "status = 'cancelled', message = 'cancelled', finished_at = now()",
                                ACTIVE_STATUSES, op="mark_job_cancelled")

    def requeue_job(self, job_id: str) -> bool:
        """``failed | cancelled -> queued``, clearing the previous attempt's outcome."""
        return self._transition(job_id, "status = 'queued', progress = 0, message = 'queued for retry', pid = NULL, "
                                        "error = NULL, result = NULL, started_at = NULL, finished_at = NULL, "
                                        "cancel_requested_at = NULL", ("failed", "cancelled"), op="requeue_job")

    def _transition(self, job_id: str, assignments: str, from_statuses: tuple[str, ...],
                    params: list[Any] | None = None, *, op: str) -> bool:
        # `assignments` is always a literal of this module, never user input.
        sql = f"UPDATE jobs SET {assignments} WHERE job_id = ? AND list_contains(?, status) RETURNING job_id"
        args = [*(params or []), job_id, list(from_statuses)]
        for attempt in range(5):
            try:
                with self._cursor() as cur:
                    return bool(self._execute(cur, sql, args, op=op).fetchall())
            except StoreError as e:
                # Two sessions updating the same row at once: DuckDB aborts one; try again.
                if "Conflict" not in str(e) or attempt == 4:
                    raise
                time.sleep(0.02 * (attempt + 1))
        return False

    # -- reading ------------------------------------------------------------------------------

    def job(self, job_id: str) -> Job | None:
        rows = self._rows(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE job_id = ?", [job_id], op="job")
        return _job(rows[0]) if rows else None

    def jobs(self, *, statuses: tuple[str, ...] = (), kind: str | None = None, dataset: str | None = None,
             limit: int = 100) -> list[Job]:
        """Jobs, newest first, optionally restricted to some statuses, a kind or a dataset."""
        bad = [s for s in statuses if s not in JOB_STATUSES]
        if bad:
            raise ValueError(f"Unknown job status {bad}; valid: {JOB_STATUSES}.")
        clauses, params = ["TRUE"], []
        if statuses:
            clauses.append("list_contains(?, status)")
            params.append(list(statuses))
        if kind is not None:
            clauses.append("kind = ?")
            params.append(kind)
        if dataset is not None:
            clauses.append("dataset = ?")
            params.append(dataset)
        rows = self._rows(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE {' AND '.join(clauses)} "
                         "ORDER BY created_at DESC, job_id DESC LIMIT ?", [*params, int(limit)], op="jobs")
        return [_job(r) for r in rows]

    def find_job(self, cache_key: str, *, statuses: tuple[str, ...] = ("done",)) -> Job | None:
        """The newest job with this cache key in one of `statuses` (by default: a finished one)."""
        rows = self._rows(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE cache_key = ? AND list_contains(?, status) "
                         "ORDER BY created_at DESC LIMIT 1", [cache_key, list(statuses)], op="find_job")
        return _job(rows[0]) if rows else None
