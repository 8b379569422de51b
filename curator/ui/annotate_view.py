"""The Label, Agreement and Routing pages' parts: who the user is, queues, the labelling form,
cached agreement reports and routing plans.

Identity and roles come from `curator.ui.auth` (OIDC `st.user` or one local user; ``[curator]
admins`` / ``annotators`` in secrets). Labels carry that identity, never a typed-in name.
Annotators see their own labels only; admins create queues, see everyone's agreement and route.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from curator.annotate import queue as Q
from curator.annotate.agreement import AgreementReport, agreement_report
from curator.annotate.routing import EstimateCheck, RoutingPlan
from curator.annotate.routing_service import ai_judges, plan_from_store
from curator.schema import PairFilter
from curator.store.annotate import QueueInfo
from curator.ui import auth, data, keys
from curator.ui.text import inline, show_text

# Shown choice -> button label, keyboard shortcut (C and R are Streamlit's own).
CHOICE_BUTTONS = (("A", "A is better", "A"), ("B", "B is better", "B"), ("tie", "Tie", "T"),
                  ("both-bad", "Both bad", "X"))
ASPECT_OPTIONS = ("A", "B", "tie", "both-bad")


# -- identity (curator.ui.auth; kept here under the names the pages use) -----------------------

User = auth.User
current_user = auth.current_user
oidc_configured = auth.oidc_configured


# -- queues -----------------------------------------------------------------------------------


def queues() -> list[QueueInfo]:
    return data.get_store().queues()


def create_queue_form(dataset: str, user: User) -> None:
    """Admins: a new queue over the pairs another page sent (a Browse filter, a flag, a lasso), the
    Browse selection, or the whole dataset."""
    selection = keys.get_selection()
    sent = keys.queue_pairs()
    scopes = {"dataset": f"All pairs of {inline(dataset)}"}  # radio options render as Markdown
    if selection:
        scopes = {"selection": f"The {len(selection.pair_ids):,} selected pairs ({inline(selection.source)})", **scopes}
    if sent:
        scopes = {"pairs": f"The {len(sent.pair_ids):,} pairs of {inline(sent.source)}", **scopes}
    if st.session_state.get(keys.LBL_NEW_SCOPE) not in scopes:
        st.session_state.pop(keys.LBL_NEW_SCOPE, None)
    with st.form("lbl.new", border=True):
        st.markdown("**New queue**")
        scope = st.radio("Pairs", list(scopes), format_func=scopes.get, key=keys.LBL_NEW_SCOPE, horizontal=True)
        c1, c2 = st.columns([3, 1])
        name = c1.text_input("Name", key=keys.LBL_NEW_NAME, placeholder=f"{dataset} labelling")
        n = c2.number_input("Annotators per pair", 1, 20, 1, key=keys.LBL_NEW_N)
        if st.form_submit_button("Create queue", icon=":material/add:"):
            auth.require_admin("Creating a queue")
            picked = {"selection": selection, "pairs": sent}.get(scope)
            ids = list(picked.pair_ids) if picked else None
            try:
                info = Q.create_queue(data.get_store(), name=name.strip() or f"{dataset} labelling", pair_ids=ids,
                                      where=None if ids else PairFilter(datasets=(dataset,)),
                                      annotators_per_pair=int(n), created_by=user.id,
                                      source=picked.source if picked else "dataset")
            except ValueError as e:
                st.error(inline(str(e), max_chars=300), icon=":material/error:")
                return
            if scope == "pairs":
                st.session_state.pop(keys.QUEUE_PAIRS, None)  # sent once, queued once
            st.session_state[keys.QUEUE] = info.queue_id
            st.session_state[keys.LBL_NOTICE] = f"Created queue {info.name} with {info.n_items:,} pairs."
            st.rerun()


# -- the labelling form -----------------------------------------------------------------------


def _reset_form() -> None:
    """Forget every pair's form fields (the next pair's widgets have keys of their own)."""
    for key in [k for k in st.session_state if str(k).startswith(keys.LBL_FORM)]:
        del st.session_state[key]


def _submit(queue_id: str, pair_id: str, user_id: str, choice: str) -> None:
    def field(name: str) -> object:
        return st.session_state.get(keys.label_field(pair_id, name))

    aspects = {a: field(f"aspect.{a}") for a in Q.ASPECTS}
    label = Q.Label(choice, strength=field("strength") or "clearly", aspects={k: v for k, v in aspects.items() if v},
                    rationale=field("rationale"), flags=tuple(field("flags") or ()))
    Q.submit_label(data.get_store(), queue_id, pair_id, user_id, label)
    shown = dict((c, text) for c, text, _ in CHOICE_BUTTONS)[choice]
    st.session_state[keys.LBL_NOTICE] = f"Saved: {shown}."
    _reset_form()
    data.invalidate()


def _skip(queue_id: str, pair_id: str, user_id: str) -> None:
    Q.skip_item(data.get_store(), queue_id, pair_id, user_id)
    st.session_state[keys.LBL_NOTICE] = "Skipped; it goes to someone else."
    _reset_form()


def _undo(queue_id: str, user_id: str) -> None:
    result = Q.undo_last(data.get_store(), queue_id, user_id)
    st.session_state[keys.LBL_NOTICE] = ("Nothing to undo." if result is None else
                                         f"Undone: your last {'label' if result.action == 'submit' else 'skip'}.")
    _reset_form()
    data.invalidate()


def label_form(queue: QueueInfo, user: User) -> None:
    """The current item, blind (no model names), responses in the order drawn for this user."""
    store = data.get_store()
    item = Q.next_item(store, queue.queue_id, user.id)
    notice = st.session_state.pop(keys.LBL_NOTICE, None)
    if notice:
        st.toast(inline(notice, max_chars=200), icon=":material/check:")
    if item is None:
        st.success("Nothing left for you in this queue. Thank you!", icon=":material/celebration:")
        st.button("Undo last", key="lbl.undo_done", icon=":material/undo:", shortcut="U",
                  on_click=_undo, args=(queue.queue_id, user.id))
        return
    st.markdown("##### Prompt")
    with st.container(border=True):
        for i, m in enumerate(item.prompt_messages or [{"role": "user", "content": item.prompt}]):
            st.caption(inline(str(m.get("role", "user")), max_chars=30))
            show_text(str(m.get("content", "")), key=keys.label_field(item.pair_id, f"full.prompt.{i}"))
    left, right = st.columns(2)
    for col, title, text in ((left, "Response A", item.left), (right, "Response B", item.right)):
        with col, st.container(border=True):
            st.markdown(f"**{title}**")
            show_text(text, key=keys.label_field(item.pair_id, f"full.{title[-1]}"))
    args = (queue.queue_id, item.pair_id, user.id)
    with st.container(horizontal=True):
        for choice, text, key in CHOICE_BUTTONS:
            st.button(text, key=f"lbl.choice.{choice}", shortcut=key, on_click=_submit,
                      args=(*args, choice), type="primary" if choice in ("A", "B") else "secondary")
        st.button("Skip", key="lbl.skip", shortcut="S", icon=":material/skip_next:", on_click=_skip, args=args)
        st.button("Undo last", key="lbl.undo", shortcut="U", icon=":material/undo:", on_click=_undo,
                  args=(queue.queue_id, user.id))
    st.segmented_control("Strength", list(Q.STRENGTHS), key=keys.label_field(item.pair_id, "strength"),
                         default="clearly", help="How much better the chosen response is.")
    with st.expander("Aspects, rationale and flags (optional)", key=keys.LBL_DETAILS):  # stays open across pairs
        cols = st.columns(len(Q.ASPECTS))
        for col, aspect in zip(cols, Q.ASPECTS, strict=True):
            col.segmented_control(aspect.capitalize(), ASPECT_OPTIONS, key=keys.label_field(item.pair_id, f"aspect.{aspect}"))
        st.text_area("Rationale", key=keys.label_field(item.pair_id, "rationale"), placeholder="Why? (optional)", height=80)
        st.pills("Flags", list(Q.FLAGS), selection_mode="multi", key=keys.label_field(item.pair_id, "flags"),
                 format_func=lambda f: f.replace("-", " "))
    st.caption(f"Item {item.position + 1:,} of {queue.n_items:,} · the order of A and B is drawn for you "
               "and recorded · model names are hidden")


def progress(queue: QueueInfo, user: User) -> None:
    p = Q.queue_progress(data.get_store(), queue.queue_id)
    st.progress(p["labels"] / max(p["slots"], 1),
                text=f"{p['labels']:,} of {p['slots']:,} labels · {p['complete_items']:,} of {p['items']:,} pairs done")
    rows = p["annotators"] if user.is_admin else [a for a in p["annotators"] if a["annotator"] == user.id]
    if rows:
        st.dataframe(pd.DataFrame(rows)[["annotator", "labels", "skips"]], hide_index=True, key="lbl.progress")


def my_labels(user: User, queue: QueueInfo) -> None:
    table = Q.my_labels(data.get_store(), user.id, queue_id=queue.queue_id).to_pandas()
    if table.empty:
        st.caption("You have no labels in this queue yet.")
        return
    st.dataframe(table[["prompt", "choice", "strength", "rationale", "created_at"]], hide_index=True,
                 key="lbl.mine", width="stretch")


# -- agreement --------------------------------------------------------------------------------


@st.cache_data(ttl=data.TTL, max_entries=16, show_spinner="Computing agreement…")
def _agreement(db: str, dataset: str | None, queue_id: str | None, run: str | None) -> AgreementReport:
    return agreement_report(data.get_store(), dataset=dataset, queue_id=queue_id, signal_run=run)


def agreement(dataset: str | None, queue_id: str | None, run: str | None) -> AgreementReport:
    return _agreement(data.db_path(), dataset, queue_id, run)


# -- routing ----------------------------------------------------------------------------------


@st.cache_data(ttl=data.TTL, max_entries=32, show_spinner=False)
def _judges(db: str, dataset: str) -> list[str]:
    return ai_judges(data.get_store(), dataset=dataset)


def judges(dataset: str) -> list[str]:
    return _judges(data.db_path(), dataset)


@st.cache_data(ttl=data.TTL, max_entries=16, show_spinner="Scoring every pair for routing…")
def _plan(db: str, dataset: str, judge: str, run: str | None) -> RoutingPlan:
    return plan_from_store(data.get_store(), budget=0, judge=judge, dataset=dataset, signal_run=run)


def reward_judge(dataset: str, run_id: str) -> int:
    """Write the reward ensemble's vote on every pair of `dataset` as AI verdicts; returns rows written."""
    from curator.annotate.judges import RewardEnsembleJudge, run_judge

    auth.require_admin("Writing AI verdicts")
    store = data.get_store()
    done = run_judge(store, RewardEnsembleJudge(store, run_id), store.select_pair_ids(PairFilter(datasets=(dataset,))),
                     batch_size=5000)
    data.invalidate()
    return done.written


def estimate_check(check: EstimateCheck | None) -> None:
    """The expected accuracy checked against labels the router did not learn from, when there are enough."""
    if check is None:
        st.caption("No check of the estimate: fewer than 30 pairs have both an AI verdict and a known label.")
        return
    text = (f"Checked against {check.against} on {check.n:,} pairs: the AI judge agrees with them on "
            f"{check.observed:.1%}; the estimate for those pairs said {check.expected:.1%}.")
    if check.overclaims or check.underclaims:
        st.warning(text + f" The expected accuracy here is too {'high' if check.overclaims else 'low'}: trust the "
                   "check, or label a few hundred pairs so the router learns the judge's real errors.",
                   icon=":material/warning:")
    else:
        st.caption(text)


def plan(dataset: str, judge: str, run: str | None, budget: float) -> RoutingPlan:
    """The routing plan at `budget` (a share); the scoring is cached, the split is not."""
    return _plan(data.db_path(), dataset, judge, run).with_budget(float(budget))
