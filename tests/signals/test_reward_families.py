"""Every reward-model family a user brings, against the plain Hugging Face forward one pair at a time.

Each model is built from a config here (random weights, tiny sizes) with a byte-level BPE tokenizer
trained on the spot and its family's chat-template shape: Llama 3 (no pad token), Qwen 2 (a default
system turn), Gemma (BOS, rejects a system turn), Mistral (``[INST]``, EOS after the answer, no pad
token), a Llama whose pad token is its EOS (the answer ends in it), a decoder whose head is not
``score``, and BERT / DeBERTa text-pair models that read segment ids. The reference is what a model
card tells a user to run: ``model(**tokenizer.apply_chat_template(conv, return_dict=True, ...))`` or
``model(**tokenizer(prompt, response))`` on one unpadded pair, through a second copy of the model
loaded from disk, so nothing the scorer does to its own copy can leak into the reference.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import transformers

from curator.signals.reward import RewardScorer  # noqa: E402

WORDS = ("the sky is blue green grass red why how what when cat dog run jump very good bad answer question please "
         "thanks hello world tell me a story about").split()
SPECIAL = ["<pad>", "<s>", "</s>", "<unk>", "<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>",
           "<|eot_id|>", "<|im_start|>", "<|im_end|>", "<|endoftext|>", "<bos>", "<eos>", "<start_of_turn>",
           "<end_of_turn>", "[INST]", "[/INST]", "[CLS]", "[SEP]", "[PAD]", "[UNK]", "[MASK]"]

LLAMA3 = ("{{ bos_token }}{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>\n\n"
          "{{ m['content'] | trim }}<|eot_id|>{% endfor %}"
          "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}")
QWEN2 = ("{% if messages[0]['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
         "{% endif %}{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
         "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
GEMMA = ("{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}"
         "{% endif %}{% for m in messages %}{% set role = 'model' if m['role'] == 'assistant' else m['role'] %}"
         "<start_of_turn>{{ role }}\n{{ m['content'] | trim }}<end_of_turn>\n{% endfor %}"
         "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}")
MISTRAL = ("{{ bos_token }}{% for m in messages %}{% if m['role'] == 'user' %}[INST] {{ m['content'] }} [/INST]"
           "{% elif m['role'] == 'assistant' %}{{ m['content'] }}{{ eos_token }}{% endif %}{% endfor %}")

SIZES = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
             num_key_value_heads=2, max_position_embeddings=512, num_labels=1)


def _bpe(**special: str):
    """A byte-level BPE tokenizer trained on WORDS, every family's special tokens registered."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=SPECIAL,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    rng = np.random.default_rng(0)
    tk.train_from_iterator([" ".join(rng.choice(WORDS, 12)) for _ in range(300)], trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tk, **special)


def _wordpiece():
    """A BERT WordPiece tokenizer over WORDS: [CLS] a [SEP] b [SEP] with segment ids 0 / 1."""
    from transformers import BertTokenizerFast

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *sorted(set(WORDS)), ".", "?", "!", ","]
    return BertTokenizerFast(vocab=dict(zip(vocab, range(len(vocab)), strict=True)), do_lower_case=True)


class VHeadConfig(transformers.LlamaConfig):
    model_type = "curator_test_vhead"


class VHeadRewardModel(transformers.LlamaPreTrainedModel):
    """A decoder reward model whose head is `v_head` (as in some RLHF codebases) and that pools like HF."""

    config_class = VHeadConfig
    base_model_prefix = "model"

    def __init__(self, config):
        super().__init__(config)
        self.model = transformers.LlamaModel(config)
        self.v_head = torch.nn.Linear(config.hidden_size, 1, bias=False)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, **kwargs):
        hidden = self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        values = self.v_head(hidden)[..., 0]
        pad = self.config.pad_token_id
        if pad is None:
            if input_ids.shape[0] != 1:
                raise ValueError("no padding token")
            last = torch.full((1,), input_ids.shape[1] - 1)
        else:
            last = ((input_ids != pad).int() * torch.arange(input_ids.shape[1])).argmax(-1)
        return transformers.modeling_outputs.SequenceClassifierOutput(
            logits=values[torch.arange(input_ids.shape[0]), last][:, None])


