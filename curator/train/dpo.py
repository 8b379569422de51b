"""TRL DPOTrainer launcher: `run(cfg, run_dir)` trains a causal LM on an export with DPO.

The model is loaded from `cfg.base_model` (a folder or hub id) and, unless `cfg.ref_model` names
another model, TRL rebuilds the frozen reference from the same path (with LoRA the adapter-free base
serves as reference). Writes ``metrics.jsonl`` (loss, rewards/accuracies, rewards/margins, ...),
evaluates the implicit-reward accuracy on the test split (beta * log-ratio of chosen above that of
rejected: ``eval_rewards/accuracies``), and saves ``model/``. DPO ignores a `margin` column.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from curator.train.config import DPORunConfig
from curator.train.data import load_dataset_splits
from curator.train.hf import check_chat_template, common_args, load_tokenizer, lora_config, save_final
from curator.train.metrics import make_callback

logger = logging.getLogger(__name__)


def run(cfg: DPORunConfig, run_dir: str | Path) -> dict[str, Any]:
    """Train, evaluate and save a DPO policy; returns the final metrics."""
    import torch
    from transformers import AutoModelForCausalLM
    from trl import DPOConfig, DPOTrainer

    run_dir = Path(run_dir)
    train, test, ai_left_out = load_dataset_splits(cfg.data)
    tok = load_tokenizer(cfg.base_model)
    check_chat_template(tok, train, cfg.base_model)
    if tok.eos_token is None:
        raise ValueError(f"{cfg.base_model!r} has no EOS token; DPO needs a causal LM tokenizer with one.")
    model = AutoModelForCausalLM.from_pretrained(cfg.base_model, dtype=torch.float32)
    ref = None
    if cfg.ref_model and not cfg.use_lora:
        ref = AutoModelForCausalLM.from_pretrained(cfg.ref_model, dtype=torch.float32)
    args = DPOConfig(**common_args(cfg, run_dir), beta=cfg.beta, loss_type=[cfg.loss_type],
                     label_smoothing=cfg.label_smoothing)
    trainer = DPOTrainer(model=model, ref_model=ref, args=args, train_dataset=train, eval_dataset=test,
                         processing_class=tok, callbacks=[make_callback(run_dir / "metrics.jsonl")],
                         peft_config=lora_config(cfg, "CAUSAL_LM"))
    result = trainer.train()
    final: dict[str, Any] = {"train_pairs": len(trainer.train_dataset), "train_loss": float(result.training_loss)}
    if cfg.evaluate and test is not None and len(test):
        metrics = trainer.evaluate()
        final.update(eval_pairs=len(test), eval_loss=metrics.get("eval_loss"),
                     eval_accuracy=metrics.get("eval_rewards/accuracies"),
                     eval_margin=metrics.get("eval_rewards/margins"))
    if cfg.evaluate and ai_left_out:
        final["eval_ai_left_out"] = ai_left_out
    save_final(trainer, tok, run_dir / "model", merge_lora=cfg.use_lora)
    (run_dir / "eval.json").write_text(json.dumps(final, indent=2, default=str))
    return final
