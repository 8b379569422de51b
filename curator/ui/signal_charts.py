"""Plotly figures for the Signals and Map pages, built from a signals DataFrame. No streamlit calls.

Input frames come from `Store.signals(run_id, columns, sample=...)`: ``pair_id``, ``split``,
``label`` and signal columns. Every point-bearing trace is ``Scattergl`` (WebGL: 200k points stay
responsive) with the pair id in ``customdata``, which `curator.ui.selection.selected_pair_ids`
reads back from a box or lasso selection.
"""

from __future__ import annotations

import html
from typing import Any

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

FLAG_LABELS = {"flag_flipped": "likely flipped", "flag_ambiguous": "ambiguous", "flag_identical": "identical",
               "flag_near_duplicate": "near duplicate"}
UNCERTAINTY = {"margin_std": "margin spread (ensemble std)", "bald": "BALD (model disagreement)",
               "entropy": "predictive entropy", "var_margin": "margin variance", "p_correct": "P(label is right)",
               "issue_score": "issue score"}
GROUPS = {"none": "all pairs", "split": "split", "cluster": "cluster", "flag": "flag"}
COLORS = {"cluster": "cluster", "margin": "reward margin", "flag": "flag"}
_LAYOUT: dict[str, Any] = {"margin": {"l": 10, "r": 10, "t": 40, "b": 10},
                           "legend": {"orientation": "h", "y": 1.02, "x": 1, "xanchor": "right", "yanchor": "bottom"}}
_PALETTE = px.colors.qualitative.Dark24
NO_FLAG = "no flag"


def available(df: pd.DataFrame, columns: dict[str, str] | tuple[str, ...]) -> list[str]:
    """The columns of `columns` that `df` has with at least one value."""
    return [c for c in columns if c in df and df[c].notna().any()]


def flag_category(df: pd.DataFrame) -> pd.Series:
    """Per pair, the first flag raised (in FLAG_LABELS order) or ``no flag``."""
    out = pd.Series(NO_FLAG, index=df.index, dtype=object)
    for col, label in reversed(FLAG_LABELS.items()):
        if col in df:
            out = out.mask(df[col].fillna(False).astype(bool), label)
    return out


def plotly_text(text: str) -> str:
    """Text from the data as plotly shows it literally: plotly reads ``<a>``, ``<b>``, ``<br>``... in
    legends and labels as markup (a ``<a href=...>`` name showed only its link text), but decodes entities.

    >>> plotly_text("<a href='x'>c</a> & co")
    "&lt;a href='x'&gt;c&lt;/a&gt; &amp; co"
    """
    return html.escape(str(text), quote=False)


def _groups(df: pd.DataFrame, by: str, cluster_names: dict[int, str] | None) -> pd.Series:
    if by == "split":
        return df["split"].astype(str).map(plotly_text)
    if by == "cluster":
        names = cluster_names or {}
        return df["cluster"].map(lambda c: "none" if pd.isna(c) else
                                 plotly_text(f"{int(c)} · {names.get(int(c), '')}".rstrip(" ·")))
    if by == "flag":
        return flag_category(df)
    return pd.Series("all pairs", index=df.index)


def margin_histogram(df: pd.DataFrame, *, by: str = "none", cluster_names: dict[int, str] | None = None,
                     max_groups: int = 12) -> go.Figure:
    """Overlaid histograms of the reward margin, one per group (split, cluster or flag).

    Higher margin means the labelled chosen response is more clearly better; below 0 the model
    prefers the rejected one.
    """
    if by not in GROUPS:
        raise ValueError(f"`by` must be one of {list(GROUPS)}, got {by!r}.")
    frame = pd.DataFrame({"margin": df["margin"], "group": _groups(df, by, cluster_names)}).dropna(subset=["margin"])
    top = frame["group"].value_counts().index[:max_groups]
    frame["group"] = frame["group"].where(frame["group"].isin(top), "other")
    fig = px.histogram(frame, x="margin", color="group" if by != "none" else None, nbins=60, barmode="overlay",
                       opacity=0.65 if by != "none" else 0.9, color_discrete_sequence=_PALETTE)
    fig.add_vline(x=0, line_dash="dot", line_color="#64748b")
    fig.update_layout(**_LAYOUT, height=330, bargap=0.02, legend_title_text=GROUPS[by] if by != "none" else None,
                      title=f"Reward margin by {GROUPS[by]}" if by != "none" else "Reward margin")
    fig.update_xaxes(title="margin (chosen − rejected)")
    fig.update_yaxes(title="pairs")
    return fig


