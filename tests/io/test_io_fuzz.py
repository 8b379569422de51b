"""Hostile and broken input, generated: every reader either reads the rows exactly or raises IngestError.

Two tiers, so the suite stays cheap on 2 CI cores:

- reader tier (hypothesis profile ``curator-io-fuzz``: 10,000 cases per reader, derandomized, no
  deadline): each shape reader (`curator.io.shapes.READERS`) on in-memory rows, and each format
  reader (JSONL, JSON, JSON.gz, CSV, Parquet through `read_source` on a small file; Hugging Face
  datasets through `HfRows` on in-memory `datasets.Dataset`s). A case with a planted fault must
  raise `IngestError` naming the file, the record and the field; a clean case must give exactly the
  planted pairs (texts, labels, votes, metadata). Any other exception fails.
- store tier (profile ``curator-io-fuzz-store``, fewer cases): the same files through
  `ingest_source` into one store per test; a failed import leaves every count unchanged, a clean one
  adds exactly its pairs, stored byte for byte.

``CURATOR_FUZZ_EXAMPLES`` / ``CURATOR_FUZZ_STORE_EXAMPLES`` change the numbers (e.g. 100 while
editing). A 10 MB field and `save_to_disk` folders have their own small tests at the end.
"""

from __future__ import annotations

import csv
import gzip
import io
import itertools
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import fuzz_gen as g
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fuzz_gen import as_strategy
from fuzz_shapes import (
    EXPLICIT_CONSUMED,
    SHAPE_CASES,
    TEXT,
    Case,
    expected_meta,
    explicit_cases,
    meta_keys,
)
from hypothesis import HealthCheck, Phase, given, settings

from curator.errors import IngestError
from curator.ingest import ingest_source
from curator.io import read_source
from curator.io.conversations import is_transcript
from curator.io.fields import ReadContext
from curator.io.hf import HfRows
from curator.io.shapes import READERS
from curator.schema import PairFilter, compute_pair_id

N_READER = int(os.environ.get("CURATOR_FUZZ_EXAMPLES", "10000"))
N_STORE = int(os.environ.get("CURATOR_FUZZ_STORE_EXAMPLES", "150"))
_COMMON = {"deadline": None, "derandomize": True, "database": None, "print_blob": True,
           "suppress_health_check": list(HealthCheck), "phases": [Phase.explicit, Phase.generate, Phase.shrink]}
settings.register_profile("curator-io-fuzz", max_examples=N_READER, **_COMMON)
settings.register_profile("curator-io-fuzz-store", max_examples=N_STORE, **_COMMON)
READER_FUZZ = settings.get_profile("curator-io-fuzz")
STORE_FUZZ = settings.get_profile("curator-io-fuzz-store")


# -- checking one outcome --------------------------------------------------------------------

def outcome(read: Callable[[], list[Any]]) -> list[Any] | IngestError:
    """The records, or the IngestError; any other exception escapes and fails the test."""
    try:
        return read()
    except IngestError as e:
        return e


def _names_field(field: str | None, names: tuple[str, ...]) -> bool:
    return field is not None and any(field == n or field.startswith((n + "[", n + ".")) for n in names)


def check_error(err: IngestError, path: str, record: int | None, names: tuple[str, ...] | None = None) -> None:
    """The error names the file, the record and (when known) the field, in its attributes and its message."""
    text = str(err)
    assert err.path == path and text.startswith(path), text
    if record is not None:
        assert err.record == record and f"record {record}" in text, (record, text)
    if names is not None:
        assert _names_field(err.field, names) and repr(err.field) in text, (names, text)


def check_pairs(records: list[Any], expected: list[tuple[Any, ...]], split: str | None = None) -> None:
    assert len(records) == len(expected), (len(records), len(expected))
    for r, (prompt, a, b, label, judged, meta) in zip(records, expected, strict=True):
        if prompt == "split":  # plain implicit text: prompt + whitespace + response rebuilds each side
            if not (is_transcript(a) and is_transcript(b)):
                for whole, part in ((a, r.response_a), (b, r.response_b)):
                    assert whole.startswith(r.prompt) and whole.endswith(part), (whole, r.prompt, part)
                    assert not whole[len(r.prompt):len(whole) - len(part)].strip(), (whole, r.prompt, part)
        else:
            assert (r.prompt, r.response_a, r.response_b) == (prompt, a, b)
        assert r.label == label
        assert [(j.kind, j.annotator, j.choice) for j in r.judgements] == judged
        if meta is not None:
            assert r.metadata == meta
        if split is not None:
            assert r.split == split


