"""`curator.evals.noise`: flips, the metrics, and the HH-RLHF quality check on the real data."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from curator.evals.noise import evaluate_noise, flip_labels, load_hh_pairs, probe_baseline
from curator.signals import SignalConfig

FAST = SignalConfig(n_folds=3, n_heads=3, mc_samples=4, map_sample=300, n_clusters=4)


def test_flip_labels_exact_and_seeded():
    labels = ["a", "b"] * 50 + [None] * 10
    m = flip_labels(labels, flip=0.3, seed=1)
    assert m.sum() == 30 and not m[100:].any()
    assert (m == flip_labels(labels, flip=0.3, seed=1)).all() and (m != flip_labels(labels, flip=0.3, seed=2)).any()


def test_evaluate_noise_on_synthetic(make_synthetic):
    syn = make_synthetic(300, seed=7)
    r = evaluate_noise(syn.pairs, flip=0.2, seed=0, cfg=FAST, features=syn.features)
    assert r["n"] == 300 and r["n_flipped"] == 60
    assert r["accuracy"] > 0.75 and r["auroc"] > 0.8 and r["precision_at_k"] > 0.5
    assert 0 < r["flagged_share"] < 1 and r["flag_precision"] > 0.5 and 0 < r["flag_recall"] <= 1
    b = probe_baseline(syn.features["emb_a"], syn.features["emb_b"], syn.pairs["label"].to_pylist(), flip=0.2, seed=0)
    assert b["accuracy"] > 0.8 and b["n"] == 300


def test_load_hh_pairs(tmp_path: Path):
    import json

    f = tmp_path / "hh.jsonl"
    f.write_text(json.dumps({"chosen": "\n\nHuman: hi\n\nAssistant: hello there", "rejected": "\n\nHuman: hi\n\nAssistant: go"})
                 + "\n")
    t = load_hh_pairs(f)
    assert t.to_pylist()[0] | {"pair_id": None} == {"pair_id": None, "prompt": "\n\nHuman: hi", "prompt_messages": None,
                                                     "response_a": "hello there", "response_b": "go", "label": "a"}


def _hh_features(table, embedder: str) -> dict[str, np.ndarray]:
    """Embeddings of the HH table, cached across runs (they do not depend on the labels)."""
    from curator.signals import embed as embed_module
    from curator.signals import text as text_module
    from curator.signals.embed import EmbeddingScorer, default_cache_dir
    from curator.signals.pipeline import last_user_turn

    prompts, a, b = (table.column(c).to_pylist() for c in ("prompt", "response_a", "response_b"))
    # The key covers the encoder code too, so a changed embedder never reuses stale vectors.
    code = "".join(f.read_text() for f in [Path(embed_module.__file__), Path(text_module.__file__),
                                             *sorted((Path(embed_module.__file__).parent / "encoders").glob("*.py"))])
    key = hashlib.blake2b("\x1f".join([embedder, code, *prompts, *a, *b]).encode(), digest_size=8).hexdigest()
    path = default_cache_dir() / "test-features" / f"hh-{embedder}-{key}.npz"
    if path.exists():
        return dict(np.load(path))
    sc = EmbeddingScorer(embedder)
    out = sc({"prompt": prompts, "response_a": a, "response_b": b})
    both = sc.encode(a + b)
    feats = {"emb_prompt": out["emb_prompt"], "emb_a": out["emb_a"], "emb_b": out["emb_b"],
             "emb_query": sc.encode([last_user_turn(p) for p in prompts]), "emb_resp_a": both[:len(a)],
             "emb_resp_b": both[len(a):]}
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **feats)
    return feats


@pytest.mark.slow
@pytest.mark.shared_data
def test_hh_helpful_flip_detection_beats_probe(shared_data: Path):
    table = load_hh_pairs(shared_data / "hh_rlhf" / "helpful-base" / "test.jsonl.gz")
    feats = _hh_features(table, "default")
    r = evaluate_noise(table, flip=0.2, seed=0, cfg=SignalConfig(), features=feats)
    b = probe_baseline(feats["emb_a"], feats["emb_b"], table["label"].to_pylist(), flip=0.2, seed=0)
    print(r, b)
    assert r["n"] == 2354 and r["n_flipped"] == 471
    # Measured with bench/bench_noise_quality.py (seed 0): accuracy 0.640, AUROC 0.696; probe 0.605 / 0.648.
    # Re-measured 2026-11-22 with the 768-d minilm-m2v embedder: accuracy 0.643, AUROC 0.695; probe 0.593 / 0.641.
    # The target (accuracy >= 0.65 and AUROC >= 0.70) is NOT met yet; these floors guard what is.
    assert r["accuracy"] >= 0.63 and r["auroc"] >= 0.685
    # The calibrated flag (flip rate 0.15): small but at least half right about the injected flips alone.
    assert r["flag_precision"] >= 0.5 and 0.005 < r["flagged_share"] < 0.1 and r["flag_estimated_precision"] >= 0.5
    assert r["noise_rate_interval"][0] <= r["noise_rate"] <= r["noise_rate_interval"][1]
    assert r["accuracy"] >= b["accuracy"] + 0.02 and r["auroc"] >= b["auroc"] + 0.03


def test_cli_eval_noise_reads_any_ingestable_file(tmp_path: Path):
    """`curator eval noise DATA --json`: the figures the issue asks for, on a prompt/chosen/rejected file."""
    import json

    from typer.testing import CliRunner

    from curator.cli import app
    from curator.io import write_demo

    demo = write_demo(tmp_path / "demo", n_pairs=300, seed=3)
    result = CliRunner().invoke(app, ["eval", "noise", str(demo.pairs_path), "--flip", "0.2", "--seed", "1",
                                      "--limit", "200", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert {"n", "n_flipped", "accuracy", "auroc", "auprc", "precision_at_k", "flag_precision", "flag_recall",
            "flagged_share", "flag_estimated_precision", "noise_rate", "chosen_shorter",
            "flagged_chosen_shorter", "lc_flag_precision", "lc_flag_recall", "lc_flagged_share",
            "lc_flag_estimated_precision", "lc_flagged_chosen_shorter"} <= set(out)
    assert out["n"] <= 200 and out["n_flipped"] == round(0.2 * out["n"])
    assert 0.5 < out["auroc"] <= 1 and 0 <= out["flagged_share"] <= 1
