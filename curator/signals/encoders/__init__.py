"""Text encoders behind `curator.signals.embed.EmbeddingScorer`: one module per backend.

- `base`: the `_Encoder` protocol and the ONE (prompt, response) token-pair recipe (`_TokenEncoder`).
- `batching`: length-sorted token-budget batches, padding, tokenization a chunk ahead (shared with
  `curator.signals.reward`).
- `transformer`: Hugging Face encoders in torch (fp16 on CUDA) and other sentence-transformers models.
- `onnx`: the int8 ONNX encoder and its build recipe. `static`: the model2vec encoder and its recipe.
- `cache`: where derived models are built once.

Imports numpy only at import time; torch, onnxruntime and model2vec inside the backends.
"""

from __future__ import annotations

from curator.signals.encoders.batching import length_batches
from curator.signals.encoders.cache import bundled_minilm_path, default_cache_dir
from curator.signals.encoders.onnx import build_onnx_int8
from curator.signals.encoders.static import build_static

__all__ = ["build_onnx_int8", "build_static", "bundled_minilm_path", "default_cache_dir", "length_batches"]