def check_case(case: Case, got: list[Any] | IngestError, path: str) -> None:
    if case.fault is None:
        assert not isinstance(got, IngestError), f"clean rows {case.rows!r} raised {got}"
        check_pairs(got, case.expected)
    else:
        record, names = case.fault
        assert isinstance(got, IngestError), f"fault {case.fault} in {case.rows!r} was read as {got!r}"
        check_error(got, path, record, names)


# -- reader tier: shapes on in-memory rows ---------------------------------------------------------

@pytest.mark.parametrize("reader", sorted(SHAPE_CASES))
def test_shape_readers_read_exactly_or_name_the_fault(reader):
    path = f"fuzz/{reader}.jsonl"

    @READER_FUZZ
    @given(as_strategy(SHAPE_CASES[reader]))
    def run(case: Case) -> None:
        ctx = ReadContext(path=path, mapping=case.mapping)
        rows = [dict(r) for r in case.rows]
        got = outcome(lambda: list(READERS[case.shape](enumerate(rows, 1), ctx)))
        check_case(case, got, path)

    run()


# -- reader tier: file formats ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def scratch() -> Iterator[Iterator[Path]]:
    """Fresh file names in RAM when the machine has /dev/shm (rewriting one file is 10x slower)."""
    base = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
    with tempfile.TemporaryDirectory(dir=base, prefix="curator-fuzz-") as folder:
        yield (Path(folder) / f"c{i}" for i in itertools.count())


def _write(folder: Path, name: str, data: bytes) -> Path:
    folder.mkdir()
    path = folder / name
    path.write_bytes(data)
    return path


def _read_file(path: Path) -> list[Any]:
    return list(read_source(path, shape="explicit").records())


def _cleanup(path: Path) -> None:
    path.unlink()
    path.parent.rmdir()


JSON_FAULTS = ("none", "none", "none", "truncate", "trailing", "not-object", "latin1", "raw-nul", "surrogate",
               "deep", "bigint", "utf16", "empty")
_EXTRA = {"surrogate": '"zz_note": "\\ud800 x"', "deep": '"zz_deep": ' + "[" * 100_000 + "]" * 100_000,
          "bigint": '"zz_big": ' + "9" * 5000}
_ASCII = g.text("abcxyz <>'%_", max_size=8)


