"""Export a selection as an immutable TRL dataset snapshot: Parquet, JSONL, a `datasets` folder, a card.

Layout of ``<root>/<export_id>/`` (never overwritten; files are written to a temporary folder that is
renamed into place, then made read-only):

- ``train.parquet``, ``test.parquet`` (and ``.jsonl``): TRL "preference" rows with an explicit
  prompt: ``prompt`` (a string, or chat messages when conversational), ``chosen``, ``rejected``
  (strings, or ``[{"role": "assistant", "content": ...}]``), plus the optional columns the options
  ask for: ``margin`` (read by TRL's RewardTrainer as an adaptive margin), ``soft_label`` (share of
  votes for the chosen response), ``rationale``, ``n_annotators``, signal columns, and always
  ``pair_id``, ``label_source``, ``difficulty`` and ``position`` (the recipe's order);
- ``hf/``: the same as a ``datasets.DatasetDict`` (``load_from_disk``);
- ``README.md``: the dataset card; ``recipe.json``; ``manifest.json`` (options, counts, sources).

The train/test split is seeded and, by default, grouped by prompt so no prompt is in both splits.
The store (only) records the export in its ``exports`` table; see `export`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import stat
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from curator import __version__
from curator.config import Config
from curator.curate.card import render_card
from curator.curate.recipe import Recipe, Selection
from curator.curate.steps import normalize_text
from curator.errors import CuratorError
from curator.schema import SIGNAL_COLUMNS

if TYPE_CHECKING:
    from curator.store import Store

logger = logging.getLogger(__name__)

FORMATS: tuple[str, ...] = ("parquet", "jsonl", "hf")
MARGINS: tuple[str, ...] = ("none", "signal", "votes")
SPLIT_BY: tuple[str, ...] = ("prompt", "pair", "source")


class ExportError(CuratorError, ValueError):
    """An export could not be written (it exists already, it is empty, a push lacks a token...)."""


@dataclass(frozen=True)
class ExportOptions(Config):
    """How a selection is written. One source of truth per field: its help text."""

    name: str = field(default="export", metadata={"help": "Name of the export (shown in the card and lists); "
                                                          "default: the recipe's name.", "label": "Export name"})
    conversational: bool = field(default=False, metadata={"help": "Write prompt/chosen/rejected as chat messages "
                                                                  "instead of strings.", "label": "Chat messages"})
    margin: str = field(default="none", metadata={"help": "Add a `margin` column for RewardTrainer: 'none', "
                                                          "'signal' (the run's margin, clipped at 0) or 'votes' "
                                                          "(2 * vote share - 1).", "choices": MARGINS,
                                                          "label": "Margin column"})
    soft_label: bool = field(default=True, metadata={"help": "Add `soft_label`: share of votes for chosen."})
    rationale: bool = field(default=True, metadata={"help": "Add `rationale` (a judge's reason, when any)."})
    annotator_count: bool = field(default=True, metadata={"help": "Add `n_annotators`."})
    signals: tuple[str, ...] = field(default=("margin", "margin_std", "p_correct", "cluster"),
                                     metadata={"help": "Signal columns to add, each prefixed `signal_`."})
    feature_run: str | None = field(default=None, metadata={
        "help": "Feature run whose activations `features` come from (`curator features DATASET` prints its id)."})
    features: tuple[int, ...] = field(default=(), metadata={
        "help": "Feature (latent) numbers added as `feature_<n>` columns: the activation oriented to the exported "
                "label (> 0: more of the feature in `chosen`; 0 where it does not fire).", "aliases": ("--feature",)})
    test_size: float = field(default=0.1, metadata={"help": "Share of rows in the test split (0 = no test).",
                                                    "min": 0.0, "max": 0.9, "label": "Test share"})
    split_by: str = field(default="prompt", metadata={"help": "'prompt' (no prompt in both splits), 'pair', or "
                                                              "'source' (the pairs' own `split` column: rows "
                                                              "whose split is test/validation go to test).",
                                                          "choices": SPLIT_BY})
    seed: int = field(default=0, metadata={"help": "Seed of the train/test split."})
    formats: tuple[str, ...] = field(default=FORMATS, metadata={"help": "Files to write: parquet, jsonl, hf."})

    def __post_init__(self) -> None:
        object.__setattr__(self, "signals", tuple(self.signals))
        object.__setattr__(self, "formats", tuple(self.formats))
        object.__setattr__(self, "features", tuple(int(j) for j in self.features))
        if self.features and not self.feature_run:
            raise ValueError("`features` is set but `feature_run` is not: name the run the activations come from.")
        if self.margin not in MARGINS:
            raise ValueError(f"`margin` must be one of {MARGINS}, got {self.margin!r}.")
        if self.split_by not in SPLIT_BY:
            raise ValueError(f"`split_by` must be one of {SPLIT_BY}, got {self.split_by!r}.")
        if not 0.0 <= self.test_size < 1.0:
            raise ValueError(f"`test_size` must be in [0, 1), got {self.test_size}.")
        bad = [s for s in self.signals if s not in SIGNAL_COLUMNS]
        if bad:
            raise ValueError(f"Unknown signal column(s) {bad}; valid: {SIGNAL_COLUMNS}.")
        bad = [f for f in self.formats if f not in FORMATS]
        if bad or not self.formats:
            raise ValueError(f"`formats` must be a non-empty subset of {FORMATS}, got {list(self.formats)}.")
        if "parquet" not in self.formats:
            raise ValueError("`formats` must include 'parquet': training reads the Parquet files.")



@dataclass(frozen=True)
class ExportResult:
    export_id: str
    path: Path
    n_train: int
    n_test: int
    card: dict[str, Any]


# -- rows -------------------------------------------------------------------------------------


def _messages(prompt: str, prompt_messages: str | None) -> list[dict[str, str]]:
    if prompt_messages:
        msgs = json.loads(prompt_messages) if isinstance(prompt_messages, str) else prompt_messages
        if isinstance(msgs, list) and msgs:
            return [{"role": str(m["role"]), "content": str(m["content"])} for m in msgs]
    return [{"role": "user", "content": prompt}]


def trl_rows(selection: Selection, options: ExportOptions) -> list[dict[str, Any]]:
    """The selection's rows in TRL preference format (explicit prompt), in the recipe's order."""
    table = selection.rows
    cols = {c: table.column(c).to_pylist() for c in table.column_names}
    n = table.num_rows
    out: list[dict[str, Any]] = []
    for i in range(n):
        row: dict[str, Any] = {"pair_id": cols["pair_id"][i]}
        if options.conversational:
            row["prompt"] = _messages(cols["prompt"][i], cols.get("prompt_messages", [None] * n)[i])
            row["chosen"] = [{"role": "assistant", "content": cols["chosen"][i]}]
            row["rejected"] = [{"role": "assistant", "content": cols["rejected"][i]}]
        else:
            row["prompt"], row["chosen"], row["rejected"] = cols["prompt"][i], cols["chosen"][i], cols["rejected"][i]
        if options.margin == "signal":
            m = cols.get("margin", [None] * n)[i]
            row["margin"] = max(float(m), 0.0) if m is not None and np.isfinite(m) else 0.0
        elif options.margin == "votes":
            share = cols["vote_share"][i]
            row["margin"] = 2.0 * float(share) - 1.0 if share is not None else 0.0
        if options.soft_label:
            row["soft_label"] = None if cols["vote_share"][i] is None else float(cols["vote_share"][i])
        if options.rationale:
            row["rationale"] = cols["rationale"][i]
        if options.annotator_count:
            row["n_annotators"] = int(cols["n_annotators"][i])
        for s in options.signals:
            value = cols[s][i] if s in cols else None
            row[f"signal_{s}"] = None if value is None or (isinstance(value, float) and not np.isfinite(value)) \
                else value
        for j in options.features:
            value = cols.get(f"feature_{j}", [None] * n)[i]
            row[f"feature_{j}"] = 0.0 if value is None else float(value)
        row["label_source"] = cols["label_source"][i]
        row["difficulty"] = cols["difficulty"][i]
        row["position"] = int(cols["position"][i])
        row["_split"] = cols["split"][i]
        out.append(row)
    return out


def split_rows(rows: list[dict[str, Any]], *, test_size: float, split_by: str, seed: int
               ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Seeded train/test split that keeps the rows' order within each split.

    >>> rows = [{"prompt": p, "_split": "train"} for p in ["a", "a", "b", "c", "d"]]
    >>> train, test = split_rows(rows, test_size=0.4, split_by="prompt", seed=0)
    >>> len(train) + len(test), {r["prompt"] for r in train} & {r["prompt"] for r in test}
    (5, set())
    """
    if test_size <= 0 or not rows:
        return list(rows), []
    if split_by == "source":
        is_test = [str(r["_split"]).lower() in ("test", "validation", "valid", "eval", "dev") for r in rows]
    else:
        if split_by == "prompt":
            keys = [normalize_text(json.dumps(r["prompt"]) if not isinstance(r["prompt"], str) else r["prompt"])
                    for r in rows]
        else:
            keys = [r.get("pair_id", str(i)) for i, r in enumerate(rows)]
        groups = sorted(set(keys))
        sizes: dict[str, int] = {}
        for k in keys:
            sizes[k] = sizes.get(k, 0) + 1
        target = int(round(test_size * len(rows)))
        chosen: set[str] = set()
        taken = 0
        for idx in np.random.default_rng(seed).permutation(len(groups)):
            if taken >= target:
                break
            chosen.add(groups[idx])
            taken += sizes[groups[idx]]
        is_test = [k in chosen for k in keys]
    train = [r for r, t in zip(rows, is_test, strict=True) if not t]
    test = [r for r, t in zip(rows, is_test, strict=True) if t]
    return train, test


