"""Any OpenAI-compatible chat-completions endpoint as a pairwise judge (vLLM, TGI, hosted APIs).

httpx with a thread pool: `concurrency` requests in flight at most, each with a timeout, retried on
connection errors, timeouts, 429 and 5xx after the server's `Retry-After` when it sends one, else
with exponential backoff and jitter. A pair that still fails costs only itself (`PairsFailed`
carries the verdicts of the others).
Answers are cached on disk, one JSON file per (model, prompt) hash, so a rerun or a crash costs no
second request. Each pair is asked in both orders (`combine_orders`); when the endpoint returns
log-probabilities (`logprobs=True`) they give the confidence.

The API key comes from the `api_key` argument (the app passes `st.secrets`), else from the
environment variable named by `api_key_env`. It is never written to the cache or to `details`.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import logging
import math
import os
import random
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from curator.annotate.judges.base import (
    DEFAULT_TEMPLATE,
    MAX_RESPONSE_CHARS,
    JudgeError,
    PairsFailed,
    PairText,
    Verdict,
    build_prompt,
    combine_orders,
    parse_answer,
)

logger = logging.getLogger(__name__)

RETRY_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})
MAX_RETRY_AFTER_S = 120.0


def retry_after_s(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta seconds or an HTTP date), capped; None if absent.

    >>> retry_after_s("3"), retry_after_s(None), retry_after_s("soon"), retry_after_s("9999")
    (3.0, None, None, 120.0)
    >>> retry_after_s("Thu, 03 Dec 2026 12:00:10 GMT", now=email.utils.parsedate_to_datetime(
    ...     "Thu, 03 Dec 2026 12:00:00 GMT").timestamp())
    10.0
    """
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = email.utils.parsedate_to_datetime(value).timestamp() - (time.time() if now is None else now)
        except (TypeError, ValueError):
            return None
    return min(MAX_RETRY_AFTER_S, max(0.0, seconds))


