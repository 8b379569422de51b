"""The TRL launchers on tiny Llama models saved to folders: reward (a training job in a real background
process, registered when it ends, then re-scoring), DPO in-process, and the conversational + LoRA paths."""

from __future__ import annotations

import json

import pytest

from curator.train import (
    DPORunConfig,
    RewardRunConfig,
    dpo,
    rescore,
    reward,
    run_log,
    run_metrics,
    submit_run,
    wait_run,
)

TINY = dict(max_steps=4, logging_steps=1, per_device_train_batch_size=4, max_length=64, precision="fp32")


def test_reward_background_register_rescore(toy_store, toy_export, tiny_model_dir, tmp_path):
    cfg = RewardRunConfig(data=str(toy_export.path), base_model=tiny_model_dir("reward"), learning_rate=1e-3, **TINY)
    run_id = submit_run(toy_store, cfg, export_id=toy_export.export_id, runs_dir=tmp_path / "runs").run_id
    info = wait_run(toy_store, run_id, timeout_s=400)
    assert info.status == "done", run_log(info.run_dir)
    steps = [m for m in run_metrics(info.run_dir) if "loss" in m and "eval_loss" not in m]
    assert [m["step"] for m in steps] == [1, 2, 3, 4] and all("accuracy" in m and "margin" in m for m in steps)
    assert any("eval_accuracy" in m for m in run_metrics(info.run_dir))
    assert info.final["eval_pairs"] == toy_export.n_test and info.final["dropped_long_pairs"] == 0
    assert (info.run_dir / "model" / "config.json").exists()
    model = toy_store.model(info.model_id)  # registered by the sync that saw the job end
    assert model.kind == "reward" and model.base_model == cfg.base_model
    run_id = rescore(toy_store, model.model_id, "toy")
    signals = toy_store.signals(run_id, ("margin", "p_correct"))
    assert signals.num_rows == 48 and None not in signals.column("margin").to_pylist()


@pytest.mark.parametrize("lora", [False, True])
def test_dpo_in_process(toy_export, tiny_model_dir, tmp_path, lora):
    cfg = DPORunConfig(data=str(toy_export.path), base_model=tiny_model_dir("causal"), learning_rate=1e-3,
                       use_lora=lora, lora_r=4, lora_target_modules="q_proj,v_proj", **TINY)
    final = dpo.run(cfg, tmp_path / "run")
    assert final["train_pairs"] == toy_export.n_train and 0.0 <= final["eval_accuracy"] <= 1.0
    lines = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert lines[0]["loss"] == pytest.approx(0.6931, abs=1e-3) and "rewards/margins" in lines[0]
    assert (tmp_path / "run" / "model" / "config.json").exists()
    assert not (tmp_path / "run" / "model" / "adapter_config.json").exists()  # LoRA merged for scoring


def test_reward_conversational_needs_template(toy_store, tiny_model_dir, tmp_path):
    from curator.curate import ExportOptions, Recipe, export

    conv = export(toy_store, Recipe(name="conv"), tmp_path / "exports", ExportOptions(name="conv", conversational=True))
    cfg = RewardRunConfig(data=str(conv.path), base_model=tiny_model_dir("reward"), **TINY)
    with pytest.raises(ValueError, match="chat template"):
        reward.run(cfg, tmp_path / "run")