# -- writing ----------------------------------------------------------------------------------


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "export"


def make_export_id(name: str, rows: list[dict[str, Any]], *, now: datetime | None = None) -> str:
    """``<name>-<UTC time>-<content hash>``: sortable, readable, different for different content."""
    h = hashlib.blake2b(digest_size=4)
    for r in rows:
        h.update(json.dumps(r, sort_keys=True, default=str, ensure_ascii=False).encode())
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    return f"{_slug(name)}-{stamp}-{h.hexdigest()}"


def _strip(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if not k.startswith("_")} for r in rows]


def _write_split(folder: Path, split: str, rows: list[dict[str, Any]], formats: tuple[str, ...],
                 schema: pa.Schema) -> None:
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), folder / f"{split}.parquet")
    if "jsonl" in formats:
        with open(folder / f"{split}.jsonl", "w", encoding="utf-8") as fh:
            for r in rows:
                fh.write(json.dumps(r, ensure_ascii=False) + "\n")


def write_export(selection: Selection, root: str | Path, options: ExportOptions, *,
                 export_id: str | None = None, sources: list[dict[str, Any]] | None = None,
                 signal_run: dict[str, Any] | None = None) -> ExportResult:
    """Write a selection as a new snapshot folder ``<root>/<export_id>``; refuse to overwrite.

    Args:
        selection: the selection (from `apply_recipe` / `select`).
        root: folder holding all exports (``data/exports``).
        options: ExportOptions.
        export_id: the snapshot id; by default ``<name>-<time>-<hash>``.
        sources: [{"name", "source", "version"}] of the datasets the rows come from (for the card).
        signal_run: {"run_id", "models", "params", ...} of the signal run used (for the card).

    Raises:
        ExportError: when the folder exists or the selection is empty.
    """
    if selection.rows.num_rows == 0:
        raise ExportError("The selection is empty: nothing to export. Loosen the recipe's filter or steps.")
    rows = trl_rows(selection, options)
    train, test = split_rows(rows, test_size=options.test_size, split_by=options.split_by, seed=options.seed)
    if not train:
        raise ExportError(f"`test_size`={options.test_size} with split_by={options.split_by!r} leaves no training "
                          f"rows out of {len(rows)}; lower `test_size` or split by pair.")
    export_id = export_id or make_export_id(options.name, rows)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", export_id):
        raise ExportError(f"Export id {export_id!r} may hold only letters, digits, '.', '_' and '-'.")
    root = Path(root)
    final = root / export_id
    if final.exists():
        raise ExportError(f"Export {export_id!r} already exists at {final}; exports are immutable snapshots. "
                          f"Choose another id or name.")
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f".{export_id}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        schema = pa.Table.from_pylist(_strip(rows)).schema
        _write_split(tmp, "train", _strip(train), options.formats, schema)
        _write_split(tmp, "test", _strip(test), options.formats, schema)
        if "hf" in options.formats:
            _save_to_disk(tmp)
        card = card_data(selection, options, export_id=export_id, n_train=len(train), n_test=len(test),
                         sources=sources or [], signal_run=signal_run)
        (tmp / "README.md").write_text(render_card(card), encoding="utf-8")
        (tmp / "recipe.json").write_text(selection.recipe.to_json(), encoding="utf-8")
        (tmp / "manifest.json").write_text(json.dumps(card, indent=2, default=str, ensure_ascii=False),
                                           encoding="utf-8")
        if final.exists():  # someone else won the race
            raise ExportError(f"Export {export_id!r} already exists at {final}; exports are immutable snapshots.")
        tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    for path in final.rglob("*"):
        if path.is_file():
            path.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    logger.info("exported %d train + %d test rows to %s", len(train), len(test), final)
    return ExportResult(export_id, final, len(train), len(test), card)


