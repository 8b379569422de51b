"""LLM descriptions of features against a scripted OpenAI-compatible endpoint on 127.0.0.1 (the real
client, `OpenAIJudge.ask`): a described feature is scored on pairs it did not see."""

from __future__ import annotations

import json

import numpy as np
import pytest
from chat_server import ChatServer

from curator.annotate.judges.openai_compat import OpenAIJudge
from curator.feature_descriptions import describe_features, parse_choice
from curator.signals.features import FeatureConfig, compute_features

WORDS = ("sorry", "haha", "recipe", "python", "garden", "music")


def _answer(prompt: str) -> str:
    """Describes as "says sorry" when most MORE lines say sorry, else "tells a joke"; scores a property by
    looking for its word in each response (A, B or N)."""
    if prompt.startswith("Below are pairs"):
        more = [ln for ln in prompt.splitlines() if ln.startswith("MORE:")]
        sorry = sum("sorry" in ln for ln in more)
        return "says sorry" if sorry >= len(more) / 2 else "tells a joke haha"
    word = "sorry" if "sorry" in prompt.split("\n")[0] else "haha"
    a = prompt.split("### Response A")[1].split("### Response B")[0]
    b = prompt.split("### Response B")[1]
    return "N" if (word in a) == (word in b) else ("A" if word in a else "B")


def _Scripted() -> ChatServer:
    return ChatServer(_answer)


@pytest.fixture(scope="module")
def planted():
    rng = np.random.default_rng(0)
    n, d = 1200, 32
    atoms = rng.normal(size=(6, d))
    atoms /= np.linalg.norm(atoms, axis=1, keepdims=True)
    ca = (rng.random((n, 6)) < 0.25) * rng.uniform(0.6, 1.4, (n, 6))
    cb = (rng.random((n, 6)) < 0.25) * rng.uniform(0.6, 1.4, (n, 6))
    ea, eb = ca @ atoms + rng.normal(size=(n, d)) * 0.03, cb @ atoms + rng.normal(size=(n, d)) * 0.03
    sign = np.where(rng.random(n) < 1 / (1 + np.exp(-(ca - cb) @ np.array([3.0, -3.0, 0, 0, 0, 0]))), 1.0, -1.0)
    ta = [" ".join(w for w, c in zip(WORDS, r, strict=True) if c > 0) + " plain words" for r in ca]
    tb = [" ".join(w for w, c in zip(WORDS, r, strict=True) if c > 0) + " plain words" for r in cb]
    result = compute_features(ea, eb, sign, ta, tb, cfg=FeatureConfig(max_epochs=30))
    return result, ta, tb, atoms, ea - eb


def test_descriptions_are_written_and_scored_on_unseen_pairs(planted, tmp_path):
    result, ta, tb, atoms, delta = planted
    lat = result.latents.to_pandas()
    corr = {int(j): np.corrcoef(result.activations[:, j], delta @ atoms[0])[0, 1] for j in lat.latent[lat.selected]}
    sorry_latent = max(corr, key=lambda j: abs(corr[j]))
    with _Scripted() as server:
        judge = OpenAIJudge(server.url, "scripted", api_key="k", max_tokens=60, cache_dir=tmp_path / "cache")
        out = describe_features(result, ta, tb, lambda p: judge.ask(p)["content"], latents=[sorry_latent],
                                n_score=20)
    (d,) = out
    assert d["latent"] == sorry_latent and d["n_scored"] == 20
    # The feature's positive side may be "less sorry"; the description follows the MORE side either way.
    assert d["description"] in ("says sorry", "tells a joke haha")
    if d["description"] == "says sorry" and corr[sorry_latent] > 0:
        assert d["score"] >= 0.6  # the description predicts where and which way the feature fires
    scored_prompts = [p for p in server.prompts if p.startswith("Property:")]
    assert len(scored_prompts) == 20 and all(d["description"] in p for p in scored_prompts)


def test_parse_choice():
    assert [parse_choice(x) for x in ("A", "b)", " N ", "neither one", "", None)] == ["a", "b", "n", "n", None, None]


def test_cli_eval_features_with_descriptions(tmp_path):
    from typer.testing import CliRunner

    from curator.cli import app
    from curator.io import write_demo

    files = write_demo(tmp_path / "demo", n_pairs=200, seed=4)
    with _Scripted() as server:
        result = CliRunner().invoke(app, ["eval", "features", str(files.pairs_path), "--json", "--describe-url",
                                          server.url, "--describe-model", "scripted"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output.strip().splitlines()[-1])
    assert out["selected_features"] and all(f["description"] in ("says sorry", "tells a joke haha")
                                            and 0 <= f["score"] <= 1 for f in out["selected_features"])
