"""The dataset card (README.md) of an export, rendered from its plain-data description.

`render_card(card)` takes the dict `curator.curate.export.card_data` builds and returns Markdown with
a Hugging Face YAML header (so the Hub shows the train/test Parquet files as the default config).
Pure: strings in, a string out.
"""

from __future__ import annotations

import json
from typing import Any

_COLUMN_HELP = {
    "prompt": "the prompt (a string, or chat messages when conversational)",
    "chosen": "the preferred response (string, or one assistant message)",
    "rejected": "the other response",
    "margin": "adaptive margin read by TRL's RewardTrainer: loss = -logsigmoid(r_c - r_r - margin)",
    "soft_label": "share of votes for `chosen` (ties count half); 1.0 when only the dataset label decided",
    "rationale": "a judge's stated reason for the resolved label, when one was given",
    "n_annotators": "number of annotators (human or AI) with a verdict on the pair",
    "label_source": "which source decided the label (consensus, human, ai, dataset; '+flipped' when the "
                    "recipe swapped it)",
    "difficulty": "'easy'/'hard' by reward gap when the recipe splits (MPO); empty otherwise",
    "position": "the pair's place in the recipe's order (curriculum or seeded shuffle)",
    "pair_id": "Curator's content hash of the pair",
}


def _table(header: tuple[str, ...], rows: list[tuple[Any, ...]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in r) + " |" for r in rows]
    return "\n".join(lines)


def render_card(card: dict[str, Any]) -> str:
    """Markdown dataset card for an export.

    >>> text = render_card({"export_id": "x-1", "name": "x", "counts": {"train": 3, "test": 1}, "options": {}})
    >>> text.startswith("---") and "# x" in text and "| train | 3 |" in text
    True
    """
    counts = card.get("counts", {})
    options = card.get("options", {})
    yaml = ["---", "configs:", "- config_name: default", "  data_files:",
            "  - split: train", "    path: train.parquet"]
    if counts.get("test"):
        yaml += ["  - split: test", "    path: test.parquet"]
    yaml += ["tags:", "- curator", "- preference", "- trl", "---", ""]
    parts = ["\n".join(yaml), f"# {card.get('name', card.get('export_id'))}", "",
             f"Export `{card.get('export_id')}` written by Curator {card.get('curator_version', '')} at "
             f"{card.get('created_at', '')}. An immutable snapshot: re-exporting makes a new id.", ""]
    parts += ["## Format", "",
              f"`{card.get('format', 'trl-preference-explicit-prompt')}`: TRL preference rows with an explicit "
              "prompt, ready for `RewardTrainer` and `DPOTrainer` "
              "(`datasets.load_dataset('parquet', data_files={'train': 'train.parquet', 'test': 'test.parquet'})` "
              "or `datasets.load_from_disk('hf')`).", ""]
    columns = ["prompt", "chosen", "rejected"]
    if options.get("margin", "none") != "none":
        columns.append("margin")
    for key, col in (("soft_label", "soft_label"), ("rationale", "rationale"), ("annotator_count", "n_annotators")):
        if options.get(key):
            columns.append(col)
    columns += ["label_source", "difficulty", "position", "pair_id"]
    col_rows = [(f"`{c}`", _COLUMN_HELP[c]) for c in columns]
    col_rows += [(f"`signal_{s}`", f"signal `{s}` of the signal run (oriented to the exported label)")
                 for s in options.get("signals", [])]
    col_rows += [(f"`feature_{j}`", f"activation of preference feature {j} of run `{options.get('feature_run')}` "
                                    "(> 0: more of it in `chosen`)") for j in options.get("features", [])]
    parts += [_table(("column", "meaning"), col_rows), ""]
    parts += ["## Counts", "", _table(("split", "rows"), [("train", counts.get("train", 0)),
                                                          ("test", counts.get("test", 0))]), ""]
    if counts.get("input") is not None:
        parts += [f"The recipe started from {counts.get('input')} pairs; {counts.get('unlabelled_dropped', 0)} had "
                  f"no label from any allowed source, {counts.get('flipped_by_recipe', 0)} labels were flipped by "
                  f"the recipe. Split: test share {options.get('test_size')}, by {options.get('split_by')}, "
                  f"seed {options.get('seed')}.", ""]
    if card.get("differ_from_dataset"):
        by = ", ".join(f"{src} {n}" for src, n in card["differ_from_dataset"].items())
        parts += [f"{sum(card['differ_from_dataset'].values())} exported labels differ from the label their dataset "
                  f"carried (decided by: {by}).", ""]
    if card.get("label_sources"):
        parts += ["## Label sources", "", _table(("source", "pairs"), sorted(card["label_sources"].items())), ""]
    if card.get("difficulty"):
        parts += ["Difficulty split (MPO): " + ", ".join(f"{k}: {v}" for k, v in card["difficulty"].items()), ""]
    if card.get("sources"):
        parts += ["## Sources", "", _table(("dataset", "source", "version"),
                                           [(s.get("name"), s.get("source"), s.get("version"))
                                            for s in card["sources"]]), ""]
    featured = [s for s in card.get("sources") or () if s.get("features")]
    if featured:
        parts += ["## What the labels reward", "",
                  "Interpretable preference features (a sparse autoencoder on the embedding difference of the two "
                  "responses, weights from a length-controlled logistic model of the label).", ""]
        for s in featured:
            f = s["features"]
            share = f.get("explained_share")
            parts += [f"Dataset `{s.get('name')}` (feature run `{f.get('run_id')}`, version {f.get('dataset_version')}): "
                      + (f"the selected features recover {share:.0%} of a full-embedding probe's AUC above 0.5 "
                         "on held-out pairs." if isinstance(share, int | float) else "no explained share."), ""]
            if f.get("top"):
                parts += [_table(("feature", "annotators prefer", "coefficient", "p-value", "prevalence"),
                                 [(r.get("name") or r.get("latent"), f"{r.get('direction') or '-'} of it",
                                   "-" if r.get("coef") is None else f"{r['coef']:+.2f}",
                                   "-" if r.get("p_value") is None else f"{r['p_value']:.1e}",
                                   f"{r.get('prevalence', 0):.1%}") for r in f["top"]]), ""]
    run = card.get("signal_run")
    parts += ["## Signals", ""]
    if run:
        parts += [f"Signal run `{run.get('run_id')}` (dataset `{run.get('dataset')}` version "
                  f"{run.get('dataset_version')}), models: " + ", ".join(f"`{m}`" for m in run.get("models", [])),
                  "", "```json", json.dumps(run.get("params", {}), indent=2, sort_keys=True, default=str), "```", ""]
    else:
        parts += ["No signal run was used.", ""]
    if card.get("steps"):
        parts += ["## Recipe steps", "", _table(("step", "rows in", "removed", "flipped"),
                                                [(s["step"], s["rows_in"], s["removed"], s["flipped"])
                                                 for s in card["steps"]]), ""]
    if card.get("recipe"):
        parts += ["## Recipe", "", "```json", json.dumps(card["recipe"], indent=2, sort_keys=True), "```", ""]
    return "\n".join(parts)
