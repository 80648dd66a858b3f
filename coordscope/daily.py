"""Daily runs: what a state keeps of each day, so that a run counts only its new days.

An audit of a state's horizon (:func:`coordscope.runs.run_state_audit`) needs, for every
day of the horizon, the day's actions of the row-local signals (those an event gives on
its own: shares, links, hashtags, texts, …) and the day's pair partials
(:func:`coordscope.stats.stored.day_pairs`). :func:`keep_days` makes them for the days
that do not have them yet — days added since the last run, days rewritten by a
re-collection, or every day when the audit's parameters changed — and writes them into
the state (``kept/``, committed with the run). The audit then reads them rather than
making the actions again and counting every pair again; near-duplicate text, which
groups events across days, is still made and counted over the whole horizon.

A day's kept files are named by a *key*: a digest of what they depend on (the day's
events file, the signals, their windows and the options that change their actions — the
text rule and least text length of ``co_text`` —, the coordscope version). A run with
other parameters makes them again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import polars as pl

from coordscope._output import write_table
from coordscope._version import __version__
from coordscope.budget import Budget
from coordscope.engine.state import StateStore
from coordscope.parts import WorkDir
from coordscope.pipeline import KeptDay, KeptDays
from coordscope.signals.actions import ROW_LOCAL, ActionOptions, action_batches, resolve_signals
from coordscope.stats.significance import SIGNAL_WINDOWS
from coordscope.stats.stored import day_pairs

__all__ = ["KEPT_SIGNALS", "keep_days", "kept_key"]

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
        Scratch space.

    Returns
    -------
    (KeptDays or None, list of str)
        What :func:`coordscope.audit` takes as ``kept`` (None when no audited signal is
        row-local), and the days whose kept files were made by this call.

    Notes
    -----
    Cost: for each day made, the actions of its events and one count of its pairs
    (:func:`~coordscope.stats.stored.day_pairs`); nothing for the other days.
    """
    chosen = resolve_signals(signals)
    local = [s for s in chosen if s in KEPT_SIGNALS]
    if not local:
        return None, []
    overrides = dict(SIGNAL_WINDOWS if windows is None else windows)
    win = {s: float(overrides.get(s, window)) for s in local}
    options = ActionOptions() if options is None else options
    made_with = {s: options.of_signal(s) for s in local}
    made: list[str] = []
    kept: list[KeptDay] = []
    first_event = 0
    for day in days:
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
    return KeptDays(days=kept, windows=win, options=made_with), made


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
