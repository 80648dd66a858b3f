"""Reading export files into the canonical event table, with full row accounting.

Files are read in pieces sized from a memory budget (see
:class:`~coordscope.datasets._io.ReadLimits`) and each piece is finalised as it arrives,
so a run holds about the canonical table it builds plus a few pieces, whatever the size
of the raw files; compressed files are decompressed as a stream, guarded against
decompression bombs.
"""

from __future__ import annotations

import glob
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import polars as pl

from coordscope._output import undecodable
from coordscope.datasets._io import DEFAULT_MAX_INFLATE, ReadLimits, file_sha256
from coordscope.datasets._stage import Finalizer
from coordscope.datasets._tables import first_line
from coordscope.datasets.formats import FORMAT_NAMES, detect_format, get_format
from coordscope.errors import FormatError, InputError, ParameterError
from coordscope.parts import WorkDir
from coordscope.progress import log, track
from coordscope.schema import ACTOR_ID, EVENT_SCHEMA, TS, EventFrame

__all__ = [
    "DATA_SUFFIXES",
    "DEFAULT_MAX_INFLATE",
    "IngestResult",
    "describe_events",
    "expand_inputs",
    "ingest",
    "parse_mapping",
    "read_events",
]


@dataclass
class IngestResult:
    """The canonical events of one or more input files, and how every row was used.

    Attributes
    ----------
    events : polars.DataFrame or polars.LazyFrame
        Canonical events (:data:`coordscope.schema.EVENT_SCHEMA`), in input order; a
        lazy scan of a file when the ingest spilled them (``ingest(..., spill=...)``).
    rejects : polars.DataFrame
        ``source, record, reason`` for every rejected record.
    rows : dict
        ``{"input", "accepted", "rejected", "duplicates"}``;
        ``input == accepted + rejected + duplicates``.
    inputs : list of dict
        Per file: ``path``, ``format``, ``detected`` (auto-detected or given),
        ``sha256``, ``rows`` (records read).
    notes : dict
        Counters: ``events``, ``naive_timestamps``, ``merged_rows``,
        ``event_id_conflicts``, ``urls_shortened``, reader-specific ones.
    """

    events: EventFrame
    rejects: pl.DataFrame
    rows: dict[str, int]
    inputs: list[dict[str, Any]] = field(default_factory=list)
    notes: dict[str, int] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """Summarise for JSON: row accounting at the top level, inputs, counters, span."""
        kinds = self.events.lazy().group_by("kind").len().sort("kind").collect()
        return {
            "rows": dict(self.rows),
            **describe_events(self.events),
            "inputs": self.inputs,
            "kinds": {str(k): int(v) for k, v in kinds.iter_rows()},
            "counters": self.counters(),
        }

    def counters(self) -> dict[str, int]:
        """Return what the readers counted on the way (replacements, notes), by name."""
        return dict(sorted(self.notes.items()))


def describe_events(events: EventFrame) -> dict[str, Any]:
    """Describe an event table for a summary: events, accounts, time span, platforms.

    Parameters
    ----------
    events : polars.DataFrame or polars.LazyFrame
        Canonical events (a lazy table is read three columns at a time).

    Returns
    -------
    dict
        ``events`` (rows), ``actors`` (distinct ``actor_id``), ``time_span`` (``first``
        and ``last`` as ISO 8601, None when empty) and ``platforms`` (events per
        platform, by name). Cost ``O(n)``.
    """
    lazy = events.lazy()
    n, actors, lo, hi = (
        lazy.select(
            pl.len().alias("n"),
            pl.col(ACTOR_ID).n_unique().alias("actors"),
            pl.col(TS).min().alias("lo"),
            pl.col(TS).max().alias("hi"),
        )
        .collect()
        .row(0)
    )
    span: dict[str, str | None] = {"first": None, "last": None}
    platforms: dict[str, int] = {}
    if n:
        span = {"first": lo.isoformat(), "last": hi.isoformat()}
        table = lazy.group_by("platform").len().sort("platform").collect()
        platforms = {str(k): int(v) for k, v in table.iter_rows()}
    return {
        "events": int(n),
        "actors": int(actors) if n else 0,
        "time_span": span,
        "platforms": platforms,
    }


