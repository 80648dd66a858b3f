"""Kept per-day pair partials give the significance stage exactly what counting live gives."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from coordscope.budget import Budget
from coordscope.parts import WorkDir
from coordscope.schema import ACTION_SCHEMA
from coordscope.stats import units as units_module
from coordscope.stats.significance import significance
from coordscope.stats.stored import Block, StoredPairs, covered_units, day_pairs
from coordscope.stats.units import code_units

DAY0 = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)
DAY_S = 86_400
SIGNALS = ("co_share", "co_link")  # the order of the blocks: signals, then days


def actions_of(rows: list[tuple[str, str, str, int, int]]) -> pl.DataFrame:
    """``(signal, key, account, second since DAY0, event)`` rows, as actions."""
    return pl.DataFrame(
        {
            "signal": [r[0] for r in rows],
            "key": [r[1] for r in rows],
            "actor_id": [r[2] for r in rows],
            "ts": [DAY0 + dt.timedelta(seconds=r[3]) for r in rows],
            "event_id": [f"e{r[4]}" for r in rows],
            "event": [r[4] for r in rows],
        },
        schema=ACTION_SCHEMA,
    )


def horizon_and_kept(
    rows: list[tuple[str, str, str, int, int]], tmp: Path, *, window: float = 60.0
) -> tuple[pl.DataFrame, StoredPairs]:
    """The horizon's actions (signals, then days, then input order) and its kept days."""
    frame = actions_of(rows).with_columns(
        (pl.col("ts").dt.date() - DAY0.date()).dt.total_days().alias("_day")
    )
    days = sorted(set(frame["_day"].to_list()))
    blocks, partials, checks, pieces = [], [], [], []
    at = 0
    for s in SIGNALS:
        for i, d in enumerate(days):
            part = frame.filter((pl.col("signal") == s) & (pl.col("_day") == d)).drop("_day")
            blocks.append(Block(day=i, signal=s, start=at, rows=part.height))
            at += part.height
            pieces.append(part)
    work = WorkDir(tmp)
    for i, d in enumerate(days):
        day = pl.concat(
            [
                frame.filter((pl.col("signal") == s) & (pl.col("_day") == d)).drop("_day")
                for s in SIGNALS
            ]
        )
        p, c = day_pairs(day, SIGNALS, {s: window for s in SIGNALS}, budget=Budget(), work=work)
        partials.append(tmp / f"p{i}.parquet")
        checks.append(tmp / f"c{i}.parquet")
        p.write_parquet(partials[-1])
        c.write_parquet(checks[-1])
    stored = StoredPairs(
        blocks=blocks,
        partials=partials,
        checks=checks,
        windows={s: window for s in SIGNALS},
        n_partials=sum(pl.read_parquet(p).height for p in partials),
    )
    return (pl.concat(pieces) if pieces else actions_of([])), stored


def assert_same(acts: pl.DataFrame, stored: StoredPairs, tmp: Path) -> int:
    if acts.height:  # the checks read in chunks of any size give the same units
        signals = sorted(set(acts["signal"]))
        units = code_units(acts, signals, {s: 60.0 for s in signals}, seed=0)
        whole = covered_units(units, stored)
        for rows in (1, 2, 7):
            assert (covered_units(units, stored, rows=rows) == whole).all()
    live = significance(acts, window=60.0, work=WorkDir(tmp))
    kept = significance(acts, window=60.0, work=WorkDir(tmp), stored=stored)
    assert_frame_equal(live.edges, kept.edges)
    assert_frame_equal(live.evidence, kept.evidence)
    assert_frame_equal(live.groups, kept.groups)
    used: int = kept.counts.get("units_from_kept_partials", 0)
    return used


def test_closed_units_come_from_the_kept_partials_and_midnight_is_counted_live(
    tmp_path: Path,
) -> None:
    rows = [
        # day 0, 10:00: a unit of key k1 inside the day (covered)
        ("co_share", "k1", "a", 36_000, 0), ("co_share", "k1", "b", 36_030, 1),
        ("co_share", "k1", "c", 36_050, 2),
        # day 1, 12:00: the same pair on k3 (covered), so a-b has two units
        ("co_share", "k3", "a", DAY_S + 43_200, 3), ("co_share", "k3", "b", DAY_S + 43_210, 4),
        # 23:59:30 day 0 → 00:00:20 day 1: one unit across midnight (live)
        ("co_share", "k2", "a", DAY_S - 30, 5), ("co_share", "k2", "b", DAY_S + 20, 6),
        # a link unit inside day 1, from events 3 and 4 (covered)
        ("co_link", "u1", "a", DAY_S + 43_200, 3), ("co_link", "u1", "b", DAY_S + 43_210, 4),
    ]  # fmt: skip
    acts, stored = horizon_and_kept(rows, tmp_path)
    assert stored.n_partials == 5  # k1: ab, ac, bc; k3: ab; u1: ab (k2 is in no one day)
    assert assert_same(acts, stored, tmp_path) == 3  # k1, k3 and u1; k2 counted live
    edges = significance(acts, window=60.0, work=WorkDir(tmp_path), stored=stored).edges
    ab = edges.filter((pl.col("actor_a") == "a") & (pl.col("actor_b") == "b"))
    assert ab["n_keys"].item() == 4  # k1, k2, k3, u1


