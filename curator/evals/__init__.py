"""Evaluations of Curator against known ground truth, one module per `curator eval ...` command.

- `curator.evals.noise`: injected label flips: `evaluate_noise`, `probe_baseline`, `load_hh_pairs`.
- `curator.evals.routing`, `curator.evals.curation`: see their module docstrings.

Import from the submodules; this package imports nothing so that each evaluation stays independent.
"""

from __future__ import annotations
