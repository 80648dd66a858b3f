"""The account graph for Gephi and networkx: GraphML, GEXF, and an in-memory graph.

The writers build the XML with polars string expressions (one vectorized pass per
element kind), so a graph of millions of edges is written in seconds, not by a Python
loop. Attribute types are declared (GraphML ``<key attr.type>``, GEXF
``<attribute type>``): integers stay integers, times are ISO 8601 strings, lists are
JSON arrays (``["co_share","co_link"]``, as in the CSV files). A null value is left out
of its element (both formats allow a missing attribute). Nodes are labelled with the
account name (else the id) in both formats, and the GEXF is dynamic (one spell per node
and edge) when the tables carry their times.
Everything from the data is XML-escaped; characters XML 1.0 cannot carry (control
characters) are dropped.

Formats: GraphML (Brandes et al., http://graphml.graphdrawing.org/specification.html)
and GEXF 1.2 (https://gexf.net/), both opened by Gephi and read back by networkx.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final

import networkx as nx
import polars as pl

from coordscope._output import atomic_write, json_list

__all__ = ["graph_tables", "to_networkx", "write_gexf", "write_graphml"]

_INVALID_XML: Final = r"[\x00-\x08\x0B\x0C\x0E-\x1F\x7F\x{FFFE}\x{FFFF}]"
_TS_FORMAT: Final = "%Y-%m-%dT%H:%M:%S%.6fZ"


def _xml(expr: pl.Expr) -> pl.Expr:
    """Escape a String expression for XML text and attribute values."""
    return (
        expr.str.replace_all(_INVALID_XML, "")
        .str.replace_all("&", "&amp;", literal=True)
        .str.replace_all("<", "&lt;", literal=True)
        .str.replace_all(">", "&gt;", literal=True)
        .str.replace_all('"', "&quot;", literal=True)
        .str.replace_all("'", "&apos;", literal=True)
        .str.replace_all("\t", "&#9;", literal=True)
        .str.replace_all("\n", "&#10;", literal=True)
        .str.replace_all("\r", "&#13;", literal=True)
    )


def _kind(dtype: pl.DataType) -> str:
    """Name the attribute type of a polars type: boolean, long, double or string.

    The same names serve GraphML ``attr.type`` and GEXF ``type``.
    """
    if dtype == pl.Boolean:
        return "boolean"
    if dtype.is_integer():
        return "long"
    if dtype.is_float():
        return "double"
    return "string"


def _text(name: str, dtype: pl.DataType) -> pl.Expr:
    """Render the column as attribute text (null stays null)."""
    col = pl.col(name)
    if dtype == pl.Boolean:
        return pl.when(col).then(pl.lit("true")).when(~col).then(pl.lit("false"))
    if dtype.is_integer():
        return col.cast(pl.String)
    if dtype.is_float():
        return (
            pl.when(col.is_nan())
            .then(pl.lit("NaN"))
            .when(col == float("inf"))
            .then(pl.lit("Infinity"))
            .when(col == float("-inf"))
            .then(pl.lit("-Infinity"))
            .otherwise(col.cast(pl.String))
        )
    if isinstance(dtype, pl.Datetime):
        return col.dt.convert_time_zone("UTC").dt.strftime(_TS_FORMAT)
    if isinstance(dtype, pl.List):
        return _xml(json_list(name))
    return _xml(col.cast(pl.String))


def graph_tables(
    nodes: pl.DataFrame, edges: pl.DataFrame, *, significant_only: bool = True
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Select the nodes and edges a graph export holds.

    Edges: the significant ones (all of them when ``significant_only`` is False or the
    table has no ``significant`` column). Nodes: every account of those edges, plus every
    account in a cluster, with the node columns.
    """
    if significant_only and "significant" in edges.columns:
        edges = edges.filter(pl.col("significant").fill_null(False))
    ends = pl.concat(
        [
            edges.select(pl.col("actor_a").alias("actor_id")),
            edges.select(pl.col("actor_b").alias("actor_id")),
        ]
    )
    keep = nodes.filter(
        pl.col("actor_id").is_in(ends["actor_id"].implode())
        | (pl.col("cluster").is_not_null() if "cluster" in nodes.columns else pl.lit(False))
    )
    return keep.sort("actor_id"), edges


def _label(nodes: pl.DataFrame) -> pl.Expr:
    """Return the label of a node: its ``actor_name`` when it has one, else its id."""
    if "actor_name" in nodes.columns:
        return pl.coalesce(pl.col("actor_name"), pl.col("actor_id"))
    return pl.col("actor_id")


def _spell() -> pl.Expr:
    """`` start="…" end="…"`` from ``first_ts``/``last_ts`` (nothing when either is null)."""
    return pl.format(
        ' start="{}" end="{}"',
        pl.col("first_ts").dt.convert_time_zone("UTC").dt.strftime(_TS_FORMAT),
        pl.col("last_ts").dt.convert_time_zone("UTC").dt.strftime(_TS_FORMAT),
    ).fill_null("")