def parse_mapping(pairs: Sequence[str]) -> dict[str, str]:
    """Parse ``COL=FIELD`` strings (canonical column = source field) into a dict.

    Raises
    ------
    ParameterError
        When an item has no ``=`` or names a column that is not canonical.
    """
    mapping: dict[str, str] = {}
    for item in pairs:
        if "=" not in item:
            raise ParameterError(f"--map expects COL=FIELD, got '{item}'")
        col, src = (s.strip() for s in item.split("=", 1))
        if col not in EVENT_SCHEMA:
            raise ParameterError(
                f"--map: '{col}' is not a canonical column ({', '.join(EVENT_SCHEMA)})"
            )
        if not src:
            raise ParameterError(f"--map: no source field given for '{col}'")
        mapping[col] = src
    return mapping


#: File names read from a folder given as input: the data formats coordscope reads,
#: optionally compressed (gzip or zstd; the content decides, these names only select).
DATA_SUFFIXES: Final = (".csv", ".tsv", ".tab", ".json", ".jsonl", ".ndjson", ".parquet")
_COMPRESSED_SUFFIXES: Final = ("", ".gz", ".gzip", ".zst", ".zstd")
_GLOB_CHARS: Final = frozenset("*?[")


def _is_data_name(name: str) -> bool:
    lower = name.lower()
    return any(lower.endswith(d + c) for d in DATA_SUFFIXES for c in _COMPRESSED_SUFFIXES)


