from __future__ import annotations

from dataclasses import fields

import pytest

from curator.train import CONFIGS, DPORunConfig, EmbeddedRewardRunConfig, RewardRunConfig, config_from_dict


@pytest.mark.parametrize("cls", list(CONFIGS.values()), ids=list(CONFIGS))
def test_every_field_has_help(cls):
    empty = [f.name for f in fields(cls) if not f.metadata.get("help", "").strip()]
    assert not empty, f"{cls.__name__} fields without help: {empty}"


@pytest.mark.parametrize("cfg", [
    EmbeddedRewardRunConfig(data="d", use_margin=True),
    RewardRunConfig(data="d", base_model="m", use_lora=True, shuffle=False),
    DPORunConfig(data="d", base_model="m", beta=0.2, loss_type="ipo"),
], ids=["embedded", "reward", "dpo"])
def test_round_trip(cfg):
    assert config_from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize("make, match", [
    (lambda: EmbeddedRewardRunConfig(), "`data` is required"),
    (lambda: RewardRunConfig(data="d"), "`base_model` is required"),
    (lambda: RewardRunConfig(data="d", base_model="m", precision="fp8"), "precision"),
    (lambda: DPORunConfig(data="d", base_model="m", beta=0), "beta"),
    (lambda: EmbeddedRewardRunConfig(data="d", learning_rate=-1), "learning_rate"),
    (lambda: config_from_dict({"method": "ppo", "data": "d"}), "Unknown training method"),
    (lambda: config_from_dict({"method": "embedded", "data": "d", "lr": 1}), "no field"),
])
def test_invalid(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_defaults_are_safe():
    cfg = DPORunConfig(data="d", base_model="m")
    assert (cfg.learning_rate, cfg.beta, cfg.use_lora, cfg.precision) == (1e-6, 0.1, False, "auto")


def test_several_gpus_use_accelerate_launch(monkeypatch, tmp_path):
    from curator.train import runs

    monkeypatch.setattr(runs, "_gpu_count", lambda: 2)
    cmd = runs.build_command(RewardRunConfig(data="d", base_model="m"), tmp_path)
    assert cmd[1:6] == ["-m", "accelerate.commands.launch", "--num_processes", "2", "-m"]
    assert cmd[-2:] == ["curator.train.run", str(tmp_path)]
    assert runs.build_command(EmbeddedRewardRunConfig(data="d"), tmp_path)[1:3] == ["-m", "curator.train.run"]
    monkeypatch.setattr(runs, "_gpu_count", lambda: 1)
    assert "accelerate.commands.launch" not in runs.build_command(DPORunConfig(data="d", base_model="m"), tmp_path)
