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
# What remark-gfm turns into links in plain text (mdast-util-gfm-autolink-literal): URLs and emails.
_AUTOLINK = re.compile(r"(?i)(?<=https:)(?=//)|(?<=http:)(?=//)|(?<=www)(?=\.)|(?<=@)")
# The app's Markdown turns "--" into a dash even when escaped (seen in chromium: "--" showed as "—").
_DASHES = re.compile(r"(?<=-)(?=-)")

# How each diff kind is drawn (Streamlit Markdown directives; text inside is escaped).
_STYLE = {INSERT: ("green-background", False), DELETE: ("red-background", True)}


def escape_markdown(text: str) -> str:
    """Backslash-escape every Markdown-significant (ASCII punctuation) character.

    >>> escape_markdown("<b>*hi*</b> $x$ :red[y]")
    '\\\\<b\\\\>\\\\*hi\\\\*\\\\<\\\\/b\\\\> \\\\$x\\\\$ \\\\:red\\\\[y\\\\]'
    >>> escape_markdown("see https://a.b or www.c.d, mail x@e.f").replace("\\u2060", "|")
    'see https\\\\:|\\\\/\\\\/a\\\\.b or www|\\\\.c\\\\.d\\\\, mail x\\\\@|e\\\\.f'
    """
    return _DASHES.sub(_JOINER, _AUTOLINK.sub(_JOINER, _CONTROL.sub("", str(text)))).translate(_ESCAPES)


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


def show_text(text: str) -> None:
    """Draw dataset text as wrapped, proportional, inert text."""
    if not text:
        st.caption("(empty)")
        return
    st.markdown(markdown_text(text))


def show_segments(segments: Iterable[Segment]) -> None:
    """Draw diff segments: inserted words on green, deleted words struck through on red."""
    segments = list(segments)
    if not segments:
        st.caption("(empty)")
        return
    st.markdown(markdown_runs((s.kind, s.text) for s in segments))