def _family(name: str, path: Path) -> Path:
    """Build one family's tiny model + tokenizer under `path`."""
    tf = transformers
    torch.manual_seed(abs(hash(name)) % 1000)
    if name in ("bert", "deberta"):
        tok = _wordpiece()
        common = dict(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                      intermediate_size=64, max_position_embeddings=128, type_vocab_size=2, num_labels=1,
                      pad_token_id=tok.pad_token_id)
        if name == "bert":
            model = tf.BertForSequenceClassification(tf.BertConfig(**common))
        else:
            model = tf.DebertaV2ForSequenceClassification(tf.DebertaV2Config(
                **common, relative_attention=True, position_buckets=16, pos_att_type=["p2c", "c2p"],
                attn_implementation="eager"))
        with torch.no_grad():  # segment embeddings that matter, so dropping them shows
            model.base_model.embeddings.token_type_embeddings.weight.normal_(0, 2.0)
            model.classifier.weight.normal_(0, 1.0)
            for module in model.modules():  # the default init (std 0.02) gives nearly constant outputs
                if isinstance(module, torch.nn.Linear):
                    module.weight.normal_(0, 0.3)
    else:
        specials = {
            "llama3": dict(bos_token="<|begin_of_text|>", eos_token="<|eot_id|>"),
            "llama-pad-is-eos": dict(bos_token="<|begin_of_text|>", eos_token="<|eot_id|>", pad_token="<|eot_id|>"),
            "qwen2": dict(eos_token="<|im_end|>", pad_token="<|endoftext|>"),
            "gemma": dict(bos_token="<bos>", eos_token="<eos>", pad_token="<pad>"),
            "mistral": dict(bos_token="<s>", eos_token="</s>", unk_token="<unk>"),
            "vhead": dict(bos_token="<s>", eos_token="</s>"),
            "llama-plain": dict(bos_token="<s>", eos_token="</s>"),
        }[name]
        tok = _bpe(**specials)
        tok.chat_template = {"llama3": LLAMA3, "llama-pad-is-eos": LLAMA3, "qwen2": QWEN2, "gemma": GEMMA,
                             "mistral": MISTRAL, "vhead": MISTRAL, "llama-plain": None}[name]
        ids = dict(vocab_size=len(tok), pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id,
                   eos_token_id=tok.eos_token_id)
        if name == "qwen2":
            model = tf.Qwen2ForSequenceClassification(tf.Qwen2Config(**SIZES, **ids, tie_word_embeddings=False))
        elif name == "gemma":
            model = tf.Gemma2ForSequenceClassification(tf.Gemma2Config(**SIZES, **ids, head_dim=8, sliding_window=512,
                                                                       attn_implementation="eager"))
        elif name == "mistral":
            model = tf.MistralForSequenceClassification(tf.MistralConfig(**SIZES, **ids, sliding_window=None))
        elif name == "vhead":
            model = VHeadRewardModel(VHeadConfig(**SIZES, **ids))
        else:
            model = tf.LlamaForSequenceClassification(tf.LlamaConfig(**SIZES, **ids))
        head = model.v_head if name == "vhead" else model.score
        with torch.no_grad():
            head.weight.normal_(0, 1.0)
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


FAMILIES = ("llama3", "llama-pad-is-eos", "qwen2", "gemma", "mistral", "llama-plain", "bert", "deberta")


@pytest.fixture(scope="module")
def family_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("families")
    built: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in built:
            built[name] = _family(name, root / name)
        return built[name]

    return get


def _pairs(n: int, seed: int) -> list[tuple[str, str, str]]:
    rng = np.random.default_rng(seed)

    def text(k: int) -> str:
        return " ".join(rng.choice(WORDS, size=k))

    return [(text(int(rng.integers(2, 20))), text(int(rng.integers(1, 15))), text(int(rng.integers(1, 15))))
            for _ in range(n)]


def _reference_model(path: Path):
    if path.name == "vhead":
        return VHeadRewardModel.from_pretrained(path).eval()
    return transformers.AutoModelForSequenceClassification.from_pretrained(path).eval()


def _reference(path: Path, conv: list[dict[str, str]], response: str) -> float:
    """What a model card says: the tokenizer's own output, one unpadded sequence, the model's own forward."""
    tok = transformers.AutoTokenizer.from_pretrained(path)
    model = _reference_model(path)
    if tok.chat_template:
        enc = tok.apply_chat_template([*conv, {"role": "assistant", "content": response}], tokenize=True,
                                      return_dict=True, return_tensors="pt")
    elif tok.sep_token_id is not None:
        enc = tok(conv[-1]["content"], response, return_tensors="pt")
    else:
        enc = tok(conv[-1]["content"] + "\n" + response, return_tensors="pt")
    with torch.inference_mode():
        return float(model(**enc).logits[0, 0])


