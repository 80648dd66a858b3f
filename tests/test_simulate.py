"""Tests of coordscope.datasets.simulate: schema, determinism, truth, planted behaviour."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache

import numpy as np
import polars as pl
import pytest

from coordscope.datasets.normalize import normalize_urls
from coordscope.datasets.scenarios._text import EMOJIS
from coordscope.datasets.simulate import (
    CAMPAIGN_STYLES,
    MIXED_STYLES,
    SCENARIOS,
    SIGNALS,
    SIZES,
    TRUTH_SCHEMA,
    resolve_size,
    simulate,
)
from coordscope.errors import ParameterError
from coordscope.schema import EVENT_SCHEMA, LIST_COLUMNS, validate_events

T0 = datetime(2024, 3, 1, tzinfo=UTC)
T_END = T0 + timedelta(days=3)
ORGANIC_ROLES = {"organic", "flash_viral", "scheduler_bot", "homophily"}


@cache
def sim(scenario: str, size: str = "tiny", seed: int = 0) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Cached: every scenario is generated once per (size, seed) in this module."""
    return simulate(scenario, seed=seed, size=size)


def members(truth: pl.DataFrame, style: str) -> pl.DataFrame:
    return truth.filter(pl.col("style") == style)


def campaign_actions(events: pl.DataFrame, truth: pl.DataFrame, style: str) -> pl.DataFrame:
    """Events of the campaign's members (campaign actions and camouflage)."""
    ids = members(truth, style)["actor_id"].implode()
    return events.filter(pl.col("actor_id").is_in(ids))


# --- schema and bookkeeping, every scenario ---------------------------------------------


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_every_scenario_is_canonical_at_tiny_size(scenario: str) -> None:
    events, truth = sim(scenario)
    validate_events(events)
    assert events.columns == list(EVENT_SCHEMA)
    assert dict(truth.schema) == TRUTH_SCHEMA
    assert events["event_id"].is_unique().all()
    platforms = {"twitter", "telegram"} if scenario == "cross_platform_relay" else {"twitter"}
    assert set(events["platform"].cast(pl.String)) == platforms
    assert events["ts"].min() >= T0  # type: ignore[operator]
    assert events["ts"].max() < T_END  # type: ignore[operator]
    assert events["ts"].is_sorted()
    assert (events["actor_created"] < events["ts"]).all()
    # list columns: never an empty string or a null item (validate_events checks it too)
    for name in LIST_COLUMNS:
        flat = events[name].explode().drop_nulls()
        assert (flat != "").all(), name
    # hashtags are normalised: lower case, no '#'
    tags = events["hashtags"].explode().drop_nulls()
    assert (tags == tags.str.to_lowercase()).all()
    assert not tags.str.starts_with("#").any()
    # sizes roughly as requested (factor 1.5)
    assert SIZES["tiny"] / 1.5 <= events.height <= SIZES["tiny"] * 1.5


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_truth_has_exactly_the_event_accounts(scenario: str) -> None:
    events, truth = sim(scenario)
    assert truth["actor_id"].is_unique().all()
    assert set(truth["actor_id"]) == set(events["actor_id"])
    assert truth["actor_id"].is_sorted()


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_truth_rows_are_consistent(scenario: str) -> None:
    _, truth = sim(scenario)
    organic = truth.filter(~pl.col("coordinated"))
    assert set(organic["style"]) <= ORGANIC_ROLES
    assert organic["campaign"].null_count() == organic.height
    assert organic["signal"].null_count() == organic.height
    assert organic["start"].null_count() == organic.height
    assert (organic["keys"].list.len() == 0).all()
    coordinated = truth.filter(pl.col("coordinated"))
    assert set(coordinated["style"]) <= set(CAMPAIGN_STYLES)
    assert coordinated["campaign"].null_count() == 0
    assert set(coordinated["signal"]) <= set(SIGNALS)
    assert (coordinated["start"] <= coordinated["end"]).all()
    assert (coordinated["keys"].list.len() > 0).all()
    assert (coordinated["keys"].explode() != "").all()
    # one style, one signal, one span per campaign
    per = coordinated.group_by("campaign").agg(
        pl.col("style").n_unique(), pl.col("signal").n_unique(), pl.col("start").n_unique()
    )
    assert (per["style"] == 1).all()
    assert (per["signal"] == 1).all()
    assert (per["start"] == 1).all()
    # the campaign name starts with its style
    assert (coordinated["campaign"].str.split("-").list.first() == coordinated["style"]).all()


