"""`curator export`, `curator recipe ...`, `curator train ...`, `curator eval curation`.

`curator.cli` registers them. Each command parses options, calls
one function of `curator.curate` / `curator.train` / `curator.evals.curation`, and prints the result
(one JSON object with --json). A training run is a background job (`curator jobs list` shows it);
`curator train reward` follows it (metrics lines on stderr) unless --detach, and Ctrl+C cancels it.
Whoever syncs the finished job (this command, `curator jobs list`, the app) registers its model.
"""

from __future__ import annotations

import json
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from curator.cli_common import (
    DEFAULT_DB,
    DbOpt,
    JsonOpt,
    QuietOpt,
    hand_over,
    json_safe,
    open_store,
    store_or_app,
    sub_app,
)
from curator.cli_options import config_options
from curator.curate.export import ExportOptions
from curator.train.config import CONFIGS

DEFAULT_EXPORTS = Path("data/exports")
DEFAULT_RUNS = Path("data/runs")

recipe_app = sub_app("Saved selection recipes: list, show, save from a JSON file.")
train_app = sub_app("Train a reward model (embedded or TRL) or a DPO policy on an export; follow, cancel, "
                   "register, re-score.")


def _print(data: dict[str, Any], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(json_safe(data), default=str))
    else:
        for key, value in data.items():
            typer.echo(f"{key}: {value}")


def _load_recipe(store: Any, recipe: str) -> Any:
    from curator.curate import Recipe, load_recipe

    path = Path(recipe)
    if path.suffix == ".json" and path.exists():
        return Recipe.from_json(path.read_text(encoding="utf-8"))
    return load_recipe(store, recipe)


# -- export -----------------------------------------------------------------------------------


class ExportFormat(StrEnum):
    trl = "trl"


@config_options(ExportOptions, into="options", panel="Export (ExportOptions)")
def export_cmd(
    recipe: Annotated[str, typer.Option("--recipe", "-r", help="Saved recipe name (or a recipe .json file).")],
    db: DbOpt = DEFAULT_DB,
    fmt: Annotated[ExportFormat, typer.Option("--format", help="Export format: TRL preference rows "
                                                               "(prompt, chosen, rejected).")] = ExportFormat.trl,
    out: Annotated[Path, typer.Option("--out", "-o", file_okay=False,
                                      help="Folder holding exports; the snapshot is written to OUT/<export id>.")]
    = DEFAULT_EXPORTS,
    export_id: Annotated[str | None, typer.Option("--id", help="Snapshot id (default: name-time-hash); an "
                                                               "existing id is refused.")] = None,
    push: Annotated[str | None, typer.Option("--push", metavar="REPO_ID",
                                             help="Also push to this Hugging Face dataset repo (needs HF_TOKEN).")]
    = None,
    as_json: JsonOpt = False,
    options: ExportOptions | None = None,
) -> None:
    """Write the pairs a recipe selects as an immutable TRL dataset snapshot (Parquet, JSONL, datasets, card)."""
    from dataclasses import replace

    from curator.curate import export, push_to_hub

    options = options or ExportOptions()
    named = options.name != ExportOptions().name  # else the recipe names the export

    store = store_or_app(db)
    if store is None:  # the app that has the file open writes the snapshot
        path = Path(recipe)
        source = {"json": path.read_text(encoding="utf-8")} if path.suffix == ".json" and path.exists() \
            else {"name": recipe}
        data = hand_over(db, "export", {"recipe": source, "out": str(out.resolve()), "options": options.to_dict(),
                                         "named": named, "export_id": export_id})
        data = {**data, "format": fmt.value}
        if push:
            data["hub"] = push_to_hub(Path(data["path"]), push)
        _print(data, as_json)
        return
    rec = _load_recipe(store, recipe)
    if not named and rec.name:
        options = replace(options, name=rec.name)
    result = export(store, rec, out, options, export_id=export_id)
    data: dict[str, Any] = {"export_id": result.export_id, "path": str(result.path), "train": result.n_train,
                            "test": result.n_test, "format": fmt.value,
                            "labels_differing_from_dataset": result.card["counts"]["differ_from_dataset"]}
    if push:
        data["hub"] = push_to_hub(result.path, push)
    _print(data, as_json)


# -- recipes ----------------------------------------------------------------------------------


