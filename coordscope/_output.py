"""Writing output files: atomically, with the umask's modes, CSV cells safe to open.

Every file is written to a temporary file in the same folder (``.NAME.tmp-XXXX``), given
the mode a plain ``open`` would give it under the process's umask, and renamed into
place. The temporaries alive at any moment are registered, so that an interrupted run
removes them (:func:`remove_temporaries`). :func:`claim_output` checks an output folder
before a run and removes what an earlier run left in it.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Collection, Iterable
from functools import cache
from pathlib import Path
from typing import Any, Final, TypeVar

import polars as pl

from coordscope.errors import ParameterError
from coordscope.parts import PARQUET_ROW_GROUP, PartedTable, lazy_frames, sink_parquet_frames

__all__ = [
    "CSV_TS_FORMAT",
    "FORMULA_START",
    "WORK_PREFIX",
    "atomic_write",
    "check_event_dataset",
    "check_utf8_path",
    "claim_output",
    "file_mode",
    "json_list",
    "neutralise_formulas",
    "remove_temporaries",
    "undecodable",
    "unneutralise_formulas",
    "write_event_dataset",
    "write_events",
    "write_json",
    "write_parts",
    "write_parts_csv",
    "write_table",
]


#: Name prefix of the work (spill) folders a run makes inside its output folder.
WORK_PREFIX: Final = ".coordscope-work-"

#: Name prefix of the empty file that shows an output folder can be written in.
_PROBE: Final = ".coordscope-probe.tmp-"

#: The temporary files and folders being written now (removed by remove_temporaries).
_LIVE: set[Path] = set()
_LIVE_LOCK = threading.Lock()


@cache
def _umask() -> int:
    """Return the process's umask, read once.

    Linux shows it in ``/proc/self/status`` (read without changing it); elsewhere it is
    set and put back at once, which only this first call does.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def file_mode(*, folder: bool = False) -> int:
    """Return the mode a new file (or folder) gets under the umask: ``0o666 & ~umask``.

    :func:`tempfile.mkstemp` makes files ``0600`` (``mkdtemp`` folders ``0700``) whatever
    the umask; an output file is then given the mode ``open`` would have given it, so a
    team that shares output folders through its umask can read them.
    """
    return (0o777 if folder else 0o666) & ~_umask()


def _temporary_name(target: Path) -> tuple[str, str]:
    """Return the prefix and suffix of ``target``'s temporaries: ``.STEM.tmp-`` and its extension.

    The temporary name ends like the target (".parquet", ".csv.gz"): writers that pick the
    format from the extension must see the real one.
    """
    suffix = "".join(target.suffixes) if target.suffixes else ""
    stem = target.name[: len(target.name) - len(suffix)] if suffix else target.name
    return f".{stem}.tmp-", suffix


def _register(path: Path) -> None:
    with _LIVE_LOCK:
        _LIVE.add(path)


def _release(path: Path) -> None:
    """Remove a temporary (file or folder) if it is still there, then forget it.

    Forgotten only once gone: a signal that cuts the removal short leaves it to
    :func:`remove_temporaries`.
    """
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
    with _LIVE_LOCK:
        _LIVE.discard(path)


def remove_temporaries() -> int:
    """Remove every temporary file or folder being written now; return how many.

    Each writer removes its own temporary in a ``finally`` block; this is for when that
    block never ran to its end (a signal arrived inside it): the command line calls it
    after an error, Ctrl-C or SIGTERM.
    """
    with _LIVE_LOCK:
        live = sorted(_LIVE)
    for path in live:
        with contextlib.suppress(OSError):  # best effort: the next run removes the rest
            _release(path)
    return len(live)


