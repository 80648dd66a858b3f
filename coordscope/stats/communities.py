"""Connected components and communities of an account graph.

Both functions take an edge table (one row per undirected pair) and return one row per
account that appears in it. Components come from :func:`scipy.sparse.csgraph.
connected_components` (``O(V + E)``); components larger than ``max_size`` accounts are split
by Louvain modularity optimisation (Blondel et al., *Fast unfolding of communities in large
networks*, J. Stat. Mech. 2008; :func:`networkx.community.louvain_communities`, seeded).
Ids are deterministic: groups are numbered ``0, 1, …`` in the order of their smallest
member id (string order).
"""

from __future__ import annotations

from typing import Final

import networkx as nx
import numpy as np
import numpy.typing as npt
import polars as pl
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from coordscope.errors import ParameterError

__all__ = ["COMMUNITY_SCHEMA", "COMPONENT_SCHEMA", "communities", "components"]

COMPONENT_SCHEMA: Final[dict[str, pl.DataType]] = {
    "actor_id": pl.String(),
    "component": pl.Int64(),
}
COMMUNITY_SCHEMA: Final[dict[str, pl.DataType]] = {
    "actor_id": pl.String(),
    "community": pl.Int64(),
}


def components(edges: pl.DataFrame, *, a: str = "actor_a", b: str = "actor_b") -> pl.DataFrame:
    """Find the connected components of an undirected account graph.

    Parameters
    ----------
    edges : polars.DataFrame
        One row per edge; columns ``a`` and ``b`` hold account ids (String). Self-loops
        and repeated edges are allowed (they change nothing).
    a, b : str
        Names of the two endpoint columns.

    Returns
    -------
    polars.DataFrame
        ``actor_id`` (String), ``component`` (Int64): one row per account that appears in
        ``edges``, sorted by ``actor_id``; components are numbered from 0 in the order of
        their smallest member id.

    Notes
    -----
    Cost ``O(V log V + E)`` (sorting the ids, then a sparse breadth-first search).
    """
    _check_columns(edges, a, b)
    ids, src, dst = _codes(edges, a, b)
    labels = _component_labels(ids.shape[0], src, dst)
    return pl.DataFrame(
        {"actor_id": pl.Series(ids, dtype=pl.String), "component": _renumber(labels)},
        schema=COMPONENT_SCHEMA,
    )


def communities(
    edges: pl.DataFrame,
    *,
    a: str = "actor_a",
    b: str = "actor_b",
    weight: str | None = "n_keys",
    seed: int = 0,
    resolution: float = 1.0,
    max_size: int = 50,
) -> pl.DataFrame:
    """Communities: connected components, with large components split by Louvain.

    Parameters
    ----------
    edges : polars.DataFrame
        One row per undirected edge (columns ``a``, ``b`` and optionally ``weight``).
    a, b : str
        Endpoint columns (String account ids).
    weight : str or None, default "n_keys"
        Edge weight column for Louvain (numeric, > 0); None = unweighted.
    seed : int, default 0
        Seed of Louvain's node order (the result is deterministic given it).
    resolution : float, default 1.0
        Louvain resolution (> 0); larger gives smaller communities.
    max_size : int, default 50
        Components with more than ``max_size`` accounts are split by Louvain (the parts
        are not split again, so a community may exceed it when modularity says so).

    Returns
    -------
    polars.DataFrame
        ``actor_id`` (String), ``community`` (Int64), one row per account of ``edges``,
        sorted by ``actor_id``; communities numbered from 0 by smallest member id.

    Notes
    -----
    Cost ``O(V log V + E)`` for the components plus Louvain's near-linear cost on the
    large components only (networkx, pure Python: meant for components of thousands of
    accounts, not millions).
    """
    _check_columns(edges, a, b)
    if weight is not None and weight not in edges.columns:
        raise ParameterError(f"weight column '{weight}' is not in the edge table")
    if resolution <= 0:
        raise ParameterError(f"resolution must be > 0, got {resolution}")
    if max_size < 1:
        raise ParameterError(f"max_size must be >= 1, got {max_size}")
    ids, src, dst = _codes(edges, a, b)
    labels = _component_labels(ids.shape[0], src, dst)
    sizes = np.bincount(labels)
    big = np.flatnonzero(sizes > max_size)
    if big.shape[0]:
        w = (
            edges[weight].cast(pl.Float64).to_numpy()
            if weight is not None
            else np.ones(src.shape[0])
        )
        next_label = int(labels.max()) + 1
        rng = np.random.default_rng(seed)
        for comp in big.tolist():  # loop over large components (few), not nodes or edges
            inside = (labels[src] == comp) & (src != dst)
            graph = nx.Graph()
            graph.add_weighted_edges_from(
                zip(src[inside].tolist(), dst[inside].tolist(), w[inside].tolist(), strict=True)
            )
            parts = nx.community.louvain_communities(
                graph, weight="weight", resolution=resolution, seed=int(rng.integers(2**31))
            )
            for part in parts[1:]:  # the first part keeps the component's label
                labels[np.fromiter(part, dtype=np.int64)] = next_label
                next_label += 1
    return pl.DataFrame(
        {"actor_id": pl.Series(ids, dtype=pl.String), "community": _renumber(labels)},
        schema=COMMUNITY_SCHEMA,
    )


def _check_columns(edges: pl.DataFrame, a: str, b: str) -> None:
    for col in (a, b):
        if col not in edges.columns:
            raise ParameterError(f"edge column '{col}' is not in the edge table")


def _codes(
    edges: pl.DataFrame, a: str, b: str
) -> tuple[npt.NDArray[np.object_], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Sorted unique account ids and the edges as integer codes into them."""
    both = pl.concat([edges[a].cast(pl.String), edges[b].cast(pl.String)])
    ids = both.unique().sort()
    codes = (
        pl.DataFrame({"actor_id": both})
        .join(
            pl.DataFrame({"actor_id": ids, "c": pl.int_range(ids.len(), eager=True)}),
            on="actor_id",
            how="left",
            maintain_order="left",
        )["c"]
        .to_numpy()
        .astype(np.int64)
    )
    m = edges.height
    return ids.to_numpy(), codes[:m], codes[m:]


def _component_labels(
    n: int, src: npt.NDArray[np.int64], dst: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]:
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    graph = sp.coo_matrix((np.ones(src.shape[0], dtype=np.int8), (src, dst)), shape=(n, n))
    _, labels = connected_components(graph.tocsr(), directed=False)
    return np.asarray(labels, dtype=np.int64)


def _renumber(labels: npt.NDArray[np.int64]) -> pl.Series:
    """Renumber labels 0, 1, … in order of first appearance.

    Ids are sorted, so that is the order of each group's smallest member id.
    """
    if labels.shape[0] == 0:
        return pl.Series(values=[], dtype=pl.Int64)
    _, first = np.unique(labels, return_index=True)
    order = np.argsort(first, kind="stable")
    rank = np.empty(order.shape[0], dtype=np.int64)
    rank[order] = np.arange(order.shape[0])
    lookup = np.searchsorted(np.unique(labels), labels)
    return pl.Series(values=rank[lookup], dtype=pl.Int64)