def _save_to_disk(folder: Path) -> None:
    from datasets import DatasetDict, load_dataset

    # An empty split cannot round-trip through `datasets` (it fails to build or to load), so the
    # HF folder holds the non-empty splits; the Parquet files keep both.
    files = {s: str(folder / f"{s}.parquet") for s in ("train", "test")
             if pq.read_metadata(folder / f"{s}.parquet").num_rows}
    if not files:
        return
    ds = load_dataset("parquet", data_files=files, cache_dir=str(folder / ".hf-cache"))
    DatasetDict({s: ds[s] for s in ds}).save_to_disk(str(folder / "hf"))
    shutil.rmtree(folder / ".hf-cache", ignore_errors=True)


def card_data(selection: Selection, options: ExportOptions, *, export_id: str, n_train: int, n_test: int,
              sources: list[dict[str, Any]], signal_run: dict[str, Any] | None) -> dict[str, Any]:
    """Everything the dataset card says, as plain data (also stored with the export)."""
    from curator.curate.preview import preview

    p = preview(selection)
    return {
        "export_id": export_id, "name": options.name, "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "curator_version": __version__, "format": "trl-preference-conversational" if options.conversational
        else "trl-preference-explicit-prompt",
        "counts": {"train": n_train, "test": n_test, "total": n_train + n_test, "input": p.n_input,
                   "unlabelled_dropped": p.unlabelled, "flipped_by_recipe": p.flipped_by_recipe,
                   "differ_from_dataset": sum(p.differ_from_dataset.values())},
        "differ_from_dataset": p.differ_from_dataset, "differ_examples": p.differ_examples,
        "label_sources": p.label_sources, "difficulty": p.difficulty, "sources": sources,
        "signal_run": signal_run, "recipe": selection.recipe.to_dict(),
        "steps": [{**asdict(s), "held_back": len(s.held_back)} for s in p.steps], "options": options.to_dict(),
    }


