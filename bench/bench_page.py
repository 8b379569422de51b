"""Browse-page latency on a large store: Store.count_pairs + Store.pairs_page vs the naive way.

Builds (once, cached) a DuckDB file with N synthetic pairs in two datasets and ~1.5 judgements per
pair (AI verdicts and human votes, some disagreeing with the label), then times realistic page
requests: dataset+split, length ranges, text search (through the search index, the same kind of
terms through the substring scan it replaced, and sorted by relevance), disagreement, human
judgements, sort by length difference, deep offsets, random pages and combinations. Each request is
one page view: `count_pairs(f)` then `pairs_page(f, sort, offset)`; the index's answer is asked
once per view (count and page share it). Building the store includes the search index, timed apart.

The naive way (what a first Streamlit page does) loads the filtered rows into pandas, sorts them
there and slices the page. It runs on a subset of the same requests in the same run, so the
ratio compares like with like even when the machine is shared.

    python bench/bench_page.py                 # 1,000,000 pairs (build ~1-2 min the first time)
    python bench/bench_page.py --pairs 100000  # quicker

Prints p50/p95/max per filter type, in wall-clock ms (what a user waits) and in CPU ms of this
process, all threads (which other processes' load does not inflate), then one JSON line with every
figure. The store is built once and kept (data/bench_page_<N>.duckdb, git-ignored); opening it with
a newer Curator applies pending migrations, timed as "open".
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from curator.schema import JUDGEMENT_BATCH_SCHEMA, SORTABLE_COLUMNS, PairFilter  # noqa: E402
from curator.store import Store  # noqa: E402
from curator.store.filters import LEN_DIFF, build_where  # noqa: E402

PAGE = 50
WORDS = ("the a of to and in is it that for on with as this be are by from or an at your which can "
         "model answer question user assistant explain write code python function list data value "
         "example step first then result number table error time because would could should please "
         "recipe travel history science music health money law garden quantum poem story email").split()
# Search terms of very different frequency (common, medium, rare); "zebra" never occurs; a phrase,
# a prefix and a mid-word substring ("ytho"), which the index answers like the scan.
SEARCH_TERMS = ("python", "quantum", "garden recipe", "error because", "zebra", "Explain", '"garden recipe"',
                "quant*", "ytho")


# -- building the store ------------------------------------------------------------------------


def _fragments(rng: np.random.Generator, n: int, lo: int, hi: int) -> pa.Array:
    out = []
    for _ in range(n):
        words = rng.choice(WORDS, size=int(rng.integers(lo, hi)))
        out.append(" ".join(words).capitalize() + ".")
    return pa.array(out)


def _join(rng: np.random.Generator, pool: pa.Array, n: int, parts: int) -> pa.Array:
    cols = [pool.take(pa.array(rng.integers(0, len(pool), n))) for _ in range(parts)]
    return pc.binary_join_element_wise(*cols, " ")


def _batches(n_pairs: int, offset: int, *, batch: int, seed: int, judgements_per_pair: float):
    rng = np.random.default_rng(seed)
    short = _fragments(rng, 4000, 3, 12)   # ~15-70 chars
    long = pa.concat_arrays([_fragments(rng, 200, 40, 120), pa.array([""] * 1800)])  # occasional long tail
    p_human = max(0.0, (judgements_per_pair - 0.9) / 2)  # 0.9 AI + 2 humans * p_human
    for start in range(0, n_pairs, batch):
        n = min(batch, n_pairs - start)
        ids = np.arange(offset + start, offset + start + n)
        pair_id = pa.array([f"{(i * 0x9E3779B97F4A7C15) & (2**80 - 1):020x}" for i in ids.tolist()])
        label = np.where(rng.random(n) < 0.9, np.where(rng.random(n) < 0.5, "a", "b"), None)
        split = np.where(rng.random(n) < 0.1, "test", "train")
        topic = pa.array(rng.choice(["code", "math", "chat", "safety", "writing"], n))
        metadata = pc.binary_join_element_wise('{"topic": "', topic, '", "source": "synthetic"}', "")
        pairs = pa.table({
            "pair_id": pair_id, "split": pa.array(split), "row_index": pa.array(np.arange(start, start + n)),
            "prompt": _join(rng, short, n, 6), "prompt_messages": pa.nulls(n, pa.string()),
            "response_a": pc.binary_join_element_wise(_join(rng, short, n, 12), long.take(
                pa.array(rng.integers(0, len(long), n))), " "),
            "response_b": pc.binary_join_element_wise(_join(rng, short, n, 12), long.take(
                pa.array(rng.integers(0, len(long), n))), " "),
            "label": pa.array(label, pa.string()), "metadata": metadata,
        })
        # AI verdicts for 90% of pairs (agree with the label 80% of the time), two human votes for
        # p_human of them (each agrees 75%); disagreement among them is what the filter finds.
        js = []
        lab = np.where(label == None, "a", label)  # noqa: E711
        flip = {"a": "b", "b": "a"}
        for kind, annotator, share, agree in (("ai", "judge-1", 0.9, 0.8), ("human", "ann-1", p_human, 0.75),
                                              ("human", "ann-2", p_human, 0.75)):
            take = rng.random(n) < share
            ok = rng.random(n) < agree
            choice = np.where(ok, lab, np.vectorize(flip.get)(lab))
            tie = rng.random(n) < 0.05
            choice = np.where(tie, "tie", choice)
            m = int(take.sum())
            js.append(pa.table({
                "pair_id": pair_id.filter(pa.array(take)), "kind": pa.array([kind] * m),
                "annotator": pa.array([annotator] * m), "choice": pa.array(choice[take]),
                "strength": pa.nulls(m, pa.float64()), "confidence": pa.array(rng.random(m)),
                "rationale": pa.nulls(m, pa.string()), "source": pa.array(["bench"] * m),
                "details": pa.nulls(m, pa.string()),
            }, schema=JUDGEMENT_BATCH_SCHEMA))
        yield pairs, pa.concat_tables(js)


def build(db: Path, n_pairs: int, *, seed: int, judgements_per_pair: float) -> dict:
    """Fill `db` with two datasets (80% / 20% of the pairs); returns build figures."""
    db.unlink(missing_ok=True)
    Path(str(db) + ".wal").unlink(missing_ok=True)
    store = Store(db)
    t0, c0 = time.perf_counter(), time.process_time()
    n_a = int(n_pairs * 0.8)
    index_s = index_cpu_s = 0.0
    for name, n, off, s in (("bench-a", n_a, 0, seed), ("bench-b", n_pairs - n_a, n_a, seed + 1)):
        store.ingest(name, _batches(n, off, batch=100_000, seed=s, judgements_per_pair=judgements_per_pair),
                     source="bench_page", shape="explicit")
        index_s += store.search_index().last_update["seconds"]  # the ingest's search index update
        index_cpu_s += store.search_index().last_update["cpu_seconds"]
    store.checkpoint()
    stats = store.stats()
    store.close()
    return {"build_s": round(time.perf_counter() - t0, 1), "build_cpu_s": round(time.process_time() - c0, 1),
            "of_which_search_index_s": round(index_s, 1), "of_which_search_index_cpu_s": round(index_cpu_s, 1),
            "pairs": stats["pairs"], "judgements": stats["judgements"]}


# -- requests ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    kind: str
    f: PairFilter
    sort: str = "row_index"
    descending: bool = False
    position: float = 0.0  # where in the result the page lies, 0 = first page, 1 = last page


def requests(n_per_kind: int, seed: int) -> list[Request]:
    rng = np.random.default_rng(seed)
    out: list[Request] = []

    def pos() -> float:
        return float(rng.choice([0.0, 0.0, rng.random(), rng.random(), 1.0]))

    for _ in range(n_per_kind):
        ds = str(rng.choice(["bench-a", "bench-b"]))
        lo = int(rng.integers(100, 300))
        rlo = int(rng.integers(300, 700))
        out += [
            Request("dataset+split", PairFilter(datasets=(ds,), splits=(str(rng.choice(["train", "test"])),)),
                    position=pos()),
            Request("prompt length", PairFilter(prompt_len=(lo, lo + int(rng.integers(20, 200)))), position=pos()),
            Request("response length", PairFilter(response_len=(rlo, rlo + int(rng.integers(100, 800)))),
                    sort="len_b", descending=True, position=pos()),
            Request("search", PairFilter(search=str(rng.choice(SEARCH_TERMS))), position=pos()),
            Request("search (scan)", PairFilter(search=str(rng.choice(SEARCH_TERMS))), position=pos()),
            Request("search by relevance", PairFilter(search=str(rng.choice(SEARCH_TERMS))), sort="relevance",
                    position=pos()),
            Request("disagreement", PairFilter(has_disagreement=bool(rng.random() < 0.8)), position=pos()),
            Request("human judged", PairFilter(judgement_source="human"), position=pos()),
            Request("sort len_diff desc", PairFilter(datasets=(ds,)), sort="len_diff", descending=True,
                    position=pos()),
            Request("deep offset", PairFilter(), sort=str(rng.choice(["row_index", "len_prompt"])),
                    position=float(rng.uniform(0.9, 1.0))),
            Request("random page", PairFilter(), sort=str(rng.choice(SORTABLE_COLUMNS)),
                    descending=bool(rng.random() < 0.5), position=float(rng.random())),
            Request("combined", PairFilter(datasets=(ds,), splits=("train",), judgement_source="human",
                                           has_disagreement=True, response_len=(rlo, None),
                                           search=str(rng.choice(["python", "", "answer"]))),
                    sort="len_diff", descending=True, position=pos()),
        ]
    return out


def offset_for(req: Request, n: int) -> int:
    last = max(0, (n - 1) // PAGE)
    return int(round(req.position * last)) * PAGE


def curator_view(store: Store, req: Request) -> tuple[int, list[str]]:
    store.use_search_index = req.kind != "search (scan)"  # the scan the index replaced, same run
    store.search_index().clear_cache()  # each request asks the index once (count and page share it)
    n = store.count_pairs(req.f)
    page = store.pairs_page(req.f, sort=req.sort, descending=req.descending, limit=PAGE,
                            offset=offset_for(req, n))
    store.use_search_index = True
    return n, page.column("pair_id").to_pylist()


def naive_view(store: Store, req: Request) -> tuple[int, list[str]]:
    """Load every filtered row (with its text) into pandas, sort there, slice the page."""
    where, params, _ = build_where(req.f)
    df = store._query(f"""
        SELECT p.pair_id, p.dataset, p.split, p.row_index, p.prompt, p.response_a, p.response_b, p.label,
               p.len_prompt, p.len_a, p.len_b, {LEN_DIFF} AS len_diff,
               (SELECT count(*) FROM judgements j WHERE j.pair_id = p.pair_id) AS n_judgements
        FROM pairs p WHERE {where}""", params, op="naive").to_pandas()
    df = df.sort_values([req.sort, "row_index", "pair_id"], ascending=[not req.descending, True, True],
                        kind="stable", na_position="last")
    n = len(df)
    off = offset_for(req, n)
    return n, df.iloc[off:off + PAGE]["pair_id"].tolist()


# -- main --------------------------------------------------------------------------------------


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def summary(ms: list[float]) -> dict:
    return {"n": len(ms), "p50_ms": round(statistics.median(ms), 1), "p95_ms": round(pct(ms, 0.95), 1),
            "max_ms": round(max(ms), 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pairs", type=int, default=1_000_000)
    ap.add_argument("--judgements-per-pair", type=float, default=1.5)
    ap.add_argument("--per-kind", type=int, default=12, help="requests per filter type (10 types)")
    ap.add_argument("--naive-every", type=int, default=7, help="run the naive way on every k-th request")
    ap.add_argument("--db", type=Path, default=None, help="store file (default: data/bench_page_<N>.duckdb)")
    ap.add_argument("--rebuild", action="store_true", help="rebuild the store even if it exists")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    db = args.db or REPO / "data" / f"bench_page_{args.pairs}.duckdb"
    built = None
    if args.rebuild or not db.exists():
        print(f"building {args.pairs:,} pairs into {db} ...", flush=True)
        built = build(db, args.pairs, seed=args.seed, judgements_per_pair=args.judgements_per_pair)
        print(f"built in {built['build_s']} s ({built['build_cpu_s']} CPU-s): {built['pairs']:,} pairs, "
              f"{built['judgements']:,} judgements")
    t, c = time.perf_counter(), time.process_time()
    store = Store(db)  # applies pending migrations to a store built by an older version
    opened = {"open_s": round(time.perf_counter() - t, 2), "open_cpu_s": round(time.process_time() - c, 2)}
    stats = store.stats()
    if stats["pairs"] != args.pairs:
        sys.exit(f"{db} holds {stats['pairs']:,} pairs, not {args.pairs:,}; pass --rebuild.")

    reqs = requests(args.per_kind, args.seed)
    load_before = os.getloadavg()[0]
    curator_view(store, reqs[0])  # warm-up: first touch of the file
    ours: dict[str, list[float]] = {}
    ours_cpu: dict[str, list[float]] = {}
    naive: dict[str, list[tuple[float, float]]] = {}
    started = time.perf_counter()
    for i, req in enumerate(reqs):
        t, c = time.perf_counter(), time.process_time()
        n, ids = curator_view(store, req)
        ms, cpu_ms = (time.perf_counter() - t) * 1000, (time.process_time() - c) * 1000
        ours.setdefault(req.kind, []).append(ms)
        ours_cpu.setdefault(req.kind, []).append(cpu_ms)
        if i % args.naive_every == 0 and req.sort != "relevance":  # pandas has no relevance to sort by
            t = time.perf_counter()
            n2, ids2 = naive_view(store, req)
            naive_ms = (time.perf_counter() - t) * 1000
            if (n, ids) != (n2, ids2):
                sys.exit(f"results differ for {req}: {n} vs {n2} rows")
            naive.setdefault(req.kind, []).append((ms, naive_ms))
        if (i + 1) % 10 == 0:
            print(f"  {i + 1}/{len(reqs)} requests, {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    store.close()

    all_ms = [m for v in ours.values() for m in v]
    all_cpu = [m for v in ours_cpu.values() for m in v]
    paired = [p for v in naive.values() for p in v]
    ratio = statistics.median(nv / max(o, 1e-6) for o, nv in paired)
    result = {
        "bench": "page", "pairs": stats["pairs"], "judgements": stats["judgements"], "page_size": PAGE,
        "requests": len(all_ms), **summary(all_ms),
        "cpu_p50_ms": round(statistics.median(all_cpu), 1), "cpu_p95_ms": round(pct(all_cpu, 0.95), 1),
        "load_avg_1m": [round(load_before, 1), round(os.getloadavg()[0], 1)], "cpus": os.cpu_count(),
        "naive_requests": len(paired), "naive_p50_ms": round(statistics.median(nv for _, nv in paired), 1),
        "curator_p50_ms_same_requests": round(statistics.median(o for o, _ in paired), 1),
        "naive_ratio_median": round(ratio, 1),
        "naive_ratio_of_totals": round(sum(nv for _, nv in paired) / sum(o for o, _ in paired), 1),
        "by_filter": {k: {**summary(v), "cpu_p50_ms": round(statistics.median(ours_cpu[k]), 1),
                          "cpu_p95_ms": round(pct(ours_cpu[k], 0.95), 1),
                          **({"naive_p50_ms": round(statistics.median(nv for _, nv in naive[k]), 1)}
                             if k in naive else {})} for k, v in ours.items()},
        "goal_p95_ms": 150, "build": built, "open": opened,
    }
    print(f"\n{'filter':<20} {'n':>4} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'cpu p50':>8} {'cpu p95':>8} "
          f"{'naive p50':>10}")
    for k, v in result["by_filter"].items():
        print(f"{k:<20} {v['n']:>4} {v['p50_ms']:>8} {v['p95_ms']:>8} {v['max_ms']:>8} {v['cpu_p50_ms']:>8} "
              f"{v['cpu_p95_ms']:>8} {v.get('naive_p50_ms', ''):>10}")
    print(f"{'all':<20} {result['requests']:>4} {result['p50_ms']:>8} {result['p95_ms']:>8} {result['max_ms']:>8} "
          f"{result['cpu_p50_ms']:>8} {result['cpu_p95_ms']:>8}")
    print(f"wall ms are what a user waits; cpu ms (all DuckDB threads of this process) do not grow with other "
          f"processes' load. Load average (1 min) before/after: {result['load_avg_1m']} on {os.cpu_count()} CPUs.")
    print(f"naive (load filtered rows into pandas, sort, slice) on {len(paired)} of the same requests: "
          f"p50 {result['naive_p50_ms']} ms vs {result['curator_p50_ms_same_requests']} ms; "
          f"median ratio {result['naive_ratio_median']}x, ratio of totals {result['naive_ratio_of_totals']}x")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
