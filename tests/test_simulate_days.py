"""Tests of ``simulate(days=N)`` and ``coordscope simulate --days N``.

The window is ``days`` whole days from 2024-03-01T00:00:00Z and the requested size is
spread over them. Expectations are checked by hand: the first and last event fall in the
first and last hour of the window, every day holds about ``size / days`` events, the
campaigns are active on many different days, the default of 3 days gives the frames of
the fixed 3-day window the simulator had before ``days`` existed.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from functools import cache
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from coordscope.cli import app
from coordscope.datasets.simulate import MAX_DAYS, MAX_SIZE, MIN_SIZE, resolve_size, simulate
from coordscope.errors import ParameterError
from coordscope.schema import EVENT_SCHEMA, TRUTH_SCHEMA, validate_events

T0 = datetime(2024, 3, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)


@cache
def sim(scenario: str, size: int, days: int, seed: int = 0) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Cached: each (scenario, size, days, seed) is generated once in this module."""
    return simulate(scenario, seed=seed, size=size, days=days)


def per_day(events: pl.DataFrame) -> pl.DataFrame:
    """Events per UTC date: ``date``, ``n`` and the share of reposts, sorted by date."""
    return (
        events.group_by(pl.col("ts").dt.date().alias("date"))
        .agg(pl.len().alias("n"), (pl.col("kind") == "repost").mean().alias("reposts"))
        .sort("date")
    )


def digest(frame: pl.DataFrame) -> str:
    """A digest of a frame's values (not of its memory layout), column by column."""
    h = hashlib.sha256()
    for name in frame.columns:
        col = frame[name]
        if isinstance(col.dtype, pl.List):
            col = col.list.join("\x1e")
        elif col.dtype.is_temporal():
            col = col.dt.epoch("us")
        h.update(name.encode())
        h.update("\x1f".join(col.cast(pl.String).fill_null("\x00").to_list()).encode())
    return h.hexdigest()[:16]


# --- the default window is the old fixed 3-day window ----------------------------------

# Digests of (events, truth) computed with the simulator as it was before `days` existed
# (commit eadfda7, fixed 3-day window), with the `digest` function above.
OLD_FIXED_WINDOW = {
    ("mixed", 7, "tiny"): (2197, "8392d4a44fe6e7ff", "006980f893229c5e"),
    ("rotating_subsets", 1, 5000): (5000, "99f468a6c890bdfb", "29d3c36c2db22315"),
    ("flash_viral", 3, "tiny"): (2000, "d95b576bfb2d3071", "c5b7a0da7c0b50ab"),
}


@pytest.mark.parametrize(("scenario", "seed", "size"), list(OLD_FIXED_WINDOW))
def test_default_days_gives_the_frames_of_the_old_fixed_window(
    scenario: str, seed: int, size: str | int
) -> None:
    height, events_digest, truth_digest = OLD_FIXED_WINDOW[(scenario, seed, size)]
    events, truth = simulate(scenario, seed=seed, size=size)
    assert (events.height, digest(events), digest(truth)) == (
        height,
        events_digest,
        truth_digest,
    )
    explicit, explicit_truth = simulate(scenario, seed=seed, size=size, days=3)
    assert explicit.equals(events)
    assert explicit_truth.equals(truth)


# --- the window and the daily density ---------------------------------------------------


@pytest.mark.parametrize("days", [1, 10, 30])
def test_events_span_the_requested_days(days: int) -> None:
    """10,000 events a day: the first event in the first hour, the last in the last one."""
    events, truth = sim("mixed", 10_000 * days, days)
    validate_events(events)
    assert events.columns == list(EVENT_SCHEMA)
    assert dict(truth.schema) == TRUTH_SCHEMA
    end = T0 + timedelta(days=days)
    assert T0 <= events["ts"].min() < T0 + HOUR  # type: ignore[operator]
    assert end - HOUR <= events["ts"].max() < end  # type: ignore[operator]
    assert events["ts"].is_sorted()
    assert events["event_id"].is_unique().all()
    assert (events["actor_created"] < events["ts"]).all()
    assert events.height == 10_000 * days  # thinned to the size exactly at this density


