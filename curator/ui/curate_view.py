"""The Curate page's parts: recipe controls, the cached selection, preview charts, save and export.

The controls write session-state keys (`curator.ui.keys`, ``cur.*``); `recipe_from_state` reads them
into a `curator.curate.Recipe`, which is all the rest of the page uses. Loading a saved recipe puts
its values back into those keys (an ``on_change`` callback, before the widgets are drawn). The
selection is cached by (database, recipe JSON), so a rerun with unchanged controls costs nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
import streamlit as st

from curator import curate
from curator.curate import (
    ClusterBalance,
    Dedup,
    DropFeatureDecided,
    DropFlags,
    DropFlipped,
    ExportOptions,
    PromptCap,
    Recipe,
    ReviewFeatureDecided,
    StrengthBand,
    TopK,
)
from curator.curate.labels import DEFAULT_PRIORITY
from curator.curate.preview import Preview
from curator.errors import CuratorError
from curator.schema import PairFilter
from curator.ui import auth, data, keys
from curator.ui.config_form import config_from_state, config_widgets
from curator.ui.text import inline

NEW = "(new recipe)"
FLIPPED_ACTIONS = ("keep", "drop", "flip")
DROP_FLAG_CHOICES = {"ambiguous": "flag_ambiguous", "identical": "flag_identical",
                     "near duplicate": "flag_near_duplicate"}

DEFAULTS: dict[str, Any] = {
    keys.CUR_NAME: "", keys.CUR_SPLITS: [], keys.CUR_CLUSTERS: [], keys.CUR_LASSO: False,
    keys.CUR_MARGIN_LO: None, keys.CUR_MARGIN_HI: None, keys.CUR_LABELS: list(DEFAULT_PRIORITY),
    keys.CUR_FLIPPED: "keep", keys.CUR_FLIP_RULE: "flag", keys.CUR_FLIP_T: 0.5, keys.CUR_BAND: False,
    keys.CUR_BAND_MEASURE: "margin", keys.CUR_BAND_Q: (0.0, 1.0), keys.CUR_DROP_FLAGS: ["identical"],
    keys.CUR_DEDUP: False, keys.CUR_CLUSTER_CAP: 0, keys.CUR_PROMPT_CAP: 0, keys.CUR_TOPK: 1.0,
    keys.CUR_DIVERSITY: 0.5, keys.CUR_ORDER: "random", keys.CUR_SEED: 0, keys.CUR_EASY: 0.0,
    keys.CUR_FEAT_DROP: [], keys.CUR_FEAT_REVIEW: [],
}


def init_state() -> None:
    for key, value in DEFAULTS.items():
        st.session_state.setdefault(key, value)


def exports_root() -> Path:
    """Exports live beside the database: ``<db folder>/exports``."""
    return Path(data.db_path()).parent / "exports"


# -- cached reads -----------------------------------------------------------------------------


@st.cache_data(ttl=data.TTL, max_entries=16, show_spinner=False)
def _recipes(db: str) -> list[str]:
    return [r.name for r in data.get_store().recipes()]


def recipe_names() -> list[str]:
    return _recipes(data.db_path())


@st.cache_data(ttl=data.TTL, max_entries=32, show_spinner="Applying the recipe…")
def _selection(db: str, recipe_json: str) -> curate.Selection:
    return curate.select(data.get_store(), Recipe.from_json(recipe_json))


def selection(recipe: Recipe) -> curate.Selection:
    return _selection(data.db_path(), recipe.to_json())


@st.cache_data(ttl=data.TTL, max_entries=16, show_spinner=False)
def _full_clusters(db: str, run: str | None) -> dict[int, int] | None:
    return curate.full_cluster_counts(data.get_store(), run)


def preview(recipe: Recipe) -> Preview:
    """The recipe's preview; a step the signal run cannot serve shows its message and stops the page."""
    try:
        sel = selection(recipe)
    except ValueError as e:
        st.error(inline(str(e), max_chars=600), icon=":material/error:")
        st.stop()
    return curate.preview(sel, full_clusters=_full_clusters(data.db_path(), recipe.filter.signal_run))


# -- recipe <-> widgets -----------------------------------------------------------------------


