"""CooRTweet-style weight subgraphs, checked by hand and against CooRTweet's own column."""

from __future__ import annotations

import polars as pl
import pytest

from coordscope.errors import ParameterError
from coordscope.graphs.subgraph import weight_components, weight_subgraph


def _edges() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "actor_a": ["a", "a", "b", "d", "x"],
            "actor_b": ["b", "c", "c", "e", "y"],
            "n_keys": [5, 1, 4, 3, 3],
        }
    )


def test_median_cut_is_strict() -> None:
    # weights 1, 3, 3, 4, 5: the type-7 median is 3, and edges equal to it are dropped
    kept = weight_subgraph(_edges())
    assert kept["n_keys"].to_list() == [5, 4]
    assert weight_subgraph(_edges(), quantile=0.0)["n_keys"].to_list() == [5, 4, 3, 3]
    assert weight_subgraph(_edges(), quantile=1.0).height == 0


def test_type7_interpolates() -> None:
    # 1, 3, 3, 4, 5 at 0.9: position 3.6 → 4 + 0.6·(5 − 4) = 4.6
    assert weight_subgraph(_edges(), quantile=0.9)["n_keys"].to_list() == [5]
    assert weight_subgraph(_edges(), quantile=0.85)["n_keys"].to_list() == [5]
    # 0.7: position 2.8 → 3 + 0.8·(4 − 3) = 3.8
    assert weight_subgraph(_edges(), quantile=0.7)["n_keys"].to_list() == [5, 4]


def test_components_of_the_kept_edges() -> None:
    comp = weight_components(_edges())
    # kept edges a-b (5) and b-c (4): one component {a, b, c} of size 3
    assert comp.rows() == [("a", 0, 3), ("b", 0, 3), ("c", 0, 3)]


def test_matches_coortweet_weight_threshold() -> None:
    from coordscope.compat import detect_coortweet
    from coordscope.datasets.simulate import simulate

    events, _ = simulate("squad_in_cascade", seed=1, size="tiny")
    network = detect_coortweet(events, signals="co_share", window=60).edges
    kept = weight_subgraph(network, weight="weight", quantile=0.5)
    assert kept.height == int(network["weight_threshold"].sum())
    assert kept.height > 0


@pytest.mark.parametrize(
    ("kwargs", "message"), [({"weight": "w"}, "no column"), ({"quantile": 1.5}, "quantile")]
)
def test_bad_parameters(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ParameterError, match=message):
        weight_subgraph(_edges(), **kwargs)  # type: ignore[arg-type]
