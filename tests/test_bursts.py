"""Bursts: hand-checked cases, a brute-force reference and properties."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coordscope.errors import ParameterError
from coordscope.schema import ACTION_SCHEMA, BURST_MEMBER_SCHEMA, BURST_SCHEMA, MEMBERSHIP_SCHEMA
from coordscope.stats.bursts import burst_members, bursts
from tests.conftest import utc

T0 = utc(2024, 3, 1)


def acts(rows: Sequence[tuple[str, str, float]], signal: str = "co_share") -> pl.DataFrame:
    """Actions from ``(key, actor, seconds after T0)``."""
    return pl.DataFrame(
        [
            {
                "signal": signal,
                "key": k,
                "actor_id": a,
                "ts": T0 + timedelta(seconds=t),
                "event_id": f"e{i}",
                "event": i,
            }
            for i, (k, a, t) in enumerate(rows)
        ],
        schema=ACTION_SCHEMA,
    )


def members(rows: list[tuple[str, int, bool]]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema={"actor_id": pl.String, "cluster": pl.Int64, "flagged": pl.Boolean},
        orient="row",
    )


def by_key(table: pl.DataFrame) -> dict[tuple[str, str, Any], dict[str, Any]]:
    return {(r["signal"], r["key"], r["start"]): r for r in table.iter_rows(named=True)}


# --------------------------------------------------------------------------- hand-checked


def test_gap_of_exactly_w_joins_and_one_microsecond_more_splits() -> None:
    rows = [("k", "a", 0), ("k", "b", 60), ("k", "c", 120)]
    out = bursts(acts(rows), window=60)
    assert out.height == 1
    assert out.row(0, named=True)["actions"] == 3
    assert out["end"][0] == T0 + timedelta(seconds=120)
    split = bursts(acts([("k", "a", 0), ("k", "b", 60), ("k", "c", 120.000001)]), window=60)
    assert split.height == 0  # runs {a, b} and {c}: fewer than 3 actors each


def test_columns_and_synchrony_by_hand() -> None:
    # a@0, b@10, c@70, a@75, W = 60: one run of 4 actions, 3 actors; the busiest
    # window holds 2 first actions ([0, 60]: a, b; [10, 70]: b, c) -> synchrony 2/3
    out = bursts(acts([("k", "a", 0), ("k", "b", 10), ("k", "c", 70), ("k", "a", 75)]), window=60)
    assert out.schema == pl.Schema(BURST_SCHEMA)
    row = out.row(0, named=True)
    assert (row["actions"], row["actors"]) == (4, 3)
    assert row["start"] == T0
    assert row["end"] == T0 + timedelta(seconds=75)
    assert row["synchrony"] == pytest.approx(2 / 3)
    assert row["cluster_share"] == 0.0
    assert row["cluster"] is None
    assert row["recurrence"] == 0
    assert row["burst"] == 1
    # score = 0.4·0 + 0.3·(2/3) + 0.2·0 + 0.1·(3 − 1)/(3 + 9)
    assert row["score"] == pytest.approx(0.2 + 0.1 * 2 / 12)


def test_duplicate_times_and_one_actor() -> None:
    same = [("k", "a", 5), ("k", "b", 5), ("k", "c", 5), ("k", "c", 5)]
    row = bursts(acts(same), window=0).row(0, named=True)
    assert (row["actions"], row["actors"], row["synchrony"]) == (4, 3, 1.0)
    alone = [("k", "a", 0), ("k", "a", 1), ("k", "a", 2)]
    assert bursts(acts(alone), window=60).height == 0
    one = bursts(acts(alone), window=60, min_actors=1).row(0, named=True)
    assert (one["actions"], one["actors"], one["synchrony"]) == (3, 1, 1.0)


def test_min_actors_is_inclusive() -> None:
    rows = [("k", "a", 0), ("k", "b", 1), ("k", "c", 2)]
    assert bursts(acts(rows), window=10, min_actors=3).height == 1
    assert bursts(acts(rows), window=10, min_actors=4).height == 0


def test_keys_and_signals_never_merge() -> None:
    rows = [("k1", "a", 0), ("k1", "b", 1), ("k2", "c", 2), ("k2", "d", 3)]
    assert bursts(acts(rows), window=60, min_actors=3).height == 0
    both = pl.concat([acts(rows[:2]), acts([("k1", "c", 2)], signal="co_link")])
    assert bursts(both, window=60, min_actors=3).height == 0


def test_empty() -> None:
    out = bursts(pl.DataFrame(schema=ACTION_SCHEMA), window=60)
    assert out.height == 0
    assert out.schema == pl.Schema(BURST_SCHEMA)


def test_recurrence_needs_two_accounts_and_half_of_the_larger_burst() -> None:
    rows = [
        ("k1", "a", 0), ("k1", "b", 1), ("k1", "c", 2),  # {a, b, c}
        ("k2", "a", 1000), ("k2", "b", 1001), ("k2", "d", 1002),  # shares a, b with k1
        ("k3", "a", 2000), ("k3", "x", 2001), ("k3", "y", 2002),  # shares only a
        ("k4", "a", 3000), ("k4", "b", 3001), ("k4", "p", 3002), ("k4", "q", 3003),
        ("k4", "r", 3004), ("k4", "s", 3005), ("k4", "u", 3006), ("k4", "v", 3007),
    ]  # fmt: skip
    table = bursts(acts(rows), window=60)
    rec = dict(zip(table["key"], table["recurrence"], strict=True))
    # k1–k2 share {a, b} (need max(2, ceil(3/2)) = 2); k4 shares {a, b} with them but
    # needs ceil(8/2) = 4: a big burst does not recur by containing a small one; k3: 1
    assert rec == {"k1": 1, "k2": 1, "k3": 0, "k4": 0}


def test_recurrence_needs_another_occasion() -> None:
    # the same three accounts on two keys at the same time (one post, two hashtags) and
    # once more later: each burst recurs only with the one that does not overlap it
    rows = [(k, x, t) for k in ("h1", "h2") for x, t in (("a", 0), ("b", 1), ("c", 2))]
    rows += [("h1", x, 500 + t) for x, t in (("a", 0), ("b", 1), ("c", 2))]
    table = bursts(acts(rows), window=60).sort("key", "start")
    assert table["recurrence"].to_list() == [1, 2, 1]  # h1@0, h1@500, h2@0


def test_recurrence_ignores_small_overlap_of_big_bursts() -> None:
    big1 = [("k1", f"u{i}", i) for i in range(9)]
    big2 = [("k2", f"u{i}", 100 + i) for i in range(4)]
    big2 += [("k2", f"v{i}", 100 + i) for i in range(5)]
    table = bursts(acts(big1 + big2), window=60)
    # 4 shared accounts < ceil(9 / 2) = 5
    assert table["recurrence"].to_list() == [0, 0]
    big2[4] = ("k2", "u4", 104)  # now 5 shared
    table = bursts(acts(big1 + big2), window=60)
    assert table["recurrence"].to_list() == [1, 1]


def test_membership_share_and_dominant_cluster() -> None:
    rows = [("k", "a", 0), ("k", "b", 1), ("k", "c", 2), ("k", "d", 3)]
    mem = members([("a", 2, True), ("b", 2, True), ("c", 1, False), ("d", 1, False)])
    row = bursts(acts(rows), window=60, membership=mem).row(0, named=True)
    assert row["cluster_share"] == 0.5  # a, b flagged out of 4 actors
    assert row["cluster"] == 1  # clusters 1 and 2 tie with 2 actors: the smaller id
    mem = members([("a", 2, True), ("b", 2, True), ("c", 1, False)])
    # d has no cluster now: cluster 2 has a, b and cluster 1 only c, so 2 wins
    assert bursts(acts(rows), window=60, membership=mem)["cluster"][0] == 2


def test_ranked_by_score() -> None:
    rows = [
        ("slow", "a", 0), ("slow", "b", 50), ("slow", "c", 100), ("slow", "d", 150),
        ("fast", "p", 0), ("fast", "q", 1), ("fast", "r", 2),
    ]  # fmt: skip
    table = bursts(acts(rows), window=60)
    assert table["key"].to_list() == ["fast", "slow"]
    assert table["burst"].to_list() == [1, 2]
    assert table["score"].is_sorted(descending=True)


def test_input_unchanged_and_row_order_irrelevant() -> None:
    rows = [("k", "a", 0), ("k", "b", 10), ("k", "c", 70), ("j", "a", 5), ("j", "b", 6)]
    rows += [("j", "d", 7), ("k", "d", 300), ("k", "e", 301), ("k", "f", 302)]
    frame = acts(rows)
    copy = frame.clone()
    first = bursts(frame, window=60)
    assert frame.equals(copy)
    shuffled = frame.sample(fraction=1.0, shuffle=True, seed=3)
    assert bursts(shuffled, window=60).equals(first)


@pytest.mark.parametrize(
    ("kwargs", "word"),
    [
        ({"window": -1.0}, "window"),
        ({"window": math.inf}, "window"),
        ({"window": 60, "min_actors": 0}, "min_actors"),
        ({"window": 60, "membership": pl.DataFrame({"actor_id": ["a"]})}, "membership"),
    ],
)
def test_bad_parameters(kwargs: dict[str, Any], word: str) -> None:
    with pytest.raises(ParameterError, match=word):
        bursts(acts([("k", "a", 0)]), **kwargs)


def test_burst_members() -> None:
    rows = [("k", "a", 0), ("k", "b", 10), ("k", "a", 20), ("k", "c", 30)]
    rows += [("k", "x", 500), ("k", "y", 501), ("k", "z", 502), ("k", "q", 1000)]
    frame = acts(rows)
    table = bursts(frame, window=60)
    out = burst_members(frame, table)
    assert out.schema == pl.Schema(BURST_MEMBER_SCHEMA)
    got = {(b, a, n) for b, a, n, _ in out.iter_rows()}
    first = by_key(table)[("co_share", "k", T0)]["burst"]
    second = by_key(table)[("co_share", "k", T0 + timedelta(seconds=500))]["burst"]
    # run 0–30 s: a acts twice (0, 20 s); run 500–502 s: x, y, z once; q@1000 is alone
    assert got == {
        (first, "a", 2), (first, "b", 1), (first, "c", 1),
        (second, "x", 1), (second, "y", 1), (second, "z", 1),
    }  # fmt: skip


# --------------------------------------------------------------------- brute-force reference


def brute(frame: pl.DataFrame, window: float, min_actors: int) -> dict[tuple[Any, ...], Any]:
    """Bursts by plain Python loops: (signal, key, start) → columns."""
    groups: dict[tuple[str, str], list[tuple[Any, str]]] = defaultdict(list)
    for r in frame.iter_rows(named=True):
        groups[(r["signal"], r["key"])].append((r["ts"], r["actor_id"]))
    found = []
    w = timedelta(seconds=window)
    for (signal, key), items in groups.items():
        items.sort()
        run = [items[0]]
        runs = []
        for item in items[1:]:
            if item[0] - run[-1][0] <= w:
                run.append(item)
            else:
                runs.append(run)
                run = [item]
        runs.append(run)
        for run in runs:
            firsts: dict[str, Any] = {}
            for ts, actor in run:
                firsts.setdefault(actor, ts)
            if len(firsts) < min_actors:
                continue
            times = sorted(firsts.values())
            best = max(sum(1 for u in times if t <= u <= t + w) for t in times)
            found.append(
                {
                    "signal": signal, "key": key, "start": run[0][0], "end": run[-1][0],
                    "actions": len(run), "actors": len(firsts),
                    "synchrony": best / len(firsts), "set": set(firsts),
                }
            )  # fmt: skip
    for b in found:
        b["recurrence"] = sum(
            1
            for o in found
            if o is not b
            and (b["end"] < o["start"] or o["end"] < b["start"])
            and len(b["set"] & o["set"]) >= max(2, math.ceil(max(b["actors"], o["actors"]) / 2))
        )
    return {(b["signal"], b["key"], b["start"]): b for b in found}


action_rows = st.lists(
    st.tuples(
        st.sampled_from(["k1", "k2", "k3"]),
        st.sampled_from(["a", "b", "c", "d", "e", "f", "g", "h"]),
        st.integers(min_value=0, max_value=200),
    ),
    max_size=50,
)


@settings(max_examples=150, deadline=None)
@given(
    rows=action_rows,
    window=st.sampled_from([0.0, 5.0, 10.0, 30.0, 60.0]),
    min_actors=st.integers(1, 4),
    two_signals=st.booleans(),
)
def test_matches_brute_force(
    rows: list[tuple[str, str, int]], window: float, min_actors: int, two_signals: bool
) -> None:
    frame = acts(rows)
    if two_signals and rows:
        half = len(rows) // 2
        frame = pl.concat([acts(rows[:half]), acts(rows[half:], signal="co_link")])
    got = bursts(frame, window=window, min_actors=min_actors)
    want = brute(frame, window, min_actors)
    assert set(by_key(got)) == set(want)
    for ident, row in by_key(got).items():
        ref = want[ident]
        for name in ("end", "actions", "actors", "recurrence"):
            assert row[name] == ref[name], name
        assert row["synchrony"] == pytest.approx(ref["synchrony"])
    assert got["burst"].to_list() == list(range(1, got.height + 1))
    assert got["score"].is_sorted(descending=True)
    # every action of a burst's key inside its span is one of its members
    if got.height:
        mem = burst_members(frame, got)
        counts = mem.group_by("burst").agg(pl.col("actions").sum(), pl.len().alias("actors"))
        joined = got.join(counts, on="burst", suffix="_m")
        assert (joined["actions"] == joined["actions_m"]).all()
        assert (joined["actors"] == joined["actors_m"]).all()


@settings(max_examples=100, deadline=None)
@given(
    rows=action_rows,
    window=st.sampled_from([0.0, 10.0, 60.0]),
    min_actors=st.integers(1, 3),
    part_rows=st.sampled_from([1, 2, 3, 7, 20]),
    with_members=st.booleans(),
)
def test_key_partitions_change_nothing(
    rows: list[tuple[str, str, int]],
    window: float,
    min_actors: int,
    part_rows: int,
    with_members: bool,
) -> None:
    """Runs found in key partitions of any size give the same table, to the byte."""
    half = len(rows) // 2
    frame = pl.concat([acts(rows[:half]), acts(rows[half:], signal="co_link")])
    membership = (
        pl.DataFrame(
            {
                "actor_id": ["a", "b", "c", "d"],
                "cluster": [1, 1, 2, 2],
                "flagged": [True, True, False, True],
            },
            schema=MEMBERSHIP_SCHEMA,
        )
        if with_members
        else None
    )
    whole = bursts(frame, window=window, min_actors=min_actors, membership=membership)
    parted = bursts(
        frame, window=window, min_actors=min_actors, membership=membership, part_rows=part_rows
    )
    assert parted.equals(whole)


def test_part_rows_must_be_a_positive_integer() -> None:
    with pytest.raises(ParameterError, match="part_rows"):
        bursts(acts([("k1", "a", 0)]), window=60.0, part_rows=0)
