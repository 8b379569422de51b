"""Start, watch and cancel training runs; each run is a background process working in its own folder.

A run folder ``<runs root>/<run_id>/`` holds:

- ``config.json``: the run config (`config_from_dict` rebuilds it), ``meta.json``: id, method, export, command;
- ``stdout.log``: everything the process printed; ``metrics.jsonl``: one line per logging step;
- ``pid``: the process id (also its process-group id: the run starts a new session);
- exactly one end marker: ``done.json`` (final metrics), ``error.txt`` (traceback) or ``cancelled``;
- ``model/``: the trained model, ``eval.json``: held-out metrics.

The process (`python -m curator.train.run <run_dir>`, or `accelerate launch` of it with several GPUs)
never opens the DuckDB file: the app registers the finished model afterwards (`curator.train.registry`).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from curator.errors import CuratorError
from curator.train.config import _HFRunConfig, _RunConfig, config_from_dict
from curator.train.metrics import read_metrics

STATUSES = ("running", "done", "failed", "cancelled", "lost")


class RunError(CuratorError):
    """A run folder is missing, or a run cannot be started or cancelled."""


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    run_dir: Path
    method: str
    status: str
    pid: int | None
    export_id: str | None
    created_at: str
    final: dict[str, Any]
    error: str | None

    @property
    def finished(self) -> bool:
        return self.status != "running"


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


def start_run(cfg: _RunConfig, runs_root: str | Path, *, export_id: str | None = None, run_id: str | None = None,
              env: dict[str, str] | None = None) -> RunInfo:
    """Write the run folder and start the training process in the background; returns at once."""
    cfg = replace(cfg, data=str(Path(cfg.data).resolve()))
    if not (Path(cfg.data) / "train.parquet").exists():
        raise RunError(f"{cfg.data} has no train.parquet; point `data` at an export folder.")
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    run_id = run_id or f"{cfg.method}-{stamp}-{secrets.token_hex(2)}"
    run_dir = Path(runs_root).resolve() / run_id
    try:
        run_dir.mkdir(parents=True, exist_ok=False)
    except FileExistsError:
        raise RunError(f"Run folder {run_dir} exists already; runs are never overwritten.") from None
    command = build_command(cfg, run_dir)
    (run_dir / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2))
    (run_dir / "meta.json").write_text(json.dumps({
        "run_id": run_id, "method": cfg.method, "export_id": export_id, "data": str(cfg.data),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"), "command": command}, indent=2))
    child_env = {**os.environ, "PYTHONUNBUFFERED": "1", "TOKENIZERS_PARALLELISM": "false", **(env or {})}
    repo_root = str(Path(__file__).resolve().parents[2])
    child_env["PYTHONPATH"] = os.pathsep.join(p for p in (repo_root, child_env.get("PYTHONPATH", "")) if p)
    with open(run_dir / "stdout.log", "wb") as log:
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, env=child_env, cwd=os.getcwd())
    (run_dir / "pid").write_text(str(proc.pid))
    _CHILDREN[proc.pid] = proc
    return run_status(run_dir)


_CHILDREN: dict[int, subprocess.Popen] = {}


def _alive(pid: int) -> bool:
    proc = _CHILDREN.get(pid)
    if proc is not None:  # our own child: poll() also reaps it, so no zombie looks alive
        return proc.poll() is None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def run_status(run_dir: str | Path) -> RunInfo:
    """The run's state from its folder: an end marker wins; otherwise a live process means running."""
    run_dir = Path(run_dir)
    meta_path = run_dir / "meta.json"
    if not meta_path.exists():
        raise RunError(f"{run_dir} is not a training run folder (no meta.json).")
    meta = json.loads(meta_path.read_text())
    pid = int((run_dir / "pid").read_text()) if (run_dir / "pid").exists() else None
    final: dict[str, Any] = {}
    error = None
    if (run_dir / "done.json").exists():
        status, final = "done", json.loads((run_dir / "done.json").read_text())
    elif (run_dir / "cancelled").exists():
        status = "cancelled"
    elif (run_dir / "error.txt").exists():
        status, error = "failed", (run_dir / "error.txt").read_text()[-4000:]
    elif pid is not None and _alive(pid):
        status = "running"
    else:
        status, error = "lost", "the process ended without writing done.json, error.txt or cancelled"
    return RunInfo(meta["run_id"], run_dir, meta["method"], status, pid, meta.get("export_id"),
                   meta.get("created_at", ""), final, error)


def list_runs(runs_root: str | Path) -> list[RunInfo]:
    """Every run under `runs_root`, newest first."""
    root = Path(runs_root)
    if not root.is_dir():
        return []
    runs = [run_status(p) for p in root.iterdir() if (p / "meta.json").exists()]
    return sorted(runs, key=lambda r: (r.created_at, r.run_id), reverse=True)


def cancel_run(run_dir: str | Path, *, grace_s: float = 10.0) -> RunInfo:
    """SIGTERM the run's process group; SIGKILL it after `grace_s`; mark it cancelled."""
    info = run_status(run_dir)
    if info.finished or info.pid is None:
        return info
    try:
        os.killpg(info.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and _alive(info.pid):
        time.sleep(0.1)
    if _alive(info.pid):
        try:
            os.killpg(info.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    marker = Path(run_dir) / "cancelled"
    if not (Path(run_dir) / "done.json").exists() and not marker.exists():
        marker.write_text(datetime.now(UTC).isoformat(timespec="seconds"))
    return run_status(run_dir)


def wait_run(run_dir: str | Path, *, timeout_s: float = 600.0, poll_s: float = 0.2) -> RunInfo:
    """Block until the run ends (or `timeout_s` passes) and return its state."""
    deadline = time.monotonic() + timeout_s
    info = run_status(run_dir)
    while not info.finished and time.monotonic() < deadline:
        time.sleep(poll_s)
        info = run_status(run_dir)
    return info


def run_metrics(run_dir: str | Path) -> list[dict[str, Any]]:
    """The run's metrics lines so far."""
    return read_metrics(Path(run_dir) / "metrics.jsonl")


def run_log(run_dir: str | Path, *, tail_chars: int = 20_000) -> str:
    """The end of the run's stdout log."""
    path = Path(run_dir) / "stdout.log"
    if not path.exists():
        return ""
    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        fh.seek(max(0, size - tail_chars))
        return fh.read().decode("utf-8", "replace")


def run_config(run_dir: str | Path) -> _RunConfig:
    return config_from_dict(json.loads((Path(run_dir) / "config.json").read_text()))
