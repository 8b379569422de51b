"""Small datasets and fixtures for the job tests (imported by the test modules: a conftest.py here
would clash with the other test folders' conftest modules under --doctest-modules)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from curator.io.batch import batched
from curator.schema import PairRecord


def pair_records(n: int) -> list[PairRecord]:
    return [PairRecord(prompt=f"question {i} about topic {i % 4}", response_a=f"answer {i} " * (i % 5 + 1),
                       response_b=f"other answer {i}", label="a" if i % 3 else "b",
                       split="train" if i % 5 else "test")
            for i in range(n)]


@pytest.fixture
def job_store(make_store):
    """A store with dataset `d` of 60 pairs."""
    store = make_store()
    store.ingest("d", batched(pair_records(60), source="fixture"), source="fixture", shape="explicit")
    yield store
    store.close()


@pytest.fixture
def submit_standin(job_store, tmp_path: Path) -> Callable[..., object]:
    """Submit a stand-in signals job (hash features, fast compute) for dataset `d`."""
    from curator import jobs
    from curator.jobs.testing import STANDIN_COMPUTE, STANDIN_STAGES, StandinConfig

    def submit(**cfg: object):
        return jobs.submit_signals(job_store, "d", StandinConfig(**cfg), runs_dir=tmp_path / "runs",
                                   stages=STANDIN_STAGES, compute=STANDIN_COMPUTE, batch_size=8,
                                   checkpoint_rows=16)

    return submit


@pytest.fixture
def wait_until(job_store) -> Callable[..., None]:
    """Sync the jobs table until `predicate()` holds (fails after `timeout` seconds)."""
    from curator import jobs

    def wait(predicate: Callable[[], bool], *, timeout: float = 30.0, what: str = "") -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            jobs.sync(job_store)
            if predicate():
                return
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what or predicate}; jobs: {job_store.jobs()}")

    return wait
