"""Getting data in from the home page: an uploaded file or the demo generator, imported as a job.

Both end in `curator.ingest.ingest_source`, the same call `curator ingest` makes, run by
`curator.jobs.submit_import` in a thread of the app process: the import finishes whatever the page
does, its progress is on the Home and Jobs pages, and a failed one imports nothing. Uploads are
saved in a folder of their own under ``uploads/`` next to the database file (``data/uploads/`` by
default), under their own names, so a reader finds verdict files uploaded beside the pairs file
(PandaLM's ``gpt-3.5-turbo-testset-v1.json`` beside ``testset-v1.json``); a failed upload is
deleted, and folders no dataset came from are cleaned up. A verdict file for a stored dataset
(`add_judgements`) ends in `curator.ingest.add_judgements_source`, as `curator ingest
--judgements-only` does. Demo files go to ``demo/`` there, as `curator demo` does.
"""

from __future__ import annotations

import logging
import re
import secrets
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

import streamlit as st

from curator import jobs
from curator.errors import CuratorError, IngestError
from curator.io import SHAPES, write_demo
from curator.jobs import imports
from curator.store import Job
from curator.ui import auth, data, keys
from curator.ui.text import inline, markdown_text

logger = logging.getLogger(__name__)

UPLOAD_TYPES = ("jsonl", "json", "parquet", "csv", "gz")
AUTO_SHAPE = "detect"
DEMO_DATASET = "demo"
POLL = "1s"


def shapes() -> tuple[str, ...]:
    """Shape choices for the override box: 'detect' first, then the readers' shapes."""
    return (AUTO_SHAPE, *SHAPES)


def dataset_name_from(filename: str) -> str:
    """A dataset name from an uploaded file name: its stem, safe characters only.

    >>> dataset_name_from("HH RLHF (test).jsonl")
    'HH_RLHF_test'
    """
    stem = Path(filename).name.split(".")[0]
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", stem).strip("_.-") or "upload"


def uploads_dir() -> Path:
    return Path(data.db_path()).parent / "uploads"


def safe_name(name: str) -> str:
    """A file name that is safe to write (no folders, no leading dot).

    >>> safe_name("my prefs (v2).jsonl"), safe_name("gpt-3.5-turbo-testset-v1.json")
    ('my_prefs_v2_.jsonl', 'gpt-3.5-turbo-testset-v1.json')
    """
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(name).name).lstrip(".") or "upload"


def main_file(names: Sequence[str]) -> str:
    """The pairs file of an upload: the one file the others are verdict files of (``<judge>-<its name>``).

    >>> main_file(["gpt-3.5-turbo-testset-v1.json", "testset-v1.json", "pandalm-7b-testset-v1.json"])
    'testset-v1.json'
    """
    mains = [n for n in names if not any(o != n and n.endswith(f"-{o}") for o in names)]
    if len(mains) != 1:
        raise IngestError(f"upload one pairs file at a time, with its verdict files named <judge>-<file name>; "
                          f"got {len(mains)} pairs files: {', '.join(sorted(mains))}.", path=", ".join(names))
    return mains[0]


def save_upload(files: Sequence[tuple[str, bytes]]) -> Path:
    """Write uploaded files to a new folder under ``uploads/`` beside the database; returns the pairs file.

    Args:
        files: (file name, bytes) of the pairs file and any verdict files beside it.
    """
    named = {safe_name(n): payload for n, payload in files}
    main = main_file(list(named))
    folder = uploads_dir() / secrets.token_hex(4)
    folder.mkdir(parents=True)
    for name, payload in named.items():
        (folder / name).write_bytes(payload)
    return folder / main


def _submit(path: Path, *, dataset: str, shape: str | None, upload: str | None, judgements_only: bool = False,
            on_end: Callable[[], None] = data.invalidate) -> str:
    job_id = jobs.submit_import(data.get_store(), path, dataset=dataset, delete_on_failure=bool(upload), file_name=upload,
                                shape=None if shape in (None, AUTO_SHAPE) else shape, on_end=on_end,
                                judgements_only=judgements_only)
    st.session_state.setdefault(keys.HOME_IMPORTS, []).append(job_id)
    return job_id


def import_file(files: Sequence[tuple[str, bytes]], *, dataset: str | None, shape: str | None) -> str:
    """Save an upload (a pairs file and any verdict files) and start importing it as `dataset`
    (default: from the pairs file's name); returns the import's job id."""
    auth.require_admin("Importing data")
    path = save_upload(files)
    return _submit(path, dataset=dataset or dataset_name_from(path.name), shape=shape, upload=path.name)


