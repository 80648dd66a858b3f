"""One campaign, one cluster: significant groups that co-act across are joined."""

from __future__ import annotations

import polars as pl
import pytest

import coordscope
from coordscope.datasets.simulate import simulate
from coordscope.parts import PartedTable
from coordscope.schema import GROUP_SCHEMA
from coordscope.stats.groups import _join_campaigns
from tests.conftest import shuffle_joins


def _groups(rows: list[tuple[int, list[str], float, bool]]) -> pl.DataFrame:
    """``g, members, statistic, expected, pvalue, qvalue, significant`` of hand-made groups."""
    return pl.DataFrame(
        {
            "g": [r[0] for r in rows],
            "members": [r[1] for r in rows],
            "statistic": [10.0] * len(rows),
            "expected": [1.0] * len(rows),
            "pvalue": [r[2] for r in rows],
            "qvalue": [r[2] for r in rows],
            "significant": [r[3] for r in rows],
        },
        schema={"g": pl.Int64, **{c: t for c, t in GROUP_SCHEMA.items() if c != "group"}},
    )


def _live(pairs: list[tuple[int, int]]) -> PartedTable:
    """Evidence rows ``a, b, key`` of the pairs (one unit each)."""
    return PartedTable.of(
        pl.DataFrame(
            {
                "a": [p[0] for p in pairs],
                "b": [p[1] for p in pairs],
                "key": list(range(len(pairs))),
            },
            schema={"a": pl.Int64, "b": pl.Int64, "key": pl.Int64},
        )
    )


IDS = pl.DataFrame({"a": list(range(10)), "actor_id": [f"u{i}" for i in range(10)]})


def test_groups_as_dense_across_as_within_are_one_campaign() -> None:
    # group 0 = u0 u1 u2, group 1 = u3 u4 u5, group 2 = u6 u7 u8, group 3 (not significant)
    # = u9 with u0 u1. Inside: 0 has 3 of 3 pairs (density 1), 1 has 2 of 3 (2/3), 2 has
    # 3 of 3. Across 0-1: 5 of 9 pairs (5/9 >= 0.5 * min(1, 2/3) = 1/3): joined. Across
    # 1-2: 1 of 9 (1/9 < 1/3): apart. Across 0-2: none.
    inside = [(0, 1), (0, 2), (1, 2), (3, 4), (4, 5), (6, 7), (6, 8), (7, 8)]
    across = [(0, 3), (0, 4), (1, 3), (1, 5), (2, 4), (5, 6)]
    table = _groups(
        [
            (0, ["u0", "u1", "u2"], 1e-6, True),
            (1, ["u3", "u4", "u5"], 1e-4, True),
            (2, ["u6", "u7", "u8"], 1e-5, True),
            (3, ["u0", "u1", "u9"], 0.3, False),
        ]
    )
    out = _join_campaigns(table, _live(inside + across), IDS).sort("g")
    assert out["g"].to_list() == [0, 2, 3]
    assert out["members"].to_list() == [
        ["u0", "u1", "u2", "u3", "u4", "u5"],
        ["u6", "u7", "u8"],
        ["u0", "u1", "u9"],  # not significant: never joined
    ]
    # the joined group keeps the figures of its most significant part
    assert out.filter(pl.col("g") == 0)["pvalue"].item() == 1e-6


def test_one_tie_less_keeps_them_apart() -> None:
    # across 0-1 at 2 of 9 pairs (2/9 < 1/3): two campaigns
    inside = [(0, 1), (0, 2), (1, 2), (3, 4), (4, 5)]
    table = _groups([(0, ["u0", "u1", "u2"], 1e-6, True), (1, ["u3", "u4", "u5"], 1e-4, True)])
    out = _join_campaigns(table, _live([*inside, (0, 3), (1, 4)]), IDS)
    assert out.height == 2
    out3 = _join_campaigns(table, _live([*inside, (0, 3), (1, 4), (2, 5)]), IDS)  # 3/9 = 1/3
    assert out3.height == 1


def test_a_large_rotating_pool_is_one_cluster() -> None:
    # 100+ accounts, each push by 10-20 % of them: the community search cuts the pool
    # into parts of at most 50, each significant; they are one campaign
    events, truth = simulate("rotating_pool", seed=0, size="small")
    result = coordscope.audit(events)
    flagged = result.clusters.filter("significant")
    campaigns = truth.filter("coordinated").group_by("campaign").agg("actor_id")
    for members in campaigns["actor_id"].to_list():
        inside = [len(set(members) & set(c)) for c in flagged["members"].to_list()]
        assert max(inside) >= 0.9 * len(members)


def test_joined_clusters_do_not_depend_on_the_order_joins_return_rows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    events, _ = simulate("rotating_pool", seed=1, size="small")
    plain = coordscope.audit(events).clusters
    assert plain.filter("significant").height < 5  # the parts were joined
    shuffle_joins(monkeypatch, seed=5)
    shuffled = coordscope.audit(events).clusters
    assert shuffled.equals(plain)
