"""The Signals and Map pages' parts: the run picker, cached signal samples, the start form,
flag counts, the most disputed pairs and the hand-over of a selection to the Browse page."""

from __future__ import annotations

from urllib.parse import urlencode

import numpy as np
import pandas as pd
import pyarrow as pa
import streamlit as st

from curator import jobs
from curator.errors import CuratorError
from curator.schema import SIGNAL_COLUMNS, PairFilter
from curator.signals import SignalConfig, noise
from curator.signals.scoring import ScorerConfig
from curator.store import SignalRun, Store
from curator.ui import auth, data, keys
from curator.ui.config_form import config_from_state, config_widgets
from curator.ui.signal_charts import FLAG_LABELS
from curator.ui.text import inline

SCATTER_SAMPLE = 50_000  # points on the margin/uncertainty scatter
MAP_SAMPLE = 200_000  # points on the map (plotly lasso stays usable up to about this many)
DISPUTED_ROWS = 25
BROWSE_URL = "Browse"  # the URL path Streamlit gives pages/1_Browse.py
START_FIELDS = ("embedder", "rewards", "n_folds", "seed", "features")  # in the form; the rest under "More settings"
RESCORE_PREFIX = "rescore-"  # cache keys of re-score runs (`curator.train.rescore.RescoreConfig.cache_key`)


@st.cache_data(ttl=data.TTL, max_entries=16, show_spinner="Loading signals…")
def _signals(db: str, run_id: str, columns: tuple[str, ...], sample: int | None) -> pd.DataFrame:
    return Store.open(db).signals(run_id, columns, sample=sample).to_pandas()


def run_signals(run_id: str, columns: tuple[str, ...] = SIGNAL_COLUMNS, *, sample: int | None = None
                ) -> pd.DataFrame:
    """pair_id, split, label and `columns` of a run (a reproducible sample when `sample` is set)."""
    return _signals(data.db_path(), run_id, tuple(columns), sample)


def run_picker(dataset: str) -> SignalRun | None:
    """Sidebar choice of the signal run (newest first; shared by Signals and Map). None: no run yet."""
    runs = {r.run_id: r for r in data.signal_runs(dataset)}
    if not runs:
        return None
    pending = st.session_state.pop(keys.RUN_NEXT, None)
    if pending in runs:
        st.session_state[keys.RUN] = pending
    if st.session_state.get(keys.RUN) not in runs:
        # A model's re-score is one view among others; the newest signals run stays the default.
        own = [r for r in runs.values() if not r.cache_key.startswith(RESCORE_PREFIX)]
        st.session_state[keys.RUN] = (own[0] if own else next(iter(runs.values()))).run_id
    with st.sidebar:
        run_id = st.selectbox("Signal run", list(runs), key=keys.RUN, format_func=lambda r: (
            f"{r} · {', '.join(runs[r].models) or 'signals'} · {runs[r].created_at:%Y-%m-%d %H:%M}"))
    return runs[run_id]


def start_form(dataset: str) -> None:
    """The form that starts a signals job for `dataset` (admins only)."""
    if not auth.is_admin():
        st.caption("Only admins start signal jobs.")
        return
    st.session_state.setdefault(keys.SIG_ENGINE, "local")
    with st.form("sig.form", border=False):
        config_widgets(SignalConfig, keys.SIG_CFG, only=START_FIELDS)
        st.selectbox("Engine", jobs.ENGINES, key=keys.SIG_ENGINE,
                     help="local: one worker process. ray: the scorers under Ray Data (pip install 'curator[ray]').")
        with st.expander("More settings", icon=":material/settings:"):
            config_widgets(SignalConfig, keys.SIG_CFG, exclude=START_FIELDS)
        with st.expander("Reward-model scoring", icon=":material/tune:"):
            config_widgets(ScorerConfig, keys.SIG_SCORER)
        st.form_submit_button("Compute signals", type="primary", icon=":material/play_arrow:",
                              on_click=start_job, args=(dataset,))


def start_job(dataset: str) -> None:
    """Submit the form's job (a callback); leaves a notice for the next run."""
    auth.require_admin("Starting a signals job")
    s = st.session_state
    try:
        cfg = config_from_state(SignalConfig, keys.SIG_CFG, scorer=config_from_state(ScorerConfig, keys.SIG_SCORER))
        handle = jobs.submit_signals(data.get_store(), dataset, cfg, engine=s.get(keys.SIG_ENGINE, "local"))
    except (CuratorError, ValueError, TypeError, ImportError) as e:
        s[keys.SIG_NOTICE] = ("error", f"The job was not started: {inline(str(e), max_chars=500)}")
        return
    if handle.cached:
        data.invalidate()
        s[keys.RUN] = handle.run_id
        s[keys.SIG_NOTICE] = ("info", f"Nothing to compute: run {handle.run_id} already has signals for this "
                                      "dataset version and these settings.")
    else:
        s[keys.SIG_NOTICE] = ("success", f"Job {handle.job_id} started; progress shows below.")


def flag_counts(dataset: str, run_id: str) -> dict[str, int]:
    """Pairs raising each flag in the run."""
    return {label: data.count_pairs(PairFilter(datasets=(dataset,), signal_run=run_id, flags=(col,)))
            for col, label in FLAG_LABELS.items()}