def recipe_from_state(dataset: str, run: str | None) -> Recipe:
    """The recipe the controls describe (steps that need signals only when a run is picked)."""
    s = st.session_state
    lo, hi = s.get(keys.CUR_MARGIN_LO), s.get(keys.CUR_MARGIN_HI)
    lasso = keys.get_selection() if s.get(keys.CUR_LASSO) else None
    flt = PairFilter(datasets=(dataset,), splits=tuple(s.get(keys.CUR_SPLITS) or ()), signal_run=run,
                     signal_ranges=(("margin", lo, hi),) if run and (lo is not None or hi is not None) else (),
                     clusters=tuple(int(c) for c in s.get(keys.CUR_CLUSTERS) or ()) if run else (),
                     pair_ids=lasso.pair_ids if lasso else ())
    steps: list[Any] = []
    if run and s.get(keys.CUR_FLIPPED) in ("drop", "flip"):
        steps.append(DropFlipped(action=s[keys.CUR_FLIPPED], rule=s.get(keys.CUR_FLIP_RULE, "flag"),
                                 threshold=float(s.get(keys.CUR_FLIP_T, 0.5))))
    if run and s.get(keys.CUR_BAND):
        low, high = s.get(keys.CUR_BAND_Q, (0.0, 1.0))
        steps.append(StrengthBand(measure=s.get(keys.CUR_BAND_MEASURE, "margin"), low=float(low), high=float(high),
                                  quantiles=True))
    flags = [DROP_FLAG_CHOICES[f] for f in s.get(keys.CUR_DROP_FLAGS) or () if run or f == "identical"]
    if flags:
        steps.append(DropFlags(flags=tuple(flags)))
    if s.get(keys.CUR_DEDUP):
        steps.append(Dedup())
    if run and int(s.get(keys.CUR_CLUSTER_CAP) or 0) > 0:
        steps.append(ClusterBalance(cap=int(s[keys.CUR_CLUSTER_CAP])))
    if int(s.get(keys.CUR_PROMPT_CAP) or 0) > 0:
        steps.append(PromptCap(cap=int(s[keys.CUR_PROMPT_CAP]), by="margin" if run else "random"))
    if run and float(s.get(keys.CUR_TOPK) or 1.0) < 1.0:
        steps.append(TopK(fraction=float(s[keys.CUR_TOPK]), diversity_weight=float(s.get(keys.CUR_DIVERSITY, 0.5))))
    feature_run = s.get(keys.CUR_FEAT_RUN)
    if feature_run:
        steps += [DropFeatureDecided(run_id=feature_run, latent=int(j)) for j in s.get(keys.CUR_FEAT_DROP) or ()]
        steps += [ReviewFeatureDecided(run_id=feature_run, latent=int(j)) for j in s.get(keys.CUR_FEAT_REVIEW) or ()]
    order = s.get(keys.CUR_ORDER, "random")
    easy = float(s.get(keys.CUR_EASY) or 0.0)
    return Recipe(name=(s.get(keys.CUR_NAME) or "").strip(), filter=flt,
                  labels=tuple(s.get(keys.CUR_LABELS) or DEFAULT_PRIORITY), steps=tuple(steps),
                  order=order if run or order != "curriculum" else "random",
                  easy_fraction=easy if run and 0.0 < easy < 1.0 else None, seed=int(s.get(keys.CUR_SEED) or 0))