def uncertainty_scatter(df: pd.DataFrame, *, y: str) -> go.Figure:
    """Margin (x) against an uncertainty signal (y), one WebGL trace per flag category."""
    if y not in UNCERTAINTY:
        raise ValueError(f"`y` must be one of {list(UNCERTAINTY)}, got {y!r}.")
    frame = df.assign(category=flag_category(df)).dropna(subset=["margin", y])
    fig = go.Figure()
    for i, (category, part) in enumerate(sorted(frame.groupby("category"), key=lambda kv: kv[0] != NO_FLAG)):
        fig.add_trace(go.Scattergl(
            x=part["margin"], y=part[y], mode="markers", name=category, customdata=part["pair_id"].to_numpy(),
            marker={"size": 5, "opacity": 0.55 if category == NO_FLAG else 0.85,
                    "color": "#94a3b8" if category == NO_FLAG else _PALETTE[i % len(_PALETTE)]},
            hovertemplate="margin %{x:.2f}<br>" + UNCERTAINTY[y] + " %{y:.3f}<br>%{customdata}<extra>%{fullData.name}"
                          "</extra>"))
    fig.update_layout(**_LAYOUT, height=430, dragmode="lasso", title="Margin vs uncertainty",
                      xaxis_title="margin (chosen − rejected)", yaxis_title=UNCERTAINTY[y])
    return fig


def map_scatter(df: pd.DataFrame, *, color: str = "cluster", cluster_names: dict[int, str] | None = None,
                max_legend: int = 30) -> go.Figure:
    """The 2-D map (``map_x``, ``map_y``) coloured by cluster, margin or flag, pair ids in customdata."""
    if color not in COLORS:
        raise ValueError(f"`color` must be one of {list(COLORS)}, got {color!r}.")
    frame = df.dropna(subset=["map_x", "map_y"])
    fig = go.Figure()
    if color == "margin":
        values = frame["margin"].astype(float)
        lim = float(np.nanpercentile(np.abs(values), 98)) if values.notna().any() else 1.0
        fig.add_trace(go.Scattergl(
            x=frame["map_x"], y=frame["map_y"], mode="markers", customdata=frame["pair_id"].to_numpy(),
            marker={"size": 4, "color": values, "colorscale": "RdBu", "cmin": -lim, "cmax": lim, "opacity": 0.75,
                    "colorbar": {"title": "margin"}},
            hovertemplate="margin %{marker.color:.2f}<br>%{customdata}<extra></extra>", name="pairs"))
    else:
        groups = _groups(frame, "cluster" if color == "cluster" else "flag", cluster_names)
        order = groups.value_counts().index
        for i, name in enumerate(order):
            part = frame[groups == name]
            fig.add_trace(go.Scattergl(
                x=part["map_x"], y=part["map_y"], mode="markers", name=str(name),
                customdata=part["pair_id"].to_numpy(), showlegend=i < max_legend,
                marker={"size": 4, "opacity": 0.7,
                        "color": "#94a3b8" if name in (NO_FLAG, "none") else _PALETTE[i % len(_PALETTE)]},
                hovertemplate="%{fullData.name}<br>%{customdata}<extra></extra>"))
    fig.update_layout(**_LAYOUT, height=560, dragmode="lasso", title=f"Map coloured by {COLORS[color]}")
    fig.update_xaxes(showticklabels=False, title=None)
    fig.update_yaxes(showticklabels=False, title=None, scaleanchor="x")
    return fig
