"""The Train page's parts: start a run from an export, the runs table, live curves, cancel, re-score.

A training run is a job of kind ``train`` (`curator.train.submit_run`): the jobs table has its state
(the Jobs page lists it too), its own process does the work, and the sync that sees it finish
registers its model. This module only builds the config and reads the run (job row, metrics JSONL,
log). The live part is an ``st.fragment`` that reruns every second while the run is going, so the
rest of the page stays still. Runs live beside the database: ``<db folder>/runs``.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from curator import jobs, train
from curator.errors import CuratorError
from curator.ui import auth, data, keys
from curator.ui.config_form import config_from_state, config_widgets
from curator.ui.text import inline

POLL = "1s"
POLLING = "trn.polling"  # the panel was drawn while its run was going
METHODS = {"embedded": "Embedded reward (CPU, seconds)", "reward": "TRL reward model", "dpo": "TRL DPO"}
CURVES = ("loss", "accuracy", "eval_accuracy", "eval_loss", "margin", "rewards/accuracies", "rewards/margins")

# The settings shown first per method; every other field of its config is under "More settings".
FORM_FIELDS: dict[str, tuple[str, ...]] = {
    "embedded": ("learning_rate", "num_train_epochs", "embedder", "use_margin"),
    "reward": ("base_model", "learning_rate", "num_train_epochs", "max_length", "per_device_train_batch_size",
               "use_lora"),
    "dpo": ("base_model", "learning_rate", "num_train_epochs", "beta", "max_length", "per_device_train_batch_size",
            "use_lora"),
}


def init_state() -> None:
    st.session_state.setdefault(keys.TRN_METHOD, "embedded")


def config_prefix(method: str) -> str:
    return f"{keys.TRN_CFG}{method}."


def config_fields(method: str) -> None:
    """The form's widgets for `method`, generated from its run config (`curator.train.config`)."""
    cls, shown = train.CONFIGS[method], FORM_FIELDS[method]
    config_widgets(cls, config_prefix(method), only=shown)
    with st.expander("More settings", icon=":material/settings:"):
        config_widgets(cls, config_prefix(method), exclude=(*shown, "data"))


def run_config(export_path: str) -> Any:
    """The run config the form describes; ValueError names a missing or bad field."""
    method = st.session_state.get(keys.TRN_METHOD, "embedded")
    return config_from_state(train.CONFIGS[method], config_prefix(method), data=export_path)


def start(export_id: str, export_path: str) -> None:
    """on_click of Start: write the run folder and queue the job (it starts at once); remember the run."""
    auth.require_admin("Training")
    try:
        cfg = run_config(export_path)
        info = train.submit_run(data.get_store(), cfg, export_id=export_id)
    except (ValueError, CuratorError) as e:
        st.session_state[keys.TRN_NOTICE] = ("error", f"Not started: {e}")
        return
    st.session_state[keys.TRN_RUN] = info.run_id
    st.session_state[keys.TRN_NOTICE] = ("success", f"Started run {info.run_id} ({info.status}).")


def cancel(run_id: str) -> None:
    auth.require_admin("Cancelling a training run")
    try:
        info = train.cancel_run(data.get_store(), run_id)
    except CuratorError as e:
        st.session_state[keys.TRN_NOTICE] = ("error", str(e))
        return
    st.session_state[keys.TRN_NOTICE] = ("info", f"Run {info.run_id}: {'cancelling' if not info.finished else info.status}.")


def rescore(model_id: str, dataset_key: str) -> None:
    auth.require_admin("Re-scoring")
    dataset = st.session_state.get(dataset_key)
    try:
        handle = train.submit_rescore(data.get_store(), model_id, dataset)
    except CuratorError as e:
        st.session_state[keys.TRN_NOTICE] = ("error", str(e))
        return
    if handle.cached:
        data.invalidate()
        st.session_state[keys.RUN_NEXT] = handle.run_id
        st.session_state[keys.TRN_NOTICE] = ("success", f"{dataset} is scored with {model_id} already: signal run "
                                                        f"{handle.run_id}. Pick it on the Signals or Curate page.")
        return
    st.session_state[keys.TRN_NOTICE] = ("info", f"Re-scoring {dataset} with {model_id} as job {handle.job_id}; "
                                                 "its signal run appears when the job is done.")


def rescore_default(store: Any, info: train.RunInfo, names: list[str]) -> str | None:
    """The dataset a run's model re-scores by default: the one its export came from, else the
    sidebar's."""
    export = store.export_record(info.export_id) if info.export_id else None
    for name in (export.dataset if export else None, st.session_state.get(keys.DATASET)):
        if name in names:
            return name
    return None