def load_saved() -> None:
    """on_change of the saved-recipe picker: put the recipe's values into the controls."""
    name = st.session_state.get(keys.CUR_SAVED)
    for key, value in DEFAULTS.items():
        st.session_state[key] = value
    if not name or name == NEW:
        return
    recipe = curate.load_recipe(data.get_store(), name)
    s = st.session_state
    s[keys.CUR_NAME] = recipe.name
    s[keys.CUR_SPLITS] = list(recipe.filter.splits)
    s[keys.CUR_CLUSTERS] = list(recipe.filter.clusters)
    for name_, lo, hi in recipe.filter.signal_ranges:
        if name_ == "margin":
            s[keys.CUR_MARGIN_LO], s[keys.CUR_MARGIN_HI] = lo, hi
    s[keys.CUR_LABELS] = list(recipe.labels)
    s[keys.CUR_DROP_FLAGS] = []
    for step in recipe.steps:
        if isinstance(step, DropFlipped):
            s[keys.CUR_FLIPPED], s[keys.CUR_FLIP_RULE], s[keys.CUR_FLIP_T] = step.action, step.rule, step.threshold
        elif isinstance(step, StrengthBand):
            s[keys.CUR_BAND], s[keys.CUR_BAND_MEASURE] = True, step.measure
            s[keys.CUR_BAND_Q] = (step.low or 0.0, step.high if step.high is not None else 1.0)
        elif isinstance(step, DropFlags):
            s[keys.CUR_DROP_FLAGS] = [k for k, v in DROP_FLAG_CHOICES.items() if v in step.flags]
        elif isinstance(step, Dedup):
            s[keys.CUR_DEDUP] = True
        elif isinstance(step, ClusterBalance):
            s[keys.CUR_CLUSTER_CAP] = step.cap
        elif isinstance(step, PromptCap):
            s[keys.CUR_PROMPT_CAP] = step.cap
        elif isinstance(step, TopK) and step.fraction is not None:
            s[keys.CUR_TOPK], s[keys.CUR_DIVERSITY] = step.fraction, step.diversity_weight
        elif isinstance(step, DropFeatureDecided):  # and its subclass ReviewFeatureDecided
            s[keys.CUR_FEAT_RUN] = step.run_id
            which = keys.CUR_FEAT_REVIEW if isinstance(step, ReviewFeatureDecided) else keys.CUR_FEAT_DROP
            s[which] = [*s[which], step.latent]
    s[keys.CUR_ORDER], s[keys.CUR_SEED] = recipe.order, recipe.seed
    s[keys.CUR_EASY] = recipe.easy_fraction or 0.0


# -- actions (button callbacks) ---------------------------------------------------------------


def save(dataset: str, run: str | None) -> None:
    """on_click of Save: the recipe as the controls describe it now (their values are set before callbacks)."""
    auth.require_admin("Saving a recipe")
    recipe = recipe_from_state(dataset, run)
    if not recipe.name:
        st.session_state[keys.CUR_NOTICE] = ("error", "Name the recipe before saving it.")
        return
    version = curate.save_recipe(data.get_store(), recipe)
    data.invalidate()
    st.session_state[keys.CUR_NOTICE] = ("success", f"Saved recipe {recipe.name!r} (version {version}).")


def export(dataset: str, run: str | None) -> None:
    """on_click of Export: write the snapshot of the recipe the controls describe now."""
    auth.require_admin("Exporting")
    recipe = recipe_from_state(dataset, run)
    s = st.session_state
    options = config_from_state(ExportOptions, keys.CUR_EXP)
    if options.name == ExportOptions().name and recipe.name:  # the recipe names the export unless the form does
        options = replace(options, name=recipe.name)
    if not recipe.filter.signal_run:
        options = replace(options, signals=())
    try:
        result = curate.export(data.get_store(), recipe, exports_root(), options)
    except CuratorError as e:
        s[keys.CUR_NOTICE] = ("error", f"Nothing was exported. {e}")
        return
    data.invalidate()
    s[keys.CUR_NOTICE] = ("success", f"Exported {result.n_train:,} train + {result.n_test:,} test pairs as "
                                     f"{result.export_id} ({result.path}).")
    s[keys.TRN_EXPORT] = result.export_id


def notice() -> None:
    message = st.session_state.pop(keys.CUR_NOTICE, None)
    if message:
        kind, text = message
        (st.success if kind == "success" else st.error)(inline(text, max_chars=600))


# -- charts -----------------------------------------------------------------------------------


def margin_chart(p: Preview) -> go.Figure:
    """Margin histogram: every pair the filter matched vs the pairs the recipe keeps."""
    mids = [(a + b) / 2 for a, b in zip(p.margin_edges, p.margin_edges[1:], strict=False)]
    fig = go.Figure([go.Bar(x=mids, y=p.margin_counts_input, name="filtered", marker_color="#c7c7c7"),
                     go.Bar(x=mids, y=p.margin_counts_selected, name="kept", marker_color="#1f77b4")])
    fig.update_layout(barmode="overlay", height=260, margin=dict(l=10, r=10, t=30, b=10),
                      title="Margin (labelled chosen vs rejected)", legend=dict(orientation="h"))
    return fig


def coverage_chart(p: Preview, names: dict[int, str] | None = None) -> go.Figure:
    """Share of each cluster's pairs (whole run) that the selection keeps."""
    names = names or {}
    labels = [names.get(c.cluster, f"cluster {c.cluster}") for c in p.clusters]
    fig = go.Figure([go.Bar(x=[c.share for c in p.clusters], y=labels, orientation="h",
                            text=[f"{c.n_selected}/{c.n_full}" for c in p.clusters], marker_color="#2ca02c")])
    fig.update_layout(height=max(200, 22 * len(labels) + 60), margin=dict(l=10, r=10, t=30, b=10),
                      title="Cluster coverage (kept / all pairs of the run)", xaxis=dict(range=[0, 1]))
    return fig


