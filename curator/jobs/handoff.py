"""Command-line work handed to the app that owns the database file.

A DuckDB file has one owner process. While `curator serve` runs on a file, `curator ingest`,
`export`, `stats` and `signals` on the same file cannot open it, so they hand their work to the
app instead, through a folder beside the database, ``<db>.inbox/`` (mode 0700: only the user who
runs the app can put work in it; nothing listens on the network):

1. the app (`serve_inbox`, started when it opens the store) writes ``app.json`` (its pid) and
   checks the folder every `POLL_S` seconds;
2. the command writes ``<id>.request.json`` (0600) and waits;
3. the app claims it (renames it to ``<id>.taken.json``), runs it in a thread of its own, next to
   the annotators' sessions (an import is an import job, shown on the Jobs page like an upload),
   and writes ``<id>.status.json`` (progress, then the result or the error);
4. the command prints what the app wrote; ``<id>.cancel`` (Ctrl+C) asks the app to stop the work.

The handlers call the same library functions as the commands; the results are JSON dicts.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil

from curator.errors import CuratorError, JobError

if TYPE_CHECKING:
    from curator.store import Store

logger = logging.getLogger(__name__)

POLL_S = 0.2
CLAIM_TIMEOUT_S = 15.0  # a request nobody claims in this long: the app does not take requests
COMMANDS = ("stats", "ingest", "export", "signals")
_SERVING: dict[str, tuple[threading.Thread, Store]] = {}
_LOCK = threading.Lock()


def inbox(db: str | Path) -> Path:
    return Path(str(Path(db).resolve()) + ".inbox")


def _write_json(path: Path, data: dict[str, Any]) -> None:
    """Write atomically, readable by the owner only."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(3)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(data, f, default=str)
    tmp.replace(path)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


# -- the app's side -----------------------------------------------------------------------------


def serve_inbox(store: Store, *, on_change: Callable[[], None] | None = None) -> None:
    """Take command-line requests for `store`'s file in a daemon thread (once per file and process).
    `on_change` runs after work that wrote to the store (the app drops its cached queries)."""
    folder = inbox(store.path)
    with _LOCK:
        serving = _SERVING.get(str(folder))
        if serving is not None and serving[1] is store and serving[0].is_alive():
            return  # a closed store's thread ends by itself; a reopened store gets its own
        folder.mkdir(mode=0o700, exist_ok=True)
        os.chmod(folder, 0o700)
        _write_json(folder / "app.json", {"pid": os.getpid(), "db": str(store.path)})
        thread = threading.Thread(target=_serve, args=(store, folder, on_change), name="curator-inbox", daemon=True)
        _SERVING[str(folder)] = (thread, store)
    thread.start()


def _serve(store: Store, folder: Path, on_change: Callable[[], None] | None) -> None:
    while not store.closed:
        for request in sorted(folder.glob("*.request.json")):
            taken = request.with_name(request.name.replace(".request.json", ".taken.json"))
            try:
                if request.stat().st_uid != os.getuid():
                    continue  # only the user running the app hands it work
                request.rename(taken)  # the claim: one taker per request
            except OSError:
                continue
            threading.Thread(target=_handle, args=(store, taken, on_change), name=f"curator-cli-{taken.stem}",
                             daemon=True).start()
        time.sleep(POLL_S)


def _handle(store: Store, taken: Path, on_change: Callable[[], None] | None) -> None:
    request_id = taken.name.removesuffix(".taken.json")
    status = taken.with_name(f"{request_id}.status.json")
    cancel = taken.with_name(f"{request_id}.cancel")
    req = _read_json(taken) or {}
    command = req.get("command")

    def progress(share: float, message: str) -> None:
        _write_json(status, {"state": "running", "progress": share, "message": message})

    try:
        if command not in HANDLERS:
            raise JobError(f"unknown command {command!r}; the app takes {list(COMMANDS)}")
        logger.info("command line: %s %s", command, {k: v for k, v in req.get("params", {}).items()})
        result = HANDLERS[command](store, req.get("params", {}), progress, cancel.exists)
        _write_json(status, {"state": "done", "result": result})
    except Exception as e:  # whatever it was, the waiting command gets the message
        logger.warning("command line %s failed: %s", command, e)
        _write_json(status, {"state": "failed", "error": str(e) if isinstance(e, CuratorError)
                             else f"{type(e).__name__}: {e}"})
    finally:
        taken.unlink(missing_ok=True)
        cancel.unlink(missing_ok=True)
        if on_change is not None and command != "stats":
            on_change()


def _stats(store: Store, params: dict, progress: Callable, cancelled: Callable[[], bool]) -> dict:
    return store.stats()


def _ingest(store: Store, params: dict, progress: Callable, cancelled: Callable[[], bool]) -> dict:
    from curator.jobs import imports

    options = {k: v for k, v in (params.get("read_options") or {}).items() if v is not None}
    job_id = imports.submit_import(store, params["source"], dataset=params["name"], shape=options.pop("shape", None),
                                   read_options=options)
    while True:
        job = store.job(job_id)
        if not job.is_active:
            break
        if cancelled():
            imports.cancel_import(store, job_id)
        progress(job.progress, f"import job {job_id}: {job.message or job.status}")
        time.sleep(POLL_S)
    if job.status != "done":
        raise JobError(f"import job {job_id} {job.status}: {job.error or 'cancelled, nothing was imported'}")
    return {"job_id": job_id, **(job.result or {})}


