"""Evaluations of Curator's signals against known ground truth (injected label noise).

Public surface: `evaluate_noise`, `probe_baseline`, `load_hh_pairs` (in `curator.evals.noise`).
"""

from __future__ import annotations

from curator.evals.noise import evaluate_noise, load_hh_pairs, probe_baseline

__all__ = ["evaluate_noise", "load_hh_pairs", "probe_baseline"]
