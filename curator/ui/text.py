"""Dataset text on screen, always inert: never HTML, never live Markdown.

Dataset text may hold anything (``<script>``, ``![x](http://...)``, ``[x](javascript:...)``,
``$\\LaTeX$``, ``:material/icons:``). It reaches the page in one of three ways:

* `st.text`, `st.code`, `st.dataframe`, `st.json`: no parsing at all;
* Markdown built here: every ASCII punctuation character is backslash-escaped (CommonMark lets
  any of them be escaped), so no link, image, HTML tag, emphasis, math, emoji short code or
  Streamlit directive can form; leading spaces become no-break spaces so no code block forms,
  and line ends become hard breaks so the text keeps its lines. GFM's bare-URL autolinks are
  found *after* escapes are decoded, so a WORD JOINER (U+2060, invisible) is put inside
  ``http://``, ``https://``, ``www.``, after ``@`` and between two hyphens (``--`` would become a
  dash), which stops them matching; the Raw view
  (`st.code`) shows the exact text for copying;
* diff colours: Streamlit's ``:green-background[...]`` directive around escaped text. An escaped
  ``]`` cannot close the directive, so the text cannot break out of it.

Bidirectional controls (U+202A-U+202E, U+2066-U+2069) can make text read in another order than
it is stored ("Trojan source"); they are shown as visible ``⟦U+202E⟧`` marks in every view.

Long texts are cut for display (`PREVIEW_CHARS`, `PREVIEW_LINES`): a browser spends minutes laying
out a megabyte of Markdown, so the full text is shown only on request, as plain code.

Nothing here passes ``unsafe_allow_html`` or calls ``st.html``.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable

import streamlit as st

from curator.textdiff import DELETE, EQUAL, INSERT, Segment

_ESCAPES = str.maketrans({c: "\\" + c for c in string.punctuation})
_NBSP = "\u00a0"
_LEADING = re.compile(r"^[ \t]+")
_RUN_OF_SPACES = re.compile(r" {2,}")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_JOINER = "\u2060"
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")
PREVIEW_CHARS = 4_000
PREVIEW_LINES = 100
# What remark-gfm turns into links in plain text (mdast-util-gfm-autolink-literal): URLs and emails.
_AUTOLINK = re.compile(r"(?i)(?<=https:)(?=//)|(?<=http:)(?=//)|(?<=www)(?=\.)|(?<=@)")
# The app's Markdown turns "--" into a dash even when escaped (seen in chromium: "--" showed as "—").
_DASHES = re.compile(r"(?<=-)(?=-)")

# How each diff kind is drawn (Streamlit Markdown directives; text inside is escaped).
_STYLE = {INSERT: ("green-background", False), DELETE: ("red-background", True)}


def reveal_bidi(text: str) -> str:
    """Replace bidirectional control characters by visible marks.

    >>> reveal_bidi("abc\u202edef")
    'abc⟦U+202E⟧def'
    """
    return _BIDI.sub(lambda m: f"⟦U+{ord(m.group()):04X}⟧", str(text))


def preview(text: str, *, max_chars: int = PREVIEW_CHARS, max_lines: int = PREVIEW_LINES) -> str | None:
    """The start of `text` that is shown before "show all", or None when the whole text is short enough.

    >>> preview("short") is None
    True
    >>> preview("x" * 10, max_chars=4)
    'xxxx'
    >>> preview("a\\nb\\nc\\n", max_lines=2)
    'a\\nb'
    """
    text = str(text)
    cut = len(text) > max_chars
    head = text[:max_chars]
    lines = head.split("\n", max_lines)
    if len(lines) > max_lines:
        head, cut = "\n".join(lines[:max_lines]), True
    return head if cut else None


def escape_markdown(text: str) -> str:
    """Backslash-escape every Markdown-significant (ASCII punctuation) character.

    >>> escape_markdown("<b>*hi*</b> $x$ :red[y]")
    '\\\\<b\\\\>\\\\*hi\\\\*\\\\<\\\\/b\\\\> \\\\$x\\\\$ \\\\:red\\\\[y\\\\]'
    >>> escape_markdown("see https://a.b or www.c.d, mail x@e.f").replace("\\u2060", "|")
    'see https\\\\:|\\\\/\\\\/a\\\\.b or www|\\\\.c\\\\.d\\\\, mail x\\\\@|e\\\\.f'
    """
    text = reveal_bidi(_CONTROL.sub("", str(text)))
    return _DASHES.sub(_JOINER, _AUTOLINK.sub(_JOINER, text)).translate(_ESCAPES)


def _line(escaped: str) -> str:
    """Keep indentation and runs of spaces visible (and stop indented lines becoming code blocks)."""
    escaped = _LEADING.sub(lambda m: m.group(0).replace("\t", "    ").replace(" ", _NBSP), escaped)
    return _RUN_OF_SPACES.sub(lambda m: _NBSP * len(m.group(0)), escaped)


def inline(text: str, *, max_chars: int = 80) -> str:
    """One escaped line for labels and captions: newlines become spaces, long text is cut with '…'.

    >>> inline("a *b*\\nc", max_chars=4)
    'a \\\\*b…'
    """
    flat = " ".join(str(text).split())
    if len(flat) > max_chars:
        flat = flat[:max_chars].rstrip() + "…"
    return escape_markdown(flat)


def markdown_runs(runs: Iterable[tuple[str, str]]) -> str:
    """Markdown source for styled runs ``(kind, text)``; kinds are textdiff's equal/insert/delete.

    Highlighted runs are wrapped per line, whitespace stays outside the directive.

    >>> markdown_runs([("equal", "a "), ("insert", "b]\\n c")])
    'a :green-background[b\\\\]]  \\n\\xa0:green-background[c]'
    """
    lines: list[list[str]] = [[]]
    for kind, text in runs:
        style = _STYLE.get(kind)
        text = str(text).replace("\r\n", "\n").replace("\r", "\n")
        for i, piece in enumerate(text.split("\n")):
            if i:
                lines.append([])
            if not piece:
                continue
            if style is None:
                lines[-1].append(escape_markdown(piece))
                continue
            core = piece.strip()
            if not core:
                lines[-1].append(piece)
                continue
            lead, trail = piece[: len(piece) - len(piece.lstrip())], piece[len(piece.rstrip()):]
            body = escape_markdown(core)
            name, strike = style
            if strike:
                body = f"~~{body}~~"
            lines[-1].append(f"{lead}:{name}[{body}]{trail}")
    return "  \n".join(_line("".join(parts).rstrip(" ")) if parts else "" for parts in lines)


def markdown_text(text: str) -> str:
    """Markdown source that shows `text` literally, lines and indentation kept.

    >>> markdown_text("# not a heading\\n    not code")
    '\\\\# not a heading  \\n\\xa0\\xa0\\xa0\\xa0not code'
    """
    return markdown_runs([(EQUAL, str(text))])


def size_caption(text: str) -> str:
    """
    >>> size_caption("a\\nb")
    '3 characters · 2 lines'
    """
    text, lines = str(text), str(text).count("\n") + 1
    return f"{len(text):,} characters · {lines:,} line{'' if lines == 1 else 's'}"


def show_raw(text: str, *, key: str) -> None:
    """The exact text as code (for copying), bidirectional controls made visible; a long one is cut
    unless its "show all" toggle (named `key`) is on."""
    head = preview(text)
    if head is not None and not _show_all(text, key):
        st.code(reveal_bidi(head) + " …", language=None, wrap_lines=True)
        st.caption(f"Showing the first {len(head):,} of {len(text):,} characters.")
        return
    st.code(reveal_bidi(text), language=None, wrap_lines=True)


def show_text(text: str, *, key: str) -> None:
    """Draw dataset text as wrapped, proportional, inert text; a long one is cut, with a "show all"
    toggle named `key` (one per text on the page) that shows all of it as plain code."""
    if not text:
        st.caption("(empty)")
        return
    head = preview(text)
    if head is None:
        st.markdown(markdown_text(text))
    elif _show_all(text, key):
        st.code(reveal_bidi(text), language=None, wrap_lines=True)
    else:
        st.markdown(markdown_text(head + " …"))
        st.caption(f"Showing the first {len(head):,} of {len(text):,} characters.")


def _show_all(text: str, key: str) -> bool:
    return st.toggle(f"Show all ({size_caption(text)})", key=key)


def show_segments(segments: Iterable[Segment]) -> None:
    """Draw diff segments: inserted words on green, deleted words struck through on red."""
    segments = list(segments)
    if not segments:
        st.caption("(empty)")
        return
    st.markdown(markdown_runs((s.kind, s.text) for s in segments))
