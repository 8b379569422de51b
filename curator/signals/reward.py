"""Reward-model scoring of preference pairs: strings in, one float32 reward per response out.

`RewardScorer` runs any Hugging Face ``AutoModelForSequenceClassification`` reward model (local path
or hub id) over a batch of pairs (``prompt`` or ``prompt_messages``, ``response_a``, ``response_b``)
and returns ``reward_a`` and ``reward_b`` (N,), higher meaning the model prefers that response. It
runs the same way in-process and as a Ray Data ``map_batches`` callable class.

How it stays fast and bounded:

- every sequence is tokenized once (chat template when the tokenizer has one), then sorted by length
  and cut into batches of at most `token_budget` padded tokens, padded per batch; results go back to
  input order;
- bf16 weights and SDPA attention on CUDA, fp32 on CPU, ``torch.inference_mode``;
- for decoder reward models (a ``score`` head over the last token) the head is applied only at each
  sequence's last real token, found from the attention mask, so a pad id that equals EOS cannot
  shift it;
- `share_prompt=True` runs the tokens the two responses share (the prompt) once and continues both
  responses from its KV cache: about a third less compute when prompts are two thirds of the tokens.

Sequences longer than `max_length` lose tokens from the start of the prompt (a leading BOS is kept),
never from the response, because the reward is read at the end.

This module imports no duckdb and no streamlit and does no database I/O.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from curator.signals.embed import length_batches
from curator.signals.text import Messages, plain_conversation, prompt_messages

logger = logging.getLogger(__name__)

REWARD_COLUMNS: tuple[str, ...] = ("reward_a", "reward_b")
_PLAIN_JOIN = "\n"


def _text_or_none(value: Any) -> Any:
    """None for missing values (None, NaN from pandas/Arrow); strings and message lists unchanged."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    return value if isinstance(value, (str, list)) else str(value)


def _check_lengths(max_length: int, token_budget: int) -> None:
    if max_length < 2:
        raise ValueError(f"`max_length` must be at least 2, got {max_length}.")
    if token_budget < max_length:
        raise ValueError(f"`token_budget` ({token_budget}) must be at least `max_length` ({max_length}), "
                         "so that the longest sequence fits in one pass. Raise `token_budget` or lower `max_length`.")


def _pad_right(seqs: Sequence[Sequence[int]], pad_id: int) -> tuple[np.ndarray, np.ndarray]:
    width = max(1, max(len(s) for s in seqs))
    ids = np.full((len(seqs), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(seqs), width), dtype=np.int64)
    for j, s in enumerate(seqs):
        ids[j, :len(s)] = s
        mask[j, :len(s)] = 1
    return ids, mask


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


