"""Components and communities (coordscope.stats.communities) on graphs checkable by hand."""

from __future__ import annotations

import itertools

import networkx as nx
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coordscope.errors import ParameterError
from coordscope.stats.communities import communities, components


def _edges(pairs: list[tuple[str, str]], weight: list[float] | None = None) -> pl.DataFrame:
    frame = pl.DataFrame(
        {"actor_a": [p[0] for p in pairs], "actor_b": [p[1] for p in pairs]},
        schema={"actor_a": pl.String, "actor_b": pl.String},
    )
    if weight is not None:
        frame = frame.with_columns(pl.Series("n_keys", weight))
    return frame


def test_components_by_hand() -> None:
    # a–b–c, d–e, f alone with itself (self-loop)
    out = components(_edges([("b", "c"), ("a", "b"), ("e", "d"), ("f", "f")]))
    assert out.to_dict(as_series=False) == {
        "actor_id": ["a", "b", "c", "d", "e", "f"],
        "component": [0, 0, 0, 1, 1, 2],
    }


def test_components_empty() -> None:
    out = components(_edges([]))
    assert out.height == 0
    assert out.schema == pl.Schema({"actor_id": pl.String, "component": pl.Int64})


def test_communities_small_components_kept_whole() -> None:
    out = communities(_edges([("x", "y"), ("y", "z"), ("p", "q")], [1.0, 1.0, 1.0]))
    assert out["community"].to_list() == [0, 0, 1, 1, 1]  # p q | x y z (sorted ids)


def test_communities_split_large_component() -> None:
    # two 6-cliques joined by one weak edge: one component of 12 > max_size = 8
    left = [f"a{i}" for i in range(6)]
    right = [f"b{i}" for i in range(6)]
    pairs = list(itertools.combinations(left, 2)) + list(itertools.combinations(right, 2))
    pairs.append(("a0", "b0"))
    out = communities(_edges(pairs, [5.0] * (len(pairs) - 1) + [1.0]), max_size=8, seed=3)
    by_id = dict(zip(out["actor_id"], out["community"], strict=True))
    assert {by_id[x] for x in left} == {0}
    assert {by_id[x] for x in right} == {1}
    again = communities(_edges(pairs, [5.0] * (len(pairs) - 1) + [1.0]), max_size=8, seed=3)
    assert again.equals(out)  # deterministic given the seed


def test_communities_parameters() -> None:
    edges = _edges([("a", "b")], [1.0])
    with pytest.raises(ParameterError, match="weight"):
        communities(edges, weight="nope")
    with pytest.raises(ParameterError, match="max_size"):
        communities(edges, max_size=0)
    with pytest.raises(ParameterError, match="resolution"):
        communities(edges, resolution=0)
    with pytest.raises(ParameterError, match="actor_a"):
        components(edges.drop("actor_a"))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 15), st.integers(0, 15)), max_size=40))
def test_components_match_networkx(pairs: list[tuple[int, int]]) -> None:
    named = [(f"n{a:02d}", f"n{b:02d}") for a, b in pairs]
    out = components(_edges(named))
    graph = nx.Graph()
    graph.add_edges_from(named)
    got = {frozenset(g["actor_id"].to_list()) for g in out.partition_by("component")}
    assert got == {frozenset(c) for c in nx.connected_components(graph)}
    # numbered by smallest member id
    firsts = out.group_by("component").agg(pl.col("actor_id").min()).sort("component")
    assert firsts["actor_id"].to_list() == sorted(firsts["actor_id"].to_list())
