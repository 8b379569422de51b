"""Selection recipes: a saved, named description of which pairs to export, labelled how, in what order.

A `Recipe` holds a `PairFilter` (any column, signal range or flag, plus a lasso of pair_ids), a
label priority, ordered steps (see `curator.curate.steps`) and an ordering. `apply_recipe` turns the
rows a store returned (pairs + one signal run's columns + the latest judgements) into a `Selection`:
the kept rows, labelled, ordered, with a report of what each step removed. It is pure and
deterministic: the same rows and the same recipe give the same rows in the same order.

Orderings:
- ``source``: dataset, row order;
- ``random``: a permutation seeded by `seed`;
- ``curriculum``: easy to hard by preference strength, the largest margin first (Curry-DPO,
  Pattnaik et al., EMNLP 2024).
`easy_fraction` additionally tags each row ``easy`` or ``hard`` by reward gap (MPO, Gou & Nguyen):
the `easy_fraction` of rows with the largest margin are easy.

No store, no streamlit: `curator.curate.select` reads from the store and calls this.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from curator.curate.labels import DEFAULT_PRIORITY, check_priority, resolve_labels
from curator.curate.steps import ReviewFeatureDecided, StepContext, step_from_dict, step_to_dict
from curator.schema import PairFilter

ORDERS: tuple[str, ...] = ("random", "curriculum", "source")
RECIPE_FORMAT = 1


@dataclass(frozen=True)
class Recipe:
    """A named selection: filter, label priority, steps, ordering. Round-trips through JSON."""

    name: str = field(default="", metadata={"help": "Name the recipe is saved under."})
    filter: PairFilter = field(default_factory=PairFilter,
                               metadata={"help": "Which pairs to start from (columns, signal ranges, flags, "
                                                 "a lasso of pair_ids); `signal_run` picks the signals."})
    labels: tuple[str, ...] = field(default=DEFAULT_PRIORITY,
                                    metadata={"help": "Label sources tried in order: consensus, human, ai, "
                                                      "dataset."})
    steps: tuple[Any, ...] = field(default=(), metadata={"help": "Ordered curation steps."})
    order: str = field(default="random", metadata={"help": "'random' (seeded), 'curriculum' (easy to hard by "
                                                           "margin) or 'source'."})
    easy_fraction: float | None = field(default=None, metadata={"help": "MPO split: this share of rows with the "
                                                                       "largest reward gap is tagged 'easy', the "
                                                                       "rest 'hard'."})
    seed: int = field(default=0, metadata={"help": "Seed of the random ordering and random picks."})
    description: str = field(default="", metadata={"help": "Free text shown with the recipe."})

    def __post_init__(self) -> None:
        object.__setattr__(self, "labels", check_priority(self.labels))
        object.__setattr__(self, "steps", tuple(self.steps))
        if self.order not in ORDERS:
            raise ValueError(f"`order` must be one of {ORDERS}, got {self.order!r}.")
        if self.easy_fraction is not None and not 0.0 < self.easy_fraction < 1.0:
            raise ValueError(f"`easy_fraction` must be in (0, 1), got {self.easy_fraction}.")
        needs_margin = self.order == "curriculum" or self.easy_fraction is not None
        if needs_margin and not self.filter.signal_run:
            raise ValueError(f"`order`={self.order!r} / `easy_fraction`={self.easy_fraction} rank by margin, but "
                             f"`filter.signal_run` is not set; pick the signal run to rank by.")

    # -- JSON -----------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        flt = asdict(self.filter)
        return {"format": RECIPE_FORMAT, "name": self.name, "filter": _jsonable(flt), "labels": list(self.labels),
                "steps": [step_to_dict(s) for s in self.steps], "order": self.order,
                "easy_fraction": self.easy_fraction, "seed": self.seed, "description": self.description}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Recipe:
        data = dict(data)
        fmt = data.pop("format", RECIPE_FORMAT)
        if fmt != RECIPE_FORMAT:
            raise ValueError(f"Recipe format {fmt} is not supported (this Curator reads format {RECIPE_FORMAT}).")
        flt = dict(data.pop("filter", None) or {})
        for key in ("datasets", "splits", "clusters", "flags", "pair_ids"):
            if key in flt:
                flt[key] = tuple(flt[key])
        for key in ("prompt_len", "response_len"):
            if key in flt:
                flt[key] = tuple(flt[key])
        if "signal_ranges" in flt:
            flt["signal_ranges"] = tuple(tuple(r) for r in flt["signal_ranges"])
        steps = tuple(step_from_dict(s) for s in data.pop("steps", []))
        labels = tuple(data.pop("labels", DEFAULT_PRIORITY))
        return cls(filter=PairFilter(**flt), steps=steps, labels=labels, **data)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Recipe:
        return cls.from_dict(json.loads(text))


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


STEP_EXAMPLES = 5


@dataclass(frozen=True)
class StepReport:
    """What one step did: rows before, rows removed, labels flipped, and up to `STEP_EXAMPLES` pair
    ids of each (the first in source order) for a pair-level look."""

    step: str
    kind: str
    rows_in: int
    removed: int
    flipped: int
    removed_examples: tuple[str, ...] = ()
    flipped_examples: tuple[str, ...] = ()
    held_back: tuple[str, ...] = ()  # a review step's pairs waiting for a person's label, all of them


@dataclass(frozen=True)
class Selection:
    """The result of applying a recipe.

    `rows` has one row per kept pair in export order with: pair_id, dataset, split, row_index,
    prompt, prompt_messages, response_a, response_b, dataset_label, label (resolved; "a"/"b"),
    label_source, vote_share, n_annotators, n_human, rationale, recipe_flipped, difficulty ("easy"/"hard"/None),
    position, the signal columns of the run, and chosen/rejected text.
    `input_rows` is the table before steps (after the filter), with resolved labels, for previews.
    """

    recipe: Recipe
    rows: pa.Table
    input_rows: pa.Table
    steps: tuple[StepReport, ...]
    unlabelled: int


def label_frame(pairs: pa.Table, judgements: pa.Table | None, *, priority: tuple[str, ...]) -> pd.DataFrame:
    """Pairs with resolved labels; directional signals re-oriented to the resolved label."""
    frame = pairs.to_pandas()
    frame["_row"] = np.arange(len(frame))
    resolved = resolve_labels(frame["pair_id"].tolist(), frame["label"].tolist(), judgements, priority=priority)
    frame = frame.rename(columns={"label": "dataset_label"})
    frame["label"] = resolved.label
    frame["label_source"] = resolved.source
    frame["vote_share"] = pd.array(resolved.vote_share, dtype="Float64")
    frame["n_annotators"] = resolved.n_annotators
    frame["n_human"] = resolved.n_human
    frame["rationale"] = resolved.rationale
    frame["recipe_flipped"] = False
    # Signals point the way of the dataset label ("a" when unlabelled); turn them to the resolved label.
    base = frame["dataset_label"].where(frame["dataset_label"].isin(["a", "b"]), "a")
    turned = frame["label"].notna() & (frame["label"] != base)
    for col in ("margin", "dpo_difficulty"):
        if col in frame.columns:
            frame.loc[turned, col] = -frame.loc[turned, col]
    for col in ("p_correct", "vote_frac"):
        if col in frame.columns:
            frame.loc[turned, col] = 1.0 - frame.loc[turned, col]
    if "flag_flipped" in frame.columns:
        frame.loc[turned, "flag_flipped"] = False
    return frame


def apply_recipe(pairs: pa.Table, recipe: Recipe, *, judgements: pa.Table | None = None,
                 embeddings: np.ndarray | None = None,
                 feature_pairs: dict[str, frozenset[str]] | None = None) -> Selection:
    """Apply a recipe's label priority, steps and ordering to the rows its filter selected.

    Args:
        pairs: N rows as `Store.curation_pairs` returns them (pair columns + signal columns).
        recipe: the recipe; its filter is assumed to be applied already.
        judgements: latest judgement per (pair, kind, annotator) (`Store.curation_judgements`).
        embeddings: optional (N, D) prompt embeddings aligned with `pairs`, for dedup and diversity.
        feature_pairs: the pairs each feature step names (``{step.key(): pair ids}``).

    Returns:
        A Selection.

    >>> import pyarrow as pa
    >>> t = pa.table({"pair_id": ["p1", "p2", "p3"], "dataset": ["d"] * 3, "split": ["train"] * 3,
    ...               "row_index": [0, 1, 2], "prompt": ["q1", "q2", "q3"], "prompt_messages": [None] * 3,
    ...               "response_a": ["x", "y", "z"], "response_b": ["u", "v", "z"], "label": ["a", "b", "a"]})
    >>> from curator.curate.steps import DropFlags
    >>> sel = apply_recipe(t, Recipe(steps=(DropFlags(flags=("flag_identical",)),), order="source"))
    >>> sel.rows.column("pair_id").to_pylist(), sel.rows.column("chosen").to_pylist()
    (['p1', 'p2'], ['x', 'v'])
    >>> [(s.kind, s.removed) for s in sel.steps]
    [('drop_flags', 1)]
    """
    if embeddings is not None and len(embeddings) != pairs.num_rows:
        raise ValueError(f"`embeddings` must have one row per pair: {len(embeddings)} rows for "
                         f"{pairs.num_rows} pairs.")
    frame = label_frame(pairs, judgements, priority=recipe.labels)
    frame = frame.sort_values(["dataset", "row_index", "pair_id"], kind="mergesort").reset_index(drop=True)
    input_frame = frame.copy()
    unlabelled = int(frame["label"].isna().sum())
    frame = frame.loc[frame["label"].notna()]
    ctx = StepContext(embeddings=embeddings, seed=recipe.seed, feature_pairs=feature_pairs)
    reports = []
    for step in recipe.steps:
        before = len(frame)
        ids_before = frame["pair_id"]
        was_flipped = set(frame.loc[frame["recipe_flipped"].astype(bool), "pair_id"])
        frame = step.apply(frame, ctx)
        kept = set(frame["pair_id"])
        now_flipped = frame.loc[frame["recipe_flipped"].astype(bool), "pair_id"]
        newly = now_flipped[~now_flipped.isin(was_flipped)]
        removed = ids_before[~ids_before.isin(kept)]
        reports.append(StepReport(step.describe(), step.kind, before, before - len(frame), len(newly),
                                  tuple(removed.head(STEP_EXAMPLES)), tuple(newly.head(STEP_EXAMPLES)),
                                  tuple(removed) if isinstance(step, ReviewFeatureDecided) else ()))
    frame = _order(frame, recipe)
    frame["chosen"] = np.where(frame["label"] == "a", frame["response_a"], frame["response_b"])
    frame["rejected"] = np.where(frame["label"] == "a", frame["response_b"], frame["response_a"])
    frame["position"] = np.arange(len(frame))
    drop = [c for c in frame.columns if c.startswith("_")]
    return Selection(recipe, pa.Table.from_pandas(frame.drop(columns=drop), preserve_index=False),
                     pa.Table.from_pandas(input_frame.drop(columns=[c for c in input_frame.columns
                                                                    if c.startswith("_")]), preserve_index=False),
                     tuple(reports), unlabelled)


def _order(frame: pd.DataFrame, recipe: Recipe) -> pd.DataFrame:
    frame = frame.sort_values(["dataset", "row_index", "pair_id"], kind="mergesort")
    frame["difficulty"] = None
    if recipe.easy_fraction is not None or recipe.order == "curriculum":
        margin = frame["margin"].astype(float) if "margin" in frame.columns else None
        if margin is None or margin.isna().all():
            raise ValueError("Curriculum ordering and the easy/hard split need `margin` from the signal run.")
        if recipe.easy_fraction is not None and len(frame):
            n_easy = int(round(recipe.easy_fraction * len(frame)))
            ranked = frame.assign(_m=margin.fillna(-np.inf)).sort_values(["_m", "pair_id"], ascending=[False, True],
                                                                         kind="mergesort")
            frame.loc[ranked.index[:n_easy], "difficulty"] = "easy"
            frame.loc[ranked.index[n_easy:], "difficulty"] = "hard"
    if recipe.order == "random":
        frame = frame.sort_values("pair_id", kind="mergesort")
        perm = np.random.default_rng(recipe.seed).permutation(len(frame))
        return frame.iloc[perm].reset_index(drop=True)
    if recipe.order == "curriculum":
        frame = frame.assign(_m=frame["margin"].astype(float).fillna(-np.inf))
        return frame.sort_values(["_m", "pair_id"], ascending=[False, True], kind="mergesort").reset_index(drop=True)
    return frame.reset_index(drop=True)
