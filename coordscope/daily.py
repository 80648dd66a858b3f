"""Daily runs: what a state keeps of each day, so that a run counts only its new days.

An audit of a state's horizon (:func:`coordscope.runs.run_state_audit`) needs, for every
day of the horizon, the day's actions of the row-local signals (those an event gives on
its own: shares, links, hashtags, texts, …) and the day's pair partials
(:func:`coordscope.stats.stored.day_pairs`). :func:`keep_days` makes them for the days
that do not have them yet — days added since the last run, days rewritten by a
re-collection, or every day when the audit's parameters changed — and writes them into
the state (``kept/``, committed with the run). The audit then reads them rather than
making the actions again and counting every pair again.

Near-duplicate text (``co_similar``) groups messages across days, so its actions are not
those of a day: each day keeps its messages' distinct word sets and LSH band keys and
its verified near-duplicate pairs with its own and the earlier days' sets, and the
horizon's groups are made from those (:func:`keep_similar`,
:mod:`coordscope.signals.similar_days`); its co-actions are counted over the horizon.

A day's kept files are named by a *key*: a digest of what they depend on (the day's
events file, the signals, their windows and the options that change their actions — the
text rule and least text length of ``co_text`` —, the coordscope version). A run with
other parameters makes them again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import polars as pl

from coordscope._output import write_table
from coordscope._version import __version__
from coordscope.budget import Budget
from coordscope.engine.state import StateStore
from coordscope.parts import WorkDir
from coordscope.pipeline import KeptDay, KeptDays
from coordscope.progress import track
from coordscope.schema import EVENT_ID
from coordscope.signals.actions import ROW_LOCAL, ActionOptions, action_batches, resolve_signals
from coordscope.signals.exact import actions_from_keys
from coordscope.signals.similar import DEFAULT_BANDS, DEFAULT_ROWS, TEXT_KINDS
from coordscope.signals.similar_days import (
    DaySets,
    day_sets,
    day_signatures,
    horizon_groups,
    near_pairs,
    read_day_pairs,
    read_day_sets,
    write_day_pairs,
    write_day_sets,
)
from coordscope.stats.significance import SIGNAL_WINDOWS
from coordscope.stats.stored import day_pairs

__all__ = ["KEPT_SIGNALS", "keep_days", "keep_similar", "kept_key", "similar_key"]

#: Signals whose actions and partials a state keeps per day: the row-local ones.
KEPT_SIGNALS: Final = ROW_LOCAL


def kept_key(
    day_file: str,
    signals: Sequence[str],
    windows: dict[str, float],
    options: dict[str, dict[str, Any]] | None = None,
) -> str:
    """Return the digest naming what is kept of a day for these parameters (16 hex).

    ``options``: per signal, the options its actions are made with
    (:meth:`~coordscope.signals.actions.ActionOptions.of_signal`); only the signals that
    have some enter the digest, so that the keys of states whose signals have none stay.
    """
    what: dict[str, Any] = {
        "events": day_file,
        "signals": list(signals),
        "windows": {s: windows[s] for s in signals},
        "version": __version__,
    }
    made_with = {s: o for s, o in (options or {}).items() if o and s in signals}
    if made_with:
        what["options"] = made_with
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:16]


def keep_days(
    store: StateStore,
    days: Sequence[str],
    *,
    signals: Sequence[str] | str | None,
    window: float = 60.0,
    windows: dict[str, float] | None = None,
    options: ActionOptions | None = None,
    budget: Budget,
    work: WorkDir,
) -> tuple[KeptDays | None, list[str]]:
    """Make what is missing of ``days``' kept actions and partials; return all of them.

    Parameters
    ----------
    store : StateStore
        The open state; new files go to ``kept/`` and into its pending manifest.
    days : sequence of str
        The horizon's days (ISO), in order.
    signals, window, windows
        The audit's signals and windows (seconds, inclusive), as given to
        :func:`coordscope.audit`.
    options : ActionOptions, optional
        The audit's action options (``text_rule``, ``min_text_length``, …); default the
        defaults. Days kept with other options are made again.
    budget : Budget
        Memory and threads of the counts.
    work : WorkDir
        Scratch space; it holds the horizon's ``co_similar`` actions (keep it while the
        result is used).

    Returns
    -------
    (KeptDays or None, list of str)
        What :func:`coordscope.audit` takes as ``kept`` (None when no audited signal is
        row-local or ``co_similar``), and the days whose kept actions and partials were
        made by this call (``KeptDays.similar_made``: those whose near-duplicate sets or
        pairs were).

    Notes
    -----
    Cost: for each day made, the actions of its events and one count of its pairs
    (:func:`~coordscope.stats.stored.day_pairs`); nothing for the other days.
    """
    chosen = resolve_signals(signals)
    local = [s for s in chosen if s in KEPT_SIGNALS]
    options = ActionOptions() if options is None else options
    similar = None
    similar_made: list[str] = []
    if "co_similar" in chosen and options.similar_method == "minhash":
        similar, similar_made = keep_similar(
            store, days, options=options, work=work, budget_bytes=budget.memory // 4
        )
    if not local and similar is None:
        return None, []
    overrides = dict(SIGNAL_WINDOWS if windows is None else windows)
    win = {s: float(overrides.get(s, window)) for s in local}
    made_with = {s: options.of_signal(s) for s in local}
    made: list[str] = []
    kept: list[KeptDay] = []
    first_event = 0
    for day in days if local else []:
        entry = store.pending.days[day]
        key = kept_key(entry["file"], local, win, made_with)
        have = entry.get("kept")
        if have is None or have["key"] != key:
            have = _make_day(store, day, key, local, win, options, budget=budget, work=work)
            store.set_kept(day, have)
            made.append(day)
        kept.append(
            KeptDay(
                first_event=first_event,
                actions={
                    s: (store.path / a["file"], int(a["rows"])) for s, a in have["actions"].items()
                },
                partials=store.path / have["partials"],
                checks=store.path / have["checks"],
                partial_rows=int(have["partial_rows"]),
            )
        )
        first_event += int(entry["events"])
    return (
        KeptDays(
            days=kept,
            windows=win,
            options=made_with,
            similar=similar,
            similar_options=options.of_signal("co_similar") if similar is not None else {},
            similar_made=similar_made,
        ),
        made,
    )


def similar_key(day_file: str, options: ActionOptions) -> str:
    """Return the digest naming a day's kept near-duplicate sets (16 hex).

    What the sets depend on: the day's events file, the options of ``co_similar``, the
    LSH parameters, the kinds whose text counts, and the versions of coordscope and of
    polars (whose seeded string hash makes the shingle hashes).
    """
    what = {
        "events": day_file,
        "co_similar": options.of_signal("co_similar"),
        "bands": DEFAULT_BANDS,
        "rows": DEFAULT_ROWS,
        "kinds": list(TEXT_KINDS),
        "version": __version__,
        "polars": pl.__version__,
    }
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:16]


def keep_similar(
    store: StateStore,
    days: Sequence[str],
    *,
    options: ActionOptions,
    work: WorkDir,
    budget_bytes: int = 1 << 30,
) -> tuple[tuple[Path, int], list[str]]:
    """Make the horizon's ``co_similar`` actions from the days' kept near-duplicate sets.

    Each day keeps its sets (:func:`~coordscope.signals.similar_days.day_sets`) and its
    verified pairs with its own and the earlier days' sets
    (:func:`~coordscope.signals.similar_days.near_pairs`); the horizon's groups are the
    components of the kept pairs (:func:`~coordscope.signals.similar_days.horizon_groups`),
    exactly those of one run over the horizon's events. A day's sets are made again when
    its events or the options change; its pairs, also when the earlier days of the
    horizon are not the files they were made with (a day added, dropped or re-collected
    before it, or a longer horizon).

    Parameters
    ----------
    store : StateStore
        The open state; new files go to ``kept/`` and into its pending manifest.
    days : sequence of str
        The horizon's days (ISO) that hold events, in order.
    options : ActionOptions
        The audit's options (``similarity`` and ``min_shingles``; MinHash only).
    work : WorkDir
        Where the actions are written.
    budget_bytes : int, default 1 GiB
        Memory for the sets and signatures of the days made in this call, held for the
        next days' pairs (a run adding many days signs each once).

    Returns
    -------
    ((pathlib.Path, int), list of str)
        The ``co_similar`` actions of the horizon's events (a Parquet file in ``work``,
        ``event`` counted in the horizon's events) and their number; the days whose sets
        or pairs this call made.

    Notes
    -----
    Cost: for each day made, its tokenising and signatures; for each day whose pairs are
    made, one pass over every earlier day's kept sets of the horizon; then one pass over
    every day's kept messages and pairs (no text is read).
    """
    threshold = options.similarity
    made: list[str] = []
    keys: dict[str, str] = {}
    held = _Signed(budget_bytes)

    def earlier(day: str) -> tuple[int, DaySets, npt.NDArray[np.uint32] | None]:
        """Return an earlier day's sets, and its signatures when this call made the day."""
        got = held.get(day)
        if got is not None:
            return _ordinal(day), *got
        return _ordinal(day), _read_sets(store, store.pending.days[day]["similar"]), None

    with track("near-duplicate days", total=len(days), unit="days") as progress_days:
        for d in days:
            entry = store.pending.days[d]
            key = similar_key(str(entry["file"]), options)
            have: dict[str, Any] | None = entry.get("similar")
            stem = f"kept/{d}.g{store.next_generation}.{key}"
            fresh = None
            changed = False
            if have is None or have["key"] != key:
                events = pl.scan_parquet(store.day_file(d))
                fresh = day_sets(events, min_shingles=options.min_shingles)
                names = write_day_sets(fresh[0], store.path, stem)
                have = {"key": key, **names, "n_sets": fresh[0].n_sets}
                held.put(d, fresh)
                changed = True
            against = {e: keys[e] for e in keys}  # the horizon's earlier days, as kept now
            was = {e: k for e, k in dict(have.get("against", {})).items() if e >= days[0]}
            if not have.get("pairs") or was != against:
                if fresh is not None:
                    sets, signatures = fresh
                else:
                    sets = _read_sets(store, have)
                    signatures = day_signatures(sets)
                pairs = near_pairs(
                    _ordinal(d), sets, signatures, map(earlier, keys), threshold=threshold
                )
                name = f"{stem}.similar-pairs.parquet"
                write_day_pairs(pairs, store.path / name)
                have = {**have, "pairs": name, "against": against}
                del sets, signatures
                changed = True
            if changed:
                made.append(d)
            store.set_similar(d, have)
            keys[d] = key
            progress_days.advance()
    kept = []
    first_event = 0
    for d in days:
        entry = store.pending.days[d]
        sim = entry["similar"]
        messages = _read_sets(store, sim, messages_only=True)
        kept.append((_ordinal(d), first_event, messages))
        first_event += int(entry["events"])
    groups = horizon_groups(
        kept, [read_day_pairs(store.path / store.pending.days[d]["similar"]["pairs"]) for d in days]
    )
    events = store.scan(list(days))
    firsts = groups["first"].unique().implode()
    first_ids = (
        events.with_row_index("first")
        .filter(pl.col("first").is_in(firsts))
        .select("first", pl.col(EVENT_ID).alias("key"))
        .collect()
    )
    keys_frame = groups.join(first_ids, on="first", how="left", maintain_order="left").select(
        "event", "key"
    )
    acts = actions_from_keys(events, keys_frame, signal="co_similar")
    path = work.spill_table(acts, "actions-co_similar")
    return (path, acts.height), made