def test_scenarios_contain_what_they_say() -> None:
    expected_styles = {
        "organic": {"organic"},
        "flash_viral": {"organic", "flash_viral"},
        "scheduler_bots": {"organic", "scheduler_bot"},
        "homophily": {"organic", "homophily"},
        "mixed": ORGANIC_ROLES | set(MIXED_STYLES),
        "demo": ORGANIC_ROLES | set(MIXED_STYLES),
    } | {style: {"organic", style} for style in CAMPAIGN_STYLES}
    assert set(expected_styles) == set(SCENARIOS)
    for scenario, styles in expected_styles.items():
        assert set(sim(scenario)[1]["style"]) == styles, scenario


def test_object_ids_refer_to_events_in_the_data() -> None:
    events, _ = sim("mixed", "small")
    refs = events.filter(pl.col("object_id").is_not_null())
    assert set(refs["kind"].cast(pl.String)) == {"repost", "reply", "quote"}
    present = refs["object_id"].is_in(events["event_id"].implode())
    assert 0.95 <= present.mean() < 1.0  # type: ignore[operator]  # 3 % older posts
    originals = events.select(pl.col("event_id").alias("object_id"), pl.col("ts").alias("o_ts"))
    joined = refs.join(originals, on="object_id")
    assert (joined["ts"] > joined["o_ts"]).all()
    # reposts carry their original's text and URLs, and mention its author
    reposts = joined.filter(pl.col("kind") == "repost")
    assert reposts["text"].str.starts_with("RT @").all()
    assert (reposts["mentions"].list.len() >= 1).all()
    # an account reposts a post at most once
    assert not reposts.select(pl.struct("actor_id", "object_id").is_duplicated().any()).item()


def test_post_urls_are_normalised_and_texts_mostly_distinct() -> None:
    events, _ = sim("mixed", "small")
    urls = events["urls"]
    assert urls.to_frame().select(normalize_urls(pl.col("urls"))).to_series().equals(urls)
    hosts = urls.explode().drop_nulls().str.extract(r"^https://([^/]+)", 1)
    assert hosts.null_count() == 0
    assert hosts.is_in(pl.Series([["bit.ly", "buff.ly", "ow.ly", "dlvr.it", "tinyurl.com"]])).any()
    posts = events.filter(pl.col("kind") == "post")
    assert posts["text"].n_unique() / posts.height > 0.9


# --- determinism ------------------------------------------------------------------------


def test_same_seed_same_frames_different_seed_different_frames() -> None:
    a_events, a_truth = simulate("mixed", seed=7, size="tiny")
    b_events, b_truth = simulate("mixed", seed=7, size="tiny")
    assert a_events.equals(b_events)
    assert a_truth.equals(b_truth)
    c_events, c_truth = simulate("mixed", seed=8, size="tiny")
    assert not a_events.equals(c_events)
    assert not a_truth.equals(c_truth)


# --- sizes and parameters ---------------------------------------------------------------


@pytest.mark.parametrize(("scenario", "size"), [("organic", "small"), ("mixed", 5000)])
def test_sizes_are_roughly_as_requested(scenario: str, size: str | int) -> None:
    events, _ = simulate(scenario, size=size)
    want = resolve_size(size)
    assert want / 1.5 <= events.height <= want * 1.5


def test_bad_parameters_raise_parameter_errors() -> None:
    with pytest.raises(ParameterError, match="scenario"):
        simulate("nope")
    with pytest.raises(ParameterError, match="seed"):
        simulate("organic", seed=-1)
    with pytest.raises(ParameterError, match="size"):
        simulate("organic", size="huge")
    with pytest.raises(ParameterError, match="size"):
        simulate("organic", size=10)
    assert resolve_size("medium") == 200_000
    assert resolve_size("3000") == 3000


# --- organic background -----------------------------------------------------------------


