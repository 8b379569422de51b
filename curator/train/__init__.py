"""Train: the embedded reward trainer, TRL reward/DPO launchers, background runs, the model registry.

Public surface: the run configs (`EmbeddedRewardRunConfig`, `RewardRunConfig`, `DPORunConfig`),
`start_run` / `run_status` / `list_runs` / `cancel_run` / `wait_run` / `run_metrics` / `run_log`,
`register_run` and `rescore`. Training runs in a separate process that never opens the store; heavy
libraries (torch, transformers, trl, peft) are imported only inside the launchers.
"""

from __future__ import annotations

from curator.train.config import CONFIGS, DPORunConfig, EmbeddedRewardRunConfig, RewardRunConfig, config_from_dict
from curator.train.launch import (
                                  RunError,
                                  RunInfo,
                                  cancel_run,
                                  list_runs,
                                  run_log,
                                  run_metrics,
                                  run_status,
                                  start_run,
                                  wait_run,
)
from curator.train.registry import RegistryError, register_run, rescore, submit_rescore

__all__ = [
    "CONFIGS", "DPORunConfig", "EmbeddedRewardRunConfig", "RegistryError", "RewardRunConfig", "RunError", "RunInfo",
    "cancel_run", "config_from_dict", "list_runs", "register_run", "rescore", "run_log", "run_metrics",
    "run_status", "start_run", "submit_rescore", "wait_run",
]