@recipe_app.command("list")
def recipe_list(db: DbOpt = DEFAULT_DB, as_json: JsonOpt = False) -> None:
    """List saved recipes."""
    rows = [{"name": r.name, "version": r.version, "updated_at": str(r.updated_at)} for r in open_store(db).recipes()]
    if as_json:
        typer.echo(json.dumps(rows))
    else:
        for r in rows:
            typer.echo(f"{r['name']}  v{r['version']}  {r['updated_at']}")


@recipe_app.command("show")
def recipe_show(name: Annotated[str, typer.Argument(help="Recipe name.")], db: DbOpt = DEFAULT_DB) -> None:
    """Print a saved recipe as JSON."""
    from curator.curate import load_recipe

    typer.echo(load_recipe(open_store(db), name).to_json())


@recipe_app.command("save")
def recipe_save(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="Recipe JSON file.")],
    name: Annotated[str | None, typer.Option("--name", help="Save under this name (default: the file's).")] = None,
    db: DbOpt = DEFAULT_DB,
) -> None:
    """Save a recipe from a JSON file (a new version when the name exists)."""
    from curator.curate import Recipe, save_recipe

    recipe = Recipe.from_json(file.read_text(encoding="utf-8"))
    version = save_recipe(open_store(db), recipe, name=name)
    typer.echo(f"saved {name or recipe.name} v{version}")


# -- train ------------------------------------------------------------------------------------

DataOpt = Annotated[Path, typer.Option("--data", exists=True, file_okay=False,
                                       help="Export folder (train.parquet, test.parquet) to train on.")]
RunsOpt = Annotated[Path, typer.Option("--runs", file_okay=False, help="Folder holding run folders.")]
DetachOpt = Annotated[bool, typer.Option("--detach", help="Start the run and return at once.")]
def _follow(store: Any, run_id: str, *, quiet: bool) -> Any:
    from curator import jobs
    from curator.train import cancel_run, run_info, run_metrics

    seen = 0
    try:
        while True:
            jobs.sync(store)
            info = run_info(store, run_id)
            lines = run_metrics(info.run_dir)
            for line in lines[seen:]:
                if not quiet:
                    shown = {k: round(v, 4) if isinstance(v, float) else v for k, v in line.items()
                             if k in ("step", "loss", "accuracy", "eval_accuracy", "rewards/accuracies")}
                    typer.echo(json.dumps(shown), err=True)
            seen = len(lines)
            if info.finished:
                return info
            time.sleep(0.5)
    except KeyboardInterrupt:
        typer.echo("cancelling ...", err=True)
        cancel_run(store, run_id)
        jobs.wait(store, run_id, poll=0.2)
        return run_info(store, run_id)


def _start(cfg: Any, *, runs: Path, detach: bool, quiet: bool, db: Path, as_json: bool) -> None:
    from curator.train import run_log, submit_run

    store = open_store(db)
    try:
        info = submit_run(store, cfg, export_id=Path(cfg.data).name, runs_dir=runs)
        if not detach:
            info = _follow(store, info.run_id, quiet=quiet)
    finally:
        store.close()
    data: dict[str, Any] = {"run_id": info.run_id, "run_dir": str(info.run_dir), "status": info.status,
                            **({"model_id": info.model_id} if info.model_id else {}),
                            **{k: v for k, v in info.final.items() if k != "finished_at"}}
    _print(data, as_json)
    if info.status == "failed":
        typer.echo(f"{info.error or ''}\n{run_log(info.run_dir, tail_chars=3000)}", err=True)
        raise typer.Exit(code=1)


TRAIN_HELP = {
    "embedded": "Train the embedded reward model (a Bradley-Terry head on frozen embeddings; a CPU, seconds) on an "
                "export.",
    "reward": "Train a reward model with TRL's RewardTrainer on an export; prints the held-out reward accuracy.",
    "dpo": "Train a DPO policy with TRL's DPOTrainer on an export; prints the held-out implicit-reward accuracy.",
}


