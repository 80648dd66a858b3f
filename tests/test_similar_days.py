"""Near-duplicate groups made a day at a time equal those of one run over the horizon."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from coordscope.daily import keep_similar
from coordscope.engine.state import StateStore
from coordscope.parts import WorkDir
from coordscope.runs import run_state_audit
from coordscope.schema import EVENT_SCHEMA
from coordscope.signals.actions import ActionOptions
from coordscope.signals.similar import TEXT_KINDS, _streamed_groups, similar_actions
from coordscope.signals.similar_days import (
    DaySets,
    day_sets,
    day_signatures,
    horizon_groups,
    near_pairs,
)

DAY0 = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)
WORDS = [f"w{i}" for i in range(14)]


def post(event_id: str, actor: str, ts: dt.datetime, text: str | None) -> dict[str, Any]:
    return {
        "event_id": event_id, "platform": "generic", "actor_id": actor, "actor_name": None,
        "ts": ts, "kind": "post", "object_id": None, "text": text, "urls": [], "hashtags": [],
        "mentions": [], "media": [], "channel": None, "actor_created": None,
    }  # fmt: skip


def one_shot(events: pl.DataFrame) -> pl.DataFrame:
    """(event, first) of every grouped message: the one-run path."""
    event, group = _streamed_groups(
        events, threshold=0.8, min_shingles=5, text_kinds=TEXT_KINDS, method="minhash", seed=0
    )
    grouped = group.is_not_null()
    return pl.DataFrame(
        {
            "event": event.filter(grouped).cast(pl.UInt32),
            "first": event.gather(group.filter(grouped).cast(pl.UInt32)).cast(pl.UInt32),
        }
    ).sort("event")


def day_by_day(days: list[pl.DataFrame], start: int) -> pl.DataFrame:
    """Sets and pairs made a day at a time (each against every earlier day from ``start``),
    then the groups of the horizon ``days[start:]``."""
    kept: list[DaySets] = []
    pairs = []
    for d, events in enumerate(days):
        sets, signatures = day_sets(events)
        # the signatures of earlier days made again from what is kept (every other day),
        # or left to near_pairs to make for the sets it checks: the same values
        earlier = [
            (e, kept[e], day_signatures(kept[e]) if e % 2 else None) for e in range(start, d)
        ]
        pairs.append(near_pairs(d, sets, signatures, earlier))
        kept.append(sets)
    firsts, first = [], 0
    for d in range(start, len(days)):
        firsts.append((d, first, kept[d]))
        first += days[d].height
    return horizon_groups(firsts, pairs[start:])


def chain_days() -> list[pl.DataFrame]:
    """Day 1: X; day 2: Y (X with one word changed); day 3: Z (Y with another changed).

    J(X, Y) = J(Y, Z) = 9/11 >= 0.8, J(X, Z) = 8/12 < 0.8: one group X ~ Y ~ Z only
    through day 2. Each day also has an unrelated message and one too short to count.
    """
    x = WORDS[:10]
    y = [*x[:9], "y9"]
    z = ["z0", *y[1:]]
    texts = [x, y, z]
    days = []
    for d, words in enumerate(texts):
        ts = DAY0 + dt.timedelta(days=d, hours=10)
        days.append(
            pl.DataFrame(
                [
                    post(f"n{d}", "a", ts, f"other{d} " + " ".join(f"u{d}{k}" for k in range(8))),
                    post(f"m{d}", "b", ts + dt.timedelta(seconds=1), " ".join(words)),
                    post(f"s{d}", "c", ts + dt.timedelta(seconds=2), "too short"),
                ],
                schema=EVENT_SCHEMA,
            )
        )
    return days


def test_a_chain_through_the_middle_day_by_hand() -> None:
    days = chain_days()
    sets, signatures = day_sets(days[0])
    # two messages of five words or more, two distinct sets; signatures made again from
    # the kept hashes are the ones made from the text
    assert sets.event.tolist() == [0, 1] and sets.n_sets == 2
    assert (day_signatures(sets) == signatures).all()
    # rows 1, 4, 7 are X, Y, Z: one group whose first message is X (row 1)
    got = day_by_day(days, 0)
    assert got.to_dicts() == [{"event": e, "first": 1} for e in (1, 4, 7)]
    assert_frame_equal(got, one_shot(pl.concat(days)))
    # the horizon of days 2-3: Y, Z (rows 1, 4 of it), first Y
    got = day_by_day(days, 1)
    assert got.to_dicts() == [{"event": 1, "first": 1}, {"event": 4, "first": 1}]
    assert_frame_equal(got, one_shot(pl.concat(days[1:])))
    # without day 2, X and Z are no near duplicates: no group
    assert day_by_day([days[0], days[2]], 0).height == 0
    assert one_shot(pl.concat([days[0], days[2]])).height == 0


@st.composite
def multi_day(draw: st.DrawFn) -> tuple[list[pl.DataFrame], int]:
    """Days of posts drawn from a few templates with a word or two changed."""
    n_days = draw(st.integers(1, 4))
    templates = draw(
        st.lists(st.lists(st.sampled_from(WORDS), min_size=3, max_size=9), min_size=1, max_size=3)
    )
    days = []
    for d in range(n_days):
        rows = []
        for k in range(draw(st.integers(0, 6))):
            words = list(draw(st.sampled_from(templates)))
            for _ in range(draw(st.integers(0, 2))):  # edits
                words[draw(st.integers(0, len(words) - 1))] = draw(st.sampled_from(WORDS))
            text = None if draw(st.integers(0, 9)) == 0 else " ".join(words)
            ts = DAY0 + dt.timedelta(days=d, seconds=k)
            rows.append(post(f"e{d}-{k}", f"a{k % 3}", ts, text))
        days.append(pl.DataFrame(rows, schema=EVENT_SCHEMA))
    return days, draw(st.integers(0, n_days - 1))


@settings(max_examples=60, deadline=None)
@given(multi_day())
def test_day_by_day_groups_equal_one_run_over_the_horizon(
    case: tuple[list[pl.DataFrame], int],
) -> None:
    days, start = case
    assert_frame_equal(day_by_day(days, start), one_shot(pl.concat(days[start:])))


def test_empty_days_and_no_messages() -> None:
    empty = pl.DataFrame(schema=EVENT_SCHEMA)
    assert day_by_day([empty], 0).height == 0
    assert day_by_day([empty, chain_days()[0], empty], 0).height == 0
    assert horizon_groups([], []).height == 0


# -- in a daily state -----------------------------------------------------------------------


def campaign_day(d: int) -> pl.DataFrame:
    """Three accounts paste near copies of one text within seconds, every day; the text
    drifts a word a day (days far apart are no near duplicates, neighbours are)."""
    words = [f"c{d + k}" for k in range(10)]  # day d and d + 1 share 9 of 11 words
    rows = []
    for hour in (9, 15):
        ts = DAY0 + dt.timedelta(days=d, hours=hour)
        for k, actor in enumerate(("p", "q", "r")):
            rows.append(post(f"c{d}-{hour}-{actor}", actor, ts + dt.timedelta(seconds=5 * k),
                             " ".join(words)))  # fmt: skip
        rows.append(post(f"o{d}-{hour}", f"org{d}", ts, f"plain words of day {d} here {hour}"))
    return pl.DataFrame(rows, schema=EVENT_SCHEMA)


def kept_groups(state: Path, horizon: int, work: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The horizon's co_similar actions made from what the state kept (nothing is made
    again: the run before kept it all), and those of one run over its events."""
    with StateStore(state) as store:
        days = store.pending.horizon(horizon)
        scratch = WorkDir(work)  # removed with the object: held until the file is read
        (path, rows), made = keep_similar(store, days, options=ActionOptions(), work=scratch)
        assert made == []
        kept = pl.read_parquet(path)
        assert kept.height == rows
        return kept, similar_actions(store.scan(days).collect())


