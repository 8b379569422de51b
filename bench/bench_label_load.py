"""Label-page load: many annotators labelling at once through the code the Label page runs.

Streamlit runs each browser session as a thread of one server process, and every session shares
the one `Store` (`curator.ui.data.get_store`). So N simulated annotators are N threads over one
`Store` on a real DuckDB file, each looping over what a labelling click does on the page:
`queue.next_item` (serve / claim), then `queue.submit_label` (append to the judgement log and fill
the slot). A label counts as *acknowledged* when `submit_label` returns (the page then says "Saved").

Afterwards the database is read back through the store and checked:

- lost: acknowledged labels whose judgement row is not in the log;
- duplicated: label rows nobody acknowledged, or an annotator with two label rows on one pair (with
  `--tabs 2` that is a revision: both tabs show the person's one current item; counted apart);
- over-served: pairs served to (or labelled by) more annotators than the queue's overlap;
- errors: exceptions out of next_item / submit_label (lock and write-conflict errors counted apart);
- label-write latency (submit_label, wall ms): p50 / p95 / p99 / max.

Each annotator reads a pair for `--think-ms` (uniform 0.5x-1.5x; default 1 s, several times faster
than people label) before clicking; `--think-ms 0` is a stress test in which every thread clicks
as fast as the store answers. CPU time of the process (all threads) is printed per label, since
wall-clock latency on a shared machine is mostly waiting for a CPU.

`--pairs N` first fills the store with N other pairs (and `--background-judgements`, default 1.5
per pair), so the CPU per label shows whether a label's statements scan whole tables: a label
should cost the same on 1.5k pairs as on 200k. `--profile` prints the store's statements by
thread CPU per label (`Store.statement_hook`).

The naive way, measured in the same run on a queue of the same size, opens a fresh `Store` (a new
DuckDB connection, migrations checked) for every request, as a page that connects per request
would. DuckDB hands a second connection in the same process the already open database, so this
costs little: the comparison shows that the shared Store adds no contention of its own. Modes:

    python bench/bench_label_load.py                         # 20 annotators x 200 labels, 3 per pair
    python bench/bench_label_load.py --tabs 2                # each annotator in two tabs (two threads)
    python bench/bench_label_load.py --think-ms 0 --annotators 8 --labels 25 --naive-labels 25  # stress, quick
    python bench/bench_label_load.py --pairs 200000 --profile   # on a big store, statement profile

Prints one block per mode, a summary line (label write p50 / p95 / p99, CPU-ms per label, the
naive / Curator p99 ratio, lost / duplicated / over-served / errors), then one JSON line with every
figure; exits 1 if a label was lost, duplicated or over-served, or an error occurred.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from curator.annotate.queue import Label, create_queue, next_item, queue_progress, submit_label  # noqa: E402
from curator.io.batch import batched  # noqa: E402
from curator.schema import PairRecord  # noqa: E402
from curator.store import Store  # noqa: E402

CHOICES = ("A", "B", "tie", "both-bad")


@dataclass
class Outcome:
    mode: str
    annotators: int
    threads: int
    labels_per_annotator: int
    overlap: int
    pairs: int
    acknowledged: int = 0
    in_db: int = 0
    lost: int = 0
    duplicated: int = 0
    revisions: int = 0
    over_served: int = 0
    errors: int = 0
    lock_errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    think_ms: float = 0.0
    background_pairs: int = 0
    background_judgements: int = 0
    wall_s: float = 0.0
    cpu_s: float = 0.0
    cpu_ms_per_label: float = 0.0
    load_avg: list[float] = field(default_factory=list)
    write_ms: dict[str, float] = field(default_factory=dict)
    serve_ms: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not (self.lost or self.duplicated or self.over_served or self.errors)


def _records(n: int, tag: str) -> list[PairRecord]:
    return [PairRecord(f"{tag} question {i}: how would you explain step {i % 7}?",
                       f"Answer A{i}. " + "It explains the steps. " * (i % 5 + 1),
                       f"Answer B{i}. " + "It rambles. " * (i % 4 + 1)) for i in range(n)]


def prefill(store: Store, n_pairs: int, n_judgements: int, *, batch: int = 50_000) -> None:
    """A background dataset of `n_pairs` pairs and `n_judgements` judgements (a third human, from
    the bench's annotators among others; the rest AI), so that a label runs against a store of that
    size: any statement of the label path that scans pairs or judgements shows up in its cost."""
    import hashlib

    import pyarrow as pa

    from curator.store.pairs import INGEST_JUDGEMENT_COLUMNS, INGEST_PAIR_COLUMNS

    def pid(i: int) -> str:
        return hashlib.md5(f"background {i}".encode()).hexdigest()

    def tables():
        for lo in range(0, max(n_pairs, 1), batch):
            hi = min(n_pairs, lo + batch)
            rows = range(lo, hi)
            pairs = pa.table({
                "pair_id": [pid(i) for i in rows], "split": ["train"] * len(rows), "row_index": list(rows),
                "prompt": [f"background prompt {i}" for i in rows], "prompt_messages": [None] * len(rows),
                "response_a": [f"answer a {i}" for i in rows], "response_b": [f"answer b {i}" for i in rows],
                "label": [("a", "b", None)[i % 3] for i in rows], "metadata": [None] * len(rows)},
                schema=pa.schema([(c, pa.int64() if c == "row_index" else pa.string()) for c in INGEST_PAIR_COLUMNS]))
            # judgements k = lo*r .. hi*r of pairs k // r (r = judgements per pair on average)
            jk = range(n_judgements * lo // max(n_pairs, 1), n_judgements * hi // max(n_pairs, 1))
            judgements = pa.table({
                "pair_id": [pid(k * n_pairs // max(n_judgements, 1)) for k in jk],
                "kind": ["human" if k % 3 == 0 else "ai" for k in jk],
                "annotator": [f"annotator-{k % 40:02d}" if k % 3 == 0 else f"judge-{k % 4}" for k in jk],
                "choice": [("a", "b", "tie")[k % 3] for k in jk], "strength": [None] * len(jk),
                "confidence": [None] * len(jk), "rationale": [None] * len(jk), "source": ["bench"] * len(jk),
                "details": [None] * len(jk)},
                schema=pa.schema([(c, pa.float64() if c in ("strength", "confidence") else pa.string())
                                  for c in INGEST_JUDGEMENT_COLUMNS]))
            yield pairs, judgements

    if n_pairs:
        store.ingest("background", tables(), source="bench", shape="explicit")
        store.checkpoint()


def _build(path: Path, n_pairs: int, overlap: int, tag: str, background: tuple[int, int] = (0, 0)
           ) -> tuple[str, list[str]]:
    store = Store(path)
    prefill(store, *background)
    records = _records(n_pairs, tag)
    store.ingest("load", batched(records, source="bench"), source="bench", shape="explicit")
    ids = [r.pair_id for r in records]
    queue = create_queue(store, name=f"load {tag}", pair_ids=ids, annotators_per_pair=overlap)
    store.close()
    return queue.queue_id, ids


def _pcts(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    v = sorted(values)

    def pct(p: float) -> float:
        return round(v[min(len(v) - 1, max(0, math.ceil(p / 100 * len(v)) - 1))], 2)

    return {"n": len(v), "p50": pct(50), "p95": pct(95), "p99": pct(99), "max": round(v[-1], 2),
            "mean": round(statistics.fmean(v), 2)}


def _is_lock_error(e: BaseException) -> bool:
    text = f"{type(e).__name__} {e} {type(e.__cause__).__name__}".lower()
    return any(w in text for w in ("lock", "conflict", "transaction"))


def queue_size(annotators: int, labels: int, overlap: int, spare: float = 0.1) -> int:
    """Pairs for a queue with enough slots for everyone's labels, plus `spare`."""
    return math.ceil(annotators * labels / overlap * (1 + spare)) + 1


def run_load(path: Path, *, annotators: int, labels: int, overlap: int, n_pairs: int, tabs: int = 1,
             think_ms: float = 0.0, connect_per_write: bool = False, background: tuple[int, int] = (0, 0),
             profile: dict[str, list[float]] | None = None) -> Outcome:
    """Build a queue of `n_pairs` on a fresh file at `path` (after `background` = (pairs, judgements)
    of other data), label it concurrently, and check the log. With `profile`, the thread CPU seconds
    of every store statement are collected there by statement (see `Store.statement_hook`)."""
    queue_id, ids = _build(path, n_pairs, overlap, path.stem, background)
    mode = "fresh Store per label (naive)" if connect_per_write else f"shared Store, {tabs} tab(s) per annotator"
    out = Outcome(mode, annotators, annotators * tabs, labels, overlap, n_pairs, think_ms=think_ms)
    shared = None if connect_per_write else Store.open(path)
    lock = threading.Lock()
    acks: list[tuple[str, str, int]] = []  # (annotator, pair_id, judgement_id)
    served: dict[str, set[str]] = defaultdict(set)
    write_ms: list[float] = []
    serve_ms: list[float] = []
    quota: Counter[str] = Counter()  # labels acknowledged per annotator
    pending: Counter[str] = Counter()  # labels under way per annotator
    start = threading.Barrier(annotators * tabs)

    def work(w: int) -> None:
        name = f"annotator-{w:02d}"
        rng = random.Random(w)
        opened: list[Store] = []

        def _open() -> Store:
            """The shared store, or (naive) a fresh Store and DuckDB connection for this request."""
            if not connect_per_write:
                return shared
            opened.append(Store(path))
            return opened[-1]

        start.wait()
        failures = 0
        while True:
            with lock:  # a person's tabs share the quota: reserve one label before serving
                if quota[name] + pending[name] >= labels:
                    return
                pending[name] += 1
            try:
                t0 = time.perf_counter()
                item = next_item(_open(), queue_id, name)
                t1 = time.perf_counter()
                if item is None:
                    return
                with lock:
                    served[item.pair_id].add(name)
                if think_ms:  # reading the pair before clicking
                    time.sleep(think_ms / 1000 * rng.uniform(0.5, 1.5))
                choice = CHOICES[(w + item.position) % len(CHOICES)]
                t2 = time.perf_counter()
                result = submit_label(_open(), queue_id, item.pair_id, name, Label(choice, seconds=1.0))
                t3 = time.perf_counter()
                with lock:
                    acks.append((name, item.pair_id, result.judgement_id))
                    quota[name] += 1
                    serve_ms.append((t1 - t0) * 1000)
                    write_ms.append((t3 - t2) * 1000)
            except Exception as e:  # noqa: BLE001 - counted and reported
                with lock:
                    out.errors += 1
                    out.lock_errors += _is_lock_error(e)
                    if len(out.error_samples) < 5:
                        out.error_samples.append(f"{type(e).__name__}: {e}"[:300])
                failures += 1
                if failures > 20:
                    return
            finally:
                with lock:
                    pending[name] -= 1
                for store in opened:
                    store.close()
                opened.clear()

    threads = [threading.Thread(target=work, args=(w,), name=f"ann{w}-tab{t}")
               for w in range(annotators) for t in range(tabs)]
    if profile is not None:
        def hook(op: str, sql: str, seconds: float) -> None:
            profile.setdefault(f"{op}: {' '.join(sql.split())[:100]}", []).append(seconds)
        Store.statement_hook = staticmethod(hook)
    c0, t0 = time.process_time(), time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    Store.statement_hook = None
    out.wall_s, out.cpu_s = round(time.perf_counter() - t0, 2), round(time.process_time() - c0, 2)
    out.load_avg = [round(x, 1) for x in os.getloadavg()]
    out.background_pairs, out.background_judgements = background
    out.acknowledged = len(acks)
    out.cpu_ms_per_label = round(out.cpu_s * 1000 / max(1, len(acks)), 1)
    out.write_ms, out.serve_ms = _pcts(write_ms), _pcts(serve_ms)

    store = shared or Store(path)
    check_log(store, queue_id, ids, acks, served, overlap, tabs, out)
    store.close()
    return out


def check_log(store: Store, queue_id: str, ids: list[str], acks: list[tuple[str, str, int]],
              served: dict[str, set[str]], overlap: int, tabs: int, out: Outcome) -> None:
    """Compare what was acknowledged with the judgement log and the queue's slots."""
    by_id: dict[int, tuple[str, str]] = {}  # judgement_id -> (annotator, pair_id), the whole log
    for pid in ids:
        for r in store.judgements(pid).to_pylist():
            if r["kind"] == "human" and r["source"] == f"queue:{queue_id}":
                by_id[r["judgement_id"]] = (r["annotator"], pid)
    out.in_db = len(by_id)
    acked_ids = {j for _, _, j in acks}
    out.lost = sum(1 for a, p, j in acks if by_id.get(j) != (a, p))
    out.duplicated = len(set(by_id) - acked_ids) + (len(acks) - len(acked_ids))
    per_person_pair = Counter(by_id.values())
    extra = sum(n - 1 for n in per_person_pair.values() if n > 1)
    if tabs > 1:  # two tabs of one person show the same current item: a label in each is a revision
        out.revisions = extra
    else:
        out.duplicated += extra
    labelled_by: dict[str, set[str]] = defaultdict(set)
    for a, p in by_id.values():
        labelled_by[p].add(a)
    over = {p for p, people in served.items() if len(people) > overlap}
    over |= {p for p, people in labelled_by.items() if len(people) > overlap}
    filled = queue_progress(store, queue_id)["labels"]  # done slots: one per person and pair
    out.lost += max(0, len(per_person_pair) - filled)
    out.duplicated += max(0, filled - len(per_person_pair))
    out.over_served = len(over)


def _print(o: Outcome) -> None:
    w, s = o.write_ms, o.serve_ms
    print(f"\n== {o.mode}: {o.annotators} annotators ({o.threads} threads) x {o.labels_per_annotator} labels, "
          f"{o.overlap} per pair, {o.pairs} pairs, think {o.think_ms:.0f} ms"
          + (f", store prefilled with {o.background_pairs:,} pairs / {o.background_judgements:,} judgements"
             if o.background_pairs else ""))
    print(f"labels acknowledged {o.acknowledged:,}  in DB {o.in_db:,}  lost {o.lost}  duplicated {o.duplicated}  "
          f"over-served pairs {o.over_served}  errors {o.errors} (lock/transaction {o.lock_errors})"
          + (f"  revisions from a second tab {o.revisions}" if o.threads > o.annotators else ""))
    for sample in o.error_samples:
        print("   error:", sample)
    if w:
        print(f"label write (submit_label) ms: p50 {w['p50']}  p95 {w['p95']}  p99 {w['p99']}  max {w['max']}")
        print(f"serve (next_item) ms:          p50 {s['p50']}  p95 {s['p95']}  p99 {s['p99']}  max {s['max']}")
    print(f"wall {o.wall_s} s, CPU {o.cpu_s} s ({o.cpu_ms_per_label} CPU-ms per label, serve + write), "
          f"{o.acknowledged / max(o.wall_s, 1e-9):.1f} labels/s, load average {o.load_avg}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--annotators", type=int, default=20)
    ap.add_argument("--labels", type=int, default=200, help="labels per annotator")
    ap.add_argument("--overlap", type=int, default=3, help="annotators per pair")
    ap.add_argument("--tabs", type=int, default=1, help="threads (browser tabs) per annotator")
    ap.add_argument("--think-ms", type=float, default=1000.0,
                    help="mean time an annotator reads a pair before clicking (uniform 0.5x-1.5x); 0 = stress")
    ap.add_argument("--naive-labels", type=int, default=50, help="labels per annotator in the naive run")
    ap.add_argument("--no-naive", action="store_true")
    ap.add_argument("--pairs", type=int, default=0,
                    help="prefill the store with this many other pairs first (e.g. 200000), to show what "
                         "a label costs on a big store")
    ap.add_argument("--background-judgements", type=int, default=None,
                    help="judgements of the prefilled pairs (default 1.5 per pair)")
    ap.add_argument("--profile", action="store_true",
                    help="print the store statements of the shared run by thread CPU per label")
    args = ap.parse_args()
    background = (args.pairs, round(1.5 * args.pairs) if args.background_judgements is None
                  else args.background_judgements)
    profile: dict[str, list[float]] | None = {} if args.profile else None

    results = []
    # The naive run labels fewer pairs (it is slow) of a queue of the same size, so both scan the
    # same tables; its judgement log ends smaller, which if anything favours it.
    n_pairs = queue_size(args.annotators, args.labels, args.overlap)
    with tempfile.TemporaryDirectory(prefix="bench_label_") as tmp:
        main_run = run_load(Path(tmp) / "shared.duckdb", annotators=args.annotators, labels=args.labels,
                            overlap=args.overlap, n_pairs=n_pairs, tabs=args.tabs, think_ms=args.think_ms,
                            background=background, profile=profile)
        results.append(main_run)
        _print(main_run)
        if profile:
            n = max(1, main_run.acknowledged)
            print("store statements by thread CPU per label (ms; statement count per label):")
            for key, secs in sorted(profile.items(), key=lambda kv: -sum(kv[1]))[:15]:
                print(f"  {sum(secs) * 1000 / n:6.2f}  x{len(secs) / n:4.2f}  {key}")
        if not args.no_naive:
            naive = run_load(Path(tmp) / "naive.duckdb", annotators=args.annotators, labels=args.naive_labels,
                             overlap=args.overlap, n_pairs=n_pairs, think_ms=args.think_ms, connect_per_write=True,
                             background=background)
            results.append(naive)
            _print(naive)
            ratio = {k: round(naive.write_ms[k] / max(main_run.write_ms[k], 1e-9), 2) for k in ("p50", "p95", "p99")}
            print(f"\nnaive / Curator label-write latency: p50 {ratio['p50']}x  p95 {ratio['p95']}x  "
                  f"p99 {ratio['p99']}x")
        else:
            ratio = {}
    target = main_run.ok and main_run.write_ms.get("p99", math.inf) <= 100
    w = main_run.write_ms
    print(f"\nsummary: label write p50 {w.get('p50')} / p95 {w.get('p95')} / p99 {w.get('p99')} ms, "
          f"{main_run.cpu_ms_per_label} CPU-ms per label, naive/Curator p99 "
          f"{ratio.get('p99', 'n/a')}x, lost {main_run.lost} duplicated {main_run.duplicated} "
          f"over-served {main_run.over_served} errors {main_run.errors} (lock {main_run.lock_errors}), "
          f"load average {main_run.load_avg}")
    print(f"target (0 lost / duplicated / over-served / errors, p99 <= 100 ms): {'met' if target else 'NOT met'}")
    print(json.dumps({"runs": [asdict(r) for r in results], "naive_over_curator": ratio, "target_met": target}))
    return 0 if main_run.ok else 1


if __name__ == "__main__":
    sys.exit(main())
