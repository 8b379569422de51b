"""`curator ...`: the headless front end, one thin command per library call.

Commands parse options, call one function of `curator.io` / `curator.store` (and later
`curate`, `train`, ...), and print the result. Library failures are `CuratorError`s; the app's
group class translates them once, at the edge, into a one-line message on stderr and exit code 1
(no traceback). Anything else is a bug and keeps its traceback.

Adding a command: write the function in its command module (taking the database as `db: DbOpt =
DEFAULT_DB` from `curator.cli_common`, importing heavy modules inside the function so `curator
--help` stays fast), then register it at the bottom of this file. The command modules never import
this one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from curator import cli_annotate, cli_curate, cli_features, cli_signals
from curator.cli_common import DEFAULT_DB, DbOpt, JsonOpt, QuietOpt, hand_over, open_store, store_or_app, sub_app
from curator.errors import CuratorError


class Format(StrEnum):
    json = "json"
    jsonl = "jsonl"
    parquet = "parquet"
    csv = "csv"
    hf = "hf"


class Pairing(StrEnum):
    best_worst = "best-worst"
    best_vs_each = "best-vs-each"
    all_pairs = "all-pairs"


app = sub_app("Curate LLM preference data: ingest pairs, inspect them, serve the app.")
eval_app = sub_app("Evaluate signals against planted or human ground truth.")
app.add_typer(eval_app, name="eval")


def _version(value: bool) -> None:
    if value:
        from curator import __version__

        typer.echo(f"curator {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                                help="Show the version and exit.")] = False) -> None:
    """Curate LLM preference data: ingest pairs, inspect them, serve the app."""


def _parse_mapping(items: list[str] | None) -> dict[str, Any] | None:
    """``["prompt=question", "drop=a,b"]`` -> ``{"prompt": "question", "drop": ["a", "b"]}``."""
    if not items:
        return None
    mapping: dict[str, Any] = {}
    for item in items:
        field, sep, column = item.partition("=")
        field, column = field.strip(), column.strip()
        if not sep or not field or not column:
            raise typer.BadParameter(f"expected FIELD=COLUMN (e.g. prompt=question), got {item!r}.",
                                     param_hint="--map")
        mapping[field] = [c.strip() for c in column.split(",") if c.strip()] if field == "drop" else column
    return mapping


def _ingest(db: Path, source: str, *, name: str | None, quiet: bool, judgements_only: bool = False,
            **read_options: Any) -> Any:
    """Open the source (errors name file, record, field before the database is touched), then
    import it with `curator.ingest.ingest_source` (or only its judgements, onto the stored pairs of
    dataset `name`, with `add_judgements_source`) and a tqdm bar on stderr; returns the result.
    When the Curator app has `db` open, it runs the import (`curator.jobs.handoff`)."""
    from tqdm import tqdm

    from curator.ingest import add_judgements_source, ingest_source
    from curator.io import read_source
    from curator.store import IngestResult

    src = read_source(source, **read_options)
    store = store_or_app(db)
    if store is None and judgements_only:
        raise typer.BadParameter(f"{db} is open in the Curator app, which does not take --judgements-only from the "
                                 "command line: use the Home page's 'Add judgements' tab, or stop the app and retry.",
                                 param_hint="--judgements-only")
    if store is None:
        local = Path(source).expanduser()
        result = hand_over(db, "ingest", {"source": str(local.resolve()) if local.exists() else source,
                                           "name": name or src.name, "read_options": _as_json(read_options)},
                            quiet=quiet)
        return IngestResult(result["dataset"], result["new_pairs"], result["skipped_pairs"], result["new_judgements"])
    try:
        with tqdm(desc=f"ingest {src.name}", total=src.estimated_total, unit=" records", disable=quiet,
                  file=sys.stderr, dynamic_ncols=True, mininterval=0.5) as bar:
            def on_progress(done: int, total: int | None) -> None:
                if total and bar.total != total:
                    bar.total = total
                bar.update(done - bar.n)

            if judgements_only:
                return add_judgements_source(store, src, dataset=name or src.name, on_progress=on_progress)
            return ingest_source(store, src, name=name, on_progress=on_progress)
    finally:
        store.close()


def _as_json(read_options: dict[str, Any]) -> dict[str, Any]:
    """`read_source` options as JSON (what the app takes): a mapping as a dict, a pairing rule by name."""
    from dataclasses import asdict

    out = dict(read_options)
    if out.get("mapping") is not None:
        out["mapping"] = {k: v for k, v in asdict(out["mapping"]).items() if v not in (None, ())}
    if out.get("pairing") is not None:
        rule = out.pop("pairing")
        out["pairing"], out["min_gap"] = rule.rule, rule.min_gap
    return out


def _summary(result: Any, db: Path) -> str:
    return (f"{result.dataset}: {result.new_pairs:,} new pairs, {result.skipped_pairs:,} skipped "
            f"(already stored), {result.new_judgements:,} judgements -> {db}")



# -- commands ---------------------------------------------------------------------------------


@app.command()
def ingest(
    source: Annotated[str, typer.Argument(metavar="SOURCE", help="File, folder or Hugging Face dataset id (with --format hf).")],
    db: DbOpt = DEFAULT_DB,
    name: Annotated[str | None, typer.Option("--name", help="Dataset name (default: from the source).")] = None,
    fmt: Annotated[Format | None, typer.Option("--format", help="Source format (default: from the extension).")
                   ] = None,
    shape: Annotated[str | None, typer.Option("--shape", help="Record shape (default: detected from the first "
                                              "record): explicit, implicit, rated, votes, pandalm, mapping.")
                     ] = None,
    split: Annotated[str | None, typer.Option("--split", help="Split name to read or assign.")] = None,
    mapping: Annotated[list[str] | None, typer.Option("--map", metavar="FIELD=COLUMN",
                                                      help="Map a Curator field to a source column; repeatable.")
                       ] = None,
    pairing: Annotated[Pairing | None, typer.Option("--pairing", help="How rated responses become pairs "
                                                    "(default best-worst).")] = None,
    min_gap: Annotated[float | None, typer.Option("--min-gap", help="Smallest score difference that makes a pair "
                                                  "(rated data).")] = None,
    judgements_only: Annotated[bool, typer.Option(
        "--judgements-only", help="Add only the source's judgements (votes, AI verdicts) to the pairs dataset "
                                  "--name already holds, matched by pair id or identical texts; adds no pair.")
                               ] = False,
    quiet: QuietOpt = False,
) -> None:
    """Import preference pairs (and their judgements) from a file or a Hugging Face dataset.

    Pairs already in the database are skipped, so importing twice adds nothing. A source that
    cannot be read imports nothing and names the file, record and field. With
    --judgements-only, a verdict file for stored pairs (for example PandaLM's
    pandalm_merged.jsonl after testset-v1.json) adds its judgements to the judgements log.
    """
    from curator.io import ColumnMapping, PairingRule

    columns = _parse_mapping(mapping)
    if columns is not None and shape not in (None, "mapping"):
        raise typer.BadParameter(f"--map sets the shape to 'mapping'; drop --shape {shape}.", param_hint="--shape")
    try:
        column_mapping = ColumnMapping.from_dict(columns) if columns is not None else None
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="--map") from None
    try:
        rule = None if pairing is None and min_gap is None else PairingRule(
            (pairing or Pairing.best_worst).value, min_gap=0.0 if min_gap is None else min_gap)
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="--min-gap") from None
    if judgements_only and (name is None or rule is not None):
        raise typer.BadParameter("--judgements-only needs --name DATASET (the stored dataset) and no "
                                 "--pairing/--min-gap.", param_hint="--judgements-only")
    result = _ingest(db, source, name=name, quiet=quiet, judgements_only=judgements_only, shape=shape,
                     fmt=fmt.value if fmt else None, mapping=column_mapping, split=split,
                     **({} if judgements_only else {"pairing": rule}))
    typer.echo("\n".join(result.summary_lines()) if judgements_only else _summary(result, db))


@app.command()
def demo(
    db: DbOpt = DEFAULT_DB,
    pairs: Annotated[int, typer.Option("--pairs", min=10, help="Number of demo pairs to generate.")] = 3000,
    seed: Annotated[int, typer.Option("--seed", help="Random seed of the generator.")] = 0,
    signals: Annotated[bool, typer.Option("--signals", help="Also start computing the demo's signals (default "
                                                            "config) in a background worker, so the Signals, Map "
                                                            "and Curate pages are filled; `make app` sets it.")
                       ] = False,
    quiet: QuietOpt = False,
) -> None:
    """Write the demo dataset (planted topics, flipped labels, ties, length bias) and import it.

    Files go to a `demo/` folder next to the database; the dataset is called "demo". Running it
    again with the same options changes nothing. With --signals the command does not wait for the
    signals job: the app's Signals page shows its progress and loads the run when it is done.
    """
    from curator.io import write_demo

    files = write_demo(db.parent / "demo", n_pairs=pairs, seed=seed)
    result = _ingest(db, str(files.pairs_path), name="demo", quiet=quiet)
    typer.echo(_summary(result, db))
    typer.echo(f"ground truth: {files.truth_path}")
    if signals:
        from curator import jobs
        from curator.signals import SignalConfig

        store = open_store(db)
        try:
            handle = jobs.submit_signals(store, "demo", SignalConfig())
        finally:
            store.close()
        typer.echo(f"signals: run {handle.run_id} already computed" if handle.cached else
                   f"signals: job {handle.job_id} started in the background; the app's Signals page shows its "
                   f"progress")


@app.command()
def stats(db: DbOpt = DEFAULT_DB, as_json: JsonOpt = False) -> None:
    """Count pairs and judgements, overall and per dataset."""
    store = store_or_app(db)
    if store is None:
        counts = hand_over(db, "stats", {})
    else:
        try:
            counts = store.stats()
        finally:
            store.close()
    if as_json:
        typer.echo(json.dumps(counts))
        return
    typer.echo(f"{db}: {counts['pairs']:,} pairs, {counts['judgements']:,} judgements")
    if not counts["datasets"]:
        typer.echo("no datasets yet: try `curator demo` or `curator ingest FILE`")
        return
    header = ("dataset", "shape", "pairs", "labelled", "human", "ai")
    rows = [(d["name"], d["shape"], f"{d['pairs']:,}", f"{d['labelled']:,}", f"{d['human_judgements']:,}",
             f"{d['ai_judgements']:,}") for d in counts["datasets"]]
    widths = [max(len(str(r[i])) for r in (header, *rows)) for i in range(len(header))]
    for row in (header, *rows):
        cells = (c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))
        typer.echo("  ".join(cells))


def app_path() -> Path:
    """The Streamlit entry file, found next to the installed package (an editable install)."""
    import curator

    return Path(curator.__file__).resolve().parents[1] / "app.py"


@app.command()
def serve(
    db: DbOpt = DEFAULT_DB,
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port to listen on.")] = 8501,
    address: Annotated[str, typer.Option("--address", help="Interface to bind; 0.0.0.0 exposes the app "
                                                           "to the network.")] = "127.0.0.1",
    allow_no_login: Annotated[bool, typer.Option("--allow-no-login", help="Serve a non-loopback address without "
                                                                          "[auth] in the secrets: every visitor is "
                                                                          "an admin.")] = False,
) -> None:
    """Start the Curator app (Streamlit) on the database.

    SIGTERM, SIGINT and SIGHUP are passed on to the app, and this command waits for it, so the port
    and the database are free once it has returned."""
    entry = app_path()
    if not entry.is_file():
        raise CuratorError(f"the app entry {entry} is missing; `curator serve` needs a source checkout "
                           "installed with `pip install -e .`.")
    if not _is_loopback(address) and not auth_configured():
        warning = (f"WARNING: --address {address} exposes the app to the network, and no [auth] section is in "
                   f"{' or '.join(str(p) for p in secrets_files())}: there is no login and every visitor is an "
                   "admin (can import, export, delete queues and train).")
        if not allow_no_login:
            typer.echo(f"{warning}\nConfigure [auth] (see README, Authentication), or pass --allow-no-login to "
                       "serve without a login anyway.", err=True)
            raise typer.Exit(code=2)
        typer.echo(typer.style(warning, fg="red", bold=True), err=True)
    argv = [sys.executable, "-m", "streamlit", "run", str(entry),
            "--server.address", address, "--server.port", str(port)]
    env = {**os.environ, "CURATOR_DB": str(db.resolve())}
    typer.echo(f"Curator on http://{address}:{port} (database {db}); Ctrl+C stops it.", err=True)
    raise typer.Exit(code=run_forwarding_signals(argv, env=env))


def _is_loopback(address: str) -> bool:
    import ipaddress

    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def secrets_files() -> list[Path]:
    """Where Streamlit reads secrets by default: the user's and the working directory's."""
    return [Path.home() / ".streamlit" / "secrets.toml", Path.cwd() / ".streamlit" / "secrets.toml"]


def auth_configured() -> bool:
    """Whether a secrets file has an [auth] section (the app then requires a login)."""
    import tomllib

    for path in secrets_files():
        try:
            if tomllib.loads(path.read_text(encoding="utf-8")).get("auth"):
                return True
        except (OSError, ValueError):
            continue
    return False


def run_forwarding_signals(argv: list[str], *, env: dict[str, str], grace_s: float = 20.0) -> int:
    """Run `argv`, pass SIGTERM/SIGINT/SIGHUP on to it and wait for it; its exit code (128 + signal
    when a signal ended it). Killed after `grace_s` seconds when it ignores the signal."""
    import signal
    import time

    child = subprocess.Popen(argv, env=env)
    stopping: list[int] = []

    def forward(signum: int, _frame: object) -> None:
        stopping.append(signum)
        if child.poll() is None:
            child.send_signal(signum)

    caught = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
    previous = {s: signal.signal(s, forward) for s in caught}
    deadline = None
    try:
        while (code := child.poll()) is None:
            if stopping and deadline is None:
                deadline = time.monotonic() + grace_s
            if deadline is not None and time.monotonic() > deadline:
                child.kill()
            try:
                child.wait(timeout=0.5)
            except subprocess.TimeoutExpired:
                pass
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    return 128 - code if code < 0 else code


# The command modules define their commands; the tree is put together here, in one place.
app.command()(cli_signals.signals)
app.add_typer(cli_signals.jobs_app, name="jobs")
app.command()(cli_features.features)
app.command("export")(cli_curate.export_cmd)
app.add_typer(cli_curate.recipe_app, name="recipe")
app.add_typer(cli_curate.train_app, name="train")
app.add_typer(cli_annotate.queue_app, name="queue")
for command in (cli_annotate.agreement, cli_annotate.route, cli_annotate.judge):
    app.command()(command)
for name, command in (("noise", cli_annotate.eval_noise), ("routing", cli_annotate.eval_routing),
                      ("curation", cli_curate.eval_curation), ("features", cli_features.eval_features),
                      ("principles", cli_features.eval_principles)):
    eval_app.command(name)(command)


def main() -> None:
    app()
