"""Dataset text stays inert: escaping for Markdown, and the word diff it draws."""

from __future__ import annotations

import html as html_lib
import re
import string

import appdata
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from curator.textdiff import DELETE, EQUAL, INSERT, compute_word_diff, tokenize
from curator.ui.text import escape_markdown, inline, markdown_runs, markdown_text

# CommonMark plus the GFM pieces Streamlit turns on (tables, strikethrough, autolinks).
_MD = MarkdownIt("commonmark", {"linkify": False}).enable(["table", "strikethrough"])


# The patterns remark-gfm (mdast-util-gfm-autolink-literal) links in decoded text, after escapes.
_GFM_URL = re.compile(r"(https?://|www(?=\.))[-.\w]+", re.IGNORECASE | re.ASCII)
_GFM_EMAIL = re.compile(r"[-.\w+]+@[-\w]+(?:\.[-\w]+)+", re.ASCII)


def _html(source: str) -> str:
    return _MD.render(source)


def _decoded(source: str) -> str:
    """The text a Markdown renderer ends up with (tags dropped, entities decoded)."""
    return html_lib.unescape(re.sub(r"<[^>]+>", "", _html(source)))


@pytest.mark.parametrize("text", [*appdata.INJECTIONS, appdata.INJECTION_TEXT, "<a href='x'>y</a>",
                                  "&lt;script&gt; &amp; &#60;", "    indented code?\n\t\ttab", "# h\n- li\n1. ol\n> q",
                                  "a\\", "x\r\ny\rz", "***\n---\n===", "|a|b|\n|-|-|\n|1|2|"])
def test_escaped_text_renders_as_the_same_plain_text(text):
    html = _html(markdown_text(text))
    for tag in ("<a ", "<img", "<script", "<code", "<pre", "<h1", "<ul", "<ol", "<blockquote", "<em", "<strong",
                "<table", "<hr", "<del"):
        assert tag not in html, (tag, html)
    # Only paragraphs and hard line breaks are produced, and the text survives literally.
    assert set(re.findall(r"</?(\w+)", html)) <= {"p", "br"}
    shown = re.sub(r"<br />\n?", "\n", html).replace("<p>", "").replace("</p>\n", "\n").strip()
    unescaped = html_lib.unescape(shown).replace("\u2060", "")
    assert not _GFM_URL.search(html_lib.unescape(shown)) and not _GFM_EMAIL.search(html_lib.unescape(shown))
    normal = text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", "    ")
    assert " ".join(unescaped.replace("\u00a0", " ").split()) == " ".join(normal.split())


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=string.printable + "äé中\u00a0", max_size=120))
def test_any_text_cannot_form_markup(text):
    html = _html(markdown_text(text))
    assert set(re.findall(r"</?(\w+)", html)) <= {"p", "br"}, html


@pytest.mark.parametrize("text", ["https://evil.example/x", "see http://a.b/c?d=1", "www.evil.example",
                                  "mail me: bob@evil.example", "HTTPS://X.Y", "mailto:a@b.co"])
def test_bare_urls_and_emails_cannot_become_autolinks(text):
    decoded = _decoded(markdown_text(text))
    assert not _GFM_URL.search(decoded) and not _GFM_EMAIL.search(decoded), decoded
    assert decoded.replace("\u2060", "").strip() == text  # only invisible joiners were added


def test_every_punctuation_character_is_escaped():
    escaped = escape_markdown(string.punctuation).replace("\u2060", "")
    assert escaped == "".join("\\" + c for c in string.punctuation)
    assert escape_markdown("plain words 123") == "plain words 123"


def test_directive_content_cannot_break_out():
    source = markdown_runs([(INSERT, "]](javascript:alert(1)) :red[x] ![i](http://e.x/i.png)")])
    assert source.startswith(":green-background[") and source.endswith("]")
    inner = source[len(":green-background["):-1]
    # every bracket inside is escaped, so the directive label ends only at the final bracket
    assert not re.search(r"(?<!\\)[\[\]]", inner.replace("\\\\", ""))
    html = _html(source)
    assert "<a " not in html and "<img" not in html


def test_highlight_runs_keep_lines_and_whitespace_outside():
    source = markdown_runs([(EQUAL, "keep "), (DELETE, "gone \n  next"), (EQUAL, " end")])
    assert source == "keep :red-background[~~gone~~]  \n\u00a0\u00a0:red-background[~~next~~] end"


def test_inline_is_one_escaped_line():
    assert inline("a\n*b*", max_chars=80) == "a \\*b\\*"
    assert inline("x" * 100, max_chars=10) == "x" * 10 + "…"


# -- textdiff -----------------------------------------------------------------------------------


def test_diff_marks_changed_words_only():
    d = compute_word_diff("Paris is the capital.\nIt is big.", "Paris is the capital!\nIt is  huge.")
    assert [(s.kind, s.text) for s in d.a if s.kind != EQUAL] == [(DELETE, "."), (DELETE, "big")]
    assert [(s.kind, s.text) for s in d.b if s.kind != EQUAL] == [(INSERT, "!"), (INSERT, "huge")]
    assert 0.7 < d.similarity < 1


def test_identical_and_empty_texts():
    same = compute_word_diff("same words here", "same words here")
    assert [s.kind for s in same.a] == [EQUAL] and same.similarity == 1.0
    empty = compute_word_diff("", "")
    assert empty.a == () and empty.b == () and empty.similarity == 1.0
    one_sided = compute_word_diff("", "new text")
    assert [(s.kind, s.text) for s in one_sided.b] == [(INSERT, "new text")]


def test_too_long_texts_are_not_aligned():
    d = compute_word_diff("w " * 50, "v " * 50, max_tokens=10)
    assert d.too_long and [s.kind for s in d.a] == [EQUAL]


def test_diff_rejects_non_text():
    with pytest.raises(TypeError, match="must be str"):
        compute_word_diff(None, "x")  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80), st.text(max_size=80))
def test_segments_join_back_to_the_inputs(a, b):
    d = compute_word_diff(a, b)
    assert "".join(s.text for s in d.a) == a
    assert "".join(s.text for s in d.b) == b
    assert {s.kind for s in d.a} <= {EQUAL, DELETE} and {s.kind for s in d.b} <= {EQUAL, INSERT}
    assert "".join(t for _, t in tokenize(a)) == a
