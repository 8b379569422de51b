"""SQL never carries user values: search and filters bind them, and a static scan of curator/store
checks that every statement is built from constants and allow-listed identifiers only."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curator.io.batch import batched
from curator.schema import PairFilter, PairRecord
from curator.store.search import Term, parse_search

STORE = Path(__file__).resolve().parents[2] / "curator" / "store"
HOSTILE = ("'; DROP TABLE pairs; --", "100% sure", "snake_case name", "back\\slash", "50%_off\\", "[a-z]* ?",
           "$1 and ?", "quote ' and \" marks", "-- comment", "/* block */", "plain words")


def _records() -> list[PairRecord]:
    out = []
    for i, text in enumerate(HOSTILE):
        out.append(PairRecord(prompt=f"Q{i}: {text}", response_a=f"yes {i}", response_b=f"no {i}", label="a",
                              split=("train", "_", "%", "t'; --")[i % 4]))
    out += [PairRecord(prompt=f"ordinary prompt {i}", response_a="fine", response_b="ok") for i in range(5)]
    return out


def _fill(make_store):
    store = make_store()
    records = _records()
    for name in ("x'; DROP TABLE pairs; --", "%"):
        store.ingest(name, batched(records if name == "%" else records[:4], source="f"), source="f",
                     shape="explicit")
    return store, records


_NOT_PRECEDED_BY_ALNUM, _NOT_FOLLOWED_BY_ALNUM = r"(?<![^\W_])", r"(?![^\W_])"


def _term_matches(term: Term, text: str) -> bool:
    """The documented meaning of a search term (curator/store/search.py), by Python's re."""
    text = text.lower()
    if term.kind == "word":
        return term.text in text  # a literal substring: nothing in it is a pattern
    if term.kind == "prefix":
        return re.search(_NOT_PRECEDED_BY_ALNUM + re.escape(term.text), text) is not None
    pattern = r"[\W_]+".join(re.escape(w) for w in term.words)
    return re.search(_NOT_PRECEDED_BY_ALNUM + pattern + _NOT_FOLLOWED_BY_ALNUM, text) is not None


def _literal_matches(records: list[PairRecord], search: str) -> set[str]:
    terms = parse_search(search)  # an empty search is no filter
    return {r.pair_id for r in records
            if all(any(_term_matches(t, s) for s in (r.prompt, r.response_a, r.response_b)) for t in terms)}


def test_search_and_filters_match_literally_and_leave_the_tables(make_store):
    store, records = _fill(make_store)
    before = store.stats()
    for term in (*HOSTILE, "%", "_", "\\", "'", "%%", "_%_", "?", "';", "--"):
        got = set(store.select_pair_ids(PairFilter(search=term)))
        assert got == _literal_matches(records, term), term
        assert store.count_pairs(PairFilter(search=term)) == len(got), term
    # dataset and split names that look like SQL or LIKE patterns are names, not patterns
    assert store.count_pairs(PairFilter(datasets=("x'; DROP TABLE pairs; --",))) == 4
    assert store.count_pairs(PairFilter(datasets=("%",))) == len(records) - 4  # the first 4 were stored already
    assert store.count_pairs(PairFilter(datasets=("_",))) == 0
    assert store.count_pairs(PairFilter(splits=("_",))) == sum(r.split == "_" for r in records)
    assert store.count_pairs(PairFilter(splits=("%",))) == sum(r.split == "%" for r in records)
    assert store.count_pairs(PairFilter(splits=("t'; --",))) == sum(r.split == "t'; --" for r in records)
    assert store.count_pairs(PairFilter(pair_ids=("%", "' OR 1=1 --"))) == 0
    page = store.pairs_page(PairFilter(search="50%_off\\"), limit=10)
    assert page.column("prompt").to_pylist() == ["Q4: 50%_off\\"]
    assert store.stats() == before


@pytest.fixture(scope="module")
def filled_store(tmp_path_factory):
    """One store for every generated search term."""
    from curator.store import Store

    store = Store(tmp_path_factory.mktemp("sql") / "c.duckdb")
    records = _records()
    for name in ("x'; DROP TABLE pairs; --", "%"):
        store.ingest(name, batched(records if name == "%" else records[:4], source="f"), source="f",
                     shape="explicit")
    yield store, records
    store.close()


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(term=st.text(alphabet="%_\\'\";-[]*?$/ aQ0", max_size=5))
def test_any_search_term_means_what_the_syntax_says(filled_store, term):
    store, records = filled_store
    before = store.stats()
    assert set(store.select_pair_ids(PairFilter(search=term))) == _literal_matches(records, term)
    assert store.stats() == before


