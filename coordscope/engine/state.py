"""The daily state store: canonical events kept by day, for audits over a rolling horizon.

A state directory holds the canonical events of every day added to it (one Parquet file
per UTC day, rows sorted by time, platform and event id), the registry of campaigns the
earlier runs found (an opaque table to this module: :mod:`coordscope.graphs.lineage`
defines it) and a ``manifest.json`` naming the files in use::

    STATE_DIR/
      manifest.json              the only file read to know what the state holds
      lock                       held (``flock``) by the run using the state
      events/DAY.gN.parquet      the events of one day, as of generation N
      kept/DAY.gN.*.parquet      what audits keep of a day: its actions and pair partials,
                                 its near-duplicate sets and pairs (coordscope.daily), for
                                 the parameters they were made with
      campaigns/gN.parquet       the campaign registry, as of generation N

Safety. A run writes new files only (named by the generation it will commit), then
switches the manifest in one atomic rename (:meth:`StateStore.commit`). A run killed at
any point leaves the previous manifest, which names only files of earlier generations;
the next run removes the files no manifest names. A second run on the same state while
one holds its lock is refused with one line (:class:`~coordscope.errors.StateError`);
the kernel releases the lock of a killed process. A manifest of another format or a
newer version is refused, never guessed at.

Re-collection. An event is identified by ``(platform, event_id)``. An added event
replaces every stored event of the same identity, on whatever day it was stored (an
edited timestamp can move it to another day), and within the added events the last row
of an identity wins; :class:`Added` counts both.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import fcntl
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import polars as pl

from coordscope._output import atomic_write, check_utf8_path, write_table
from coordscope._version import __version__
from coordscope.errors import ParameterError, StateError
from coordscope.schema import EVENT_ID, EVENT_SCHEMA, PLATFORM, TS, validate_events

__all__ = [
    "DEFAULT_HORIZON_DAYS",
    "STATE_FORMAT",
    "STATE_VERSION",
    "Added",
    "Manifest",
    "StateStore",
    "day_of",
]

#: What ``manifest.json`` says in ``format``: a directory without it is not a state.
STATE_FORMAT: Final = "coordscope-state"
#: The layout version this code writes and reads. A higher one is refused (a newer
#: coordscope wrote it); a lower one would be read by a conversion written with the change.
STATE_VERSION: Final = 1
#: Days audited by default, counted back from the newest day held (inclusive).
DEFAULT_HORIZON_DAYS: Final = 30
#: Runs remembered in the manifest (the newest).
KEPT_RUNS: Final = 100

_ID_COLUMNS: Final = (PLATFORM, EVENT_ID)
#: What a manifest being written is called until it is renamed into place.
_MANIFEST_TMP: Final = ".manifest.tmp-"
#: The folders of a state's files (``kept``: what the audits keep of each day).
_FOLDERS: Final = ("events", "kept", "campaigns")


def day_of(ts: pl.Expr) -> pl.Expr:
    """Return the UTC calendar day of a timestamp column (a ``pl.Date`` expression)."""
    return ts.dt.convert_time_zone("UTC").dt.date()


@dataclass
class Manifest:
    """What a state holds, as of one generation (the content of ``manifest.json``).

    Attributes
    ----------
    generation : int
        Incremented by every committed change; new files carry the number of the
        generation that commits them.
    days : dict of str to dict
        ISO day → ``{"file": relative path, "events": rows}``.
    campaigns : str or None
        Relative path of the campaign registry, None before the first audit.
    runs : list of dict
        What each committed audit did (newest last, at most :data:`KEPT_RUNS`).
    """

    generation: int = 0
    days: dict[str, dict[str, Any]] = field(default_factory=dict)
    campaigns: str | None = None
    runs: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """Return the manifest as written to ``manifest.json``."""
        return {
            "format": STATE_FORMAT,
            "version": STATE_VERSION,
            "written_by": f"coordscope {__version__}",
            "generation": self.generation,
            "days": {d: self.days[d] for d in sorted(self.days)},
            "campaigns": self.campaigns,
            "runs": self.runs[-KEPT_RUNS:],
        }

    def files(self) -> set[str]:
        """Return the relative paths of every file this manifest names."""
        named = {v["file"] for v in self.days.values()}
        for v in self.days.values():
            kept = v.get("kept")
            if kept:
                named.update(_kept_files(kept))
            similar = v.get("similar")
            if similar:
                named.update(_similar_files(similar))
        if self.campaigns is not None:
            named.add(self.campaigns)
        return named

    def horizon(self, days: int) -> list[str]:
        """Return the ISO days of the ``days``-day horizon ending at the newest day held.

        The horizon is counted in calendar days (a day without events counts), so that
        a campaign leaves it ``days`` days after its last activity whatever the feed.
        """
        if not self.days:
            return []
        newest = dt.date.fromisoformat(max(self.days))
        first = (newest - dt.timedelta(days=days - 1)).isoformat()
        return [d for d in sorted(self.days) if d >= first]


@dataclass
class Added:
    """What :meth:`StateStore.add` did.

    Attributes
    ----------
    events : int
        Rows added (after the within-input de-duplication).
    replaced : int
        Stored events replaced by a newer version (same platform and event id).
    replaced_in_input : int
        Added rows dropped because a later row of the same input had their identity.
    days : list of str
        Days whose file was written.
    """

    events: int = 0
    replaced: int = 0
    replaced_in_input: int = 0
    days: list[str] = field(default_factory=list)


class StateStore:
    """A state directory, opened (and locked) for one run.

    Use as a context manager: entering takes the lock (refusing when another run holds
    it), reads the manifest and removes files a killed run left; leaving releases it.
    Changes (:meth:`add`, :meth:`drop_day`, :meth:`prune_before`, :meth:`set_campaigns`,
    :meth:`record_run`) go to a pending manifest and new files; nothing is visible until
    :meth:`commit`.

    Parameters
    ----------
    path : str or Path
        The state directory; created (empty) when missing when ``create`` is true.
    create : bool, default True
        Whether a missing directory starts a new state; otherwise it is an error.
    """

    def __init__(self, path: str | Path, *, create: bool = True) -> None:
        self.path = Path(path)
        self.create = create
        self._lock_fd: int | None = None
        self.committed = Manifest()
        self.pending = Manifest()

    # -- opening, locking, committing ---------------------------------------------------

    def __enter__(self) -> StateStore:
        """Lock the state, read its manifest and remove files no manifest names."""
        check_utf8_path(self.path, "state")
        if not self.path.exists():
            if not self.create:
                raise StateError(f"{self.path}: no such state directory")
            self.path.mkdir(parents=True)
        elif not self.path.is_dir():
            raise StateError(f"{self.path}: not a directory")
        elif not (self.path / "manifest.json").exists() and any(
            p.name not in ("lock", *_FOLDERS) and not p.name.startswith(_MANIFEST_TMP)
            for p in self.path.iterdir()
        ):
            raise StateError(
                f"{self.path}: not a coordscope state (no manifest.json, and other files); "
                "give an empty or new directory"
            )
        self._lock()
        try:
            self.committed = self._read_manifest()
            self.pending = _copy(self.committed)
            self._collect_garbage()
        except BaseException:
            self._unlock()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        """Release the lock (pending changes not committed are left for the next run)."""
        self._unlock()

    def _lock(self) -> None:
        fd = os.open(self.path / "lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "?"
            os.close(fd)
            raise StateError(
                f"{self.path}: in use by another coordscope run ({holder}); wait for it to end"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}".encode(), 0)
        self._lock_fd = fd

    def _unlock(self) -> None:
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._lock_fd, 0)
            os.close(self._lock_fd)  # closing releases the flock
            self._lock_fd = None

    def _read_manifest(self) -> Manifest:
        path = self.path / "manifest.json"
        if not path.exists():
            return Manifest()
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise StateError(f"{path}: damaged manifest ({exc})") from None
        if not isinstance(raw, dict) or raw.get("format") != STATE_FORMAT:
            raise StateError(f"{path}: not a coordscope state manifest")
        version = raw.get("version")
        if not isinstance(version, int) or version > STATE_VERSION:
            raise StateError(
                f"{path}: state layout version {version!r} was written by "
                f"{raw.get('written_by', 'another coordscope')}; this coordscope "
                f"({__version__}) reads version {STATE_VERSION}: upgrade coordscope"
            )
        if version < STATE_VERSION:  # no older layout exists yet
            raise StateError(f"{path}: state layout version {version} is not supported")
        try:
            manifest = Manifest(
                generation=int(raw["generation"]),
                days={
                    str(dt.date.fromisoformat(d)): _day_entry(v)
                    for d, v in dict(raw["days"]).items()
                },
                campaigns=None if raw.get("campaigns") is None else str(raw["campaigns"]),
                runs=list(raw.get("runs", [])),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise StateError(f"{path}: damaged manifest ({exc!r})") from None
        # what was kept of a day is a cache of its events: when a file of it is gone, the
        # day is counted again (and kept again) by the next run, not refused
        for entry in manifest.days.values():
            kept = entry.get("kept")
            if kept and not all((self.path / n).is_file() for n in _kept_files(kept)):
                del entry["kept"]
            similar = entry.get("similar")
            if similar and not all((self.path / n).is_file() for n in _similar_files(similar)):
                del entry["similar"]
        for name in manifest.files():
            if not (self.path / name).is_file():
                raise StateError(f"{path}: names {name}, which is missing")
        return manifest

    def _collect_garbage(self) -> None:
        """Remove files no manifest names (left by a run killed before its commit)."""
        for p in self.path.glob(_MANIFEST_TMP + "*"):  # a manifest killed as it was written
            p.unlink()
        keep = self.committed.files()
        for sub in _FOLDERS:
            folder = self.path / sub
            if folder.is_dir():
                for p in folder.iterdir():
                    if f"{sub}/{p.name}" not in keep:
                        p.unlink()

    def commit(self) -> None:
        """Make the pending changes the state, in one atomic switch of the manifest.

        The files the new manifest names that the old one did not are flushed to disk
        first (with the folders that hold them), so that after a power cut the new
        manifest never names a file whose bytes were still in the page cache. The new
        manifest is then written beside the old, flushed, and renamed over it; the files
        only the old one named are removed afterwards.
        """
        if self._lock_fd is None:
            raise StateError(f"{self.path}: commit outside of an open state")
        new_files = sorted(self.pending.files() - self.committed.files())
        for name in new_files:
            _fsync(self.path / name)
        for folder in sorted({(self.path / name).parent for name in new_files}):
            _fsync(folder)
        self.pending.generation = self.committed.generation + 1
        text = json.dumps(self.pending.to_json(), indent=1, sort_keys=True) + "\n"

        def _write(tmp: Path) -> None:
            with open(tmp, "w", encoding="utf-8") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())

        atomic_write(self.path / "manifest.json", _write)
        # the switch is done: from here on the new manifest is the state
        self.committed = _copy(self.pending)
        _fsync(self.path)
        self._collect_garbage()

    # -- reading --------------------------------------------------------------------------

    @property
    def next_generation(self) -> int:
        """The generation the pending changes will have when committed."""
        return self.committed.generation + 1

    def day_file(self, day: str, manifest: Manifest | None = None) -> Path:
        """Return the file holding ``day``'s events (pending manifest by default)."""
        return self.path / str((manifest or self.pending).days[day]["file"])

    def scan(self, days: list[str]) -> pl.LazyFrame:
        """Return a scan of the events of ``days`` (pending), in day order."""
        if not days:
            return pl.DataFrame(schema=EVENT_SCHEMA).lazy()
        files = [self.day_file(d) for d in days]
        schemas = {tuple(pl.read_parquet_schema(f).items()) for f in files}
        if len(schemas) == 1:
            return pl.scan_parquet(files)
        # days with different extra columns (a reader's ``x_`` fields): their union
        return pl.concat([pl.scan_parquet(f) for f in files], how="diagonal_relaxed")

    def campaigns(self, manifest: Manifest | None = None) -> pl.DataFrame | None:
        """Return the campaign registry (committed by default), None before any audit."""
        name = (manifest or self.committed).campaigns
        return None if name is None else pl.read_parquet(self.path / name)

    def size_bytes(self) -> int:
        """Return the bytes on disk of the files the committed manifest names."""
        return sum((self.path / f).stat().st_size for f in self.committed.files())

    # -- changing -------------------------------------------------------------------------

    def add(self, events: pl.DataFrame | pl.LazyFrame) -> Added:
        """Add canonical events: new days are written, touched days rewritten (pending).

        Parameters
        ----------
        events : polars.DataFrame or polars.LazyFrame
            :data:`~coordscope.schema.EVENT_SCHEMA` rows.

        Returns
        -------
        Added

        Notes
        -----
        Memory: the identities of the added events, plus one day of events at a time.
        Every stored day's identities are read once (a column scan) to find replaced
        events; only the days that change are rewritten.
        """
        # canonical columns in canonical types (one streamed pass), and the readers'
        # extra ``x_`` columns, kept with the events
        lazy = validate_events(events).lazy()
        ids = (
            lazy.select(
                pl.col(PLATFORM).cast(pl.String), pl.col(EVENT_ID), day_of(pl.col(TS)).alias("_day")
            )
            .with_row_index("_row")
            .collect(engine="streaming")
        )
        added = Added()
        if ids.height == 0:
            return added
        # the last row of an identity wins
        last = ids.unique(list(_ID_COLUMNS), keep="last", maintain_order=True)
        added.replaced_in_input = ids.height - last.height
        added.events = last.height
        keep_rows = last["_row"]
        new_ids = last.select(_ID_COLUMNS)
        new_days = sorted(str(d) for d in last["_day"].unique().to_list())
        del ids
        generation = self.next_generation
        if added.replaced_in_input:  # keep the last row of each identity
            lazy = (
                lazy.with_row_index("_row")
                .filter(pl.col("_row").is_in(keep_rows.implode()))
                .drop("_row")
            )
        fresh = lazy
        # one day at a time: the stored rows not replaced, then the added rows of the day
        for day in sorted(set(self.pending.days) | set(new_days)):
            frames: list[pl.DataFrame] = []
            if day in self.pending.days:
                stored = pl.scan_parquet(self.day_file(day))
                hit = (
                    stored.select(pl.col(PLATFORM).cast(pl.String), EVENT_ID)
                    .join(new_ids.lazy(), on=list(_ID_COLUMNS), how="semi")
                    .select(pl.len())
                    .collect()
                    .item()
                )
                if hit == 0 and day not in new_days:
                    continue
                added.replaced += hit
                frames.append(
                    stored.with_columns(pl.col(PLATFORM).cast(pl.String).alias("_p"))
                    .join(
                        new_ids.lazy(),
                        left_on=["_p", EVENT_ID],
                        right_on=list(_ID_COLUMNS),
                        how="anti",
                    )
                    .drop("_p")
                    .collect()
                )
            if day in new_days:
                # a range of times, not a computed day: the scan skips row groups by it
                start = dt.datetime.fromisoformat(day).replace(tzinfo=dt.UTC)
                end = start + dt.timedelta(days=1)
                frames.append(fresh.filter((pl.col(TS) >= start) & (pl.col(TS) < end)).collect())
            self._write_day(day, pl.concat(frames, how="diagonal_relaxed"), generation)
            added.days.append(day)
        return added

    def _write_day(self, day: str, frame: pl.DataFrame, generation: int) -> None:
        if frame.height == 0:
            self.pending.days.pop(day, None)
            return
        extra = sorted(c for c in frame.columns if c not in EVENT_SCHEMA)
        ordered = frame.select([*EVENT_SCHEMA, *extra]).sort(
            [TS, pl.col(PLATFORM).cast(pl.String), EVENT_ID]
        )
        name = f"events/{day}.g{generation}.parquet"
        write_table(ordered, self.path / name)
        self.pending.days[day] = {"file": name, "events": ordered.height}

    def drop_day(self, day: str) -> int:
        """Drop every event of ``day`` (pending); return how many there were."""
        if day not in self.pending.days:
            raise ParameterError(f"day {day} is not in the state {self.path}")
        return int(self.pending.days.pop(day)["events"])

    def prune_before(self, day: str) -> int:
        """Drop every day before ``day`` (an ISO date; pending); return the events dropped."""
        cut = dt.date.fromisoformat(day).isoformat()
        old = [d for d in self.pending.days if d < cut]
        return sum(self.drop_day(d) for d in old)

    def set_kept(self, day: str, kept: dict[str, Any]) -> None:
        """Record what was kept of ``day`` (pending; files already written in ``kept/``)."""
        self.pending.days[day]["kept"] = kept

    def set_similar(self, day: str, similar: dict[str, Any]) -> None:
        """Record ``day``'s kept near-duplicate sets and pairs (pending; files written)."""
        self.pending.days[day]["similar"] = similar

    def set_campaigns(self, registry: pl.DataFrame) -> None:
        """Write the campaign registry (pending)."""
        name = f"campaigns/g{self.next_generation}.parquet"
        write_table(registry, self.path / name)
        self.pending.campaigns = name

    def record_run(self, run: Mapping[str, Any]) -> None:
        """Remember what a run did (pending; :data:`KEPT_RUNS` kept)."""
        self.pending.runs.append(dict(run, generation=self.next_generation))

    @contextlib.contextmanager
    def unchanged(self) -> Iterator[None]:
        """Discard the pending changes when the block raises (their files are removed)."""
        try:
            yield
        except BaseException:
            # what is on disk is the state (a commit may have switched it before failing)
            with contextlib.suppress(OSError, StateError):
                self.committed = self._read_manifest()
            self.pending = _copy(self.committed)
            with contextlib.suppress(OSError):
                self._collect_garbage()
            raise


