"""Turn a PairFilter into a WHERE clause with bound parameters. Nothing user-typed becomes SQL."""

from __future__ import annotations

import re
from typing import Any

from curator.schema import DECIDES_TOP_SHARE, SIGNAL_COLUMNS, SORTABLE_COLUMNS, PairFilter
from curator.store.search import KeySet, SearchHits, Term, parse_search

# Each judgement counts once per (annotator, kind): the latest row is that annotator's label.
LATEST_JUDGEMENTS = """
    SELECT pair_id, kind, annotator, arg_max_null(choice, judgement_id) AS choice
    FROM judgements GROUP BY pair_id, kind, annotator
"""

DISAGREEING_PAIRS = f"""
    SELECT pair_id FROM (
        SELECT pair_id, choice FROM ({LATEST_JUDGEMENTS}) WHERE choice IS NOT NULL
        UNION ALL
        SELECT pair_id, label FROM pairs WHERE label IS NOT NULL
    ) GROUP BY pair_id HAVING count(DISTINCT choice) > 1
"""

def refresh_votes_sql(touched: str) -> str:
    """UPDATE of the per-pair judgement summary (migration 009) for the pairs in `touched`, a SELECT
    of pair_id over a registered table; `touched` is a constant of the store, never user input."""
    return f"""
    UPDATE pairs SET n_judgements = v.n_judgements, n_human = v.n_human, n_ai = v.n_ai, disagree = v.disagree
    FROM (
        WITH j AS (SELECT * FROM judgements WHERE pair_id IN ({touched})),
        counts AS (
            SELECT pair_id, count(*) AS n_judgements, count(*) FILTER (WHERE kind = 'human') AS n_human,
                   count(*) FILTER (WHERE kind = 'ai') AS n_ai
            FROM j GROUP BY pair_id),
        latest AS (SELECT pair_id, kind, annotator, arg_max_null(choice, judgement_id) AS choice
                   FROM j GROUP BY pair_id, kind, annotator),
        votes AS (SELECT pair_id, choice FROM latest WHERE choice IS NOT NULL
                  UNION ALL SELECT p.pair_id, p.label FROM pairs p JOIN counts c ON c.pair_id = p.pair_id
                  WHERE p.label IS NOT NULL),
        dis AS (SELECT pair_id, count(DISTINCT choice) > 1 AS disagree FROM votes GROUP BY pair_id)
        SELECT c.*, coalesce(d.disagree, false) AS disagree FROM counts c LEFT JOIN dis d ON d.pair_id = c.pair_id
    ) v WHERE pairs.pair_id = v.pair_id"""


# The same summary for one pair ($1), after a judgement of it was appended: every lookup is a point
# query (the pairs primary key, the judgements_pair_id index of migration 006), so a label costs the
# same on a store of 1k or 1M pairs. Same definitions as refresh_votes_sql; the pair has >= 1 row.
REFRESH_PAIR_VOTES = """
    UPDATE pairs SET n_judgements = v.n_judgements, n_human = v.n_human, n_ai = v.n_ai,
                     disagree = coalesce(len(list_distinct(list_append(v.choices, pairs.label))) > 1, false)
    FROM (
        SELECT sum(n)::INTEGER AS n_judgements, coalesce(sum(n) FILTER (WHERE kind = 'human'), 0)::INTEGER AS n_human,
               coalesce(sum(n) FILTER (WHERE kind = 'ai'), 0)::INTEGER AS n_ai,
               list(choice) FILTER (WHERE choice IS NOT NULL) AS choices
        FROM (SELECT kind, count(*) AS n, arg_max_null(choice, judgement_id) AS choice FROM judgements
              WHERE pair_id = $1 GROUP BY kind, annotator)
    ) v WHERE pairs.pair_id = $1"""


def feature_decides_sql(run_id: str, latent: int, top_share: float = DECIDES_TOP_SHARE) -> tuple[str, list[Any]]:
    """SELECT pair_id, activation of the pairs a feature decides (`curator.features.decided_pairs`):
    among the strongest ceil(top_share * n) of the n pairs where it fires (ties by pair id), those
    whose label went the way its length-controlled coefficient pulls (a positive coefficient: the
    response with more of it is chosen). The one definition, used by the Browse filter too."""
    return """
        SELECT a.pair_id, a.activation FROM (
            SELECT pair_id, activation, row_number() OVER (ORDER BY abs(activation) DESC, pair_id) AS strength_rank,
                   count(*) OVER () AS n_firing
            FROM feature_activations WHERE run_id = ? AND latent = ?) a
        JOIN pairs l ON l.pair_id = a.pair_id
        JOIN features f ON f.run_id = ? AND f.latent = ?
        WHERE a.strength_rank <= ceil(? * a.n_firing) AND l.label IN ('a', 'b')
          AND sign(a.activation) * (CASE l.label WHEN 'a' THEN 1 ELSE -1 END) * sign(f.coef) > 0""", [
        run_id, int(latent), run_id, int(latent), float(top_share)]


def feature_clause(f: PairFilter) -> tuple[str, list[Any]]:
    """The WHERE part of a feature filter (`PairFilter.feature_test`) over alias `p`."""
    if f.feature_test == "decides":
        sql, params = feature_decides_sql(f.feature_run, f.feature)
        return f"p.pair_id IN (SELECT pair_id FROM ({sql}))", params
    op, bound = (">=", f.feature_threshold) if f.feature_test == "at_least" else ("<=", -f.feature_threshold)
    return (f"p.pair_id IN (SELECT pair_id FROM feature_activations WHERE run_id = ? AND latent = ? "
            f"AND activation {op} ?)"), [f.feature_run, int(f.feature), float(bound)]