def test_organic_days_hold_size_over_days_events_each() -> None:
    """30,000 events over 10 days: every day holds 3,000 ± 25 % (heavy-tailed cascades)."""
    events, _ = sim("organic", 30_000, 10)
    days = per_day(events)
    assert days["date"].to_list() == [date(2024, 3, d) for d in range(1, 11)]
    assert days["n"].min() >= 0.75 * 3_000  # type: ignore[operator]
    assert days["n"].max() <= 1.25 * 3_000  # type: ignore[operator]


def test_mixed_days_hold_size_over_days_events_with_viral_peaks() -> None:
    """300,000 events over 30 days: the median day holds 10,000 ± 20 %; no day is below
    half of that; a day with flash-viral posts and an organic mega-cascade may reach 3x."""
    events, _ = sim("mixed", 300_000, 30)
    days = per_day(events)
    assert days.height == 30
    assert 8_000 <= days["n"].median() <= 12_000  # type: ignore[operator]
    assert days["n"].min() >= 5_000  # type: ignore[operator]
    assert days["n"].max() <= 30_000  # type: ignore[operator]


def test_background_rhythm_and_cascades_cover_every_day() -> None:
    """Every day has a diurnal rhythm (its busiest UTC hour has at least 1.5x the events
    of its quietest) and cascades (a third to three quarters of its events are reposts,
    some of posts from the day before)."""
    events, _ = sim("mixed", 100_000, 10)
    hours = events.group_by(
        pl.col("ts").dt.date().alias("date"), pl.col("ts").dt.hour().alias("hour")
    ).len()
    ratio = hours.group_by("date").agg(
        pl.col("hour").n_unique().alias("hours"), (pl.col("len").max() / pl.col("len").min())
    )
    assert ratio.height == 10
    assert (ratio["hours"] == 24).all()
    assert (ratio["len"] >= 1.5).all()
    days = per_day(events)
    assert days["reposts"].min() >= 0.33  # type: ignore[operator]
    assert days["reposts"].max() <= 0.75  # type: ignore[operator]
    # reposts of a post of the previous day, on every day but the first
    original = events.select(
        pl.col("event_id").alias("object_id"), pl.col("ts").dt.date().alias("posted")
    )
    late = (
        events.filter(pl.col("kind") == "repost")
        .join(original, on="object_id")
        .filter(pl.col("ts").dt.date() > pl.col("posted"))
    )
    assert late["ts"].dt.date().n_unique() == 9


def test_flash_viral_crowds_leave_the_background_organic() -> None:
    """Over 30 days, breaking posts draw 45 % / sqrt(10) of their sharers from the
    background pool (which grows as sqrt(10)), so organic-role accounts still write
    more than 40 % of the events (58 % over 3 days at the same size)."""
    events, truth = sim("mixed", 300_000, 30)
    roles = events.join(truth.select("actor_id", "style"), on="actor_id")
    organic = float((roles["style"] == "organic").sum()) / roles.height
    assert organic > 0.4
    flash = truth.filter(pl.col("style") == "flash_viral").height
    assert flash < 0.75 * truth.height


# --- campaigns over the days ------------------------------------------------------------


def test_campaigns_are_active_on_many_days() -> None:
    """Over 30 days the 21 campaigns start on many different days, each one acts on
    several days, and together they cover most of the window."""
    _, truth = sim("mixed", 300_000, 30)
    campaigns = truth.filter(pl.col("coordinated")).unique("campaign")
    assert campaigns.height == 21  # 3 per style at 300,000 events
    start = campaigns["start"].dt.date()
    end = campaigns["end"].dt.date()
    assert start.n_unique() >= 8
    assert (start == date(2024, 3, 1)).sum() < campaigns.height // 2
    assert ((end - start).dt.total_days() >= 2).all()
    assert campaigns["end"].max() < T0 + timedelta(days=30)  # type: ignore[operator]
    covered = {
        s + timedelta(days=k)
        for s, e in zip(start.to_list(), end.to_list(), strict=True)
        for k in range((e - s).days + 1)
    }
    assert len(covered) >= 25


def test_link_ring_actions_fall_on_several_days_within_the_truth_span() -> None:
    """The URLs a link ring pushes are posted on at least 3 distinct days, only by its
    members, and the first and last of them are the truth's start and end."""
    events, truth = sim("link_ring", 100_000, 10)
    ring = truth.filter(pl.col("style") == "link_ring")
    for name in ring["campaign"].unique().to_list():
        members = ring.filter(pl.col("campaign") == name)
        keys = members["keys"][0]
        shares = events.explode("urls").filter(pl.col("urls").is_in(keys.implode()))
        assert shares["actor_id"].is_in(members["actor_id"].implode()).all()
        assert shares["ts"].dt.date().n_unique() >= 3, name
        assert members["start"][0] == shares["ts"].min()
        assert members["end"][0] == shares["ts"].max()


