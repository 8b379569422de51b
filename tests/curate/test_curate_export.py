from __future__ import annotations

import copy
import json
import os
import stat

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curator.curate import (
    DropFlags,
    DropFlipped,
    ExportError,
    ExportOptions,
    Recipe,
    export,
    push_to_hub,
    select,
    write_export,
)
from curator.schema import PairFilter

RECIPE = Recipe(name="clean toy", filter=PairFilter(signal_run="run1"),
                steps=(DropFlipped(), DropFlags()), order="curriculum", easy_fraction=0.3)


def _export(curation, **opts):
    options = ExportOptions(name="toy", **{"margin": "signal", **opts})
    return export(curation.store, RECIPE, curation.root / "exports", options)


class TestSnapshot:
    def test_files_counts_and_record(self, curation):
        result = _export(curation)
        files = sorted(p.name for p in result.path.iterdir())
        assert files == ["README.md", "hf", "manifest.json", "recipe.json", "test.jsonl", "test.parquet",
                         "train.jsonl", "train.parquet"]
        train, test = pq.read_table(result.path / "train.parquet"), pq.read_table(result.path / "test.parquet")
        assert train.num_rows + test.num_rows == 31 == result.n_train + result.n_test and test.num_rows > 0
        for col in ("prompt", "chosen", "rejected", "margin", "soft_label", "rationale", "n_annotators",
                    "signal_p_correct", "label_source", "difficulty", "position", "pair_id"):
            assert col in train.column_names
        assert min(train.column("margin").to_pylist()) >= 0.0
        assert not set(train.column("prompt").to_pylist()) & set(test.column("prompt").to_pylist())
        positions = train.column("position").to_pylist()
        assert positions == sorted(positions)  # curriculum order survives the split
        record = curation.store.export_record(result.export_id)
        assert record.n_rows == 31 and record.path == str(result.path) and record.recipe["name"] == "clean toy"
        assert record.dataset == "toy" and record.card["counts"]["train"] == result.n_train
        assert Recipe.from_json((result.path / "recipe.json").read_text()) == RECIPE

    def test_immutable(self, curation):
        result = _export(curation)
        assert not os.stat(result.path / "train.parquet").st_mode & stat.S_IWUSR
        selection = select(curation.store, RECIPE)
        with pytest.raises(ExportError, match="already exists"):
            write_export(selection, curation.root / "exports", ExportOptions(), export_id=result.export_id)
        with pytest.raises(ExportError, match="empty"):
            empty = Recipe(filter=PairFilter(pair_ids=("nope",)))
            write_export(select(curation.store, empty), curation.root / "exports", ExportOptions())
        assert sorted(p.name for p in (curation.root / "exports").iterdir()) == [result.export_id]

    def test_split_is_seeded(self, curation):
        selection = select(curation.store, RECIPE)
        a = write_export(selection, curation.root / "e", ExportOptions(seed=1, test_size=0.3), export_id="a")
        b = write_export(selection, curation.root / "e", ExportOptions(seed=1, test_size=0.3), export_id="b")
        c = write_export(selection, curation.root / "e", ExportOptions(seed=2, test_size=0.3), export_id="c")
        ids = [pq.read_table(r.path / "test.parquet").column("pair_id").to_pylist() for r in (a, b, c)]
        assert ids[0] == ids[1] != ids[2]

    def test_card(self, curation):
        result = _export(curation)
        card = (result.path / "README.md").read_text()
        assert card.startswith("---\nconfigs:")
        for text in ("# toy", result.export_id, "run1", "`bt-minilm@1`", "| toy | fixture | 1 |",
                     "| human | 1 |", "| consensus | 2 |", "drop likely-flipped pairs (flag_flipped) | 40 | 4 | 0 |",
                     '"folds": 5', "`margin`", "RewardTrainer", "| train |", "easy:"):
            assert text in card, text
        manifest = json.loads((result.path / "manifest.json").read_text())
        assert manifest["signal_run"]["models"] == ["bt-minilm@1"] and manifest["sources"][0]["version"] == 1
        # the human label of pair 20 is the opposite of its dataset label: the card says so
        assert result.card["differ_from_dataset"] == {"human": 1} and result.card["counts"]["differ_from_dataset"] == 1
        assert "1 exported labels differ from the label their dataset carried (decided by: human 1)." in card

    def test_conversational_and_datasets_folder(self, curation):
        from datasets import load_dataset, load_from_disk

        result = _export(curation, conversational=True, signals=())
        ds = load_from_disk(str(result.path / "hf"))
        row = ds["train"][0]
        assert row["prompt"][0]["role"] == "user" and row["chosen"][0]["role"] == "assistant"
        assert not [c for c in ds["train"].column_names if c.startswith("signal_")]
        again = load_dataset("json", data_files=str(result.path / "train.jsonl"), split="train",
                             cache_dir=str(curation.root / "cache"))
        assert again["pair_id"] == ds["train"]["pair_id"]

    def test_an_empty_test_split_still_exports(self, curation):
        from datasets import load_from_disk

        result = _export(curation, test_size=0.0)
        assert result.n_test == 0 and pq.read_table(result.path / "test.parquet").num_rows == 0
        ds = load_from_disk(str(result.path / "hf"))
        assert list(ds) == ["train"] and ds["train"].num_rows == result.n_train > 0

    def test_push_needs_token(self, curation, monkeypatch):
        monkeypatch.delenv("HF_TOKEN", raising=False)
        result = _export(curation)
        with pytest.raises(ExportError, match="HF_TOKEN"):
            push_to_hub(result.path, "me/toy")

    def test_options_validate(self):
        with pytest.raises(ValueError, match="margin"):
            ExportOptions(margin="big")
        with pytest.raises(ValueError, match="parquet"):
            ExportOptions(formats=("jsonl",))
        with pytest.raises(ValueError, match="Unknown signal"):
            ExportOptions(signals=("nope",))