def _scorer(path: Path, **kwargs) -> RewardScorer:
    if path.name == "vhead":
        tok = transformers.AutoTokenizer.from_pretrained(path)
        return RewardScorer.from_model(_reference_model(path), tok, **kwargs)
    return RewardScorer(str(path), device="cpu", **kwargs)


@pytest.mark.parametrize("family", [*FAMILIES, "vhead"])
def test_family_matches_the_plain_hf_forward(family_dir, family):
    path = family_dir(family)
    pairs = _pairs(9, seed=len(family))
    scorer = _scorer(path, max_length=256, token_budget=512)
    out = scorer({"prompt": [p for p, _, _ in pairs], "response_a": [a for _, a, _ in pairs],
                  "response_b": [b for _, _, b in pairs]})
    ref_a = [_reference(path, [{"role": "user", "content": p}], a) for p, a, _ in pairs]
    ref_b = [_reference(path, [{"role": "user", "content": p}], b) for p, _, b in pairs]
    np.testing.assert_allclose(out["reward_a"], ref_a, atol=2e-4, rtol=1e-4)
    np.testing.assert_allclose(out["reward_b"], ref_b, atol=2e-4, rtol=1e-4)
    assert np.std(ref_a) > 0.01  # rows differ, so a permutation or a constant would be caught


def test_segment_ids_reach_text_pair_models(family_dir):
    """BERT pair models read token_type_ids: segment 1 for the response. Without them the rewards move."""
    scorer = _scorer(family_dir("bert"), max_length=64, token_budget=256)
    assert scorer.uses_token_type and not scorer.last_token_head
    ids, types = scorer.encode([[{"role": "user", "content": "why is the sky blue"}]], ["the sky is blue"])
    expected = scorer.tokenizer("why is the sky blue", "the sky is blue")
    assert ids[0] == expected["input_ids"] and types[0] == expected["token_type_ids"] and 1 in types[0]
    with torch.inference_mode():
        dropped = float(scorer.model(input_ids=torch.tensor(ids)).logits[0, 0])
    assert abs(scorer.score_ids(ids, types=types)[0] - dropped) > 1e-3


@pytest.mark.parametrize("family", ["llama3", "llama-pad-is-eos", "qwen2", "gemma", "mistral"])
def test_share_prompt_matches_the_plain_path(family_dir, family):
    path = family_dir(family)
    pairs = _pairs(12, seed=7)
    batch = {"prompt": [p for p, _, _ in pairs], "response_a": [a for _, a, _ in pairs],
             "response_b": [b if i % 5 else a for i, (_, a, b) in enumerate(pairs)]}
    plain = _scorer(path, max_length=256, token_budget=512)(batch)
    shared_scorer = _scorer(path, max_length=256, token_budget=512, share_prompt=True)
    assert shared_scorer.share_prompt
    shared = shared_scorer(batch)
    if family == "gemma":  # past half the sliding window the cache would drop tokens: no sharing
        assert not _scorer(path, max_length=300, token_budget=600, share_prompt=True).share_prompt
    np.testing.assert_allclose(shared["reward_a"], plain["reward_a"], atol=2e-4)
    np.testing.assert_allclose(shared["reward_b"], plain["reward_b"], atol=2e-4)


def test_system_turn_and_multi_turn_conversations(family_dir):
    """Qwen keeps a system turn; Gemma's template rejects one, so it is folded into the first user turn."""
    conv = [{"role": "system", "content": "please answer"}, {"role": "user", "content": "why is the sky blue"},
            {"role": "assistant", "content": "the sky is blue"}, {"role": "user", "content": "tell me a story"}]
    import json

    batch = {"prompt": ["x"], "prompt_messages": [json.dumps(conv)], "response_a": ["a cat"], "response_b": ["dog"]}
    qwen = _scorer(family_dir("qwen2"))(batch)
    np.testing.assert_allclose(qwen["reward_a"], [_reference(family_dir("qwen2"), conv, "a cat")], atol=2e-4)
    gemma = _scorer(family_dir("gemma"))(batch)
    folded = [{"role": "user", "content": "please answer\n\nwhy is the sky blue"}, *conv[2:]]
    np.testing.assert_allclose(gemma["reward_b"], [_reference(family_dir("gemma"), folded, "dog")], atol=2e-4)
