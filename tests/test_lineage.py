"""Campaign lineage: stable ids across runs and what changed, on hand-checked clusters."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import polars as pl
import pytest

from coordscope.graphs.lineage import (
    CHANGE_SCHEMA,
    REGISTRY_SCHEMA,
    campaign_id,
    track_campaigns,
)
from tests.conftest import shuffle_joins

D1, D2, D3, D4 = (dt.date(2026, 1, d) for d in (1, 2, 3, 4))


def clusters(*groups: list[str], flagged: list[bool] | None = None) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "cluster": list(range(1, len(groups) + 1)),
            "members": [sorted(g) for g in groups],
            "significant": flagged if flagged is not None else [True] * len(groups),
        },
        schema={"cluster": pl.Int64, "members": pl.List(pl.String), "significant": pl.Boolean},
    )


def by_id(changes: pl.DataFrame) -> dict[str, dict[str, Any]]:
    return {r["campaign"]: r for r in changes.iter_rows(named=True)}


def test_campaign_id_is_the_day_and_a_digest_of_the_sorted_members() -> None:
    digest = hashlib.sha256(b"a\nb\nc").hexdigest()[:6]
    assert campaign_id(["c", "a", "b"], D1) == f"C-20260101-{digest}"
    assert campaign_id(["a", "b", "c"], D1) == campaign_id(["b", "c", "a"], D1)
    assert campaign_id(["a", "b", "c"], D1) != campaign_id(["a", "b", "c"], D2)


def test_first_run_every_flagged_cluster_is_new_and_unflagged_have_no_id() -> None:
    out = track_campaigns(clusters(["a", "b", "c"], ["x", "y"], flagged=[True, False]), as_of=D1)
    assert out.ids.to_list() == [campaign_id(["a", "b", "c"], D1), None]
    assert out.changes.schema == pl.Schema(CHANGE_SCHEMA)
    row = out.changes.row(0, named=True)
    assert (row["status"], row["cluster"], row["size"], row["previous_size"]) == ("new", 1, 3, None)
    assert row["members_added"] == ["a", "b", "c"] and row["members_removed"] == []
    assert (row["first_seen"], row["last_seen"]) == (D1, D1)
    assert out.registry.schema == pl.Schema(REGISTRY_SCHEMA)
    assert out.registry.rows() == [
        (campaign_id(["a", "b", "c"], D1), ["a", "b", "c"], D1, D1, True)
    ]


def test_grown_shrunk_continuing_and_ended() -> None:
    first = track_campaigns(
        clusters(["a", "b", "c", "d"], ["e", "f", "g"], ["p", "q", "r"], ["s", "t", "u"]),
        as_of=D1,
    )
    a, e, p, s = first.ids.to_list()
    # a: +h (grown); e: -g (shrunk); p: r swapped for z (continuing); s: gone (ended).
    # Ranks change: the ids follow the members.
    second = track_campaigns(
        clusters(["p", "q", "z"], ["a", "b", "c", "d", "h"], ["e", "f"]),
        registry=first.registry,
        as_of=D2,
    )
    assert second.ids.to_list() == [p, a, e]
    rows = by_id(second.changes)
    assert rows[a]["status"] == "grown" and rows[a]["members_added"] == ["h"]
    assert (rows[a]["cluster"], rows[a]["size"], rows[a]["previous_size"]) == (2, 5, 4)
    assert rows[e]["status"] == "shrunk" and rows[e]["members_removed"] == ["g"]
    assert rows[p]["status"] == "continuing"
    assert (rows[p]["members_added"], rows[p]["members_removed"]) == (["z"], ["r"])
    assert rows[s]["status"] == "ended" and rows[s]["cluster"] is None
    assert (rows[s]["size"], rows[s]["previous_size"], rows[s]["members_removed"]) == (
        0,
        3,
        ["s", "t", "u"],
    )
    assert (rows[a]["first_seen"], rows[a]["last_seen"]) == (D1, D2)
    assert rows[s]["last_seen"] == D1  # last seen in the run before
    # current campaigns first by rank, then the ended ones
    assert second.changes["campaign"].to_list() == [p, a, e, s]
    registry = {r["campaign"]: r for r in second.registry.iter_rows(named=True)}
    assert registry[s]["active"] is False and registry[a]["active"] is True
    # an ended campaign that comes back is not revived: it is new (ids link runs in a row)
    third = track_campaigns(clusters(["s", "t", "u"]), registry=second.registry, as_of=D3)
    assert third.changes.filter(pl.col("cluster") == 1)["status"].to_list() == ["new"]
    assert third.ids.to_list() == [campaign_id(["s", "t", "u"], D3)]


def test_merge_keeps_the_best_linked_id_and_names_the_absorbed() -> None:
    first = track_campaigns(clusters(["a", "b", "c", "d"], ["e", "f", "g"]), as_of=D1)
    a, e = first.ids.to_list()
    second = track_campaigns(
        clusters(["a", "b", "c", "d", "e", "f", "g"]), registry=first.registry, as_of=D2
    )
    assert second.ids.to_list() == [a]  # four shared members beat three
    rows = by_id(second.changes)
    assert rows[a]["status"] == "merged" and rows[a]["related"] == [e]
    assert rows[a]["members_added"] == ["e", "f", "g"]
    assert rows[e]["status"] == "merged" and rows[e]["related"] == [a]
    assert rows[e]["cluster"] is None


def test_split_keeps_the_id_on_the_larger_part() -> None:
    first = track_campaigns(clusters(["a", "b", "c", "d", "e", "f", "g"]), as_of=D1)
    (a,) = first.ids.to_list()
    second = track_campaigns(
        clusters(["e", "f", "g"], ["a", "b", "c", "d"]), registry=first.registry, as_of=D2
    )
    new = campaign_id(["e", "f", "g"], D2)
    assert second.ids.to_list() == [new, a]
    rows = by_id(second.changes)
    assert rows[a]["status"] == "split" and rows[a]["related"] == [new]
    assert rows[a]["members_removed"] == ["e", "f", "g"]
    assert rows[new]["status"] == "split" and rows[new]["related"] == [a]
    assert rows[new]["first_seen"] == D2


def test_overlap_below_half_of_the_smaller_is_not_a_link() -> None:
    first = track_campaigns(clusters(["a", "b", "c", "d", "e"]), as_of=D1)
    # two of five shared: 0.4 < 0.5
    second = track_campaigns(clusters(["a", "b", "x", "y", "z"]), registry=first.registry, as_of=D2)
    assert sorted(second.changes["status"].to_list()) == ["ended", "new"]
    # three of five: linked
    third = track_campaigns(clusters(["a", "b", "c", "y", "z"]), registry=first.registry, as_of=D2)
    assert third.changes["status"].to_list() == ["continuing"]
    # a single shared member never links, whatever the sizes
    fourth = track_campaigns(clusters(["a", "x"]), registry=first.registry, as_of=D2)
    assert sorted(fourth.changes["status"].to_list()) == ["ended", "new"]


def test_an_id_taken_before_gets_a_serial() -> None:
    first = track_campaigns(clusters(["a", "b", "c"]), as_of=D4)
    ended = track_campaigns(clusters(), registry=first.registry, as_of=D4)
    again = track_campaigns(clusters(["a", "b", "c"]), registry=ended.registry, as_of=D4)
    assert again.ids.to_list() == [campaign_id(["a", "b", "c"], D4) + "-2"]


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_serials_follow_the_cluster_order_whatever_order_joins_return_rows(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # two new clusters with the same members have the same id: the serial goes to the
    # later cluster, not to whichever row a join happened to return last
    shuffle_joins(monkeypatch, seed)
    out = track_campaigns(clusters(["a", "b", "c"], ["a", "b", "c"], ["x", "y", "z"]), as_of=D1)
    first = campaign_id(["a", "b", "c"], D1)
    assert out.ids.to_list() == [first, f"{first}-2", campaign_id(["x", "y", "z"], D1)]


def test_bad_overlap() -> None:
    with pytest.raises(ValueError, match="min_overlap"):
        track_campaigns(clusters(["a", "b"]), as_of=D1, min_overlap=0.0)
