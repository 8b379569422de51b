"""The training process: ``python -m curator.train.run <run_dir>``.

Reads ``<run_dir>/config.json``, dispatches on its ``method`` to the launcher (`embedded.run`,
`reward.run`, `dpo.run`), and leaves exactly one end marker: ``done.json`` (final metrics),
``error.txt`` (the traceback) or ``cancelled`` (SIGTERM received). Under `accelerate launch` only
the main process (RANK 0) writes markers. Never opens the DuckDB file.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from curator.train.config import config_from_dict


class Cancelled(BaseException):
    """Raised in the main thread when the run receives SIGTERM."""


def _on_sigterm(signum: int, frame: Any) -> None:
    raise Cancelled()


def _launcher(method: str) -> Any:
    if method == "embedded":
        from curator.train.embedded import run
    elif method == "reward":
        from curator.train.reward import run
    elif method == "dpo":
        from curator.train.dpo import run
    else:
        raise ValueError(f"Unknown training method {method!r}.")
    return run


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m curator.train.run RUN_DIR", file=sys.stderr)  # noqa: T201
        return 2
    run_dir = Path(argv[0])
    main_process = int(os.environ.get("RANK", "0")) == 0
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stdout)
    signal.signal(signal.SIGTERM, _on_sigterm)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        cfg = config_from_dict(json.loads((run_dir / "config.json").read_text()))
        logging.getLogger("curator.train").info("run %s: method %s, data %s", run_dir.name, cfg.method, cfg.data)
        final = _launcher(cfg.method)(cfg, run_dir)
    except Cancelled:
        if main_process:
            (run_dir / "cancelled").write_text(datetime.now(UTC).isoformat(timespec="seconds"))
        print("cancelled", flush=True)  # noqa: T201
        return 143
    except BaseException:
        if main_process:
            (run_dir / "error.txt").write_text(traceback.format_exc())
        traceback.print_exc(file=sys.stdout)
        return 1
    if main_process:
        final = {**final, "finished_at": datetime.now(UTC).isoformat(timespec="seconds")}
        tmp = run_dir / "done.json.tmp"
        tmp.write_text(json.dumps(final, indent=2, default=str))
        tmp.replace(run_dir / "done.json")
    print(f"done: {json.dumps(final, default=str)}", flush=True)  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
