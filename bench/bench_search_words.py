"""Words inside longer words on a large vocabulary: the search index's word list vs a regular expression.

A plain search word also matches inside longer words ("python" finds "cpython"). The index finds
those words either by a regular expression over its term dictionary (``.*python.*``, which walks
every distinct word) or by one vectorized substring pass over its word list, read once after each
update (`curator.store.search.SearchIndex._refresh_vocabulary`). The synthetic text here has random
words, so the dictionary holds about as many distinct words as a large real store (millions), where
bench/bench_page.py's generated text has a vocabulary of ~80 words.

    python bench/bench_search_words.py              # 200,000 documents, ~1.9M distinct words
    python bench/bench_search_words.py --docs 50000

Prints, per term, the ms of `SearchIndex.hits` both ways (same matches checked) and the ratio, the
seconds to read the word list and its size, then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import string
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from curator.store.search import SearchIndex, parse_search  # noqa: E402

TERMS = ("python", "abc", "qux", "zzz", "mmo", "ing")


def _batches(n_docs: int, seed: int):
    rng = random.Random(seed)
    letters = string.ascii_lowercase

    def text() -> str:
        return " ".join("".join(rng.choices(letters, k=rng.randint(4, 10))) for _ in range(10))

    for start in range(0, n_docs, 20_000):
        n = min(20_000, n_docs - start)
        yield "words", pa.record_batch({"search_key": pa.array(range(start, start + n), pa.int64()),
                                        "prompt": [text() for _ in range(n)], "response_a": [text() for _ in range(n)],
                                        "response_b": [""] * n})


def _time(index: SearchIndex, term: str, repeat: int) -> tuple[float, pa.Table]:
    ms = []
    for _ in range(repeat):
        index.clear_cache()
        t = time.perf_counter()
        hits = index.hits(parse_search(term), ranked=False)
        ms.append((time.perf_counter() - t) * 1000)
    return statistics.median(ms), hits.matches


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--docs", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="curator-bench-words-") as tmp:
        index = SearchIndex(Path(tmp) / "words.duckdb")
        t = time.perf_counter()
        index.update([], _batches(args.docs, args.seed), {"words": args.docs})
        built_s = time.perf_counter() - t
        t = time.perf_counter()
        while index._vocabulary is None:  # read in the background after the update
            time.sleep(0.05)
        vocabulary_s = time.perf_counter() - t
        words = index._vocabulary
        rows = []
        for term in TERMS:
            listed_ms, listed = _time(index, term, args.repeat)
            index._vocabulary = None
            regex_ms, regex = _time(index, term, args.repeat)
            index._vocabulary = words
            if listed != regex:
                sys.exit(f"{term!r}: the word list and the regular expression disagree")
            rows.append({"term": term, "matches": listed.keys.num_rows, "negated": listed.negated,
                         "word_list_ms": round(listed_ms, 1), "regex_ms": round(regex_ms, 1),
                         "ratio": round(regex_ms / max(listed_ms, 1e-6), 1)})
    print(f"{args.docs:,} documents, {len(words):,} distinct words ({words.nbytes / 1e6:.0f} MB as a list); index "
          f"built in {built_s:.1f} s, word list read in {vocabulary_s:.1f} s (in the background)")
    print(f"{'term':<8} {'matches':>8} {'word list ms':>13} {'regex ms':>9} {'ratio':>6}")
    for r in rows:
        print(f"{r['term']:<8} {r['matches']:>8} {r['word_list_ms']:>13} {r['regex_ms']:>9} {r['ratio']:>6}")
    print(f"load average (1 min) {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(json.dumps({"bench": "search_words", "docs": args.docs, "distinct_words": len(words),
                      "word_list_mb": round(words.nbytes / 1e6), "word_list_read_s": round(vocabulary_s, 1),
                      "median_ratio": statistics.median(r["ratio"] for r in rows), "terms": rows}))


if __name__ == "__main__":
    main()
