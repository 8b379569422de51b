"""TRL RewardTrainer launcher: `run(cfg, run_dir)` trains a sequence-classification reward model on an export.

Writes ``metrics.jsonl`` (TRL's loss / accuracy / margin per logging step), evaluates reward accuracy
on the export's test split (r(chosen) > r(rejected)), and saves ``model/`` (LoRA merged). Tokenizers
without an EOS token (BERT-like, e.g. the bundled MiniLM) get pre-tokenized ``chosen_ids`` /
``rejected_ids`` as sentence pairs [CLS] prompt [SEP] response [SEP] with the prompt truncated, which
is what TRL 1.16 needs for them. RewardTrainer DROPS pairs longer than `max_length`; the number is
logged and returned.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from curator.train.config import RewardRunConfig
from curator.train.data import load_dataset_splits
from curator.train.hf import check_chat_template, common_args, load_tokenizer, lora_config, save_final
from curator.train.metrics import make_callback

logger = logging.getLogger(__name__)


def _pretokenize(ds: Any, tok: Any, max_length: int) -> Any:
    def enc(ex: dict[str, Any]) -> dict[str, Any]:
        c = tok(ex["prompt"], ex["chosen"], truncation="only_first", max_length=max_length)["input_ids"]
        r = tok(ex["prompt"], ex["rejected"], truncation="only_first", max_length=max_length)["input_ids"]
        return {"chosen_ids": c, "rejected_ids": r}

    return ds.map(enc, remove_columns=[c for c in ("prompt", "chosen", "rejected") if c in ds.column_names])


def run(cfg: RewardRunConfig, run_dir: str | Path) -> dict[str, Any]:
    """Train, evaluate and save a reward model; returns the final metrics."""
    import torch
    from transformers import AutoModelForSequenceClassification
    from trl import RewardConfig, RewardTrainer

    run_dir = Path(run_dir)
    train, test, ai_left_out = load_dataset_splits(cfg.data, keep=("margin",) if cfg.use_margin else ())
    tok = load_tokenizer(cfg.base_model)
    check_chat_template(tok, train, cfg.base_model)
    if tok.eos_token is None:
        if isinstance(train[0]["prompt"], list):
            raise ValueError(f"{cfg.base_model!r} has no EOS token and the export is conversational; export with "
                             f"conversational=False for an encoder reward model.")
        logger.info("tokenizer has no EOS token: pre-tokenizing as sentence pairs")
        train = _pretokenize(train, tok, cfg.max_length)
        test = _pretokenize(test, tok, cfg.max_length) if test is not None else None
    n_train = len(train)
    model = AutoModelForSequenceClassification.from_pretrained(cfg.base_model, num_labels=1, dtype=torch.float32)
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tok.pad_token_id
    args = RewardConfig(**common_args(cfg, run_dir), center_rewards_coefficient=cfg.center_rewards_coefficient)
    trainer = RewardTrainer(model=model, args=args, train_dataset=train, eval_dataset=test, processing_class=tok,
                            callbacks=[make_callback(run_dir / "metrics.jsonl")],
                            peft_config=lora_config(cfg, "SEQ_CLS"))
    dropped = n_train - len(trainer.train_dataset)
    if dropped:
        logger.warning("RewardTrainer dropped %d of %d training pairs longer than max_length=%d; raise "
                       "`max_length` to keep them.", dropped, n_train, cfg.max_length)
    if not len(trainer.train_dataset):
        raise ValueError(f"Every training pair is longer than `max_length`={cfg.max_length}; raise it.")
    result = trainer.train()
    final: dict[str, Any] = {"train_pairs": len(trainer.train_dataset), "dropped_long_pairs": dropped,
                             "train_loss": float(result.training_loss)}
    if cfg.evaluate and test is not None and len(test):
        metrics = trainer.evaluate()
        final.update(eval_pairs=len(trainer.eval_dataset), eval_accuracy=metrics.get("eval_accuracy"),
                     eval_loss=metrics.get("eval_loss"), eval_margin=metrics.get("eval_margin"))
    if cfg.evaluate and ai_left_out:
        final["eval_ai_left_out"] = ai_left_out
    save_final(trainer, tok, run_dir / "model", merge_lora=cfg.use_lora)
    (run_dir / "eval.json").write_text(json.dumps(final, indent=2, default=str))
    return final