def _kept_files(kept: Mapping[str, Any]) -> list[str]:
    """Return the relative paths of the files of one day's ``kept`` entry."""
    names = [str(a["file"]) for a in kept["actions"].values()]
    return [*names, str(kept["partials"]), str(kept["checks"])]


def _similar_files(similar: Mapping[str, Any]) -> list[str]:
    """Return the relative paths of the files of one day's ``similar`` entry."""
    names = [str(similar[k]) for k in ("messages", "sets", "hashes")]
    return [*names, str(similar["pairs"])] if similar.get("pairs") else names


def _fsync(path: Path) -> None:
    """Flush a file's or a folder's contents to the disk (where the file system can)."""
    with contextlib.suppress(OSError):  # some network file systems refuse it on folders
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _copy(manifest: Manifest) -> Manifest:
    return copy.deepcopy(manifest)


def _day_entry(raw: Any) -> dict[str, Any]:
    """Check and copy one day of a manifest: its events file, count, and what is kept."""
    entry: dict[str, Any] = {"file": str(raw["file"]), "events": int(raw["events"])}
    kept = raw.get("kept")
    if kept is not None:
        entry["kept"] = {
            "key": str(kept["key"]),
            "actions": {
                str(s): {"file": str(a["file"]), "rows": int(a["rows"])}
                for s, a in dict(kept["actions"]).items()
            },
            "partials": str(kept["partials"]),
            "partial_rows": int(kept["partial_rows"]),
            "checks": str(kept["checks"]),
        }
    similar = raw.get("similar")
    if similar is not None:
        entry["similar"] = {
            "key": str(similar["key"]),
            **{k: str(similar[k]) for k in ("messages", "sets", "hashes")},
            "n_sets": int(similar["n_sets"]),
        }
        if similar.get("pairs"):
            entry["similar"]["pairs"] = str(similar["pairs"])
            entry["similar"]["against"] = {
                str(d): str(k) for d, k in dict(similar["against"]).items()
            }
    return entry