# -- the export feeds TRL as is ----------------------------------------------------------------

WORDS = "the sky grass sea fire is blue red answer question".split() + [str(i) for i in range(40)]
CPU_ARGS = dict(max_steps=1, per_device_train_batch_size=2, logging_steps=1, save_strategy="no", report_to="none",
                bf16=False, activation_checkpointing=False, dataloader_pin_memory=False, seed=0)


def tiny_tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "<eos>": 1, "<unk>": 2, "<bos>": 3, **{w: i + 4 for i, w in enumerate(WORDS)}}
    tk = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.Whitespace()
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, pad_token="<pad>", eos_token="<eos>", unk_token="<unk>",
                                  bos_token="<bos>")
    tok.chat_template = ("{% for m in messages %}{{ m['role'] }} {{ m['content'] }}"
                         "{% if m['role'] == 'assistant' %}<eos>{% endif %} {% endfor %}"
                         "{% if add_generation_prompt %}assistant {% endif %}")
    return tok


def tiny_llama(tok, cls_name):
    import torch
    import transformers

    torch.manual_seed(0)
    cfg = transformers.LlamaConfig(vocab_size=len(tok), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                   num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=64,
                                   pad_token_id=0, eos_token_id=1, bos_token_id=3,
                                   **({"num_labels": 1} if "Sequence" in cls_name else {}))
    return getattr(transformers, cls_name)(cfg)


@pytest.mark.parametrize("conversational", [False, True])
def test_export_trains_trl_reward_and_dpo(curation, tmp_path, conversational):
    from datasets import load_from_disk
    from trl import DPOConfig, DPOTrainer, RewardConfig, RewardTrainer

    result = _export(curation, conversational=conversational)
    ds = load_from_disk(str(result.path / "hf"))
    tok = tiny_tokenizer()
    keep = ["prompt", "chosen", "rejected"]
    rm_data = ds["train"].select_columns(keep + ["margin"])
    trainer = RewardTrainer(model=tiny_llama(tok, "LlamaForSequenceClassification"), processing_class=tok,
                            args=RewardConfig(output_dir=str(tmp_path / "rm"), max_length=64, **CPU_ARGS),
                            train_dataset=rm_data)
    assert len(trainer.train_dataset) == len(rm_data)  # nothing dropped by max_length
    trainer.train()
    assert trainer.state.log_history[-1]["train_loss"] is not None
    policy = tiny_llama(tok, "LlamaForCausalLM")
    dpo = DPOTrainer(model=policy, ref_model=copy.deepcopy(policy), processing_class=tok,
                     args=DPOConfig(output_dir=str(tmp_path / "dpo"), max_length=64, **CPU_ARGS),
                     train_dataset=ds["train"].select_columns(keep))
    dpo.train()
    assert dpo.state.log_history[0]["loss"] == pytest.approx(0.6931, abs=1e-3)


