"""Tests of the hard campaign styles of the simulator, each a scenario of its own.

``camouflaged``, ``diluted``, ``rotating_pool``, ``cross_platform_relay`` and
``shift_work``: each simulates with truth for every member, is deterministic, leaves the
``mixed`` scenario as it was, and has the property that makes it hard. The properties
are measured with coordscope's own actions (what the detector would see) or directly on
the events, never from the generator's internals.
"""

from __future__ import annotations

from datetime import timedelta
from functools import cache
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from coordscope.datasets.simulate import (
    HARD_CAMPAIGN_STYLES,
    MIXED_STYLES,
    SCENARIOS,
    simulate,
)
from coordscope.schema import validate_events
from coordscope.signals.actions import actions
from coordscope.signals.exact import normalize_text
from tests.conftest import run_cli

DILUTED_SIGNALS = ["co_share", "co_link", "co_hashtag", "co_text"]


@cache
def sim(scenario: str, size: str = "small", seed: int = 0) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Cached: each (scenario, size, seed) is generated once in this module."""
    return simulate(scenario, seed=seed, size=size)


def members(truth: pl.DataFrame, style: str) -> pl.DataFrame:
    return truth.filter(pl.col("style") == style)


def member_events(events: pl.DataFrame, truth: pl.DataFrame, style: str) -> pl.DataFrame:
    ids = members(truth, style)["actor_id"].implode()
    return events.filter(pl.col("actor_id").is_in(ids))


def pair_coactions(
    events: pl.DataFrame, truth: pl.DataFrame, style: str, signals: list[str], window: float
) -> tuple[np.ndarray, np.ndarray]:
    """Per pair of members (every pair, co-acting or not): co-actions and distinct signals.

    A co-action is two members acting on the same key of a signal within ``window``
    seconds (coordscope's actions of the members' events).
    """
    acts = pl.concat(
        [actions(member_events(events, truth, style), signals=s) for s in signals]
    ).select("signal", "key", "actor_id", "ts")
    per = (
        acts.join(acts, on=["signal", "key"], suffix="_b")
        .filter(
            (pl.col("actor_id") < pl.col("actor_id_b"))
            & ((pl.col("ts") - pl.col("ts_b")).abs() <= timedelta(seconds=window))
        )
        .group_by("actor_id", "actor_id_b")
        .agg(pl.len().alias("n"), pl.col("signal").n_unique().alias("signals"))
    )
    m = members(truth, style).height
    n = np.zeros(m * (m - 1) // 2)
    signals_ = np.zeros_like(n)
    n[: per.height] = per["n"].to_numpy()
    signals_[: per.height] = per["signals"].to_numpy()
    return n, signals_


# --- every hard style -------------------------------------------------------------------


def test_hard_styles_are_scenarios_and_mixed_keeps_its_styles() -> None:
    assert set(HARD_CAMPAIGN_STYLES) <= set(SCENARIOS)
    assert not set(HARD_CAMPAIGN_STYLES) & set(MIXED_STYLES)
    _, truth = simulate("mixed", size="tiny")
    assert set(truth.filter("coordinated")["style"]) == set(MIXED_STYLES)


@pytest.mark.parametrize("style", HARD_CAMPAIGN_STYLES)
def test_hard_style_has_truth_for_every_member_and_member_in_the_events(style: str) -> None:
    events, truth = sim(style)
    validate_events(events)
    assert set(truth["actor_id"]) == set(events["actor_id"])
    group = members(truth, style)
    assert group.height >= 12
    assert group["coordinated"].all()
    assert set(group["campaign"]) == {f"{style}-1"}
    assert group["keys"].list.len().min() > 0  # type: ignore[operator]
    # everyone else is organic
    assert set(truth.filter(~pl.col("coordinated"))["style"]) == {"organic"}
    # every member acts in the campaign's span
    acts = member_events(events, truth, style)
    assert acts["actor_id"].n_unique() == group.height
    assert acts["ts"].max() >= group["start"][0]  # type: ignore[operator]


@pytest.mark.parametrize("style", HARD_CAMPAIGN_STYLES)
def test_hard_style_is_deterministic_for_a_seed(style: str) -> None:
    events, truth = simulate(style, seed=5, size="tiny")
    again, again_truth = simulate(style, seed=5, size="tiny")
    assert events.equals(again)
    assert truth.equals(again_truth)
    other, _ = simulate(style, seed=6, size="tiny")
    assert not events.equals(other)


# --- camouflaged ------------------------------------------------------------------------


def test_camouflaged_members_mostly_act_like_everyone_else() -> None:
    events, truth = sim("camouflaged")
    group = members(truth, "camouflaged")
    keys = group["keys"][0].implode()
    share = (
        member_events(events, truth, "camouflaged")
        .group_by("actor_id")
        .agg(pl.col("object_id").is_in(keys).mean().alias("push"), pl.len().alias("n"))
    )
    # most of a member's actions are not campaign pushes, for nearly every member
    assert share["push"].median() <= 0.4  # type: ignore[operator]
    assert (share["push"] < 0.5).mean() >= 0.9  # type: ignore[operator]
    assert share["n"].median() >= 20  # type: ignore[operator]  # full ordinary lives
    # each push by about a third of the members
    per_push = (
        member_events(events, truth, "camouflaged")
        .filter(pl.col("object_id").is_in(keys))
        .group_by("object_id")
        .agg(pl.col("actor_id").n_unique().alias("n"))
    )
    assert per_push.height == group["keys"][0].len()
    assert 0.25 <= per_push["n"].mean() / group.height <= 0.45  # type: ignore[operator]


# --- diluted ----------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1])
def test_diluted_pairs_coact_two_or_three_times_over_several_signals(seed: int) -> None:
    events, truth = sim("diluted", seed=seed)
    n, signals = pair_coactions(events, truth, "diluted", DILUTED_SIGNALS, 60.0)
    assert 2 <= np.median(n) <= 3
    assert np.median(signals) >= 2
    # no signal shows a typical pair twice
    for signal in DILUTED_SIGNALS:
        one, _ = pair_coactions(events, truth, "diluted", [signal], 60.0)
        assert np.median(one) <= 1, signal


def test_diluted_pushes_use_four_signals_with_their_own_keys() -> None:
    events, truth = sim("diluted")
    group = members(truth, "diluted")
    keys = group["keys"][0]
    acts = pl.concat(
        [actions(member_events(events, truth, "diluted"), signals=s) for s in DILUTED_SIGNALS]
    )
    pushed = acts.filter(pl.col("key").is_in(keys.implode()))
    per_key = pushed.group_by("signal", "key").agg(pl.col("actor_id").n_unique().alias("n"))
    counts = dict(per_key.group_by("signal").len().iter_rows())
    assert set(counts) == set(DILUTED_SIGNALS)
    assert min(counts.values()) >= 4
    assert per_key.height == keys.len()  # each push its own key
    assert 0.25 <= per_key["n"].mean() / group.height <= 0.45  # type: ignore[operator]


# --- rotating_pool ----------------------------------------------------------------------


@pytest.mark.parametrize("size", ["tiny", "small"])
def test_rotating_pool_is_large_and_each_push_is_a_small_subset(size: str) -> None:
    events, truth = sim("rotating_pool", size)
    pool = members(truth, "rotating_pool")
    assert pool.height >= 100
    keys = pool["keys"][0].implode()
    per_push = (
        member_events(events, truth, "rotating_pool")
        .filter(pl.col("object_id").is_in(keys))
        .group_by("object_id")
        .agg(pl.col("actor_id").n_unique().alias("n"))
    )
    share = per_push["n"] / pool.height
    assert share.max() <= 0.25  # type: ignore[operator]
    assert 0.1 <= share.mean() <= 0.2  # type: ignore[operator]


@pytest.mark.parametrize("seed", [0, 1])
def test_rotating_pool_pairs_are_weak_while_each_member_joins_many_pushes(seed: int) -> None:
    events, truth = sim("rotating_pool", seed=seed)
    n, _ = pair_coactions(events, truth, "rotating_pool", ["co_share"], 180.0)
    keys = members(truth, "rotating_pool")["keys"][0].implode()
    joined = (
        member_events(events, truth, "rotating_pool")
        .filter(pl.col("object_id").is_in(keys))
        .group_by("actor_id")
        .len()
    )
    # a typical pair meets once or twice (even within 3 minutes), few pairs 3 times ...
    assert np.median(n) <= 2
    assert (n >= 3).mean() <= 0.4
    # ... while a member joins many pushes: only the pool as a whole is consistent
    assert joined["len"].median() >= 6  # type: ignore[operator]


# --- cross_platform_relay ---------------------------------------------------------------


def test_cross_platform_relay_channel_is_a_telegram_channel_of_the_campaign() -> None:
    events, truth = sim("cross_platform_relay")
    tg = events.filter(pl.col("platform") == "telegram")
    assert tg.height >= 10
    assert tg["actor_id"].n_unique() == 1
    channel = tg["actor_id"][0]
    chat = tg["channel"][0]
    assert channel == f"channel{chat}"
    assert chat.isdigit()
    assert (tg["channel"] == chat).all()
    assert tg["event_id"].to_list() == [f"{chat}:{i}" for i in range(1, tg.height + 1)]
    assert (tg["kind"] == "post").all()
    assert tg["actor_created"].null_count() == tg.height
    row = truth.filter(pl.col("actor_id") == channel)
    assert row["campaign"][0] == "cross_platform_relay-1"
    # the channel acts only on Telegram, the other members only on X
    others = member_events(events, truth, "cross_platform_relay").filter(
        pl.col("actor_id") != channel
    )
    assert set(others["platform"].cast(pl.String)) == {"twitter"}


def test_cross_platform_relay_x_accounts_repeat_the_link_or_text_seconds_to_minutes_later() -> None:
    events, truth = sim("cross_platform_relay")
    tg = events.filter(pl.col("platform") == "telegram").select(
        pl.col("ts").alias("t0"),
        pl.col("urls").list.first().alias("url"),
        normalize_text(pl.col("text")).alias("said"),
    )
    relays = member_events(events, truth, "cross_platform_relay").filter(
        (pl.col("platform") == "twitter") & (pl.col("kind") == "post")
    )
    by_link = relays.select(
        "ts", pl.col("urls").list.first().alias("url"), pl.lit("link").alias("how")
    ).join(tg.drop("said").drop_nulls("url"), on="url")
    by_text = relays.select(
        "ts", normalize_text(pl.col("text")).alias("said"), pl.lit("text").alias("how")
    ).join(tg.drop("url"), on="said")
    lag = pl.concat([by_link.select("how", "ts", "t0"), by_text.select("how", "ts", "t0")])
    lag = lag.select("how", ((pl.col("ts") - pl.col("t0")).dt.total_seconds(fractional=True)))
    assert set(lag["how"]) == {"link", "text"}
    seconds = lag["ts"]
    assert seconds.min() >= 3.0  # type: ignore[operator]
    assert seconds.max() <= 1800.0  # type: ignore[operator]
    assert (seconds <= 60).mean() >= 0.2  # type: ignore[operator]  # bridge bots: seconds
    assert (seconds > 120).mean() >= 0.2  # type: ignore[operator]  # people: minutes
    # every channel post is relayed by at least 3 X accounts
    relayed = by_link.select("t0").vstack(by_text.select("t0")).group_by("t0").len()
    assert relayed.height == tg.height


def test_cross_platform_relay_writes_and_reads_back_with_both_platforms(tmp_path: Path) -> None:
    out = tmp_path / "sim"
    proc = run_cli("simulate", "-s", "cross_platform_relay", "--size", "tiny", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    events = pl.read_parquet(out / "events.parquet")
    assert events.equals(simulate("cross_platform_relay", size="tiny")[0])
    ingested = tmp_path / "events.parquet"
    proc = run_cli("ingest", str(out / "events.parquet"), "-o", str(ingested))
    assert proc.returncode == 0, proc.stderr
    back = pl.read_parquet(ingested)
    counts = back.group_by(pl.col("platform").cast(pl.String)).len()
    expected = events.group_by(pl.col("platform").cast(pl.String)).len()
    assert dict(counts.iter_rows()) == dict(expected.iter_rows())


# --- shift_work -------------------------------------------------------------------------


def test_shift_work_members_are_minutes_apart_never_seconds() -> None:
    events, truth = sim("shift_work")
    keys = members(truth, "shift_work")["keys"][0].implode()
    shares = (
        member_events(events, truth, "shift_work")
        .explode("urls")
        .filter(pl.col("urls").is_in(keys))
        .select("urls", "actor_id", "ts")
        .sort("urls", "ts")
    )
    pairs = shares.join(shares, on="urls", suffix="_b").filter(
        pl.col("actor_id") < pl.col("actor_id_b")
    )
    lag = (pairs["ts"] - pairs["ts_b"]).abs().dt.total_seconds(fractional=True)
    assert lag.median() >= 120  # type: ignore[operator]
    assert lag.min() >= 119.99  # type: ignore[operator]  # never within seconds
    # one after another: 2-15 minutes between consecutive posts of a link
    step = shares.select(pl.col("ts").diff().over("urls").dt.total_seconds(fractional=True))
    step = step.to_series().drop_nulls()
    assert step.min() >= 119.99  # type: ignore[operator]
    assert step.max() <= 900.01  # type: ignore[operator]
    # pushes start in office hours of UTC+3 (09:00-17:00, i.e. 06:00-14:00 UTC)
    hour = shares.group_by("urls").agg(pl.col("ts").min())["ts"].dt.hour()
    assert hour.min() >= 6  # type: ignore[operator]
    assert hour.max() <= 13  # type: ignore[operator]
    # the detector's default window sees none of it
    n, _ = pair_coactions(events, truth, "shift_work", ["co_link"], 60.0)
    assert n.sum() == 0