class _Signed:
    """Days' sets and signatures held for reuse, the oldest let go beyond ``limit`` bytes."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.days: dict[str, tuple[DaySets, npt.NDArray[np.uint32]]] = {}

    def get(self, day: str) -> tuple[DaySets, npt.NDArray[np.uint32]] | None:
        """Return what is held of ``day`` (None: nothing)."""
        return self.days.get(day)

    def put(self, day: str, value: tuple[DaySets, npt.NDArray[np.uint32]]) -> None:
        """Hold ``value`` for ``day``; let the oldest go while over the limit."""
        self.days[day] = value
        while len(self.days) > 1 and sum(map(_nbytes, self.days.values())) > self.limit:
            del self.days[next(iter(self.days))]


def _nbytes(value: tuple[DaySets, npt.NDArray[np.uint32]]) -> int:
    sets, signatures = value
    return int(sets.hashes.nbytes + sets.keys.nbytes + sets.indptr.nbytes + signatures.nbytes)


def _read_sets(
    store: StateStore, similar: dict[str, Any], *, messages_only: bool = False
) -> DaySets:
    names = {k: str(similar[k]) for k in ("messages", "sets", "hashes")}
    return read_day_sets(store.path, names, messages_only=messages_only)


def _ordinal(day: str) -> int:
    """Days since 1970-01-01 of an ISO day."""
    return (dt.date.fromisoformat(day) - dt.date(1970, 1, 1)).days


def _make_day(
    store: StateStore,
    day: str,
    key: str,
    signals: list[str],
    windows: dict[str, float],
    options: ActionOptions,
    *,
    budget: Budget,
    work: WorkDir,
) -> dict[str, Any]:
    """Make and write one day's actions and pair partials; return its manifest entry."""
    events = pl.scan_parquet(store.day_file(day))
    stem = f"kept/{day}.g{store.next_generation}.{key}"
    slice_rows = max(1 << 16, budget.memory // 1024)
    actions: dict[str, dict[str, Any]] = {}
    files: list[Path] = []
    for s in signals:
        pieces = list(action_batches(events, signal=s, rows=slice_rows, options=options))
        frame = pl.concat(pieces) if len(pieces) > 1 else pieces[0]
        name = f"{stem}.actions-{s}.parquet"
        files.append(write_table(frame, store.path / name))
        actions[s] = {"file": name, "rows": frame.height}
        del frame, pieces
    partials, checks = day_pairs(pl.scan_parquet(files), signals, windows, budget=budget, work=work)
    write_table(partials, store.path / f"{stem}.partials.parquet")
    write_table(checks, store.path / f"{stem}.checks.parquet")
    return {
        "key": key,
        "actions": actions,
        "partials": f"{stem}.partials.parquet",
        "partial_rows": partials.height,
        "checks": f"{stem}.checks.parquet",
    }
