"""Rows out of files and datasets: JSONL, JSON, Parquet, CSV (each optionally gzipped) (Hugging Face datasets: `curator.io.hf`).

A `Rows` object opens one source and yields ``(record, row)`` pairs: the 1-based record number an
error message should name (the line of a JSONL file, the position in a JSON list, the row of a
table) and the row as a plain dict. Large sources stream: JSONL line by line, Parquet and Hugging
Face datasets in Arrow batches, CSV row by row. Only a JSON document (one list) is parsed whole.
Every read failure (bad JSON, bad encoding, truncated gzip, not a Parquet file) is an
`IngestError` raised from inside the iteration, so an import in progress rolls back.
"""

from __future__ import annotations

import csv
import gzip
import json
import logging
import re
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from curator.errors import IngestError
from curator.io.options import FORMATS
from curator.io.rows import BATCH_ROWS, Rows

logger = logging.getLogger(__name__)

_SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".parquet": "parquet", ".pq": "parquet",
             ".csv": "csv", ".tsv": "csv"}
SPLIT_NAMES = ("train", "test", "validation", "valid", "dev", "eval")
_GENERIC_STEMS = frozenset(SPLIT_NAMES) | {"data", "dataset", "annotations"}
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
_GZIP_ERRORS = (EOFError, zlib.error, gzip.BadGzipFile)
_BLANK = object()  # a blank JSONL line (skipped), as opposed to a `null` one (an error)


def _is_gzip(path: Path) -> bool:
    with path.open("rb") as f:
        return f.read(2) == b"\x1f\x8b"


def _open_binary(path: Path, gz: bool):
    return gzip.open(path, "rb") if gz else path.open("rb")


def _not_an_object(rows: Rows, record: int, value: Any) -> IngestError:
    return rows.error(f"expected a JSON object (one record), got {type(value).__name__}.", record)


def _json_limit(e: BaseException) -> str:
    if isinstance(e, RecursionError):
        return "values are nested too deeply (more than Python's recursion limit)."
    return f"{e}."


def _check_surrogates(rows: Rows, record: int, value: Any, where: str = "") -> None:
    """Raise naming the field when a JSON string (value or key) holds an unpaired surrogate.

    JSON allows ``"\\ud800"``, but such text cannot be stored as UTF-8; every field of the record,
    metadata included, is checked (only for records whose line holds a ``\\u`` escape).
    """
    stack = [(where, value)]
    while stack:
        path, v = stack.pop()
        if type(v) is str:
            if not v.isascii():
                try:
                    v.encode("utf-8")
                except UnicodeEncodeError as e:
                    raise rows.error(f"text holds an unpaired surrogate ({v[e.start:e.end]!r}) at character "
                                     f"{e.start}; it is not valid Unicode.", record, path or None) from None
        elif type(v) is dict:
            for k, item in v.items():
                sub = f"{path}.{k}" if path else str(k)
                if not k.isascii():
                    try:
                        k.encode("utf-8")
                    except UnicodeEncodeError:
                        raise rows.error(f"the field name holds an unpaired surrogate ({k!r}); it is not valid "
                                         "Unicode.", record, sub) from None
                stack.append((sub, item))
        elif type(v) is list:
            stack.extend((f"{path}[{i}]", item) for i, item in enumerate(v))


class JsonlRows(Rows):
    """JSON Lines, optionally gzipped: one object per line; blank lines are skipped."""

    fmt = "jsonl"

    def __init__(self, file: Path, *, gz: bool, **kw: Any):
        super().__init__(str(file), **kw)
        self.file = file
        self.gz = gz

    def _iter(self) -> Iterator[tuple[int, dict[str, Any]]]:
        # raw_decode on decoded text is about twice as fast as json.loads(bytes); anything unusual
        # (a BOM, blank or indented lines, trailing text, bad bytes) takes the careful path.
        decode = json.JSONDecoder().raw_decode
        lineno = 0
        try:
            with _open_binary(self.file, self.gz) as f:
                for lineno, line in enumerate(f, 1):  # noqa: B007 - read in the except clause
                    try:
                        text = line.decode()
                        row, end = decode(text)
                        if end < len(text) - 1 and not text[end:].isspace():
                            raise ValueError("trailing text")
                    except (ValueError, RecursionError):  # JSONDecodeError, UnicodeDecodeError: ValueErrors
                        row = self._careful(line, lineno)
                        if row is _BLANK:
                            continue
                    if type(row) is not dict:
                        raise _not_an_object(self, lineno, row)
                    if b"\\u" in line:  # only a \uXXXX escape can make a lone surrogate
                        _check_surrogates(self, lineno, row)
                    yield lineno, row
        except _GZIP_ERRORS as e:
            raise self.error(f"the gzip stream is truncated or corrupt after line {lineno} ({e}).",
                             lineno + 1) from None

    def _careful(self, line: bytes, lineno: int) -> Any:
        """json.loads with a precise error, or _BLANK for a blank line (a ``null`` line is None, an error)."""
        if lineno == 1 and line.startswith(b"\xef\xbb\xbf"):
            line = line[3:]  # a UTF-8 byte order mark, before a blank first line too
        try:
            return json.loads(line)
        except json.JSONDecodeError as e:
            if not line.strip():
                return _BLANK
            raise self.error(f"invalid JSON: {e.msg} (column {e.colno}).", lineno) from None
        except UnicodeDecodeError as e:
            raise self.error(f"not valid UTF-8 text (byte {e.start}: {e.reason}); re-encode the file as UTF-8.",
                             lineno) from None
        except (ValueError, RecursionError) as e:  # an integer of over 4300 digits; nesting deeper than ~1000
            raise self.error(f"unreadable JSON: {_json_limit(e)}", lineno) from None

    def estimate(self) -> int | None:
        size = self.file.stat().st_size
        if self.gz and size > 64 * 2**20:
            return None  # counting would decompress the whole file once more
        count, last = 0, b"\n"
        try:
            with _open_binary(self.file, self.gz) as f:
                while chunk := f.read(2**22):
                    count += chunk.count(b"\n")
                    last = chunk[-1:]
        except _GZIP_ERRORS:
            return None  # the read itself will report it, with a line number
        return count + (last != b"\n")


