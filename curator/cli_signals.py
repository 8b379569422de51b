"""`curator signals` and `curator jobs ...`: signals jobs from the command line.

`curator signals` submits a job through `curator.jobs.submit_signals`, follows it with a tqdm bar
fed by `curator.jobs.wait` (which syncs the worker's progress.json into the jobs table), and
prints the loaded run. The same dataset version and config a second time prints the existing run
and computes nothing. Ctrl+C cancels the job. `curator.cli` registers them.
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from curator.cli_common import DEFAULT_DB, DbOpt, JsonOpt, QuietOpt, hand_over, open_store, store_or_app, sub_app
from curator.cli_options import config_options
from curator.errors import JobError
from curator.signals import SignalConfig
from curator.signals.scoring import ScorerConfig

if TYPE_CHECKING:
    from curator.store import Job, Store

FLAG_NAMES = {"flag_flipped": "likely flipped", "flag_ambiguous": "ambiguous", "flag_identical": "identical",
              "flag_near_duplicate": "near duplicate"}

jobs_app = sub_app("List, cancel and retry background jobs (signals, re-scoring, training, imports).")


class Engine(StrEnum):
    local = "local"
    ray = "ray"


@config_options(ScorerConfig, into="scorer", panel="Reward-model scoring")
@config_options(SignalConfig, into="cfg", panel="Signals", exclude=("scorer",))
def signals(
    dataset: Annotated[str, typer.Option("--dataset", "-d", help="Dataset to compute signals for.")],
    db: DbOpt = DEFAULT_DB,
    engine: Annotated[Engine, typer.Option("--engine", help="local: one worker process; ray: the scorers under "
                                                            "Ray Data (pip install 'curator[ray]').")] = Engine.local,
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
    cfg: SignalConfig | None = None,
    scorer: ScorerConfig | None = None,
) -> None:
    """Compute reward margins, uncertainty, clusters and noise flags for a dataset (a worker process).

    The result is stored as a signal run the app's Signals, Map and Browse pages use. Running it
    again on an unchanged dataset with the same options computes nothing ("cached"). Every option
    below the first panel is a field of `curator.signals.SignalConfig` or its `ScorerConfig`.
    """
    from curator import jobs

    cfg = replace(cfg or SignalConfig(), scorer=scorer or ScorerConfig())

    store = store_or_app(db)
    if store is None:  # the app that has the file open runs the job; this command follows it
        summary = hand_over(db, "signals", {"dataset": dataset, "config": cfg.to_dict(), "engine": engine.value},
                             quiet=quiet)
        _print_summary(summary, dataset, as_json)
        return
    try:
        handle = jobs.submit_signals(store, dataset, cfg, engine=engine.value)
        job = None if handle.cached else _follow(store, handle.job_id or "", quiet=quiet)
        run_id = handle.run_id if handle.cached else job.run_id
        summary = jobs.run_summary(store, run_id or "", cached=handle.cached,
                              elapsed=(job.result or {}).get("elapsed_s") if job else None)
        if job is not None:  # a run with --features: which feature run it stored, or why none
            summary.update({k: v for k, v in (job.result or {}).items() if k in ("feature_run", "features_error")})
    finally:
        store.close()
    _print_summary(summary, dataset, as_json)


def _print_summary(summary: dict[str, Any], dataset: str, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(summary))
        return
    how = "cached: computed before for this dataset version and config" if summary["cached"] \
        else f"computed in {summary['elapsed_s']} s"
    typer.echo(f"{dataset}: signal run {summary['run_id']} ({how})")
    typer.echo(f"  {summary['rows']:,} pairs · models: {', '.join(summary['models']) or '-'}")
    typer.echo("  flags: " + " · ".join(f"{FLAG_NAMES[k]} {v:,}" for k, v in summary["flags"].items()))
    if summary.get("feature_run"):
        typer.echo(f"  features: run {summary['feature_run']} (`curator features {dataset}`, the Features page)")
    elif summary.get("features_error"):
        typer.echo(f"  features: not computed: {summary['features_error']}")


def _follow(store: Store, job_id: str, *, quiet: bool) -> Job:
    """Wait for the job with a progress bar; Ctrl+C cancels it. Returns the done job."""
    from tqdm import tqdm

    from curator import jobs

    with tqdm(total=100, desc=f"signals {job_id}", unit="%", disable=quiet, file=sys.stderr, dynamic_ncols=True,
              bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}{postfix}") as bar:
        def on_progress(job: Job) -> None:
            bar.update(round(job.progress * 100) - bar.n)
            bar.set_postfix_str((job.message or job.status)[:60], refresh=False)

        try:
            job = jobs.wait(store, job_id, on_progress=on_progress)
        except KeyboardInterrupt:
            bar.write("cancelling…")
            jobs.cancel(store, job_id)
            job = jobs.wait(store, job_id, poll=0.2)
            raise JobError(f"Job {job_id} was {job.status}; `curator jobs retry {job_id}` resumes it.") from None
    if job.status != "done":
        raise JobError(f"Job {job_id} {job.status}: {job.error or 'no error recorded'}\n"
                       f"Log: {Path(job.work_dir or '') / 'log.txt'}; `curator jobs retry {job_id}` resumes it.")
    return job


@jobs_app.command("list")
def list_jobs(db: DbOpt = DEFAULT_DB, as_json: JsonOpt = False) -> None:
    """Show jobs, newest first, after bringing their state up to date."""
    from curator import jobs

    store = open_store(db)
    try:
        jobs.sync(store)
        rows = store.jobs()
    finally:
        store.close()
    if as_json:
        typer.echo(json.dumps([{"job_id": j.job_id, "kind": jobs.kind_label(j), "dataset": j.dataset, "status": j.status,
                                "progress": j.progress, "message": j.message, "run_id": j.run_id, "error": j.error,
                                "attempts": j.attempts} for j in rows]))
        return
    if not rows:
        typer.echo("no jobs yet: `curator signals --dataset NAME` starts one")
    for j in rows:
        typer.echo(f"{j.job_id}  {jobs.kind_label(j):<14} {j.status:<9} {j.progress:4.0%}  {j.dataset or ''}  "
                   f"{j.run_id or (j.result or {}).get('model_id') or j.message or ''}")


@jobs_app.command("cancel")
def cancel_job(job_id: Annotated[str, typer.Argument(help="Job id (`curator jobs list`).")],
               db: DbOpt = DEFAULT_DB) -> None:
    """Ask a queued or running job to stop."""
    from curator import jobs

    store = open_store(db)
    try:
        job = jobs.cancel(store, job_id)
    finally:
        store.close()
    typer.echo(f"{job_id}: {'cancelling' if job.status == 'running' else job.status}")


@jobs_app.command("retry")
def retry_job(job_id: Annotated[str, typer.Argument(help="Job id (`curator jobs list`).")], db: DbOpt = DEFAULT_DB,
              quiet: QuietOpt = False) -> None:
    """Run a failed or cancelled job again; stages it finished before are reused."""
    from curator import jobs

    store = open_store(db)
    try:
        handle = jobs.retry(store, job_id)
        job = None if handle.cached else _follow(store, job_id, quiet=quiet)
    finally:
        store.close()
    model_id = (job.result or {}).get("model_id") if job else None
    typer.echo(f"{job_id}: done, model {model_id}" if model_id else
               f"{job_id}: done, signal run {handle.run_id if job is None else job.run_id}")