def test_a_unit_whose_kept_actions_differ_in_the_horizon_is_counted_live(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # with three accounts enough: share "v" across midnight is saturated in the horizon
    # (a, b, c within a minute) but on neither day (a alone, then b and c); its
    # saturation drops the other actions of events 11 and 12, and so the link unit "u"
    # of day 1, where b acted twice after d, holds one b action fewer in the horizon than
    # on its day (same first action): the day's partial of (b, d) is not the horizon's
    monkeypatch.setattr(units_module, "SATURATED_ACTORS", 3)
    noon = DAY_S + 43_200
    rows = [
        ("co_share", "v", "a", DAY_S - 30, 10), ("co_share", "v", "b", DAY_S + 10, 11),
        ("co_share", "v", "c", DAY_S + 20, 12),
        ("co_link", "u", "d", noon, 20), ("co_link", "u", "b", noon + 5, 11),
        ("co_link", "u", "b", noon + 30, 30),
        # and a second unit of (b, d), so that the pair is tested
        ("co_link", "w", "b", noon + 3_600, 31), ("co_link", "w", "d", noon + 3_610, 32),
    ]  # fmt: skip
    acts, stored = horizon_and_kept(rows, tmp_path)
    assert assert_same(acts, stored, tmp_path) == 1  # "w" only
    edges = significance(acts, window=60.0, work=WorkDir(tmp_path), stored=stored).edges
    bd = edges.filter((pl.col("actor_a") == "b") & (pl.col("actor_b") == "d"))
    assert (bd["n_keys"].item(), bd["n_coactions"].item()) == (2, 2)


def test_partials_of_another_window_are_not_used(tmp_path: Path) -> None:
    rows = [("co_share", "k1", "a", 36_000, 0), ("co_share", "k1", "b", 36_030, 1),
            ("co_share", "k1", "b", 40_000, 2), ("co_share", "k1", "a", 40_001, 3)]  # fmt: skip
    acts, stored = horizon_and_kept(rows, tmp_path, window=30.0)
    assert assert_same(acts, stored, tmp_path) == 0


# seconds of a day: the first and last two minutes (units across midnight), and a few
# minutes at noon
_SECOND = st.one_of(
    st.integers(0, 120), st.integers(DAY_S - 120, DAY_S - 1), st.integers(43_000, 43_400)
)
_ACTION = st.tuples(
    st.sampled_from(SIGNALS),
    st.sampled_from(["k1", "k2", "k3"]),
    st.sampled_from(["a", "b", "c", "d", "e"]),
    st.integers(0, 2),  # day
    _SECOND,
    st.integers(0, 12),  # event: actions of one event share it (and a signal)
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(_ACTION, max_size=40))
def test_kept_partials_equal_counting_live(
    tmp_path: Path, drawn: list[tuple[str, str, str, int, int, int]]
) -> None:
    rows = [(s, k, a, d * DAY_S + sec, e) for s, k, a, d, sec, e in drawn]
    rows.sort(key=lambda r: (r[3], r[4]))  # input order: by time, as a day's file holds them
    acts, stored = horizon_and_kept(rows, tmp_path / str(len(list(tmp_path.iterdir()))))
    used = assert_same(acts, stored, tmp_path)
    event("some units from kept partials" if used else "every unit counted live")


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(_ACTION, max_size=40))
def test_kept_partials_equal_counting_live_with_saturated_and_crowded_units(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    drawn: list[tuple[str, str, str, int, int, int]],
) -> None:
    # three accounts make a unit saturated (π >= 0.25) or crowded: a unit across
    # midnight may be saturated in the horizon and not on either day, and then drop the
    # other actions of its events from units the days' partials hold
    monkeypatch.setattr(units_module, "SATURATED_ACTORS", 3)
    monkeypatch.setattr(units_module, "CROWDED_NEIGHBOURS", 2)
    rows = [(s, k, a, d * DAY_S + sec, e) for s, k, a, d, sec, e in drawn]
    rows.sort(key=lambda r: (r[3], r[4]))
    acts, stored = horizon_and_kept(rows, tmp_path / str(len(list(tmp_path.iterdir()))))
    used = assert_same(acts, stored, tmp_path)
    event("some units from kept partials" if used else "every unit counted live")