class JsonRows(Rows):
    """A JSON document: a list of objects, or an object holding one such list (``{"data": [...]}``)."""

    fmt = "json"
    _LIST_KEYS = ("data", "rows", "records", "examples", "pairs", "items", "instances")

    def __init__(self, file: Path, *, gz: bool, **kw: Any):
        super().__init__(str(file), **kw)
        self.file = file
        self.gz = gz
        self._cache: list[Any] | None = None
        self._count: int | None = None
        self._escapes = True

    def load(self) -> list[Any]:
        if self._cache is not None:
            return self._cache
        try:
            with _open_binary(self.file, self.gz) as f:
                raw = f.read()
        except _GZIP_ERRORS as e:
            raise self.error(f"the gzip stream is truncated or corrupt ({e}).") from None
        try:
            doc = json.loads(raw)
        except json.JSONDecodeError as e:
            raise self.error(f"invalid JSON at line {e.lineno}, column {e.colno}: {e.msg}.") from None
        except UnicodeDecodeError as e:
            line = raw.count(b"\n", 0, e.start) + 1
            raise self.error(f"not valid UTF-8 text at line {line} ({e.reason}); re-encode the file as UTF-8.") \
                from None
        except (ValueError, RecursionError) as e:
            raise self.error(f"unreadable JSON: {_json_limit(e)}") from None
        self._escapes = b"\\u" in raw
        self._cache = self._records_of(doc)
        self._count = len(self._cache)
        return self._cache

    def _records_of(self, doc: Any) -> list[Any]:
        if isinstance(doc, list):
            return doc
        if isinstance(doc, dict):
            lists = {k: v for k, v in doc.items() if isinstance(v, list) and v and isinstance(v[0], dict)}
            for key in self._LIST_KEYS:
                if key in lists:
                    return lists[key]
            if len(lists) == 1:
                return next(iter(lists.values()))
            if lists:
                raise self.error(f"the JSON object holds several lists of records {sorted(lists)}; extract one "
                                 f"into its own file.")
            raise self.error("expected a list of records, or an object holding one; got an object with "
                             f"fields {sorted(doc)[:10]}.")
        raise self.error(f"expected a list of records, got {type(doc).__name__}.")

    def _iter(self) -> Iterator[tuple[int, dict[str, Any]]]:
        records = self.load()
        for i, row in enumerate(records, 1):
            if type(row) is not dict:
                raise _not_an_object(self, i, row)
            if self._escapes:
                _check_surrogates(self, i, row)
            yield i, row
        self._cache = None  # read through once: let the parsed list go (a peek keeps it)

    def estimate(self) -> int | None:
        return self._count


class ParquetRows(Rows):
    fmt = "parquet"

    def __init__(self, file: Path, **kw: Any):
        super().__init__(str(file), **kw)
        self.file = file

    def _open(self):
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            return pq.ParquetFile(self.file)
        except (pa.ArrowException, OSError, UnicodeDecodeError) as e:  # (a damaged footer: bad column names)
            raise self.error(f"not a readable Parquet file ({e}).") from None

    def _iter(self) -> Iterator[tuple[int, dict[str, Any]]]:
        import pyarrow as pa

        pf = self._open()
        i = 0
        try:
            for batch in pf.iter_batches(batch_size=BATCH_ROWS):
                for row in batch.to_pylist():
                    i += 1
                    yield i, row
        except (pa.ArrowException, OSError, UnicodeDecodeError) as e:  # damaged pages can hold bad UTF-8
            raise self.error(f"the Parquet file is corrupt after row {i} ({e}).", i + 1) from None

    def estimate(self) -> int | None:
        return self._open().metadata.num_rows