# -- static scan ----------------------------------------------------------------------------------

SQL_METHODS = {"execute", "_execute", "_run", "_query", "_rows", "_scalar", "query", "sql", "executemany"}
# The store's plumbing: these take `sql` from their callers, whose SQL is checked at the call site.
PLUMBING = {("core.py", name) for name in ("_execute", "_run", "_query", "_rows", "_scalar")}
# Functions whose results are SQL text built only from allow-listed identifiers and constants.
SAFE_BUILDERS = {"quote_ident", "order_by", "build_where", "refresh_votes_sql", "feature_decides_sql", "feature_clause", "_from", "_from_hits", "search_clause", "_scan_term", "_in", "int", "float", "len"}
# quote_ident is the allow-list gate itself (tested in tests/store/test_store.py); the others' returned
# SQL is checked like any statement. int/float/len make numbers.
GATES = {"quote_ident", "int", "float", "len"}
# Non-constant values that may enter SQL text, each reviewed: (file, expression) -> why it is safe.
REVIEWED = {
    ("browse.py", "sample"): "an int checked against 1..MAX_SAMPLE; DuckDB cannot bind a sample size",
    ("filters.py", "touched"): "refresh_votes_sql's argument: a constant subquery of the store (see its docstring)",
    ("filters.py", "col"): "'s.' + quote_ident(name, SIGNAL_COLUMNS): an allow-listed identifier",
    ("filters.py", "flag"): "only used through quote_ident(flag, SIGNAL_COLUMNS)",
    ("filters.py", "direction"): "'ASC' or 'DESC'",
    ("filters.py", "table"): "_in's argument: 'search_hits' or 'search_whole', the store's names of registered tables",
    ("core.py", "statement"): "a statement of the migration files shipped in curator/store/migrations",
    ("jobs.py", "assignments"): "`_transition`'s argument: always a literal of jobs.py",
    ("signals.py", "columns"): "checked against SIGNAL_COLUMNS before use",
}


def _module_constants(tree: ast.Module) -> set[str]:
    names = set()
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(
            node, ast.AnnAssign) and node.value is not None else []
        names |= {t.id for t in targets if isinstance(t, ast.Name)}
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("curator."):
            names |= {a.asname or a.name for a in node.names}
    return {n for n in names if n.isupper() or n.lstrip("_").isupper()}


def _pick(value: ast.expr, k: int) -> ast.expr:
    """The part of `value` that lands in the k-th name of ``a, b = value`` (the call itself for a call)."""
    if isinstance(value, ast.Tuple) and len(value.elts) > k:
        return value.elts[k]
    if isinstance(value, ast.IfExp):
        return ast.IfExp(test=value.test, body=_pick(value.body, k), orelse=_pick(value.orelse, k))
    return value


