"""Transformer encoders in torch: a Hugging Face encoder with our own sorted batching (fp16 on CUDA),
or any other sentence-transformers model through its own ``encode``."""

from __future__ import annotations

import logging
import os
from typing import Any

import numpy as np

from curator.signals.encoders.base import _Encoder, _TokenEncoder
from curator.signals.encoders.batching import _pad, _rust_tokenizer, length_batches
from curator.signals.text import embed_texts

logger = logging.getLogger(__name__)


class _TransformerEncoder(_TokenEncoder):
    """A Hugging Face encoder with mean or CLS pooling, run in torch with our own sorted batching."""

    def __init__(self, model: Any, tokenizer: Any, *, pooling: str, device: str, max_length: int, batch_size: int,
                 token_budget: int) -> None:
        self.model = model
        self.rust = _rust_tokenizer(tokenizer, max_length)
        self.max_length = max_length
        self.pad_id = int(tokenizer.pad_token_id or 0)
        self.pooling = pooling
        self.device = device
        self.batch_size = batch_size
        self.token_budget = token_budget
        self.dim = int(model.config.hidden_size)
        self.uses_token_type = "token_type_ids" in getattr(tokenizer, "model_input_names", ())

    def _run(self, ids: list[list[int]]) -> np.ndarray:
        import torch

        lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
        pooled, order = [], []
        pin = self.device.startswith("cuda")
        with torch.inference_mode():
            for idx in length_batches(lengths, batch_size=self.batch_size, token_budget=self.token_budget):
                input_ids, mask = _pad(ids, idx, self.pad_id)
                t_ids, t_mask = torch.from_numpy(input_ids), torch.from_numpy(mask)
                if pin:
                    t_ids, t_mask = t_ids.pin_memory(), t_mask.pin_memory()
                t_ids = t_ids.to(self.device, non_blocking=True)
                t_mask = t_mask.to(self.device, non_blocking=True)
                kwargs = {"token_type_ids": torch.zeros_like(t_ids)} if self.uses_token_type else {}
                # No padding in this batch (common once sorted): no mask, so SDPA may pick its fastest
                # kernel and transformers does not check the mask on the device (a sync).
                hidden = self.model(input_ids=t_ids, attention_mask=None if mask.all() else t_mask,
                                    **kwargs).last_hidden_state
                if self.pooling == "cls":
                    emb = hidden[:, 0]
                else:
                    m = t_mask.unsqueeze(-1).to(hidden.dtype)
                    emb = (hidden * m).sum(1) / m.sum(1).clamp(min=1)
                pooled.append(torch.nn.functional.normalize(emb.float(), dim=-1))
                order.append(idx)
            # One device-to-host copy per chunk: no sync per batch.
            emb = torch.cat(pooled).cpu().numpy()
        out = np.empty_like(emb)
        out[np.concatenate(order)] = emb
        return out




class _SentenceTransformerEncoder:
    """Any other sentence-transformers model through `SentenceTransformer.encode` (it sorts by length too).

    Pairs are embedded as text: prompt tail, the tokenizer's separator token (or a blank line), response;
    the model cuts the end of long texts.
    """

    def __init__(self, model: Any, *, batch_size: int, prompt_chars: int) -> None:
        self.model = model
        self.batch_size = batch_size
        self.prompt_chars = prompt_chars
        sep_token = getattr(getattr(model, "tokenizer", None), "sep_token", None)
        self.sep = f" {sep_token} " if sep_token else "\n\n"
        get_dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        self.dim = int(get_dim())

    def encode(self, texts: list[str]) -> np.ndarray:
        emb = self.model.encode(texts, batch_size=self.batch_size, normalize_embeddings=True,
                                convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(emb, dtype=np.float32)

    def encode_pairs(self, prompts: list[str], responses: list[str]) -> np.ndarray:
        return self.encode(embed_texts(prompts, responses, prompt_chars=self.prompt_chars, sep=self.sep))




def _load_sentence_transformer(path: str, *, device: str, max_length: int | None, batch_size: int,
                               token_budget: int | None, prompt_chars: int) -> _Encoder:
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(path, device=device, local_files_only=os.path.isdir(path))
    if max_length:
        st.max_seq_length = max_length
    if device.startswith("cuda"):
        st.half()
    modules = list(st)
    names = [type(m).__name__ for m in modules]
    pooling = getattr(modules[1], "pooling_mode", None) if len(modules) > 1 else None
    hf_model = getattr(modules[0], "model", None) if modules else None
    tokenizer = getattr(st, "tokenizer", None)
    fast = (names[:2] == ["Transformer", "Pooling"] and set(names[2:]) <= {"Normalize"} and pooling in ("mean", "cls")
            and hf_model is not None and hasattr(tokenizer, "backend_tokenizer")
            and not any((getattr(st, "prompts", None) or {}).values()))
    if not fast:
        logger.info("%s is not a plain Transformer + Pooling model; using SentenceTransformer.encode.", path)
        return _SentenceTransformerEncoder(st, batch_size=batch_size, prompt_chars=prompt_chars)
    length = int(st.max_seq_length or 512)
    on_gpu = device.startswith("cuda")
    return _TransformerEncoder(hf_model.eval(), tokenizer, pooling=pooling, device=device, max_length=length,
                               batch_size=max(batch_size, 4096) if on_gpu else batch_size,
                               token_budget=token_budget or (65536 if on_gpu else batch_size * length))
