from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from curator.annotate.judges import (
    JudgeError,
    LocalLMJudge,
    OpenAIJudge,
    PairText,
    RewardEnsembleJudge,
    combine_orders,
    parse_answer,
    run_judge,
)
from curator.schema import PairRecord
from curator.store import Store

PAIRS = [PairText(f"p{i}", f"the sky is {i}", "blue", "green") for i in range(6)]


# -- combining orders -------------------------------------------------------------------------


def test_combine_orders():
    assert combine_orders("A", "B", p_first_ab=0.9, p_first_ba=0.2)[:2] == ("a", pytest.approx(0.85))
    assert combine_orders("B", "A")[:2] == ("b", None)
    choice, conf, details = combine_orders("A", "A", p_first_ab=0.95, p_first_ba=0.9)
    assert choice == "tie" and conf < 0.1 and details["inconsistent"] is True  # pure position bias
    assert combine_orders("B", "B")[0] == "tie" and combine_orders("B", "B")[1] == 0.25
    assert combine_orders(None, "B", p_first_ba=0.2)[:2] == ("a", pytest.approx(0.8))
    assert combine_orders(None, None)[0] is None
    assert parse_answer("**B** is better") == "B" and parse_answer("") is None


# -- local causal LM --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_lm():
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    words = ("you are an impartial judge comparing two responses to the same instruction decide which response "
             "follows better it is more helpful correct and harmless which is answer with a single letter or "
             "instruction the sky is blue green A B 0 1 2 3 4 5 # .").split()
    vocab = {"<pad>": 0, "<eos>": 1, "<unk>": 2, "<bos>": 3}
    for w in words:
        vocab.setdefault(w, len(vocab))
    tk = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.Whitespace()
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, pad_token="<pad>", eos_token="<eos>", unk_token="<unk>",
                                  bos_token="<bos>")
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(vocab), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                      num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=256, pad_token_id=0,
                      eos_token_id=1, bos_token_id=3)
    return LlamaForCausalLM(cfg), tok


def test_local_lm_judge_reads_both_orders(tiny_lm):
    model, tok = tiny_lm
    judge = LocalLMJudge(model, tok, name="tiny-llama")
    verdicts = judge.judge(PAIRS[:2])
    assert [v.pair_id for v in verdicts] == ["p0", "p1"]
    for v in verdicts:
        assert v.choice in ("a", "b", "tie")
        assert 0.0 <= v.confidence <= 1.0
        assert 0.0 < v.details["p_first_ab"] < 1.0 and 0.0 < v.details["p_first_ba"] < 1.0
        assert v.details["model"] == "tiny-llama"


def test_position_biased_lm_becomes_a_low_confidence_tie(tiny_lm):
    import copy

    import torch

    model, tok = tiny_lm
    biased = copy.deepcopy(model)
    with torch.no_grad():
        biased.model.norm.weight.zero_()  # hidden state 0: the logits are the head's bias alone
        head = torch.nn.Linear(biased.config.hidden_size, biased.config.vocab_size, bias=True)
        head.weight.zero_()
        head.bias.zero_()
        head.bias[tok.convert_tokens_to_ids("A")] = 4.0  # always answers "A", whatever is shown first
    biased.lm_head = head
    verdicts = LocalLMJudge(biased, tok, name="biased").judge(PAIRS[:3])
    for v in verdicts:
        assert v.choice == "tie" and v.details["inconsistent"] is True and v.confidence < 0.1


# -- OpenAI-compatible endpoint ---------------------------------------------------------------