def _timed(frame: pl.DataFrame) -> bool:
    return all(isinstance(frame.schema.get(c), pl.Datetime) for c in ("first_ts", "last_ts"))


def _lines_writer(lines: Sequence[pl.Series]) -> Callable[[Path], None]:
    def write(tmp: Path) -> None:
        frame = pl.DataFrame({"line": pl.concat(list(lines))})
        frame.write_csv(tmp, include_header=False, quote_style="never")

    return write


def _node_attributes(nodes: pl.DataFrame) -> list[tuple[str, pl.DataType]]:
    return [(c, t) for c, t in nodes.schema.items() if c != "actor_id"]


def _edge_attributes(edges: pl.DataFrame) -> list[tuple[str, pl.DataType]]:
    return [(c, t) for c, t in edges.schema.items() if c not in ("actor_a", "actor_b")]


def write_graphml(nodes: pl.DataFrame, edges: pl.DataFrame, path: str | Path) -> Path:
    """Write an undirected GraphML file (atomically).

    Parameters
    ----------
    nodes : polars.DataFrame
        ``actor_id`` plus attribute columns (e.g. :data:`coordscope.results.NODE_SCHEMA`).
    edges : polars.DataFrame
        ``actor_a, actor_b`` plus attribute columns; ``n_keys`` (when present) is also
        written as ``weight``, which Gephi uses as the edge weight.
    path : str or Path
        Output file.

    Notes
    -----
    Every node has a ``label`` attribute (``actor_name`` when present, else the id), which
    Gephi shows as the node's label. Cost ``O(V + E)`` string work in polars.
    """
    if "n_keys" in edges.columns and "weight" not in edges.columns:
        edges = edges.with_columns(pl.col("n_keys").cast(pl.Float64).alias("weight"))
    node_attrs = _node_attributes(nodes)
    edge_attrs = _edge_attributes(edges)
    header = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<graphml xmlns="http://graphml.graphdrawing.org/xmlns" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xsi:schemaLocation="http://graphml.graphdrawing.org/xmlns '
        'http://graphml.graphdrawing.org/xmlns/1.0/graphml.xsd">',
    ]
    for i, (name, dtype) in enumerate(node_attrs):
        header.append(f'<key id="n{i}" for="node" attr.name="{name}" attr.type="{_kind(dtype)}"/>')
    for i, (name, dtype) in enumerate(edge_attrs):
        header.append(f'<key id="e{i}" for="edge" attr.name="{name}" attr.type="{_kind(dtype)}"/>')
    labelled = "label" not in nodes.columns
    if labelled:  # Gephi shows a node attribute named "label" as the node's label
        header.append('<key id="label" for="node" attr.name="label" attr.type="string"/>')
    header.append('<graph id="coordination" edgedefault="undirected">')
    node_lines = nodes.select(
        pl.concat_str(
            [
                pl.format('<node id="{}">', _xml(pl.col("actor_id"))),
                pl.format('<data key="label">{}</data>', _xml(_label(nodes)))
                if labelled
                else pl.lit(""),
                *(
                    pl.format('<data key="n{}">{}</data>', pl.lit(i), _text(name, dtype))
                    for i, (name, dtype) in enumerate(node_attrs)
                ),
                pl.lit("</node>"),
            ],
            ignore_nulls=True,
        ).alias("line")
    )["line"]
    edge_lines = edges.select(
        pl.concat_str(
            [
                pl.format(
                    '<edge source="{}" target="{}">',
                    _xml(pl.col("actor_a")),
                    _xml(pl.col("actor_b")),
                ),
                *(
                    pl.format('<data key="e{}">{}</data>', pl.lit(i), _text(name, dtype))
                    for i, (name, dtype) in enumerate(edge_attrs)
                ),
                pl.lit("</edge>"),
            ],
            ignore_nulls=True,
        ).alias("line")
    )["line"]
    footer = ["</graph>", "</graphml>"]
    lines = [
        pl.Series("line", header, dtype=pl.String),
        node_lines,
        edge_lines,
        pl.Series("line", footer, dtype=pl.String),
    ]
    return atomic_write(path, _lines_writer(lines))


