"""The Features page's parts: the run picker, cached feature tables, the compute button, the ranked
table, the effect-size chart, a feature's top pairs side by side (as text) and the weights heatmap."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from curator.errors import CuratorError
from curator.signals.features import FeatureConfig
from curator.store import FeatureRun, Store
from curator.ui import auth, data, keys
from curator.ui.config_form import config_from_state, config_widgets
from curator.ui.signal_charts import plotly_text
from curator.ui.text import inline

CHART_FEATURES = 16  # bars on the effect-size chart
TOP_PAIRS = 5
FORM_FIELDS = ("embedder", "seed", "n_latents")  # in the form; the rest under "More settings"
WEIGHT_KINDS = {"source": "label source", "annotator": "annotator", "cluster": "cluster"}


@st.cache_data(ttl=data.TTL, max_entries=16, show_spinner="Loading features…")
def _latents(db: str, run_id: str) -> pd.DataFrame:
    return Store.open(db).feature_latents(run_id, include_hidden=True).to_pandas()


@st.cache_data(ttl=data.TTL, max_entries=16, show_spinner=False)
def _weights(db: str, run_id: str) -> pd.DataFrame:
    return Store.open(db).feature_weights(run_id).to_pandas()


@st.cache_data(ttl=data.TTL, max_entries=64, show_spinner="Loading pairs…")
def _pairs(db: str, run_id: str, latent: int, limit: int) -> pd.DataFrame:
    return Store.open(db).feature_pairs(run_id, latent, limit=limit).to_pandas()


def run_picker(dataset: str) -> FeatureRun | None:
    """Sidebar choice of the feature run (newest first). None: no run yet."""
    runs = {r.run_id: r for r in data.feature_runs(dataset)}
    if not runs:
        return None
    if st.session_state.get(keys.FEAT_RUN) not in runs:
        st.session_state[keys.FEAT_RUN] = next(iter(runs))
    with st.sidebar:
        run_id = st.selectbox("Feature run", list(runs), key=keys.FEAT_RUN, format_func=lambda r: (
            f"{r} · {runs[r].params.get('embedder', '?')} · {runs[r].created_at:%Y-%m-%d %H:%M}"))
    return runs[run_id]


def compute_form(dataset: str) -> None:
    """Embedder and seed, and the button that computes (or finds) the run (admins only)."""
    if not auth.is_admin():
        st.caption("Only admins compute features.")
        return
    config_widgets(FeatureConfig, keys.FEAT_CFG, only=FORM_FIELDS)
    with st.expander("More settings", icon=":material/settings:"):
        config_widgets(FeatureConfig, keys.FEAT_CFG, exclude=FORM_FIELDS)
    st.button("Compute features", key="feat.compute", type="primary", icon=":material/play_arrow:",
              on_click=compute, args=(dataset,))


def compute(dataset: str) -> None:
    """Compute the run in this process (seconds with the default embedder) and select it."""
    auth.require_admin("Computing features")
    from curator.features import run_features

    s = st.session_state
    try:
        cfg = config_from_state(FeatureConfig, keys.FEAT_CFG)
        with st.spinner("Embedding the pairs and training the sparse autoencoder…"):
            outcome = run_features(data.get_store(), dataset, cfg)
    except (CuratorError, ValueError, ImportError) as e:
        s[keys.FEAT_NOTICE] = ("error", f"No features computed: {inline(str(e), max_chars=500)}")
        return
    data.invalidate()
    s[keys.FEAT_RUN] = outcome.run.run_id
    s[keys.FEAT_NOTICE] = ("info" if outcome.cached else "success",
                           f"Run {outcome.run.run_id} " + ("already existed for this dataset version and settings."
                                                           if outcome.cached else "computed."))


def notice() -> None:
    shown = st.session_state.pop(keys.FEAT_NOTICE, None)
    if shown:
        kind, text = shown
        getattr(st, kind)(text)


def latents(run_id: str) -> pd.DataFrame:
    """Every latent of a run (dead and duplicate ones included), ranked as the store ranks them."""
    return _latents(data.db_path(), run_id)


def weights(run_id: str) -> pd.DataFrame:
    return _weights(data.db_path(), run_id)


def ranked_table(lat: pd.DataFrame) -> pd.DataFrame:
    """The shown features as the page's table: what, how strongly and which way annotators lean."""
    f = lat[lat.status == "feature"]
    return pd.DataFrame({
        "feature": f.latent.astype(int), "name": f.name.fillna(""),
        "annotators prefer": f.direction.map({"more": "more of it", "less": "less of it"}).fillna("-"),
        "coef": f.coef, "low": f.coef_low, "high": f.coef_high, "p": f.p_value,
        "significant": f.significant.astype(bool), "selected": f.selected.astype(bool), "prevalence": f.prevalence,
        "length ratio": f.length_ratio}).reset_index(drop=True)


