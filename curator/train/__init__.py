"""Train: the embedded reward trainer, TRL reward/DPO launchers, training runs as jobs, the model registry.

Public surface: the run configs (`EmbeddedRewardRunConfig`, `RewardRunConfig`, `DPORunConfig`),
`submit_run` / `run_info` / `list_runs` / `cancel_run` / `wait_run` / `run_metrics` / `run_log` (a run
is a job of kind ``train`` under `curator.jobs`), `register_run` and `rescore`. Training runs in a
separate process that never opens the store; heavy libraries (torch, transformers, trl, peft) are
imported only inside the launchers.
"""

from __future__ import annotations

from curator.train.config import CONFIGS, DPORunConfig, EmbeddedRewardRunConfig, RewardRunConfig, config_from_dict
from curator.train.registry import RegistryError, register_run, rescore, submit_rescore
from curator.train.runs import (
    RunError,
    RunInfo,
    cancel_run,
    list_runs,
    run_info,
    run_log,
    run_metrics,
    submit_run,
    wait_run,
)

__all__ = [
    "CONFIGS", "DPORunConfig", "EmbeddedRewardRunConfig", "RegistryError", "RewardRunConfig", "RunError", "RunInfo",
    "cancel_run", "config_from_dict", "list_runs", "register_run", "rescore", "run_info", "run_log", "run_metrics",
    "submit_rescore", "submit_run", "wait_run",
]
