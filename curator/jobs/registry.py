"""Job kinds and runners by name: what config.json files and the jobs table store instead of import paths.

A job row's ``kind`` names a `JobKind` (how its process starts and how a finished one is taken in),
and a signals job's ``compute`` / ``stages`` and every `Stage.scorer` name a runner. The names are
the stable part: they are written to disk and hashed into checkpoint keys, while `RUNNERS` says
where each one lives now, so moving a module changes one line here and no stored job, retry or
cache. Targets are imported on first use, so a worker loads only what its job needs.

Rows and configs written before names existed hold ``module:attr`` paths; one that is a target of
`RUNNERS` reads as its name, any other is an error that says to submit the job again.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from curator.errors import JobError

if TYPE_CHECKING:
    from curator.jobs.workdir import WorkDir
    from curator.store import Job, Store

# name -> "module:attr". Only this table knows module paths.
RUNNERS: dict[str, str] = {
    # job kinds (`JobKind`)
    "signals": "curator.jobs.supervisor:SIGNALS_KIND",
    "train": "curator.train.runs:TRAIN_KIND",
    # compute functions and stage builders of signals jobs (`curator.jobs.worker`)
    "signals.compute": "curator.jobs.worker:compute_signals",
    "signals.stages": "curator.jobs.stages:signal_stages",
    "rescore.compute": "curator.train.rescore:compute_rescore",
    "rescore.stages": "curator.train.rescore:no_stages",
    "standin.compute": "curator.jobs.testing:standin_compute",
    "standin.stages": "curator.jobs.testing:standin_stages",
    "reward-only.compute": "curator.jobs.testing:reward_compute",
    "reward-only.stages": "curator.jobs.testing:reward_stages",
    # scorers of feature stages (`curator.jobs.engines.Stage`)
    "scorer.pair-embedding": "curator.jobs.stages:PairEmbeddingScorer",
    "scorer.reward": "curator.signals.reward:RewardScorer",
    "scorer.hash": "curator.jobs.testing:HashScorer",
}


@dataclass(frozen=True)
class JobKind:
    """A kind of job that runs as a process of its own, watched by `curator.jobs.sync`.

    Args:
        name: the jobs table's ``kind``.
        module: the process runs ``python -m <module>`` (maybe under a launcher); the liveness check
            looks for it in the command line of a recorded pid.
        command: the command line for a work dir (the job's params are in the row).
        finish: called by `sync` with (store, job, work dir, done.json) when the process has ended
            well; returns the job's result. An exception fails the job with its message.
        stop_with_sigterm: cancel sends SIGTERM at once (the process turns it into its cancelled
            marker) instead of leaving a cancel file for it to see.
        clear_on_retry: files of a finished attempt that a retry removes besides the outcome files.
    """

    name: str
    module: str
    command: Callable[[Path, dict[str, Any]], list[str]]
    finish: Callable[[Store, Job, WorkDir, dict[str, Any]], dict[str, Any]]
    stop_with_sigterm: bool = False
    clear_on_retry: tuple[str, ...] = ()


def register(name: str, target: str) -> None:
    """Point `name` at ``module:attr`` (a plugin's runner, or a runner that moved)."""
    if ":" not in target:
        raise ValueError(f"Expected a target 'module:attr' for runner {name!r}, got {target!r}.")
    RUNNERS[name] = target


def canonical(name: str) -> str:
    """The registered name for `name`, also when it is an old ``module:attr`` path of a registered runner."""
    if name in RUNNERS:
        return name
    old = {target: key for key, target in RUNNERS.items()}
    if name in old:
        return old[name]
    raise JobError(f"No job runner named {name!r}; known: {sorted(RUNNERS)}. A job saved with an import path "
                   "of a runner that no longer exists cannot run: submit it again.")


def lookup(name: str) -> Any:
    """The object registered under `name` (imported now)."""
    module, _, attr = RUNNERS[canonical(name)].partition(":")
    obj: Any = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def job_kind(name: str) -> JobKind:
    """The `JobKind` of a jobs-table ``kind``."""
    kind = lookup(name)
    if not isinstance(kind, JobKind):
        raise JobError(f"{name!r} names a runner, not a job kind.")
    return kind