class OpenAIJudge:
    """Pairwise judge over an OpenAI-compatible `/chat/completions` endpoint.

    Args:
        base_url: e.g. "http://localhost:8000/v1" (vLLM) or "https://api.openai.com/v1".
        model: the model name sent in the request (and part of the cache key).
        api_key: the key; default from the environment variable `api_key_env`.
        concurrency: requests in flight at most.
        retries: further attempts after a retryable failure.
        backoff_s: first retry delay; doubles each attempt (with jitter), capped at 30 s.
        timeout_s: per-request timeout.
        cache_dir: folder of cached answers (None: no cache).
        logprobs: ask for top log-probabilities of the answer token (for the confidence).
        name: the judge id in the log (default: the model name).
    """

    def __init__(self, base_url: str, model: str, *, api_key: str | None = None, api_key_env: str = "OPENAI_API_KEY",
                 concurrency: int = 4, retries: int = 4, backoff_s: float = 0.5, timeout_s: float = 60.0,
                 cache_dir: str | Path | None = None, logprobs: bool = False, name: str | None = None,
                 template: str = DEFAULT_TEMPLATE, max_chars: int = MAX_RESPONSE_CHARS, max_tokens: int = 4):
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"`base_url` must start with http:// or https://, got {base_url!r}.")
        if concurrency < 1:
            raise ValueError(f"`concurrency` must be >= 1, got {concurrency}.")
        if retries < 0:
            raise ValueError(f"`retries` must be >= 0, got {retries}.")
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self._key = api_key if api_key is not None else os.environ.get(api_key_env)
        self.concurrency = concurrency
        self.retries = retries
        self.backoff_s = backoff_s
        self.timeout_s = timeout_s
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.logprobs = logprobs
        self.name = name or model
        self.template = template
        self.max_chars = max_chars
        self.max_tokens = max_tokens
        self.requests_sent = 0  # HTTP requests made (retries included); cache hits make none
        self._lock = threading.Lock()
        self._client = httpx.Client(timeout=timeout_s, limits=httpx.Limits(max_connections=concurrency))
        if self.cache_dir:
            self.cache_dir.mkdir(parents=True, exist_ok=True)

    # -- one prompt ---------------------------------------------------------------------------

    def cache_key(self, prompt: str) -> str:
        return hashlib.sha256(json.dumps([self.model, prompt], ensure_ascii=False).encode()).hexdigest()

    def _cached(self, key: str) -> dict[str, Any] | None:
        if not self.cache_dir:
            return None
        path = self.cache_dir / f"{key}.json"
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def _store(self, key: str, answer: dict[str, Any]) -> None:
        if not self.cache_dir:
            return
        path = self.cache_dir / f"{key}.json"
        tmp = path.with_suffix(f".{threading.get_ident()}.tmp")
        tmp.write_text(json.dumps(answer, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, path)

    def ask(self, prompt: str) -> dict[str, Any]:
        """{"content": str, "top_logprobs": [...] | None, "cached": bool} for one prompt."""
        key = self.cache_key(prompt)
        hit = self._cached(key)
        if hit is not None:
            return {**hit, "cached": True}
        body: dict[str, Any] = {"model": self.model, "messages": [{"role": "user", "content": prompt}],
                                "temperature": 0, "max_tokens": self.max_tokens}
        if self.logprobs:
            body.update(logprobs=True, top_logprobs=5)
        reply = self._post(body)
        try:
            choice = reply["choices"][0]
            content = choice["message"]["content"] or ""
        except (KeyError, IndexError, TypeError) as e:
            raise JudgeError(f"{self.url}: unexpected response shape ({e!r}): {str(reply)[:300]}") from None
        top = None
        try:
            top = choice["logprobs"]["content"][0]["top_logprobs"]
        except (KeyError, IndexError, TypeError):
            pass
        answer = {"model": self.model, "content": content, "top_logprobs": top}
        self._store(key, answer)
        return {**answer, "cached": False}

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self._key}"} if self._key else {}
        last, wait = "", None
        for attempt in range(self.retries + 1):
            if attempt:
                backoff = min(30.0, self.backoff_s * 2 ** (attempt - 1)) * (0.5 + random.random())
                time.sleep(backoff if wait is None else wait)
            with self._lock:
                self.requests_sent += 1
            wait = None
            try:
                response = self._client.post(self.url, json=body, headers=headers)
            except httpx.HTTPError as e:  # connection refused or reset, timeouts
                last = f"{type(e).__name__}: {e}"
            else:
                if response.is_success:
                    try:
                        return response.json()
                    except ValueError as e:
                        last = f"invalid JSON: {e}"
                else:
                    last = f"HTTP {response.status_code}: {response.text[:300]}"
                    if response.status_code not in RETRY_STATUS:
                        raise JudgeError(f"{self.url} refused the request ({last}).")
                    wait = retry_after_s(response.headers.get("Retry-After"))
            logger.warning("%s: attempt %d/%d failed: %s", self.url, attempt + 1, self.retries + 1, last)
        raise JudgeError(f"{self.url}: gave up after {self.retries + 1} attempts; last error: {last}")

    # -- pairs --------------------------------------------------------------------------------

    @staticmethod
    def _p_first(top: list[dict[str, Any]] | None) -> float | None:
        if not top:
            return None
        mass = {"A": 0.0, "B": 0.0}
        for entry in top:
            token = str(entry.get("token", "")).strip().upper()
            if token in mass:
                mass[token] += math.exp(float(entry.get("logprob", -math.inf)))
        total = mass["A"] + mass["B"]
        return mass["A"] / total if total > 0 else None

    def _judge_one(self, pair: PairText) -> Verdict:
        answers = []
        for swapped in (False, True):
            prompt = build_prompt(pair, swapped=swapped, template=self.template, max_chars=self.max_chars)
            answers.append(self.ask(prompt))
        choice, confidence, details = combine_orders(
            parse_answer(answers[0]["content"]), parse_answer(answers[1]["content"]),
            p_first_ab=self._p_first(answers[0]["top_logprobs"]), p_first_ba=self._p_first(answers[1]["top_logprobs"]))
        details.update(model=self.model, raw_ab=answers[0]["content"], raw_ba=answers[1]["content"],
                       cached=[a["cached"] for a in answers])
        return Verdict(pair.pair_id, choice, confidence, details)

    def _try_one(self, pair: PairText) -> Verdict | JudgeError:
        try:
            return self._judge_one(pair)
        except JudgeError as e:
            return e

    def judge(self, pairs: Sequence[PairText]) -> list[Verdict]:
        """Verdicts in the order of `pairs`; at most `concurrency` requests in flight. Raises
        `PairsFailed` (with the other pairs' verdicts) when some pairs kept failing."""
        with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="judge") as pool:
            results = list(pool.map(self._try_one, pairs))
        failures = {p.pair_id: str(r) for p, r in zip(pairs, results, strict=True) if isinstance(r, JudgeError)}
        verdicts = [r for r in results if isinstance(r, Verdict)]
        if failures:
            raise PairsFailed(verdicts, failures)
        return verdicts