def test_one_day_window_keeps_every_campaign_in_that_day() -> None:
    _, truth = sim("mixed", 10_000, 1)
    campaigns = truth.filter(pl.col("coordinated"))
    assert campaigns["campaign"].n_unique() == 7
    assert (campaigns["start"] >= T0).all()
    assert (campaigns["end"] < T0 + timedelta(days=1)).all()


# --- determinism ------------------------------------------------------------------------


def test_same_seed_and_days_same_frames() -> None:
    a_events, a_truth = simulate("mixed", seed=5, size=20_000, days=10)
    b_events, b_truth = simulate("mixed", seed=5, size=20_000, days=10)
    assert a_events.equals(b_events)
    assert a_truth.equals(b_truth)
    c_events, _ = simulate("mixed", seed=5, size=20_000, days=11)
    assert not a_events.equals(c_events)


# --- parameters -------------------------------------------------------------------------


@pytest.mark.parametrize("days", [0, -1, MAX_DAYS + 1, 2.5, "10", True, None])
def test_bad_days_raise_a_parameter_error_naming_days(days: object) -> None:
    with pytest.raises(ParameterError, match="days must be a whole number of days from 1 to 366"):
        simulate("organic", size="tiny", days=days)  # type: ignore[arg-type]


def test_days_limits_are_inclusive_and_density_has_a_floor() -> None:
    """At least MIN_SIZE events per 3 days: 366 days need 122,000 events."""
    events, _ = simulate("organic", size=MIN_SIZE * MAX_DAYS // 3, days=MAX_DAYS)
    assert events["ts"].max() >= T0 + timedelta(days=MAX_DAYS - 1)  # type: ignore[operator]
    with pytest.raises(ParameterError, match=r"size: 121999 events over 366 days.*122000"):
        simulate("organic", size=MIN_SIZE * MAX_DAYS // 3 - 1, days=MAX_DAYS)
    with pytest.raises(ParameterError, match="size"):
        simulate("organic", size=MIN_SIZE, days=4)
    events, _ = simulate("organic", size=MIN_SIZE, days=1)
    assert events["ts"].max() < T0 + timedelta(days=1)  # type: ignore[operator]


def test_sizes_up_to_a_month_at_a_million_a_day_are_accepted() -> None:
    """The scale workload: 30 days x 1M events a day (generation itself is measured by
    hand: about 14 GB peak RSS, see the commit that raised MAX_SIZE)."""
    assert MAX_SIZE == 30_000_000
    assert resolve_size(30_000_000) == 30_000_000
    with pytest.raises(ParameterError, match="size must be between 1000 and 30000000"):
        resolve_size(30_000_001)


# --- command line -----------------------------------------------------------------------


def test_cli_simulate_days_writes_the_window(tmp_path: Path) -> None:
    out = tmp_path / "sim"
    result = CliRunner().invoke(
        app,
        ["simulate", "--scenario", "organic", "--size", "20000", "--days", "10",
         "-o", str(out), "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["days"] == 10
    events = pl.read_parquet(out / "events.parquet")
    assert events["ts"].dt.date().n_unique() == 10
    assert events["ts"].max() < T0 + timedelta(days=10)  # type: ignore[operator]
    assert events.equals(simulate("organic", size=20_000, days=10)[0])


def test_cli_simulate_help_describes_days() -> None:
    result = CliRunner().invoke(app, ["simulate", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    text = " ".join(result.output.replace("│", " ").split())
    assert "--days <int> Days the data spans, from 2024-03-01 (1-366)" in text
    assert "(size/days events a day)" in text
    assert "[default: 3]" in text


def test_cli_bad_days_is_one_line_and_exit_1(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "coordscope", "simulate", "--scenario", "organic",
         "--days", "0", "-o", str(tmp_path / "out")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr  # a bad option value: a usage error
    lines = proc.stderr.strip().splitlines()
    assert lines == ["error: --days must be a whole number of days from 1 to 366, got 0"]
    assert not (tmp_path / "out").exists()