@g.composite
def json_files(draw: Any, family: str | None = None) -> tuple[bytes, str, Case, int | None, tuple[str, ...] | None,
                                                            str]:
    """(bytes, file name, case, record and fields the error must name, fault) of a JSONL or JSON file."""
    fmt = draw(g.sampled_from((family, f"{family}.gz") if family else ("jsonl", "json", "json.gz", "jsonl.gz")))
    case = draw(explicit_cases())
    fault = "rows" if case.fault else draw(g.sampled_from(JSON_FAULTS))
    # a planted lone surrogate can only be written escaped; Latin-1 bytes only unescaped
    ascii_only = (draw(g.booleans()) or bool(case.fault)) and fault != "latin1"
    rows: list[Any] = list(case.rows)
    i = draw(g.integers(0, len(rows) - 1))
    if fault == "not-object":
        rows[i] = draw(g.sampled_from(([1], None, "s", 3, True)))
    elif fault == "latin1":
        rows[i] = {"prompt": "caf\xe9 " + draw(_ASCII), "chosen": "c", "rejected": "r"}
    names: tuple[str, ...] | None = case.fault[1] if case.fault else ("zz_note",) if fault == "surrogate" else None
    record: int | None = None
    if fmt.startswith("jsonl"):
        lines, numbers = [], []
        for row in rows:
            while draw(g.integers(0, 9)) == 0:
                lines.append(draw(g.sampled_from((b"", b"  ", b"\t"))))
            numbers.append(len(lines) + 1)
            lines.append(json.dumps(row, ensure_ascii=ascii_only).encode("utf-8"))
        if fault not in ("none", "utf16", "empty"):
            record = numbers[(case.fault[0] if case.fault else i + 1) - 1]
        at = numbers[i] - 1
        if fault == "truncate":
            lines[at] = lines[at][:draw(g.integers(1, len(lines[at]) - 1))]
        elif fault == "trailing":
            lines[at] += b" x"
        elif fault == "latin1":
            lines[at] = json.dumps(rows[i], ensure_ascii=False).encode("latin-1")
        elif fault == "raw-nul":
            lines[at] = lines[at].replace(b'"prompt": "', b'"prompt": "\x00', 1)
        elif fault in _EXTRA:
            lines[at] = lines[at][:-1] + b", " + _EXTRA[fault].encode() + b"}"
        eol = draw(g.sampled_from((b"\n", b"\r\n")))
        data = eol.join(lines) + draw(g.sampled_from((eol, b"")))
        if fault == "empty":
            data = draw(g.sampled_from((b"", b"\n\n", b"  \n")))
    else:
        doc: Any = rows if draw(g.booleans()) else {"data": rows, "n": len(rows)}
        text = json.dumps(doc, ensure_ascii=ascii_only, indent=draw(g.sampled_from((None, 1))))
        if fault == "rows":
            record = case.fault[0]
        elif fault == "surrogate" or (fault == "not-object" and (i > 0 or isinstance(doc, list))):
            record = i + 1  # (a wrapped list whose first item is no object is no list of records at all)
        if fault == "truncate":
            text = text[:draw(g.integers(1, len(text) - 1))]
        elif fault == "trailing":
            text += " x"
        elif fault == "raw-nul":
            text = text.replace('"prompt": "', '"prompt": "\x00', 1)
        elif fault in _EXTRA:  # into the object of row i: the first key of each row is "prompt"
            starts = [k for k in range(len(text)) if text.startswith('"prompt": ', k)]
            at = starts[i]
            text = text[:at] + _EXTRA[fault] + ", " + text[at:]
        elif fault == "empty":
            text = draw(g.sampled_from(("", "[]", "  ", '{"data": []}')))
        data = text.encode("latin-1", errors="replace") if fault == "latin1" else text.encode("utf-8")
    if fault == "utf16":
        data = data.decode("utf-8").encode(draw(g.sampled_from(("utf-16", "utf-16-le", "utf-16-be"))))
    elif fault != "latin1" and draw(g.integers(0, 4)) == 0:
        data = b"\xef\xbb\xbf" + data
    if fmt.endswith(".gz"):
        data = gzip.compress(data, mtime=0)
        if fault == "none" and draw(g.integers(0, 3)) == 0:
            data, fault = data[:draw(g.integers(1, max(1, len(data) - 9)))], "gz-truncated"
    return data, f"rows.{fmt}", case, record, names, fault


def check_file(got: list[Any] | IngestError, path: Path, case: Case, record: int | None,
               names: tuple[str, ...] | None, fault: str, *, split: str | None = None) -> None:
    """Clean files read exactly; planted faults raise naming file, record and field; encodings may go either way."""
    if fault in ("none", "bom", "crlf"):
        assert not isinstance(got, IngestError), f"clean file raised {got}"
        check_pairs(got, case.expected, split)
        return
    if fault in ("utf16", "flip") and not isinstance(got, IngestError):
        if fault == "utf16":  # json.loads reads UTF-16 documents; then the rows must be exact
            check_pairs(got, case.expected, split)
        return
    assert isinstance(got, IngestError), f"fault {fault!r} was read as {got!r}"
    check_error(got, str(path), record, names)


@pytest.mark.parametrize("family", ["jsonl", "json"])
def test_json_files_read_exactly_or_name_the_fault(family, scratch):
    """JSONL, JSON and their .gz: malformed lines, non-objects, bad encodings, surrogates, nesting, NUL."""

    @READER_FUZZ
    @given(as_strategy(json_files(family)))
    def run(file: tuple[Any, ...]) -> None:
        data, name, case, record, names, fault = file
        path = _write(next(scratch), name, data)
        got = outcome(lambda: _read_file(path))
        _cleanup(path)
        check_file(got, path, case, record, names, fault)

    run()


CSV_FAULTS = ("none", "none", "none", "ragged", "missing-column", "latin1", "unclosed-quote", "utf16")