def add_judgements(files: Sequence[tuple[str, bytes]], *, dataset: str, shape: str | None) -> str:
    """Save an uploaded verdict file and start adding its judgements to `dataset`'s stored pairs."""
    auth.require_admin("Importing data")
    path = save_upload(files)
    return _submit(path, dataset=dataset, shape=shape, upload=path.name, judgements_only=True)


def load_demo(*, n_pairs: int = 3000, seed: int = 0, signals: bool = False) -> str:
    """Write the demo dataset next to the database and start importing it as dataset "demo"; with
    `signals`, its signals job (default config) starts when the import has ended, as `curator demo --signals`."""
    auth.require_admin("Importing data")
    with st.spinner("Writing demo data…"):
        files = write_demo(Path(data.db_path()).parent / "demo", n_pairs=n_pairs, seed=seed)
    store = data.get_store()

    def then_signals() -> None:  # runs in the import's thread
        data.invalidate()
        from curator.signals import SignalConfig

        try:
            jobs.submit_signals(store, DEMO_DATASET, SignalConfig())
        except CuratorError as e:  # the import failed: there is nothing to compute
            logger.warning("demo signals not started: %s", e)

    return _submit(Path(files.pairs_path), dataset=DEMO_DATASET, shape=None, upload=None,
                   on_end=then_signals if signals else data.invalidate)


def clean_uploads() -> int:
    """Delete uploads (folders, or files of older versions) that no dataset came from and no running
    import reads; returns how many."""
    folder = uploads_dir()
    if not folder.is_dir():
        return 0
    store = data.get_store()
    keep = {Path(d.source).resolve() for d in store.datasets() if d.source}
    keep |= {Path(j.params.get("path", "")).resolve() for j in store.jobs(statuses=("queued", "running"),
                                                                             kind=imports.KIND)}
    stale = [p for p in folder.iterdir() if not any(k == p.resolve() or p.resolve() in k.parents for k in keep)]
    for p in stale:
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
    return len(stale)


def live_imports() -> None:
    """Progress of every running import (with Cancel), and the outcome of this session's imports, once."""
    store = data.get_store()
    polling = bool(st.session_state.get(keys.HOME_IMPORTS)) or bool(store.jobs(statuses=("running",),
                                                                               kind=imports.KIND))
    st.fragment(_imports, run_every=POLL if polling else None)()


def _imports() -> None:
    store = data.get_store()
    imports.reap(store)
    mine = st.session_state.get(keys.HOME_IMPORTS) or []
    ended = [j for j in (store.job(i) for i in mine) if j is not None and not j.is_active]
    if ended:
        st.session_state[keys.HOME_IMPORTS] = [i for i in mine if i not in {j.job_id for j in ended}]
        st.session_state[keys.HOME_RESULT] = [outcome(j) for j in ended]
        data.invalidate()
        st.rerun()
    for job in store.jobs(statuses=("running",), kind=imports.KIND):
        label = f"Importing {inline(job.params.get('file', ''), max_chars=60)} as {inline(job.dataset or '', max_chars=40)}"
        with st.container(horizontal=True, vertical_alignment="bottom"):
            st.progress(min(1.0, max(0.0, job.progress)), width="stretch",
                        text=f"{label}: {inline(job.message or 'starting', max_chars=80)}")
            st.button("Cancel", key=f"home.cancel.{job.job_id}", icon=":material/stop:",
                      on_click=imports.cancel_import, args=(store, job.job_id),
                      disabled=job.cancel_requested or not auth.is_admin())
    if mine:
        st.caption("Imports run in the background: you can leave this page; the Jobs page shows them too.")


def outcome(job: Job) -> tuple[str, str]:
    """(kind, Markdown-safe text) saying how an import ended."""
    if job.status == "done" and "summary" in (job.result or {}):  # judgements added to a stored dataset
        return "success" if job.result.get("matched") else "warning", markdown_text(imports.result_message(job))
    if job.status == "done":
        return "success", inline(imports.result_message(job), max_chars=300)
    if job.status == "cancelled":
        return "info", f"Import of {inline(job.params.get('file', ''), max_chars=60)} cancelled; nothing was imported."
    return "error", f"Nothing was imported. {inline(job.error or 'The import failed.', max_chars=2000)}"


def show_outcomes() -> None:
    for kind, text in st.session_state.pop(keys.HOME_RESULT, None) or ():
        {"success": st.success, "info": st.info, "warning": st.warning}.get(kind, st.error)(
            text, icon={"success": ":material/check:", "info": ":material/info:",
                        "warning": ":material/warning:"}.get(kind, ":material/error:"))