def hidden_summary(lat: pd.DataFrame) -> str:
    dead = lat[lat.status == "dead"].latent.tolist()
    dup = lat[lat.status == "duplicate"]
    parts = []
    if dead:
        parts.append(f"dead (never or almost never fire): {', '.join(map(str, dead))}")
    if len(dup):
        parts.append("duplicates: " + ", ".join(f"{int(r.latent)} of {int(r.duplicate_of)}" for r in dup.itertuples()))
    return "; ".join(parts) or "no dead or duplicate latents"


def effect_chart(lat: pd.DataFrame) -> go.Figure:
    """Coefficient and 95% interval of the strongest features (selected ones in colour)."""
    f = lat[(lat.status == "feature") & lat.coef.notna()].copy()
    f = f.reindex(f.coef.abs().sort_values(ascending=False).index).head(CHART_FEATURES).iloc[::-1]
    labels = [plotly_text(f"{int(r.latent)} · {str(r.name or '')[:50]}") for r in f.itertuples()]
    colors = ["#1f77b4" if s else ("#9ecae1" if g else "#c7c7c7") for s, g in zip(f.selected, f.significant,
                                                                                   strict=True)]
    fig = go.Figure(go.Scatter(
        x=f.coef, y=labels, mode="markers", marker={"color": colors, "size": 10},
        error_x={"type": "data", "symmetric": False, "array": f.coef_high - f.coef, "arrayminus": f.coef - f.coef_low},
        hovertemplate="%{y}<br>coef %{x:+.2f}<extra></extra>"))
    fig.add_vline(x=0, line_color="#888", line_dash="dot")
    fig.update_layout(height=max(260, 28 * len(f) + 80), margin={"l": 10, "r": 10, "t": 30, "b": 10},
                      xaxis_title="← annotators prefer less · coefficient (length-controlled, 95% CI) · more →",
                      title="Effect on the label (dark: selected, light: significant)")
    return fig


def weight_heatmap(w: pd.DataFrame, lat: pd.DataFrame, kind: str) -> go.Figure | None:
    """Group x feature weights of one group kind, or None when there are none."""
    part = w[w.kind == kind]
    if part.empty:
        return None
    grid = part.pivot_table(index="group", columns="latent", values="weight")
    names = lat.set_index("latent").name.to_dict()
    cols = [plotly_text(f"{int(c)} · {str(names.get(c) or '')[:24]}") for c in grid.columns]
    lim = float(np.nanmax(np.abs(grid.to_numpy()))) or 1.0
    fig = go.Figure(go.Heatmap(z=grid.to_numpy(), x=cols, y=[plotly_text(g) for g in grid.index], zmid=0,
                               zmin=-lim, zmax=lim, colorscale="RdBu", colorbar={"title": "weight"},
                               hovertemplate="%{y}<br>%{x}<br>weight %{z:+.2f}<extra></extra>"))
    fig.update_layout(height=max(240, 26 * len(grid) + 120), margin={"l": 10, "r": 10, "t": 30, "b": 10})
    return fig


def top_pairs(run_id: str, latent: int) -> pd.DataFrame:
    return _pairs(data.db_path(), run_id, int(latent), TOP_PAIRS)


def show_top_pair(row: dict[str, Any], *, index: int) -> None:
    """One top-activating pair side by side: the response with more of the feature first. Text only."""
    more_is_a = float(row["activation"]) > 0
    sides = (("A", row["response_a"]), ("B", row["response_b"]))
    more, less = sides if more_is_a else sides[::-1]
    chosen = row.get("label")
    with st.container(border=True):
        st.caption(f"Pair {index + 1} · activation {float(row['activation']):+.2f} · label: "
                   f"{inline(str(chosen or 'none'), max_chars=10)}")
        st.code(str(row["prompt"] or "")[-600:], language=None, wrap_lines=True)
        c1, c2 = st.columns(2)
        for col, (side, text), title in ((c1, more, "more of the feature"), (c2, less, "less of it")):
            with col:
                st.caption(f"{title} · response {side}" + (" · chosen" if chosen == side.lower() else ""))
                st.code(str(text or "")[:3000], language=None, wrap_lines=True)


def terms(lat: pd.DataFrame, latent: int) -> dict[str, list[str]]:
    raw = lat.set_index("latent").terms.get(latent)
    return json.loads(raw) if isinstance(raw, str) else {"more": [], "less": []}