def test_background_is_heavy_tailed_and_diurnal() -> None:
    events, truth = sim("organic", "small")
    per_account = events.group_by("actor_id").len()["len"].sort(descending=True)
    top = per_account.head(max(1, per_account.len() // 100)).sum()
    assert top / events.height > 0.08  # top 1 % of accounts: > 8 % of events
    assert (per_account == 1).mean() > 0.25  # type: ignore[operator]
    hourly = events.group_by(pl.col("ts").dt.hour()).len()["len"]
    assert hourly.max() / hourly.min() > 1.5  # type: ignore[operator]
    cascades = events.filter(pl.col("kind") == "repost").group_by("object_id").len()["len"]
    assert cascades.max() > 20 * cascades.median()  # type: ignore[operator]
    years = events["actor_created"].dt.year()
    assert years.max() - years.min() >= 10  # type: ignore[operator]
    assert set(truth["style"]) == {"organic"}


# --- campaigns --------------------------------------------------------------------------


def _close_pairs(actions: pl.DataFrame, key: str, seconds: float) -> int:
    """Number of pairs of different accounts acting on the same key within ``seconds``."""
    a = actions.select(key, "actor_id", "ts")
    pairs = a.join(a, on=key, suffix="_b").filter(
        (pl.col("actor_id") < pl.col("actor_id_b"))
        & ((pl.col("ts") - pl.col("ts_b")).abs() <= timedelta(seconds=seconds))
    )
    return pairs.height


def test_squad_in_cascade_reposts_popular_posts_within_seconds() -> None:
    events, truth = sim("squad_in_cascade", "small")
    squad = members(truth, "squad_in_cascade")
    assert 6 <= squad.height <= 20
    keys = squad["keys"][0]
    acts = campaign_actions(events, truth, "squad_in_cascade").filter(
        pl.col("object_id").is_in(keys.implode())
    )
    assert _close_pairs(acts, "object_id", 10.0) >= 10 * keys.len()
    # hidden inside cascades: every target also has organic reposters
    organic = events.filter(
        pl.col("object_id").is_in(keys.implode())
        & ~pl.col("actor_id").is_in(squad["actor_id"].implode())
    )
    assert organic["object_id"].n_unique() == keys.len()
    assert organic.height >= 5 * keys.len()


def test_exclusive_content_is_reposted_only_by_the_campaign() -> None:
    events, truth = sim("exclusive_content")
    group = members(truth, "exclusive_content")
    keys = group["keys"][0]
    sharers = events.filter(pl.col("object_id").is_in(keys.implode()))
    assert sharers["actor_id"].is_in(group["actor_id"].implode()).all()
    assert sharers.group_by("object_id").agg(pl.col("actor_id").n_unique())["actor_id"].min() >= 3  # type: ignore[operator]
    authors = events.filter(pl.col("event_id").is_in(keys.implode()))["actor_id"]
    assert authors.len() == keys.len()
    assert authors.is_in(group["actor_id"].implode()).all()


def _strip_edits(text: str) -> list[str]:
    """Words of a copied message without the appended punctuation or emoji."""
    words = text.rstrip("!?.").split(" ")
    if words[-1] in EMOJIS:
        words = words[:-1]
    return words


def test_copy_paste_posts_near_copies_within_minutes() -> None:
    events, truth = sim("copy_paste")
    group = members(truth, "copy_paste")
    posts = campaign_actions(events, truth, "copy_paste").filter(pl.col("kind") == "post")
    exact = 0
    for base in group["keys"][0]:
        words = base.split(" ")
        close = [
            ts
            for text, ts in posts.select("text", "ts").iter_rows()
            if len(got := _strip_edits(text)) == len(words)
            and sum(a != b for a, b in zip(got, words, strict=True)) <= 1
        ]
        assert len(close) >= 3
        assert max(close) - min(close) <= timedelta(seconds=180)
        exact += int((posts["text"] == base).sum())
    assert exact >= 3
    # edits really happen: not every copy is exact
    assert posts["text"].str.contains("[!?.]$|" + "|".join(EMOJIS)).any()


def test_link_ring_shares_campaign_urls_within_a_minute() -> None:
    events, truth = sim("link_ring")
    ring = members(truth, "link_ring")
    keys = ring["keys"][0]
    hosts = keys.str.extract(r"^https://([^/]+)", 1).unique()
    assert hosts.len() == 1
    assert hosts[0].split(".")[0].endswith("-news")
    shares = events.explode("urls").filter(pl.col("urls").is_in(keys.implode()))
    assert shares["actor_id"].is_in(ring["actor_id"].implode()).all()
    spans = shares.group_by("urls").agg(
        (pl.col("ts").max() - pl.col("ts").min()).alias("span"), pl.col("actor_id").n_unique()
    )
    assert spans.height == keys.len()
    assert (spans["span"] <= timedelta(seconds=60)).all()
    assert spans["actor_id"].min() >= 3  # type: ignore[operator]


def test_hashtag_campaign_pushes_new_hashtags_in_bursts() -> None:
    events, truth = sim("hashtag_campaign")
    group = members(truth, "hashtag_campaign")
    tag = group["keys"][0][0]
    uses = (
        events.filter(pl.col("hashtags").list.contains(tag))
        .filter(pl.col("actor_id").is_in(group["actor_id"].implode()))
        .sort("ts")
    )
    gap = uses["ts"].diff().dt.total_seconds().fill_null(10**9)
    burst = (gap > 600).cum_sum()
    sizes = uses.with_columns(burst.alias("b")).group_by("b").agg(pl.col("actor_id").n_unique())
    assert (sizes["actor_id"] >= 3).sum() >= 3
    # the text shows the hashtag as typed (capitalised), the column lower-case
    assert uses["text"].str.contains("#" + tag[0].upper() + tag[1:]).all()


def test_rotating_subsets_weak_pairs_strong_group() -> None:
    events, truth = sim("rotating_subsets", "small")
    group = members(truth, "rotating_subsets")
    assert 20 <= group.height <= 60
    keys = group["keys"][0]
    acts = campaign_actions(events, truth, "rotating_subsets").filter(
        pl.col("object_id").is_in(keys.implode())
    )
    per_key = acts.group_by("object_id").agg(
        pl.col("actor_id").n_unique().alias("n"), (pl.col("ts").max() - pl.col("ts").min())
    )
    share = per_key["n"] / group.height
    assert 0.1 <= share.mean() <= 0.5  # type: ignore[operator]
    assert (per_key["ts"] <= timedelta(seconds=180)).all()
    # each pair of members co-acts on few keys, the group on all of them
    pair_counts = (
        acts.select("object_id", "actor_id")
        .join(acts.select("object_id", "actor_id"), on="object_id", suffix="_b")
        .filter(pl.col("actor_id") < pl.col("actor_id_b"))
        .group_by("actor_id", "actor_id_b")
        .len()["len"]
    )
    assert pair_counts.median() <= 0.25 * keys.len()
    assert per_key.height == keys.len()


def test_fresh_accounts_were_created_within_days_before_the_window() -> None:
    events, truth = sim("fresh_accounts")
    ids = members(truth, "fresh_accounts")["actor_id"].implode()
    created = events.filter(pl.col("actor_id").is_in(ids))["actor_created"]
    assert created.max() - created.min() <= timedelta(days=3)  # type: ignore[operator]
    assert created.max() < T0  # type: ignore[operator]
    assert created.min() >= T0 - timedelta(days=10)  # type: ignore[operator]
    others = events.filter(~pl.col("actor_id").is_in(ids))["actor_created"]
    assert others.max() - others.min() > timedelta(days=5 * 365)  # type: ignore[operator]


def test_campaign_span_covers_its_actions() -> None:
    events, truth = sim("link_ring")
    ring = members(truth, "link_ring")
    shares = events.explode("urls").filter(pl.col("urls").is_in(ring["keys"][0].implode()))
    assert ring["start"][0] == shares["ts"].min()
    assert ring["end"][0] == shares["ts"].max()


# --- hard negatives ---------------------------------------------------------------------


def test_flash_viral_post_shared_by_a_thousand_accounts_within_ten_minutes() -> None:
    events, truth = sim("flash_viral", "small")
    originals = events.select(pl.col("event_id").alias("object_id"), pl.col("ts").alias("o_ts"))
    early = (
        events.filter(pl.col("kind") == "repost")
        .join(originals, on="object_id")
        .filter(pl.col("ts") - pl.col("o_ts") <= timedelta(minutes=10))
        .group_by("object_id")
        .agg(pl.col("actor_id").n_unique().alias("n"), pl.col("actor_id").alias("who"))
        .sort("n", descending=True)
    )
    assert early["n"][0] >= 1000
    who = early["who"][0]
    roles = truth.filter(pl.col("actor_id").is_in(who.implode()))
    assert not roles["coordinated"].any()
    assert set(roles["style"]) == {"flash_viral"}
    # mostly low-activity accounts
    activity = events.filter(pl.col("actor_id").is_in(who.implode())).group_by("actor_id").len()
    assert activity["len"].median() <= 3  # type: ignore[operator]


def test_scheduler_bots_post_at_exact_timer_instants() -> None:
    events, truth = sim("scheduler_bots", "small")
    bots = members(truth, "scheduler_bot")
    assert bots.height >= 3
    assert not bots["coordinated"].any()
    posts = events.filter(pl.col("actor_id").is_in(bots["actor_id"].implode()))
    assert (posts["ts"].dt.epoch("us") % 900_000_000 == 0).all()
    assert (posts["urls"].list.len() == 1).all()
    # independent bots following the same outlet post the same link at the same instant
    same = (
        posts.explode("urls")
        .group_by("urls", "ts")
        .agg(pl.col("actor_id").n_unique().alias("n"))
        .filter(pl.col("n") >= 2)
    )
    assert same.height >= 10


def test_homophily_communities_share_links_at_their_own_pace() -> None:
    events, truth = sim("homophily", "small")
    fans = members(truth, "homophily")
    assert fans.height >= 60
    assert not fans["coordinated"].any()
    shares = (
        events.filter(pl.col("actor_id").is_in(fans["actor_id"].implode()))
        .explode("urls")
        .drop_nulls("urls")
    )
    a = shares.select("urls", "actor_id", "ts")
    pairs = a.join(a, on="urls", suffix="_b").filter(pl.col("actor_id") < pl.col("actor_id_b"))
    gaps = (pairs["ts"] - pairs["ts_b"]).abs().dt.total_seconds()
    assert pairs.height >= 500
    assert gaps.median() > 3600  # type: ignore[operator]  # hours apart typically
    assert 0 < (gaps <= 60).mean() < 0.05  # type: ignore[operator]  # occasionally close


def test_organic_scenarios_have_no_campaign() -> None:
    for scenario in ("organic", "flash_viral", "scheduler_bots", "homophily"):
        _, truth = sim(scenario)
        assert not truth["coordinated"].any()
        assert truth["campaign"].null_count() == truth.height


def test_mixed_campaign_members_and_organic_roles_are_disjoint() -> None:
    _, truth = sim("mixed", "small")
    coordinated = truth.filter(pl.col("coordinated"))
    assert coordinated["campaign"].n_unique() == len(MIXED_STYLES)
    assert (truth.filter(pl.col("style").is_in(list(ORGANIC_ROLES)))["coordinated"] == False).all()  # noqa: E712
    assert set(truth["style"]) == ORGANIC_ROLES | set(MIXED_STYLES)


# --- raw URLs ---------------------------------------------------------------------------


def test_raw_urls_normalise_back_to_the_canonical_ones() -> None:
    canonical, truth = sim("link_ring")
    raw, raw_truth = simulate("link_ring", size="tiny", raw_urls=True)
    assert raw_truth.equals(truth)
    assert raw.drop("urls").equals(canonical.drop("urls"))
    flat = raw["urls"].explode().drop_nulls()
    assert flat.str.contains("utm_source=").any()
    assert flat.str.contains("://www.").any()
    back = raw.select(normalize_urls(pl.col("urls"))).to_series()
    assert back.equals(canonical["urls"])
    assert not raw["urls"].equals(canonical["urls"])
    assert np.isin(truth["keys"].explode().drop_nulls().to_numpy(), back.explode().to_numpy()).all()
