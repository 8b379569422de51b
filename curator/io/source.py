"""Open a source of preference pairs and stream it as Arrow batches; the caller stores them.

`read_source` opens a file, folder or Hugging Face dataset, detects its format and record shape
and returns a `Source`: a re-iterable stream of `PairRecord`s with a name, a shape and an
estimated record count. `feed(source, write)` hands its Arrow batches to ``write`` (for example
`curator.store.Store.ingest`, as `curator.ingest` does), parsing ahead in a thread. This module
never opens the store.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any, TypeVar

from curator.errors import IngestError
from curator.io.batch import batched
from curator.io.fields import ReadContext
from curator.io.formats import open_rows
from curator.io.options import SHAPES, ColumnMapping, PairingRule
from curator.io.rows import Rows
from curator.io.shapes import READERS, detect_shape
from curator.schema import PairRecord

logger = logging.getLogger(__name__)

ProgressFn = Callable[[int, int | None], None]
T = TypeVar("T")


class Source:
    """A readable source of pairs; iterate `records()` as often as needed (each call re-reads).

    Attributes:
        name: default dataset name, from the file (its folder for generic names like
            ``test.jsonl``) or the hub id.
        path: the file, folder or hub id, as given.
        shape: the record shape, one of SHAPES (detected unless given).
        fmt: the format, one of FORMATS.
        estimated_total: number of source records when cheap to know (lines, Parquet rows), else None.
        records_read: source records read so far by the current `records()` iteration.
    """

    def __init__(self, rows: Rows, *, shape: str, ctx: ReadContext):
        self._rows = rows
        self._ctx = ctx
        self.name = rows.name
        self.path = rows.path
        self.shape = shape
        self.fmt = rows.fmt
        self.estimated_total = rows.estimate()
        self.records_read = 0

    def __repr__(self) -> str:
        return f"Source(path={self.path!r}, fmt={self.fmt!r}, shape={self.shape!r}, name={self.name!r})"

    def records(self) -> Iterator[PairRecord]:
        """The pairs of the source, in source order; raises `IngestError` on the first bad record."""
        self.records_read = 0
        return READERS[self.shape](self._counted(), self._ctx)

    def _counted(self) -> Iterator[tuple[int, dict[str, Any]]]:
        for item in self._rows:
            self.records_read += 1
            yield item


def read_source(source: str | Path, *, shape: str | None = None, fmt: str | None = None,
                mapping: ColumnMapping | dict[str, Any] | None = None,
                pairing: PairingRule | str | None = None, split: str | None = None,
                min_gap: float | None = None) -> Source:
    """Open a source of preference pairs.

    Args:
        source: a file (JSONL, JSON, Parquet, CSV; optionally .gz), a Hugging Face dataset folder
            (``save_to_disk`` output, or a folder of data files) or a hub id (needs the network or
            the local cache).
        shape: one of SHAPES; detected from the first record when None (``"mapping"`` when
            `mapping` is given).
        fmt: one of FORMATS; from the file name (then the first bytes) when None.
        mapping: names the columns of any other layout; a dict is read with
            `ColumnMapping.from_dict`.
        pairing: how rated responses become pairs (a `PairingRule`, or a rule name).
        split: for Hugging Face datasets, the split to read; for files, the split of records
            without a ``split`` field (default: the file name when it is one, like ``test.jsonl``,
            else "train").
        min_gap: shorthand for ``PairingRule(min_gap=...)``.

    Returns:
        A `Source`; nothing is imported.

    Raises:
        IngestError: the source is missing, empty, unreadable or of no known shape.
        ValueError: the options contradict each other.

    Example:
        >>> import json, pathlib, tempfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "chat.jsonl"
        >>> _ = path.write_text(json.dumps({"prompt": "2+2?", "chosen": "4", "rejected": "5"}) + "\\n")
        >>> src = read_source(path)
        >>> src.shape, src.name, [r.chosen for r in src.records()]
        ('explicit', 'chat', ['4'])
    """
    mapping = _check_mapping(mapping)
    pairing = _check_pairing(pairing, min_gap)
    if shape is not None and shape not in SHAPES:
        raise IngestError(f"unknown shape {shape!r}; valid shapes: {SHAPES}.", path=str(source), field="shape")
    if mapping is not None:
        if shape not in (None, "mapping"):
            raise ValueError(f"`mapping` is given, so the shape is 'mapping'; drop `shape={shape!r}`.")
        shape = "mapping"
    elif shape == "mapping":
        raise IngestError("shape 'mapping' needs `mapping=` (a ColumnMapping naming the columns).",
                          path=str(source), field="mapping")
    if split is not None and (not isinstance(split, str) or not split.strip()):
        raise ValueError(f"`split` must be a non-empty name, got {split!r}.")
    rows = open_rows(source, fmt=fmt, split=split)
    first = rows.peek(1)
    if not first:
        raise IngestError("the source holds no records (only blank lines or an empty list).", path=rows.path)
    if shape is None:
        shape = detect_shape(first[0], path=rows.path)
        logger.info("%s: detected shape %r", rows.path, shape)
    ctx = ReadContext(path=rows.path, default_split=split or rows.default_split or "train",
                      extra_metadata=rows.extra_metadata, pairing=pairing, mapping=mapping)
    return Source(rows, shape=shape, ctx=ctx)


def open_source(source: str | Path | Source, **read_options: Any) -> Source:
    """`source` itself when it is an open Source (then no read option may be set), else `read_source`."""
    if not isinstance(source, Source):
        return read_source(source, **read_options)
    set_options = sorted(k for k, v in read_options.items() if v is not None)
    if set_options:
        raise ValueError(f"{set_options} are options of `read_source`; the Source is already open. Pass a "
                         f"path instead, or drop them.")
    return source


def feed(src: Source, write: Callable[[Iterator[Any], Callable[[int], None] | None], T], *,
         batch_size: int = 20_000, on_progress: ProgressFn | None = None) -> T:
    """Hand `src`'s Arrow batches to `write(batches, progress)` (the caller's store call), reporting progress.

    Records are parsed in a background thread while `write` consumes batches; a reading error is
    raised inside `write`'s iteration, so a store writing in one transaction rolls back.
    ``on_progress(records_read, estimated_total)`` is called after each batch and once at the end.
    """
    if batch_size < 1:
        raise ValueError(f"`batch_size` must be >= 1, got {batch_size}.")
    progress = None
    if on_progress is not None:
        def progress(_pairs: int) -> None:
            on_progress(src.records_read, src.estimated_total)

    batches = _prefetch(batched(src.records(), source=src.path, size=batch_size))
    try:
        result = write(batches, progress)
    finally:
        batches.close()  # stops the reader thread now, also when the store failed
    if on_progress is not None:
        on_progress(src.records_read, src.records_read)
    return result


def _prefetch(items: Iterator[T], *, depth: int = 2) -> Generator[T, None, None]:
    """`items`, produced by a background thread up to `depth` ahead.

    Parsing (Python, holds the GIL) then overlaps with the store's inserts (DuckDB, releases it).
    An exception of the producer is raised here, in the consumer, so the store's transaction
    rolls back; when the consumer stops early, the producer stops and closes its files.
    """
    slots: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(kind: str, value: Any) -> bool:
        while not stop.is_set():
            try:
                slots.put((kind, value), timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put("item", item):
                    break
            else:
                put("done", None)
        except BaseException as e:  # noqa: BLE001 - handed to the consumer, which re-raises it
            put("error", e)
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    worker = threading.Thread(target=produce, name="curator-ingest-reader", daemon=True)
    worker.start()
    try:
        while True:
            kind, value = slots.get()
            if kind == "item":
                yield value
            elif kind == "error":
                raise value
            else:
                return
    finally:
        stop.set()
        worker.join()


def _check_mapping(mapping: ColumnMapping | dict[str, Any] | None) -> ColumnMapping | None:
    if mapping is None or isinstance(mapping, ColumnMapping):
        return mapping
    if isinstance(mapping, dict):
        return ColumnMapping.from_dict(mapping)
    raise TypeError(f"`mapping` must be a ColumnMapping or a dict, got {type(mapping).__name__}.")


def _check_pairing(pairing: PairingRule | str | None, min_gap: float | None) -> PairingRule:
    if pairing is None:
        rule = PairingRule()
    elif isinstance(pairing, PairingRule):
        rule = pairing
    elif isinstance(pairing, str):
        rule = PairingRule(pairing)
    else:
        raise TypeError(f"`pairing` must be a PairingRule or a rule name, got {type(pairing).__name__}.")
    if min_gap is not None:
        if isinstance(pairing, PairingRule) and pairing.min_gap not in (0.0, min_gap):
            raise ValueError(f"`min_gap={min_gap}` contradicts `pairing.min_gap={pairing.min_gap}`; set one.")
        rule = PairingRule(rule.rule, min_gap=min_gap, score=rule.score)
    return rule
