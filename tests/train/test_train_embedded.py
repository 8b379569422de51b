from __future__ import annotations

import json

import numpy as np

from curator.train import EmbeddedRewardRunConfig
from curator.train.embedded import EmbeddedRewardModel, fit_bt, run
from curator.train.embeddings import EmbeddingCache, embed_responses, resolve_embedder
from curator.train.metrics import read_metrics


def test_fit_is_deterministic_and_uses_margin():
    rng = np.random.default_rng(0)
    d = rng.normal(size=(300, 8)) + np.eye(8)[0]
    w1, w2 = fit_bt(d, epochs=50), fit_bt(d, epochs=50)
    assert np.array_equal(w1, w2)
    wm = fit_bt(d, margins=np.full(300, 2.0), epochs=50)
    assert (d @ wm).mean() > (d @ w1).mean()  # an adaptive margin asks for larger reward gaps


def test_run_in_process(toy_export, tmp_path, fake_embedder):
    cfg = EmbeddedRewardRunConfig(data=str(toy_export.path), num_train_epochs=30, logging_steps=10)
    final = run(cfg, tmp_path / "run")
    assert final["train_pairs"] == toy_export.n_train and final["eval_pairs"] == toy_export.n_test
    assert final["eval_accuracy"] == 1.0 and final["train_accuracy"] == 1.0
    lines = read_metrics(tmp_path / "run" / "metrics.jsonl")
    assert [r["step"] for r in lines] == [10, 20, 30]
    assert {"loss", "accuracy", "margin", "eval_accuracy", "eval_loss", "time"} <= set(lines[0])
    assert lines[-1]["loss"] < lines[0]["loss"]
    assert json.loads((tmp_path / "run" / "eval.json").read_text())["eval_accuracy"] == 1.0
    model = EmbeddedRewardModel.load(tmp_path / "run" / "model")
    m = model.margins(["question about the sky 1"], ["a good answer about the sky 1"], ["a bad answer 1"])
    assert m[0] > 0


def test_ai_labelled_test_pairs_are_left_out_of_the_evaluation(toy_export, tmp_path, fake_embedder):
    """A model is scored against the labels people or the dataset gave, never against AI verdicts."""
    import shutil

    import pyarrow as pa
    import pyarrow.parquet as pq

    data = tmp_path / "export"
    shutil.copytree(toy_export.path, data)
    test = pq.read_table(data / "test.parquet")
    n = test.num_rows
    ai = np.arange(n) < n // 2
    # the AI judge got its half backwards: scored against it, the model would look half wrong
    chosen, rejected = test.column("chosen").to_pylist(), test.column("rejected").to_pylist()
    test = test.set_column(test.schema.get_field_index("chosen"), "chosen",
                           pa.array([r if a else c for c, r, a in zip(chosen, rejected, ai, strict=True)]))
    test = test.set_column(test.schema.get_field_index("rejected"), "rejected",
                           pa.array([c if a else r for c, r, a in zip(chosen, rejected, ai, strict=True)]))
    sources = ["ai" if a else s for s, a in zip(test.column("label_source").to_pylist(), ai, strict=True)]
    test = test.set_column(test.schema.get_field_index("label_source"), "label_source", pa.array(sources))
    (data / "test.parquet").chmod(0o644)
    pq.write_table(test, data / "test.parquet")
    final = run(EmbeddedRewardRunConfig(data=str(data), num_train_epochs=30, logging_steps=10), tmp_path / "run")
    assert final["eval_ai_left_out"] == int(ai.sum()) > 0
    assert final["eval_pairs"] == n - int(ai.sum())
    assert final["eval_accuracy"] == 1.0


def test_cache_embeds_each_text_once(tmp_path, fake_embedder, monkeypatch):
    calls = []
    import curator.train.embeddings as emb

    real = emb._encode
    monkeypatch.setattr(emb, "_encode", lambda t, e: calls.append(len(t)) or real(t, e))
    a = embed_responses(["p", "p", "q"], ["x", "x", "y"], cache_dir=tmp_path)
    b = embed_responses(["q", "p", "z"], ["y", "x", "w"], cache_dir=tmp_path)
    assert calls == [2, 1]
    assert np.array_equal(a[2], b[0]) and len(EmbeddingCache(tmp_path, resolve_embedder("default")).load()) == 3
