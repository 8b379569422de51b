"""Pair -> text formatting shared by the embedding and reward scorers.

Strings in, strings (or message lists) out. Pure Python: no torch, no numpy, no I/O.

Two shapes of text are built here:

- embedding text for one (prompt, response): the tail of the prompt, a separator, then the response.
  Measured with all-MiniLM-L6-v2 on HH-RLHF helpful-base (5-fold Bradley-Terry probe on embedding
  differences, 256 tokens): prompt tail first 0.628, response first 0.611. Encoders that tokenize
  pairs themselves (`curator.signals.embed`) also keep the response from being cut away at short
  token limits; this text form is for encoders that only take strings.
- reward-model conversations: the prompt as chat messages (a plain prompt becomes one user turn,
  a JSON list of ``{"role", "content"}`` is kept) followed by the assistant's response.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

Messages = list[dict[str, str]]

EMBED_SEP = " [SEP] "
PROMPT_TAIL_CHARS = 800


def embed_text(prompt: str, response: str, *, prompt_chars: int = PROMPT_TAIL_CHARS, sep: str = EMBED_SEP,
               response_first: bool = False) -> str:
    """The text embedded for one (prompt, response): the last `prompt_chars` of the prompt, `sep`, the response.

    Args:
        prompt: the prompt as plain text (a conversation rendered as text).
        response: the response to embed with it.
        prompt_chars: how many characters of the prompt's end to keep; 0 embeds the response alone.
        sep: the separator between prompt tail and response.
        response_first: put the response first (better only when an encoder cuts texts short
            from the right, e.g. at 128 tokens).

    Returns:
        The text to encode.

    >>> embed_text("Human: what is 2+2?", "4", prompt_chars=6)
    's 2+2? [SEP] 4'
    >>> embed_text("Human: what is 2+2?", "4", prompt_chars=6, response_first=True)
    '4 [SEP] s 2+2?'
    >>> embed_text("anything", "only the response", prompt_chars=0)
    'only the response'
    """
    if prompt_chars <= 0 or not prompt:
        return response
    tail = prompt[-prompt_chars:]
    return f"{response}{sep}{tail}" if response_first else f"{tail}{sep}{response}"


def embed_texts(prompts: Sequence[str], responses: Sequence[str], *, prompt_chars: int = PROMPT_TAIL_CHARS,
                sep: str = EMBED_SEP, response_first: bool = False) -> list[str]:
    """`embed_text` over aligned sequences (N prompts, N responses) -> N texts.

    >>> embed_texts(["p1", "p2"], ["r1", "r2"])
    ['p1 [SEP] r1', 'p2 [SEP] r2']
    """
    if len(prompts) != len(responses):
        raise ValueError(f"`prompts` and `responses` must have the same length, got {len(prompts)} and {len(responses)}.")
    return [embed_text(p, r, prompt_chars=prompt_chars, sep=sep, response_first=response_first)
            for p, r in zip(prompts, responses, strict=True)]


def is_messages(value: object) -> bool:
    """True for a list of ``{"role": str, "content": str}`` dicts.

    >>> is_messages([{"role": "user", "content": "hi"}])
    True
    >>> is_messages("hi")
    False
    """
    return (isinstance(value, list) and len(value) > 0
            and all(isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
                    for m in value))


def prompt_messages(prompt: str | None, messages: str | Messages | None = None) -> Messages:
    """The prompt as chat messages.

    `messages` (a JSON string or a list) wins when given. Otherwise a `prompt` that is itself a JSON
    list of messages is decoded, and any other string becomes one user turn.

    Args:
        prompt: plain-text prompt, or a JSON string of messages.
        messages: the conversation (``prompt_messages`` column), JSON text or list; None or "" if absent.

    Returns:
        A list of ``{"role", "content"}`` dicts (empty when the prompt is empty).

    Raises:
        ValueError: `messages` is given but is not a list of role/content dicts.

    >>> prompt_messages("2+2?")
    [{'role': 'user', 'content': '2+2?'}]
    >>> prompt_messages("ignored", '[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]')
    [{'role': 'system', 'content': 'Be brief.'}, {'role': 'user', 'content': 'Hi'}]
    """
    if messages is not None and not (isinstance(messages, str) and not messages.strip()):
        decoded = json.loads(messages) if isinstance(messages, str) else messages
        if not is_messages(decoded):
            raise ValueError(f"`prompt_messages` must be a JSON list of {{'role', 'content'}} dicts, got {messages!r:.200}.")
        return [{"role": m["role"], "content": m["content"]} for m in decoded]
    if not prompt:
        return []
    text = prompt.lstrip()
    if text.startswith("[") and text.rstrip().endswith("]"):
        try:
            decoded = json.loads(text)
        except ValueError:
            decoded = None
        if is_messages(decoded):
            return [{"role": m["role"], "content": m["content"]} for m in decoded]
    return [{"role": "user", "content": prompt}]


def plain_conversation(messages: Messages, response: str) -> tuple[str, str]:
    """(prompt text, response text) for a model without a chat template.

    One message is used as is; several become ``role: content`` lines. The response is joined with
    a single space or newline by the caller's tokenizer (as a text pair or a concatenation).

    >>> plain_conversation([{"role": "user", "content": "2+2?"}], "4")
    ('2+2?', '4')
    >>> plain_conversation([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"},
    ...                     {"role": "user", "content": "2+2?"}], "4")
    ('user: Hi\\nassistant: Yo\\nuser: 2+2?', '4')
    """
    if len(messages) == 1:
        return messages[0]["content"], response
    return "\n".join(f"{m['role']}: {m['content']}" for m in messages), response