class _Checker:
    def __init__(self, file: str, constants: set[str]):
        self.file = file
        self.constants = constants
        self.problems: list[str] = []

    def assignments(self, func: ast.AST, name: str) -> list[ast.expr]:
        out: list[ast.expr] = []
        for node in ast.walk(func):
            if isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign) and node.value is not None:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for t in targets:
                    if isinstance(t, ast.Name) and t.id == name:
                        out.append(node.value)
                    elif isinstance(t, ast.Tuple):
                        for k, e in enumerate(t.elts):
                            if isinstance(e, ast.Name) and e.id == name:
                                out.append(_pick(node.value, k))
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in (
                    "append", "extend", "insert") and isinstance(node.func.value, ast.Name) and node.func.value.id == name:
                out.extend(node.args[-1:])  # clauses.append(...): what goes into the list
            elif isinstance(node, ast.For) and isinstance(node.target, ast.Name) and node.target.id == name:
                out.append(node.iter)
            elif isinstance(node, ast.comprehension) and isinstance(node.target, ast.Name) and node.target.id == name:
                out.append(node.iter)
        return out

    def safe(self, expr: ast.expr, func: ast.AST, seen: frozenset[str] = frozenset()) -> bool:
        if isinstance(expr, ast.Constant):
            return isinstance(expr.value, str | int | float | bool) or expr.value is None
        if (self.file, ast.unparse(expr)) in REVIEWED:
            return True
        if isinstance(expr, ast.JoinedStr):
            return all(self.safe(v.value, func, seen) for v in expr.values if isinstance(v, ast.FormattedValue))
        if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Add):
            return self.safe(expr.left, func, seen) and self.safe(expr.right, func, seen)
        if isinstance(expr, ast.BoolOp):
            return all(self.safe(v, func, seen) for v in expr.values)
        if isinstance(expr, ast.IfExp):
            return self.safe(expr.body, func, seen) and self.safe(expr.orelse, func, seen)
        if isinstance(expr, ast.Tuple | ast.List):
            return all(self.safe(e, func, seen) for e in expr.elts)
        if isinstance(expr, ast.ListComp | ast.GeneratorExp):
            return self.safe(expr.elt, func, seen)
        if isinstance(expr, ast.Starred):
            return self.safe(expr.value, func, seen)
        if isinstance(expr, ast.Subscript):
            return self.safe(expr.value, func, seen)
        if isinstance(expr, ast.Call):
            f = expr.func
            if isinstance(f, ast.Name) and f.id in SAFE_BUILDERS or isinstance(f, ast.Attribute) and isinstance(
                    f.value, ast.Name) and f.value.id == "self" and f.attr in SAFE_BUILDERS:
                return True
            if isinstance(f, ast.Name) and f.id == "str" or isinstance(f, ast.Attribute) and f.attr in (
                    "join", "replace", "strip", "format"):
                parts = [*expr.args, *(kw.value for kw in expr.keywords)]
                if isinstance(f, ast.Attribute):
                    parts.append(f.value)
                return all(self.safe(p, func, seen) for p in parts)
            return False
        if isinstance(expr, ast.Name):
            if expr.id in self.constants:
                return True
            if expr.id in seen:
                return True
            values = self.assignments(func, expr.id)
            return bool(values) and all(self.safe(v, func, seen | {expr.id}) for v in values)
        return False

    def check(self, tree: ast.Module) -> None:
        # outermost functions and methods: a nested function's SQL may be assigned in its parent
        funcs = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
        funcs += [m for c in tree.body if isinstance(c, ast.ClassDef) for m in c.body if isinstance(m, ast.FunctionDef)]
        for func in funcs:
            if (self.file, func.name) in PLUMBING:
                continue
            if func.name in SAFE_BUILDERS - GATES:  # a builder's SQL (first returned value) is a statement too
                for node in ast.walk(func):
                    if isinstance(node, ast.Return) and node.value is not None:
                        value = node.value.elts[0] if isinstance(node.value, ast.Tuple) else node.value
                        if not self.safe(value, func):
                            self.problems.append(f"{self.file}:{node.lineno} {func.name} returns "
                                                 f"{ast.unparse(value)[:120]}")
            for node in ast.walk(func):
                if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                        and node.func.attr in SQL_METHODS and node.args):
                    continue
                on_self = isinstance(node.func.value, ast.Name) and node.func.value.id == "self"
                sql = node.args[1] if on_self and node.func.attr in ("_execute", "_run") and len(node.args) > 1 \
                    else node.args[0]
                if not self.safe(sql, func):
                    self.problems.append(f"{self.file}:{node.lineno} {func.name}: {ast.unparse(sql)[:120]}")


def test_store_builds_sql_from_constants_and_allow_listed_identifiers_only():
    """Every statement's text is constants, module constants, allow-listed identifier helpers
    (quote_ident, order_by, build_where) and a few reviewed values; user values go in as parameters.

    A new f-string with a value in it fails here: bind the value (``?``), or pass the identifier
    through `quote_ident` with an allow-list, or (for something DuckDB cannot bind) add it to
    REVIEWED with the reason.
    """
    problems = []
    files = sorted(STORE.glob("*.py"))
    assert files
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        checker = _Checker(path.name, _module_constants(tree))
        checker.check(tree)
        problems += checker.problems
    assert not problems, "SQL built from values that are not constants:\n" + "\n".join(problems)


def test_the_scan_catches_a_formatted_value():
    bad = ast.parse("def find(self, name):\n    return self._rows(f\"SELECT * FROM pairs WHERE prompt = '{name}'\", "
                    "op='x')\n")
    good = ast.parse("def find(self, name):\n    return self._rows('SELECT * FROM pairs WHERE prompt = ?', [name], "
                     "op='x')\n")
    concat = ast.parse("def find(self, cur, name):\n    sql = 'SELECT 1 WHERE x = ' + name\n"
                       "    self._run(cur, sql, op='x')\n")
    for tree, n in ((bad, 1), (good, 0), (concat, 1)):
        checker = _Checker("pairs.py", set())
        checker.check(tree)
        assert len(checker.problems) == n, (ast.unparse(tree), checker.problems)
