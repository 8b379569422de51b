"""Exports, tiny models and a fake embedder for the training tests.

The toy preference data is learnable from words alone: the chosen response says "good", the
rejected one "bad". Tiny Llama models are built from a config (no hub access), saved to a folder and
passed to the launchers by path, as a user would.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from curator.schema import PairRecord

TOPICS = ("sky", "grass", "sea", "fire", "tree", "road")
WORDS = ("the is a good bad answer question about user assistant blue red green clear dark".split()
         + list(TOPICS) + [str(i) for i in range(64)])


def toy_records(n: int = 48) -> list[PairRecord]:
    out = []
    for i in range(n):
        topic = TOPICS[i % len(TOPICS)]
        good, bad = f"a good answer about the {topic} {i}", f"a bad answer {i}"
        swap = i % 3 == 0  # response order varies; the label follows the good one
        out.append(PairRecord(prompt=f"question about the {topic} {i}", response_a=bad if swap else good,
                              response_b=good if swap else bad, label="b" if swap else "a"))
    return out


def fake_encode(texts, embedder):
    """Bag-of-hashed-words vectors (D=64), L2-normalised: deterministic and instant."""
    out = np.zeros((len(texts), 64), dtype=np.float32)
    for i, t in enumerate(texts):
        for w in t.lower().split():
            out[i, int(hashlib.md5(w.encode()).hexdigest(), 16) % 64] += 1.0
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-6)


@pytest.fixture
def fake_embedder(monkeypatch):
    monkeypatch.setattr("curator.train.embeddings._encode", fake_encode)


@pytest.fixture
def toy_store(make_store):
    return make_store(toy_records(), dataset="toy")


@pytest.fixture
def toy_export(toy_store, tmp_path: Path):
    """An export folder of the toy store (string format, margin from votes, 25% test)."""
    from curator.curate import ExportOptions, Recipe, export

    result = export(toy_store, Recipe(name="toy", order="random"), tmp_path / "data" / "exports",
                    ExportOptions(name="toy", margin="votes", test_size=0.25, formats=("parquet",)))
    return result


def tiny_tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "<eos>": 1, "<unk>": 2, "<bos>": 3, **{w: i + 4 for i, w in enumerate(WORDS)}}
    tk = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=tk, pad_token="<pad>", eos_token="<eos>", unk_token="<unk>",
                                  bos_token="<bos>")


@pytest.fixture
def tiny_model_dir(tmp_path: Path):
    """Factory: save a tiny Llama ('reward' -> sequence classification, 'causal' -> LM) + tokenizer; return the dir."""

    def make(kind: str) -> str:
        import torch
        import transformers

        tok = tiny_tokenizer()
        torch.manual_seed(0)
        extra = {"num_labels": 1} if kind == "reward" else {}
        cfg = transformers.LlamaConfig(vocab_size=len(tok), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                       num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=128,
                                       pad_token_id=0, eos_token_id=1, bos_token_id=3, **extra)
        cls = transformers.LlamaForSequenceClassification if kind == "reward" else transformers.LlamaForCausalLM
        folder = tmp_path / f"tiny-{kind}"
        cls(cfg).save_pretrained(str(folder))
        tok.save_pretrained(str(folder))
        return str(folder)

    return make


@pytest.fixture
def empty_store_db(tmp_path: Path, monkeypatch):
    path = tmp_path / "empty.duckdb"
    monkeypatch.setenv("CURATOR_DB", str(path))
    return path


@pytest.fixture(autouse=True)
def _no_training_left_behind():
    """Kill the job processes a test started and left running (a failed assertion mid-run)."""
    yield
    import os
    import signal

    from curator.jobs import supervisor

    for pid, proc in list(supervisor._PROCS.items()):
        if proc.poll() is None:
            os.killpg(pid, signal.SIGKILL)
            proc.wait(10)
        supervisor._PROCS.pop(pid, None)