@g.composite
def csv_files(draw: Any) -> tuple[bytes, str, Case, int | None, tuple[str, ...] | None, str]:
    """A CSV (or TSV, or .csv.gz) of explicit rows, every cell hostile text, maybe one planted fault."""
    # (a header starting with U+FEFF would lose it to the BOM-stripping decoder: not a fault of the data)
    keys = draw(g.lists(meta_keys(EXPLICIT_CONSUMED).filter(lambda k: not k.startswith("\ufeff")), max_size=2,
                         unique=True))
    n = draw(g.integers(1, 4))
    header = list(draw(g.permutations(["prompt", "chosen", "rejected", *keys])))
    case = Case("explicit", [])
    for _ in range(n):
        row = {k: draw(TEXT) for k in header}
        case.rows.append(row)
        case.expected.append((row["prompt"], row["chosen"], row["rejected"], "a", [],
                              expected_meta(row, EXPLICIT_CONSUMED)))
    fault = draw(g.sampled_from(CSV_FAULTS))
    tsv = draw(g.integers(0, 3)) == 0
    buf = io.StringIO()
    # "\n" ends lines only with every cell quoted: a bare "\r" in an unquoted cell would end the row
    eol, quoting = draw(g.sampled_from((("\r\n", csv.QUOTE_MINIMAL), ("\n", csv.QUOTE_ALL), ("\r\n", csv.QUOTE_ALL))))
    writer = csv.writer(buf, delimiter="\t" if tsv else ",", lineterminator=eol, quoting=quoting)
    i = draw(g.integers(0, n - 1))
    if fault == "missing-column":
        header.remove("rejected")
    writer.writerow(header)
    for j, row in enumerate(case.rows):
        cells = [row[k] for k in header]
        if j == i and fault == "ragged":
            cells.append("extra")
        if j == i and fault == "latin1":
            cells[0] = "caf\xe9 " + draw(_ASCII)
        writer.writerow(cells)
    text = buf.getvalue()
    if fault == "unclosed-quote":
        text += '"never closed' + ("\t" if tsv else ",") + "x\n"
        i = n
    record = {"ragged": i + 1, "missing-column": 1, "latin1": None, "unclosed-quote": i + 1,
              "utf16": 1}.get(fault)
    names = ("rejected",) if fault == "missing-column" else None
    if fault == "latin1":
        data = text.encode("latin-1", errors="replace")
    elif fault == "utf16":
        data = text.encode(draw(g.sampled_from(("utf-16", "utf-16-le"))))
    else:
        data = (b"\xef\xbb\xbf" if draw(g.integers(0, 4)) == 0 else b"") + text.encode("utf-8")
    gz = draw(g.integers(0, 4)) == 0
    return (gzip.compress(data, mtime=0) if gz else data, "rows." + ("tsv" if tsv else "csv") + (".gz" if gz else ""),
            case, record, names, fault)


def test_csv_files_read_exactly_or_name_the_fault(scratch):
    @READER_FUZZ
    @given(as_strategy(csv_files()))
    def run(file: tuple[Any, ...]) -> None:
        data, name, case, record, names, fault = file
        path = _write(next(scratch), name, data)
        got = outcome(lambda: _read_file(path))
        _cleanup(path)
        check_file(got, path, case, record, names, fault)

    run()


# Typed extra columns, as Parquet and Arrow hold them.
_COLUMNS = {"int": (pa.int64(), g.one_of(g.none(), g.integers(-(2**63), 2**63 - 1))),
            "float": (pa.float64(), g.one_of(g.none(), g.floats(allow_nan=False))),
            "text": (pa.string(), g.one_of(g.none(), TEXT)),
            "tags": (pa.list_(pa.string()), g.one_of(g.none(), g.lists(TEXT, max_size=3))),
            "nested": (pa.struct([("k", pa.string()), ("v", pa.int64())]),
                       g.one_of(g.none(), g.fixed_dictionaries({"k": TEXT, "v": g.integers(0, 9)})))}
MESSAGE_LIST = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
TABLE_FAULTS = ("none", "none", "none", "null", "int-column", "missing-column", "messages-null-content")