class _Server:
    """A chat-completions server on 127.0.0.1: fails the first `fail_first` requests with 503,
    answers "A" (always the first position) or "B" when the prompt shows "blue" second."""

    def __init__(self, *, fail_first: int = 0, delay: float = 0.0, mode: str = "content",
                 fail_when: str | None = None, retry_after: str | None = None):
        self.fail_first = fail_first
        self.fail_when = fail_when  # prompts holding this text always get HTTP 500
        self.retry_after = retry_after  # sent with the 503s of `fail_first`
        self.times: list[float] = []
        self.delay = delay
        self.mode = mode
        self.requests = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.auth: set[str] = set()
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):
                with outer.lock:
                    outer.requests += 1
                    outer.times.append(time.monotonic())
                    n = outer.requests
                    outer.in_flight += 1
                    outer.max_in_flight = max(outer.max_in_flight, outer.in_flight)
                left = False

                def leave():  # before the reply is written: the client may send its next request at once
                    nonlocal left
                    if not left:
                        left = True
                        with outer.lock:
                            outer.in_flight -= 1

                try:
                    body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                    outer.auth.add(self.headers.get("Authorization", ""))
                    time.sleep(outer.delay)
                    prompt = body["messages"][0]["content"]
                    if n <= outer.fail_first or (outer.fail_when and outer.fail_when in prompt):
                        leave()
                        self.send_response(503 if n <= outer.fail_first else 500)
                        if outer.retry_after and n <= outer.fail_first:
                            self.send_header("Retry-After", outer.retry_after)
                        self.end_headers()
                        self.wfile.write(b"busy")
                        return
                    first = prompt.split("### Response A")[1].split("### Response B")[0]
                    if outer.mode == "position":
                        answer = "A"
                    else:
                        answer = "A" if "blue" in first else "B"
                    reply = {"choices": [{"message": {"role": "assistant", "content": answer},
                                          "logprobs": {"content": [{"token": answer, "logprob": -0.1, "top_logprobs": [
                                              {"token": answer, "logprob": -0.1},
                                              {"token": "B" if answer == "A" else "A", "logprob": -2.4}]}]}}]}
                    data = json.dumps(reply).encode()
                    leave()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                finally:
                    leave()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_endpoint_judge_retries_and_caches(tmp_path):
    with _Server(fail_first=3) as server:
        judge = OpenAIJudge(server.url, "test-model", api_key="sk-test", concurrency=1, retries=4, backoff_s=0.01,
                            cache_dir=tmp_path / "cache", logprobs=True)
        verdicts = judge.judge(PAIRS[:2])
        assert [v.choice for v in verdicts] == ["a", "a"]  # "blue" is response a: consistent in both orders
        assert all(v.confidence > 0.8 and not v.details["inconsistent"] for v in verdicts)
        assert server.requests == 3 + 4 and judge.requests_sent == 7  # 3 failures retried, 4 answers
        assert server.auth == {"Bearer sk-test"}
        again = OpenAIJudge(server.url, "test-model", cache_dir=tmp_path / "cache", logprobs=True).judge(PAIRS[:2])
        assert server.requests == 7 and [v.details["cached"] for v in again] == [[True, True], [True, True]]
        other = OpenAIJudge(server.url, "other-model", cache_dir=tmp_path / "cache", retries=0)
        other.judge(PAIRS[:1])
        assert server.requests == 9  # the cache is keyed by model too
        assert not any("sk-test" in p.read_text() for p in (tmp_path / "cache").iterdir())


def test_endpoint_judge_gives_up_and_refuses_bad_requests():
    with _Server(fail_first=100) as server:
        judge = OpenAIJudge(server.url, "m", retries=2, backoff_s=0.01)
        with pytest.raises(JudgeError, match="gave up after 3 attempts"):
            judge.judge(PAIRS[:1])
        assert server.requests == 3
    with pytest.raises(ValueError, match="base_url"):
        OpenAIJudge("localhost:8000", "m")


def test_endpoint_judge_respects_the_concurrency_limit():
    with _Server(delay=0.05) as server:
        judge = OpenAIJudge(server.url, "m", concurrency=2, retries=0)
        verdicts = judge.judge(PAIRS)
        assert len(verdicts) == len(PAIRS) and server.requests == 2 * len(PAIRS)
        assert server.max_in_flight == 2


