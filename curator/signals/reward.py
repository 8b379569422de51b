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
- for decoder reward models (a ``score`` head over the last token) the head is applied only at the
  token the model's own forward would read (the rightmost one that is not ``config.pad_token_id``,
  the last one when that is unset), found on the host from the unpadded sequence, so the batch's
  padding never moves it;
- text-pair models (BERT, DeBERTa) get their segment ids (``token_type_ids``); models whose head is
  not a ``score`` layer run their own forward, padded with an id that keeps its pooling where an
  unpadded call puts it;
- `prepare` (tokenization, CPU) and `run` (the model) are separate, so a caller can tokenize the
  next chunk in a thread while the device works on this one; `run` copies results to the host once;
- `share_prompt=True` runs the tokens the two responses share (the prompt) once and continues both
  responses from its KV cache: about a third less compute when prompts are two thirds of the tokens.

Sequences longer than `max_length` lose tokens from the start of the prompt (a leading BOS is kept),
never from the response, because the reward is read at the end.

This module imports no duckdb and no streamlit and does no database I/O.
"""

from __future__ import annotations

import gc
import inspect
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from curator.signals.encoders.batching import length_batches, pad_right
from curator.signals.scoring import ScorerConfig
from curator.signals.text import Messages, plain_conversation, prompt_messages

logger = logging.getLogger(__name__)

REWARD_COLUMNS: tuple[str, ...] = ("reward_a", "reward_b")
_PLAIN_JOIN = "\n"
_D = ScorerConfig()  # the defaults (one source: `curator.signals.scoring.ScorerConfig`)


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


def _read_index(seq: Sequence[int], hf_pad: int | None) -> int:
    """Where Hugging Face's sequence-classification forward reads an unpadded sequence: its rightmost
    token that is not ``pad_token_id`` (0 when every token is), or the last token when that is unset."""
    if hf_pad is None:
        return len(seq) - 1
    for i in range(len(seq) - 1, -1, -1):
        if seq[i] != hf_pad:
            return i
    return 0


def _sliding_window(config: Any) -> int | None:
    """The sliding-attention window of a decoder config, None when every layer attends to everything."""
    window = getattr(config, "sliding_window", None)
    types = getattr(config, "layer_types", None)
    if window is None or (types is not None and "sliding_attention" not in types):
        return None
    if types is None and getattr(config, "use_sliding_window", True) is False:
        return None
    return int(window)


def _resolve_dtype(dtype: Any, device: str) -> Any:
    import torch

    if dtype is None or dtype == "auto":
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    return getattr(torch, dtype) if isinstance(dtype, str) else dtype


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    if n == 0:
        return 0
    diff = np.flatnonzero(np.asarray(a[:n]) != np.asarray(b[:n]))
    return int(diff[0]) if len(diff) else n


def _fold_system(conv: Messages) -> Messages:
    """The conversation with a leading system turn prepended to the first user turn (unchanged without one)."""
    if not conv or conv[0]["role"] != "system" or len(conv) < 2 or conv[1]["role"] != "user":
        return conv
    return [{"role": "user", "content": f"{conv[0]['content']}\n\n{conv[1]['content']}"}, *conv[2:]]


@dataclass
class _Plan:
    """A batch after `RewardScorer.prepare`: what `RewardScorer.run` sends to the device.

    ``plain``: (ids, segment ids or None) per sequence scored alone, with ``rows`` its slot in the
    (2N,) output (pair i's a is slot i, its b slot N + i). Shared-prompt pairs: ``shared_rows`` (pair
    index), ``prefixes``, ``conts_a``, ``conts_b``.
    """

    n: int
    rows: np.ndarray
    plain: list[tuple[list[int], list[int] | None]]
    shared_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    prefixes: list[list[int]] = field(default_factory=list)
    conts_a: list[list[int]] = field(default_factory=list)
    conts_b: list[list[int]] = field(default_factory=list)
    pair_id: np.ndarray | None = None


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

    def __init__(self, model: str, *, device: str | None = None, dtype: Any = _D.dtype,
                 max_length: int = _D.max_length, token_budget: int = _D.token_budget,
                 batch_size: int = _D.batch_size, attn_implementation: str = _D.attn_implementation,
                 share_prompt: bool = _D.share_prompt, device_map: str | None = _D.device_map,
                 trust_remote_code: bool = False) -> None:
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        if not isinstance(model, str) or not model:
            raise ValueError(f"`model` must be a local path or hub id of a reward model, got {model!r}.")
        _check_lengths(max_length, token_budget)
        if device_map is None:
            device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        load = dict(dtype=_resolve_dtype(dtype, device or ("cuda" if torch.cuda.is_available() else "cpu")),
                    trust_remote_code=trust_remote_code,
                    # Straight onto the device (no full copy in host RAM first); with device_map="auto"
                    # accelerate spreads the layers over every visible GPU.
                    device_map=device_map or device)
        try:
            hf_model = AutoModelForSequenceClassification.from_pretrained(
                model, attn_implementation=attn_implementation, **load)
        except ValueError as e:
            if "attention implementation" not in str(e) and "attn_implementation" not in str(e):
                raise
            # DeBERTa, Gemma 2 and others have no SDPA path: their own default attention is the one they have.
            logger.info("%s does not support attn_implementation=%r; using its default.", model, attn_implementation)
            hf_model = AutoModelForSequenceClassification.from_pretrained(model, **load)
        if device_map is not None:
            device = str(hf_model.get_input_embeddings().weight.device)
        tokenizer = AutoTokenizer.from_pretrained(model, trust_remote_code=trust_remote_code)
        self._setup(hf_model, tokenizer, name=model, device=device, max_length=max_length,
                    token_budget=token_budget, batch_size=batch_size, share_prompt=share_prompt)

    @classmethod
    def from_model(cls, model: Any, tokenizer: Any, *, max_length: int = _D.max_length,
                   token_budget: int = _D.token_budget, batch_size: int = _D.batch_size,
                   share_prompt: bool = _D.share_prompt, name: str | None = None) -> RewardScorer:
        """A scorer around an already loaded sequence-classification model (on its device and dtype) and tokenizer."""
        _check_lengths(max_length, token_budget)
        scorer = cls.__new__(cls)
        device = str(model.get_input_embeddings().weight.device)
        scorer._setup(model, tokenizer, name=name or getattr(model, "name_or_path", "") or type(model).__name__,
                      device=device, max_length=max_length, token_budget=token_budget, batch_size=batch_size,
                      share_prompt=share_prompt)
        return scorer

    def _setup(self, model: Any, tokenizer: Any, *, name: str, device: str, max_length: int, token_budget: int,
               batch_size: int, share_prompt: bool) -> None:
        import torch

        # Model
        self.model_name = name
        self.model = model.eval()
        self.device = device
        self.dtype = next(model.parameters()).dtype
        self.max_length = max_length
        self.token_budget = token_budget
        self.batch_size = batch_size
        if getattr(model.config, "num_labels", 1) != 1:
            logger.warning("%s has %d outputs; using output 0 as the reward.", name, model.config.num_labels)
        # Processing class
        self.tokenizer = tok = tokenizer
        text_config = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
        self._text_config = text_config
        # The model's own pad id (None when unset) decides where its forward reads a sequence; never changed here.
        self.hf_pad = text_config.pad_token_id
        self.pad_id = next((p for p in (tok.pad_token_id, self.hf_pad, tok.eos_token_id) if p is not None), 0)
        self.use_chat_template = bool(getattr(tok, "chat_template", None))
        self.bos_id = tok.bos_token_id
        forward_args = inspect.signature(model.forward).parameters
        # Text-pair models read segment ids: BERT-style tokenizers make them, the model takes them.
        self.uses_token_type = ("token_type_ids" in getattr(tok, "model_input_names", ())
                                and "token_type_ids" in forward_args)
        # Decoder reward models: our own last-token head (needed for the shared-prompt KV cache).
        prefix = getattr(model, "base_model_prefix", "")
        self._backbone = getattr(model, prefix, None) if prefix else None
        self._head = getattr(model, "score", None)
        self.last_token_head = (self._backbone is not None and isinstance(self._head, torch.nn.Linear)
                                and not getattr(model.config, "is_encoder_decoder", False)
                                and not self.uses_token_type)
        # transformers 5.25 renamed the backbone's `past_key_values` argument to `cache`.
        self._cache_arg = ("cache" if self._backbone is not None and "cache" in
                           inspect.signature(self._backbone.forward).parameters else "past_key_values")
        self.share_prompt = share_prompt
        window = _sliding_window(text_config)
        if share_prompt and self.last_token_head and window is not None and 2 * max_length > window:
            # A padded prefix plus its continuation may pass the window: the sliding layers' cache then
            # drops tokens the plain forward keeps.
            logger.warning("`share_prompt` needs 2 * max_length (%d) within %s's sliding window (%d); prompts are "
                           "scored with each response. Lower max_length to share them.", 2 * max_length, name, window)
            self.share_prompt = False
        elif share_prompt and not self.last_token_head:
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
        """Token ids of each (prompt messages, response), as the reward model reads them (see `encode`)."""
        return self.encode(conversations, responses, truncate=truncate)[0]

    def encode(self, conversations: Sequence[Messages], responses: Sequence[str], *,
               truncate: bool = True) -> tuple[list[list[int]], list[list[int]] | None]:
        """Token ids, and segment ids for text-pair models (else None), of each (prompt messages, response).

        With a chat template: the template over the messages plus ``{"role": "assistant", "content":
        response}``, tokenized without extra special tokens (the template has them); a template that
        rejects a system turn (Gemma's) gets it folded into the first user turn. Without one: a
        tokenizer with a separator (BERT-style) gets the text pair ``[CLS] prompt [SEP] response [SEP]``
        with the prompt cut from its start, and its segment ids; others get ``prompt + "\\n" + response``.
        """
        tok = self.tokenizer
        if self.use_chat_template:
            convs = [[*m, {"role": "assistant", "content": r}] for m, r in zip(conversations, responses, strict=True)]
            ids = tok(self._render(convs), add_special_tokens=False)["input_ids"]
        elif tok.sep_token_id is not None and tok.cls_token_id is not None:
            # Text pair through the Rust backend: cut the prompt from its start and the response from
            # its end on token level, then add the model's own special tokens ([CLS] p [SEP] r [SEP]).
            rust = self._rust()
            pairs = [plain_conversation(m, r) if m else ("", r) for m, r in zip(conversations, responses, strict=True)]
            enc_p = rust.encode_batch([p for p, _ in pairs], add_special_tokens=False)
            enc_r = rust.encode_batch([r for _, r in pairs], add_special_tokens=False)
            room = self.max_length - rust.num_special_tokens_to_add(True)
            ids, types = [], []
            for p, r in zip(enc_p, enc_r, strict=True):
                full = len(p.ids) + len(r.ids)
                if len(r.ids) > room:
                    r.truncate(room, direction="right")
                if len(p.ids) + len(r.ids) > room:
                    p.truncate(room - len(r.ids), direction="left")
                if len(p.ids) + len(r.ids) < full:
                    self.n_truncated += 1
                enc = rust.post_process(p, r, add_special_tokens=True)
                ids.append(enc.ids)
                types.append(enc.type_ids)
            return ids, (types if self.uses_token_type else None)
        else:
            texts = [(plain_conversation(m, r)[0] + _PLAIN_JOIN + r) if m else r
                     for m, r in zip(conversations, responses, strict=True)]
            ids = tok(texts)["input_ids"]
        return ([self._truncate(list(x)) for x in ids] if truncate else [list(x) for x in ids]), None

    def _render(self, convs: list[Messages]) -> list[str]:
        """Chat-template texts; a conversation the template rejects is retried with its system turn folded in."""
        tok = self.tokenizer
        try:
            return list(tok.apply_chat_template(convs, tokenize=False))
        except Exception:  # noqa: BLE001 (jinja raises TemplateError or anything the template raises)
            pass
        texts = []
        for i, conv in enumerate(convs):
            try:
                texts.append(tok.apply_chat_template(conv, tokenize=False))
                continue
            except Exception as e:  # noqa: BLE001
                folded = _fold_system(conv)
                if folded is conv:
                    raise ValueError(f"Row {i}: the chat template of {self.model_name} rejects this conversation: "
                                     f"{e}") from None
            try:
                texts.append(tok.apply_chat_template(folded, tokenize=False))
            except Exception as e:  # noqa: BLE001
                raise ValueError(f"Row {i}: the chat template of {self.model_name} rejects this conversation "
                                 f"(also with its system turn folded into the first user turn): {e}") from None
        return texts

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

    def _forward_plain(self, seqs: list[list[int]], types: list[list[int]] | None = None) -> Any:
        """(B,) float32 rewards of right-padded sequences, on the device."""
        import torch

        if self.last_token_head:
            ids, mask = pad_right(seqs, self.pad_id)
            t_ids = self._to(ids)
            # An unpadded batch needs no mask: SDPA can then run its causal fast path.
            hidden = self._backbone(input_ids=t_ids, attention_mask=None if mask.all() else self._to(mask),
                                    use_cache=False).last_hidden_state
            read = self._to(np.fromiter((_read_index(s, self.hf_pad) for s in seqs), np.int64, len(seqs)))
            h = hidden[torch.arange(len(seqs), device=hidden.device), read]
            return self._head(h)[:, 0].float()
        # The model's own forward. A decoder head reads the rightmost token that is not
        # config.pad_token_id, so padding with that id reads where an unpadded call does; with no pad
        # id set (a batch of one would read the last token) pad with an id no sequence ends with.
        pad = self.hf_pad
        if pad is None:
            ends = {s[-1] for s in seqs if s}
            pad = next(p for p in (self.pad_id, *range(len(ends) + 1)) if p not in ends)
        ids, mask = pad_right(seqs, pad)
        kwargs = {}
        if types is not None:
            kwargs["token_type_ids"] = self._to(pad_right(types, 0)[0])
        saved = self._text_config.pad_token_id
        self._text_config.pad_token_id = pad
        try:
            return self.model(input_ids=self._to(ids), attention_mask=self._to(mask), **kwargs).logits[:, 0].float()
        finally:
            self._text_config.pad_token_id = saved

    def _forward_shared(self, prefixes: list[list[int]], conts_a: list[list[int]], conts_b: list[list[int]]) -> Any:
        """(B, 2) rewards: each prefix once, then both continuations from its KV cache."""
        import torch

        b = len(prefixes)
        p_ids, p_mask = pad_right(prefixes, self.pad_id)
        t_pids, t_pmask = self._to(p_ids), self._to(p_mask)
        out = self._backbone(input_ids=t_pids, attention_mask=t_pmask, use_cache=True)
        cache = getattr(out, "cache", None) or out.past_key_values
        cache.batch_repeat_interleave(2)
        conts = [c for pair in zip(conts_a, conts_b, strict=True) for c in pair]
        c_ids, c_mask = pad_right(conts, self.pad_id)
        t_cids, t_cmask = self._to(c_ids), self._to(c_mask)
        prefix_len = t_pmask.sum(1).repeat_interleave(2)
        t_pmask2 = t_pmask.repeat_interleave(2, dim=0)
        # Right-padded prefixes leave masked slots between a prompt's end and its continuation; the
        # mask hides them and explicit positions keep RoPE offsets as if there were no gap.
        position_ids = prefix_len[:, None] + torch.arange(c_ids.shape[1], device=t_cids.device)[None, :]
        full_mask = torch.cat([t_pmask2, t_cmask], dim=1)
        hidden = self._backbone(input_ids=t_cids, attention_mask=full_mask, position_ids=position_ids,
                                use_cache=True, **{self._cache_arg: cache}).last_hidden_state
        # Where the model's forward reads prefix + continuation: `_plan` keeps it inside the continuation,
        # so it is the continuation's own read position.
        reads = [_read_index(c, self.hf_pad) for c in conts]
        h = hidden[torch.arange(2 * b, device=hidden.device), self._to(np.asarray(reads, np.int64))]
        del cache, out
        return self._head(h)[:, 0].float().view(b, 2)

    # ------------------------------------------------------------------ public

    def score_conversations(self, conversations: Sequence[Messages], responses: Sequence[str]) -> np.ndarray:
        """(N,) float32 rewards of N (prompt messages, response), in input order."""
        ids, types = self.encode(conversations, responses)
        return self.score_ids(ids, types=types)

    def score_ids(self, seqs: Sequence[Sequence[int]], *, types: Sequence[Sequence[int]] | None = None
                  ) -> np.ndarray:
        """(N,) float32 rewards of N token-id sequences (already templated), in input order.

        `types`: segment ids of text-pair models (same lengths as `seqs`), as `encode` returns them.
        """
        n = len(seqs)
        r = self.run(_Plan(n=n, rows=np.arange(n), plain=self._plain_part(seqs, types)))
        return r["reward_a"]

    def score_pair_ids(self, seqs_a: Sequence[Sequence[int]], seqs_b: Sequence[Sequence[int]], *,
                       types_a: Sequence[Sequence[int]] | None = None,
                       types_b: Sequence[Sequence[int]] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Rewards of aligned sequence pairs: ((N,), (N,)) float32. Shares prompts when `share_prompt`.

        With `share_prompt`, the longest common token prefix of a pair (leaving each side at least
        one token) runs once and both continuations run from its KV cache; a pair sharing nothing is
        scored the plain way.
        """
        if len(seqs_a) != len(seqs_b):
            raise ValueError(f"`seqs_a` and `seqs_b` differ in length: {len(seqs_a)} and {len(seqs_b)}.")
        r = self.run(self._plan(seqs_a, seqs_b, types_a, types_b))
        return r["reward_a"], r["reward_b"]

    def _plain_part(self, seqs: Sequence[Sequence[int]], types: Sequence[Sequence[int]] | None
                    ) -> list[tuple[list[int], list[int] | None]]:
        if types is None:
            return [(self._truncate(list(s)), None) for s in seqs]
        if len(types) != len(seqs):
            raise ValueError(f"`types` has {len(types)} rows for {len(seqs)} sequences.")
        return [(list(s), list(t)) for s, t in zip(seqs, types, strict=True)]  # cut by `encode` already

    def _plan(self, seqs_a: Sequence[Sequence[int]], seqs_b: Sequence[Sequence[int]],
              types_a: Sequence[Sequence[int]] | None = None, types_b: Sequence[Sequence[int]] | None = None
              ) -> _Plan:
        """The host-side work of scoring pairs: truncation and (with `share_prompt`) prefix splitting."""
        n = len(seqs_a)
        if not self.share_prompt:
            plain = self._plain_part(seqs_a, types_a) + self._plain_part(seqs_b, types_b)
            return _Plan(n=n, rows=np.r_[np.arange(n), np.arange(n) + n], plain=plain)
        plain, rows, prefixes, ca, cb, shared = [], [], [], [], [], []
        for i, (a, b) in enumerate(zip(seqs_a, seqs_b, strict=True)):
            a, b = self._truncate_pair(list(a), list(b))
            # The read token (see `_read_index`) must be in each continuation, not in the shared part.
            k = min(_common_prefix(a, b), _read_index(a, self.hf_pad), _read_index(b, self.hf_pad))
            if k < 1:
                plain += [(a, None), (b, None)]
                rows += [i, i + n]
                continue
            shared.append(i)
            prefixes.append(a[:k])
            ca.append(a[k:])
            cb.append(b[k:])
        return _Plan(n=n, rows=np.asarray(rows, np.int64), plain=plain, shared_rows=np.asarray(shared, np.int64),
                     prefixes=prefixes, conts_a=ca, conts_b=cb)

    def _shared_batches(self, plan: _Plan) -> list[np.ndarray]:
        m = len(plan.prefixes)
        p_len = np.fromiter((len(p) for p in plan.prefixes), dtype=np.int64, count=m)
        c_len = np.fromiter((max(len(x), len(y)) for x, y in zip(plan.conts_a, plan.conts_b, strict=True)),
                            dtype=np.int64, count=m)
        # Longest pairs first; a batch of B pairs holds B*(prompt + response) padded tokens at most, which
        # bounds both passes and the (2B, prompt + response) KV cache.
        order = np.argsort(-(p_len + c_len), kind="stable")
        batches, start = [], 0
        while start < m:
            end, pmax, cmax = start + 1, int(p_len[order[start]]), int(c_len[order[start]])
            while end < m and 2 * (end - start + 1) <= self.batch_size:
                i = order[end]
                pm, cm = max(pmax, int(p_len[i])), max(cmax, int(c_len[i]))
                if (end - start + 1) * (pm + cm) > self.token_budget:
                    break
                pmax, cmax, end = pm, cm, end + 1
            batches.append(order[start:end])
            start = end
        return batches

    def run(self, plan: _Plan) -> dict[str, np.ndarray]:
        """The device work of a `prepare`d batch: ``reward_a``, ``reward_b`` (N,) float32, input order.

        Every forward pass queues its result on the device; one copy brings them all to the host.
        """
        import torch

        out = np.zeros(2 * plan.n, dtype=np.float32)
        results, slots = [], []
        with torch.inference_mode():
            if plan.plain:
                lengths = np.fromiter((len(s) for s, _ in plan.plain), dtype=np.int64, count=len(plan.plain))
                has_types = plan.plain[0][1] is not None
                for idx in length_batches(lengths, batch_size=self.batch_size, token_budget=self.token_budget):
                    seqs = [plan.plain[i][0] for i in idx]
                    types = [plan.plain[i][1] for i in idx] if has_types else None
                    results.append(self._forward_plain(seqs, types))
                    slots.append(plan.rows[idx])
            for idx in (self._shared_batches(plan) if plan.prefixes else ()):
                results.append(self._forward_shared([plan.prefixes[i] for i in idx], [plan.conts_a[i] for i in idx],
                                                    [plan.conts_b[i] for i in idx]).reshape(-1))
                rows = plan.shared_rows[idx]
                slots.append(np.stack([rows, rows + plan.n], 1).reshape(-1))
            if results:
                out[np.concatenate(slots)] = torch.cat(results).cpu().numpy()
        out = {"reward_a": out[:plan.n], "reward_b": out[plan.n:]}
        if plan.pair_id is not None:
            out["pair_id"] = plan.pair_id
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

    def prepare(self, batch: dict[str, Any]) -> _Plan:
        """The host work of `__call__`: read the columns, template, tokenize, truncate, split prompts.

        Thread-safe to run ahead of `run` on another batch (the Rust tokenizers release the GIL).

        Args:
            batch: ``prompt`` (N strings: plain text or a JSON list of messages), optional
                ``prompt_messages`` (N JSON strings or None; wins over ``prompt`` when set),
                ``response_a`` and ``response_b`` (N strings). Numpy object arrays or lists.
                A ``pair_id`` column is passed through.
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
        pair_id = np.asarray(batch["pair_id"]) if "pair_id" in batch else None
        if n == 0:
            return _Plan(n=0, rows=np.zeros(0, np.int64), plain=[], pair_id=pair_id)
        convs = []
        for i, (p, m) in enumerate(zip(prompts, messages, strict=True)):
            try:
                convs.append(prompt_messages(_text_or_none(p), _text_or_none(m)))
            except (ValueError, TypeError) as e:
                raise ValueError(f"Row {i}: {e}") from None
        a = [_text_or_none(x) or "" for x in a]
        b = [_text_or_none(x) or "" for x in b]
        before = self.n_truncated
        ids, types = self.encode(convs + convs, a + b, truncate=False)
        plan = self._plan(ids[:n], ids[n:], None if types is None else types[:n], None if types is None else types[n:])
        if self.n_truncated > before:
            logger.warning("%d of %d sequences were longer than max_length=%d and lost the start of their prompt.",
                           self.n_truncated - before, 2 * n, self.max_length)
        plan.pair_id = pair_id
        return plan

    def __call__(self, batch: dict[str, Any]) -> dict[str, np.ndarray]:
        """Score a batch of pairs: `run` of `prepare` (see there for the columns).

        Returns:
            ``reward_a``, ``reward_b``: (N,) float32 (+ ``pair_id`` when given).
        """
        return self.run(self.prepare(batch))

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