def write_gexf(nodes: pl.DataFrame, edges: pl.DataFrame, path: str | Path) -> Path:
    """Write an undirected GEXF 1.2 file (atomically) that Gephi opens.

    Node labels are ``actor_name`` when present, else the id; the edge ``weight`` is
    ``n_keys`` when present. All columns are declared attributes with their types.

    The graph is *dynamic* when nodes and edges have ``first_ts`` and ``last_ts``: each
    node and edge carries one spell, ``start``/``end`` attributes (ISO 8601 date-times in
    UTC, both ends inclusive), from its first to its last action or co-action, so
    Gephi's timeline plays the campaign as its pairs co-act. A row whose times are null
    has no spell (it is there all the time).

    Cost ``O(V + E)`` string work in polars.
    """
    node_attrs = _node_attributes(nodes)
    edge_attrs = _edge_attributes(edges)
    dynamic = _timed(nodes) and _timed(edges)
    graph_mode = 'mode="dynamic" timeformat="dateTime"' if dynamic else 'mode="static"'
    header = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<gexf xmlns="http://www.gexf.net/1.2draft" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xsi:schemaLocation="http://www.gexf.net/1.2draft '
        'http://www.gexf.net/1.2draft/gexf.xsd" version="1.2">',
        "<meta><creator>coordscope</creator></meta>",
        f'<graph defaultedgetype="undirected" {graph_mode}>',
        '<attributes class="node" mode="static">',
        *(
            f'<attribute id="{i}" title="{name}" type="{_kind(dtype)}"/>'
            for i, (name, dtype) in enumerate(node_attrs)
        ),
        "</attributes>",
        '<attributes class="edge" mode="static">',
        *(
            f'<attribute id="{i}" title="{name}" type="{_kind(dtype)}"/>'
            for i, (name, dtype) in enumerate(edge_attrs)
        ),
        "</attributes>",
        "<nodes>",
    ]
    node_lines = nodes.select(
        pl.concat_str(
            [
                pl.format(
                    '<node id="{}" label="{}"', _xml(pl.col("actor_id")), _xml(_label(nodes))
                ),
                _spell() if dynamic else pl.lit(""),
                pl.lit("><attvalues>"),
                *(
                    pl.format('<attvalue for="{}" value="{}"/>', pl.lit(i), _text(name, dtype))
                    for i, (name, dtype) in enumerate(node_attrs)
                ),
                pl.lit("</attvalues></node>"),
            ],
            ignore_nulls=True,
        ).alias("line")
    )["line"]
    weight = (
        pl.format(' weight="{}"', pl.col("n_keys").cast(pl.Float64).cast(pl.String))
        if "n_keys" in edges.columns
        else pl.lit("")
    )
    edge_lines = edges.with_row_index("_id").select(
        pl.concat_str(
            [
                pl.format(
                    '<edge id="{}" source="{}" target="{}"',
                    pl.col("_id"),
                    _xml(pl.col("actor_a")),
                    _xml(pl.col("actor_b")),
                ),
                weight,
                _spell() if dynamic else pl.lit(""),
                pl.lit("><attvalues>"),
                *(
                    pl.format('<attvalue for="{}" value="{}"/>', pl.lit(i), _text(name, dtype))
                    for i, (name, dtype) in enumerate(edge_attrs)
                ),
                pl.lit("</attvalues></edge>"),
            ],
            ignore_nulls=True,
        ).alias("line")
    )["line"]
    footer = ["</nodes>", "<edges>"]
    closing = ["</edges>", "</graph>", "</gexf>"]
    lines = [
        pl.Series("line", header, dtype=pl.String),
        node_lines,
        pl.Series("line", footer, dtype=pl.String),
        edge_lines,
        pl.Series("line", closing, dtype=pl.String),
    ]
    return atomic_write(path, _lines_writer(lines))


def _plain(frame: pl.DataFrame) -> pl.DataFrame:
    """Write lists as JSON arrays and times as ISO strings: values networkx writers accept."""
    return frame.with_columns(
        [
            json_list(c).alias(c)
            if isinstance(t, pl.List)
            else pl.col(c).dt.convert_time_zone("UTC").dt.strftime(_TS_FORMAT)
            if isinstance(t, pl.Datetime)
            else pl.col(c).cast(pl.String)
            if isinstance(t, pl.Categorical | pl.Enum)
            else pl.col(c)
            for c, t in frame.schema.items()
        ]
    )


def to_networkx(
    nodes: pl.DataFrame, edges: pl.DataFrame, *, significant_only: bool = True
) -> nx.Graph:
    """Build the account graph as a :class:`networkx.Graph` (same content as the exports).

    Node and edge attributes are the table columns (null values left out); lists are
    JSON arrays and times are ISO 8601 strings, as in the files.
    """
    keep_nodes, keep_edges = graph_tables(nodes, edges, significant_only=significant_only)
    graph = nx.Graph()
    flat_nodes = _plain(keep_nodes)
    for row in flat_nodes.iter_rows(named=True):
        node = row.pop("actor_id")
        graph.add_node(node, **{k: v for k, v in row.items() if v is not None})
    flat_edges = _plain(keep_edges)
    for row in flat_edges.iter_rows(named=True):
        a, b = row.pop("actor_a"), row.pop("actor_b")
        graph.add_edge(a, b, **{k: v for k, v in row.items() if v is not None})
    return graph
