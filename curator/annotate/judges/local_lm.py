"""A local causal language model as a pairwise judge (transformers, CPU or GPU).

The model reads the pairwise prompt in both orders and is not asked to generate: the next-token
logits of the answer tokens ("A" and "B", with or without a leading space, whichever the tokenizer
has as single tokens) give P(first response better) in each order. `combine_orders` turns the two
into one verdict: agreeing orders keep it with confidence from both, contradicting orders become a
low-confidence tie. Raw probabilities go to `details`.

torch and transformers are imported when a judge is built, not when this module is imported.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from curator.annotate.judges.base import (
    DEFAULT_TEMPLATE,
    MAX_RESPONSE_CHARS,
    PairText,
    Verdict,
    build_prompt,
    combine_orders,
)

logger = logging.getLogger(__name__)


class LocalLMJudge:
    """Pairwise judge backed by a causal LM.

    Args:
        model: a loaded `PreTrainedModel` (causal LM) or a local path / hub id to load.
        tokenizer: its tokenizer (loaded from `model` when it is a path).
        name: the judge id in the log (default: the model's name or path).
        template: the pairwise prompt with {prompt}, {first}, {second}.
        max_chars: characters kept per response (and from the prompt's end).
        max_tokens: tokens kept from the end of the encoded prompt (the answer cue stays).
        device: "cpu", "cuda", ... (default: where the model is).
    """

    def __init__(self, model: Any, tokenizer: Any = None, *, name: str | None = None,
                 template: str = DEFAULT_TEMPLATE, max_chars: int = MAX_RESPONSE_CHARS, max_tokens: int = 2048,
                 device: str | None = None):
        try:
            import torch  # noqa: F401
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except ImportError as e:  # pragma: no cover - torch and transformers are dependencies
            raise ImportError("The local LM judge needs torch and transformers: pip install torch transformers") from e
        if isinstance(model, str):
            tokenizer = tokenizer or AutoTokenizer.from_pretrained(model)
            name = name or model
            model = AutoModelForCausalLM.from_pretrained(model)
        if tokenizer is None:
            raise ValueError("Pass the model's `tokenizer` when `model` is a loaded model.")
        self.model = model.eval()
        if device:
            self.model.to(device)
        self.tokenizer = tokenizer
        self.name = name or getattr(model.config, "_name_or_path", "") or "local-lm"
        self.template = template
        self.max_chars = max_chars
        self.max_tokens = max_tokens
        self.answer_ids = {label: self._token_ids(label) for label in ("A", "B")}
        missing = [k for k, v in self.answer_ids.items() if not v]
        if missing:
            raise ValueError(f"The tokenizer has no single token for answer(s) {missing}; use a template "
                             "whose answers are single tokens.")

    def _token_ids(self, label: str) -> list[int]:
        ids = set()
        for text in (label, " " + label):
            enc = self.tokenizer.encode(text, add_special_tokens=False)
            if len(enc) == 1 and enc[0] != getattr(self.tokenizer, "unk_token_id", None):
                ids.add(int(enc[0]))
        return sorted(ids)

    def _encode(self, text: str) -> Any:
        if getattr(self.tokenizer, "chat_template", None):
            ids = self.tokenizer.apply_chat_template([{"role": "user", "content": text}], add_generation_prompt=True,
                                                     tokenize=True, return_dict=False)
        else:
            ids = self.tokenizer.encode(text, add_special_tokens=True)
        return list(ids)[-self.max_tokens:]

    def p_first(self, text: str) -> float:
        """P(answer "A") / (P("A") + P("B")) at the next token after `text`."""
        import torch

        ids = torch.tensor([self._encode(text)], device=self.model.device)
        with torch.no_grad():
            logits = self.model(input_ids=ids).logits[0, -1].float()
        logp = torch.log_softmax(logits, dim=-1)
        a = torch.logsumexp(logp[self.answer_ids["A"]], dim=0)
        b = torch.logsumexp(logp[self.answer_ids["B"]], dim=0)
        return float(torch.sigmoid(a - b))

    def judge(self, pairs: Sequence[PairText]) -> list[Verdict]:
        out = []
        for pair in pairs:
            p_ab = self.p_first(build_prompt(pair, swapped=False, template=self.template, max_chars=self.max_chars))
            p_ba = self.p_first(build_prompt(pair, swapped=True, template=self.template, max_chars=self.max_chars))
            choice, confidence, details = combine_orders("A" if p_ab >= 0.5 else "B", "A" if p_ba >= 0.5 else "B",
                                                         p_first_ab=p_ab, p_first_ba=p_ba)
            details["model"] = self.name
            out.append(Verdict(pair.pair_id, choice, confidence, details))
        return out