def _store_feature_run(store, pair_ids) -> str:
    """A hand-made feature run of the toy dataset (run_features itself is tested in tests/test_features_cli.py)."""
    import pyarrow as pa

    from curator.store.features import LATENT_COLUMNS

    rows = [{"latent": j, "status": "feature" if j < 3 else "dead", "duplicate_of": None, "prevalence": 0.2,
             "coef": (0.8, -0.5, 0.1)[j] if j < 3 else None, "coef_low": None, "coef_high": None,
             "p_value": (1e-6, 1e-4, 0.3)[j] if j < 3 else None, "significant": j < 2, "selected": j < 2,
             "direction": ("more", "less", "more")[j] if j < 3 else None,
             "name": ("longer; steps", "sorry, cannot", "recipe")[j] if j < 3 else None, "terms": None,
             "length_ratio": 1.0, "top_pairs": "[]"} for j in range(4)]
    latents = pa.Table.from_pylist(rows, schema=pa.schema([
        ("latent", pa.int32()), ("status", pa.string()), ("duplicate_of", pa.int32()), ("prevalence", pa.float64()),
        ("coef", pa.float64()), ("coef_low", pa.float64()), ("coef_high", pa.float64()), ("p_value", pa.float64()),
        ("significant", pa.bool_()), ("selected", pa.bool_()), ("direction", pa.string()), ("name", pa.string()),
        ("terms", pa.string()), ("length_ratio", pa.float64()), ("top_pairs", pa.string())]))
    assert tuple(latents.column_names) == LATENT_COLUMNS
    acts = pa.table({"pair_id": pair_ids[:2], "latent": pa.array([0, 1], pa.int32()), "activation": [0.5, -0.2]})
    weights = pa.table({"kind": pa.array([], pa.string()), "group": pa.array([], pa.string()),
                        "latent": pa.array([], pa.int32()), "weight": pa.array([], pa.float64()),
                        "weight_low": pa.array([], pa.float64()), "weight_high": pa.array([], pa.float64()),
                        "n": pa.array([], pa.int32())})
    store.save_feature_run(run_id="feat-toy", dataset="toy", dataset_version=store.dataset_version("toy"),
                           cache_key="fk", params={}, summary={"explained_share": 0.62, "n_pairs": 40},
                           latents=latents, activations=acts, weights=weights)
    return "feat-toy"


def test_card_lists_the_top_features(curation):
    run_id = _store_feature_run(curation.store, curation.pair_ids)
    result = _export(curation)
    card = (result.path / "README.md").read_text()
    assert "## What the labels reward" in card and run_id in card and "recover 62%" in card
    assert "| feature | annotators prefer | coefficient | p-value | prevalence |" in card
    assert "| longer; steps | more of it | +0.80 | 1.0e-06 | 20.0% |" in card
    assert "| sorry, cannot | less of it | -0.50 |" in card and "| recipe |" not in card
    manifest = json.loads((result.path / "manifest.json").read_text())
    assert [r["latent"] for r in manifest["sources"][0]["features"]["top"]] == [0, 1]


def test_card_without_features_has_no_feature_section(curation):
    card = (_export(curation).path / "README.md").read_text()
    assert "What the labels reward" not in card


