"""The CUDA branches: reward scoring, prompt sharing, one worker per device, device_map and GPU embeddings.

Marked ``gpu`` and skipped without CUDA (run by bench/device_check.sh on a lent GPU). Models are
built from configs here (random weights); references are the same scorers on the CPU in fp32.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]


@pytest.fixture(scope="module")
def rm(tmp_path_factory) -> str:
    from curator.jobs.testing import build_reward_model

    return build_reward_model(tmp_path_factory.mktemp("rm") / "tiny", "tiny-llama")


@pytest.fixture(scope="module")
def batch() -> dict[str, list[str]]:
    from curator.jobs.testing import synthetic_pairs

    return synthetic_pairs(64, seed=1, hh=True, median_tokens=80)


def _cpu(rm: str, batch, **kwargs) -> dict[str, np.ndarray]:
    from curator.signals.reward import RewardScorer

    return RewardScorer(rm, device="cpu", max_length=1024, token_budget=8192, **kwargs)(batch)


def test_cuda_scorer_matches_the_cpu(rm, batch):
    from curator.signals.reward import RewardScorer

    ref = _cpu(rm, batch)
    fp32 = RewardScorer(rm, device="cuda", dtype="float32", max_length=1024, token_budget=8192)
    assert fp32.device.startswith("cuda")
    out = fp32(batch)
    np.testing.assert_allclose(out["reward_a"], ref["reward_a"], atol=2e-3)
    shared = RewardScorer(rm, device="cuda", dtype="float32", max_length=1024, token_budget=8192, share_prompt=True)
    np.testing.assert_allclose(shared(batch)["reward_b"], ref["reward_b"], atol=2e-3)
    bf16 = RewardScorer(rm, device="cuda", max_length=1024, token_budget=8192)(batch)  # the default: bf16
    assert bf16["reward_a"].dtype == np.float32
    assert np.corrcoef(bf16["reward_a"], ref["reward_a"])[0, 1] > 0.99


def test_device_map_auto_loads_on_the_gpu(rm, batch):
    from curator.signals.reward import RewardScorer

    scorer = RewardScorer(rm, device_map="auto", dtype="float32", max_length=1024, token_budget=8192)
    assert scorer.device.startswith("cuda")
    np.testing.assert_allclose(scorer(batch)["reward_a"], _cpu(rm, batch)["reward_a"], atol=2e-3)


def test_one_worker_per_device_on_cuda(rm, batch, tmp_path):
    """Every visible GPU gets a worker (a single GPU is listed twice to exercise the merge)."""
    from curator import jobs
    from curator.jobs.stages import reward_feature_keys
    from curator.jobs.testing import reward_stages
    from curator.signals import ScorerConfig, SignalConfig

    n = len(batch["prompt"])
    path = tmp_path / "input.parquet"
    pq.write_table(pa.table({"pair_id": [f"p{i}" for i in range(n)], **batch}), path)
    gpus = tuple(f"cuda:{i}" for i in range(torch.cuda.device_count()))
    devices = gpus if len(gpus) > 1 else gpus * 2
    scorer = ScorerConfig(dtype="float32", max_length=1024, token_budget=8192, devices=devices)
    features = jobs.run_stages(path, reward_stages(SignalConfig(rewards=(rm,), scorer=scorer).to_dict()),
                                     cache_dir=tmp_path / "f", checkpoint_rows=16)
    np.testing.assert_allclose(features[reward_feature_keys(rm)[0]], _cpu(rm, batch)["reward_a"], atol=2e-3)


def test_embeddings_on_the_gpu(tmp_path):
    """A transformer encoder runs on CUDA in fp16 and gives the CPU fp32 vectors; the stage claims the GPU."""
    from sentence_transformers import SentenceTransformer, models
    from transformers import BertConfig, BertModel, BertTokenizerFast

    from curator.jobs.stages import signal_stages
    from curator.signals.embed import EmbeddingScorer

    words = "the sky is blue green grass red why how what cat dog run".split()
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]
    tok = BertTokenizerFast(vocab=dict(zip(vocab, range(len(vocab)), strict=True)))
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                         intermediate_size=64, max_position_embeddings=128)).save_pretrained(tmp_path / "bert")
    tok.save_pretrained(tmp_path / "bert")
    st = SentenceTransformer(modules=[models.Transformer(str(tmp_path / "bert"), max_seq_length=64),
                                      models.Pooling(32, pooling_mode="mean")])
    st.save(str(tmp_path / "st"))
    texts = [" ".join(np.random.default_rng(i).choice(words, 3 + i % 9)) for i in range(50)]
    gpu = EmbeddingScorer(str(tmp_path / "st"), device="cuda")
    cpu = EmbeddingScorer(str(tmp_path / "st"), device="cpu")
    assert gpu.device.startswith("cuda")
    cos = (gpu.encode(texts) * cpu.encode(texts)).sum(1)
    assert cos.min() > 0.99
    assert signal_stages({"embedder": str(tmp_path / "st")})[0].gpu
    assert not signal_stages({"embedder": "minilm-m2v"})[0].gpu