class RewardScorer:
    """Score both responses of preference pairs with a sequence-classification reward model.

    Usable in-process and as a Ray Data callable class::

        ds.map_batches(RewardScorer, fn_constructor_args=("Skywork/Skywork-Reward-V2-Qwen3-0.6B",),
                       batch_size=2048, concurrency=4, num_gpus=1, batch_format="numpy")

    Args:
        model: local path or hub id of an ``AutoModelForSequenceClassification`` checkpoint with one
            output (the reward; with several, column 0 is used).
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``; None picks CUDA when available.
        dtype: torch dtype or its name (``"bfloat16"``); None means bf16 on CUDA and fp32 on CPU.
        max_length: most tokens per sequence; longer ones lose the start of the prompt.
        token_budget: most padded tokens per forward pass (memory bound). With `share_prompt` it
            bounds prompt tokens and response tokens per pass separately.
        attn_implementation: ``"sdpa"``, ``"eager"``, ``"flash_attention_2"``...
        share_prompt: run the shared prompt once and both responses from its KV cache (decoder
            models with a ``score`` head only; others fall back to the plain path with a warning).
        trust_remote_code: passed to ``from_pretrained``; off by default.

    The public protocol: ``name``, ``__call__(batch) -> dict[str, np.ndarray]``, `score_conversations`.
    """

    name = "reward"

    def __init__(self, model: str, *, device: str | None = None, dtype: Any = None, max_length: int = 2048,
                 token_budget: int = 65536, attn_implementation: str = "sdpa", share_prompt: bool = False,
                 trust_remote_code: bool = False) -> None:
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        if not isinstance(model, str) or not model:
            raise ValueError(f"`model` must be a local path or hub id of a reward model, got {model!r}.")
        _check_lengths(max_length, token_budget)
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        if dtype is None:
            dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
        elif isinstance(dtype, str):
            dtype = getattr(torch, dtype)
        hf_model = AutoModelForSequenceClassification.from_pretrained(
            model, dtype=dtype, attn_implementation=attn_implementation, trust_remote_code=trust_remote_code,
        ).to(device)
        tokenizer = AutoTokenizer.from_pretrained(model, trust_remote_code=trust_remote_code)
        self._setup(hf_model, tokenizer, name=model, device=device, max_length=max_length,
                    token_budget=token_budget, share_prompt=share_prompt)

    @classmethod
    def from_model(cls, model: Any, tokenizer: Any, *, max_length: int = 2048, token_budget: int = 65536,
                   share_prompt: bool = False, name: str | None = None) -> RewardScorer:
        """A scorer around an already loaded sequence-classification model (on its device and dtype) and tokenizer."""
        _check_lengths(max_length, token_budget)
        scorer = cls.__new__(cls)
        device = str(next(model.parameters()).device)
        scorer._setup(model, tokenizer, name=name or getattr(model, "name_or_path", "") or type(model).__name__,
                      device=device, max_length=max_length, token_budget=token_budget, share_prompt=share_prompt)
        return scorer

    def _setup(self, model: Any, tokenizer: Any, *, name: str, device: str, max_length: int, token_budget: int,
               share_prompt: bool) -> None:
        import torch

        # Model
        self.model_name = name
        self.model = model.eval()
        self.device = device
        self.dtype = next(model.parameters()).dtype
        self.max_length = max_length
        self.token_budget = token_budget
        if getattr(model.config, "num_labels", 1) != 1:
            logger.warning("%s has %d outputs; using output 0 as the reward.", name, model.config.num_labels)
        # Processing class
        self.tokenizer = tok = tokenizer
        self.pad_id = tok.pad_token_id if tok.pad_token_id is not None else (tok.eos_token_id or 0)
        if model.config.pad_token_id is None:
            model.config.pad_token_id = self.pad_id
        self.use_chat_template = bool(getattr(tok, "chat_template", None))
        self.bos_id = tok.bos_token_id
        # Decoder reward models: our own last-token head (needed for the shared-prompt KV cache).
        prefix = getattr(model, "base_model_prefix", "")
        self._backbone = getattr(model, prefix, None) if prefix else None
        self._head = getattr(model, "score", None)
        self.last_token_head = (self._backbone is not None and isinstance(self._head, torch.nn.Linear)
                                and not getattr(model.config, "is_encoder_decoder", False))
        self.share_prompt = share_prompt
        if share_prompt and not self.last_token_head:
            logger.warning("`share_prompt` needs a decoder reward model with a `score` head; %s (%s) has none, "
                           "so prompts are scored with each response. Set share_prompt=False to silence this.",
                           name, type(model).__name__)
            self.share_prompt = False
        self.n_truncated = 0
        self._rust_tok: Any = None

    # ------------------------------------------------------------------ tokenization

    def _truncate(self, ids: list[int]) -> list[int]:
        if len(ids) <= self.max_length:
            return ids
        self.n_truncated += 1
        if self.bos_id is not None and ids and ids[0] == self.bos_id:
            return ids[:1] + ids[len(ids) - self.max_length + 1:]
        return ids[len(ids) - self.max_length:]

    def tokenize(self, conversations: Sequence[Messages], responses: Sequence[str], *,
                 truncate: bool = True) -> list[list[int]]:
        """Token ids of each (prompt messages, response), as the reward model reads them.

        With a chat template: the template over the messages plus ``{"role": "assistant", "content":
        response}``, tokenized without extra special tokens (the template has them). Without one: a
        tokenizer with a separator (BERT-style) gets the text pair ``[CLS] prompt [SEP] response [SEP]``
        with the prompt cut from its start; others get ``prompt + "\\n" + response``.
        """
        tok = self.tokenizer
        if self.use_chat_template:
            convs = [[*m, {"role": "assistant", "content": r}] for m, r in zip(conversations, responses, strict=True)]
            texts = tok.apply_chat_template(convs, tokenize=False)
            ids = tok(list(texts), add_special_tokens=False)["input_ids"]
        elif tok.sep_token_id is not None and tok.cls_token_id is not None:
            # Text pair through the Rust backend: cut the prompt from its start and the response from
            # its end on token level, then add the model's own special tokens ([CLS] p [SEP] r [SEP]).
            rust = self._rust()
            pairs = [plain_conversation(m, r) if m else ("", r) for m, r in zip(conversations, responses, strict=True)]
            enc_p = rust.encode_batch([p for p, _ in pairs], add_special_tokens=False)
            enc_r = rust.encode_batch([r for _, r in pairs], add_special_tokens=False)
            room = self.max_length - rust.num_special_tokens_to_add(True)
            ids = []
            for p, r in zip(enc_p, enc_r, strict=True):
                full = len(p.ids) + len(r.ids)
                if len(r.ids) > room:
                    r.truncate(room, direction="right")
                if len(p.ids) + len(r.ids) > room:
                    p.truncate(room - len(r.ids), direction="left")
                if len(p.ids) + len(r.ids) < full:
                    self.n_truncated += 1
                ids.append(rust.post_process(p, r, add_special_tokens=True).ids)
            return ids
        else:
            texts = [(plain_conversation(m, r)[0] + _PLAIN_JOIN + r) if m else r
                     for m, r in zip(conversations, responses, strict=True)]
            ids = tok(texts)["input_ids"]
        return [self._truncate(list(x)) for x in ids] if truncate else [list(x) for x in ids]

    def _rust(self) -> Any:
        """The tokenizer's Rust backend without the padding/truncation a tokenizer.json may carry."""
        if self._rust_tok is None:
            from tokenizers import Tokenizer

            self._rust_tok = Tokenizer.from_str(self.tokenizer.backend_tokenizer.to_str())
            self._rust_tok.no_padding()
            self._rust_tok.no_truncation()
        return self._rust_tok

    # ------------------------------------------------------------------ forward passes

    def _to(self, array: np.ndarray) -> Any:
        import torch

        t = torch.from_numpy(array)
        if self.device.startswith("cuda"):
            t = t.pin_memory().to(self.device, non_blocking=True)
        return t

    def _forward_plain(self, seqs: list[list[int]]) -> Any:
        """(B,) float32 rewards of right-padded sequences, on the device."""
        import torch

        ids, mask = _pad_right(seqs, self.pad_id)
        t_ids, t_mask = self._to(ids), self._to(mask)
        if self.last_token_head:
            # An unpadded batch needs no mask: SDPA can then run its causal fast path.
            hidden = self._backbone(input_ids=t_ids, attention_mask=None if mask.all() else t_mask,
                                    use_cache=False).last_hidden_state
            last = t_mask.sum(1) - 1
            h = hidden[torch.arange(len(seqs), device=hidden.device), last]
            return self._head(h)[:, 0].float()
        return self.model(input_ids=t_ids, attention_mask=t_mask).logits[:, 0].float()

    def _forward_shared(self, prefixes: list[list[int]], conts_a: list[list[int]], conts_b: list[list[int]]) -> Any:
        """(B, 2) rewards: each prefix once, then both continuations from its KV cache."""
        import torch

        b = len(prefixes)
        p_ids, p_mask = _pad_right(prefixes, self.pad_id)
        t_pids, t_pmask = self._to(p_ids), self._to(p_mask)
        out = self._backbone(input_ids=t_pids, attention_mask=t_pmask, use_cache=True)
        cache = out.past_key_values
        cache.batch_repeat_interleave(2)
        conts = [c for pair in zip(conts_a, conts_b, strict=True) for c in pair]
        c_ids, c_mask = _pad_right(conts, self.pad_id)
        t_cids, t_cmask = self._to(c_ids), self._to(c_mask)
        prefix_len = t_pmask.sum(1).repeat_interleave(2)
        t_pmask2 = t_pmask.repeat_interleave(2, dim=0)
        # Right-padded prefixes leave masked slots between a prompt's end and its continuation; the
        # mask hides them and explicit positions keep RoPE offsets as if there were no gap.
        position_ids = prefix_len[:, None] + torch.arange(c_ids.shape[1], device=t_cids.device)[None, :]
        full_mask = torch.cat([t_pmask2, t_cmask], dim=1)
        hidden = self._backbone(input_ids=t_cids, attention_mask=full_mask, position_ids=position_ids,
                                past_key_values=cache, use_cache=True).last_hidden_state
        last = t_cmask.sum(1) - 1
        h = hidden[torch.arange(2 * b, device=hidden.device), last]
        del cache, out
        return self._head(h)[:, 0].float().view(b, 2)

    # ------------------------------------------------------------------ public

    def score_conversations(self, conversations: Sequence[Messages], responses: Sequence[str]) -> np.ndarray:
        """(N,) float32 rewards of N (prompt messages, response), in input order."""
        return self.score_ids(self.tokenize(conversations, responses))

    def score_ids(self, seqs: Sequence[Sequence[int]]) -> np.ndarray:
        """(N,) float32 rewards of N token-id sequences (already templated), in input order."""
        import torch

        seqs = [self._truncate(list(s)) for s in seqs]
        out = np.zeros(len(seqs), dtype=np.float32)
        if not seqs:
            return out
        lengths = np.fromiter((len(s) for s in seqs), dtype=np.int64, count=len(seqs))
        results, orders = [], []
        with torch.inference_mode():
            for idx in length_batches(lengths, batch_size=len(seqs), token_budget=self.token_budget):
                results.append(self._forward_plain([seqs[i] for i in idx]))
                orders.append(idx)
            out[np.concatenate(orders)] = torch.cat(results).cpu().numpy()
        return out

    def _truncate_pair(self, a: list[int], b: list[int]) -> tuple[list[int], list[int]]:
        """Cut an over-long pair from the start of its shared prompt (same tokens from both), keeping a BOS."""
        over = max(len(a), len(b)) - self.max_length
        if over <= 0:
            return a, b
        keep = 1 if self.bos_id is not None and a and a[0] == self.bos_id else 0
        if _common_prefix(a, b) - over - keep >= 1:
            self.n_truncated += 1
            return a[:keep] + a[keep + over:], b[:keep] + b[keep + over:]
        return self._truncate(a), self._truncate(b)

    def score_pair_ids(self, seqs_a: Sequence[Sequence[int]], seqs_b: Sequence[Sequence[int]]
                       ) -> tuple[np.ndarray, np.ndarray]:
        """Rewards of aligned sequence pairs: ((N,), (N,)) float32. Shares prompts when `share_prompt`.

        With `share_prompt`, the longest common token prefix of a pair (leaving each side at least
        one token) runs once and both continuations run from its KV cache; a pair sharing nothing is
        scored the plain way.
        """
        if len(seqs_a) != len(seqs_b):
            raise ValueError(f"`seqs_a` and `seqs_b` differ in length: {len(seqs_a)} and {len(seqs_b)}.")
        n = len(seqs_a)
        if not self.share_prompt:
            r = self.score_ids([*seqs_a, *seqs_b])
            return r[:n], r[n:]
        import torch

        out = np.zeros((n, 2), dtype=np.float32)
        prefixes, ca, cb, shared, plain = [], [], [], [], []
        for i, (a, b) in enumerate(zip(seqs_a, seqs_b, strict=True)):
            a, b = self._truncate_pair(list(a), list(b))
            k = min(_common_prefix(a, b), len(a) - 1, len(b) - 1)
            if k < 1:
                plain.append((i, a, b))
                continue
            shared.append(i)
            prefixes.append(a[:k])
            ca.append(a[k:])
            cb.append(b[k:])
        if plain:
            r = self.score_ids([a for _, a, _ in plain] + [b for _, _, b in plain])
            rows = np.array([i for i, _, _ in plain])
            out[rows, 0], out[rows, 1] = r[:len(plain)], r[len(plain):]
        if not shared:
            return out[:, 0], out[:, 1]
        m = len(shared)
        p_len = np.fromiter((len(p) for p in prefixes), dtype=np.int64, count=m)
        c_len = np.fromiter((max(len(x), len(y)) for x, y in zip(ca, cb, strict=True)), dtype=np.int64, count=m)
        # Longest pairs first; a batch of B pairs holds B*(prompt + response) padded tokens at most, which
        # bounds both passes and the (2B, prompt + response) KV cache.
        order = np.argsort(-(p_len + c_len), kind="stable")
        results, orders, start = [], [], 0
        with torch.inference_mode():
            while start < m:
                end, pmax, cmax = start + 1, int(p_len[order[start]]), int(c_len[order[start]])
                while end < m:
                    i = order[end]
                    pm, cm = max(pmax, int(p_len[i])), max(cmax, int(c_len[i]))
                    if (end - start + 1) * (pm + cm) > self.token_budget:
                        break
                    pmax, cmax, end = pm, cm, end + 1
                idx = order[start:end]
                results.append(self._forward_shared([prefixes[i] for i in idx], [ca[i] for i in idx],
                                                    [cb[i] for i in idx]))
                orders.append(idx)
                start = end
            out[np.asarray(shared)[np.concatenate(orders)]] = torch.cat(results).cpu().numpy()
        return out[:, 0], out[:, 1]

    def __call__(self, batch: dict[str, Any]) -> dict[str, np.ndarray]:
        """Score a batch of pairs.

        Args:
            batch: ``prompt`` (N strings: plain text or a JSON list of messages), optional
                ``prompt_messages`` (N JSON strings or None; wins over ``prompt`` when set),
                ``response_a`` and ``response_b`` (N strings). Numpy object arrays or lists.
                A ``pair_id`` column is passed through.

        Returns:
            ``reward_a``, ``reward_b``: (N,) float32 (+ ``pair_id`` when given).
        """
        missing = [c for c in ("response_a", "response_b") if c not in batch]
        if missing or ("prompt" not in batch and "prompt_messages" not in batch):
            raise ValueError(f"Batch needs `prompt` (or `prompt_messages`), `response_a`, `response_b`; "
                             f"it has {sorted(batch)}.")
        a, b = list(batch["response_a"]), list(batch["response_b"])
        n = len(a)
        prompts = list(batch["prompt"]) if "prompt" in batch else [None] * n
        messages = list(batch["prompt_messages"]) if "prompt_messages" in batch else [None] * n
        if not len(prompts) == len(messages) == n == len(b):
            raise ValueError(f"Columns differ in length: prompt {len(prompts)}, prompt_messages {len(messages)}, "
                             f"response_a {n}, response_b {len(b)}.")
        if n == 0:
            out = {"reward_a": np.zeros(0, np.float32), "reward_b": np.zeros(0, np.float32)}
            return out | ({"pair_id": np.asarray(batch["pair_id"])} if "pair_id" in batch else {})
        convs = []
        for i, (p, m) in enumerate(zip(prompts, messages, strict=True)):
            try:
                convs.append(prompt_messages(_text_or_none(p), _text_or_none(m)))
            except (ValueError, TypeError) as e:
                raise ValueError(f"Row {i}: {e}") from None
        a = [_text_or_none(x) or "" for x in a]
        b = [_text_or_none(x) or "" for x in b]
        before = self.n_truncated
        ids = self.tokenize(convs + convs, a + b, truncate=False)
        reward_a, reward_b = self.score_pair_ids(ids[:n], ids[n:])
        if self.n_truncated > before:
            logger.warning("%d of %d sequences were longer than max_length=%d and lost the start of their prompt.",
                           self.n_truncated - before, 2 * n, self.max_length)
        out = {"reward_a": reward_a, "reward_b": reward_b}
        if "pair_id" in batch:
            out["pair_id"] = np.asarray(batch["pair_id"])
        return out

    def close(self) -> None:
        """Free the model (and its GPU memory)."""
        import torch

        self.model = self._backbone = self._head = None
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    def __repr__(self) -> str:
        return (f"RewardScorer(model={self.model_name!r}, device={self.device!r}, dtype={self.dtype}, "
                f"share_prompt={self.share_prompt})")


def score_ensemble(models: Sequence[str], batch: dict[str, Any], **kwargs: Any) -> dict[str, np.ndarray]:
    """Per-model reward margins ``reward_a - reward_b`` (N,) float32, one model loaded at a time.

    Args:
        models: reward model paths or hub ids; each becomes a key of the result.
        batch: the columns `RewardScorer.__call__` takes.
        **kwargs: `RewardScorer` options (device, dtype, max_length, token_budget, share_prompt...).

    Returns:
        ``{model: margins}``; a positive margin means the model prefers response a.
    """
    if not models:
        raise ValueError("`models` is empty; pass at least one reward model path or hub id.")
    if len(set(models)) != len(models):
        raise ValueError(f"`models` has duplicates: {list(models)}.")
    out: dict[str, np.ndarray] = {}
    for name in models:
        scorer = RewardScorer(name, **kwargs)
        try:
            r = scorer(batch)
            out[name] = (r["reward_a"] - r["reward_b"]).astype(np.float32)
        finally:
            scorer.close()
    return out