def test_recipe_step_drops_the_pairs_a_feature_decides(curation):
    from curator.curate import DropFeatureDecided, Recipe, select
    from curator.curate.steps import step_from_dict, step_to_dict
    from curator.features import decided_pairs

    run_id = _store_feature_run(curation.store, curation.pair_ids)
    step = DropFeatureDecided(run_id=run_id, latent=0, top_share=1.0)
    assert step_from_dict(step_to_dict(step)) == step
    decided = decided_pairs(curation.store, run_id, 0, top_share=1.0)
    label = curation.store.pair(curation.pair_ids[0])["label"]
    assert decided == ([curation.pair_ids[0]] if label == "a" else [])  # +activation, +coef: decided when A won
    base = select(curation.store, Recipe(filter=PairFilter(signal_run="run1")))
    got = select(curation.store, Recipe(filter=PairFilter(signal_run="run1"), steps=(step,)))
    kept = set(got.rows.column("pair_id").to_pylist())
    assert kept == set(base.rows.column("pair_id").to_pylist()) - set(decided)
    assert got.steps[-1].kind == "drop_feature" and got.steps[-1].removed == len(set(decided) & set(
        base.rows.column("pair_id").to_pylist()))
    with pytest.raises(ValueError, match="top_share"):
        DropFeatureDecided(run_id=run_id, top_share=0)


def test_feature_activations_as_export_columns(curation):
    run_id = _store_feature_run(curation.store, curation.pair_ids)
    result = _export(curation, feature_run=run_id, features=(0, 1))
    rows = [r for s in ("train", "test") for r in pq.read_table(result.path / f"{s}.parquet").to_pylist()]
    by_id = {r["pair_id"]: r for r in rows}
    label = curation.store.pair(curation.pair_ids[0])["label"]
    if curation.pair_ids[0] in by_id:  # +0.5 toward A: positive when A is chosen
        assert by_id[curation.pair_ids[0]]["feature_0"] == (0.5 if label == "a" else -0.5)
    assert all(r["feature_1"] == 0.0 for p, r in by_id.items() if p != curation.pair_ids[1])
    assert "`feature_0`" in (result.path / "README.md").read_text()
    with pytest.raises(ValueError, match="feature_run"):
        ExportOptions(features=(0,))
    with pytest.raises(ExportError, match="No feature run"):
        _export(curation, feature_run="nope", features=(0,))


def test_review_step_holds_back_decided_pairs_until_a_person_labels_them():
    """`review_feature`: the decided pairs without a human label are held back (all listed for a queue);
    a decided pair a person labelled stays, with that person's label."""
    from curator.curate import Recipe, ReviewFeatureDecided, apply_recipe
    from curator.curate.steps import step_from_dict, step_to_dict

    ids = [f"p{i}" for i in range(6)]
    pairs = pa.table({"pair_id": ids, "dataset": ["d"] * 6, "split": ["train"] * 6, "row_index": list(range(6)),
                      "prompt": [f"q{i}" for i in range(6)], "prompt_messages": [None] * 6,
                      "response_a": [f"a{i}" for i in range(6)], "response_b": [f"b{i}" for i in range(6)],
                      "label": ["a"] * 6})
    human = pa.table({"pair_id": ["p1"], "kind": ["human"], "annotator": ["ann"], "choice": ["b"]})
    step = ReviewFeatureDecided(run_id="feat-x", latent=3)
    assert step_from_dict(step_to_dict(step)) == step and step_to_dict(step)["kind"] == "review_feature"
    decided = {step.key(): frozenset({"p0", "p1", "p4"})}
    got = apply_recipe(pairs, Recipe(steps=(step,), order="source"), judgements=human, feature_pairs=decided)
    rows = dict(zip(got.rows.column("pair_id").to_pylist(), got.rows.column("chosen").to_pylist(), strict=True))
    assert sorted(rows) == ["p1", "p2", "p3", "p5"] and rows["p1"] == "b1"  # the person's label
    [report] = got.steps
    assert report.held_back == ("p0", "p4") and report.removed == 2 and "until a person labels" in report.step
    dropped = apply_recipe(pairs, Recipe(steps=(step_from_dict({**step_to_dict(step), "kind": "drop_feature"}),),
                                         order="source"), judgements=human, feature_pairs=decided)
    assert sorted(dropped.rows.column("pair_id").to_pylist()) == ["p2", "p3", "p5"] and not dropped.steps[0].held_back
