"""One pair in full: the prompt as a conversation, both responses with a word diff, judgements,
signals and metadata. Shared by the Browse page and, later, the Label page.

All dataset text goes through `curator.ui.text` (inert Markdown) or `st.code`/`st.dataframe`/
`st.json`; nothing is rendered as HTML.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from curator.textdiff import WordDiff, compute_word_diff
from curator.ui import data, keys
from curator.ui.browse import FLAGS
from curator.ui.text import inline, preview, show_raw, show_segments, show_text, size_caption

VIEWS = {"side": "Side by side", "inline": "Inline diff", "raw": "Raw text"}
MIN_SIMILARITY_TO_HIGHLIGHT = 0.3
_ROLES = {"user": "user", "human": "user", "assistant": "assistant", "ai": "assistant", "gpt": "assistant",
          "bot": "assistant", "model": "assistant"}
_CHOICE = {"a": "A", "b": "B", "tie": "tie", "both-bad": "both bad"}


@st.cache_data(max_entries=64, show_spinner=False)
def _diff(a: str, b: str) -> WordDiff:
    return compute_word_diff(a, b)


def _sides(pair: dict[str, Any]) -> tuple[tuple[str, str], tuple[str, str]]:
    """((title, text), (title, text)): chosen first when labelled, else A then B."""
    a, b = pair["response_a"], pair["response_b"]
    if pair.get("label") == "a":
        return ("Chosen · response A", a), ("Rejected · response B", b)
    if pair.get("label") == "b":
        return ("Chosen · response B", b), ("Rejected · response A", a)
    return ("Response A", a), ("Response B", b)


def render_pair(pair_id: str, *, signal_run: str | None = None) -> None:
    """Draw the pair, or a warning when the id is unknown."""
    pair = data.pair(pair_id)
    if pair is None:
        st.warning(f"No pair with id “{inline(pair_id, max_chars=60)}” in this database.", icon=":material/search_off:")
        return
    label = {"a": "A is chosen", "b": "B is chosen"}.get(pair.get("label") or "", "unlabelled")
    st.caption(f"{inline(pair['dataset'], max_chars=60)} · split {inline(pair['split'], max_chars=30)} · "
               f"row {pair['row_index']:,} · {label} · pair id `{pair_id}`")
    _prompt(pair)
    _responses(pair)
    _judgements(pair)
    if signal_run:
        _signals(pair_id, signal_run)
    with st.expander("Metadata", icon=":material/data_object:"):
        st.json(pair.get("metadata") or {}, expanded=2)


def _prompt(pair: dict[str, Any]) -> None:
    st.markdown("##### Prompt")
    messages = pair.get("prompt_messages") or [{"role": "user", "content": pair["prompt"]}]
    with st.container(border=True):
        for i, m in enumerate(messages):
            role = str(m.get("role", "user"))
            if role.lower() in _ROLES:
                name, avatar, named = _ROLES[role.lower()], None, False
            else:
                name, avatar, named = "system", ":material/settings:" if role.lower() == "system" else None, True
            with st.chat_message(name, avatar=avatar or (":material/person:" if named else None)):
                if named:
                    st.caption(inline(role, max_chars=40))
                show_text(str(m.get("content", "")), key=f"pair.full.{pair['pair_id']}.prompt.{i}")


def _responses(pair: dict[str, Any]) -> None:
    (title_l, left), (title_r, right) = _sides(pair)
    head, pick = st.columns([3, 2], vertical_alignment="bottom")
    head.markdown("##### Responses")
    with pick:
        view = st.segmented_control("View", list(VIEWS), format_func=VIEWS.get, key=keys.PAIR_VIEW,
                                    default="side", label_visibility="collapsed", width="content",
                                    persist_state="session")
    # Long texts are compared by their start: diffing and drawing a megabyte would freeze the tab.
    heads = (preview(left), preview(right))
    diff = _diff(heads[0] or left, heads[1] or right)
    cut_note = "" if heads == (None, None) else " (the first part of each long text; Raw text shows all)"
    if view == "inline":
        st.caption(f"{title_l} → {title_r}: :red-background[~~only in the first~~] "
                   f":green-background[only in the second]{cut_note}")
        with st.container(border=True):
            show_segments(diff.unified)
        return
    # Two unrelated answers would be highlighted end to end: below this overlap, plain text reads better.
    highlight = not diff.too_long and diff.similarity >= MIN_SIMILARITY_TO_HIGHLIGHT and not cut_note
    cols = st.columns(2)
    sides = ((cols[0], title_l, left, diff.a, "first"), (cols[1], title_r, right, diff.b, "second"))
    for col, title, text, segments, side in sides:
        with col, st.container(border=True):
            st.markdown(f"**{title}**")
            st.caption(size_caption(text))
            key = f"pair.full.{pair['pair_id']}.{side}.{view}"
            if view == "raw":
                show_raw(text, key=key)
            elif highlight:
                show_segments(segments)
            else:
                show_text(text, key=key)
    if view != "raw":
        if cut_note:
            st.caption("Long responses are shown in part; the inline diff compares their first parts.")
        elif diff.too_long:
            st.caption("Too long to compare word by word.")
        elif highlight:
            st.caption(f"{diff.similarity:.0%} of words shared; highlighted words appear only on that side.")
        else:
            st.caption(f"Only {diff.similarity:.0%} of words shared, so nothing is highlighted; "
                       "the inline diff shows every change.")


def judgement_table(log: pd.DataFrame, label: str | None) -> pd.DataFrame:
    """The judgement log as shown: readable choices and whether each agrees with the dataset label."""
    out = log[["kind", "annotator", "choice", "strength", "confidence", "rationale", "source", "created_at"]].copy()
    out["kind"] = out["kind"].map({"human": "human", "ai": "AI"}).fillna(out["kind"])
    if label:
        out.insert(3, "agrees", log["choice"].map(lambda c: None if c not in ("a", "b") else c == label))
    out["choice"] = log["choice"].map(_CHOICE).fillna("—")
    return out


def _judgements(pair: dict[str, Any]) -> None:
    log = data.judgements(pair["pair_id"])
    st.markdown("##### Judgements")
    if log.empty:
        st.caption("No judgements recorded for this pair" +
                   (" (only the dataset's label)." if pair.get("label") else "."))
        return
    latest = log.sort_values("judgement_id").groupby(["kind", "annotator"]).tail(1)
    votes = latest["choice"].map(_CHOICE).fillna("no verdict").value_counts()
    choices = set(latest["choice"].dropna()) | ({pair["label"]} if pair.get("label") else set())
    summary = " · ".join(f"{k} {v}" for k, v in votes.items())
    badge = " :orange-badge[disagreement]" if len(choices) > 1 else " :green-badge[agreement]"
    st.caption(f"{len(log):,} judgement(s) from {latest['annotator'].nunique():,} annotator(s), latest votes: "
               f"{summary}.{badge}")
    cc = st.column_config
    st.dataframe(judgement_table(log, pair.get("label")), hide_index=True, width="stretch", column_config={
        "kind": cc.TextColumn(width=60), "annotator": cc.TextColumn(width=130), "choice": cc.TextColumn(width=70),
        "agrees": cc.CheckboxColumn("agrees", width=65, help="The verdict matches the dataset's label"),
        "strength": cc.NumberColumn(format="%.2f", width=75), "confidence": cc.NumberColumn(format="%.2f", width=90),
        "rationale": cc.TextColumn(width=320), "source": cc.TextColumn(width=110),
        "created_at": cc.DatetimeColumn("time", format="YYYY-MM-DD HH:mm", width=140),
    })


def _signals(pair_id: str, run_id: str) -> None:
    sig = data.pair_signals(pair_id, run_id)
    st.markdown("##### Signals")
    if not sig:
        st.caption("This pair has no signals in the selected run.")
        return
    shown = [(title, fmt.format(sig[name])) for name, title, fmt in (
        ("margin", "Reward margin", "{:+.2f}"), ("p_correct", "P(label is right)", "{:.0%}"),
        ("margin_std", "Margin spread", "{:.2f}"), ("issue_score", "Issue score", "{:.2f}"),
        ("entropy", "Entropy", "{:.2f}"), ("cluster", "Cluster", "{}")) if sig.get(name) is not None]
    for col, (title, value) in zip(st.columns(max(len(shown), 4))[:len(shown)], shown, strict=True):
        col.metric(title, value)
    flags = [label for name, label in FLAGS.items() if sig.get(name)]
    if flags:
        st.markdown(" ".join(f":orange-badge[{f}]" for f in flags))