@pytest.mark.parametrize("horizon", [2, 4])
def test_daily_runs_make_the_groups_of_one_run(tmp_path: Path, horizon: int) -> None:
    state = tmp_path / "st"
    for d in range(5):
        path = tmp_path / f"day{d}.parquet"
        campaign_day(d).write_parquet(path)
        result = run_state_audit([str(path)], tmp_path / f"o{d}", state=state, horizon=horizon)
        # only the new day's sets and pairs are made
        assert result.summary["state"]["near_duplicate_days_made"] == [f"2024-03-0{d + 1}"]
        kept, plain = kept_groups(state, horizon, tmp_path / "w")
        assert_frame_equal(kept, plain)
    assert kept["key"].n_unique() == 1  # one chain over the horizon
    assert kept.height == 6 * horizon


def test_a_day_changed_before_makes_the_later_pairs_again(tmp_path: Path) -> None:
    state = tmp_path / "st"
    paths = []
    for d in range(4):
        paths.append(tmp_path / f"day{d}.parquet")
        campaign_day(d).write_parquet(paths[-1])
    first = run_state_audit([str(p) for p in paths], tmp_path / "o", state=state, horizon=4)
    assert first.summary["state"]["near_duplicate_days_made"] == [
        "2024-03-01", "2024-03-02", "2024-03-03", "2024-03-04",
    ]  # fmt: skip
    assert kept_groups(state, 4, tmp_path / "w")[0]["key"].n_unique() == 1
    # day 2 re-collected with other texts: the chain breaks there; days 3 and 4 are
    # paired again (their earlier days changed), day 1 is not
    again = campaign_day(1).with_columns(
        pl.when(pl.col("actor_id").is_in(["p", "q", "r"]))
        .then(pl.lit("entirely different words typed by the three same accounts"))
        .otherwise(pl.col("text"))
        .alias("text")
    )
    again.write_parquet(tmp_path / "again.parquet")
    second = run_state_audit([str(tmp_path / "again.parquet")], tmp_path / "o", state=state,
                             horizon=4)  # fmt: skip
    assert second.summary["state"]["near_duplicate_days_made"] == [
        "2024-03-02", "2024-03-03", "2024-03-04",
    ]  # fmt: skip
    kept, plain = kept_groups(state, 4, tmp_path / "w")
    assert_frame_equal(kept, plain)
    assert kept["key"].n_unique() == 3  # day 1; day 2; days 3-4
    # a day dropped: the days after it are paired again, and the groups are one run's
    with StateStore(state) as store:
        store.drop_day("2024-03-03")
        store.commit()
    third = run_state_audit([], tmp_path / "o", state=state, horizon=4)
    assert third.summary["state"]["near_duplicate_days_made"] == ["2024-03-04"]
    kept, plain = kept_groups(state, 4, tmp_path / "w")
    assert_frame_equal(kept, plain)
    assert kept["key"].n_unique() == 3  # day 1; day 2; day 4 (its neighbour day 3 gone)