@st.cache_data(ttl=data.TTL, max_entries=64, show_spinner=False)
def _decided(db: str, run_id: str, latent: int) -> list[str]:
    from curator.features import decided_pairs

    return decided_pairs(Store.open(db), run_id, latent)


def decided(run_id: str, latent: int) -> list[str]:
    """Pair ids the feature decides (`curator.features.decided_pairs`)."""
    return _decided(data.db_path(), run_id, int(latent))


def open_decided(run_id: str, latent: int) -> None:
    """Open Browse filtered to the pairs a feature decides: its feature filter, set through session
    state as bound widgets must be (a callback would not switch pages)."""
    keys.clear_selection()
    st.session_state[keys.FEATURE_RUN] = run_id
    st.session_state[keys.FEATURE] = int(latent)
    st.session_state[keys.FEATURE_TEST] = "decides"
    keys.switch_page(keys.BROWSE_PAGE)


def may_review() -> bool:
    return auth.is_admin()


def review_decided(run_id: str, latent: int, name: str) -> None:
    """Callback: a labelling queue of the pairs a feature decides (admins only)."""
    auth.require_admin("Sending pairs to review")
    from curator.annotate.queue import create_queue

    ids = decided(run_id, latent)
    try:
        queue = create_queue(data.get_store(), name=f"feature {latent}: {name[:40]}", pair_ids=ids,
                             source=f"feature:{run_id}:{latent}", created_by=auth.current_user().id)
    except (CuratorError, ValueError) as e:
        st.session_state[keys.FEAT_NOTICE] = ("error", f"No queue created: {inline(str(e), max_chars=300)}")
        return
    data.invalidate()
    st.session_state[keys.FEAT_NOTICE] = ("success", f"Queue {inline(queue.queue_id, max_chars=80)} holds "
                                                     f"{len(ids):,} pairs for human review (Label page).")


# -- what a language model makes of the features (descriptions, ICAI principles) ------------------


@st.cache_data(ttl=data.TTL, max_entries=16, show_spinner=False)
def _texts(db: str, run_id: str) -> dict[str, dict[str, Any]]:
    return Store.open(db).feature_texts(run_id)


def texts(run_id: str) -> dict[str, dict[str, Any]]:
    """The newest descriptions / principles stored for a run (`Store.feature_texts`)."""
    return _texts(data.db_path(), run_id)


def _ask(judge: auth.JudgeSettings, *, max_tokens: int) -> Any:
    from curator.annotate.judges.openai_compat import OpenAIJudge

    client = OpenAIJudge(judge.url, judge.model, api_key=judge.api_key, max_tokens=max_tokens)
    return lambda prompt: client.ask(prompt)["content"]


def judge() -> auth.JudgeSettings | None:
    """The configured language model, if any (`curator.ui.auth.judge_settings`)."""
    return auth.judge_settings()


def write_texts(run_id: str, kind: str) -> None:
    """Callback: ask the configured judge for descriptions or principles now and store them (admins only)."""
    auth.require_admin("Asking the judge")
    from curator.features import describe_run, principles_run

    settings = judge()
    if settings is None:
        return
    s = st.session_state
    try:
        with st.spinner(f"Asking {settings.model}…"):
            if kind == "descriptions":
                describe_run(data.get_store(), run_id, _ask(settings, max_tokens=60), model=settings.model)
            else:
                principles_run(data.get_store(), run_id, _ask(settings, max_tokens=80), model=settings.model)
    except (CuratorError, ValueError, OSError, RuntimeError) as e:
        s[keys.FEAT_NOTICE] = ("error", f"The judge gave no {kind}: {inline(str(e), max_chars=400)}")
        return
    data.invalidate()
    s[keys.FEAT_NOTICE] = ("success", f"{kind.capitalize()} written by {inline(settings.model, max_chars=80)}.")


def descriptions_table(found: dict[str, Any], lat: pd.DataFrame) -> pd.DataFrame:
    """One row per described feature: its term name, the model's line and that line's held-out score."""
    names = lat.set_index("latent").name.to_dict()
    rows = found["result"].get("features", [])
    return pd.DataFrame({"feature": [int(r["latent"]) for r in rows],
                         "name": [str(names.get(r["latent"]) or "") for r in rows],
                         "description": [str(r.get("description") or "") for r in rows],
                         "score": [r.get("score") for r in rows], "scored pairs": [r.get("n_scored") for r in rows]})


def principles_table(found: dict[str, Any]) -> pd.DataFrame:
    rows = found["result"].get("principles", [])
    return pd.DataFrame({"principle": [str(r["principle"]) for r in rows], "for": [r["for"] for r in rows],
                         "against": [r["against"] for r in rows], "abstain": [r["abstain"] for r in rows]})
