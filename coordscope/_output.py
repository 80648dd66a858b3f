"""Writing output files atomically (a temporary file in the same folder, then rename)."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import polars as pl

from coordscope.errors import ParameterError
from coordscope.parts import PARQUET_ROW_GROUP, PartedTable, lazy_frames, sink_parquet_frames

__all__ = [
    "atomic_write",
    "write_event_dataset",
    "write_events",
    "write_json",
    "write_parts",
    "write_parts_csv",
    "write_table",
]


def atomic_write(path: str | Path, writer: Callable[[Path], None]) -> Path:
    """Call ``writer(tmp)`` on a temporary path beside ``path``, then rename it into place.

    An interrupted run never leaves a complete-looking but partial file at ``path``.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    # the temporary name ends like the target (".parquet", ".csv.gz"): writers that pick
    # the format from the extension must see the real one
    suffix = "".join(target.suffixes) if target.suffixes else ""
    stem = target.name[: len(target.name) - len(suffix)] if suffix else target.name
    fd, tmp_name = tempfile.mkstemp(prefix=f".{stem}.tmp-", suffix=suffix, dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        writer(tmp)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()
    return target


_Frame = TypeVar("_Frame", pl.DataFrame, pl.LazyFrame)


def write_table(frame: pl.DataFrame | pl.LazyFrame, path: str | Path) -> Path:
    """Write a table atomically: Parquet, CSV/TSV (lists joined by spaces) or JSON lines.

    Parquet is written a row group of :data:`~coordscope.parts.PARQUET_ROW_GROUP` rows at a
    time, each compacted first, so that its bytes depend only on the rows: a lazy table
    (read a row group at a time) gives the bytes the same rows held give. CSV and JSON
    lines from a lazy table are streamed too.
    """
    suffix = Path(path).suffix.lower()
    if isinstance(frame, pl.LazyFrame):
        lazy = frame

        def _sink(tmp: Path) -> None:
            if suffix == ".parquet":
                schema = lazy.collect_schema()
                sink_parquet_frames(lazy_frames(lazy, PARQUET_ROW_GROUP), schema, tmp)
            elif suffix in (".jsonl", ".ndjson"):
                lazy.sink_ndjson(tmp)
            else:
                sep = "\t" if suffix in (".tsv", ".tab") else ","
                _flat(lazy).sink_csv(tmp, separator=sep)

        return atomic_write(path, _sink)
    held = frame

    def _write(tmp: Path) -> None:
        if suffix == ".parquet":
            # a row group at a time, compacted: the bytes depend only on the rows, not on
            # how the frame's buffers were cut (what a held and a lazy table share)
            sink_parquet_frames(iter([held]), held.schema, tmp)
            return
        if suffix in (".jsonl", ".ndjson"):
            held.write_ndjson(tmp)
            return
        _flat(held).write_csv(tmp, separator="\t" if suffix in (".tsv", ".tab") else ",")

    return atomic_write(path, _write)


def _flat(frame: _Frame) -> _Frame:
    """Return the frame as CSV cells hold it: lists joined by spaces, categories as text."""
    schema = frame.collect_schema()
    return frame.with_columns(
        [pl.col(c).list.join(" ") for c, t in schema.items() if isinstance(t, pl.List)]
        + [
            pl.col(c).cast(pl.String)
            for c, t in schema.items()
            if isinstance(t, (pl.Categorical, pl.Enum))
        ]
    )


def write_parts_csv(table: PartedTable, path: str | Path) -> Path:
    """Write a table held in pieces as one CSV file, atomically, one piece at a time.

    The bytes equal those :func:`write_table` writes for the same rows: the header once,
    then every piece's rows.
    """

    def _write(tmp: Path) -> None:
        with open(tmp, "wb") as out:
            first = True
            for frame in table.frames():
                if frame.height == 0 and not first:
                    continue
                _flat(frame).write_csv(out, include_header=first)
                first = False
            if first:  # no pieces: the header alone
                _flat(table.head(0)).write_csv(out)

    return atomic_write(path, _write)


def write_parts(table: PartedTable, path: str | Path) -> Path:
    """Write a table held in pieces as one Parquet file, atomically, piece by piece.

    The bytes equal those :func:`write_table` writes for the same rows (same row groups,
    statistics and compression), however the rows were cut into pieces.
    """
    return atomic_write(path, table.sink_parquet)


def write_events(events: pl.DataFrame | pl.LazyFrame, path: str | Path) -> Path:
    """Write the canonical event table (``.parquet``, ``.csv``, ``.tsv`` or ``.jsonl``).

    A path without an extension is a folder: the events become a Parquet dataset
    partitioned by UTC day (:func:`write_event_dataset`).
    """
    if Path(path).suffix == "":
        return write_event_dataset(events, path)
    return write_table(events, path)


def write_event_dataset(events: pl.DataFrame | pl.LazyFrame, folder: str | Path) -> Path:
    """Write events as a Parquet dataset partitioned by day: ``day=YYYY-MM-DD/*.parquet``.

    The day is the UTC date of ``ts``; the files hold the canonical columns (the ``day``
    column lives in the folder names, Hive style), in input order within a day, with
    statistics, in row groups of :data:`~coordscope.parts.PARQUET_ROW_GROUP` rows.
    Spark, DuckDB, pandas (pyarrow) and ``polars.scan_parquet(folder, hive_partitioning=
    True)`` read the folder as one table. Streamed: the events are never held whole.

    The dataset is written beside ``folder`` and renamed into place; an existing
    ``folder`` is replaced only when it holds ``day=`` folders and nothing else (a
    dataset written before), so that a mistyped path never deletes a user's files.

    Raises
    ------
    ParameterError
        ``folder`` exists and holds something other than ``day=`` folders.
    """
    target = Path(folder)
    foreign = target.exists() and (
        not target.is_dir()
        or any(not (p.is_dir() and p.name.startswith("day=")) for p in target.iterdir())
    )
    if foreign:
        raise ParameterError(
            f"--output: {target} exists and is not an event dataset (day=… folders "
            "only): choose a new folder"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        events.lazy().sink_parquet(
            pl.PartitionBy(
                tmp,
                key={"day": pl.col("ts").dt.date().cast(pl.String)},
                include_key=False,
            ),
            statistics=True,
            row_group_size=PARQUET_ROW_GROUP,
            mkdir=True,
        )
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def write_json(obj: Any, path: str | Path) -> Path:
    """Write JSON atomically (sorted keys, 2-space indent, trailing newline)."""
    text = json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n"

    def _write(tmp: Path) -> None:
        tmp.write_text(text, encoding="utf-8")

    return atomic_write(path, _write)
