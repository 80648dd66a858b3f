"""Cluster tables and graph exports, on a graph small enough to check by hand."""

from __future__ import annotations

import io
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import networkx as nx
import polars as pl
import pytest

from coordscope.graphs.clusters import describe_clusters, gini, membership
from coordscope.graphs.export import graph_tables, to_networkx, write_gexf, write_graphml
from coordscope.schema import CLUSTER_SCHEMA, EVENT_SCHEMA

T0 = datetime(2024, 3, 1, tzinfo=UTC)


def _t(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def _groups() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "group": [7, 9],
            "members": [["c", "a", "b"], ["e", "d"]],
            "statistic": [12.0, 2.0],
            "expected": [1.5, 1.0],
            "pvalue": [1e-6, 0.3],
            "qvalue": [2e-6, 0.3],
            "significant": [True, False],
        }
    )


def _edges() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "actor_a": ["a", "a", "b", "d", "c"],
            "actor_b": ["b", "c", "c", "e", "d"],
            "n_keys": [3, 2, 1, 2, 5],
            "significant": [True, True, False, True, True],
        },
        schema_overrides={"n_keys": pl.Int32},
    )


def _evidence() -> pl.DataFrame:
    rows = [
        ("a", "b", "co_share", "k1", 1.0, 0.0),
        ("a", "b", "co_share", "k2", 3.0, 100.0),
        ("a", "c", "co_link", "u1", 5.0, 200.0),
        ("b", "c", "co_share", "k1", 2.0, 1.0),
        ("d", "e", "co_share", "k3", 10.0, 300.0),
        ("c", "d", "co_share", "k9", 0.0, 400.0),
    ]
    return pl.DataFrame(
        {
            "actor_a": [r[0] for r in rows],
            "actor_b": [r[1] for r in rows],
            "signal": [r[2] for r in rows],
            "key": [r[3] for r in rows],
            "dt": [r[4] for r in rows],
            "ts_a": [_t(r[5]) for r in rows],
            "ts_b": [_t(r[5] + r[4]) for r in rows],
        }
    )


def _actions() -> pl.DataFrame:
    rows = [
        ("a", "co_share", "k1"),
        ("a", "co_share", "k2"),
        ("a", "co_link", "u1"),
        ("a", "co_share", "k5"),
        ("b", "co_share", "k1"),
        ("b", "co_share", "k2"),
        ("c", "co_share", "k1"),
        ("c", "co_link", "u1"),
        ("c", "co_share", "k9"),
        ("d", "co_share", "k3"),
        ("d", "co_share", "k9"),
        ("e", "co_share", "k3"),
        ("e", "co_share", "k4"),
    ]
    return pl.DataFrame(
        {
            "actor_id": [r[0] for r in rows],
            "signal": [r[1] for r in rows],
            "key": [r[2] for r in rows],
        }
    )


def _events() -> pl.DataFrame:
    urls = {
        "a": [["https://news.com/x"], ["https://www.news.com/y"]],
        "b": [["https://other.org/z"]],
        "c": [[]],
        "d": [[]],
        "e": [[]],
    }
    rows = [(actor, u) for actor, lists in urls.items() for u in lists]
    n = len(rows)
    return pl.DataFrame(
        {
            "event_id": [str(i) for i in range(n)],
            "platform": ["twitter"] * n,
            "actor_id": [r[0] for r in rows],
            "actor_name": [f"@{r[0]}" for r in rows],
            "ts": [_t(i) for i in range(n)],
            "kind": ["post"] * n,
            "object_id": [None] * n,
            "text": ["hello"] * n,
            "urls": [r[1] for r in rows],
            "hashtags": [[]] * n,
            "mentions": [[]] * n,
            "media": [[]] * n,
            "channel": [None] * n,
            "actor_created": [None] * n,
        },
        schema=EVENT_SCHEMA,
    )


def _describe() -> pl.DataFrame:
    return describe_clusters(
        _groups(), edges=_edges(), evidence=_evidence(), actions=_actions(), events=_events()
    )


