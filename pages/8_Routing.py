"""Routing: which pairs a human label helps most; send them to a queue, keep the AI verdict for the rest."""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from curator import ui
from curator.annotate.routing import random_accuracy_curve
from curator.annotate.routing_service import send_human_share
from curator.ui import annotate_view as av
from curator.ui import keys

ui.page_setup("Routing")

with ui.errors_shown():
    dataset = ui.dataset_picker()
    if dataset is None:
        ui.no_data()
    user = av.current_user()
    st.title("Routing")
    st.caption("Each pair gets the probability that its AI verdict is wrong: label-free at first (agreement "
               "between AI judges, the reward ensemble and length), learnt from pairs that already have human "
               "labels once there are enough. The riskiest pairs go to humans.")
    judges = av.judges(dataset.name)
    runs = {"": "none", **{r.run_id: r.run_id for r in ui.signal_runs(dataset.name)}}
    if not judges:
        st.info("No AI verdicts in this dataset yet. Write the reward ensemble's votes as verdicts (needs a signal "
                "run), or run an LLM judge with `curator judge`.", icon=":material/smart_toy:")
        if len(runs) > 1 and user.is_admin:
            run_id = st.selectbox("Signal run", list(runs)[1:], key=keys.RT_RUN)
            if st.button("Judge every pair with the reward ensemble", key="rt.reward", icon=":material/smart_toy:"):
                n = av.reward_judge(dataset.name, run_id)
                st.session_state[keys.RT_NOTICE] = f"{n:,} reward-ensemble verdicts written."
                st.rerun()
        st.stop()
    c1, c2 = st.columns(2)
    judge = c1.selectbox("AI judge (its verdicts label the AI share)", judges, key=keys.RT_JUDGE)
    run = c2.selectbox("Signal run (reward margins and clusters as features)", list(runs), format_func=runs.get,
                       key=keys.RT_RUN)
    percent = st.slider("Human budget (% of pairs)", 0, 100, 25, 1, key=keys.RT_BUDGET, format="%d%%")
    plan = av.plan(dataset.name, judge, run or None, percent / 100)
    m = st.columns(4)
    m[0].metric("To humans", f"{plan.budget:,}", help="Includes pairs that already have human labels.")
    m[1].metric("To the AI judge", f"{len(plan.pair_ids) - plan.budget:,}")
    m[2].metric("Expected label accuracy", f"{plan.expected_accuracy:.1%}")
    m[3].metric("Predictor", plan.predictor.method,
                help=f"Fitted on {plan.predictor.n_labelled:,} pairs with human and AI labels"
                     + (f", cross-validated AUROC {plan.predictor.cv_auc:.2f}" if plan.predictor.method != "heuristic"
                        else "; too few for a fitted predictor, so the label-free estimate is used"))
    av.estimate_check(plan.check)
    fig = go.Figure(go.Scatter(x=plan.shares, y=plan.expected, mode="lines", name="routed (riskiest first)"))
    fig.add_scatter(x=plan.shares, y=random_accuracy_curve(plan.p_error, shares=plan.shares, human=plan.labelled),
                    mode="lines", line_dash="dash", name="random pairs to humans")
    fig.add_vline(x=plan.budget / max(len(plan.pair_ids), 1), line_dash="dot")
    fig.update_layout(xaxis_title="human budget (share of pairs)", yaxis_title="expected label accuracy",
                      xaxis_tickformat=".0%", yaxis_tickformat=".1%", height=340, margin={"t": 10},
                      legend={"orientation": "h", "y": -0.3})
    st.plotly_chart(fig, key="rt.curve")
    notice = st.session_state.pop(keys.RT_NOTICE, None)
    if notice:
        st.success(ui.inline(notice, max_chars=300), icon=":material/check:")
    if user.is_admin:
        with st.form("rt.send", border=True):
            st.markdown("**Send the human share to a queue** (riskiest first); the AI share keeps "
                        f"{ui.inline(judge, max_chars=60)}'s verdicts.")
            a, b = st.columns([3, 1])
            name = a.text_input("Queue name", key=keys.RT_QUEUE_NAME, placeholder=f"{dataset.name} routed")
            n = b.number_input("Annotators per pair", 1, 20, 1, key=keys.RT_QUEUE_N)
            if st.form_submit_button("Create queue", icon=":material/send:", type="primary"):
                try:
                    info = send_human_share(ui.get_store(), plan, name=name.strip() or f"{dataset.name} routed",
                                            annotators_per_pair=int(n), created_by=user.id)
                except ValueError as e:
                    st.error(ui.inline(str(e), max_chars=300), icon=":material/error:")
                else:
                    ui.invalidate()
                    st.session_state[keys.RT_NOTICE] = f"Queue {info.name}: {info.n_items:,} pairs to label."
                    st.session_state[keys.QUEUE] = info.queue_id
                    st.rerun()
        st.page_link(keys.LABEL_PAGE, label="Go to the Label page", icon=":material/thumbs_up_down:")