@g.composite
def tables(draw: Any) -> tuple[pa.Table, Case, int | None, tuple[str, ...] | None, str]:
    """An Arrow table of explicit rows (text or message prompts, typed extra columns), maybe one fault."""
    n = draw(g.integers(1, 5))
    messages = draw(g.booleans())
    extra = draw(g.lists(g.sampled_from(sorted(_COLUMNS)), max_size=3, unique=True))
    fault = draw(g.sampled_from(TABLE_FAULTS))
    if fault == "messages-null-content" and not messages:
        fault = "none"
    cols: dict[str, list[Any]] = {"prompt": [], "chosen": [], "rejected": []}
    case = Case("explicit", [])
    for _ in range(n):
        prompt: Any = ([{"role": "user", "content": draw(TEXT)} for _ in range(draw(g.integers(1, 2)))]
                       if messages else draw(TEXT))
        row = {"prompt": prompt, "chosen": draw(TEXT), "rejected": draw(TEXT),
               **{k: draw(_COLUMNS[k][1]) for k in extra}}
        for k, v in row.items():
            cols.setdefault(k, []).append(v)
        case.expected.append((prompt, row["chosen"], row["rejected"], "a", [], expected_meta(row, EXPLICIT_CONSUMED)))
    i = draw(g.integers(0, n - 1))
    record, names = None, None
    types = {"prompt": MESSAGE_LIST if messages else pa.string(), "chosen": pa.string(), "rejected": pa.string(),
             **{k: _COLUMNS[k][0] for k in extra}}
    if fault == "null":
        field = draw(g.sampled_from(("prompt", "chosen", "rejected")))
        cols[field][i] = None
        record, names = i + 1, (field,)
    elif fault == "int-column":
        field = draw(g.sampled_from(("chosen", "rejected")))
        cols[field], types[field] = list(range(n)), pa.int64()
        record, names = 1, (field,)
    elif fault == "missing-column":
        field = draw(g.sampled_from(("prompt", "chosen", "rejected")))
        del cols[field], types[field]
        record, names = 1, (field,)
    elif fault == "messages-null-content":
        cols["prompt"][i] = [{"role": "user", "content": None}]
        record, names = i + 1, ("prompt",)
    table = pa.table({k: pa.array(v, type=types[k]) for k, v in cols.items()})
    return table, case, record, names, fault


@g.composite
def parquet_files(draw: Any) -> tuple[bytes, str, Case, int | None, tuple[str, ...] | None, str]:
    table, case, record, names, fault = draw(tables())
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression=draw(g.sampled_from(("none", "snappy", "zstd"))))
    data = sink.getvalue().to_pybytes()
    if fault == "none":
        damage = draw(g.sampled_from(("none", "none", "truncate", "flip", "not-parquet")))
        if damage == "truncate":
            data = data[:draw(g.integers(0, len(data) - 1))]
        elif damage == "flip":
            at = draw(g.integers(0, len(data) - 1))
            data = data[:at] + bytes([data[at] ^ draw(g.integers(1, 255))]) + data[at + 1:]
        elif damage == "not-parquet":
            data = b"PAR1" + draw(g.binary(max_size=64))
        fault = damage
    return data, "rows.parquet", case, record, names, fault


def test_parquet_files_read_exactly_or_name_the_fault(scratch):
    """Nulls, wrong column types, missing columns, truncated or damaged files, garbage with a PAR1 magic."""

    @READER_FUZZ
    @given(as_strategy(parquet_files()))
    def run(file: tuple[Any, ...]) -> None:
        data, name, case, record, names, fault = file
        if fault in ("truncate", "not-parquet") and len(data) == 0:
            return  # an empty file: covered by the JSON tests
        path = _write(next(scratch), name, data)
        got = outcome(lambda: _read_file(path))
        _cleanup(path)
        if fault == "truncate":
            assert isinstance(got, IngestError) and got.path == str(path), got
            return
        check_file(got, path, case, record, names, fault)

    run()


def test_hf_datasets_read_exactly_or_name_the_fault():
    """`datasets.Dataset` / `DatasetDict` in memory, through `HfRows` (the reader behind `--format hf`)."""
    import datasets

    fingerprints = itertools.count()

    @READER_FUZZ
    @given(as_strategy(g.tuples(tables(), g.booleans())))
    def run(drawn: tuple[Any, ...]) -> None:
        (table, case, record, names, fault), two_splits = drawn
        ds = datasets.Dataset(table, fingerprint=f"fuzz-{next(fingerprints)}")  # hashing the table: 10x slower
        data: Any = datasets.DatasetDict({"test": ds}) if two_splits else ds
        rows = HfRows("fuzz/hf-dataset", data, name="hf")
        got = outcome(lambda: list(READERS["explicit"](iter(rows), ReadContext(path="fuzz/hf-dataset"))))
        check_file(got, Path("fuzz/hf-dataset"), case, record, names, fault, split="test" if two_splits else None)

    run()


# -- store tier: the same files through ingest_source, one store per test ---------------------------

def _counts(store: Any) -> tuple[int, int, int]:
    s = store.stats()
    return s["pairs"], s["judgements"], len(s["datasets"])