def notice() -> None:
    message = st.session_state.pop(keys.TRN_NOTICE, None)
    if message:
        kind, text = message
        {"success": st.success, "error": st.error}.get(kind, st.info)(inline(text, max_chars=800))


def list_runs() -> list[train.RunInfo]:
    return train.list_runs(data.get_store())


def runs_frame(runs: list[train.RunInfo]) -> pd.DataFrame:
    return pd.DataFrame([{"run": r.run_id, "method": r.method, "status": r.status, "progress": r.progress,
                          "export": r.export_id, "eval accuracy": r.final.get("eval_accuracy"),
                          "model": r.model_id or "", "started": r.created_at} for r in runs])


RUNS_COLUMNS = {"progress": st.column_config.ProgressColumn("progress", min_value=0.0, max_value=1.0, format="percent")}


def curves(metrics: list[dict[str, Any]]) -> pd.DataFrame:
    """Metrics lines as a frame indexed by step, one column per curve present."""
    if not metrics:
        return pd.DataFrame()
    frame = pd.DataFrame(metrics)
    cols = [c for c in CURVES if c in frame.columns]
    return frame.groupby("step")[cols].last() if cols else pd.DataFrame()


def run_panel(run_id: str) -> None:
    """Status, curves, log and actions of one run; polls every second while it runs."""
    info = train.run_info(data.get_store(), run_id)
    st.session_state[POLLING] = not info.finished
    st.fragment(_panel, run_every=POLL if not info.finished else None)(run_id)


def _panel(run_id: str) -> None:
    store = data.get_store()
    jobs.sync(store)  # the run's progress and end come from its job
    info = train.run_info(store, run_id)
    if info.finished and st.session_state.get(POLLING):
        st.session_state[POLLING] = False
        data.invalidate()  # a finished run registered its model
        st.rerun()  # the whole page: the runs table and the actions change once the run ends
    notice()  # a button of this fragment reruns only the fragment
    progress = f" · {info.progress:.0%}" if info.status == "running" else ""
    st.markdown(f"**Run {inline(info.run_id)}** · {info.method} · **{info.status}**{progress}")
    frame = curves(train.run_metrics(info.run_dir))
    if not frame.empty:
        acc = [c for c in frame.columns if "accura" in c]
        left, right = st.columns(2)
        left.line_chart(frame[[c for c in frame.columns if "loss" in c]], height=220, x_label="step")
        if acc:
            right.line_chart(frame[acc], height=220, x_label="step")
    else:
        st.caption("No metrics yet.")
    with st.expander("Log (last lines)", expanded=info.status == "failed"):
        st.code(train.run_log(info.run_dir, tail_chars=6000) or "(empty)", language=None)
    if info.error:
        st.error(inline(info.error.strip().splitlines()[-1], max_chars=400))
    if not info.finished:
        st.button("Cancel", key="trn.cancel", icon=":material/stop:", on_click=cancel, args=(run_id,))
        return
    if info.status != "done":
        return
    shown = [(k, v) for k, v in info.final.items()
             if isinstance(v, int | float) and not isinstance(v, bool) and k != "eval_ai_left_out"]
    for col, (name, value) in zip(st.columns(max(len(shown), 1)), shown, strict=False):
        col.metric(name.replace("_", " "), f"{value:.3f}" if isinstance(value, float) else f"{value:,}")
    if info.final.get("eval_ai_left_out"):
        st.caption(f"{info.final['eval_ai_left_out']:,} test pairs whose label an AI judge gave are left out of the "
                   "evaluation: scored against them, a model measures its agreement with the judge (with the "
                   "reward ensemble as judge, with itself), not label accuracy.")
    if info.model_id:
        st.caption(f"Registered as model {inline(info.model_id)}.")
    if info.model_id and info.method in ("embedded", "reward"):
        with st.container(horizontal=True, vertical_alignment="bottom"):
            names = [d.name for d in data.datasets()]
            # One widget per run, its default by `index`: a widget's state is dropped on any full run that
            # does not draw it (the polling fragment's reruns), and then the default must come back.
            dataset_key = keys.TRN_RESCORE_DS + run_id
            default = rescore_default(store, info, names)
            st.selectbox("Re-score dataset", names, index=names.index(default) if default else 0, key=dataset_key)
            st.button("Re-score as a signal run", key="trn.rescore", icon=":material/insights:", on_click=rescore,
                      args=(info.model_id, dataset_key))