LEN_DIFF = "CASE WHEN p.label = 'b' THEN p.len_b - p.len_a ELSE p.len_a - p.len_b END"


def quote_ident(name: str, allowed: tuple[str, ...]) -> str:
    """The one way an identifier enters SQL: it must be in an allow-list."""
    if name not in allowed:
        raise ValueError(f"Unknown column {name!r}; valid: {allowed}.")
    return '"' + name + '"'


_NOT_WORD = r"[^\pL\pN]"  # RE2: neither letter nor digit (the index's token boundary)
_TEXTS = ("p.prompt", "p.response_a", "p.response_b")


def _scan_term(term: Term) -> tuple[str, list[Any]]:
    """The substring scan of one search term (the fallback of the search index, same meaning)."""
    if term.kind == "word":
        return "(" + " OR ".join(f"contains(lower({c}), ?)" for c in _TEXTS) + ")", [term.text] * 3
    words = [re.escape(w) for w in term.words] if term.kind == "phrase" else [re.escape(term.text)]
    pattern = f"(?:^|{_NOT_WORD})" + f"{_NOT_WORD}+".join(words)
    if term.kind == "phrase":
        pattern += f"(?:$|{_NOT_WORD})"
    return "(" + " OR ".join(f"regexp_matches(lower({c}), ?)" for c in _TEXTS) + ")", [pattern] * 3


def _in(keys: KeySet, table: str) -> str:
    """`p` is in a KeySet registered as `table` (a constant of the store)."""
    return f"p.search_key {'NOT IN' if keys.negated else 'IN'} (SELECT key FROM {table})"


def search_clause(search: str, hits: SearchHits | None) -> tuple[str | None, list[Any]]:
    """The WHERE part of a text search: the index's answer (registered as table `search_hits`),
    or the scan when `hits` is None."""
    if hits is not None:
        return _in(hits.matches, "search_hits"), []
    clauses, params = [], []
    for term in parse_search(search):
        sql, p = _scan_term(term)
        clauses.append(sql)
        params += p
    return (" AND ".join(clauses) or None), params


def build_where(f: PairFilter, hits: SearchHits | None = None) -> tuple[str, list[Any], bool]:
    """Return (WHERE clause over alias `p` and signals alias `s`, params, needs signals join).
    `hits` is the search index's answer for `f.search` (None: the scan)."""
    clauses: list[str] = []
    params: list[Any] = []
    if f.datasets:
        clauses.append("list_contains(?, p.dataset)")
        params.append(list(f.datasets))
    if f.splits:
        clauses.append("list_contains(?, p.split)")
        params.append(list(f.splits))
    if f.judgement_source == "dataset label":
        clauses.append("p.label IS NOT NULL")
    elif f.judgement_source == "human":
        clauses.append("p.n_human > 0")
    elif f.judgement_source == "ai":
        clauses.append("p.n_ai > 0")
    elif f.judgement_source == "none":
        clauses.append("p.label IS NULL AND p.n_judgements = 0")
    if f.has_disagreement is not None:
        clauses.append("p.disagree" if f.has_disagreement else "NOT p.disagree")
    lo, hi = f.prompt_len
    if lo is not None:
        clauses.append("p.len_prompt >= ?")
        params.append(int(lo))
    if hi is not None:
        clauses.append("p.len_prompt <= ?")
        params.append(int(hi))
    lo, hi = f.response_len
    if lo is not None:
        clauses.append("least(p.len_a, p.len_b) >= ?")
        params.append(int(lo))
    if hi is not None:
        clauses.append("greatest(p.len_a, p.len_b) <= ?")
        params.append(int(hi))
    search, search_params = search_clause(f.search, hits)
    if search:
        clauses.append(search)
        params += search_params
    if f.pair_ids:
        clauses.append("list_contains(?, p.pair_id)")
        params.append(list(f.pair_ids))
    for name, lo, hi in f.signal_ranges:
        col = "s." + quote_ident(name, SIGNAL_COLUMNS)
        if lo is not None:
            clauses.append(f"{col} >= ?")
            params.append(float(lo))
        if hi is not None:
            clauses.append(f"{col} <= ?")
            params.append(float(hi))
    if f.clusters:
        clauses.append("list_contains(?, s.cluster)")
        params.append([int(c) for c in f.clusters])
    for flag in f.flags:
        clauses.append(f"s.{quote_ident(flag, SIGNAL_COLUMNS)}")
    if f.feature_run is not None:
        sql, p = feature_clause(f)
        clauses.append(sql)
        params += p
    needs_signals = bool(f.signal_run)
    return (" AND ".join(clauses) or "TRUE"), params, needs_signals


def order_by(sort: str, descending: bool, *, hits: SearchHits | None = None) -> str:
    """ORDER BY of a page; "relevance" puts whole-word matches first (`hits.whole`, registered as
    table `search_whole`), then source order; without them (no search, or the scan) source order."""
    if sort == "relevance" and (hits is None or hits.whole is None):
        sort = "row_index"
    if sort == "relevance":
        col, descending = _in(hits.whole, "search_whole"), not descending
    elif sort in SIGNAL_COLUMNS:
        col = "s." + quote_ident(sort, SIGNAL_COLUMNS)
    elif sort == "len_diff":
        col = LEN_DIFF
    elif sort == "n_judgements":
        col = "p.n_judgements"
    else:
        col = "p." + quote_ident(sort, SORTABLE_COLUMNS)
    direction = "DESC" if descending else "ASC"
    return f"{col} {direction} NULLS LAST, p.row_index, p.pair_id"