@st.cache_data(ttl=data.TTL, max_entries=16, show_spinner="Checking the flags…")
def _flag_report(db: str, run_id: str, flip_rate: float, seed: int) -> dict[str, float]:
    t = Store.open(db).flag_review(run_id)
    p_correct = t.column("p_correct").to_numpy(zero_copy_only=False).astype(float)
    # A re-score gives no probability for the pairs its model trained on (in-sample): they are left out.
    t = t.filter(pa.array(np.isfinite(p_correct)))
    if not t.num_rows:
        return {"n": 0, "in_sample": len(p_correct), "flagged": 0, "lc_pair_ids": []}
    col = {c: t.column(c).to_numpy(zero_copy_only=False) for c in ("p_correct", "len_a", "len_b")}
    report = noise.flag_report(t.column("label").to_pylist(), col["p_correct"].astype(float),
                               t.column("flag_flipped").fill_null(False).to_numpy(zero_copy_only=False), col["len_a"],
                               col["len_b"], flip_rate=flip_rate, seed=seed)
    ids = np.asarray(t.column("pair_id").to_pylist(), dtype=object)
    report["lc_pair_ids"] = ids[report.pop("lc_flag")].tolist()  # the cache keeps plain values
    report["in_sample"] = len(p_correct) - t.num_rows
    return report


def flag_report(run: SignalRun) -> dict[str, float] | None:
    """`curator.signals.noise.flag_report` of a signals run (plus ``in_sample``: labelled pairs with no
    out-of-sample probability); None for runs whose flag is not the calibrated one (runs from before it)."""
    if "flip_rate" not in run.params:
        return None
    return _flag_report(data.db_path(), run.run_id, float(run.params["flip_rate"]), int(run.params.get("seed", 0)))


def rescore_note(run: SignalRun, report: dict[str, float] | None) -> str | None:
    """What a re-score run's numbers are (None for other runs): which pairs are in-sample for its model."""
    if not run.cache_key.startswith(RESCORE_PREFIX) or report is None:
        return None
    model = inline(", ".join(run.models) or "a model", max_chars=80)
    if not report["n"]:
        return (f"Re-scored by {model}. None of the labelled pairs is out of sample for it (it trained on them, or "
                "its training split is gone), so it gives no probabilities and flags nothing; its margins are on "
                "the model's own scale.")
    return (f"Re-scored by {model}. Margins are calibrated log-odds: the model's scale is fitted on held-out folds "
            f"of the {report['n']:,} labelled pairs it did not train on. The {report['in_sample']:,} pairs it trained "
            "on are in-sample: they keep a margin but get no P(label right) and are never flagged.")


def flag_help(rate: float) -> str:
    """What "likely flipped" means, for the page's help."""
    return (f"A pair is flagged when its out-of-sample probability of a mistaken label is high enough that the flag "
            f"as a whole is right at least {noise.FLAG_PRECISION:.0%} of the time, assuming {rate:.0%} of labels "
            "are flipped independently of the content (the run's flip rate). Pairs two fair annotators could "
            "judge either way are 'ambiguous', not flipped. Ranked by issue score, the most suspicious come first.")


LC_HELP = ("The same flag on what the reward says beyond length: the length gap's share of its verdict is "
           "projected out and the rest recalibrated on held-out folds. A reward that likes long answers doubts "
           "mostly labels whose chosen response is the shorter one; this flag does not, so it finds fewer "
           "pairs when the labels really do favour length.")


def disputed_pairs(dataset: str, run_id: str, sample: pd.DataFrame) -> pd.DataFrame:
    """The pairs the signals doubt most: highest issue score, else lowest P(label is right)."""
    sort, descending = ("issue_score", True) if "issue_score" in sample and sample["issue_score"].notna().any() \
        else ("p_correct", False)
    rows = data.pairs_page(PairFilter(datasets=(dataset,), signal_run=run_id), sort=sort, descending=descending,
                           limit=DISPUTED_ROWS, offset=0)
    link = [f"{BROWSE_URL}?" + urlencode({keys.DATASET: dataset, keys.PAIR: p})
            for p in rows["pair_id"]]
    # A run without some signals (a re-score has no clusters or spread) shows no empty columns.
    cols = [c for c in ("margin", "p_correct", "issue_score", "margin_std", "cluster")
            if c in rows and rows[c].notna().any()]
    return pd.concat([pd.DataFrame({"open": link}), rows[["prompt", *cols]].reset_index(drop=True)], axis=1)


def browse_filtered(run_id: str, *, clusters: list[int] | None = None, flags: list[str] | None = None) -> None:
    """Open the Browse page on this run, filtered to some clusters and/or flags.

    Browse's filter widgets are bound to the URL with their labels as values, so they are set
    through session state (the one way Streamlit allows for a bound widget), not query parameters.
    """
    keys.clear_selection()
    st.session_state[keys.SIGNAL_RUN] = run_id
    st.session_state[keys.CLUSTERS] = [int(c) for c in clusters or ()]
    st.session_state[keys.FLAGS] = list(flags or ())
    keys.switch_page(keys.BROWSE_PAGE)


def open_in_browse(run_id: str, pair_ids: list[str], *, source: str) -> None:
    """Hand `pair_ids` to the Browse page as its selection filter and go there."""
    keys.set_selection(pair_ids, source=source)
    st.session_state[keys.SIGNAL_RUN] = run_id
    keys.switch_page(keys.BROWSE_PAGE)
