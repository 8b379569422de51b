"""Rows out of Hugging Face datasets: a hub id, a ``save_to_disk`` folder, or a folder of data files.

Datasets are read in Arrow batches (memory-mapped, never loaded whole). A `DatasetDict` yields
every split in turn, each row carrying its split name unless it has a ``split`` field of its own.
`datasets` is imported only when such a source is opened.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from curator.errors import IngestError
from curator.io.rows import BATCH_ROWS, Rows


class HfRows(Rows):
    """A Hugging Face `Dataset` or `DatasetDict`, read in Arrow batches.

    Rows get the dataset's split name in a ``split`` field unless they have their own.
    """

    fmt = "hf"

    def __init__(self, path: str, data: Any, **kw: Any):
        super().__init__(path, **kw)
        self.parts = list(data.items()) if hasattr(data, "keys") else [(None, data)]

    def _iter(self) -> Iterator[tuple[int, dict[str, Any]]]:
        i = 0
        for split, ds in self.parts:
            for table in ds.with_format("arrow").iter(batch_size=BATCH_ROWS):
                for row in table.to_pylist():
                    i += 1
                    if split is not None and "split" not in row:
                        row["split"] = split
                    yield i, row

    def estimate(self) -> int | None:
        return sum(ds.num_rows for _, ds in self.parts)


_DATA_SUFFIXES = {".json", ".jsonl", ".parquet", ".csv", ".gz", ".arrow", ".txt"}


def open_hf(source: str, *, split: str | None) -> Rows:
    """Open a ``save_to_disk`` folder, a folder of data files or a hub id; `split` selects one split.

    Raises:
        IngestError: the dataset cannot be loaded (offline without a cached copy, no such id), has
            no such split, or is empty.
    """
    try:
        import datasets
    except ImportError:  # pragma: no cover - a hard dependency, kept explicit
        raise IngestError("reading Hugging Face datasets needs `datasets`: pip install datasets", path=source) \
            from None
    path = Path(source)
    quiet = datasets.utils.logging.get_verbosity()
    datasets.utils.logging.set_verbosity_error()
    bars_were_off = datasets.utils.are_progress_bars_disabled()
    datasets.utils.disable_progress_bars()  # the CLI and the app draw their own progress
    try:
        if path.is_dir() and ((path / "dataset_dict.json").exists() or (path / "state.json").exists()):
            data = datasets.load_from_disk(str(path))
        elif path.is_dir():
            data = datasets.load_dataset(str(path))
        else:
            data = datasets.load_dataset(source, split=split)
    except Exception as e:  # noqa: BLE001 - datasets raises many types; all mean "cannot load"
        if path.is_dir():
            files = sorted(p.name for p in path.iterdir() if p.is_file() and p.suffix.lower() in _DATA_SUFFIXES)
            hint = (f" Its data files ({', '.join(files)}) are read as one table, so they must share their "
                    "columns; import one file at a time instead." if len(files) > 1 else "")
            raise IngestError(f"could not load the folder as one dataset.{hint} "
                              f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})", path=source) from None
        raise IngestError(f"could not load the Hugging Face Hub dataset (offline, or no such dataset?): "
                          f"{type(e).__name__}: {e}", path=source) from None
    finally:
        datasets.utils.logging.set_verbosity(quiet)
        if not bars_were_off:
            datasets.utils.enable_progress_bars()
    if hasattr(data, "keys") and split is not None:
        if split not in data:
            raise IngestError(f"no split {split!r}; the dataset has {sorted(data)}.", path=source, field="split")
        data = {split: data[split]}
    elif split is not None:
        data = {split: data}
    name = (path.name if path.exists() else source.rstrip("/").split("/")[-1]) or source
    if sum(ds.num_rows for ds in (data.values() if hasattr(data, "values") else [data])) == 0:
        raise IngestError("the dataset is empty: no records to import.", path=source)
    return HfRows(source, data, name=name)
