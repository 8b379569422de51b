"""Shared pieces of the TRL launchers: precision, TrainingArguments fields, LoRA, tokenizer fixes.

CPU traps handled here (see the project's verified notes): TRL defaults to bf16=True, which fails
on a machine without a GPU, so precision is resolved explicitly; `activation_checkpointing=False`
avoids the gradient_checkpointing deprecation; pin_memory is only asked for with CUDA. Heavy
imports (torch, peft) happen inside the functions.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from curator.train.config import _HFRunConfig

logger = logging.getLogger(__name__)


def resolve_precision(precision: str) -> dict[str, bool]:
    """{'bf16': ..., 'fp16': ...} for TrainingArguments; 'auto' is bf16 on a capable GPU, else fp32."""
    import torch

    cuda = torch.cuda.is_available()
    if precision == "auto":
        precision = "bf16" if cuda and torch.cuda.is_bf16_supported() else "fp32"
    if precision in ("bf16", "fp16") and not cuda:
        raise ValueError(f"`precision`={precision!r} needs a CUDA GPU, and none is visible; use 'fp32' or 'auto'.")
    return {"bf16": precision == "bf16", "fp16": precision == "fp16"}


def common_args(cfg: _HFRunConfig, run_dir: Path) -> dict[str, Any]:
    """Keyword arguments shared by RewardConfig and DPOConfig."""
    import torch

    return dict(
        output_dir=str(run_dir / "checkpoints"), learning_rate=cfg.learning_rate,
        num_train_epochs=cfg.num_train_epochs, max_steps=cfg.max_steps,
        per_device_train_batch_size=cfg.per_device_train_batch_size,
        per_device_eval_batch_size=cfg.per_device_train_batch_size,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps, logging_steps=cfg.logging_steps,
        warmup_steps=cfg.warmup_steps, seed=cfg.seed, max_length=cfg.max_length, save_strategy="no",
        eval_strategy="no", report_to="none", activation_checkpointing=False,
        dataloader_pin_memory=torch.cuda.is_available(),
        train_sampling_strategy="random" if cfg.shuffle else "sequential",
        **resolve_precision(cfg.precision),
    )


def lora_config(cfg: _HFRunConfig, task_type: str) -> Any:
    """A peft LoraConfig from the run config, or None when LoRA is off."""
    if not cfg.use_lora:
        return None
    try:
        from peft import LoraConfig
    except ImportError as e:
        raise ImportError("LoRA needs peft: pip install 'curator[train]'") from e
    targets: Any = cfg.lora_target_modules
    if targets != "all-linear":
        targets = [t.strip() for t in targets.split(",") if t.strip()]
    extra = {"modules_to_save": ["score"]} if task_type == "SEQ_CLS" else {}
    return LoraConfig(task_type=task_type, r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                      target_modules=targets, **extra)


def load_tokenizer(path: str) -> Any:
    """The base model's tokenizer with a pad token (EOS stands in when there is none)."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    if tok.pad_token is None and tok.eos_token is not None:
        tok.pad_token = tok.eos_token
    return tok


def check_chat_template(tok: Any, dataset: Any, base: str) -> None:
    """Conversational exports need a chat template; say so before TRL fails deep inside."""
    if dataset is None or not len(dataset):
        return
    first = dataset[0]["prompt"]
    if isinstance(first, list) and not getattr(tok, "chat_template", None):
        raise ValueError(f"The export is conversational but the tokenizer of {base!r} has no chat template. "
                         f"Export with conversational=False, or use a chat model.")


def save_final(trainer: Any, tok: Any, out: Path, *, merge_lora: bool) -> None:
    """Save the trained model (LoRA merged into the weights, so scoring needs no peft) and tokenizer."""
    model = trainer.model
    if merge_lora and hasattr(model, "merge_and_unload"):
        model = model.merge_and_unload()
        model.save_pretrained(str(out))
    else:
        trainer.save_model(str(out))
    tok.save_pretrained(str(out))
