"""Features: what does this dataset's labelling reward? A sparse autoencoder on the embedding
differences of the two responses finds a handful of features; a length-controlled model of the
label says which way annotators lean on each, and how much of a black-box probe they explain."""

from __future__ import annotations

import streamlit as st

from curator import ui
from curator.ui import features_view as fv
from curator.ui import keys

ui.page_setup("Features")

with ui.errors_shown():
    dataset = ui.dataset_picker()
    if dataset is None:
        ui.no_data()
    run = fv.run_picker(dataset.name)

    st.title("Features")
    fv.notice()
    with st.expander("Compute features", expanded=run is None, icon=":material/calculate:"):
        st.caption("Embeds both responses of every pair, trains a 32-latent BatchTopK sparse autoencoder on "
                   "their difference and fits a length-controlled logistic model of the label (WIMHF).")
        fv.compute_form(dataset.name)
    if run is None:
        st.info("No features for this dataset yet: compute them above.", icon=":material/psychology_alt:")
        st.stop()

    s = run.summary
    st.caption(f"Run **{ui.inline(run.run_id, max_chars=60)}** · {run.n_pairs:,} pairs · embedder "
               f"{ui.inline(str(run.params.get('embedder')), max_chars=60)} · held out {s['n_test']:,} pairs")
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Explained share", "-" if s.get("explained_share") is None else f"{s['explained_share']:.0%}",
              help="Share of the full-embedding probe's AUC above 0.5 that the selected features recover, held out.")
    c2.metric("Probe AUC", f"{s['auc_probe']:.3f}", help="Logistic probe on the whole embedding difference.")
    c3.metric("Selected features AUC", f"{s['auc_features']:.3f}", f"{s['n_selected']} features", delta_color="off",
              delta_arrow="off")
    c4.metric("Length alone AUC", f"{s['auc_length']:.3f}",
              None if s.get("explained_share_with_length") is None else
              f"{s['explained_share_with_length']:.0%} share with the features", delta_color="off", delta_arrow="off")

    lat = fv.latents(run.run_id)
    st.subheader("Features, ranked")
    st.caption(f"{s['n_features']} features · {s['n_significant']} significant after Bonferroni over "
               f"{len(lat)} latents · {ui.inline(fv.hidden_summary(lat), max_chars=400)}")
    st.dataframe(fv.ranked_table(lat), key=keys.FEAT_TABLE, hide_index=True, width="stretch", column_config={
        "coef": st.column_config.NumberColumn(format="%+.2f"), "low": st.column_config.NumberColumn(format="%+.2f"),
        "high": st.column_config.NumberColumn(format="%+.2f"), "p": st.column_config.NumberColumn(format="%.1e"),
        "prevalence": st.column_config.NumberColumn(format="percent"),
        "length ratio": st.column_config.NumberColumn(format="%.2f")})
    st.plotly_chart(fv.effect_chart(lat), key="feat.effects")

    st.subheader("Top pairs of a feature")
    shown = fv.ranked_table(lat)
    names = dict(zip(shown.feature, shown.name, strict=True))
    latent = st.selectbox("Feature", list(names), key=keys.FEAT_LATENT,
                          format_func=lambda j: f"{j} · {names[j][:80]}")
    if latent is not None:
        t = fv.terms(lat, latent)
        st.caption(f"More of: {ui.inline(', '.join(t['more']) or '-', max_chars=200)} · less of: "
                   f"{ui.inline(', '.join(t['less']) or '-', max_chars=200)}")
        ids = fv.decided(run.run_id, latent)
        st.caption(f"This feature decides {len(ids):,} pairs: among its strongest activations, the label went "
                   "the way it pulls. Review them when it rewards something it should not.")
        with st.container(horizontal=True):
            if st.button(f"Open the {len(ids):,} pairs in Browse", key="feat.browse", icon=":material/open_in_new:",
                         disabled=not ids):
                fv.open_decided(run.run_id, latent)
            if fv.may_review():
                st.button("Send them to human review", key="feat.review", icon=":material/thumbs_up_down:",
                          disabled=not ids, on_click=fv.review_decided, args=(run.run_id, latent, names[latent]))
        for i, row in enumerate(fv.top_pairs(run.run_id, latent).to_dict("records")):
            fv.show_top_pair(row, index=i)

    st.subheader("Who rewards what")
    w = fv.weights(run.run_id)
    kind = st.segmented_control("Groups", list(fv.WEIGHT_KINDS), key=keys.FEAT_KIND, default="source",
                                format_func=fv.WEIGHT_KINDS.get)
    fig = fv.weight_heatmap(w, lat, kind or "source")
    if fig is None:
        st.caption("No group of this kind has 30 or more labelled pairs.")
    else:
        st.plotly_chart(fig, key="feat.heatmap")

    st.subheader("In words")
    found = fv.texts(run.run_id)
    judge = fv.judge()
    if judge is None:
        st.caption("Configure a judge (`judge_url` and `judge_model` in `[curator]` of the app's secrets, or "
                   "`CURATOR_JUDGE_URL` / `CURATOR_JUDGE_MODEL`) to have a language model describe the selected "
                   "features and write the principles that reconstruct the labels (Inverse Constitutional AI).")
    elif fv.may_review():
        with st.container(horizontal=True):
            st.button("Describe the selected features", key="feat.describe", icon=":material/edit_note:",
                      on_click=fv.write_texts, args=(run.run_id, "descriptions"),
                      help="One line per feature from its top pairs, scored on 20 held-out pairs.")
            st.button("Write principles (ICAI)", key="feat.principles", icon=":material/gavel:",
                      on_click=fv.write_texts, args=(run.run_id, "principles"),
                      help="Proposed from 40 labelled comparisons, clustered, voted on, scored on 40 others.")
        st.caption(f"Asks {ui.inline(judge.model, max_chars=80)} now; that takes a few hundred requests.")
    if "descriptions" in found:
        d = found["descriptions"]
        st.caption(f"Descriptions by {ui.inline(d['model'], max_chars=80)} · score: share of held-out pairs where "
                   "the line predicts which response has more of the feature, or neither (chance 1/3)")
        st.dataframe(fv.descriptions_table(d, lat), key="feat.descriptions", hide_index=True, width="stretch",
                     column_config={"score": st.column_config.NumberColumn(format="%.2f")})
    if "principles" in found:
        pr = found["principles"]
        acc = pr["result"].get("accuracy")
        st.metric("Principles reconstruct the labels", "-" if acc is None else f"{acc:.0%}",
                  f"on {pr['result'].get('n_test', 0)} held-out pairs", delta_color="off", delta_arrow="off",
                  help="Every principle votes on each held-out pair; the majority is compared with the label.")
        st.caption(f"Principles by {ui.inline(pr['model'], max_chars=80)} from "
                   f"{pr['result'].get('proposals', 0)} proposals")
        st.dataframe(fv.principles_table(pr), key="feat.principles_table", hide_index=True, width="stretch")
