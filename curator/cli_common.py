"""What every `curator` command shares: the --db/--json/--quiet options, the sub-app factory, the store.

`curator.cli` builds the command tree from the command modules (`cli_annotate`, `cli_curate`,
`cli_features`, `cli_signals`); they import this module and never `curator.cli`, so no import
cycle exists. `sub_app` gives every typer app the one error handling: a `CuratorError` becomes a
one-line message on stderr and exit code 1.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperGroup

from curator.errors import CuratorError

if TYPE_CHECKING:
    from curator.store import Store

DEFAULT_DB = Path("data/curator.duckdb")

# -- shared options (one definition, reused by every command) ----------------------------------

DbOpt = Annotated[Path, typer.Option("--db", envvar="CURATOR_DB", dir_okay=False,
                                     help="DuckDB file holding the pairs (created when missing).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a table.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]


class _CuratorGroup(TyperGroup):
    """The one place where expected failures become a message and exit code 1."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except CuratorError as e:
            typer.echo(f"Error: {e}", err=True)
            raise typer.Exit(code=1) from None


def _typer(help: str, **kwargs: Any) -> typer.Typer:
    return typer.Typer(help=help, cls=_CuratorGroup, no_args_is_help=True, add_completion=False,
                       pretty_exceptions_enable=False, rich_markup_mode=None,
                       context_settings={"help_option_names": ["-h", "--help"]}, **kwargs)


def sub_app(help: str, **kwargs: Any) -> typer.Typer:
    """A typer app with Curator's error handling and help conventions."""
    return typer.Typer(help=help, cls=_CuratorGroup, no_args_is_help=True, add_completion=False,
                       pretty_exceptions_enable=False, rich_markup_mode=None,
                       context_settings={"help_option_names": ["-h", "--help"]}, **kwargs)


def json_safe(value: Any) -> Any:
    """`value` with NaN and infinities as None (JSON has neither), through dicts, lists and tuples."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def open_store(db: Path) -> Store:
    from curator.store import Store

    return Store(db)


def store_or_app(db: Path) -> Store | None:
    """The store, or None when the Curator app that has `db` open takes this command's work
    (`curator.jobs.handoff`); any other lock holder is an error that says what to do."""
    from curator.errors import StoreLocked
    from curator.jobs import handoff

    try:
        return open_store(db)
    except StoreLocked as e:
        if e.pid is not None and handoff.app_pid(db) == e.pid:
            return None
        if "the Curator app" in str(e):
            raise CuratorError(f"{e} This app takes no work from the command line (an older Curator started it?): "
                               "restart it, then run this command again.") from None
        raise


def hand_over(db: Path, command: str, params: dict[str, Any], *, quiet: bool = True) -> dict[str, Any]:
    """Run `command` in the app that owns `db`, with a progress bar on stderr unless `quiet`."""
    from tqdm import tqdm

    from curator.jobs import handoff

    typer.echo(f"{db} is open in the Curator app: it runs this {command} (annotators keep working).", err=True)
    with tqdm(total=100, desc=f"{command} (in the app)", unit="%", disable=quiet, file=sys.stderr,
              dynamic_ncols=True, bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}{postfix}") as bar:
        def on_progress(share: float, message: str) -> None:
            bar.update(round(share * 100) - bar.n)
            bar.set_postfix_str(message[:60], refresh=False)

        return handoff.hand_over(db, command, params, on_progress=on_progress)
