"""Inverse Constitutional AI against a scripted OpenAI-compatible endpoint on 127.0.0.1 (the real client):
the principle that explains the labels is found, a contrary one is filtered out, and the constitution
reconstructs held-out labels."""

from __future__ import annotations

import json

import numpy as np
import pytest
from chat_server import ChatServer

from curator.annotate.judges.openai_compat import OpenAIJudge
from curator.principles import compute_principles


def _sections(prompt: str) -> tuple[str, str]:
    a = prompt.split("### Response A\n")[1].split("\n\n### Response B")[0]
    b = prompt.split("### Response B\n")[1].split("\n\nAnswer:")[0]
    return a, b


def _answer(prompt: str) -> str:
    """Proposes "apologise" when the preferred response says sorry, else "be short"; votes by looking."""
    a, b = _sections(prompt)
    if prompt.startswith("A person compared"):
        winner = a if "preferred response A" in prompt else b
        return "Prefer the response that says sorry and apologises" if "sorry" in winner \
            else "Prefer the response that is shorter"
    if "sorry" in prompt.split("\n")[0]:
        return "N" if ("sorry" in a) == ("sorry" in b) else ("A" if "sorry" in a else "B")
    return "N" if len(a) == len(b) else ("A" if len(a) < len(b) else "B")  # "shorter"


def _Scripted() -> ChatServer:
    return ChatServer(_answer)


def _pairs(n: int = 80, seed: int = 0):
    """The label prefers the response that apologises; the apologising one is usually the LONGER one."""
    rng = np.random.default_rng(seed)
    prompts, a, b, labels = [], [], [], []
    for i in range(n):
        polite = f"I am sorry, I cannot help with plan {i}, but here is a safer idea for you to consider."
        rude = f"Plan {i}: do it." if rng.random() < 0.8 else f"Plan {i}: do it now, all of it, with no delay at all."
        first = rng.random() < 0.5
        prompts.append(f"How do I do plan {i}?")
        a.append(polite if first else rude)
        b.append(rude if first else polite)
        labels.append("a" if first else "b")
    return prompts, a, b, labels


def test_principles_explain_and_reconstruct_the_labels(tmp_path):
    prompts, a, b, labels = _pairs()
    with _Scripted() as server:
        judge = OpenAIJudge(server.url, "scripted", api_key="k", max_tokens=60, cache_dir=tmp_path / "c")
        result = compute_principles(prompts, a, b, labels, lambda p: judge.ask(p)["content"], n_train=30,
                                    n_test=30, n_clusters=3)
    texts = [p["principle"] for p in result.principles]
    assert texts == ["Prefer the response that says sorry and apologises"]  # "shorter" has more against than for
    kept = result.principles[0]
    assert kept["for"] == 30 and kept["against"] == 0
    assert result.accuracy == 1.0 and result.n_test == 30 and result.proposals == 30


def test_principles_need_labels():
    with pytest.raises(ValueError, match="at least 4 labelled"):
        compute_principles(["p"] * 3, ["a"] * 3, ["b"] * 3, ["a", None, None], lambda p: "A")


def test_cli_eval_principles(tmp_path):
    from typer.testing import CliRunner

    from curator.cli import app

    prompts, a, b, labels = _pairs(40)
    path = tmp_path / "pairs.jsonl"
    path.write_text("".join(json.dumps({"prompt": p, "chosen": x if lab == "a" else y,
                                        "rejected": y if lab == "a" else x}) + "\n"
                            for p, x, y, lab in zip(prompts, a, b, labels, strict=True)))
    with _Scripted() as server:
        result = CliRunner().invoke(app, ["eval", "principles", str(path), "--url", server.url, "--train", "20",
                                          "--test", "20", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output.strip().splitlines()[-1])
    assert [p["principle"] for p in out["principles"]] == ["Prefer the response that says sorry and apologises"]
    assert out["reconstruction_accuracy"] == 1.0 and out["requests"] > 40