def test_endpoint_position_bias_is_recorded_as_a_tie(make_store):
    records = [PairRecord(p.prompt, p.response_a, p.response_b) for p in PAIRS[:3]]
    store = make_store(records)
    with _Server(mode="position") as server:
        judge = OpenAIJudge(server.url, "biased", concurrency=3, retries=0, name="biased-endpoint")
        assert run_judge(store, judge, [r.pair_id for r in records]).written == 3
    rows = store.latest_judgements(kind="ai").to_pylist()
    assert {r["annotator"] for r in rows} == {"biased-endpoint"} and {r["choice"] for r in rows} == {"tie"}
    details = json.loads(rows[0]["details"])
    assert details["inconsistent"] is True and details["raw_ab"] == "A" and details["raw_ba"] == "A"


def test_reward_ensemble_judge(make_store, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    records = [PairRecord(f"q{i}", f"a{i}", f"b{i}", label=("b" if i == 1 else "a")) for i in range(3)]
    store = make_store(records)
    ids = [r.pair_id for r in records]
    path = tmp_path / "signals.parquet"
    pq.write_table(pa.table({"pair_id": ids[:2], "margin": [2.0, 1.0], "margin_std": [0.1, 0.2],
                             "p_correct": [0.88, None]}), path)
    store.load_signal_run(run_id="r1", dataset="test", dataset_version=1, cache_key="k", models=["m"], params={},
                          signals_path=path)
    verdicts = RewardEnsembleJudge(store, "r1").judge([PairText(i, "", "", "") for i in ids])
    assert [v.choice for v in verdicts] == ["a", "b", None]  # pair 1 is labelled b: its margin points to b
    assert verdicts[0].confidence == pytest.approx(0.88)
    assert verdicts[1].confidence == pytest.approx(1 / (1 + 2.718281828 ** -1.0), abs=1e-6)
    assert run_judge(store, RewardEnsembleJudge(store, "r1"), ids).written == 3
    assert {r["annotator"] for r in store.latest_judgements(kind="ai").to_pylist()} == {"reward-ensemble:r1"}


def test_endpoint_judge_honours_retry_after():
    with _Server(fail_first=1, retry_after="1") as server:
        judge = OpenAIJudge(server.url, "m", concurrency=1, retries=2, backoff_s=0.01)
        judge.judge(PAIRS[:1])
        assert server.requests == 3 and server.times[1] - server.times[0] >= 0.95  # waited as told, not 10 ms


def test_cli_judge_keeps_what_succeeded_and_reruns_only_the_failed_pairs(make_store):
    """3 of 20 pairs answer HTTP 500 every time: 17 verdicts written, the 3 named, a rerun asks only for them."""
    from typer.testing import CliRunner

    from curator.cli import app

    records = [PairRecord(f"question {i}" + (" POISON" if i in (3, 9, 15) else ""), "blue", "green") for i in range(20)]
    store = make_store(records, dataset="d")
    db = store.path
    store.close()
    poisoned = {r.pair_id for r in records if "POISON" in r.prompt}
    with _Server(fail_when="POISON") as server:
        args = ["judge", "--db", str(db), "--dataset", "d", "--endpoint", server.url, "--model", "m",
                "--retries", "1", "--timeout", "5", "--json"]
        first = CliRunner().invoke(app, args)
        assert first.exit_code == 1, first.output
        out = json.loads(first.stdout.strip().splitlines()[0])
        assert out["verdicts"] == 17 and set(out["failed"]) == poisoned
        assert all("HTTP 500" in e for e in out["failed"].values())
        assert all(pair_id in first.stderr for pair_id in poisoned) and "retry only these" in first.stderr
        asked = server.requests
        again = CliRunner().invoke(app, args)
        assert again.exit_code == 1
        assert server.requests - asked == 3 * 2  # 3 pairs x 2 attempts at their first order, nothing else
        assert json.loads(again.stdout.strip().splitlines()[0])["skipped"] == 17
    store = Store(db)
    rows = store.latest_judgements(kind="ai").to_pylist()
    store.close()
    assert len(rows) == 17 and not {r["pair_id"] for r in rows} & poisoned