def test_describe_clusters_hand_checked() -> None:
    out = _describe()
    assert out.schema == pl.Schema(CLUSTER_SCHEMA)
    first, second = out.to_dicts()
    assert first["cluster"] == 7  # the group ids of _groups() are kept
    assert first["members"] == ["a", "b", "c"]
    assert first["size"] == 3
    assert first["n_edges"] == 2  # a-b and a-c are significant; b-c is not
    assert first["density"] == pytest.approx(2 / 3)
    assert first["n_keys"] == 3  # share k1, share k2, link u1 (k9 is with an outsider)
    assert first["signals"] == ["co_link", "co_share"]
    assert first["median_dt"] == pytest.approx(2.5)  # median of 1, 3, 5, 2
    assert first["top_keys"] == ["k1", "u1", "k2"]  # k1: two pairs; ties by signal, key
    assert first["first_ts"] == _t(0.0)
    assert first["last_ts"] == _t(205.0)  # a-c on u1: ts_a 200 + dt 5 (c-d@400 is outside)
    # significant inner edges a-b (3 keys), a-c (2): strengths a 5, b 3, c 2 -> 10 / 3
    assert first["mean_strength"] == pytest.approx(2 * (3 + 2) / 3)
    assert first["mean_degree"] == pytest.approx(4 / 3)  # degrees a 2, b 1, c 1
    # members' actions: a 4, b 2, c 3 = 9; on in-cluster keys k1, k2, u1: a 3, b 2, c 2 = 7
    assert first["coordinated_share"] == pytest.approx(7 / 9)
    # news.com twice (www. is one domain), other.org once: sorted [1, 2]
    assert first["domain_gini"] == pytest.approx(2 * (1 * 1 + 2 * 2) / (2 * 3) - 3 / 2)
    assert first["top_domains"] == ["news.com", "other.org"]
    assert first["significant"] is True
    assert first["statistic"] == 12.0  # copied from _groups()
    assert first["score"] is None
    assert second["cluster"] == 9
    assert second["n_edges"] == 1  # d-e, the only pair of {d, e}
    assert second["density"] == 1.0
    assert second["n_keys"] == 1  # k3
    assert second["median_dt"] == 10.0  # its only evidence row, d-e on k3
    assert second["coordinated_share"] == pytest.approx(0.5)  # k3 of d's k3, k9 and e's k3, k4
    assert second["domain_gini"] is None
    assert second["top_domains"] == []
    assert second["significant"] is False


def test_describe_clusters_empty() -> None:
    groups = _groups().clear()
    out = describe_clusters(
        groups, edges=_edges(), evidence=_evidence(), actions=_actions(), events=_events()
    )
    assert out.height == 0
    assert out.schema == pl.Schema(CLUSTER_SCHEMA)


def test_membership_first_cluster_and_flag() -> None:
    clusters = pl.DataFrame(
        {
            "cluster": [1, 2],
            "members": [["a", "b"], ["b", "c"]],
            "significant": [False, True],
        }
    )
    out = membership(clusters)
    assert out.rows() == [("a", 1, False), ("b", 1, True), ("c", 2, True)]


@pytest.mark.parametrize(
    ("counts", "expected"),
    [([5], 0.0), ([3, 3, 3], 0.0), ([0, 0, 10], 2 * 30 / 30 - 4 / 3), ([1, 2], 1 / 6)],
)
def test_gini(counts: list[int], expected: float) -> None:
    frame = pl.DataFrame({"g": [1] * len(counts), "n": counts})
    got = frame.group_by("g").agg(gini(pl.col("n"), by="g").alias("gini"))["gini"][0]
    assert got == pytest.approx(expected)


HOSTILE = "x&<y>\"'\x01\n</graph>"


def _graph_frames() -> tuple[pl.DataFrame, pl.DataFrame]:
    nodes = pl.DataFrame(
        {
            "actor_id": ["1", HOSTILE, "3", "4"],
            "actor_name": ["one", "evil <b>", None, "four"],
            "n_events": [3, 5, 1, 2],
            "first_ts": [_t(0), _t(1), _t(2), _t(3)],
            "cluster": [1, 1, None, None],
            "flagged": [True, True, False, False],
        },
        schema_overrides={"n_events": pl.Int32, "cluster": pl.Int64},
    )
    edges = pl.DataFrame(
        {
            "actor_a": ["1", "1", "3"],
            "actor_b": [HOSTILE, "3", "4"],
            "n_keys": [4, 1, 2],
            "pvalue": [1e-9, 0.5, float("nan")],
            "signals": [["co_share", "co_link"], ["co_share"], []],
            "significant": [True, False, None],
            "evidence": ['sync & "cooc"', None, ""],
        },
        schema_overrides={"n_keys": pl.Int32},
    )
    return nodes, edges


def test_graph_tables_keep_significant_edges_and_clustered_nodes() -> None:
    nodes, edges = _graph_frames()
    keep_nodes, keep_edges = graph_tables(nodes, edges)
    assert keep_edges.height == 1
    assert sorted(keep_nodes["actor_id"].to_list()) == sorted(["1", HOSTILE])
    all_nodes, all_edges = graph_tables(nodes, edges, significant_only=False)
    assert all_edges.height == 3  # every row of _graph_frames()
    assert all_nodes.height == 4