def _train_command(cls: type) -> Any:
    """`curator train METHOD`: one option per field of the method's run config (`curator.train.config`)."""
    @config_options(cls, into="cfg", panel=f"{cls.method} run ({cls.__name__})")
    def train(data: DataOpt, runs: RunsOpt = DEFAULT_RUNS, db: DbOpt = DEFAULT_DB, detach: DetachOpt = False,
              quiet: QuietOpt = False, as_json: JsonOpt = False, cfg: Any = None) -> None:
        _start(cfg, runs=runs, detach=detach, quiet=quiet, db=db, as_json=as_json)

    train.__doc__ = TRAIN_HELP[cls.method]
    return train


for _method, _cls in CONFIGS.items():
    train_app.command(_method)(_train_command(_cls))


@train_app.command("status")
def train_status(db: DbOpt = DEFAULT_DB, as_json: JsonOpt = False) -> None:
    """List training runs and their state (syncing them first: a finished run registers its model)."""
    from curator import jobs
    from curator.train import list_runs

    store = open_store(db)
    try:
        jobs.sync(store)
        runs = list_runs(store)
    finally:
        store.close()
    rows = [{"run_id": r.run_id, "method": r.method, "status": r.status, "progress": r.progress,
             "export_id": r.export_id, "model_id": r.model_id, "eval_accuracy": r.final.get("eval_accuracy")}
            for r in runs]
    if as_json:
        typer.echo(json.dumps(json_safe(rows)))
    else:
        for r in rows:
            typer.echo(f"{r['run_id']}  {r['method']}  {r['status']}  {r['progress']:.0%}  "
                       f"eval_accuracy={r['eval_accuracy']}  model={r['model_id'] or ''}")


@train_app.command("cancel")
def train_cancel(run_id: Annotated[str, typer.Argument(help="Run id.")], db: DbOpt = DEFAULT_DB) -> None:
    """Cancel a running training run (SIGTERM to its process group; the same as `curator jobs cancel`)."""
    from curator.train import cancel_run

    store = open_store(db)
    try:
        info = cancel_run(store, run_id)
    finally:
        store.close()
    typer.echo("cancelling" if not info.finished else info.status)


@train_app.command("register")
def train_register(run_id: Annotated[str, typer.Argument(help="Run id.")], runs: RunsOpt = DEFAULT_RUNS,
                   db: DbOpt = DEFAULT_DB) -> None:
    """Register the model of a finished run folder (runs started as jobs register when they finish)."""
    from curator.train import register_run

    typer.echo(register_run(open_store(db), runs / run_id).model_id)


@train_app.command("rescore")
def train_rescore(model_id: Annotated[str, typer.Argument(help="Registered model id.")],
                  dataset: Annotated[str, typer.Option("--dataset", "-d", help="Dataset to score.")],
                  db: DbOpt = DEFAULT_DB) -> None:
    """Score every pair of a dataset with a registered reward model; stored as a new signal run."""
    from curator.train import rescore

    typer.echo(rescore(open_store(db), model_id, dataset))


# -- eval -------------------------------------------------------------------------------------


def eval_curation(
    data: Annotated[Path, typer.Argument(metavar="DATA", exists=True, help="Preference pairs with labels (e.g. "
                                                                           "HH-RLHF helpful-base test.jsonl.gz).")],
    flip: Annotated[float, typer.Option("--flip", min=0.0, max=0.49, help="Share of training labels flipped.")]
    = 0.2,
    seed: Annotated[int, typer.Option("--seed", help="Seed of split, flips, folds and recipe.")] = 0,
    heldout: Annotated[float, typer.Option("--heldout", min=0.05, max=0.9, help="Share of pairs held out.")] = 0.3,
    embedder: Annotated[str, typer.Option("--embedder", help="Embedding model (curator.signals.embed names).")]
    = "default",
    as_json: JsonOpt = False,
) -> None:
    """Train the embedded reward on all vs curated training pairs after flipping labels; held-out accuracy.

    Prints {"all": acc, "curated": acc, "kept": share kept} (plus the clean-label reference and how
    well the out-of-fold signals found the flips); accuracy is against the held-out pairs' original labels.
    """
    from curator.evals.curation import evaluate_curation

    result = evaluate_curation(data, flip=flip, seed=seed, heldout=heldout, embedder=embedder)
    data_out = {"all": round(result.all, 4), "curated": round(result.curated, 4), "kept": round(result.kept, 4),
                **{k: v for k, v in result.to_dict().items() if k not in ("all", "curated", "kept")}}
    _print(data_out, as_json)
