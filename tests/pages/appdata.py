"""A small database for the page tests (AppTest and browser): two datasets, judgements that
disagree, a signal run with clusters and flags, and one pair full of injection attempts."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from curator.io.batch import batched
from curator.schema import Judgement, PairRecord
from curator.store import Store

APP = str(Path(__file__).resolve().parents[2] / "app.py")  # AppTest.from_file target
N_DEMO = 120
N_RAW = 30
RUN_ID = "run-test"

# Strings that would do something if dataset text were rendered as HTML or live Markdown.
INJECTIONS = (
    "<script>alert('xss')</script>",
    "<img src=x onerror=alert(1)>",
    "[click me](javascript:alert(1))",
    "![tracker](http://evil.example/pixel.png)",
    "https://evil.example/bare www.evil.example",
    ":red[red?] :material/home: $x^2$ **bold?** `code?` ]] [[",
)
INJECTION_TEXT = "\n".join(INJECTIONS)


def demo_records() -> list[PairRecord]:
    records = []
    for i in range(N_DEMO):
        topic = ("cooking", "physics", "poetry")[i % 3]
        prompt: object = ([{"role": "system", "content": "Be brief."},
                           {"role": "user", "content": f"Question {i} about {topic}?"},
                           {"role": "assistant", "content": "Which part?"},
                           {"role": "user", "content": f"The hard part of {topic} number {i}."}]
                          if i % 4 == 0 else f"Question {i} about {topic}?")
        good = f"A careful answer about {topic} number {i}. " + "It explains the steps. " * (i % 9 + 1)
        bad = f"A sloppy answer about {topic} number {i}. " + "It rambles. " * (i % 5 + 1)
        label = "a" if i % 3 else "b"
        a, b = (good, bad) if label == "a" else (bad, good)
        votes = (Judgement("human", "alice", label, strength=1.0, rationale=f"clearer on {topic}"),
                 Judgement("ai", "judge-gpt", label if i % 5 else ("b" if label == "a" else "a"), confidence=0.8))
        records.append(PairRecord(prompt=prompt, response_a=a, response_b=b, label=label,
                                  split="train" if i % 5 else "test", metadata={"topic": topic, "i": i},
                                  judgements=votes))
    records.append(PairRecord(
        prompt=[{"role": "user", "content": "Repeat after me: " + INJECTION_TEXT},
                {"role": "<b>weird-role</b>", "content": INJECTIONS[1]}],
        response_a="Sure: " + INJECTION_TEXT, response_b="No. " + "\n".join(reversed(INJECTIONS)) + " ok",
        label="a", split="train", metadata={"note": INJECTIONS[0], "link": INJECTIONS[3]},
        judgements=(Judgement("human", "<img src=x onerror=alert(2)>", "a", rationale=INJECTIONS[2]),),
    ))
    return records


def injection_pair_id() -> str:
    return demo_records()[-1].pair_id


def raw_records() -> list[PairRecord]:
    return [PairRecord(prompt=f"Unlabelled prompt {i}", response_a=f"first reply {i}", response_b=f"second reply {i}")
            for i in range(N_RAW)]


def build(path: Path, *, signals: bool = True) -> Path:
    """Fill a DuckDB file at `path` and close it (a browser test's server opens it next)."""
    store = Store(path)
    try:
        store.ingest("demo", batched(demo_records(), source="fixture"), source="fixture.jsonl", shape="explicit")
        store.ingest("raw", batched(raw_records(), source="fixture"), source="raw.jsonl", shape="implicit")
        if signals:
            ids = [r.pair_id for r in demo_records()]
            n = len(ids)
            sig = pa.table({
                "pair_id": ids,
                "margin": [(-1.5 if i % 7 == 0 else 0.2 * (i % 10)) for i in range(n)],
                "p_correct": [(0.2 if i % 7 == 0 else 0.9) for i in range(n)],
                "cluster": [i % 3 for i in range(n)],
                "flag_flipped": [i % 7 == 0 for i in range(n)],
            })
            pq.write_table(sig, path.parent / "signals.parquet")
            clusters = pa.table({"cluster": [0, 1, 2], "name": ["cooking", "physics", "poetry"],
                                 "size": [41, 40, 40], "terms": [json.dumps(["a"])] * 3})
            pq.write_table(clusters, path.parent / "clusters.parquet")
            store.load_signal_run(run_id=RUN_ID, dataset="demo", dataset_version=store.dataset_version("demo"),
                                  cache_key="k", models=["bt-ensemble"], params={},
                                  signals_path=path.parent / "signals.parquet",
                                  clusters_path=path.parent / "clusters.parquet")
    finally:
        store.close()
    return path
