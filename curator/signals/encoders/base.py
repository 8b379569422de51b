"""What every encoder is (`_Encoder`), and the ONE (prompt, response) pair recipe of the token encoders.

A pair becomes the model's own text-pair template ``[CLS] prompt tail [SEP] response [SEP]`` with
the prompt keeping at most `PROMPT_SHARE` of the tokens (`_TokenEncoder`). Imports numpy only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from curator.signals.encoders.batching import _chunks

# Most of a pair's tokens the prompt tail may take when prompt + response are too long (see _TokenEncoder).
PROMPT_SHARE = 0.75


class _Encoder(Protocol):
    dim: int

    def encode(self, texts: list[str]) -> np.ndarray: ...

    def encode_pairs(self, prompts: list[str], responses: list[str]) -> np.ndarray: ...



class _TokenEncoder:
    """Shared tokenization for transformer encoders: texts or (prompt, response) pairs to token ids.

    A pair becomes ``[CLS] prompt [SEP] response [SEP]`` (the model's own pair template): the prompt
    tail first, in reading order, then the response. When the pair is too long, the prompt keeps at
    most `PROMPT_SHARE` of the tokens (its end; the start is cut) and the response the rest (its
    start; the end is cut); a short side lends its room to the other. Measured with MiniLM on HH-RLHF
    helpful-base (probe accuracy): at 256 tokens this matches "prompt tail, then response, cut at the
    end" (0.623 int8 vs 0.628 fp32) and beats "response first" (0.611); at 128 tokens all
    orders lose 2-3 points.
    """

    rust: Any
    max_length: int
    dim: int

    def _tokenize_texts(self, texts: list[str]) -> list[list[int]]:
        return [e.ids for e in self.rust.encode_batch(texts)]

    def _tokenize_pairs(self, pairs: list[tuple[str, str]]) -> list[list[int]]:
        if getattr(self, "_rust_untruncated", None) is None:
            from tokenizers import Tokenizer

            self._rust_untruncated = Tokenizer.from_str(self.rust.to_str())
            self._rust_untruncated.no_truncation()
        enc_p = self._rust_untruncated.encode_batch([p for p, _ in pairs], add_special_tokens=False)
        enc_r = self._rust_untruncated.encode_batch([r for _, r in pairs], add_special_tokens=False)
        room = self.max_length - self.rust.num_special_tokens_to_add(True)
        prompt_cap = int(PROMPT_SHARE * room)
        out = []
        for p, r in zip(enc_p, enc_r, strict=True):
            n_p, n_r = len(p.ids), len(r.ids)
            if n_p + n_r > room:
                keep_p = min(n_p, max(prompt_cap, room - n_r))
                p.truncate(keep_p, direction="left")
                r.truncate(room - keep_p, direction="right")
            out.append(self.rust.post_process(p, r, add_special_tokens=True).ids)
        return out

    def _run(self, ids: list[list[int]]) -> np.ndarray:
        raise NotImplementedError

    def _encode(self, items: list[Any], tokenize: Callable[[list[Any]], list[list[int]]]) -> np.ndarray:
        out = np.zeros((len(items), self.dim), dtype=np.float32)
        for start, ids in _chunks(items, tokenize):
            out[start:start + len(ids)] = self._run(ids)
        return out

    def encode(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts, self._tokenize_texts)

    def encode_pairs(self, prompts: list[str], responses: list[str]) -> np.ndarray:
        return self._encode(list(zip(prompts, responses, strict=True)), self._tokenize_pairs)
