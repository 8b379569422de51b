"""Training runs as jobs of kind ``train``: the run folder, the command, and registering the model.

`submit_run` writes a run folder and queues a job in the jobs table; `curator.jobs` starts,
watches, cancels and retries it like any job (`curator.jobs.sync`), and when a run has ended
well its model is registered (`curator.train.registry.register_run`) by whoever syncs it: the
app or the CLI. A run folder ``<runs root>/<run_id>/`` (the job's work dir; the run id is the job id)
holds:

- ``config.json``: the run config (`config_from_dict` rebuilds it), ``meta.json``: id, method, export, command;
- ``log.txt``: everything the process printed; ``metrics.jsonl``: one line per logging step;
  ``progress.json``: the last logged step over the run's steps;
- the job end markers of `curator.jobs.workdir`: ``done.json`` (final metrics), ``error.json``
  (traceback) or ``cancelled.json`` (SIGTERM received);
- ``model/``: the trained model, ``eval.json``: held-out metrics.

The process (`python -m curator.train.run <run_dir>`, or `accelerate launch` of it with several GPUs)
never opens the DuckDB file.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from curator import jobs
from curator.errors import CuratorError
from curator.jobs.registry import JobKind
from curator.train.config import _HFRunConfig, _RunConfig, config_from_dict
from curator.train.metrics import read_metrics
from curator.train.registry import register_run

if TYPE_CHECKING:
    from curator.jobs.workdir import WorkDir
    from curator.store import Job, Store

KIND = "train"
METRICS = "metrics.jsonl"
LOG = "log.txt"


class RunError(CuratorError):
    """A training run cannot be found or started."""


@dataclass(frozen=True)
class RunInfo:
    """A training run: its job's state and its folder."""

    run_id: str
    run_dir: Path
    method: str
    status: str
    progress: float
    pid: int | None
    export_id: str | None
    created_at: str
    final: dict[str, Any]
    error: str | None
    model_id: str | None
    attempts: int

    @property
    def finished(self) -> bool:
        return self.status not in ("queued", "running")


def _gpu_count() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def build_command(cfg: _RunConfig, run_dir: Path) -> list[str]:
    """The command a run executes: the module itself, or `accelerate launch` of it on several GPUs."""
    inner = ["-m", "curator.train.run", str(run_dir)]
    if isinstance(cfg, _HFRunConfig):
        n = cfg.num_processes or _gpu_count()
        if n > 1:
            return [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", str(n), *inner]
    return [sys.executable, *inner]


def _absolute(cfg: _RunConfig) -> _RunConfig:
    """Paths of the config made absolute: the process runs in its run folder."""
    changes: dict[str, str] = {"data": str(Path(cfg.data).resolve())}
    for name in ("base_model", "ref_model", "embedder", "cache_dir"):
        value = getattr(cfg, name, "")
        if value and Path(value).exists():
            changes[name] = str(Path(value).resolve())
    return replace(cfg, **changes)


def submit_run(store: Store, cfg: _RunConfig, *, export_id: str | None = None, runs_dir: str | Path | None = None,
               run_id: str | None = None) -> RunInfo:
    """Write the run folder and queue the training job (started at once when a slot is free)."""
    cfg = _absolute(cfg)
    if not (Path(cfg.data) / "train.parquet").exists():
        raise RunError(f"{cfg.data} has no train.parquet; point `data` at an export folder.")
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    run_id = run_id or f"{cfg.method}-{stamp}-{secrets.token_hex(2)}"
    root = Path(runs_dir) if runs_dir is not None else jobs.default_runs_dir(store)
    run_dir = root.resolve() / run_id
    try:
        run_dir.mkdir(parents=True, exist_ok=False)
    except FileExistsError:
        raise RunError(f"Run folder {run_dir} exists already; runs are never overwritten.") from None
    (run_dir / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2))
    (run_dir / "meta.json").write_text(json.dumps({
        "run_id": run_id, "method": cfg.method, "export_id": export_id, "data": str(cfg.data),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": build_command(cfg, run_dir)}, indent=2))
    jobs.submit(store, run_id, kind=KIND, dataset=None, work_dir=run_dir,
                params={"method": cfg.method, "export_id": export_id, "config": cfg.to_dict()})
    return run_info(store, run_id)


def _info(job: Job) -> RunInfo:
    run_dir = Path(job.work_dir or "")
    final: dict[str, Any] = {}
    if job.status == "done":
        try:
            final = json.loads((run_dir / "done.json").read_text())
        except (OSError, json.JSONDecodeError):
            final = {k: v for k, v in (job.result or {}).items() if k != "model_id"}
    return RunInfo(job.job_id, run_dir, str(job.params.get("method", "")), job.status, float(job.progress), job.pid,
                   job.params.get("export_id"), f"{job.created_at:%Y-%m-%d %H:%M:%S}", final, job.error,
                   (job.result or {}).get("model_id"), job.attempts)


def run_info(store: Store, run_id: str) -> RunInfo:
    """The run's state as the jobs table has it (call `curator.jobs.sync` first for a fresh one)."""
    job = store.job(run_id)
    if job is None or job.kind != KIND:
        raise RunError(f"No training run {run_id!r}; `curator train status` lists them.")
    return _info(job)


def list_runs(store: Store, *, limit: int = 100) -> list[RunInfo]:
    """Training runs, newest first."""
    return [_info(j) for j in store.jobs(kind=KIND, limit=limit)]


def cancel_run(store: Store, run_id: str) -> RunInfo:
    """Stop a run: SIGTERM now (the process leaves its cancelled marker), SIGKILL if it lingers."""
    run_info(store, run_id)
    jobs.cancel(store, run_id)
    return run_info(store, run_id)


def wait_run(store: Store, run_id: str, *, timeout_s: float = 600.0, poll_s: float = 0.2) -> RunInfo:
    """Sync until the run ends and return its state (`JobError` after `timeout_s`; it keeps running)."""
    run_info(store, run_id)
    jobs.wait(store, run_id, poll=poll_s, timeout=timeout_s)
    return run_info(store, run_id)


def run_metrics(run_dir: str | Path) -> list[dict[str, Any]]:
    """The run's metrics lines so far."""
    return read_metrics(Path(run_dir) / METRICS)


def run_log(run_dir: str | Path, *, tail_chars: int = 20_000) -> str:
    """The end of the run's log."""
    path = Path(run_dir) / LOG
    if not path.exists():
        return ""
    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        fh.seek(max(0, size - tail_chars))
        return fh.read().decode("utf-8", "replace")


def _command(run_dir: Path, params: dict[str, Any]) -> list[str]:
    return build_command(config_from_dict(json.loads((run_dir / "config.json").read_text())), run_dir)


def _finish(store: Store, job: Job, wd: WorkDir, done: dict[str, Any]) -> dict[str, Any]:
    """A run that ended well: register its model (once) and keep the final metrics as the job's result."""
    model = store.model(job.job_id) or register_run(store, wd.path, model_id=job.job_id)
    return {"model_id": model.model_id, **{k: v for k, v in done.items() if isinstance(v, int | float | str)}}


TRAIN_KIND = JobKind(KIND, module="curator.train.run", command=_command, finish=_finish, stop_with_sigterm=True,
                     clear_on_retry=(METRICS, "eval.json"))