def label_changes(p: Preview) -> None:
    """Say, before anything is written, how many exported labels are not the dataset's own, and show some."""
    n = sum(p.differ_from_dataset.values())
    if not n:
        st.caption("Every exported label is the one its dataset carried.")
        return
    by = ", ".join(f"{src} {k:,}" for src, k in p.differ_from_dataset.items())
    st.warning(f"{n:,} of the {p.n_rows:,} exported pairs get the opposite of their dataset's label (decided by: "
               f"{inline(by, max_chars=200)}): chosen and rejected are swapped against the source file.",
               icon=":material/swap_horiz:")
    rows = [data.pair(pid) for pid in p.differ_examples]
    st.dataframe([{"pair_id": r["pair_id"], "dataset label": r.get("label"), "prompt": (r.get("prompt") or "")[:200]}
                  for r in rows if r], hide_index=True, width="stretch", key="cur.changed")


def step_examples(p: Preview) -> None:
    """Per step, an expander with a few of the pairs it drops or flips (text shown as table cells, inert)."""
    for i, s in enumerate(p.steps, 1):
        with st.expander(f"Step {i}: {inline(s.step, max_chars=80)} · {s.removed:,} dropped, {s.flipped:,} flipped",
                         expanded=False):
            shown = [("dropped", pid) for pid in s.removed_examples] + [("flipped", pid) for pid in s.flipped_examples]
            if not shown:
                st.caption(f"This step keeps all {s.rows_in:,} pairs it gets, labels unchanged.")
                continue
            st.caption(f"The first {len(shown)} in source order of the {s.removed + s.flipped:,} pairs it changes.")
            rows = [(what, data.pair(pid)) for what, pid in shown]
            st.dataframe([{"change": what, "dataset label": r.get("label"), "prompt": (r.get("prompt") or "")[:200],
                           "response A": (r.get("response_a") or "")[:200],
                           "response B": (r.get("response_b") or "")[:200], "pair_id": r["pair_id"]}
                          for what, r in rows if r], hide_index=True, width="stretch", key=f"cur.step.{i}")


@dataclass(frozen=True)
class FeatureLabel:
    """A feature picker's format_func: "latent · name". Streamlit maps a chosen option back through
    it on the next run, so it must keep its own names (a page variable may be rebound meanwhile)."""

    names: dict[int, str]

    def __call__(self, latent: int) -> str:
        return f"{latent} · {inline(self.names.get(latent, ''), max_chars=60)}"


def feature_label(names: dict[int, str]) -> FeatureLabel:
    return FeatureLabel(dict(names))


EXPORT_FIELDS = ("name", "margin", "test_size", "conversational")  # in the form; the rest under "More settings"


def export_fields() -> None:
    """The export form's widgets, generated from `ExportOptions`."""
    config_widgets(ExportOptions, keys.CUR_EXP, only=EXPORT_FIELDS)
    with st.expander("More export settings", icon=":material/settings:"):
        config_widgets(ExportOptions, keys.CUR_EXP, exclude=EXPORT_FIELDS, columns=3)


def held_back(p: Preview) -> None:
    """Per review step, what it holds back and a way to queue those pairs for people to label."""
    for i, s in enumerate(p.steps, 1):
        if not s.held_back:
            continue
        with st.container(horizontal=True, vertical_alignment="center"):
            st.caption(f"Step {i} holds back {len(s.held_back):,} pairs until a person labels them.")
            if auth.is_admin() and st.button(f"Label the {len(s.held_back):,} held-back pairs", key=f"cur.review.{i}",
                                             icon=":material/thumbs_up_down:"):
                keys.label_pairs(list(s.held_back), source=f"step {i} of the recipe ({len(s.held_back):,} pairs)")


def steps_frame(p: Preview) -> list[dict[str, Any]]:
    return [{"step": s.step, "rows in": s.rows_in, "removed": s.removed, "flipped": s.flipped} for s in p.steps]


def exports_frame() -> list[dict[str, Any]]:
    return [{"export": e.export_id, "name": e.name, "rows": e.n_rows, "created": str(e.created_at)[:19],
             "path": e.path} for e in data.get_store().exports()]
