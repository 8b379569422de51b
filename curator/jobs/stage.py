"""A feature stage (`Stage`: one scorer class run over every pair) and what its engines share.

`curator.jobs.engines` picks the engine; `curator.jobs.local` and the Ray engine run a stage and
check its outputs with `check_output`. A stop request raises `curator.signals.Cancelled`, the one
"cancelled" exception of the signals job, wherever it is noticed.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from curator.jobs.registry import canonical
from curator.signals import Cancelled

__all__ = ["Cancelled", "ProgressFn", "Stage", "StopFn", "check_output"]

ProgressFn = Callable[[float, str], None]
StopFn = Callable[[], bool]


@dataclass(frozen=True)
class Stage:
    """One feature stage.

    Args:
        name: short label shown in progress messages (``embed``, ``reward:<model>``).
        scorer: registered name of the scorer class (`curator.jobs.registry.RUNNERS`).
        kwargs: constructor keyword arguments (JSON-able: they also key the checkpoint).
        outputs: scorer output name -> feature key handed to the compute function.
        gpu: the scorer runs on a GPU when there is one: under Ray each actor gets one, locally one
            worker per visible GPU (a CPU stage claims none).
        devices: the local engine's devices, one worker each (data parallel); empty: every visible GPU
            for a GPU stage (else the CPU), the ``device`` kwarg when that is set. Not in the key.
    """

    name: str
    scorer: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    gpu: bool = False
    devices: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """Checkpoint folder name: readable name + hash of what determines the output.

        The scorer enters by its registered name, so moving its module keeps the checkpoints.
        """
        digest = hashlib.blake2b(json.dumps([canonical(self.scorer), self.kwargs, sorted(self.outputs)], sort_keys=True,
                                            default=str).encode(), digest_size=6).hexdigest()
        return f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', self.name)[:40]}-{digest}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_output(stage: Stage, out: dict[str, np.ndarray], rows: int) -> dict[str, np.ndarray]:
    missing = [k for k in stage.outputs if k not in out]
    if missing:
        raise ValueError(f"Scorer {stage.scorer} returned {sorted(out)}, expected outputs {missing} too.")
    arrays = {k: np.asarray(out[k]) for k in stage.outputs}
    for k, a in arrays.items():
        if len(a) != rows:
            raise ValueError(f"Scorer {stage.scorer} returned {len(a)} rows of {k!r} for a batch of {rows}.")
        if a.dtype == object:
            raise ValueError(f"Scorer {stage.scorer} output {k!r} is an object array; return numbers.")
    return arrays
