"""Cluster and burst scores: hand-checked values, monotonicity, ranking."""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coordscope.errors import ParameterError
from coordscope.graphs.scores import CLUSTER_WEIGHTS, cluster_score, rank_clusters, rank_order
from coordscope.stats.bursts import BURST_WEIGHTS, burst_score


def cluster_row(**over: Any) -> dict[str, Any]:
    row = {
        "cluster": 1, "members": ["a", "b"], "significant": True, "qvalue": 1e-5,
        "n_keys": 5, "median_dt": 60.0, "density": 0.5, "size": 6,
    }  # fmt: skip
    row.update(over)
    return row


def clusters(rows: list[dict[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema={
            "cluster": pl.Int64, "members": pl.List(pl.String), "significant": pl.Boolean,
            "qvalue": pl.Float64, "n_keys": pl.Int32, "median_dt": pl.Float64,
            "density": pl.Float64, "size": pl.Int32,
        },
    )  # fmt: skip


def burst_rows(rows: list[tuple[float, float, int, int]]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema={
            "cluster_share": pl.Float64, "synchrony": pl.Float64,
            "recurrence": pl.Int32, "actors": pl.Int32,
        },
        orient="row",
    )  # fmt: skip


def test_weights_sum_to_one() -> None:
    assert sum(CLUSTER_WEIGHTS.values()) == pytest.approx(1.0)
    assert sum(BURST_WEIGHTS.values()) == pytest.approx(1.0)


def test_cluster_score_by_hand() -> None:
    # E = 5/10, K = 5/10, S = 60/120, D = 0.5, Z = 5/10: every term one half
    assert cluster_score(clusters([cluster_row()])).to_list() == pytest.approx([0.5])
    full = cluster_row(qvalue=1e-12, n_keys=10**9, median_dt=0.0, density=1.0, size=10**9)
    assert cluster_score(clusters([full]))[0] == pytest.approx(1.0, abs=1e-6)
    # nulls mean no evidence: q, Δt, density null; size 1 and no keys → 0
    empty = cluster_row(qvalue=None, n_keys=0, median_dt=None, density=None, size=1)
    assert cluster_score(clusters([empty]))[0] == 0.0


def test_burst_score_by_hand() -> None:
    # 0.4·0.5 + 0.3·1 + 0.2·(1/2) + 0.1·(11 − 1)/(11 + 9)
    assert burst_score(burst_rows([(0.5, 1.0, 1, 11)]))[0] == pytest.approx(0.65)
    assert burst_score(burst_rows([(0.0, 0.0, 0, 1)]))[0] == 0.0


def test_missing_columns() -> None:
    with pytest.raises(ParameterError, match="qvalue"):
        cluster_score(pl.DataFrame({"size": [2]}))
    with pytest.raises(ParameterError, match="synchrony"):
        burst_score(pl.DataFrame({"actors": [3]}))


# ------------------------------------------------------------------------- monotonicity

_CLUSTER_MOVES = {
    # column: (lower-evidence value, higher-evidence value) strategies
    "qvalue": st.tuples(st.floats(1e-300, 1.0), st.floats(1e-300, 1.0)).map(
        lambda p: (max(p), min(p))
    ),
    "n_keys": st.tuples(st.integers(0, 10**6), st.integers(0, 10**6)).map(sorted),
    "median_dt": st.tuples(st.floats(0, 1e6), st.floats(0, 1e6)).map(lambda p: (max(p), min(p))),
    "density": st.tuples(st.floats(0, 1), st.floats(0, 1)).map(sorted),
    "size": st.tuples(st.integers(1, 10**6), st.integers(1, 10**6)).map(sorted),
}


@settings(max_examples=200, deadline=None)
@given(
    column=st.sampled_from(sorted(_CLUSTER_MOVES)),
    data=st.data(),
    base_q=st.floats(1e-20, 1.0),
    base_keys=st.integers(0, 1000),
    base_dt=st.one_of(st.none(), st.floats(0, 1e5)),
)
def test_cluster_score_is_monotone(
    column: str, data: st.DataObject, base_q: float, base_keys: int, base_dt: float | None
) -> None:
    low, high = data.draw(_CLUSTER_MOVES[column])
    base = cluster_row(qvalue=base_q, n_keys=base_keys, median_dt=base_dt)
    scores = cluster_score(clusters([{**base, column: low}, {**base, column: high}]))
    assert scores[1] >= scores[0]
    assert 0.0 <= scores[0] <= 1.0


@settings(max_examples=200, deadline=None)
@given(
    column=st.integers(0, 3),
    pair=st.tuples(st.floats(0, 1), st.floats(0, 1)).map(sorted),
    counts=st.tuples(st.integers(0, 10**6), st.integers(1, 10**6)).map(sorted),
    base=st.tuples(st.floats(0, 1), st.floats(0, 1), st.integers(0, 50), st.integers(1, 50)),
)
def test_burst_score_is_monotone(
    column: int,
    pair: list[float],
    counts: list[int],
    base: tuple[float, float, int, int],
) -> None:
    low, high = list(base), list(base)
    if column < 2:
        low[column], high[column] = pair
    else:
        low[column], high[column] = counts[0] + (column == 3), counts[1] + (column == 3)
    scores = burst_score(burst_rows([tuple(low), tuple(high)]))  # type: ignore[list-item]
    assert scores[1] >= scores[0]
    assert 0.0 <= scores[0] <= 1.0


def test_more_evidence_strictly_raises_scores() -> None:
    base = cluster_row()
    more = [
        cluster_row(qvalue=1e-8), cluster_row(n_keys=6), cluster_row(median_dt=30.0),
        cluster_row(density=0.9), cluster_row(size=7),
    ]  # fmt: skip
    scores = cluster_score(clusters([base, *more]))
    assert all(s > scores[0] for s in scores[1:])
    b = burst_score(burst_rows([(0.5, 0.5, 1, 5), (0.6, 0.5, 1, 5), (0.5, 0.6, 1, 5),
                                (0.5, 0.5, 2, 5), (0.5, 0.5, 1, 6)]))  # fmt: skip
    assert all(s > b[0] for s in b[1:])


# --------------------------------------------------------------------------------- ranking


def test_rank_clusters_significant_first_then_score_then_smallest_member() -> None:
    table = clusters(
        [
            cluster_row(cluster=1, members=["x", "y"], significant=False, qvalue=1e-30),
            cluster_row(cluster=2, members=["m", "n"], qvalue=0.01),
            cluster_row(cluster=3, members=["c", "d"], qvalue=1e-9),
            cluster_row(cluster=4, members=["b", "z"], qvalue=1e-9),
        ]
    ).with_columns(pl.lit(None, dtype=pl.Float64).alias("score"))
    ranked = rank_clusters(table)
    # 3 and 4 tie on score: "b" < "c"; 2 is significant but weaker; 1 is not significant
    assert ranked["members"].to_list() == [["b", "z"], ["c", "d"], ["m", "n"], ["x", "y"]]
    assert ranked["cluster"].to_list() == [1, 2, 3, 4]
    assert ranked["score"].null_count() == 0
    assert ranked.columns == table.columns
    mapping = rank_order(table.with_columns(score=cluster_score(table)))
    assert mapping["previous"].to_list() == [4, 3, 2, 1]
    assert mapping["cluster"].to_list() == [1, 2, 3, 4]


def test_rank_clusters_keeps_a_given_score_and_is_deterministic() -> None:
    table = clusters([cluster_row(cluster=i, members=[f"u{i}"]) for i in range(1, 6)]).with_columns(
        pl.Series("score", [0.1, 0.9, 0.5, 0.9, 0.2])
    )
    ranked = rank_clusters(table)
    assert ranked["score"].to_list() == [0.9, 0.9, 0.5, 0.2, 0.1]
    assert ranked["members"].to_list() == [["u2"], ["u4"], ["u3"], ["u5"], ["u1"]]
    assert rank_clusters(table.reverse()).equals(ranked)


def test_rank_clusters_empty() -> None:
    table = clusters([]).with_columns(pl.lit(None, dtype=pl.Float64).alias("score"))
    assert rank_clusters(table).height == 0
