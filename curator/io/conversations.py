"""Split two conversations (or two texts) that share a beginning into one prompt and two responses.

Implicit-prompt data (TRL "implicit prompt", Anthropic HH-RLHF) and MT-Bench conversations repeat
the prompt inside both responses. The shared part becomes the prompt; what follows it becomes each
response. HH transcripts ("\\n\\nHuman: ... \\n\\nAssistant: ...") are parsed into messages first.
Pure functions on strings and lists; no I/O.
"""

from __future__ import annotations

import re

from curator.io.fields import response_text
from curator.schema import Messages

_TURN = re.compile(r"(?:^|\n\n)(Human|Assistant): ?")
_ROLES = {"Human": "user", "Assistant": "assistant"}


def is_transcript(text: str) -> bool:
    """True for HH-style dialogue text.

    >>> is_transcript("\\n\\nHuman: hi\\n\\nAssistant: hello"), is_transcript("plain text")
    (True, False)
    """
    return "\n\nAssistant:" in text and ("\n\nHuman:" in text or text.startswith("Human:"))


def parse_transcript(text: str) -> Messages:
    """HH transcript text to user/assistant messages; text before the first turn becomes a system message.

    >>> parse_transcript("\\n\\nHuman: Hi there\\n\\nAssistant: Hello!")
    [{'role': 'user', 'content': 'Hi there'}, {'role': 'assistant', 'content': 'Hello!'}]
    """
    parts = _TURN.split(text)
    msgs: Messages = []
    if parts[0].strip():
        msgs.append({"role": "system", "content": parts[0].strip()})
    for i in range(1, len(parts) - 1, 2):
        msgs.append({"role": _ROLES[parts[i]], "content": parts[i + 1].strip()})
    return msgs


def split_conversations(a: Messages, b: Messages) -> tuple[Messages, str, str, dict[str, Messages]]:
    """(prompt messages, response a, response b, extra metadata) of two conversations.

    The prompt is the longest shared run of messages, cut back so that it ends before the
    assistant turns that follow it (identical conversations keep their last answer as responses).
    A remainder of assistant turns becomes their text. A remainder with user turns (MT-Bench turn 2,
    where each model answered turn 1 itself) is rendered as ``role: content`` lines and kept as
    messages under ``response_a_messages``/``response_b_messages``.

    >>> u = {"role": "user", "content": "2+2?"}
    >>> split_conversations([u, {"role": "assistant", "content": "4"}], [u, {"role": "assistant", "content": "5"}])
    ([{'role': 'user', 'content': '2+2?'}], '4', '5', {})
    """
    n = min(len(a), len(b))
    k = 0
    while k < n and a[k] == b[k]:
        k += 1
    while k > 0 and a[k - 1]["role"] == "assistant":
        k -= 1
    text_a, msgs_a = response_text(a[k:]) if len(a) > k else ("", None)
    text_b, msgs_b = response_text(b[k:]) if len(b) > k else ("", None)
    extra: dict[str, Messages] = {}
    if msgs_a is not None or msgs_b is not None:
        extra = {"response_a_messages": a[k:], "response_b_messages": b[k:]}
    return a[:k], text_a, text_b, extra


def split_texts(a: str, b: str) -> tuple[str, str, str]:
    """(prompt, response a, response b) of two texts: their longest common prefix, cut at whitespace.

    The prompt loses its trailing whitespace; each response starts at the first differing word.

    >>> split_texts("Q: capital of France? A: Paris", "Q: capital of France? A: Lyon")
    ('Q: capital of France? A:', 'Paris', 'Lyon')
    >>> split_texts("The answer is 4.", "The answer is 42.")
    ('The answer is', '4.', '42.')
    """
    n = min(len(a), len(b))
    k = 0
    # Compare in chunks first: long shared prompts are the common case.
    step = 256
    while k + step <= n and a[k:k + step] == b[k:k + step]:
        k += step
    while k < n and a[k] == b[k]:
        k += 1
    if k and not a[k - 1].isspace():
        k = max(a.rfind(" ", 0, k), a.rfind("\n", 0, k), a.rfind("\t", 0, k)) + 1
    return a[:k].rstrip(), a[k:], b[k:]