@pytest.mark.parametrize("files", ["json", "csv", "parquet"])
def test_failed_imports_leave_the_store_unchanged(files, make_store, scratch):
    strategy = {"json": json_files(), "csv": csv_files(), "parquet": parquet_files()}[files]
    store = make_store()
    names = (f"d{i}" for i in itertools.count())

    @STORE_FUZZ
    @given(as_strategy(strategy))
    def run(file: tuple[Any, ...]) -> None:
        data, fname, case, _record, _names, fault = file
        if not data:
            return
        path = _write(next(scratch), fname, data)
        before = _counts(store)
        got = outcome(lambda: ingest_source(store, path, name=next(names), shape="explicit", batch_size=2))
        _cleanup(path)
        after = _counts(store)
        if isinstance(got, IngestError):
            assert after == before, f"a failed import changed the store: {before} -> {after} ({got})"
            assert fault != "none", got
            return
        assert fault in ("none", "utf16", "flip"), f"fault {fault!r} was imported: {got}"
        if fault == "flip":  # a damaged Parquet page may still decode; its rows are then whatever it holds
            return
        expected = case.expected
        assert got.new_pairs + got.skipped_pairs == len(expected)
        assert after[0] == before[0] + got.new_pairs
        for prompt, a, b, _label, _judged, _meta in expected:  # stored byte for byte: NUL, controls, bidi
            key = json.dumps(prompt, ensure_ascii=False, sort_keys=True) if isinstance(prompt, list) else prompt
            stored = store.pair(compute_pair_id(key, a, b))
            assert stored is not None and (stored["response_a"], stored["response_b"]) == (a, b)
            if isinstance(prompt, str):
                assert stored["prompt"] == prompt
            else:
                assert stored["prompt_messages"] == prompt

    run()
    assert store.count_pairs(PairFilter()) == _counts(store)[0]


# -- a few large or slow cases ----------------------------------------------------------------------

BIG = "x\x00<script>" * (10 * 2**20 // 10)  # 10 MB, NUL and markup inside


@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv", "parquet"])
@pytest.mark.parametrize("broken", [False, True])
def test_ten_megabyte_fields(fmt, broken, make_store, tmp_path):
    rows = [{"prompt": BIG, "chosen": "c", "rejected": "r"}, {"prompt": "p", "chosen": BIG, "rejected": BIG[:-1]}]
    if broken:
        rows.append({"prompt": "p", "chosen": "c"})
    path = tmp_path / f"big.{fmt}"
    if fmt == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    elif fmt == "json":
        path.write_text(json.dumps(rows), encoding="utf-8")
    elif fmt == "csv":
        with path.open("w", encoding="utf-8", newline="") as f:
            writer = csv.DictWriter(f, ["prompt", "chosen", "rejected"])
            writer.writeheader()
            writer.writerows(rows[:2])
            if broken:
                f.write("p,c,r,one too many\n")  # CSV cannot lack a cell: a ragged row instead
    else:
        pq.write_table(pa.Table.from_pylist(rows), path)
    store = make_store()
    before = _counts(store)
    if broken:
        with pytest.raises(IngestError) as info:
            ingest_source(store, path, name="big")
        assert info.value.record == 3 and info.value.field == (None if fmt == "csv" else "rejected"), \
            str(info.value)[:300]
        assert _counts(store) == before
        return
    assert ingest_source(store, path, name="big").new_pairs == 2
    stored = store.pair(compute_pair_id("p", BIG, BIG[:-1]))
    assert stored is not None and stored["response_a"] == BIG and stored["response_b"] == BIG[:-1]


@settings(max_examples=25, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(as_strategy(g.tuples(tables(), g.booleans())))
def test_save_to_disk_folders(tmp_path_factory, drawn):
    """The whole `--format hf` path on real `save_to_disk` folders, intact or with the data file gone."""
    import datasets

    (table, case, record, names, fault), damage = drawn
    folder = tmp_path_factory.mktemp("hf") / "saved"
    datasets.DatasetDict({"test": datasets.Dataset(table)}).save_to_disk(str(folder))
    if damage:
        for f in folder.rglob("*.arrow"):
            f.write_bytes(b"garbage")
    got = outcome(lambda: list(read_source(folder, shape="explicit").records()))
    if damage:
        assert isinstance(got, IngestError) and got.path == str(folder), got
        return
    check_file(got, folder, case, record, names, fault, split="test")
