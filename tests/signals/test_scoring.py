"""ScorerConfig: the one source of the scorer knobs, its validation, and what it does to the cache key."""

from __future__ import annotations

from dataclasses import fields

import pytest

from curator.signals import ScorerConfig, SignalConfig
from curator.signals.scoring import RUNTIME_FIELDS, parse_devices


def test_round_trip_and_help():
    cfg = ScorerConfig(dtype="bfloat16", share_prompt=True, devices="cuda:0, cuda:1", token_budget=4096,
                       max_length=1024)
    assert cfg.devices == ("cuda:0", "cuda:1")
    assert ScorerConfig.from_dict(cfg.to_dict()) == cfg
    assert all(h.strip() for h in ScorerConfig.help().values())
    signal = SignalConfig(rewards=("m",), scorer=cfg)
    assert SignalConfig.from_dict(signal.to_dict()) == signal
    assert SignalConfig(scorer=cfg.to_dict()).scorer == cfg  # a dict works too
    assert parse_devices(" a,b  c ") == ("a", "b", "c")
    assert RUNTIME_FIELDS < {f.name for f in fields(ScorerConfig)}


@pytest.mark.parametrize(("kwargs", "match"), [({"dtype": "fp8"}, "dtype"), ({"max_length": 1}, "max_length"),
                                               ({"token_budget": 100, "max_length": 512}, "token_budget"),
                                               ({"batch_size": 0}, "batch_size"),
                                               ({"device_map": "auto", "devices": ("cuda:0", "cuda:1")}, "device_map")])
def test_invalid_values_name_the_field(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ScorerConfig(**kwargs)
    with pytest.raises(ValueError, match="ScorerConfig has no field"):
        ScorerConfig.from_dict({"speed": 1})


def test_cache_key_counts_only_what_changes_the_numbers():
    key = SignalConfig(rewards=("m",)).cache_key(1, "d")
    fast = ScorerConfig(share_prompt=True, token_budget=1 << 17, batch_size=64, attn_implementation="eager",
                        devices=("cuda:0", "cuda:1"))
    assert SignalConfig(rewards=("m",), scorer=fast).cache_key(1, "d") == key  # same rewards, faster
    assert SignalConfig(rewards=("m",), scorer=ScorerConfig(dtype="float32")).cache_key(1, "d") != key
    assert SignalConfig(rewards=("m",), scorer=ScorerConfig(max_length=512)).cache_key(1, "d") != key
    # without reward models the scorer changes nothing (and keys of earlier runs stay valid)
    assert SignalConfig(scorer=ScorerConfig(dtype="float32")).cache_key(1, "d") == SignalConfig().cache_key(1, "d")