def atomic_write(path: str | Path, writer: Callable[[Path], None]) -> Path:
    """Call ``writer(tmp)`` on a temporary path beside ``path``, then rename it into place.

    An interrupted run never leaves a complete-looking but partial file at ``path``, and
    the temporary is removed after an error or a signal. The file gets the mode of
    :func:`file_mode` (the umask's), not ``mkstemp``'s ``0600``.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    prefix, suffix = _temporary_name(target)
    fd, tmp_name = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=target.parent)
    tmp = Path(tmp_name)
    _register(tmp)
    try:
        os.close(fd)
        writer(tmp)
        os.chmod(tmp, file_mode())
        os.replace(tmp, target)
    finally:
        _release(tmp)
    return target


def undecodable(path: str | Path) -> str | None:
    """Return ``path`` with its undecodable bytes shown as escapes, or None when it is text.

    A file name made of bytes the file system could not decode reaches Python with
    surrogate escapes; polars' readers and writers take only real (UTF-8) text.
    """
    text = str(path)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("ascii", "replace")
    return None


def check_utf8_path(path: str | Path, what: str) -> None:
    """Refuse an output path that is not valid UTF-8 (see :func:`undecodable`).

    Raises
    ------
    ParameterError
        Naming ``what`` and the path, its undecodable bytes shown as escapes.
    """
    shown = undecodable(path)
    if shown is not None:
        raise ParameterError(
            f"{what}: {shown} is not valid UTF-8, which the Parquet and CSV writers need: "
            "choose another name"
        )


def claim_output(
    directory: str | Path,
    names: Iterable[str],
    *,
    keep: Collection[str] = (),
    inputs: Iterable[str | Path] = (),
    work: bool = False,
) -> Path:
    """Make ``directory`` ready for a run: check it can be written, remove what an earlier run left.

    Called before any input is read, so that a bad output path is told at once, not after
    the whole computation. Only coordscope's own files are removed: ``summary.json``
    first (a folder holds a summary only when every file of the run is in place), then
    the other ``names`` (the files the command writes), the temporaries of every name
    (``.STEM.tmp-*.EXT``, left by a killed run) and, with ``work``, the work folders
    (``.coordscope-work-*``) a killed run left. Nothing else in the folder is touched.

    Parameters
    ----------
    directory : str or Path
        The output folder; created (with its parents) when missing.
    names : iterable of str
        File names the command writes in it.
    keep : collection of str, optional
        Names not removed (the files the caller is about to replace atomically).
    inputs : iterable of str or Path, optional
        The run's input files: a name that is one of them is kept until it is replaced,
        so that re-auditing a folder's ``events.parquet`` into the same folder works.
    work : bool, default False
        Also remove stale work folders.

    Returns
    -------
    pathlib.Path
        ``directory``.

    Raises
    ------
    ParameterError
        ``directory`` is a file, cannot be created, or cannot be written in.
    """
    folder = Path(directory)
    check_utf8_path(folder, "output")
    if folder.exists() and not folder.is_dir():
        raise ParameterError(f"output: {folder} is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        # os.access says yes to root on a read-only mount: only a real file tells
        fd, probe = tempfile.mkstemp(prefix=_PROBE, dir=folder)
        _register(Path(probe))
        os.close(fd)
        _release(Path(probe))
    except OSError as exc:
        raise ParameterError(
            f"output: cannot write in {folder}: {exc.strerror or type(exc).__name__}"
        ) from None
    wanted = list(dict.fromkeys(names))
    sources = list(inputs)
    held = set(keep) | {n for n in wanted if _is_input(folder / n, sources)}
    stale = [folder / n for n in sorted(wanted, key=lambda n: n != "summary.json")]  # it first
    stale = [path for path in stale if path.name not in held and path.is_file()]
    # ".edges.tmp-*.csv": the temporaries of these names only, not those of another
    # file of the same stem that a concurrent command writes in a shared folder
    patterns = [
        glob.escape(prefix) + "*" + glob.escape(suffix)
        for prefix, suffix in (_temporary_name(Path(n)) for n in wanted)
    ]
    patterns.append(_PROBE + "*")  # a probe a signal cut short
    if work:
        patterns.append(WORK_PREFIX + "*")
    stale += [path for pattern in patterns for path in sorted(folder.glob(pattern))]
    for path in stale:
        try:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)
        except OSError as exc:
            raise ParameterError(
                f"output: cannot remove {path} left by an earlier run: "
                f"{exc.strerror or type(exc).__name__}"
            ) from None
    return folder


def _is_input(path: Path, inputs: Iterable[str | Path]) -> bool:
    """Say whether ``path`` is the same file as one of ``inputs``."""
    if not path.is_file():
        return False
    for item in inputs:
        try:
            if os.path.samefile(path, item):
                return True
        except OSError:
            continue
    return False


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


#: A cell starting with one of these is a formula to a spreadsheet (OWASP, "CSV Injection").
#: Apostrophes before it count: a value that already starts with ``'=`` gets one more, so
#: that reading back (:func:`unneutralise_formulas`) gives every value as it was.
FORMULA_START: Final = r"^'*[=+\-@\t\r]"


def neutralise_formulas(expr: pl.Expr) -> pl.Expr:
    """Prefix a string that a spreadsheet would run as a formula with ``'``.

    OWASP's rule for CSV files: a cell starting with ``=``, ``+``, ``-``, ``@``, a tab or
    a carriage return is read by Excel, LibreOffice and Google Sheets as a formula
    (``=HYPERLINK(...)``, ``+cmd|...``, ``@SUM(...)``), which can run commands or send
    data away. With a leading apostrophe the spreadsheet shows the text as text. Account
    names and post text are written by the people studied, so every string cell of every
    CSV output goes through this; numbers are not strings and are left alone (``-3`` as
    a number stays ``-3``).
    """
    return pl.when(expr.str.contains(FORMULA_START)).then(pl.lit("'") + expr).otherwise(expr)


def unneutralise_formulas(*exprs: pl.Expr) -> list[pl.Expr]:
    """Undo :func:`neutralise_formulas` on String columns read back from a CSV output.

    One leading ``'`` is removed from a cell that has one before a formula character; a
    value that started with ``'`` and such a character was written with one more, so
    every value comes back as it was.
    """
    return [
        pl.when(e.str.contains(FORMULA_START) & e.str.starts_with("'"))
        .then(e.str.slice(1))
        .otherwise(e)
        for e in exprs
    ]


#: How timestamps are written in CSV outputs: ISO 8601 with a ``T`` and a ``Z`` (UTC), to
#: the microsecond — what Spark's default pattern, DuckDB, pandas and spreadsheets read.
CSV_TS_FORMAT: Final = "%Y-%m-%dT%H:%M:%S%.6fZ"


def json_list(column: str) -> pl.Expr:
    """Return a ``List`` column as JSON array text (``["a","b,c"]``; null stays null).

    The one way coordscope writes a list into text (CSV cells, GraphML and GEXF
    attributes): unambiguous whatever an item holds (a URL with commas, an account name
    with spaces), and read by every tool (``json.loads``, Spark's ``from_json``, DuckDB's
    ``json``); coordscope's own readers read it back. Vectorised: a struct is encoded
    and its wrapper cut off.
    """
    encoded = pl.struct(pl.col(column).cast(pl.List(pl.String)).alias("v")).struct.json_encode()
    inner = encoded.str.slice(5, encoded.str.len_chars() - 6)  # {"v":[…]} → […]
    return pl.when(pl.col(column).is_null()).then(pl.lit(None, pl.String)).otherwise(inner)


def _flat(frame: _Frame) -> _Frame:
    """Return the frame as CSV cells hold it.

    Lists as JSON arrays (:func:`json_list`), timestamps in ISO 8601 with ``Z``
    (:data:`CSV_TS_FORMAT`), categories as text. Every string cell then has a
    formula-leading character neutralised (:func:`neutralise_formulas`).
    """
    schema = frame.collect_schema()
    flat = frame.with_columns(
        [json_list(c).alias(c) for c, t in schema.items() if isinstance(t, pl.List)]
        + [
            pl.col(c).cast(pl.String)
            for c, t in schema.items()
            if isinstance(t, (pl.Categorical, pl.Enum))
        ]
        + [
            (
                pl.col(c).dt.convert_time_zone("UTC").dt.strftime(CSV_TS_FORMAT)
                if t.time_zone is not None
                else pl.col(c).dt.strftime(CSV_TS_FORMAT.removesuffix("Z"))
            ).alias(c)
            for c, t in schema.items()
            if isinstance(t, pl.Datetime)
        ]
    )
    text = [c for c, t in flat.collect_schema().items() if t == pl.String]
    return flat.with_columns([neutralise_formulas(pl.col(c)).alias(c) for c in text])


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
    check_event_dataset(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    _register(tmp)
    try:
        os.chmod(tmp, file_mode(folder=True))
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
        _release(tmp)
    return target


def check_event_dataset(folder: Path) -> None:
    """Refuse to replace ``folder`` unless it is missing or an event dataset written before.

    An event dataset holds ``day=`` folders and nothing else; anything else means a
    mistyped path, and a user's files are never deleted.

    Raises
    ------
    ParameterError
        ``folder`` exists and holds something other than ``day=`` folders.
    """
    foreign = folder.exists() and (
        not folder.is_dir()
        or any(not (p.is_dir() and p.name.startswith("day=")) for p in folder.iterdir())
    )
    if foreign:
        raise ParameterError(
            f"--output: {folder} exists and is not an event dataset (day=… folders "
            "only): choose a new folder"
        )


def write_json(obj: Any, path: str | Path) -> Path:
    """Write JSON atomically (sorted keys, 2-space indent, trailing newline)."""
    text = json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n"

    def _write(tmp: Path) -> None:
        tmp.write_text(text, encoding="utf-8")

    return atomic_write(path, _write)