def _export(store: Store, params: dict, progress: Callable, cancelled: Callable[[], bool]) -> dict:
    from curator.curate import Recipe, export, load_recipe
    from curator.curate.export import ExportOptions

    recipe = params["recipe"]
    rec = Recipe.from_json(recipe["json"]) if "json" in recipe else load_recipe(store, recipe["name"])
    options = {**params["options"], "features": tuple(params["options"].get("features") or ())}
    if not params.get("named"):  # as the command does: the recipe names the export unless --name does
        options["name"] = rec.name or "export"
    progress(0.0, f"exporting {rec.name or 'recipe'}")
    result = export(store, rec, Path(params["out"]), ExportOptions(**options), export_id=params.get("export_id"))
    return {"export_id": result.export_id, "path": str(result.path), "train": result.n_train,
            "test": result.n_test, "labels_differing_from_dataset": result.card["counts"]["differ_from_dataset"]}


def _signals(store: Store, params: dict, progress: Callable, cancelled: Callable[[], bool]) -> dict:
    from curator import jobs
    from curator.signals import SignalConfig

    handle = jobs.submit_signals(store, params["dataset"], SignalConfig.from_dict(params["config"]),
                                 engine=params.get("engine", "local"))
    if handle.cached:
        return jobs.run_summary(store, handle.run_id or "", cached=True)
    asked = False

    def follow(job: Any) -> None:
        nonlocal asked
        if cancelled() and not asked:
            asked = True
            jobs.cancel(store, job.job_id)
        progress(job.progress, f"signals job {job.job_id}: {job.message or job.status}")

    job = jobs.wait(store, handle.job_id, on_progress=follow)
    if job.status != "done":
        raise JobError(f"signals job {job.job_id} {job.status}: {job.error or 'no error recorded'}; "
                       f"`curator jobs retry {job.job_id}` resumes it.")
    return jobs.run_summary(store, job.run_id or "", cached=False, elapsed=(job.result or {}).get("elapsed_s"))


HANDLERS: dict[str, Callable[[Store, dict, Callable, Callable[[], bool]], dict]] = {
    "stats": _stats, "ingest": _ingest, "export": _export, "signals": _signals}


# -- the command's side -------------------------------------------------------------------------


def app_pid(db: str | Path) -> int | None:
    """The pid of a live app that takes requests for `db`, or None."""
    info = _read_json(inbox(db) / "app.json")
    pid = (info or {}).get("pid")
    if not isinstance(pid, int):
        return None
    try:
        alive = psutil.Process(pid).status() != psutil.STATUS_ZOMBIE  # a killed app its parent has not reaped
    except psutil.Error:
        return None
    return pid if alive else None


def hand_over(db: str | Path, command: str, params: dict[str, Any], *,
              on_progress: Callable[[float, str], None] | None = None, poll: float = POLL_S) -> dict[str, Any]:
    """Have the app that owns `db` run `command`; returns its result. Ctrl+C asks it to stop."""
    folder = inbox(db)
    request_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(4)}"
    request = folder / f"{request_id}.request.json"
    status = folder / f"{request_id}.status.json"
    _write_json(request, {"command": command, "params": params})
    asked_at = time.monotonic()
    try:
        while True:
            state = _read_json(status)
            if state is not None and state.get("state") in ("done", "failed"):
                break
            if state is not None and on_progress is not None:
                on_progress(float(state.get("progress") or 0.0), str(state.get("message") or ""))
            if request.exists() and time.monotonic() - asked_at > CLAIM_TIMEOUT_S:
                request.unlink(missing_ok=True)
                raise CuratorError(f"the app that has {db} open did not take the request within "
                                   f"{CLAIM_TIMEOUT_S:.0f} s (is it stopped or busy?). Nothing was done; "
                                   "run the command again, or stop the app and run it.")
            if app_pid(db) is None:
                final = _read_json(status)
                if final is not None and final.get("state") in ("done", "failed"):
                    continue  # it finished as it stopped
                request.unlink(missing_ok=True)
                raise CuratorError(f"the app that had {db} open stopped before it finished this {command} (an "
                                   "import is all or nothing: none of it was kept). Run the command again.")
            time.sleep(poll)
    except KeyboardInterrupt:
        (folder / f"{request_id}.cancel").touch()
        request.unlink(missing_ok=True)
        raise
    finally:
        if _read_json(status) and _read_json(status).get("state") in ("done", "failed"):
            status.unlink(missing_ok=True)
    if state["state"] == "failed":
        raise CuratorError(state.get("error") or "the app could not run the command")
    return state["result"]


def wait_claimed(db: str | Path, timeout: float = 10.0) -> bool:
    """True once no request of `db`'s inbox waits to be claimed (tests)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(inbox(db).glob("*.request.json")):
            return True
        time.sleep(0.05)
    with contextlib.suppress(OSError):
        return not any(inbox(db).glob("*.request.json"))
    return False