@pytest.mark.parametrize("kind", ["graphml", "gexf"])
def test_export_round_trip(tmp_path: Path, kind: str) -> None:
    nodes, edges = _graph_frames()
    path = tmp_path / f"g.{kind}"
    if kind == "graphml":
        write_graphml(nodes, edges, path)
        graph = nx.read_graphml(path)
    else:
        write_gexf(nodes, edges, path)
        graph = nx.read_gexf(path)
    clean = "x&<y>\"'\n</graph>"  # the control character cannot be carried by XML 1.0
    assert sorted(graph.nodes) == sorted(["1", clean, "3", "4"])
    assert graph.number_of_edges() == 3  # all three edges of _graph_frames() are written
    one = graph.nodes["1"]
    assert one["n_events"] == 3 and isinstance(one["n_events"], int)
    assert one["flagged"] is True
    assert one["cluster"] == 1
    assert one["first_ts"] == "2024-03-01T00:00:00.000000Z"
    assert "cluster" not in graph.nodes["3"]  # null values are left out
    edge = graph.edges["1", clean]
    assert edge["n_keys"] == 4
    assert edge["pvalue"] == pytest.approx(1e-9)
    assert edge["signals"] == '["co_share","co_link"]'
    assert edge["significant"] is True
    assert edge["evidence"] == 'sync & "cooc"'
    assert math.isnan(graph.edges["3", "4"]["pvalue"])
    # both formats label nodes with the account name, else the id (Gephi shows it)
    assert graph.nodes[clean]["label"] == "evil <b>"
    assert graph.nodes["3"]["label"] == "3"
    if kind == "gexf":  # no last_ts in these frames: a static graph, no spells
        assert graph.graph["mode"] == "static"
        assert "start" not in graph.nodes["1"]


def test_gexf_is_dynamic_with_one_spell_per_node_and_edge(tmp_path: Path) -> None:
    nodes, edges = _graph_frames()
    nodes = nodes.with_columns(last_ts=pl.col("first_ts") + pl.duration(seconds=100))
    nodes = nodes.with_columns(
        pl.when(pl.col("actor_id") == "4")
        .then(None)
        .otherwise(pl.col("first_ts"))
        .alias("first_ts")
    )
    edges = edges.with_columns(
        first_ts=pl.Series([_t(10), _t(20), _t(30)]),
        last_ts=pl.Series([_t(50), _t(20), _t(31.5)]),
    )
    path = write_gexf(nodes, edges, tmp_path / "g.gexf")
    text = path.read_text(encoding="utf-8")
    assert '<graph defaultedgetype="undirected" mode="dynamic" timeformat="dateTime">' in text
    assert (
        '<node id="1" label="one" start="2024-03-01T00:00:00.000000Z" '
        'end="2024-03-01T00:01:40.000000Z"><attvalues>'
    ) in text
    assert '<node id="4" label="four"><attvalues>' in text  # null first_ts: no spell
    assert (
        '<edge id="2" source="3" target="4" weight="2.0" start="2024-03-01T00:00:30.000000Z" '
        'end="2024-03-01T00:00:31.500000Z"><attvalues>'
    ) in text
    # networkx's reader knows only timeformat "date" for string times (GEXF 1.2 and Gephi
    # also have "dateTime", which these are)
    graph = nx.read_gexf(io.StringIO(text.replace('timeformat="dateTime"', 'timeformat="date"')))
    assert graph.graph["mode"] == "dynamic"
    assert graph.edges["1", "3"]["start"] == "2024-03-01T00:00:20.000000Z"
    assert graph.edges["1", "3"]["end"] == "2024-03-01T00:00:20.000000Z"


def test_to_networkx_matches_tables() -> None:
    nodes, edges = _graph_frames()
    graph = to_networkx(nodes, edges, significant_only=False)
    assert graph.number_of_nodes() == 4
    assert graph.number_of_edges() == 3
    assert graph.edges["1", HOSTILE]["signals"] == '["co_share","co_link"]'
    assert graph.nodes["1"]["first_ts"] == "2024-03-01T00:00:00.000000Z"
    assert "actor_name" not in graph.nodes["3"]


@pytest.mark.parametrize("part_rows", [97, 500])
def test_node_table_does_not_depend_on_the_account_partitions(part_rows: int) -> None:
    # the audit's nodes come from one partition (a tiny input); cut into partitions of
    # ~97 or 500 events' accounts, every row is the same
    import coordscope as cs
    from coordscope.datasets.simulate import simulate
    from coordscope.graphs.tables import node_table

    events, _ = simulate("mixed", seed=1, size="tiny")
    result = cs.audit(events)
    assert result.edge_parts is not None and result.actions is not None
    members = membership(result.clusters)
    got = node_table(events, result.actions, result.edge_parts, members, part_rows=part_rows)
    assert events.height > 3 * part_rows  # several partitions
    assert got.equals(result.nodes)
    assert got["flagged"].sum() > 0