# -- from the store ---------------------------------------------------------------------------


def export(store: Store, recipe: Recipe, root: str | Path, options: ExportOptions | None = None, *,
           export_id: str | None = None) -> ExportResult:
    """Select with `recipe`, write the snapshot under `root`, and record it in the store."""
    from curator.curate.select import select

    options = options or ExportOptions(name=recipe.name or "export")
    selection = select(store, recipe)
    names = sorted(set(selection.rows.column("dataset").to_pylist())) if selection.rows.num_rows else []
    from curator.features import card_features

    sources = [{"name": d.name, "source": d.source, "shape": d.shape, "version": d.version,
                **card_features(store, d.name)} for d in store.datasets() if d.name in names]
    run = None
    if recipe.filter.signal_run:
        found = [r for r in store.signal_runs() if r.run_id == recipe.filter.signal_run]
        if found:
            r = found[0]
            run = {"run_id": r.run_id, "dataset": r.dataset, "dataset_version": r.dataset_version,
                   "models": r.models, "params": r.params, "n_pairs": r.n_pairs}
    if options.features:
        selection = _with_feature_columns(store, selection, options)
    result = write_export(selection, root, options, export_id=export_id, sources=sources, signal_run=run)
    store.record_export(export_id=result.export_id, name=options.name, dataset=",".join(names) or None,
                        recipe=recipe.to_dict(), n_rows=result.n_train + result.n_test, path=str(result.path),
                        card=result.card)
    return result


def _with_feature_columns(store: Store, selection: Selection, options: ExportOptions) -> Selection:
    """The selection with a ``feature_<n>`` column per requested feature, oriented to the resolved label."""
    from dataclasses import replace

    if not any(r.run_id == options.feature_run for r in store.feature_runs()):
        raise ExportError(f"No feature run {options.feature_run!r}; `curator features DATASET` lists the runs.")
    acts = store.feature_activations(options.feature_run or "", tuple(options.features))
    by = {(p, j): a for p, j, a in zip(*(acts.column(c).to_pylist() for c in ("pair_id", "latent", "activation")),
                                       strict=True)}
    rows = selection.rows
    ids, labels = rows.column("pair_id").to_pylist(), rows.column("label").to_pylist()
    for j in options.features:
        col = [by.get((p, j), 0.0) * (1.0 if lab == "a" else -1.0) for p, lab in zip(ids, labels, strict=True)]
        rows = rows.append_column(f"feature_{j}", pa.array(col, pa.float64()))
    return replace(selection, rows=rows)


def push_to_hub(export_path: str | Path, repo_id: str, *, token: str | None = None, private: bool = True) -> str:
    """Upload an export (its ``hf/`` DatasetDict and card) to the Hugging Face Hub; returns the repo URL.

    The token comes from `token` or the ``HF_TOKEN`` environment variable.

    Raises:
        ExportError: without a token, or when the export has no ``hf/`` folder.
    """
    token = token or os.environ.get("HF_TOKEN")
    if not token:
        raise ExportError("Pushing to the Hub needs a token: set the HF_TOKEN environment variable "
                          "(or pass `token`).")
    path = Path(export_path)
    if not (path / "hf").is_dir():
        raise ExportError(f"{path} has no hf/ folder; export with formats including 'hf' to push it.")
    from datasets import load_from_disk
    from huggingface_hub import HfApi

    load_from_disk(str(path / "hf")).push_to_hub(repo_id, token=token, private=private)
    HfApi(token=token).upload_file(path_or_fileobj=str(path / "README.md"), path_in_repo="README.md",
                                   repo_id=repo_id, repo_type="dataset")
    return f"https://huggingface.co/datasets/{repo_id}"