def expand_inputs(paths: str | Path | Sequence[str | Path]) -> list[str]:
    """Return the input files that ``paths`` name: files, folders and glob patterns.

    A file is itself. A folder is every data file under it, read recursively
    (:data:`DATA_SUFFIXES`, optionally ``.gz``/``.zst``), in sorted path order, leaving
    out hidden files and folders (a name starting with ``.``: work folders, editors'
    files); each file's format is then recognised from its content, as for any input.
    A path that does not exist and holds ``*``, ``?`` or ``[`` is a glob pattern (``**``
    crosses folders), its matches in sorted order. A file named twice is read once.

    Raises
    ------
    InputError
        A folder without a data file, or a pattern that matches nothing.
    """
    given = [paths] if isinstance(paths, str | Path) else list(paths)
    out: dict[str, None] = {}
    for item in given:
        path = Path(item)
        text = str(item)
        if path.is_dir():
            found = sorted(
                p
                for p in path.rglob("*")
                if p.is_file()
                and _is_data_name(p.name)
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
            if not found:
                raise InputError(
                    text,
                    "no data file in this folder (looked for "
                    + ", ".join(DATA_SUFFIXES)
                    + ", optionally .gz or .zst, in every subfolder)",
                )
            out.update((str(p), None) for p in found)
        elif not path.exists() and _GLOB_CHARS & set(text):
            matches = sorted(glob.glob(text, recursive=True))
            files = [m for m in matches if Path(m).is_file()]
            if not files:
                raise InputError(text, "no file matches this pattern")
            out.update((m, None) for m in files)
        else:
            out[text] = None
    return list(out)


def _as_paths(paths: str | Path | Sequence[str | Path]) -> list[str]:
    return expand_inputs(paths)


def ingest(
    paths: str | Path | Sequence[str | Path],
    *,
    format: str = "auto",
    mapping: Mapping[str, str] | None = None,
    memory: str | int | None = None,
    max_inflate: float | None = DEFAULT_MAX_INFLATE,
    spill: WorkDir | None = None,
) -> IngestResult:
    """Read export files into canonical events, accounting for every input row.

    Parameters
    ----------
    paths : path or sequence of paths
        Input files, plain or gzip/zstd compressed; a folder (its data files, read
        recursively) or a glob pattern stands for the files it holds or matches
        (:func:`expand_inputs`).
    format : str, default "auto"
        ``auto`` recognises each file from its content; otherwise one of
        ``generic, coortweet, cnt, twitter-v1, twitter-v2, twitter-io, telegram,
        crowdtangle`` for every file.
    mapping : mapping of str to str, optional
        Canonical column → source field, for formats with named columns (``generic``).
    memory : str or int, default "4GB"
        Memory budget (``"1GB"``, ``"512MB"`` or bytes; at least 64 MB). Files are read
        in pieces of 1/128 of it (64 KiB to 64 MiB of decompressed text), so the peak
        memory is a small multiple of a piece plus the canonical table being built
        (and its rejects). Telegram exports and JSON arrays are single JSON documents
        and are read whole. The result does not depend on the budget.
    max_inflate : float or None, default 100
        Stop with an :class:`~coordscope.errors.InputError` when a compressed file
        decompresses to more than this many times its size (and to more than 256 MiB):
        a decompression bomb. None or 0: no limit.

    Returns
    -------
    IngestResult

    Raises
    ------
    InputError
        A file is missing, corrupt, not of the expected shape, or a decompression bomb;
        anything polars fails on while reading a file is reported this way too, naming it.
    FormatError
        Unknown format name, or a file whose format cannot be recognised.
    ParameterError
        ``memory`` is not a size of at least 64 MB, or ``max_inflate`` is neither 0 nor
        a ratio of at least 1.
    """
    limits = ReadLimits.of(memory, max_inflate=max_inflate)
    files = _as_paths(paths)
    if not files:
        raise ParameterError("no input file given")
    if format != "auto" and format not in FORMAT_NAMES:
        raise FormatError(
            f"unknown format '{format}'; choose auto or one of: {', '.join(FORMAT_NAMES)}"
        )
    inputs: list[dict[str, Any]] = []
    for path in files:
        if not Path(path).exists():
            raise InputError(path, "no such file")
        shown = undecodable(path)  # bytes the file system gave back undecoded
        if shown is not None:
            raise InputError(
                shown,
                "the file name is not valid UTF-8, which the Parquet and CSV readers need: "
                "rename the file",
            )
    finalizer = Finalizer(batch_bytes=4 * limits.piece_bytes, spill=spill)
    # the input hashes (for summary.json) are computed while the files are parsed:
    # hashlib releases the GIL, so this costs no wall time on two cores
    with ThreadPoolExecutor(max_workers=1) as hasher:
        hashes = [hasher.submit(file_sha256, path) for path in files]
        with track("input files", total=len(files), unit="files") as progress:
            for path in files:
                # the readers advance the file's task as they read it (bytes of the file)
                label = Path(path).name
                with track(label, total=Path(path).stat().st_size, unit="bytes"):
                    name, records = _read_one(path, format, mapping, limits, finalizer)
                inputs.append(
                    {"path": path, "format": name, "detected": format == "auto", "rows": records}
                )
                progress.advance()
                log("file_read", file=path, format=name, records=records)
        done = finalizer.finish()
        for item, digest in zip(inputs, hashes, strict=True):
            item["sha256"] = digest.result()
    return IngestResult(done.events, done.rejects, done.rows, inputs, done.notes)


def _read_one(
    path: str,
    format: str,
    mapping: Mapping[str, str] | None,
    limits: ReadLimits,
    finalizer: Finalizer,
) -> tuple[str, int]:
    """Recognise, read and finalise one file; return its format and its records.

    Whatever polars fails on inside (an error, or a panic of its Rust code, which Python
    sees as a ``BaseException``) becomes an :class:`InputError` naming the file, so that
    no traceback reaches the user.
    """
    try:
        name = detect_format(path) if format == "auto" else format
        staged = get_format(name).read(path, mapping=mapping, limits=limits)
        return staged.format, finalizer.add(staged)
    except pl.exceptions.PanicException as exc:
        raise InputError(path, f"could not be read (polars failed: {first_line(exc)})") from None
    except pl.exceptions.PolarsError as exc:
        raise InputError(path, f"could not be read ({first_line(exc)})") from None
    except RecursionError:  # a JSON document nested thousands of levels deep
        raise InputError(
            path,
            "could not be read: JSON nested too deeply (Python's parser stops at ~1,000 levels)",
        ) from None


def read_events(
    paths: str | Path | Sequence[str | Path],
    *,
    format: str = "auto",
    mapping: Mapping[str, str] | None = None,
    memory: str | int | None = None,
    max_inflate: float | None = DEFAULT_MAX_INFLATE,
) -> pl.DataFrame:
    """Read export files into the canonical event table.

    The same as ``ingest(paths, ...).events`` with the same keywords; use :func:`ingest`
    for the rejects and the row accounting.
    """
    events = ingest(
        paths, format=format, mapping=mapping, memory=memory, max_inflate=max_inflate
    ).events
    return events if isinstance(events, pl.DataFrame) else events.collect()
