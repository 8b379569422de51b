"""Plotly figures and small tables for the Overview page, built from cached store results.

Inputs are the DataFrames `curator.ui.data` returns (`lengths`, `overview`); outputs are figures
or DataFrames. No store access here, so each function is easy to test on a toy frame.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

CHOSEN, REJECTED = "#16a34a", "#dc2626"
A_COLOR, B_COLOR, PROMPT_COLOR = "#4f46e5", "#f59e0b", "#64748b"
# Legends sit under the plot: above it they collide with the title in a narrow column.
_LAYOUT: dict[str, Any] = {"margin": {"l": 10, "r": 10, "t": 40, "b": 10}, "height": 340, "bargap": 0.05,
                           "legend": {"orientation": "h", "y": -0.16, "x": 0, "xanchor": "left", "yanchor": "top"}}


def response_lengths(lengths: pd.DataFrame) -> pd.DataFrame:
    """Long frame (side, length): chosen/rejected for labelled pairs, response A/B for unlabelled ones."""
    is_b = lengths["label"].eq("b").fillna(False).astype(bool)
    labelled = lengths["label"].notna()
    parts = [
        pd.DataFrame({"side": "chosen", "length": lengths["len_b"].where(is_b, lengths["len_a"])[labelled]}),
        pd.DataFrame({"side": "rejected", "length": lengths["len_a"].where(is_b, lengths["len_b"])[labelled]}),
        pd.DataFrame({"side": "response A", "length": lengths["len_a"][~labelled]}),
        pd.DataFrame({"side": "response B", "length": lengths["len_b"][~labelled]}),
    ]
    return pd.concat([p for p in parts if len(p)], ignore_index=True)


def length_bias(lengths: pd.DataFrame) -> dict[str, float | int]:
    """Among labelled pairs: how often the chosen response is the longer one, and the median gap."""
    lab = lengths[lengths["label"].notna()]
    if lab.empty:
        return {"labelled": 0, "chosen_longer": float("nan"), "median_gap": float("nan")}
    is_b = lab["label"].eq("b")
    gap = lab["len_b"].where(is_b, lab["len_a"]) - lab["len_a"].where(is_b, lab["len_b"])
    return {"labelled": int(len(lab)), "chosen_longer": float((gap > 0).mean()), "median_gap": float(gap.median())}


def _clip(values: pd.Series, q: float = 0.99) -> float:
    return float(values.quantile(q)) if len(values) else 0.0


def prompt_histogram(lengths: pd.DataFrame) -> go.Figure:
    hi = _clip(lengths["len_prompt"])
    fig = px.histogram(lengths[lengths["len_prompt"] <= hi], x="len_prompt", nbins=60,
                       color_discrete_sequence=[PROMPT_COLOR], title="Prompt length (characters)")
    fig.update_layout(**_LAYOUT, xaxis_title=None, yaxis_title="pairs")
    return fig


def response_histogram(lengths: pd.DataFrame) -> go.Figure:
    long = response_lengths(lengths)
    hi = _clip(long["length"])
    colors = {"chosen": CHOSEN, "rejected": REJECTED, "response A": A_COLOR, "response B": B_COLOR}
    fig = px.histogram(long[long["length"] <= hi], x="length", color="side", nbins=60, barmode="overlay",
                       opacity=0.6, color_discrete_map=colors, title="Response length (characters)")
    fig.update_layout(**_LAYOUT, xaxis_title=None, yaxis_title="responses", legend_title_text="")
    return fig


def gap_histogram(lengths: pd.DataFrame) -> go.Figure:
    lab = lengths[lengths["label"].notna()]
    is_b = lab["label"].eq("b")
    gap = (lab["len_b"].where(is_b, lab["len_a"]) - lab["len_a"].where(is_b, lab["len_b"])).rename("gap")
    lo, hi = _clip(gap, 0.01), _clip(gap, 0.99)
    fig = px.histogram(gap[(gap >= lo) & (gap <= hi)].to_frame(), x="gap", nbins=60,
                       color_discrete_sequence=[A_COLOR], title="Chosen minus rejected length (characters)")
    fig.add_vline(x=0, line_dash="dot", line_color="#334155")
    fig.update_layout(**_LAYOUT, xaxis_title=None, yaxis_title="pairs")
    return fig


def choices_chart(choices: list[dict[str, Any]], label_counts: dict[str, int]) -> go.Figure:
    """Stacked bars of verdicts per source (dataset label, human, AI)."""
    rows = [{"source": "dataset label", "choice": k.upper(), "count": v} for k, v in label_counts.items() if v]
    names = {"a": "A", "b": "B", "tie": "tie", "both-bad": "both bad", "none": "no verdict"}
    rows += [{"source": {"human": "human", "ai": "AI"}.get(c["kind"], c["kind"]), "choice": names.get(c["choice"],
              c["choice"]), "count": c["count"]} for c in choices]
    frame = pd.DataFrame(rows, columns=["source", "choice", "count"])
    fig = px.bar(frame, y="source", x="count", color="choice", orientation="h", title="Verdicts by source",
                 color_discrete_map={"A": A_COLOR, "B": B_COLOR, "tie": "#94a3b8", "both bad": "#475569",
                                     "no verdict": "#e2e8f0"}, category_orders={"choice": list(names.values())})
    fig.update_layout(**{**_LAYOUT, "height": 80 + 50 * max(1, frame["source"].nunique())},
                      xaxis_title=None, yaxis_title=None, legend_title_text="")
    return fig