class CsvRows(Rows):
    """CSV (or TSV) with a header row; every cell is text."""

    fmt = "csv"

    def __init__(self, file: Path, *, gz: bool, delimiter: str = ",", **kw: Any):
        super().__init__(str(file), **kw)
        self.file = file
        self.gz = gz
        self.delimiter = delimiter

    def _iter(self) -> Iterator[tuple[int, dict[str, Any]]]:
        if csv.field_size_limit() < 2**31 - 1:
            csv.field_size_limit(2**31 - 1)  # responses longer than 128 KiB are data, not an attack
        i = 0
        opener = gzip.open if self.gz else open
        try:
            with opener(self.file, "rt", encoding="utf-8-sig", newline="") as f:
                reader = csv.DictReader(f, delimiter=self.delimiter)
                for i, row in enumerate(reader, 1):  # noqa: B007 - read in the except clause
                    if None in row:
                        raise self.error(f"row has {len(row) - 1 + len(row[None])} cells but the header has "
                                         f"{len(row) - 1}.", i)
                    yield i, row
        except UnicodeDecodeError as e:
            raise self.error(f"not valid UTF-8 text ({e.reason}); re-encode the file as UTF-8.", i + 1) from None
        except csv.Error as e:
            raise self.error(f"invalid CSV ({e}).", i + 1) from None
        except _GZIP_ERRORS as e:
            raise self.error(f"the gzip stream is truncated or corrupt after row {i} ({e}).", i + 1) from None

    def estimate(self) -> int | None:
        if self.gz:
            return None
        with self.file.open("rb") as f:
            lines = sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(2**22), b""))
        return max(lines - 1, 0)


def open_rows(source: str | Path, *, fmt: str | None = None, split: str | None = None) -> Rows:
    """Open a file, folder or hub id as `Rows`; `fmt` overrides detection from the name and bytes."""
    if fmt is not None and fmt not in FORMATS:
        raise IngestError(f"unknown format {fmt!r}; valid formats: {FORMATS}.", path=str(source), field="fmt")
    path = Path(source)
    if fmt == "hf" or path.is_dir() or (not path.exists() and _HUB_ID.match(str(source))
                                         and path.suffix.lower() not in (*_SUFFIXES, ".gz")):
        from curator.io.hf import open_hf

        return open_hf(str(source), split=split)
    if not path.exists():
        raise IngestError("no such file.", path=str(source))
    gz = _is_gzip(path)
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    fmt = fmt or _SUFFIXES.get(suffixes[-1] if suffixes else "") or _sniff(path, gz)
    name, default_split, extra = _naming(path)
    kw: dict[str, Any] = {"name": name, "default_split": default_split, "extra_metadata": extra}
    if path.stat().st_size == 0:
        raise IngestError("the file is empty: no records to import.", path=str(path))
    if fmt == "jsonl":
        return JsonlRows(path, gz=gz, **kw)
    if fmt == "json":
        rows = JsonRows(path, gz=gz, **kw)
        try:
            rows.load()
        except IngestError as e:
            if "Extra data" not in e.reason:
                raise
            logger.info("%s holds several JSON documents; reading it as JSON Lines", path)
            return JsonlRows(path, gz=gz, **kw)
        return rows
    if fmt == "parquet":
        return ParquetRows(path, **kw)
    return CsvRows(path, gz=gz, delimiter="\t" if ".tsv" in suffixes else ",", **kw)


def _sniff(path: Path, gz: bool) -> str:
    with _open_binary(path, gz) as f:
        head = f.read(4096)
    if head.startswith(b"PAR1"):
        return "parquet"
    first = head.lstrip()[:1]
    if first == b"[":
        return "json"
    if first == b"{":
        return "jsonl"
    raise IngestError(f"cannot tell the format from the name or the first bytes; pass `fmt=` one of {FORMATS}.",
                      path=str(path), field="fmt")


def _naming(path: Path) -> tuple[str, str | None, dict[str, Any]]:
    """(dataset name, split from the file name, extra metadata) for a file.

    ``hh_rlhf/helpful-base/test.jsonl.gz`` is named ``helpful-base``, is split ``test`` and keeps
    ``subset: helpful-base`` in each pair's metadata.
    """
    stem = path.name
    for _ in range(3):
        base, dot, ext = stem.rpartition(".")
        if not dot or f".{ext.lower()}" not in (*_SUFFIXES, ".gz"):
            break
        stem = base
    parent = path.resolve().parent.name
    default_split = stem.lower() if stem.lower() in SPLIT_NAMES else None
    extra = {"subset": parent} if default_split and parent else {}
    name = parent if stem.lower() in _GENERIC_STEMS and parent else stem
    return name, default_split, extra
